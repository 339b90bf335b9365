//! Two WebSocket servers sharing one HTTP server, routed by path (Node `ws` example "Multiple
//! servers sharing a single HTTP/S server"): a hyper 1.x server answers plain HTTP and hands
//! upgrades for `/foo` to one [`Server`] and `/bar` to the other (both in Node's `noServer`
//! mode). Each echoes with its name: `foo: …` or `bar: …`.
//!
//! `Server::respond` checks each request; hyper writes the `101`, then the socket is driven
//! with `WebSocket::from_parts` (the raw `TcpStream` and the bytes hyper already read) or
//! `WebSocket::from_connection` (hyper's `Upgraded`, which replays those bytes): see `adopt`.
//!
//! `cargo run -p ws-tokio --example server-multiple -- [PORT]` (default 8080), then
//! `wscat -c ws://127.0.0.1:8080/foo`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::server::{self, ClientInfo, Server, ServerConnection};
use ws_tokio::{Connection, Event, Message, WebSocket};

/// The two WebSocket servers (no listener of their own).
struct Servers {
    foo: Server,
    bar: Server,
}

/// Serves HTTP on `listener` until it fails.
pub async fn run(listener: TcpListener) -> io::Result<()> {
    let servers =
        Arc::new(Servers { foo: Server::builder().path("/foo").build(), bar: Server::builder().path("/bar").build() });
    loop {
        let (tcp, remote) = listener.accept().await?;
        let servers = servers.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| route(servers.clone(), req, remote));
            // `with_upgrades` lets the connection be taken over after the 101.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).with_upgrades().await;
        });
    }
}

/// Node: `server.on('upgrade', (req, socket, head) => { if (pathname === '/foo') wss1.handleUpgrade(…) … })`.
async fn route(
    servers: Arc<Servers>,
    mut req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_foo = servers.foo.should_handle(&req);
    if !is_foo && !servers.bar.should_handle(&req) {
        let mut response = Response::new(Full::from("not found\n"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    }
    let server = if is_foo { &servers.foo } else { &servers.bar };
    let info = ClientInfo::new(Some(remote));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let head = req.map(|_| ());
    // The server checks the request; hyper writes the 101 we return, then hands over the socket.
    match server.respond(&head, &info) {
        Ok((response, conn)) => {
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else { return };
                let server = if is_foo { &servers.foo } else { &servers.bar };
                let client = adopt(server, upgraded, conn, info, head);
                echo(client, if is_foo { "foo" } else { "bar" }).await;
            });
            Ok(response.map(|()| Full::default()))
        }
        // A refusal (bad request, 401…): send its status, headers and body.
        Err(rejection) => Ok(server::rejection_response(&rejection).map(Full::new)),
    }
}

/// Drives the upgraded socket, tracked in the server's `clients()`. Taken back from hyper as
/// the raw `TcpStream` (`Upgraded::downcast`), the bytes hyper read past the request are only
/// in `read_buf`: `WebSocket::from_parts` hands them to the connection first. Left as hyper's
/// `Upgraded` (when the downcast does not apply), the stream replays those bytes itself:
/// `WebSocket::from_connection`.
fn adopt(
    server: &Server,
    upgraded: hyper::upgrade::Upgraded,
    conn: Connection,
    info: ClientInfo,
    head: Request<()>,
) -> ServerConnection {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => server.track(WebSocket::from_parts(parts.io.into_inner(), parts.read_buf, conn), info, head),
        Err(upgraded) => server.track(WebSocket::from_connection(TokioIo::new(upgraded), conn), info, head),
    }
}

/// Echoes text messages prefixed with the server's name.
async fn echo(mut client: ServerConnection, name: &str) {
    while let Some(Ok(event)) = client.events.recv().await {
        if let Event::Message(Message::Text(text)) = event {
            if client.handle.send(format!("{name}: {text}")).await.is_err() {
                break;
            }
        }
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(8080), |p| p.parse()).map_err(io::Error::other)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {} (WebSocket paths /foo and /bar)", listener.local_addr()?);
    run(listener).await
}
