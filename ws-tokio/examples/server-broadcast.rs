//! Broadcast to every client (Node `ws` example "Server broadcast"): each message a client
//! sends is relayed to all connected clients, the sender included.
//!
//! `cargo run -p ws-tokio --example server-broadcast -- [PORT]` (default 8080, 0 picks a free
//! port), then connect a few clients, e.g. `wscat -c ws://127.0.0.1:8080`.

use std::io;

use ws_tokio::server::Server;
use ws_tokio::{Event, PreparedMessage};

/// Binds the server on 127.0.0.1 (Node's `listening` once this returns).
pub async fn bind(port: u16) -> io::Result<Server> {
    // Client tracking is on by default: `server.clients()` holds every open connection.
    Server::builder().bind("127.0.0.1", port).await
}

/// Accepts connections until the server is closed.
pub async fn run(server: Server) {
    loop {
        // Node's `connection` event; each connection runs in a driver task of its own.
        let mut conn = match server.accept().await {
            Ok(conn) => conn,
            Err(e) if e.is_closed() => return,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let clients = server.clients().clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = conn.events.recv().await {
                if let Event::Message(msg) = event {
                    // Framed once: every client's queue gets the same bytes. A client too slow
                    // to keep up skips messages (SlowPolicy::Drop) instead of stalling the rest.
                    clients.broadcast(&PreparedMessage::new(msg));
                }
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
