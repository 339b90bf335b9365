//! Autobahn|Testsuite echo server for the tokio adapter, with permessage-deflate:
//! `cargo run -p ws-tokio --release --example tokio-autobahn-server [--features zlib-rs] -- [PORT]`
//! (default port 9001; 0 picks a free one). Listens on 127.0.0.1, one task per connection on a
//! multi-thread runtime, and prints `listening on 127.0.0.1:PORT` (and the deflate backend)
//! once ready. `scripts/autobahn.sh tokio-server` runs the suite against it.
//!
//! Echoes every text and binary message unchanged; pings are answered and closes echoed by the
//! library. permessage-deflate is accepted with the default settings
//! (`ServerOptions::per_message_deflate(Some(DeflateConfig::default()))`): every offer the
//! backend can honour (with zlib-rs: all of them; with miniz_oxide, the default: those that do
//! not ask for a server window below 15 bits, the others are declined as RFC 7692 allows).
//! Large messages are compressed off the runtime (`ws_tokio::offload`).
//!
//! Limits suit the suite: messages up to 64 MiB (it sends up to 16 MiB) in up to 131 072
//! fragments (it sends up to 65 536).

use std::io::{self, Write};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use ws_tokio::{accept_with, Backend, Config, DeflateConfig, Error, Event, ServerOptions};

fn main() -> io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("port {p:?}: {e}")))?,
        None => 9001,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let backend = Backend::preferred().map_or("none", Backend::name);
        println!("listening on {} (permessage-deflate backend: {backend})", listener.local_addr()?);
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
    let options = ServerOptions::default().per_message_deflate(Some(DeflateConfig::default()));
    let options = Arc::new(options);
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
            Event::Message(msg) => ws.feed(msg).await,
            // Keep receiving until the transport is done (the client's TCP close, bounded by
            // the close timeout).
            _ => Ok(()),
        };
        match result {
            // A message that raced with the peer's close.
            Ok(()) | Err(Error::Send(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
