//! Following redirects during the opening handshake (Node `followRedirects` / `maxRedirects`).
//!
//! The policy, as Node `ws` (and curl since 7.77) applies it:
//!
//! - a `3xx` response with a non-empty `Location` is a redirect; any other non-101 response
//!   is not (report it as a rejection);
//! - at most [`max_redirects`](RedirectPolicy::max_redirects) are followed (10 by default);
//!   one more is [`RedirectError::TooMany`];
//! - `Location` is resolved against the URL that answered, and `http`/`https` mean `ws`/`wss`
//!   (the result goes through [`ClientTarget`], so a fragment or another scheme is refused);
//! - custom headers follow, except that credentials do not leak: when the new URL is on
//!   another host than the *original* one (host and explicit port; the socket path for
//!   `ws+unix:`), `Authorization`, `Cookie` and `Host` are dropped and the new URL's userinfo
//!   is ignored; when the original URL was `wss` and the new one is not (a downgrade),
//!   `Authorization` and `Cookie` are dropped (not `Host`) and the userinfo ignored too.
//!   Otherwise the new URL's userinfo becomes `Authorization` unless one is already set.
//!
//! The host is compared with the original URL, not the previous hop, as Node does: headers
//! dropped once stay dropped, and a chain that comes back to the original host does not get
//! them back.
//!
//! ```
//! use ws_proto::http::StatusCode;
//! use ws_proto::{ClientTarget, RedirectPolicy};
//!
//! let policy = RedirectPolicy::default();
//! let original = ClientTarget::parse("wss://a.example/chat").unwrap();
//! // Custom headers, plus the original userinfo's Authorization if there is one.
//! let mut headers = vec![("Cookie".to_owned(), "s=1".to_owned()), ("X-App".to_owned(), "1".to_owned())];
//! if let Some(auth) = original.basic_authorization() {
//!     headers.push(("Authorization".to_owned(), auth));
//! }
//! let mut current = original.url.clone();
//! let mut followed = 0;
//! // The server answered 302 Location: https://b.example/chat
//! let status = StatusCode::FOUND;
//! match policy.next(&original.url, &current, status, Some("https://b.example/chat"), followed) {
//!     Ok(Some(redirect)) => {
//!         followed += 1;
//!         redirect.apply(&mut headers);
//!         assert_eq!(headers, [("X-App".to_owned(), "1".to_owned())]); // another host: no Cookie
//!         let next = redirect.into_target();
//!         assert_eq!(next.url.as_str(), "wss://b.example/chat");
//!         current = next.url.clone();
//!         // Connect to next.endpoint, send next.request plus `headers`…
//!     }
//!     Ok(None) => { /* not a redirect: report the response */ }
//!     Err(e) => panic!("{e}"),
//! }
//! # assert_eq!((followed, current.as_str()), (1, "wss://b.example/chat"));
//! ```

use std::fmt;

use http::header::{HeaderMap, LOCATION};
use http::StatusCode;
use url::Url;

use super::target::{basic_auth, redact, unix_parts, ClientTarget, UrlError, UrlErrorKind};

/// Node `maxRedirects`' default.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Headers dropped on a downgrade from `wss` on the same host.
const CREDENTIALS: &[&str] = &["authorization", "cookie"];
/// Headers dropped when the host changes.
const CREDENTIALS_AND_HOST: &[&str] = &["authorization", "cookie", "host"];

/// How many redirects to follow; see the [module documentation](self) for the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RedirectPolicy {
    /// Most redirects followed for one connection (Node `maxRedirects`); the next one is
    /// [`RedirectError::TooMany`]. 0 refuses every redirect.
    pub max_redirects: usize,
}

impl Default for RedirectPolicy {
    /// [`DEFAULT_MAX_REDIRECTS`] (10).
    fn default() -> Self {
        Self { max_redirects: DEFAULT_MAX_REDIRECTS }
    }
}

impl RedirectPolicy {
    /// A policy following at most `max_redirects` redirects.
    pub fn new(max_redirects: usize) -> Self {
        Self { max_redirects }
    }

