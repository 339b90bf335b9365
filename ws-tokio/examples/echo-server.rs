//! Echo server: `cargo run -p ws-tokio --release --example tokio-echo-server -- [PORT] [--current-thread]`
//! (default port 9001; 0 picks a free one). Listens on 127.0.0.1, one task per connection, on
//! a multi-thread runtime (or a current-thread one with `--current-thread`), and prints
//! `listening on 127.0.0.1:PORT` once ready.
//!
//! Echoes text and binary messages; pings are answered and closes echoed by the library. A
//! text message `close-me:CODE:REASON` makes it close with that code and reason instead of
//! echoing (used by the interop tests). Limits suit the Autobahn test suite (messages up to
//! 64 MiB, the default 131 072 fragments).

use std::io::{self, Write};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use ws_tokio::{accept_with, CloseFrame, Config, Error, Event, Message, ServerOptions};

fn main() -> io::Result<()> {
    let mut port = 9001;
    let mut current_thread = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--current-thread" => current_thread = true,
            p => {
                port = p.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("port {p:?}: {e}")))?
            }
        }
    }
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    };
    runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;
        serve(listener).await
    })
}

/// The configuration: Autobahn sends messages up to 16 MiB in up to 65 536 fragments.
fn config() -> Arc<Config> {
    let config = Config::default().max_message_size(Some(64 * 1024 * 1024)).max_fragments(Some(131_072));
    Arc::new(config)
}

/// Accepts connections forever, one task each.
async fn serve(listener: TcpListener) -> io::Result<()> {
    let config = config();
    let options = Arc::new(ServerOptions::default());
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let (config, options) = (config.clone(), options.clone());
        tokio::spawn(async move {
            if let Err(e) = echo(tcp, config, options).await {
                eprintln!("connection: {e}");
            }
        });
    }
}

async fn echo(
    tcp: TcpStream,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
) -> Result<(), Box<dyn std::error::Error>> {
    tcp.set_nodelay(true)?;
    let mut ws = accept_with(tcp, config, options).await?;
    // `recv` writes what `feed` queued whenever no further message is already buffered, so
    // echoes of back-to-back messages share writes.
    while let Some(event) = ws.recv().await {
        let result = match event? {
            Event::Message(Message::Text(text)) => match close_request(&text) {
                Some(frame) => ws.close_with(Some(frame)).await,
                None => ws.feed(Message::Text(text)).await,
            },
            Event::Message(msg) => ws.feed(msg).await,
            // Keep receiving until the transport is done (the client's TCP close, bounded by
            // the close timeout).
            _ => Ok(()),
        };
        match result {
            // A message that raced with the peer's close, or an invalid close-me code.
            Ok(()) | Err(Error::Send(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `close-me:CODE:REASON` → the close frame to send.
fn close_request(text: &str) -> Option<CloseFrame> {
    let rest = text.strip_prefix("close-me:")?;
    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
    let code: u16 = code.trim().parse().ok()?;
    Some(CloseFrame::new(code, reason))
}
