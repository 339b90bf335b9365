//! HTTP `CONNECT` proxy tunnels (RFC 9110 §9.3.6), sans IO.
//!
//! A client behind an HTTP proxy opens a TCP connection to the proxy, asks it for a tunnel
//! with `CONNECT host:port`, and once the proxy answers `2xx` runs TLS (for `wss`) and the
//! WebSocket handshake through the tunnel as if it were connected to `host:port` directly.
//!
//! `HttpProxy::parse` (feature `url`) reads the proxy URL (`http://[user:pass@]host[:port]`), and a
//! [`ProxyTunnel`] does the exchange: write [`request`](ProxyTunnel::request), then feed what
//! the proxy answers to [`receive`](ProxyTunnel::receive) until it is no longer
//! [`NeedMore`](ProxyStatus::NeedMore).
//!
//! ```
//! use ws_proto::{HttpProxy, ProxyStatus, ProxyTunnel};
//!
//! // HttpProxy::parse("http://user:pw@proxy.example:3128") (feature `url`) gives:
//! let proxy = HttpProxy {
//!     host: "proxy.example".into(),
//!     port: 3128,
//!     authorization: Some("Basic dXNlcjpwdw==".into()),
//! };
//! let mut tunnel = ProxyTunnel::new(&proxy, "::1", 9001, 16 * 1024).unwrap();
//! assert_eq!(
//!     tunnel.request(),
//!     b"CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n\r\n"
//! );
//! assert_eq!(tunnel.receive(b"HTTP/1.1 200 Connection est").unwrap(), ProxyStatus::NeedMore);
//! match tunnel.receive(b"ablished\r\n\r\n").unwrap() {
//!     ProxyStatus::Established { leftover } => assert!(leftover.is_empty()),
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use super::headers::{self as h, HeadBuffer};
use crate::error::HandshakeError;

/// Most header fields parsed from a proxy's response.
pub const MAX_PROXY_HEADERS: usize = 64;

/// An HTTP proxy to tunnel through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpProxy {
    /// The proxy's host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// The `Proxy-Authorization` value to send, if any (from the URL's userinfo:
    /// `Basic base64(user:password)`).
    pub authorization: Option<String>,
}

impl HttpProxy {
    /// Parses a proxy URL: `http://` only (the tunnel to the proxy is not encrypted; `wss`
    /// through it still is, end to end), port 80 when omitted, the userinfo (percent-decoded)
    /// as `Proxy-Authorization: Basic`. A path or query is ignored.
    #[cfg(feature = "url")]
    pub fn parse(url: &str) -> Result<Self, super::target::UrlError> {
        use super::target::{basic_auth, UrlError, UrlErrorKind};

        let parsed = url::Url::parse(url).map_err(|e| UrlError::new(url, UrlErrorKind::Parse(e.to_string())))?;
        if parsed.scheme() != "http" {
            let kind = UrlErrorKind::UnsupportedScheme {
                scheme: parsed.scheme().to_owned(),
                expected: "http, for an HTTP CONNECT proxy",
            };
            return Err(UrlError::new(url, kind));
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(host) => host.to_string(),
            None => return Err(UrlError::new(url, UrlErrorKind::EmptyHost)),
        };
        if host.is_empty() {
            return Err(UrlError::new(url, UrlErrorKind::EmptyHost));
        }
        let port = parsed.port_or_known_default().unwrap_or(80);
        Ok(Self { host, port, authorization: basic_auth(&parsed) })
    }
}

/// Where a [`ProxyTunnel`] stands after the bytes it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyStatus {
    /// The proxy's response head is not complete yet: read more.
    NeedMore,
    /// The proxy answered `2xx`: the stream is now a tunnel to the target.
    Established {
        /// Bytes received after the response head. The target has not been sent anything yet,
        /// so a well-behaved proxy sends nothing more; a client may treat non-empty leftover
        /// as an error, or hand it to the next layer (TLS or the WebSocket handshake).
        leftover: Bytes,
    },
}