    /// The `Location` of a response as text: the first field, if it is visible ASCII.
    pub fn location(headers: &HeaderMap) -> Option<&str> {
        headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// Whether a response is a redirect: a `3xx` status with a non-empty `Location`.
    pub fn is_redirect(status: StatusCode, location: Option<&str>) -> bool {
        status.is_redirection() && location.is_some_and(|l| !l.is_empty())
    }

    /// Decides what to do with a non-101 response.
    ///
    /// `original` is the URL the application asked for, `current` the one that answered with
    /// `status` and `location` (see [`location`](Self::location)), and `followed` the number
    /// of redirects followed so far for this connection (0 on the first response).
    ///
    /// Returns `Ok(None)` when the response is not a redirect (report it as a rejection),
    /// `Ok(Some)` with where to go next and which headers to keep, or an error:
    /// [`TooMany`](RedirectError::TooMany) when `followed` already reached the limit,
    /// [`InvalidLocation`](RedirectError::InvalidLocation) when `location` cannot be resolved
    /// against `current`, [`InvalidTarget`](RedirectError::InvalidTarget) when the resolved
    /// URL cannot be connected to (unknown scheme, fragment, no host…).
    pub fn next(
        &self,
        original: &Url,
        current: &Url,
        status: StatusCode,
        location: Option<&str>,
        followed: usize,
    ) -> Result<Option<Redirect>, RedirectError> {
        let location = match location {
            Some(l) if Self::is_redirect(status, Some(l)) => l,
            _ => return Ok(None),
        };
        if followed >= self.max_redirects {
            return Err(RedirectError::TooMany { max: self.max_redirects });
        }
        let resolved = current
            .join(location)
            .map_err(|e| RedirectError::InvalidLocation { location: redact(location), reason: e.to_string() })?;
        // Normalise first (http → ws) so that the checks below see the final scheme.
        let resolved = super::target::normalize(resolved).map_err(RedirectError::InvalidTarget)?;
        let original_key = HostKey::of(original).map_err(RedirectError::InvalidTarget)?;
        let same_host = HostKey::of(&resolved).map_err(RedirectError::InvalidTarget)? == original_key;
        let downgrade = original.scheme() == "wss" && resolved.scheme() != "wss";
        let keep_credentials = same_host && !downgrade;
        let target = ClientTarget::build(resolved, keep_credentials).map_err(RedirectError::InvalidTarget)?;
        Ok(Some(Redirect { target, same_host, keep_credentials }))
    }
}

/// What Node compares to tell whether a redirect stays on the original host: the socket path
/// of a `ws+unix:` URL, else the host and the explicit (non-default) port.
#[derive(Debug, PartialEq, Eq)]
enum HostKey {
    Unix(String),
    Tcp(String, Option<u16>),
}

impl HostKey {
    fn of(url: &Url) -> Result<Self, UrlError> {
        if url.scheme() == "ws+unix" {
            let (socket, _) = unix_parts(url).map_err(|kind| UrlError::new(url.as_str(), kind))?;
            return Ok(Self::Unix(socket));
        }
        Ok(Self::Tcp(url.host_str().unwrap_or_default().to_owned(), url.port()))
    }
}

/// A redirect to follow: the next target and which of the current request headers go along.
#[derive(Clone, Debug)]
pub struct Redirect {
    target: ClientTarget,
    same_host: bool,
    keep_credentials: bool,
}

impl Redirect {
    /// The URL to go to (normalised: `ws`, `wss` or `ws+unix`).
    pub fn url(&self) -> &Url {
        &self.target.url
    }

    /// The next endpoint and request. Its request carries `Authorization` from the new URL's
    /// userinfo only when credentials are kept ([`keeps_credentials`](Self::keeps_credentials)).
    pub fn target(&self) -> &ClientTarget {
        &self.target
    }

    /// [`target`](Self::target), owned.
    pub fn into_target(self) -> ClientTarget {
        self.target
    }

