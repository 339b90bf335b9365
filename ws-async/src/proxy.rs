//! HTTP `CONNECT` proxies (RFC 9110 §9.3.6): the tunnel a client opens before TLS and the
//! WebSocket handshake when [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) is set.

use std::io;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::future::poll_fn;

use url::Url;

use crate::client::{bracket_ipv6, percent_decode_bytes};
use crate::error::ConnectError;
use crate::handshake::write_all;
use crate::runtime::Io;

/// Most response header fields parsed from a proxy.
const MAX_PROXY_HEADERS: usize = 64;

/// A parsed `http://[user:pass@]host[:port]` proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proxy {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Proxy-Authorization` value, from the URL's userinfo.
    pub(crate) authorization: Option<String>,
}

impl Proxy {
    /// Parses a proxy URL: `http://` only (the tunnel itself is not encrypted; `wss://` through
    /// it still is, end to end), port 80 when omitted, userinfo → `Proxy-Authorization: Basic`.
    pub(crate) fn parse(url: &str) -> Result<Self, ConnectError> {
        let invalid = |why: &str| ConnectError::InvalidUrl(format!("proxy {url:?}: {why}"));
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(invalid("only http:// proxies (HTTP CONNECT) are supported"));
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(invalid("no host")),
        };
        let port = parsed.port_or_known_default().unwrap_or(80);
        let authorization = (!parsed.username().is_empty() || parsed.password().is_some()).then(|| {
            let mut creds = percent_decode_bytes(parsed.username());
            creds.push(b':');
            creds.extend_from_slice(&percent_decode_bytes(parsed.password().unwrap_or_default()));
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds))
        });
        Ok(Self { host, port, authorization })
    }
}

/// Asks the proxy on `stream` for a tunnel to `host:port` and returns the stream once the proxy
/// answered 2xx. Another status is [`ConnectError::ProxyRejected`]; a response head larger than
/// `max_head` bytes, malformed, or followed by bytes the proxy should not have sent yet is
/// [`ConnectError::Io`] (`InvalidData`).
pub(crate) async fn tunnel<S, R: Io<S>>(
    mut stream: S,
    proxy: &Proxy,
    host: &str,
    port: u16,
    max_head: usize,
) -> Result<S, ConnectError> {
    let authority = format!("{}:{port}", bracket_ipv6(host));
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    write_all::<S, R>(&mut stream, request.as_bytes()).await?;
    poll_fn(|cx| R::poll_flush(&mut stream, cx)).await?;

    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let end = loop {
        // Search only where a new terminator can start.
        let from = head.len().saturating_sub(3);
        let n = poll_fn(|cx| R::poll_read(&mut stream, cx, &mut chunk)).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "proxy closed before answering CONNECT").into());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(i) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            break from + i + 4;
        }
        if head.len() > max_head {
            return Err(invalid_data("proxy response head too large"));
        }
    };
    let mut fields = [httparse::EMPTY_HEADER; MAX_PROXY_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    match response.parse(&head[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Err(invalid_data("malformed proxy response")),
    }
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| invalid_data("malformed proxy status"))?;
    if status.is_success() {
        if end != head.len() {
            // The target has not been sent anything yet, so nothing may follow the head.
            return Err(invalid_data("proxy sent data after its CONNECT response"));
        }
        return Ok(stream);
    }
    let mut headers = HeaderMap::new();
    for h in response.headers.iter() {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(h.value)) {
            headers.append(name, value);
        }
    }
    Err(ConnectError::ProxyRejected { status, headers: Box::new(headers) })
}

fn invalid_data(msg: &str) -> ConnectError {
    ConnectError::Io(io::Error::new(io::ErrorKind::InvalidData, msg.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_runtime::TestRuntime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://127.0.0.1:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.authorization), ("127.0.0.1", 3128, None));
        let p = Proxy::parse("http://proxy.example").unwrap();
        assert_eq!(p.port, 80);
        let p = Proxy::parse("http://[::1]:8080/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        let p = Proxy::parse("http://us%40er:p%3Ass@proxy.example:1").unwrap();
        let creds = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(p.authorization, Some(format!("Basic {creds}")));
        for bad in ["https://proxy.example", "socks5://proxy.example", "not a url", "http://"] {
            assert!(matches!(Proxy::parse(bad), Err(ConnectError::InvalidUrl(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn tunnel_exchanges() {
        let proxy = Proxy { host: "p".into(), port: 1, authorization: Some("Basic eA==".into()) };
        // 200, answered in two pieces.
        let (client, mut server) = tokio::io::duplex(4096);
        let peer = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = server.read(&mut buf).await.unwrap();
            server.write_all(b"HTTP/1.1 200 Connection established\r\n").await.unwrap();
            server.write_all(b"\r\n").await.unwrap();
            (String::from_utf8(buf[..n].to_vec()).unwrap(), server)
        });
        tunnel::<_, TestRuntime>(client, &proxy, "::1", 9001, 8192).await.unwrap();
        let (request, _server) = peer.await.unwrap();
        assert_eq!(
            request,
            "CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\nProxy-Authorization: Basic eA==\r\n\r\n"
        );

        // 407 with headers.
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let _ = server.read(&mut buf).await.unwrap();
            server
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
                .await
                .unwrap();
            server
        });
        match tunnel::<_, TestRuntime>(client, &proxy, "h", 1, 8192).await {
            Err(ConnectError::ProxyRejected { status, headers }) => {
                assert_eq!(status, 407);
                assert_eq!(headers["proxy-authenticate"], "Basic");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }

        // Garbage, EOF, and an oversized head.
        for (answer, kind) in [
            (&b"garbage\r\n\r\n"[..], io::ErrorKind::InvalidData),
            (b"HTTP/1.1 200 OK\r\n", io::ErrorKind::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\n\r\nextra", io::ErrorKind::InvalidData),
            (&[b'x'; 300][..], io::ErrorKind::InvalidData),
        ] {
            let (client, mut server) = tokio::io::duplex(4096);
            let answer = answer.to_vec();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = server.read(&mut buf).await.unwrap();
                server.write_all(&answer).await.unwrap();
            });
            match tunnel::<_, TestRuntime>(client, &proxy, "h", 1, 200).await {
                Err(ConnectError::Io(e)) => assert_eq!(e.kind(), kind),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
    }
}
