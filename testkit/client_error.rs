//! The requests, answers and hook of the `client_error` tests (Node's `wsClientError`),
//! included by path from the ws-async suite and ws-blocking's tests (one copy for both).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use ws_proto::http::header::HeaderValue;
use ws_proto::http::{Request, Response, StatusCode};
use ws_proto::{Bytes, ClientErrorReply, HandshakeError};

/// What a hook saw: the error and the request's method and URI.
pub(crate) type Seen = Arc<Mutex<Vec<(HandshakeError, String)>>>;

/// A request with a bad `Sec-WebSocket-Version` (400 with `Sec-WebSocket-Version: 13, 8`).
pub(crate) const BAD_VERSION: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n";

/// A POST upgrade request (405 with `Allow: GET`).
pub(crate) const POST: &[u8] = b"POST /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A valid request, which `verify_client` refuses in the tests that set one.
pub(crate) const VALID: &[u8] = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The default answer to [`BAD_VERSION`], byte for byte.
pub(crate) const DEFAULT_BAD_VERSION: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
content-type: text/plain\r\ncontent-length: 47\r\nsec-websocket-version: 13, 8\r\n\r\n\
missing or invalid Sec-WebSocket-Version header";

/// The hook's answer, byte for byte: its status, the framing headers, its headers, its body.
pub(crate) const TEAPOT: &[u8] = b"HTTP/1.1 418 I'm a teapot\r\nconnection: close\r\ncontent-length: 23\r\n\
content-type: application/json\r\nx-error: method is not GET\r\n\r\n{\"error\":\"bad request\"}";

/// A hook that records what it sees, keeps the default for a bad version and answers
/// [`TEAPOT`] otherwise.
pub(crate) fn hook(seen: Seen) -> impl Fn(&HandshakeError, &Request<()>) -> ClientErrorReply + Send + Sync {
    move |error, request| {
        seen.lock().unwrap().push((error.clone(), format!("{} {}", request.method(), request.uri())));
        if *error == HandshakeError::UnsupportedVersion {
            return ClientErrorReply::Default;
        }
        let mut response = Response::new(Bytes::from_static(b"{\"error\":\"bad request\"}"));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-error", HeaderValue::from_str(&error.to_string()).unwrap());
        ClientErrorReply::Replace(response)
    }
}

/// A hook that drops the connection for a POST and for a wrong path (Node's
/// `socket.destroy()`), and keeps the default answer otherwise.
pub(crate) fn dropping(error: &HandshakeError, _: &Request<()>) -> ClientErrorReply {
    match error {
        HandshakeError::MethodNotGet | HandshakeError::PathNotFound => ClientErrorReply::Drop,
        _ => ClientErrorReply::Default,
    }
}