    /// Whether the new URL is on the original host (same host and explicit port, or the same
    /// socket path).
    pub fn is_same_host(&self) -> bool {
        self.same_host
    }

    /// Whether `Authorization` and `Cookie` may follow: same host and no `wss` → `ws`
    /// downgrade.
    pub fn keeps_credentials(&self) -> bool {
        self.keep_credentials
    }

    /// The request headers to drop (lower case): none, `authorization` and `cookie` (a
    /// downgrade on the same host), or those and `host` (another host).
    pub fn dropped_headers(&self) -> &'static [&'static str] {
        match (self.keep_credentials, self.same_host) {
            (true, _) => &[],
            (false, true) => CREDENTIALS,
            (false, false) => CREDENTIALS_AND_HOST,
        }
    }

    /// Whether a request header called `name` (any case) may follow the redirect.
    pub fn retain_header(&self, name: &str) -> bool {
        !self.dropped_headers().iter().any(|d| d.eq_ignore_ascii_case(name))
    }

    /// The `Authorization: Basic` value of the new URL's userinfo, when credentials are kept
    /// and it has userinfo.
    pub fn authorization(&self) -> Option<String> {
        self.keep_credentials.then(|| basic_auth(&self.target.url)).flatten()
    }

    /// Updates a client's custom headers for the redirect: drops the
    /// [`dropped_headers`](Self::dropped_headers), and adds the new URL's
    /// [`authorization`](Self::authorization) when no `Authorization` is set.
    pub fn apply(&self, headers: &mut Vec<(String, String)>) {
        headers.retain(|(name, _)| self.retain_header(name));
        if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            return;
        }
        if let Some(auth) = self.authorization() {
            headers.push(("authorization".to_owned(), auth));
        }
    }
}

/// A redirect that cannot be followed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// `max` redirects were followed already.
    TooMany {
        /// The limit.
        max: usize,
    },
    /// `Location` is not a URL, even relative to the current one.
    InvalidLocation {
        /// The `Location` value (a password in it masked).
        location: String,
        /// Why it could not be resolved.
        reason: String,
    },
    /// The resolved URL cannot be connected to.
    InvalidTarget(UrlError),
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooMany { max } => write!(f, "maximum redirects exceeded (more than {max})"),
            Self::InvalidLocation { location, reason } => {
                write!(f, "redirect to an invalid Location {location:?}: {reason}")
            }
            Self::InvalidTarget(e) => write!(f, "redirect to an {e}"),
        }
    }
}

impl std::error::Error for RedirectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidTarget(e) => Some(e),
            _ => None,
        }
    }
}

