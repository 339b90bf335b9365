//! axum 0.8 integration (feature `axum`): a route whose handler takes ws-tokio's
//! [`WebSocketUpgrade`] extractor, as with axum's own, and echoes (`/ws`); plain HTTP on `/`.
//! The extractor answers with ws-proto's handshake rules (here: subprotocol `chat` when
//! offered, permessage-deflate) and hands over a ws-tokio `WebSocket`, which a [`Server`] in
//! `noServer` mode tracks in its `clients()` (for broadcasts and `shutdown`).
//!
//! `cargo run -p ws-tokio --features axum --example server-axum -- [PORT]` (default 8080),
//! then `wscat -c ws://127.0.0.1:8080/ws`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use ws_tokio::axum::WebSocketUpgrade;
use ws_tokio::server::{ClientInfo, Server};
use ws_tokio::{DeflateConfig, Event, ServerOptions};

/// The router: `/` answers plain HTTP, `/ws` upgrades.
pub fn app() -> Router {
    // No listener of its own: it only tracks the connections axum upgraded.
    let server = Arc::new(Server::builder().build());
    Router::new().route("/", get(|| async { "hello from axum\n" })).route("/ws", get(upgrade)).with_state(server)
}

async fn upgrade(
    State(server): State<Arc<Server>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let options = ServerOptions::default().subprotocols(["chat"]).per_message_deflate(Some(DeflateConfig::default()));
    let head = ws.request().clone();
    ws.options(Arc::new(options)).on_upgrade(move |socket| async move {
        let mut client = server.track(socket, ClientInfo::new(Some(remote)), head);
        // Echo.
        while let Some(Ok(event)) = client.events.recv().await {
            if let Event::Message(msg) = event {
                if client.handle.send(msg).await.is_err() {
                    break;
                }
            }
        }
    })
}

/// Serves [`app`] on `listener` (with the peer address for `ConnectInfo`).
pub async fn run(listener: TcpListener) -> io::Result<()> {
    axum::serve(listener, app().into_make_service_with_connect_info::<SocketAddr>()).await
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(8080), |p| p.parse()).map_err(io::Error::other)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {} (WebSocket on /ws)", listener.local_addr()?);
    run(listener).await
}
