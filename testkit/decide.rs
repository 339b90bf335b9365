//! Handshake decisions and header helpers of the client tests' servers (redirects, the plain
//! negotiation, `Authorization: Basic`), included by path from the ws-async suite and
//! ws-blocking's tests (one copy for both).

#![allow(dead_code)]

use std::sync::Arc;

use ws_proto::http::{header, HeaderMap, HeaderValue, StatusCode};
use ws_proto::{Accept, Bytes, Rejection, UpgradeRequest};

/// How a test server answers an upgrade request.
pub(crate) type Decide = dyn Fn(&UpgradeRequest) -> Result<Accept, Rejection> + Send + Sync;

/// Accepts every request with the default negotiation.
pub(crate) fn negotiate() -> Arc<Decide> {
    Arc::new(UpgradeRequest::negotiate)
}

/// Redirects `from` to `location` (302, with a `Set-Cookie: hop=1` for the redirect hook to
/// see), negotiates everything else.
pub(crate) fn redirecting(from: &'static str, location: String) -> Arc<Decide> {
    Arc::new(move |req: &UpgradeRequest| {
        if req.path() == from {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
            headers.insert(header::SET_COOKIE, HeaderValue::from_static("hop=1"));
            Err(Rejection::new(StatusCode::FOUND, headers, Bytes::new()))
        } else {
            req.negotiate()
        }
    })
}

/// A header's value as text (`None` when absent).
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// `Authorization: Basic` values of the credentials the tests use.
pub(crate) fn basic(credentials: &str) -> String {
    let encoded = match credentials {
        "user:pass" => "dXNlcjpwYXNz",
        "url:info" => "dXJsOmluZm8=",
        other => panic!("no encoding for {other}"),
    };
    format!("Basic {encoded}")
}
