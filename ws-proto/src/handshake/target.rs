//! Client URLs: from the string a user passes to "connect to this" to where to connect and
//! what to ask for.
//!
//! [`ClientTarget::parse`] accepts the URLs Node `ws` accepts:
//!
//! | URL | connects to | request |
//! |---|---|---|
//! | `ws://host[:port]/path?query` | TCP `host:port` (80 by default) | `GET /path?query`, `Host: host[:port]` |
//! | `wss://…` | TCP, then TLS (443 by default) | as `ws://` |
//! | `http://…`, `https://…` | as `ws://`, `wss://` (the URL is rewritten) | |
//! | `ws+unix:///path/to.sock:/request/path?query` | the Unix socket `/path/to.sock` | `GET /request/path?query`, `Host: localhost` |
//!
//! Userinfo (`ws://user:pass@host/`) becomes `Authorization: Basic` (percent-decoded). A
//! fragment, an unknown scheme or a missing host is a [`UrlError`] that says what is wrong.
//!
//! For `ws+unix:` the socket path and the request path are split at the first `:` of the URL
//! path, as Node `ws` does; the request path defaults to `/`, the socket path is
//! percent-decoded (`my%20dir` → `my dir`) and must then be UTF-8.

use std::fmt;

use base64::Engine;
use url::Url;

use super::client::ClientRequest;
use super::headers::percent_decode;
use crate::error::HandshakeError;

/// The schemes [`ClientTarget::parse`] accepts, for error messages.
const CLIENT_SCHEMES: &str = "ws, wss, ws+unix, http or https";

/// Where a client connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP connection, with TLS on top when `secure` (`wss`).
    Tcp {
        /// The host name or IP address to resolve and connect to (an IPv6 address without
        /// brackets, as socket APIs want it).
        host: String,
        /// The port: the URL's, else 443 for `wss` and 80 for `ws`.
        port: u16,
        /// Whether TLS is needed (`wss`, `https`).
        secure: bool,
    },
    /// A Unix domain socket (`ws+unix:`). Adapters without Unix sockets report it as
    /// unsupported.
    Unix {
        /// The socket's file-system path, percent-decoded.
        path: String,
    },
}

/// A parsed client URL: the normalised URL, the [`Endpoint`] to open and the
/// [`ClientRequest`] to send over it.
///
/// ```
/// use ws_proto::{ClientTarget, Endpoint};
///
/// let t = ClientTarget::parse("https://example.com:8443/chat?room=1").unwrap();
/// assert_eq!(t.url.as_str(), "wss://example.com:8443/chat?room=1");
/// assert_eq!(t.endpoint, Endpoint::Tcp { host: "example.com".into(), port: 8443, secure: true });
/// assert_eq!(t.request.authority(), "example.com:8443");
/// assert_eq!(t.request.path_and_query(), "/chat?room=1");
///
/// let t = ClientTarget::parse("ws+unix:///run/app.sock:/events").unwrap();
/// assert_eq!(t.endpoint, Endpoint::Unix { path: "/run/app.sock".into() });
/// assert_eq!((t.request.authority(), t.request.path_and_query()), ("localhost", "/events"));
///
/// let e = ClientTarget::parse("ftp://example.com/").unwrap_err();
/// assert!(e.to_string().contains("unsupported scheme \"ftp\""), "{e}");
/// ```
#[derive(Clone, Debug)]
pub struct ClientTarget {
    /// The URL with `http`/`https` rewritten to `ws`/`wss` (userinfo kept). Report this one as
    /// the connection's URL.
    pub url: Url,
    /// Where to connect.
    pub endpoint: Endpoint,
    /// The request for this URL: authority, request target, `secure`, and `Authorization:
    /// Basic` from the userinfo. Add custom headers, subprotocols and an origin to it.
    pub request: ClientRequest,
}