/// The `CONNECT` exchange with a proxy: the request to write and the parsing of the response.
#[derive(Debug)]
pub struct ProxyTunnel {
    request: Vec<u8>,
    head: HeadBuffer,
    max_head: usize,
    finished: bool,
}

impl ProxyTunnel {
    /// A tunnel through `proxy` to `host:port` (an IPv6 `host` with or without brackets).
    /// The proxy's response head may be at most `max_head` bytes (adapters use
    /// [`Config::get_max_handshake_size`](crate::Config::get_max_handshake_size), 16 KiB by
    /// default).
    ///
    /// Fails with [`ProxyError::InvalidTarget`] for an empty `host` or one with characters that
    /// cannot appear in an authority (controls, spaces, `/`, `?`, `#`, `@`), and for an
    /// `authorization` that is not a valid header value.
    pub fn new(proxy: &HttpProxy, host: &str, port: u16, max_head: usize) -> Result<Self, ProxyError> {
        let authority = format!("{}:{port}", authority_host(host)?);
        let mut request = Vec::with_capacity(64 + 2 * authority.len());
        request.extend_from_slice(b"CONNECT ");
        request.extend_from_slice(authority.as_bytes());
        request.extend_from_slice(b" HTTP/1.1\r\n");
        h::put_header(&mut request, b"Host", authority.as_bytes());
        if let Some(auth) = &proxy.authorization {
            if HeaderValue::from_str(auth).is_err() {
                return Err(ProxyError::InvalidTarget("Proxy-Authorization is not a valid header value".into()));
            }
            h::put_header(&mut request, b"Proxy-Authorization", auth.as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        Ok(Self { request, head: HeadBuffer::default(), max_head, finished: false })
    }

    /// The request to write to the proxy, completely, before reading its answer.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Whether the exchange ended (established or failed); later calls return
    /// [`ProxyError::Finished`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Takes bytes the proxy sent (any split) and says whether the tunnel is up.
    ///
    /// Errors: [`Rejected`](ProxyError::Rejected) for a status other than `2xx`,
    /// [`HeadTooLarge`](ProxyError::HeadTooLarge) when the head does not end within
    /// `max_head` bytes (detected as soon as that many bytes arrived; nothing more is kept),
    /// [`Malformed`](ProxyError::Malformed) for a response that is not HTTP/1.x.
    pub fn receive(&mut self, data: &[u8]) -> Result<ProxyStatus, ProxyError> {
        if self.finished {
            return Err(ProxyError::Finished);
        }
        if data.is_empty() {
            return Ok(ProxyStatus::NeedMore);
        }
        self.head.receive(data);
        let result = self.poll();
        if !matches!(result, Ok(ProxyStatus::NeedMore)) {
            self.finished = true;
            self.head = HeadBuffer::default();
        }
        result
    }

    /// The proxy closed the connection: [`UnexpectedEof`](ProxyError::UnexpectedEof) unless
    /// the exchange already ended ([`Finished`](ProxyError::Finished)).
    pub fn receive_eof(&mut self) -> Result<ProxyStatus, ProxyError> {
        if std::mem::replace(&mut self.finished, true) {
            return Err(ProxyError::Finished);
        }
        self.head = HeadBuffer::default();
        Err(ProxyError::UnexpectedEof)
    }

    fn poll(&mut self) -> Result<ProxyStatus, ProxyError> {
        let end = match self.head.find_end(self.max_head) {
            Ok(Some(end)) => end,
            Ok(None) => return Ok(ProxyStatus::NeedMore),
            Err(_) => return Err(ProxyError::HeadTooLarge { max: self.max_head }),
        };
        let (status, headers) = {
            let buf = self.head.input.buf.get(..end).unwrap_or_default();
            let mut slots = h::header_slots(end, MAX_PROXY_HEADERS);
            let mut response = httparse::Response::new(&mut slots);
            match response.parse(buf) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => return Err(ProxyError::Malformed("incomplete response head".into())),
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ProxyError::Malformed(format!("more than {MAX_PROXY_HEADERS} header fields")))
                }
                Err(e) => return Err(ProxyError::Malformed(e.to_string())),
            }
            let code = response.code.unwrap_or_default();
            let status =
                StatusCode::from_u16(code).map_err(|_| ProxyError::Malformed(format!("invalid status code {code}")))?;
            let mut headers = HeaderMap::new();
            if !status.is_success() {
                for field in response.headers.iter() {
                    let name = HeaderName::from_bytes(field.name.as_bytes());
                    if let (Ok(name), Ok(value)) = (name, HeaderValue::from_bytes(field.value)) {
                        headers.append(name, value);
                    }
                }
            }
            (status, headers)
        };
        if !status.is_success() {
            return Err(ProxyError::Rejected { status, headers: Box::new(headers) });
        }
        let (_, leftover) = self.head.take(end);
        Ok(ProxyStatus::Established { leftover })
    }
}

