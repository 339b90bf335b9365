//! HTTP `CONNECT` proxies (RFC 9110 §9.3.6): the tunnel a client opens before TLS and the
//! WebSocket handshake when [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) is set. The
//! exchange itself is ws-proto's sans-IO [`ProxyTunnel`]; this moves its bytes.

use std::future::poll_fn;
use std::io;

use ws_proto::{HttpProxy, ProxyStatus, ProxyTunnel};

use crate::error::ConnectError;
use crate::io::write_all;
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