impl ClientTarget {
    /// Parses a client URL (see the [module documentation](self) for the accepted forms).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let parsed = Url::parse(url).map_err(|e| UrlError::new(url, UrlErrorKind::Parse(e.to_string())))?;
        Self::from_url(parsed)
    }

    /// [`parse`](Self::parse) for an already parsed URL.
    pub fn from_url(url: Url) -> Result<Self, UrlError> {
        Self::build(url, true)
    }

    /// Builds the target; with `credentials` false the URL's userinfo is not turned into
    /// `Authorization` (a redirect that must not carry credentials).
    pub(crate) fn build(url: Url, credentials: bool) -> Result<Self, UrlError> {
        let url = normalize(url)?;
        let fail = |kind| UrlError::new(url.as_str(), kind);
        let (endpoint, mut request) = if url.scheme() == "ws+unix" {
            let (path, request_path) = unix_parts(&url).map_err(fail)?;
            (Endpoint::Unix { path }, ClientRequest::new("localhost", &request_path))
        } else {
            if !url.host_str().is_some_and(|h| !h.is_empty()) {
                return Err(fail(UrlErrorKind::EmptyHost));
            }
            let request = if credentials {
                ClientRequest::from_url(&url)
            } else {
                let mut bare = url.clone();
                // Cannot fail: the URL has a host.
                let _ = bare.set_username("");
                let _ = bare.set_password(None);
                ClientRequest::from_url(&bare)
            };
            let request = request.map_err(|e| fail(UrlErrorKind::InvalidRequest(request_reason(e))))?;
            let endpoint =
                Endpoint::Tcp { host: request.host().to_owned(), port: request.port(), secure: request.is_secure() };
            (endpoint, request)
        };
        if let Endpoint::Unix { .. } = endpoint {
            if credentials {
                if let Some(auth) = basic_auth(&url) {
                    request = request.header("Authorization", &auth);
                }
            }
            if let Some(reason) = request.take_error() {
                return Err(fail(UrlErrorKind::InvalidRequest(reason)));
            }
        }
        Ok(Self { url, endpoint, request })
    }

    /// The `Authorization: Basic` value for the URL's userinfo (percent-decoded), if it has
    /// any: what [`request`](Self::request) carries. A client that follows redirects keeps it
    /// with its custom headers (see [`Redirect::apply`](crate::Redirect::apply)).
    pub fn basic_authorization(&self) -> Option<String> {
        basic_auth(&self.url)
    }

    /// Whether TLS is needed (`wss`).
    pub fn is_secure(&self) -> bool {
        matches!(self.endpoint, Endpoint::Tcp { secure: true, .. })
    }
}

/// The message of a `ClientRequest::from_url` error, without the `invalid request: ` prefix.
fn request_reason(e: HandshakeError) -> String {
    match e {
        HandshakeError::InvalidRequest(reason) => reason,
        other => other.to_string(),
    }
}

/// `http`/`https` → `ws`/`wss`; other schemes than those and `ws+unix`, and fragments, are
/// refused.
pub(crate) fn normalize(mut url: Url) -> Result<Url, UrlError> {
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        "ws+unix" => "ws+unix",
        other => {
            let kind = UrlErrorKind::UnsupportedScheme { scheme: other.to_owned(), expected: CLIENT_SCHEMES };
            return Err(UrlError::new(url.as_str(), kind));
        }
    };
    // `http` and `ws` are both special schemes, so the change cannot be refused; check anyway.
    if url.scheme() != scheme && url.set_scheme(scheme).is_err() {
        let kind = UrlErrorKind::InvalidRequest(format!("cannot use the URL as {scheme}"));
        return Err(UrlError::new(url.as_str(), kind));
    }
    if url.fragment().is_some() {
        return Err(UrlError::new(url.as_str(), UrlErrorKind::Fragment));
    }
    Ok(url)
}

