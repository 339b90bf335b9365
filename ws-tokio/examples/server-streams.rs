//! The streams API (Node `ws` example using `WebSocket.createWebSocketStream`): each
//! connection as a byte stream (`AsyncRead + AsyncWrite`, [`WsByteStream`]), so ordinary tokio
//! IO works on it. Here `tokio::io::copy` pipes what a client sends back to it: an echo
//! written without looking at a single message.
//!
//! `cargo run -p ws-tokio --example server-streams -- [PORT]` (default 8080).

use std::io;

use ws_tokio::server::Server;
use ws_tokio::WsByteStream;

/// Binds the server on 127.0.0.1. Byte streams need a plain `WebSocket`, so no client tracking.
pub async fn bind(port: u16) -> io::Result<Server> {
    Server::builder().client_tracking(false).bind("127.0.0.1", port).await
}

/// Echoes every connection's bytes back through `tokio::io::copy`.
pub async fn run(server: Server) {
    // Ends when the server closes, or on a listener error (server-broadcast.rs keeps going).
    while let Ok(accepted) = server.accept_websocket().await {
        tokio::spawn(async move {
            // Reads yield the payload bytes of incoming messages; writes go out as binary messages.
            let stream = WsByteStream::new(accepted.ws);
            let (mut reader, mut writer) = tokio::io::split(stream);
            match tokio::io::copy(&mut reader, &mut writer).await {
                Ok(n) => println!("{}: echoed {n} bytes", accepted.request.uri()),
                Err(e) => eprintln!("stream: {e}"),
            }
        });
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let port = std::env::args().nth(1).map_or(Ok(8080), |p| p.parse()).map_err(io::Error::other)?;
    let server = bind(port).await?;
    println!("listening on {}", server.local_addr().expect("bound"));
    run(server).await;
    Ok(())
}