impl RedirectError {
    /// The URL problem, for an [`InvalidTarget`](Self::InvalidTarget).
    pub fn url_error_kind(&self) -> Option<&UrlErrorKind> {
        match self {
            Self::InvalidTarget(e) => Some(e.kind()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::handshake::target::Endpoint;

    fn url(s: &str) -> Url {
        ClientTarget::parse(s).unwrap().url
    }

    fn follow(original: &str, current: &str, location: &str) -> Redirect {
        RedirectPolicy::default()
            .next(&url(original), &url(current), StatusCode::FOUND, Some(location), 0)
            .unwrap()
            .unwrap_or_else(|| panic!("{location}: not a redirect"))
    }

    fn headers() -> Vec<(String, String)> {
        ["Authorization", "cookie", "Host", "X-Keep"].iter().map(|n| (n.to_string(), "v".to_string())).collect()
    }

    fn names(h: &[(String, String)]) -> Vec<&str> {
        h.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn basic(creds: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds))
    }

    #[test]
    fn which_responses_are_redirects() {
        let p = RedirectPolicy::default();
        let u = url("ws://a.example/");
        for code in [300, 301, 302, 303, 304, 305, 307, 308, 399] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(RedirectPolicy::is_redirect(status, Some("/x")), "{code}");
            assert!(p.next(&u, &u, status, Some("/x"), 0).unwrap().is_some(), "{code}");
            // No Location, or an empty one (Node tests it for truth): not a redirect.
            assert!(p.next(&u, &u, status, None, 0).unwrap().is_none(), "{code}");
            assert!(p.next(&u, &u, status, Some(""), 0).unwrap().is_none(), "{code}");
        }
        for code in [100, 101, 200, 204, 299, 400, 401, 404, 500, 503] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!RedirectPolicy::is_redirect(status, Some("/x")), "{code}");
            assert!(p.next(&u, &u, status, Some("/x"), 0).unwrap().is_none(), "{code}");
        }
        // Not a redirect is checked before the limit.
        assert!(RedirectPolicy::new(0).next(&u, &u, StatusCode::OK, Some("/x"), 5).unwrap().is_none());
    }

    #[test]
    fn location_header() {
        let mut h = HeaderMap::new();
        assert_eq!(RedirectPolicy::location(&h), None);
        h.append(LOCATION, "/a".parse().unwrap());
        h.append(LOCATION, "/b".parse().unwrap());
        assert_eq!(RedirectPolicy::location(&h), Some("/a"));
        let mut h = HeaderMap::new();
        h.insert(LOCATION, http::HeaderValue::from_bytes(b"/caf\xe9").unwrap());
        assert_eq!(RedirectPolicy::location(&h), None, "not visible ASCII");
    }

    #[test]
    fn limit_at_below_and_above() {
        let u = url("ws://a.example/");
        for max in [0, 1, 3, DEFAULT_MAX_REDIRECTS] {
            let p = RedirectPolicy::new(max);
            for followed in 0..max {
                assert!(p.next(&u, &u, StatusCode::FOUND, Some("/n"), followed).unwrap().is_some(), "{max} {followed}");
            }
            for followed in [max, max + 1, usize::MAX] {
                assert_eq!(
                    p.next(&u, &u, StatusCode::FOUND, Some("/n"), followed).unwrap_err(),
                    RedirectError::TooMany { max },
                    "{max} {followed}"
                );
            }
        }
        assert_eq!(RedirectPolicy::default().max_redirects, 10);
        assert_eq!(RedirectError::TooMany { max: 10 }.to_string(), "maximum redirects exceeded (more than 10)");
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        for (current, location, next) in [
            ("ws://a.example/dir/page?q", "other", "ws://a.example/dir/other"),
            ("ws://a.example/dir/page", "/root?x=1", "ws://a.example/root?x=1"),
            ("ws://a.example/dir/page", "../up", "ws://a.example/up"),
            ("ws://a.example/", "?only=query", "ws://a.example/?only=query"),
            ("wss://a.example/", "//b.example/p", "wss://b.example/p"),
            ("ws://a.example/", "http://b.example:8080/p", "ws://b.example:8080/p"),
            ("ws://a.example/", "https://b.example/p", "wss://b.example/p"),
            ("ws://a.example/", "HTTPS://B.example:443/p", "wss://b.example/p"),
            ("wss://a.example/", "ws://a.example/", "ws://a.example/"),
            ("ws://a.example/", "ws+unix:///tmp/s.sock:/p", "ws+unix:///tmp/s.sock:/p"),
            ("ws+unix:///tmp/s.sock:/a", "ws://b.example/", "ws://b.example/"),
        ] {
            let r = follow(current, current, location);
            assert_eq!(r.url().as_str(), next, "{current} + {location}");
            assert_eq!(r.target().url.as_str(), next);
        }
        let r = follow("ws://a.example/", "ws://a.example/", "https://b.example:8443/x?y");
        let t = r.into_target();
        assert_eq!(t.endpoint, Endpoint::Tcp { host: "b.example".into(), port: 8443, secure: true });
        assert_eq!((t.request.authority(), t.request.path_and_query()), ("b.example:8443", "/x?y"));
    }

    #[test]
    fn invalid_locations() {
        let p = RedirectPolicy::default();
        let u = url("ws://a.example/");
        let next = |l: &str| p.next(&u, &u, StatusCode::MOVED_PERMANENTLY, Some(l), 0).unwrap_err();
        assert!(matches!(next("http://[::1"), RedirectError::InvalidLocation { .. }));
        assert!(matches!(next("ws://a.example:99999/"), RedirectError::InvalidLocation { .. }));
        let e = next("http://u:secret@[bad");
        assert!(e.to_string().contains("u:****@[bad") && !e.to_string().contains("secret"), "{e}");
        for (l, kind) in [
            ("ftp://a.example/", "unsupported scheme"),
            ("/x#frag", "fragment"),
            ("mailto:x@y", "unsupported scheme"),
            ("ws+unix://", "no socket path"),
        ] {
            let e = next(l);
            assert!(matches!(e, RedirectError::InvalidTarget(_)), "{l}: {e:?}");
            assert!(e.url_error_kind().is_some());
            assert!(e.to_string().contains(kind), "{l}: {e}");
            assert!(std::error::Error::source(&e).is_some());
        }
        assert_eq!(next("/x#frag").url_error_kind(), Some(&UrlErrorKind::Fragment));
        assert_eq!(RedirectError::TooMany { max: 1 }.url_error_kind(), None);
    }

    #[test]
    fn same_host_keeps_every_header() {
        // The default port is implied; path, query and scheme http/https are irrelevant.
        for next in ["wss://a.example/other", "https://a.example:443/other?x", "/relative"] {
            let r = follow("wss://a.example/", "wss://a.example/", next);
            assert!(r.is_same_host() && r.keeps_credentials(), "{next}");
            assert_eq!(r.dropped_headers(), &[] as &[&str]);
            let mut h = headers();
            r.apply(&mut h);
            assert_eq!(names(&h), ["Authorization", "cookie", "Host", "X-Keep"], "{next}");
        }
        // ws → wss is an upgrade: kept.
        let r = follow("ws://a.example/", "ws://a.example/", "wss://a.example/");
        assert!(r.keeps_credentials());
        // ws → ws stays.
        assert!(follow("ws://a.example/", "ws://a.example/", "ws://a.example/x").keeps_credentials());
    }

    #[test]
    fn downgrade_drops_credentials_but_not_host() {
        for next in ["ws://a.example/", "http://a.example/x"] {
            let r = follow("wss://a.example/", "wss://a.example/", next);
            assert!(r.is_same_host() && !r.keeps_credentials(), "{next}");
            assert_eq!(r.dropped_headers(), ["authorization", "cookie"]);
            let mut h = headers();
            r.apply(&mut h);
            assert_eq!(names(&h), ["Host", "X-Keep"], "{next}");
        }
        // The new URL's userinfo is ignored on a downgrade.
        let r = follow("wss://a.example/", "wss://a.example/", "ws://u:p@a.example/");
        assert_eq!(r.authorization(), None);
        let mut h = vec![];
        r.apply(&mut h);
        assert!(h.is_empty());
        assert!(!head(r).contains("authorization"));
    }

    #[test]
    fn another_host_drops_credentials_and_host() {
        for next in ["wss://b.example/", "wss://a.example:8443/", "wss://u:p@b.example/", "ws+unix:///s.sock"] {
            let r = follow("wss://a.example/", "wss://a.example/", next);
            assert!(!r.is_same_host() && !r.keeps_credentials(), "{next}");
            assert_eq!(r.dropped_headers(), ["authorization", "cookie", "host"]);
            let mut h = headers();
            r.apply(&mut h);
            assert_eq!(names(&h), ["X-Keep"], "{next}");
            assert_eq!(r.authorization(), None);
            assert!(!head(r).contains("authorization"), "{next}");
        }
        // An explicit default port differs from none only if it is not the default.
        assert!(follow("ws://a.example/", "ws://a.example/", "ws://a.example:80/").is_same_host());
        assert!(!follow("ws://a.example/", "ws://a.example/", "ws://a.example:81/").is_same_host());
        // Host names compare after the URL parser lower-cased them.
        assert!(follow("ws://A.EXAMPLE/", "ws://a.example/", "ws://a.Example/").is_same_host());
    }

    #[test]
    fn retain_header_ignores_case() {
        let r = follow("wss://a.example/", "wss://a.example/", "wss://b.example/");
        for name in ["Authorization", "AUTHORIZATION", "cookie", "Cookie", "host", "HOST"] {
            assert!(!r.retain_header(name), "{name}");
        }
        for name in ["X-Keep", "Origin", "User-Agent", "Cookie2", "authorizations", "Proxy-Authorization", ""] {
            assert!(r.retain_header(name), "{name}");
        }
        let r = follow("wss://a.example/", "wss://a.example/", "ws://a.example/");
        assert!(r.retain_header("Host") && !r.retain_header("COOKIE"));
        let r = follow("wss://a.example/", "wss://a.example/", "/x");
        assert!(r.retain_header("Authorization") && r.retain_header("cookie") && r.retain_header("host"));
    }

    #[test]
    fn userinfo_on_the_same_host() {
        // Used when no Authorization is set yet…
        let r = follow("wss://a.example/", "wss://a.example/", "wss://u:p@a.example/");
        assert_eq!(r.authorization(), Some(basic("u:p")));
        let mut h = vec![("X".to_owned(), "1".to_owned())];
        r.apply(&mut h);
        assert_eq!(h, [("X".to_owned(), "1".to_owned()), ("authorization".to_owned(), basic("u:p"))]);
        assert!(head(r.clone()).contains(&format!("authorization: {}\r\n", basic("u:p"))));
        // …and an Authorization already set wins.
        let mut h = vec![("AUTHORIZATION".to_owned(), "Bearer t".to_owned())];
        r.apply(&mut h);
        assert_eq!(h, [("AUTHORIZATION".to_owned(), "Bearer t".to_owned())]);
        // No userinfo: nothing added.
        let r = follow("wss://a.example/", "wss://a.example/", "/x");
        assert_eq!(r.authorization(), None);
        let mut h = vec![];
        r.apply(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn compared_with_the_original_host_not_the_previous_hop() {
        // a → b → a: the last hop is on the original host again (credentials allowed), although
        // it leaves b.
        let r = follow("ws://a.example/", "ws://b.example/", "ws://a.example/back");
        assert!(r.is_same_host() && r.keeps_credentials());
        // a → a:81 → a:81/x: another host than the original, although the same as the previous.
        let r = follow("ws://a.example/", "ws://a.example:81/", "/x");
        assert_eq!(r.url().as_str(), "ws://a.example:81/x");
        assert!(!r.is_same_host());
        // The downgrade is also judged from the original scheme: wss → ws → ws drops.
        let r = follow("wss://a.example/", "ws://a.example/", "/x");
        assert!(r.is_same_host() && !r.keeps_credentials());
    }

    #[test]
    fn unix_sockets_compare_by_path() {
        let r = follow("ws+unix:///s.sock:/a", "ws+unix:///s.sock:/a", "ws+unix:///s.sock:/b");
        assert!(r.is_same_host() && r.keeps_credentials());
        let mut h = headers();
        r.apply(&mut h);
        assert_eq!(h.len(), 4);
        let r = follow("ws+unix:///s.sock:/a", "ws+unix:///s.sock:/a", "ws+unix:///t.sock:/b");
        assert!(!r.is_same_host());
        r.apply(&mut h);
        assert_eq!(names(&h), ["X-Keep"]);
        // Percent-encoding does not make another socket.
        let r = follow("ws+unix:///my%20s.sock", "ws+unix:///my%20s.sock", "ws+unix:///my s.sock:/x");
        assert!(r.is_same_host());
        // TCP and Unix never match.
        assert!(!follow("ws://localhost/", "ws://localhost/", "ws+unix:///localhost").is_same_host());
    }

    fn head(r: Redirect) -> String {
        crate::handshake::client::head_for_tests(r.into_target().request)
    }
}