/// `ws+unix:///sock:/path?q` → (`/sock`, `/path?q`): the socket path (percent-decoded, UTF-8,
/// not empty and not `/`) and the request target (`/` when omitted, a `/` added in front when
/// missing, the query appended).
pub(crate) fn unix_parts(url: &Url) -> Result<(String, String), UrlErrorKind> {
    let full = url.path();
    let (socket, target) = full.split_once(':').unwrap_or((full, ""));
    let socket = String::from_utf8(percent_decode(socket)).map_err(|_| UrlErrorKind::SocketPathNotUtf8)?;
    if socket.is_empty() || socket == "/" {
        return Err(UrlErrorKind::NoSocketPath);
    }
    let mut path = String::with_capacity(target.len() + 1 + url.query().map_or(0, |q| q.len() + 1));
    if !target.starts_with('/') {
        path.push('/');
    }
    path.push_str(target);
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok((socket, path))
}

/// `Basic base64(user:password)` for the URL's userinfo, both percent-decoded; `None` without
/// userinfo. As Node `ws`, a user without a password still gets `user:`.
pub(crate) fn basic_auth(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let mut creds = percent_decode(url.username());
    creds.push(b':');
    creds.extend_from_slice(&percent_decode(url.password().unwrap_or_default()));
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds)))
}

/// `url` with the password of its userinfo (if any) replaced by `****`, for error messages.
/// Works on unparsable strings too: the userinfo is whatever precedes the last `@` of the
/// authority (after `://`, up to the first `/`, `?` or `#`).
pub(crate) fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = url.get(start..).unwrap_or_default();
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len).unwrap_or_default();
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let userinfo = authority.get(..at).unwrap_or_default();
    let Some(colon) = userinfo.find(':') else { return url.to_owned() };
    let keep = start + colon + 1;
    let resume = start + at;
    format!("{}****{}", url.get(..keep).unwrap_or_default(), url.get(resume..).unwrap_or_default())
}

/// What is wrong with a URL; see [`UrlError::kind`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlErrorKind {
    /// Not a URL at all (the `url` crate's reason).
    Parse(String),
    /// A scheme that cannot be used here.
    UnsupportedScheme {
        /// The URL's scheme (lower case).
        scheme: String,
        /// The schemes that can, for the message.
        expected: &'static str,
    },
    /// A fragment (`#…`), which RFC 6455 §3 forbids in WebSocket URLs.
    Fragment,
    /// No host (`ws://` URLs need one).
    EmptyHost,
    /// A `ws+unix:` URL without a socket path.
    NoSocketPath,
    /// A `ws+unix:` socket path that is not UTF-8 once percent-decoded.
    SocketPathNotUtf8,
    /// The URL cannot be turned into a request (e.g. a host that is not valid in `Host`).
    InvalidRequest(String),
}

impl fmt::Display for UrlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(reason) => f.write_str(reason),
            Self::UnsupportedScheme { scheme, expected } => {
                write!(f, "unsupported scheme {scheme:?} (expected {expected})")
            }
            Self::Fragment => f.write_str("a WebSocket URL must not have a fragment"),
            Self::EmptyHost => f.write_str("the URL has no host"),
            Self::NoSocketPath => f.write_str(
                "no socket path (expected ws+unix:///path/to.sock or ws+unix:///path/to.sock:/request/path)",
            ),
            Self::SocketPathNotUtf8 => f.write_str("the socket path is not UTF-8 once percent-decoded"),
            Self::InvalidRequest(reason) => f.write_str(reason),
        }
    }
}

/// A URL that cannot be used: which URL (its password masked) and what is wrong with it.
///
/// Displays as `invalid URL "…": reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    kind: UrlErrorKind,
}

impl UrlError {
    /// An error for `url` (its password is masked).
    pub fn new(url: &str, kind: UrlErrorKind) -> Self {
        Self { url: redact(url), kind }
    }

    /// The URL, with the password of its userinfo replaced by `****`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What is wrong.
    pub fn kind(&self) -> &UrlErrorKind {
        &self.kind
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid URL {:?}: {}", self.url, self.kind)
    }
}

impl std::error::Error for UrlError {}

