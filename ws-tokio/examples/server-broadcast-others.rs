//! Broadcast to every other client (Node `ws` example "Client broadcast": all but the sender),
//! e.g. a chat where the author does not get its own message back.
//!
//! `cargo run -p ws-tokio --example server-broadcast-others -- [PORT]` (default 8080).

use std::io;

use ws_tokio::server::Server;
use ws_tokio::{Event, PreparedMessage};

/// Binds the server on 127.0.0.1.
pub async fn bind(port: u16) -> io::Result<Server> {
    Server::builder().bind("127.0.0.1", port).await
}

/// Accepts connections until the server is closed.
pub async fn run(server: Server) {
    // Ends when the server closes, or on a listener error (server-broadcast.rs keeps going).
    while let Ok(mut conn) = server.accept().await {
        let clients = server.clients().clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = conn.events.recv().await {
                if let Event::Message(msg) = event {
                    // `conn.id` identifies the sender among the tracked clients.
                    clients.broadcast_except(conn.id, &PreparedMessage::new(msg));
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
