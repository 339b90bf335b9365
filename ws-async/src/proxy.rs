//! HTTP `CONNECT` proxies (RFC 9110 §9.3.6): the tunnel a client opens before TLS and the
//! WebSocket handshake when [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) is set. The
//! exchange itself is ws-proto's sans-IO [`ProxyTunnel`]; this moves its bytes.

use std::future::poll_fn;
use std::io;

use ws_proto::{HttpProxy, ProxyStatus, ProxyTunnel};

use crate::error::ConnectError;
use crate::handshake::write_all;
use crate::runtime::Io;

/// Asks the proxy on `stream` for a tunnel to `host:port` and returns the stream once the proxy
/// answered 2xx. Another status is [`ConnectError::ProxyRejected`]; a response head larger than
/// `max_head` bytes, malformed, or followed by bytes the proxy should not have sent yet is
/// [`ConnectError::Io`] (`InvalidData`); an EOF before the head ends is `UnexpectedEof`.
pub(crate) async fn tunnel<S, R: Io<S>>(
    mut stream: S,
    proxy: &HttpProxy,
    host: &str,
    port: u16,
    max_head: usize,
) -> Result<S, ConnectError> {
    let mut tunnel = ProxyTunnel::new(proxy, host, port, max_head)?;
    write_all::<S, R>(&mut stream, tunnel.request()).await?;
    poll_fn(|cx| R::poll_flush(&mut stream, cx)).await?;
    let mut chunk = [0u8; 1024];
    loop {
        let n = poll_fn(|cx| R::poll_read(&mut stream, cx, &mut chunk)).await?;
        let status = if n == 0 { tunnel.receive_eof() } else { tunnel.receive(&chunk[..n]) };
        match status? {
            ProxyStatus::NeedMore => {}
            // The target has not been sent anything yet, so nothing may follow the head.
            ProxyStatus::Established { leftover } if !leftover.is_empty() => {
                return Err(invalid_data("proxy sent data after its CONNECT response".into()))
            }
            ProxyStatus::Established { .. } => return Ok(stream),
        }
    }
}

fn invalid_data(msg: String) -> ConnectError {
    ConnectError::Io(io::Error::new(io::ErrorKind::InvalidData, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_runtime::TestRuntime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn tunnel_exchanges() {
        let proxy = HttpProxy { host: "p".into(), port: 1, authorization: Some("Basic eA==".into()) };
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

        // Garbage, EOF, data after the head, and an oversized head.
        for (answer, kind) in [
            (&b"garbage\r\n\r\n"[..], io::ErrorKind::InvalidData),
            (b"HTTP/1.1 200 OK\r\n", io::ErrorKind::UnexpectedEof),
            (b"HTTP/1.1 200 OK\r\n\r\nextra", io::ErrorKind::InvalidData),
            (&[b'x'; 300][..], io::ErrorKind::InvalidData),
        ] {
            let (client, mut server) = tokio::io::duplex(4096);
            let sent = answer.to_vec();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = server.read(&mut buf).await.unwrap();
                server.write_all(&sent).await.unwrap();
            });
            match tunnel::<_, TestRuntime>(client, &proxy, "h", 1, 200).await {
                Err(ConnectError::Io(e)) => assert_eq!(e.kind(), kind, "{answer:?}"),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
    }
}