impl From<UrlError> for HandshakeError {
    fn from(e: UrlError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::client::head_for_tests;

    fn tcp(host: &str, port: u16, secure: bool) -> Endpoint {
        Endpoint::Tcp { host: host.into(), port, secure }
    }

    fn kind(url: &str) -> UrlErrorKind {
        ClientTarget::parse(url).unwrap_err().kind().clone()
    }

    fn basic(creds: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds))
    }

    #[test]
    fn tcp_urls() {
        for (url, normal, endpoint, authority, target) in [
            ("ws://a.example/x?y", "ws://a.example/x?y", tcp("a.example", 80, false), "a.example", "/x?y"),
            ("ws://a.example", "ws://a.example/", tcp("a.example", 80, false), "a.example", "/"),
            ("http://a.example/x", "ws://a.example/x", tcp("a.example", 80, false), "a.example", "/x"),
            ("HTTP://A.example:8080", "ws://a.example:8080/", tcp("a.example", 8080, false), "a.example:8080", "/"),
            ("wss://a.example", "wss://a.example/", tcp("a.example", 443, true), "a.example", "/"),
            ("https://a.example:443/", "wss://a.example/", tcp("a.example", 443, true), "a.example", "/"),
            ("https://a.example:80/", "wss://a.example:80/", tcp("a.example", 80, true), "a.example:80", "/"),
            ("ws://a.example:443/", "ws://a.example:443/", tcp("a.example", 443, false), "a.example:443", "/"),
            ("ws://127.0.0.1:9001/p", "ws://127.0.0.1:9001/p", tcp("127.0.0.1", 9001, false), "127.0.0.1:9001", "/p"),
            ("wss://[::1]:9443/a?b", "wss://[::1]:9443/a?b", tcp("::1", 9443, true), "[::1]:9443", "/a?b"),
            ("ws://[::1]/", "ws://[::1]/", tcp("::1", 80, false), "[::1]", "/"),
            (
                "ws://a.example/sp%20ace?q=%C3%A9",
                "ws://a.example/sp%20ace?q=%C3%A9",
                tcp("a.example", 80, false),
                "a.example",
                "/sp%20ace?q=%C3%A9",
            ),
            (
                "ws://a.example/caf\u{e9}",
                "ws://a.example/caf%C3%A9",
                tcp("a.example", 80, false),
                "a.example",
                "/caf%C3%A9",
            ),
            ("ws://a.example:65535/", "ws://a.example:65535/", tcp("a.example", 65535, false), "a.example:65535", "/"),
        ] {
            let t = ClientTarget::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(t.url.as_str(), normal, "{url}");
            assert_eq!(t.endpoint, endpoint, "{url}");
            assert_eq!((t.request.authority(), t.request.path_and_query()), (authority, target), "{url}");
            assert_eq!(t.is_secure(), matches!(endpoint, Endpoint::Tcp { secure: true, .. }));
            assert_eq!(t.request.is_secure(), t.is_secure());
            assert_eq!(t.basic_authorization(), None);
        }
    }

    #[test]
    fn userinfo_becomes_basic_authorization() {
        let t = ClientTarget::parse("ws://us%40er:p%3Ass@a.example/").unwrap();
        assert_eq!(t.basic_authorization(), Some(basic("us@er:p:ss")));
        assert_eq!(t.request.authority(), "a.example");
        assert_eq!(t.url.as_str(), "ws://us%40er:p%3Ass@a.example/", "userinfo kept in the URL");
        let t = ClientTarget::parse("ws://user@a.example/").unwrap();
        assert_eq!(t.basic_authorization(), Some(basic("user:")));
        let t = ClientTarget::parse("ws://:pw@a.example/").unwrap();
        assert_eq!(t.basic_authorization(), Some(basic(":pw")));
        let head = head_for_tests(t.request);
        assert!(head.contains(&format!("authorization: {}\r\n", basic(":pw"))), "{head}");
        // Without credentials (a redirect that may not carry them): no Authorization.
        let t = ClientTarget::build(Url::parse("wss://u:p@a.example/").unwrap(), false).unwrap();
        assert_eq!(t.endpoint, tcp("a.example", 443, true));
        assert_eq!(t.url.as_str(), "wss://u:p@a.example/");
        let head = head_for_tests(t.request);
        assert!(!head.to_ascii_lowercase().contains("authorization"), "{head}");
        assert!(head.starts_with("GET / HTTP/1.1\r\nHost: a.example\r\n"), "{head}");
        // A custom Authorization replaces the userinfo's.
        let mut t = ClientTarget::parse("ws://u:p@a.example/").unwrap();
        t.request = t.request.header("Authorization", "Bearer x");
        let head = head_for_tests(t.request);
        assert!(head.contains("authorization: Bearer x\r\n") && !head.contains("Basic"), "{head}");
    }

    #[test]
    fn unix_request_head() {
        let t = ClientTarget::parse("ws+unix:///tmp/a.sock:/chat?x=1").unwrap();
        let head = head_for_tests(t.request);
        assert!(head.starts_with("GET /chat?x=1 HTTP/1.1\r\nHost: localhost\r\n"), "{head}");
        assert!(!head.contains("authorization"), "{head}");
    }

    #[test]
    fn unix_host_is_ignored_and_userinfo_used() {
        // Node ignores the host of a ws+unix URL; the tokio client sent the userinfo.
        let t = ClientTarget::parse("ws+unix://u:p@h/tmp/s.sock:/x").unwrap();
        assert_eq!(t.endpoint, Endpoint::Unix { path: "/tmp/s.sock".into() });
        assert_eq!(t.basic_authorization(), Some(basic("u:p")));
        let head = head_for_tests(t.request);
        assert!(head.starts_with("GET /x HTTP/1.1\r\nHost: localhost\r\n"), "{head}");
        assert!(head.contains(&format!("authorization: {}\r\n", basic("u:p"))), "{head}");
        // Without credentials (redirect): none.
        let t = ClientTarget::build(Url::parse("ws+unix://u:p@h/tmp/s.sock").unwrap(), false).unwrap();
        assert!(!head_for_tests(t.request).contains("authorization"));
        // Userinfo without a host is not a URL.
        assert_eq!(kind("ws+unix://u:p@/tmp/s"), UrlErrorKind::Parse("empty host".into()));
    }

    #[test]
    fn unix_urls_as_node() {
        for (url, socket, target) in [
            ("ws+unix:///tmp/a.sock:/chat?x=1", "/tmp/a.sock", "/chat?x=1"),
            ("ws+unix:///tmp/a.sock", "/tmp/a.sock", "/"),
            ("ws+unix:///tmp/a.sock:", "/tmp/a.sock", "/"),
            ("ws+unix:///tmp/a.sock:chat", "/tmp/a.sock", "/chat"),
            ("ws+unix:///tmp/a.sock?q", "/tmp/a.sock", "/?q"),
            ("ws+unix:///tmp/a.sock:/a:b", "/tmp/a.sock", "/a:b"),
            ("ws+unix:///tmp/my%20dir/a.sock:/", "/tmp/my dir/a.sock", "/"),
            ("ws+unix:///tmp/%E2%82%AC.sock:/", "/tmp/\u{20ac}.sock", "/"),
            ("ws+unix:///tmp/a%3Ab.sock:/x", "/tmp/a:b.sock", "/x"),
            ("ws+unix:///tmp/%zz%4.sock", "/tmp/%zz%4.sock", "/"),
            ("ws+unix:/tmp/a.sock:/p", "/tmp/a.sock", "/p"),
            ("WS+UNIX:///s:/p", "/s", "/p"),
        ] {
            let t = ClientTarget::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(t.endpoint, Endpoint::Unix { path: socket.into() }, "{url}");
            assert_eq!((t.request.authority(), t.request.path_and_query()), ("localhost", target), "{url}");
            assert!(!t.is_secure());
            assert_eq!(t.request.port(), 80);
        }
    }

    #[test]
    fn refused_urls() {
        assert!(matches!(kind("not a url"), UrlErrorKind::Parse(_)));
        assert!(matches!(kind(""), UrlErrorKind::Parse(_)));
        assert!(matches!(kind("ws://"), UrlErrorKind::Parse(_)));
        assert!(matches!(kind("ws://a.example:65536/"), UrlErrorKind::Parse(_)));
        for (url, scheme) in [("ftp://a.example/", "ftp"), ("file:///x", "file"), ("wss+unix:///s", "wss+unix")] {
            assert_eq!(
                kind(url),
                UrlErrorKind::UnsupportedScheme { scheme: scheme.into(), expected: CLIENT_SCHEMES },
                "{url}"
            );
        }
        for url in ["ws://a.example/#frag", "https://a.example/#", "ws+unix:///a.sock:/x#frag", "ws://a.example#"] {
            assert_eq!(kind(url), UrlErrorKind::Fragment, "{url}");
        }
        for url in ["ws+unix://", "ws+unix:///", "ws+unix:///:/chat", "ws+unix:", "ws+unix:?q"] {
            assert_eq!(kind(url), UrlErrorKind::NoSocketPath, "{url}");
        }
        assert_eq!(kind("ws+unix:///tmp/%ff.sock"), UrlErrorKind::SocketPathNotUtf8);
        assert_eq!(kind("ws+unix:///tmp/%C3.sock:/p"), UrlErrorKind::SocketPathNotUtf8);
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let e = ClientTarget::parse("ftp://u:secret@a.example/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid URL \"ftp://u:****@a.example/\": unsupported scheme \"ftp\" (expected ws, wss, ws+unix, http or https)"
        );
        assert_eq!(e.url(), "ftp://u:****@a.example/");
        let e = ClientTarget::parse("ws://a.example/#x").unwrap_err();
        assert_eq!(e.to_string(), "invalid URL \"ws://a.example/#x\": a WebSocket URL must not have a fragment");
        let e = ClientTarget::parse("ws+unix:///tmp/%ff").unwrap_err();
        assert!(e.to_string().ends_with("the socket path is not UTF-8 once percent-decoded"), "{e}");
        let e = ClientTarget::parse("ws+unix://").unwrap_err();
        assert!(e.to_string().contains("no socket path"), "{e}");
        let e = ClientTarget::parse("nope").unwrap_err();
        assert!(e.to_string().starts_with("invalid URL \"nope\": "), "{e}");
        let h: HandshakeError = e.into();
        assert!(matches!(h, HandshakeError::InvalidRequest(ref m) if m.starts_with("invalid URL")), "{h:?}");
    }

    #[test]
    fn redaction() {
        for (input, out) in [
            ("ws://u:p@h/", "ws://u:****@h/"),
            ("ws://u:p@h", "ws://u:****@h"),
            ("ws://u@h/", "ws://u@h/"),
            ("ws://h/a@b:c", "ws://h/a@b:c"),
            ("ws://u:p:q@x@h/?a@b", "ws://u:****@h/?a@b"),
            ("ws://:p@h/", "ws://:****@h/"),
            ("ws://h/", "ws://h/"),
            ("no scheme u:p@h", "no scheme u:p@h"),
            ("://u:p@", "://u:****@"),
            ("", ""),
            ("ws://\u{e9}:\u{e9}@h", "ws://\u{e9}:****@h"),
        ] {
            assert_eq!(redact(input), out, "{input}");
        }
    }

    #[test]
    fn from_url_and_the_request_stay_consistent() {
        // ClientRequest::from_url and ClientTarget agree for TCP URLs.
        for url in ["ws://a.example:81/x", "wss://u:p@[::1]/", "http://a.example/?q"] {
            let parsed = Url::parse(url).unwrap();
            let req = ClientRequest::from_url(&parsed).unwrap();
            let t = ClientTarget::from_url(parsed).unwrap();
            assert_eq!(req.authority(), t.request.authority());
            assert_eq!(req.path_and_query(), t.request.path_and_query());
            assert_eq!((req.host(), req.port(), req.is_secure()), (t.request.host(), t.request.port(), t.is_secure()));
        }
    }
}
