//! Echo server: `cargo run -p ws-blocking --example echo-server -- [PORT]` (default 9001;
//! 0 picks a free port). Listens on 127.0.0.1 with [`Server`], one thread per connection,
//! accepts permessage-deflate, and prints `listening on 127.0.0.1:PORT` once ready.
//!
//! Echoes text and binary messages; pings are answered and closes echoed by the library. A
//! text message `close-me:CODE:REASON` makes it close with that code and reason instead of
//! echoing (used by the interop tests). Limits suit the Autobahn test suite (64 MiB messages).

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use ws_blocking::server::Server;
use ws_blocking::{CloseFrame, Config, DeflateConfig, Error, Message, ServerStream, WebSocket};

fn main() -> io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("port {p:?}: {e}")))?,
        None => 9001,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    run(listener)
}

/// The configuration: Autobahn sends messages up to 16 MiB in up to 65 536 fragments.
pub(crate) fn config() -> Arc<Config> {
    let config = Config::default().max_message_size(Some(64 * 1024 * 1024)).max_fragments(Some(131_072));
    Arc::new(config)
}

/// Accepts connections until the listener fails, one thread each.
pub(crate) fn run(listener: TcpListener) -> io::Result<()> {
    let server = Server::builder()
        .config(config())
        .per_message_deflate(Some(DeflateConfig::default()))
        .client_tracking(false)
        .serve(listener);
    loop {
        match server.accept() {
            Ok(conn) => {
                thread::spawn(move || serve(conn.ws));
            }
            Err(e) if e.is_closed() => return Ok(()),
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

fn serve(mut ws: WebSocket<ServerStream>) {
    // `recv_message` ends after the close handshake; then wait (bounded by the close timeout)
    // for the client to close TCP.
    while let Some(msg) = ws.recv_message() {
        let result = match msg {
            Ok(Message::Text(text)) => match close_request(&text) {
                Some(frame) => ws.close_with(Some(frame)),
                None => ws.send(Message::Text(text)),
            },
            Ok(msg) => ws.send(msg),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) | Err(Error::Send(_)) => {}
            Err(e) => {
                eprintln!("connection: {e}");
                return;
            }
        }
    }
    while ws.recv().is_some() {}
}

/// `close-me:CODE:REASON` → the close frame to send.
fn close_request(text: &str) -> Option<CloseFrame> {
    let rest = text.strip_prefix("close-me:")?;
    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
    let code: u16 = code.trim().parse().ok()?;
    Some(CloseFrame::new(code, reason))
}
