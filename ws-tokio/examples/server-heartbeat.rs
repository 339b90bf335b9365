//! Server heartbeat (Node `ws` example "How to detect and close broken connections?"):
//! a client that vanished without a TCP close (a pulled cable, a sleeping laptop) is found and
//! dropped.
//!
//! Node needs a timer and an `isAlive` flag per client: every 30 s, terminate the clients that
//! did not answer the last ping, mark the others not alive, and ping them; the `pong` handler
//! marks them alive again. Here `Config::keep_alive` does all of that inside each connection:
//! after `idle` without receiving anything it pings, and if nothing arrives within
//! `pong_timeout` the connection fails (sending 1011) and the application sees `Event::Closed`
//! with the timeout error. A
//! busy connection is never pinged, and there is no timer task to write.
//!
//! `cargo run -p ws-tokio --example server-heartbeat -- [PORT] [IDLE_SECS]` (defaults 8080, 30).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ws_tokio::server::Server;
use ws_tokio::{Config, Event};

/// Binds a server whose connections ping after `idle` of silence and give up `idle / 3` later.
pub async fn bind(port: u16, idle: Duration) -> io::Result<Server> {
    let config = Config::default().keep_alive(Some(idle), Some(idle / 3));
    Server::builder().config(Arc::new(config)).bind("127.0.0.1", port).await
}

/// Logs connections and how they end.
pub async fn run(server: Server) {
    // Ends when the server closes, or on a listener error (server-broadcast.rs keeps going).
    while let Ok(mut conn) = server.accept().await {
        println!("{} connected ({} open)", conn.id, server.clients().len());
        tokio::spawn(async move {
            while let Some(Ok(event)) = conn.events.recv().await {
                match event {
                    // The answers to the keepalive pings (no isAlive bookkeeping needed).
                    Event::Pong(_) => println!("{}: pong", conn.id),
                    // With a pong timeout error when the client stopped answering (1011 was sent).
                    Event::Closed(info) => println!("{}: closed {} {:?}", conn.id, info.code(), info.error),
                    _ => {}
                }
            }
        });
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port = args.next().map_or(Ok(8080), |p| p.parse()).map_err(io::Error::other)?;
    let idle = args.next().map_or(Ok(30), |s| s.parse()).map_err(io::Error::other)?;
    let server = bind(port, Duration::from_secs(idle)).await?;
    println!("listening on {}", server.local_addr().expect("bound"));
    run(server).await;
    Ok(())
}