/// `host` as it goes before `:port`: IPv6 addresses bracketed, anything that could break the
/// request line refused.
fn authority_host(host: &str) -> Result<String, ProxyError> {
    let invalid = || ProxyError::InvalidTarget(format!("invalid host {host:?}"));
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@')) {
        return Err(invalid());
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']') {
            Some(addr) if !addr.is_empty() && !addr.contains(['[', ']']) => Ok(host.to_owned()),
            _ => Err(invalid()),
        };
    }
    if host.contains(['[', ']']) {
        return Err(invalid());
    }
    Ok(if host.contains(':') { format!("[{host}]") } else { host.to_owned() })
}

/// A proxy tunnel that could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy answered with a status other than `2xx` (e.g. 407 Proxy Authentication
    /// Required, with its `Proxy-Authenticate`).
    Rejected {
        /// The status.
        status: StatusCode,
        /// The response's header fields (fields that are not valid HTTP are left out).
        headers: Box<HeaderMap>,
    },
    /// The response head did not end within the limit.
    HeadTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// The response is not an HTTP/1.x response head.
    Malformed(String),
    /// The proxy closed the connection before its response head was complete.
    UnexpectedEof,
    /// The target host, or the proxy credentials, cannot be put in a request.
    InvalidTarget(String),
    /// The exchange already ended: nothing more can be fed to it.
    Finished,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { status, .. } => write!(f, "the proxy refused the tunnel with status {status}"),
            Self::HeadTooLarge { max } => write!(f, "the proxy's response head exceeds {max} bytes"),
            Self::Malformed(e) => write!(f, "malformed proxy response: {e}"),
            Self::UnexpectedEof => f.write_str("the proxy closed the connection before answering CONNECT"),
            Self::InvalidTarget(e) => write!(f, "cannot ask the proxy for a tunnel: {e}"),
            Self::Finished => f.write_str("the proxy tunnel exchange already ended"),
        }
    }
}

impl std::error::Error for ProxyError {}

