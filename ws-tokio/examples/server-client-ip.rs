//! The client's IP address (Node `ws` example "How to get the IP address of the client?"):
//! the socket's remote address, and, behind a reverse proxy (nginx…), the first address of
//! `X-Forwarded-For`. Each client is told what the server sees.
//!
//! `cargo run -p ws-tokio --example server-client-ip -- [PORT]` (default 8080), then
//! `wscat -c ws://127.0.0.1:8080 -H 'X-Forwarded-For: 203.0.113.7'`.

use std::io;

use ws_tokio::server::{forwarded_for, Server};

/// Binds the server on 127.0.0.1; `verify_client` sees the address too (Node `info.req`).
pub async fn bind(port: u16) -> io::Result<Server> {
    Server::builder()
        .verify_client(|_req, info| {
            // E.g. refuse addresses on a block list; `false` answers 401.
            info.remote.is_some()
        })
        .bind("127.0.0.1", port)
        .await
}

/// Tells each client its addresses, then leaves it open.
pub async fn run(server: Server) {
    // Ends when the server closes, or on a listener error (server-broadcast.rs keeps going).
    while let Ok(conn) = server.accept().await {
        // Node: `req.socket.remoteAddress`.
        let remote = conn.info.remote.map_or_else(|| "unknown".into(), |a| a.ip().to_string());
        // Node: `req.headers['x-forwarded-for'].split(',')[0].trim()`. Trust it only when your
        // own proxy sets it: any client can send the header.
        let forwarded = forwarded_for(&conn.request).map_or_else(|| "none".into(), |ip| ip.to_string());
        println!("{}: remote {remote}, x-forwarded-for {forwarded}", conn.id);
        let _ = conn.handle.send(format!("remote {remote}, forwarded-for {forwarded}")).await;
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
