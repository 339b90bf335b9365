//! Smoke tests of ws-tokio's server examples: `Server` behind hyper and axum, the broadcast and
//! auth examples, and an upgrade over tokio-rustls. Binding-specific (they run the examples of
//! this crate, with hyper and axum); the `Server`'s behaviours are tested on every runtime in
//! ws-async's shared suite (`ws-async/tests/suite/server.rs`). Loopback only; every await is
//! bounded by `common::within`.

mod common;

#[path = "../examples/server-auth.rs"]
#[allow(dead_code, unreachable_pub)]
mod example_auth;
#[cfg(feature = "axum")]
#[path = "../examples/server-axum.rs"]
#[allow(dead_code, unreachable_pub)]
mod example_axum;
#[path = "../examples/server-broadcast.rs"]
#[allow(dead_code, unreachable_pub)]
mod example_broadcast;
#[cfg(feature = "rustls")]
#[path = "../examples/server-https.rs"]
#[allow(dead_code, unreachable_pub)]
mod example_https;
#[path = "../examples/server-multiple.rs"]
#[allow(dead_code, unreachable_pub)]
mod example_multiple;

use std::net::SocketAddr;
use std::sync::Arc;

use common::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::http::header::WWW_AUTHENTICATE;
use ws_tokio::http::{HeaderMap, Response, StatusCode};
use ws_tokio::{connect_with, Bytes, ClientRequest, Config, ConnectError, Event, Message, WebSocket};

type Client = WebSocket<TcpStream>;

/// Connects to `addr` with the request built by `f`.
async fn try_client(
    addr: SocketAddr,
    path: &str,
    f: impl FnOnce(ClientRequest) -> ClientRequest,
) -> Result<(Client, Response<()>), ConnectError> {
    let request = f(ClientRequest::new(&addr.to_string(), path));
    let tcp = within(TcpStream::connect(addr)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    within(connect_with(tcp, request, Arc::new(Config::default()))).await
}

async fn client(addr: SocketAddr, path: &str) -> Client {
    try_client(addr, path, |r| r).await.expect("handshake").0
}

/// The status of a refused handshake.
fn rejected(result: Result<(Client, Response<()>), ConnectError>) -> (StatusCode, HeaderMap, Bytes) {
    match result {
        Err(ConnectError::Rejected { status, headers, body }) => (status, *headers, body),
        Err(e) => panic!("expected a rejection, got {e}"),
        Ok(_) => panic!("expected a rejection, got a connection"),
    }
}

/// The next event that is not a ping or pong.
async fn next(ws: &mut Client) -> Event {
    loop {
        match within(ws.recv()).await.expect("event").expect("io") {
            Event::Ping(_) | Event::Pong(_) => {}
            event => return event,
        }
    }
}

async fn next_text(ws: &mut Client) -> String {
    match next(ws).await {
        Event::Message(Message::Text(t)) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The `server-multiple` example: two noServer servers behind hyper, routed by path.
#[tokio::test]
async fn example_multiple_servers_route_by_path() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_multiple::run(listener));
    for name in ["foo", "bar"] {
        let mut c = client(addr, &format!("/{name}")).await;
        c.send("hi").await.unwrap();
        assert_eq!(next_text(&mut c).await, format!("{name}: hi"));
        c.send("again").await.unwrap();
        assert_eq!(next_text(&mut c).await, format!("{name}: again"));
    }
    // hyper answers other paths itself.
    assert_eq!(rejected(try_client(addr, "/baz", |r| r).await).0, StatusCode::NOT_FOUND);
    // A refusal from respond() (here: not an upgrade) reaches the client with its status.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /foo HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = vec![0; 12];
    within(tcp.read_exact(&mut head)).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 426");
}

/// The `server-broadcast` example: every tracked client gets every message.
#[tokio::test]
async fn example_broadcast_reaches_everyone() {
    let server = within(example_broadcast::bind(0)).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(example_broadcast::run(server));
    // Each client's own message coming back shows it is tracked.
    let mut a = client(addr, "/").await;
    a.send("a is here").await.unwrap();
    assert_eq!(next_text(&mut a).await, "a is here");
    let mut b = client(addr, "/").await;
    b.send("b is here").await.unwrap();
    assert_eq!(next_text(&mut b).await, "b is here");
    assert_eq!(next_text(&mut a).await, "b is here");
    a.send("hello all").await.unwrap();
    assert_eq!(next_text(&mut a).await, "hello all");
    assert_eq!(next_text(&mut b).await, "hello all");
}

/// The `server-auth` example: `verify_client` checks a bearer token or a query token.
#[tokio::test]
async fn example_auth_checks_tokens() {
    let server = within(example_auth::bind(0)).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(example_auth::run(server));
    let (status, headers, _) = rejected(try_client(addr, "/", |r| r).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get(WWW_AUTHENTICATE).is_some());
    let mut c = try_client(addr, "/", |r| r.header("authorization", "Bearer hunter2")).await.unwrap().0;
    assert_eq!(next_text(&mut c).await, "hello bob");
    c.send("hi").await.unwrap();
    assert_eq!(next_text(&mut c).await, "bob: hi");
    let mut c = client(addr, "/?token=s3cret").await;
    assert_eq!(next_text(&mut c).await, "hello alice");
}

/// The `server-axum` example: the upgrade on axum's `/ws` route, plain HTTP elsewhere.
#[cfg(feature = "axum")]
#[tokio::test]
async fn example_axum_upgrades_on_its_route() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_axum::run(listener));
    let mut c = client(addr, "/ws").await;
    c.send("through axum").await.unwrap();
    assert_eq!(next_text(&mut c).await, "through axum");
    // The plain route answers HTTP, which a WebSocket client sees as a refusal.
    let (status, _, body) = rejected(try_client(addr, "/", |r| r).await);
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello from axum\n"[..]));
}

/// The `server-https` example: an upgrade over tokio-rustls.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn example_https_upgrades_over_tls() {
    use ws_tokio::tls::TlsOptions;
    use ws_tokio::ClientBuilder;

    let (acceptor, cert_pem) = example_https::self_signed().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(example_https::run(listener, acceptor));
    let tls = TlsOptions::new().ca_pem(cert_pem).server_name("localhost");
    let builder = ClientBuilder::new(format!("wss://127.0.0.1:{port}/ws")).tls(tls);
    let (mut ws, response) = within(builder.connect()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send("secure").await.unwrap();
    let event = within(ws.recv()).await.unwrap().unwrap();
    assert!(matches!(event, Event::Message(Message::Text(t)) if t == "secure"));
}
