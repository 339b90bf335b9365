//! HTTP `CONNECT` proxies (RFC 9110 §9.3.6): the tunnel a client opens before TLS and the
//! WebSocket handshake when [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) is set. The
//! exchange is ws-proto's sans-IO [`ProxyTunnel`]; this moves its bytes over a blocking socket.

use std::io::{self, Read, Write};
use std::time::Instant;

use ws_proto::{HttpProxy, ProxyStatus, ProxyTunnel};

use crate::transport::Transport;
use crate::ConnectError;

/// Asks the proxy on `stream` for a tunnel to `host:port`, each read and write bounded by
/// `deadline` (when `S::TIMEOUTS`); returns once the proxy answered 2xx.
pub(crate) fn tunnel<S: Read + Write + Transport>(
    mut stream: S,
    proxy: &HttpProxy,
    host: &str,
    port: u16,
    max_head: usize,
    deadline: Option<Instant>,
) -> Result<S, ConnectError> {
    let mut tunnel = ProxyTunnel::new(proxy, host, port, max_head)?;
    bound(&stream, deadline)?;
    stream.write_all(tunnel.request())?;
    let mut chunk = [0u8; 1024];
    loop {
        bound(&stream, deadline)?;
        let n = stream.read(&mut chunk)?;
        let status = match chunk.get(..n) {
            Some(bytes) if n > 0 => tunnel.receive(bytes),
            _ => tunnel.receive_eof(),
        };
        match status? {
            ProxyStatus::NeedMore => {}
            ProxyStatus::Established { leftover } if leftover.is_empty() => {
                if S::TIMEOUTS {
                    stream.set_read_timeout(None)?;
                    stream.set_write_timeout(None)?;
                }
                return Ok(stream);
            }
            // The target has not been sent anything yet, so nothing may follow the head.
            ProxyStatus::Established { .. } => {
                return Err(
                    io::Error::new(io::ErrorKind::InvalidData, "proxy sent data after its CONNECT response").into()
                )
            }
        }
    }
}

/// Sets the socket's timeouts to what is left until `deadline` (`TimedOut` once it passed).
pub(crate) fn bound<S: Transport>(stream: &S, deadline: Option<Instant>) -> io::Result<()> {
    let Some(deadline) = deadline else { return Ok(()) };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    if !S::TIMEOUTS {
        return Ok(());
    }
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))
}
