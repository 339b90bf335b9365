//! Echo server: `cargo run -p ws-blocking --example echo-server -- [PORT]` (default 9001;
//! 0 picks a free port). Listens on 127.0.0.1, one thread per connection, and prints
//! `listening on 127.0.0.1:PORT` once ready.
//!
//! Echoes text and binary messages; pings are answered and closes echoed by the library. A
//! text message `close-me:CODE:REASON` makes it close with that code and reason instead of
//! echoing (used by the interop tests). Limits suit the Autobahn test suite (64 MiB messages).

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use ws_blocking::{accept_with, CloseFrame, Config, Error, Event, Message, ServerOptions};

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
    let mut config = Config::default();
    config.max_message_size(Some(64 * 1024 * 1024)).max_fragments(Some(131_072));
    Arc::new(config)
}

/// Accepts connections forever, one thread each.
pub(crate) fn run(listener: TcpListener) -> io::Result<()> {
    let config = config();
    let options = Arc::new(ServerOptions::default());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let (config, options) = (config.clone(), options.clone());
        thread::spawn(move || serve(stream, config, options));
    }
    Ok(())
}

fn serve(stream: TcpStream, config: Arc<Config>, options: Arc<ServerOptions>) {
    let _ = stream.set_nodelay(true);
    let mut ws = match accept_with(stream, config, options) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("handshake: {e}");
            return;
        }
    };
    loop {
        let result = match ws.read() {
            Ok(Event::Message(Message::Text(text))) => match close_request(&text) {
                Some(frame) => ws.close(Some(frame)),
                None => ws.send(Message::Text(text)),
            },
            Ok(Event::Message(msg)) => ws.send(msg),
            Ok(Event::Closed(_)) => {
                // Wait (bounded by the close timeout) for the client to close TCP.
                let _ = ws.read();
                return;
            }
            Ok(_) => Ok(()),
            Err(Error::ConnectionClosed) => return,
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
}

/// `close-me:CODE:REASON` → the close frame to send.
fn close_request(text: &str) -> Option<CloseFrame> {
    let rest = text.strip_prefix("close-me:")?;
    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
    let code: u16 = code.trim().parse().ok()?;
    Some(CloseFrame::new(code, reason))
}
