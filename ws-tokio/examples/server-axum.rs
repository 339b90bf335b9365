//! axum 0.8 integration: a route whose handler upgrades to a ws-tokio WebSocket (an echo
//! server on `/ws`, plain HTTP on `/`). axum (through hyper) writes the 101 that
//! [`Server::respond`] returns, then hands over the upgraded socket.
//!
//! `cargo run -p ws-tokio --example server-axum -- [PORT]` (default 8080), then
//! `wscat -c ws://127.0.0.1:8080/ws`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use ws_tokio::server::{self, ClientInfo, Server};
use ws_tokio::{Event, WebSocket};

/// The router: `/` answers plain HTTP, `/ws` upgrades.
pub fn app() -> Router {
    // axum routes by path already, so the WebSocket server needs no `path`.
    let server = Arc::new(Server::builder().build());
    Router::new().route("/", get(|| async { "hello from axum\n" })).route("/ws", get(upgrade)).with_state(server)
}

async fn upgrade(
    State(server): State<Arc<Server>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let info = ClientInfo::new(Some(remote));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let head = req.map(|_| ());
    match server.respond(&head, &info) {
        Ok((response, conn)) => {
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else { return };
                let ws = WebSocket::from_connection(TokioIo::new(upgraded), conn);
                let mut client = server.track(ws, info, head);
                // Echo.
                while let Some(Ok(event)) = client.events.recv().await {
                    if let Event::Message(msg) = event {
                        if client.handle.send(msg).await.is_err() {
                            break;
                        }
                    }
                }
            });
            response.map(|()| Body::empty())
        }
        // Not an acceptable upgrade (e.g. a plain GET: 426): answer with the refusal.
        Err(rejection) => server::rejection_response(&rejection).map(Body::from),
    }
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