impl From<ProxyError> for HandshakeError {
    /// `Rejected` → [`BadStatus`](HandshakeError::BadStatus), `HeadTooLarge` →
    /// [`HeadTooLarge`](HandshakeError::HeadTooLarge), `UnexpectedEof` →
    /// [`UnexpectedEof`](HandshakeError::UnexpectedEof), an invalid target →
    /// [`InvalidRequest`](HandshakeError::InvalidRequest), the rest
    /// [`Malformed`](HandshakeError::Malformed).
    fn from(e: ProxyError) -> Self {
        match e {
            ProxyError::Rejected { status, .. } => Self::BadStatus(status.as_u16()),
            ProxyError::HeadTooLarge { .. } => Self::HeadTooLarge,
            ProxyError::UnexpectedEof => Self::UnexpectedEof,
            ProxyError::InvalidTarget(e) => Self::InvalidRequest(e),
            other => Self::Malformed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(auth: Option<&str>) -> HttpProxy {
        HttpProxy { host: "p".into(), port: 1, authorization: auth.map(str::to_owned) }
    }

    fn tunnel(max: usize) -> ProxyTunnel {
        ProxyTunnel::new(&proxy(None), "h", 1, max).unwrap()
    }

    const OK: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

    #[test]
    fn request_bytes() {
        for (host, port, auth, expect) in [
            ("a.example", 443, None, "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
            ("::1", 9001, None, "CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\r\n"),
            ("[::1]", 80, None, "CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            ("10.0.0.1", 0, None, "CONNECT 10.0.0.1:0 HTTP/1.1\r\nHost: 10.0.0.1:0\r\n\r\n"),
            (
                "h",
                65535,
                Some("Basic eA=="),
                "CONNECT h:65535 HTTP/1.1\r\nHost: h:65535\r\nProxy-Authorization: Basic eA==\r\n\r\n",
            ),
        ] {
            let t = ProxyTunnel::new(&proxy(auth), host, port, 100).unwrap();
            assert_eq!(std::str::from_utf8(t.request()).unwrap(), expect);
            assert!(!t.is_finished());
        }
    }

    #[test]
    fn invalid_targets_are_refused() {
        for host in ["", "a b", "a\r\nX: y", "a/b", "a?b", "a#b", "u@h", "[::1", "::1]", "[]", "[[::1]]", "a]b", "é"] {
            let e = ProxyTunnel::new(&proxy(None), host, 1, 100).unwrap_err();
            assert!(matches!(e, ProxyError::InvalidTarget(_)), "{host:?}: {e:?}");
            assert!(e.to_string().starts_with("cannot ask the proxy for a tunnel: invalid host"), "{e}");
        }
        for auth in ["Basic x\r\nX-Injected: 1", "a\nb", "\u{7f}"] {
            let e = ProxyTunnel::new(&proxy(Some(auth)), "h", 1, 100).unwrap_err();
            assert!(matches!(e, ProxyError::InvalidTarget(_)), "{auth:?}");
        }
    }

    #[test]
    fn established_in_any_split() {
        let mut bytes = OK.to_vec();
        bytes.extend_from_slice(b"early");
        for cut in 0..=bytes.len() {
            let mut t = tunnel(1024);
            let first = t.receive(&bytes[..cut]).unwrap();
            let done = match first {
                ProxyStatus::NeedMore => t.receive(&bytes[cut..]).unwrap(),
                established => {
                    assert!(cut >= OK.len(), "cut {cut}");
                    established
                }
            };
            let ProxyStatus::Established { leftover } = done else { panic!("cut {cut}: {done:?}") };
            let expect: &[u8] = if cut >= OK.len() { &bytes[OK.len()..cut] } else { b"early" };
            assert_eq!(&leftover[..], expect, "cut {cut}");
            assert!(t.is_finished());
        }
        // Byte by byte.
        let mut t = tunnel(1024);
        for (i, &b) in OK.iter().enumerate() {
            let s = t.receive(&[b]).unwrap();
            assert_eq!(s == ProxyStatus::NeedMore, i + 1 < OK.len(), "byte {i}");
        }
    }

    #[test]
    fn every_2xx_establishes_and_http_1_0_is_fine() {
        for head in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"HTTP/1.1 204 x\r\nA: b\r\n\r\n",
            b"HTTP/1.1 299 \r\n\r\n",
        ] {
            assert!(matches!(tunnel(100).receive(head), Ok(ProxyStatus::Established { .. })), "{head:?}");
        }
    }

    #[test]
    fn refusals_carry_status_and_headers() {
        for (code, head) in [
            (407, &b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"[..]),
            (403, b"HTTP/1.1 403 Forbidden\r\n\r\nbody"),
            (502, b"HTTP/1.1 502 Bad Gateway\r\nX: 1\r\nX: 2\r\n\r\n"),
            (101, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            (301, b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n"),
            (199, b"HTTP/1.1 199 Info\r\n\r\n"),
            (300, b"HTTP/1.1 300 X\r\n\r\n"),
        ] {
            let mut t = tunnel(1024);
            match t.receive(head) {
                Err(ProxyError::Rejected { status, headers }) => {
                    assert_eq!(status, code);
                    if code == 407 {
                        assert_eq!(headers["proxy-authenticate"], "Basic");
                    }
                    if code == 502 {
                        assert_eq!(headers.get_all("x").iter().count(), 2);
                    }
                }
                other => panic!("{code}: {other:?}"),
            }
            assert!(t.is_finished());
            assert_eq!(t.receive(b"more"), Err(ProxyError::Finished));
        }
        let e = ProxyError::Rejected { status: StatusCode::PROXY_AUTHENTICATION_REQUIRED, headers: Box::default() };
        assert_eq!(e.to_string(), "the proxy refused the tunnel with status 407 Proxy Authentication Required");
        assert_eq!(HandshakeError::from(e), HandshakeError::BadStatus(407));
    }

    #[test]
    fn malformed_heads() {
        for head in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            b"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\x00: x\r\n\r\n",
        ] {
            let e = tunnel(1024).receive(head).unwrap_err();
            assert!(matches!(e, ProxyError::Malformed(_)), "{head:?}: {e:?}");
            assert!(e.to_string().starts_with("malformed proxy response: "), "{e}");
        }
        assert_eq!(
            HandshakeError::from(ProxyError::Malformed("x".into())),
            HandshakeError::Malformed("malformed proxy response: x".into())
        );
    }

    #[test]
    fn header_count_limit() {
        let head = |n: usize| {
            let mut s = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..n {
                s.push_str(&format!("H{i}: v\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        };
        for n in [0, MAX_PROXY_HEADERS - 1, MAX_PROXY_HEADERS] {
            assert!(matches!(tunnel(1 << 20).receive(&head(n)), Ok(ProxyStatus::Established { .. })), "{n}");
        }
        let e = tunnel(1 << 20).receive(&head(MAX_PROXY_HEADERS + 1)).unwrap_err();
        assert_eq!(e, ProxyError::Malformed(format!("more than {MAX_PROXY_HEADERS} header fields")));
    }

    #[test]
    fn head_size_limit_at_below_and_above() {
        let len = OK.len();
        for (max, ok) in [(len + 1, true), (len, true), (len - 1, false), (1, false), (0, false)] {
            // All at once.
            let r = tunnel(max).receive(OK);
            match r {
                Ok(ProxyStatus::Established { .. }) => assert!(ok, "max {max}"),
                Err(e) => {
                    assert!(!ok, "max {max}");
                    assert_eq!(e, ProxyError::HeadTooLarge { max });
                }
                other => panic!("{other:?}"),
            }
            // Byte by byte: fails once `max` bytes are buffered without the end.
            let mut t = tunnel(max);
            let mut outcome = None;
            for (i, &b) in OK.iter().enumerate() {
                match t.receive(&[b]) {
                    Ok(ProxyStatus::NeedMore) => {}
                    other => {
                        outcome = Some((i + 1, other));
                        break;
                    }
                }
            }
            match outcome {
                Some((n, Ok(ProxyStatus::Established { .. }))) => assert!(ok && n == len),
                Some((n, Err(ProxyError::HeadTooLarge { .. }))) => assert!(!ok && n == max.max(1), "{max} {n}"),
                other => panic!("{max}: {other:?}"),
            }
        }
        // An endless head is cut at the limit, whatever the chunk size.
        let mut t = tunnel(8192);
        let chunk = [b'x'; 1000];
        let mut fed = 0;
        let e = loop {
            match t.receive(&chunk) {
                Ok(ProxyStatus::NeedMore) => fed += chunk.len(),
                Err(e) => break e,
                other => panic!("{other:?}"),
            }
            assert!(fed < 8192, "buffered past the limit");
        };
        assert_eq!(e, ProxyError::HeadTooLarge { max: 8192 });
        assert_eq!(e.to_string(), "the proxy's response head exceeds 8192 bytes");
        assert_eq!(HandshakeError::from(e), HandshakeError::HeadTooLarge);
        // A head exactly at the limit, followed by more: fine.
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(100 - 4, b'a');
        big.extend_from_slice(b"\r\n\r\nrest");
        match tunnel(100).receive(&big) {
            Ok(ProxyStatus::Established { leftover }) => assert_eq!(&leftover[..], b"rest"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eof_and_finished() {
        let mut t = tunnel(100);
        assert_eq!(t.receive(b"HTTP/1.1 200"), Ok(ProxyStatus::NeedMore));
        assert_eq!(t.receive(b""), Ok(ProxyStatus::NeedMore));
        assert_eq!(t.receive_eof(), Err(ProxyError::UnexpectedEof));
        assert!(t.is_finished());
        assert_eq!(t.receive_eof(), Err(ProxyError::Finished));
        assert_eq!(t.receive(OK), Err(ProxyError::Finished));
        assert_eq!(tunnel(100).receive_eof(), Err(ProxyError::UnexpectedEof));
        assert_eq!(HandshakeError::from(ProxyError::UnexpectedEof), HandshakeError::UnexpectedEof);
        let mut t = tunnel(100);
        assert!(matches!(t.receive(OK), Ok(ProxyStatus::Established { .. })));
        assert_eq!(t.receive(b""), Err(ProxyError::Finished));
        assert_eq!(t.receive_eof(), Err(ProxyError::Finished));
        assert_eq!(ProxyError::Finished.to_string(), "the proxy tunnel exchange already ended");
        assert_eq!(ProxyError::UnexpectedEof.to_string(), "the proxy closed the connection before answering CONNECT");
    }

    #[cfg(feature = "url")]
    #[test]
    fn proxy_urls() {
        use base64::Engine;

        use crate::handshake::target::UrlErrorKind;

        let p = HttpProxy::parse("http://127.0.0.1:3128").unwrap();
        assert_eq!(p, HttpProxy { host: "127.0.0.1".into(), port: 3128, authorization: None });
        // The value the module example uses.
        assert_eq!(
            HttpProxy::parse("http://user:pw@proxy.example:3128").unwrap(),
            HttpProxy { host: "proxy.example".into(), port: 3128, authorization: Some("Basic dXNlcjpwdw==".into()) }
        );
        assert_eq!(HttpProxy::parse("http://proxy.example").unwrap().port, 80);
        assert_eq!(HttpProxy::parse("http://proxy.example:80/ignored?x").unwrap().port, 80);
        assert_eq!(HttpProxy::parse("HTTP://Proxy.Example:65535").unwrap().host, "proxy.example");
        let p = HttpProxy::parse("http://[::1]:8080/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        let p = HttpProxy::parse("http://us%40er:p%3Ass@proxy.example:1").unwrap();
        let creds = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(p.authorization, Some(format!("Basic {creds}")));
        let p = HttpProxy::parse("http://user@proxy.example").unwrap();
        assert_eq!(
            p.authorization,
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("user:")))
        );
        // The parsed proxy builds a valid request.
        let t = ProxyTunnel::new(&p, "a.example", 443, 100).unwrap();
        assert!(t.request().ends_with(b"Proxy-Authorization: Basic dXNlcjo=\r\n\r\n"));

        for (bad, what) in [
            ("https://proxy.example", "unsupported scheme \"https\" (expected http, for an HTTP CONNECT proxy)"),
            ("socks5://proxy.example", "unsupported scheme \"socks5\""),
            ("ws://proxy.example", "unsupported scheme \"ws\""),
            ("not a url", "relative URL without a base"),
            ("http://", "empty host"),
            ("http://proxy.example:70000", "invalid port"),
        ] {
            let e = HttpProxy::parse(bad).unwrap_err();
            assert!(e.to_string().contains(what), "{bad}: {e}");
        }
        let e = HttpProxy::parse("https://u:secret@proxy.example").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(matches!(e.kind(), UrlErrorKind::UnsupportedScheme { .. }));
    }
}
