//! The Node `ws`-style `Server`: modes, the order of the checks, hooks, client tracking,
//! broadcast with slow clients, close, and smoke tests of the server examples. Loopback only;
//! every await is bounded by `common::within`.

mod common;

#[path = "../examples/server-auth.rs"]
#[allow(dead_code, unreachable_pub)]
mod example_auth;
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

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use ws_tokio::http::header::{HeaderValue, WWW_AUTHENTICATE};
use ws_tokio::http::{HeaderMap, Request, Response, StatusCode};
use ws_tokio::server::{forwarded_for, ClientInfo, Server, ServerConnection, ServerError, Shutdown, SlowPolicy};
use ws_tokio::ws_proto::DeflateConfig;
use ws_tokio::{
    connect_with, AcceptError, Bytes, ClientRequest, CloseCode, Config, ConnectError, Event, Message, PreparedMessage,
    Refusal, WebSocket,
};

type Client = WebSocket<TcpStream>;

/// Connects to `addr` with the request built by `f`.
async fn try_client(
    addr: SocketAddr,
    path: &str,
    f: impl FnOnce(&mut ClientRequest),
) -> Result<(Client, Response<()>), ConnectError> {
    try_client_config(addr, path, Arc::new(Config::default()), f).await
}

async fn try_client_config(
    addr: SocketAddr,
    path: &str,
    config: Arc<Config>,
    f: impl FnOnce(&mut ClientRequest),
) -> Result<(Client, Response<()>), ConnectError> {
    let mut request = ClientRequest::new(&addr.to_string(), path);
    f(&mut request);
    let tcp = within(TcpStream::connect(addr)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    within(connect_with(tcp, request, config)).await
}

async fn client(addr: SocketAddr, path: &str) -> Client {
    try_client(addr, path, |_| {}).await.expect("handshake").0
}

/// The status of a refused handshake.
fn rejected(result: Result<(Client, Response<()>), ConnectError>) -> (StatusCode, HeaderMap, Bytes) {
    match result {
        Err(ConnectError::Rejected { status, headers, body }) => (status, *headers, body),
        Err(e) => panic!("expected a rejection, got {e}"),
        Ok(_) => panic!("expected a rejection, got a connection"),
    }
}

async fn bind(builder: ws_tokio::server::ServerBuilder) -> (Server, SocketAddr) {
    let server = within(builder.bind("127.0.0.1", 0)).await.unwrap();
    let addr = server.local_addr().unwrap();
    (server, addr)
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

async fn closed_code(ws: &mut Client) -> u16 {
    loop {
        if let Event::Closed(info) = next(ws).await {
            return info.code().as_u16();
        }
    }
}

async fn server_next(conn: &mut ServerConnection) -> Event {
    loop {
        match within(conn.events.recv()).await.expect("event").expect("io") {
            Event::Ping(_) | Event::Pong(_) => {}
            event => return event,
        }
    }
}

/// Polls `cond` every few milliseconds until it holds (bounded).
async fn eventually(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn bind_local_addr_and_echo() {
    let (server, addr) = bind(Server::builder()).await;
    assert_eq!(addr.ip(), IpAddr::from([127, 0, 0, 1]));
    assert_ne!(addr.port(), 0);
    let mut c = client(addr, "/").await;
    let mut conn = within(server.accept()).await.unwrap();
    assert_eq!(conn.request.uri().path(), "/");
    c.send("ping?").await.unwrap();
    let Event::Message(m) = server_next(&mut conn).await else { panic!("no message") };
    conn.handle.send(m).await.unwrap();
    assert_eq!(next_text(&mut c).await, "ping?");
}

#[tokio::test]
async fn path_match_and_mismatch() {
    let (server, addr) = bind(Server::builder().path("/chat")).await;
    let (status, _, _) = rejected(try_client(addr, "/other", |_| {}).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The query is not part of the path.
    let _c = client(addr, "/chat?room=1").await;
    let conn = within(server.accept()).await.unwrap();
    assert_eq!(conn.request.uri().query(), Some("room=1"));
    assert!(server.should_handle(&Request::get("/chat").body(()).unwrap()));
    assert!(!server.should_handle(&Request::get("/x").body(()).unwrap()));
}

#[tokio::test]
async fn should_handle_overrides_path() {
    let builder = Server::builder().path("/ignored").should_handle(|req| req.uri().path().starts_with("/room/"));
    let (server, addr) = bind(builder).await;
    let _c = client(addr, "/room/42").await;
    assert_eq!(within(server.accept()).await.unwrap().request.uri().path(), "/room/42");
    assert_eq!(rejected(try_client(addr, "/ignored", |_| {}).await).0, StatusCode::BAD_REQUEST);
    // should_handle runs before the RFC checks: an unrouted plain GET is 400, not 426.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = vec![0; 12];
    within(tcp.read_exact(&mut head)).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 400");
}

#[tokio::test]
async fn verify_client_sync_refuses_with_401_and_headers() {
    let builder = Server::builder().verify_client(|req, info| {
        assert!(info.remote.is_some());
        match req.request().headers().get("x-token") {
            Some(t) if t == "secret" => Ok(()),
            _ => Err(Refusal::new(StatusCode::UNAUTHORIZED)
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                .with_body("who are you?")),
        }
    });
    let (server, addr) = bind(builder).await;
    let (status, headers, body) = rejected(try_client(addr, "/", |_| {}).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get(WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(&body[..], b"who are you?");
    let _c = try_client(addr, "/", |r| {
        r.header("x-token", "secret");
    })
    .await
    .unwrap();
    within(server.accept()).await.unwrap();

    // Node: verifyClient returning false → 401.
    let (_server, addr) = bind(Server::builder().verify_client(|_, _| false)).await;
    assert_eq!(rejected(try_client(addr, "/", |_| {}).await).0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn verify_client_async_accepts_and_refuses() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let builder = Server::builder().verify_client_async(move |req, info| {
        seen2.lock().unwrap().push(info.remote);
        let ok = req.query() == Some("token=ok");
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if ok {
                Ok(())
            } else {
                Err(Refusal::new(StatusCode::FORBIDDEN).with_body("go away"))
            }
        }
    });
    let (server, addr) = bind(builder).await;
    let (status, _, body) = rejected(try_client(addr, "/?token=bad", |_| {}).await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(&body[..], b"go away");
    let _c = client(addr, "/?token=ok").await;
    within(server.accept()).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.is_some_and(|a| a.ip().is_loopback())));
}

#[tokio::test]
async fn verify_client_async_bounded_by_handshake_timeout() {
    let mut config = Config::default();
    config.handshake_timeout(Some(Duration::from_millis(200)));
    let builder = Server::builder().config(Arc::new(config)).verify_client_async(|_, _| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        true
    });
    let (_server, addr) = bind(builder).await;
    assert_eq!(rejected(try_client(addr, "/", |_| {}).await).0, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn handle_protocols_chooses() {
    let builder = Server::builder()
        .handle_protocols(|offers, _| offers.iter().find(|p| p.starts_with("v2")).map(|p| p.to_string()));
    let (server, addr) = bind(builder).await;
    let (_c, response) = try_client(addr, "/", |r| {
        r.subprotocol("v1.chat").subprotocol("v2.chat");
    })
    .await
    .unwrap();
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "v2.chat");
    assert_eq!(within(server.accept()).await.unwrap().protocol.as_deref(), Some("v2.chat"));
}

#[tokio::test]
async fn on_headers_adds_a_header() {
    let builder = Server::builder().on_headers(|req, headers| {
        let value = format!("path={}", req.path());
        headers.insert("x-hello", HeaderValue::from_str(&value).unwrap());
    });
    let (_server, addr) = bind(builder).await;
    let (_c, response) = try_client(addr, "/greet", |_| {}).await.unwrap();
    assert_eq!(response.headers().get("x-hello").unwrap(), "path=/greet");
}

#[tokio::test]
async fn max_payload_closes_with_1009() {
    let (server, addr) = bind(Server::builder().max_payload(10)).await;
    let mut c = client(addr, "/").await;
    let mut conn = within(server.accept()).await.unwrap();
    c.send("0123456789").await.unwrap();
    assert!(matches!(server_next(&mut conn).await, Event::Message(_)));
    c.send("0123456789x").await.unwrap();
    assert_eq!(closed_code(&mut c).await, 1009);
    let Event::Closed(info) = server_next(&mut conn).await else { panic!("expected Closed") };
    assert_eq!(info.sent.map(|f| f.code.as_u16()), Some(1009));
}

#[tokio::test]
async fn deflate_negotiated_when_enabled() {
    let (server, addr) = bind(Server::builder().per_message_deflate(Some(DeflateConfig::default()))).await;
    let mut config = Config::default();
    config.permessage_deflate(Some(DeflateConfig::default()));
    let (mut c, response) = try_client_config(addr, "/", Arc::new(config.clone()), |_| {}).await.unwrap();
    let ext = response.headers().get("sec-websocket-extensions").unwrap().to_str().unwrap();
    assert!(ext.starts_with("permessage-deflate"), "{ext}");
    let mut conn = within(server.accept()).await.unwrap();
    assert!(conn.extensions.as_deref().is_some_and(|e| e.starts_with("permessage-deflate")));
    let text = "compress me ".repeat(200);
    c.send(text.as_str()).await.unwrap();
    let Event::Message(m) = server_next(&mut conn).await else { panic!("no message") };
    assert_eq!(m.as_bytes(), text.as_bytes());
    server.clients().broadcast_message(text.as_str());
    assert_eq!(next_text(&mut c).await, text);

    // Off by default, as in Node.
    let (_server, addr) = bind(Server::builder()).await;
    let (_c, response) = try_client_config(addr, "/", Arc::new(config), |_| {}).await.unwrap();
    assert!(response.headers().get("sec-websocket-extensions").is_none());
}

#[tokio::test]
async fn clients_count_up_and_down() {
    let (server, addr) = bind(Server::builder()).await;
    let mut clients = Vec::new();
    let mut conns = Vec::new();
    for i in 0..3 {
        clients.push(client(addr, "/").await);
        conns.push(within(server.accept()).await.unwrap());
        assert_eq!(server.clients().len(), i + 1);
    }
    let ids: Vec<_> = conns.iter().map(|c| c.id).collect();
    let mut listed = server.clients().ids();
    listed.sort();
    assert_eq!(listed, ids);
    assert!(server.clients().contains(ids[1]));
    // A client leaves: it is removed once its connection reports Closed.
    let mut gone = clients.remove(1);
    gone.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(closed_code(&mut gone).await, 1000);
    eventually(|| server.clients().len() == 2).await;
    assert!(!server.clients().contains(ids[1]));
    // The app's own handles and receivers do not keep a closed client listed.
    drop(clients);
    eventually(|| server.clients().is_empty()).await;
    assert_eq!(server.clients().iter().count(), 0);
}

#[tokio::test]
async fn untracked_server_keeps_no_clients() {
    let (server, addr) = bind(Server::builder().client_tracking(false)).await;
    let mut c = client(addr, "/").await;
    let conn = within(server.accept()).await.unwrap();
    assert!(!server.is_tracking());
    assert!(server.clients().is_empty());
    conn.handle.send("driver mode anyway").await.unwrap();
    assert_eq!(next_text(&mut c).await, "driver mode anyway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_to_fifty_and_except() {
    let (server, addr) = bind(Server::builder()).await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..50 {
        clients.push(client(addr, "/").await);
        ids.push(within(server.accept()).await.unwrap().id);
    }
    assert_eq!(server.clients().len(), 50);
    // Framed once: every client's queue gets a clone sharing the same header and payload.
    let msg = PreparedMessage::new(Message::text("to everyone"));
    let report = server.clients().broadcast(&msg);
    assert_eq!((report.sent, report.dropped, report.closed), (50, 0, 0));
    for c in &mut clients {
        assert_eq!(next_text(c).await, "to everyone");
    }
    // All but the sender (the first client).
    let report = server.clients().broadcast_except(ids[0], &PreparedMessage::new(Message::text("from #0")));
    assert_eq!(report.sent, 49);
    let report = server.clients().broadcast_message("end");
    assert_eq!(report.sent, 50);
    assert_eq!(next_text(&mut clients[0]).await, "end");
    for c in &mut clients[1..] {
        assert_eq!(next_text(c).await, "from #0");
        assert_eq!(next_text(c).await, "end");
    }
}

/// Fast clients read everything; one client never reads (tiny receive buffer) until the
/// broadcasts stop. Returns the messages broadcast, the reports' totals, and the slow client.
async fn slow_client_run(policy: SlowPolicy) -> (usize, usize, usize, Client, Server) {
    let mut config = Config::default();
    config.write_high_water(16 * 1024).close_timeout(Some(Duration::from_secs(5)));
    let builder = Server::builder().config(Arc::new(config)).handle_queue(4).slow_client_policy(policy);
    let (server, addr) = bind(builder).await;
    let counters: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    for counter in &counters {
        let mut c = client(addr, "/").await;
        within(server.accept()).await.unwrap();
        let counter = counter.clone();
        tokio::spawn(async move {
            while let Some(Ok(Event::Message(_))) = c.recv().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = within(socket.connect(addr)).await.unwrap();
    let request = ClientRequest::new(&addr.to_string(), "/");
    let (slow, _) = within(connect_with(tcp, request, Arc::new(Config::default()))).await.unwrap();
    within(server.accept()).await.unwrap();

    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    let (mut sent_total, mut dropped, mut closed) = (0, 0, 0);
    let mut after_first = 0;
    let mut n = 0;
    while n < 2000 && after_first < 5 {
        let report = server.clients().broadcast(&PreparedMessage::new(Message::binary(payload.clone())));
        n += 1;
        sent_total += report.sent;
        dropped += report.dropped;
        closed += report.closed;
        if dropped + closed > 0 {
            after_first += 1;
        }
        // The fast clients keep up: wait until each has every message so far.
        eventually(|| counters.iter().all(|c| c.load(Ordering::SeqCst) == n)).await;
    }
    assert!(dropped + closed > 0, "the slow client's queue never filled in {n} broadcasts");
    // Every fast client got every message; the slow one is the only one that missed any.
    assert!(counters.iter().all(|c| c.load(Ordering::SeqCst) == n));
    assert_eq!(sent_total + dropped + closed, 4 * n - if closed > 0 { after_first - 1 } else { 0 });
    (n, dropped, closed, slow, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_dropped() {
    let (n, dropped, closed, mut slow, server) = slow_client_run(SlowPolicy::Drop).await;
    assert_eq!(closed, 0);
    assert!(dropped >= 1);
    // The slow client stays connected and gets the messages that fit, then later ones.
    let slow_id = server.clients().ids().into_iter().max().unwrap();
    let handle = server.clients().get(slow_id).unwrap();
    let mut got = 0;
    let reader = tokio::spawn(async move {
        loop {
            match within(slow.recv()).await {
                Some(Ok(Event::Message(Message::Binary(_)))) => got += 1,
                Some(Ok(Event::Message(Message::Text(t)))) if t == "end" => return (got, slow),
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    within(handle.send("end")).await.unwrap();
    let (got, _slow) = within(reader).await.unwrap();
    assert!(got < n, "got {got} of {n}");
    assert_eq!(got + dropped, n);
    assert_eq!(server.clients().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_closed_with_1013() {
    let (n, dropped, closed, mut slow, server) = slow_client_run(SlowPolicy::Close).await;
    assert_eq!((dropped, closed), (0, 1));
    let mut got = 0;
    let code = loop {
        match within(slow.recv()).await {
            Some(Ok(Event::Message(_))) => got += 1,
            Some(Ok(Event::Closed(info))) => break info.code().as_u16(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, 1013);
    assert!(got < n);
    eventually(|| server.clients().len() == 3).await;
}

#[tokio::test]
async fn close_gracefully_with_1001_then_503() {
    let (server, addr) = bind(Server::builder()).await;
    let server = Arc::new(server);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(client(addr, "/").await);
        within(server.accept()).await.unwrap();
    }
    // A connection accepted but still in its handshake when the server closes.
    let mut pending = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A pending accept() ends with Closed.
    let waiting = {
        let server = server.clone();
        tokio::spawn(async move { server.accept().await.map(|c| c.id) })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let closing = {
        let server = server.clone();
        tokio::spawn(async move { server.close().await })
    };
    for c in &mut clients {
        assert_eq!(closed_code(c).await, 1001);
    }
    within(closing).await.unwrap();
    assert!(server.clients().is_empty());
    assert!(matches!(within(waiting).await.unwrap(), Err(ServerError::Closed)));
    assert!(matches!(within(server.accept()).await, Err(ServerError::Closed)));
    // The in-flight handshake is answered 503.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    pending.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0; 12];
    within(pending.read_exact(&mut head)).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 503");
    // The listener is gone.
    assert!(TcpStream::connect(addr).await.is_err());
    // Later upgrades through any method get 503.
    let (a, b) = tokio::io::duplex(4096);
    let (client_side, server_side) = within(async {
        tokio::join!(
            connect_with(a, ClientRequest::new("localhost", "/"), Arc::new(Config::default())),
            server.accept_stream(b, ClientInfo::default())
        )
    })
    .await;
    assert!(matches!(client_side, Err(ConnectError::Rejected { status: StatusCode::SERVICE_UNAVAILABLE, .. })));
    assert!(matches!(server_side, Err(AcceptError::Rejected { status: StatusCode::SERVICE_UNAVAILABLE, .. })));
    let head = Request::get("/").header("host", "x").body(()).unwrap();
    assert_eq!(server.respond(&head, &ClientInfo::default()).unwrap_err().status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn close_terminates_when_asked() {
    let (server, addr) = bind(Server::builder().shutdown(Shutdown::Terminate)).await;
    let mut c = client(addr, "/").await;
    within(server.accept()).await.unwrap();
    within(server.close()).await;
    // No close frame: the client sees the TCP close (1006).
    assert_eq!(closed_code(&mut c).await, 1006);
}

#[tokio::test]
async fn serve_on_an_existing_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().path("/here").serve(listener);
    assert_eq!(server.local_addr(), Some(addr));
    let mut c = client(addr, "/here").await;
    let conn = within(server.accept()).await.unwrap();
    conn.handle.send("served").await.unwrap();
    assert_eq!(next_text(&mut c).await, "served");
}

#[tokio::test]
async fn no_server_mode_has_no_listener() {
    let server = Server::builder().build();
    assert_eq!(server.local_addr(), None);
    assert!(matches!(server.accept().await, Err(ServerError::NoListener)));
}

/// Reads a request head the way another HTTP stack would (httparse), returning it and the
/// bytes read past it.
async fn read_head(tcp: &mut TcpStream) -> (Request<()>, Bytes) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = within(tcp.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "EOF in the head");
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(len) = parsed.parse(&buf).unwrap() {
            let mut req = Request::builder().method(parsed.method.unwrap()).uri(parsed.path.unwrap());
            for h in parsed.headers.iter() {
                req = req.header(h.name, h.value);
            }
            return (req.body(()).unwrap(), Bytes::copy_from_slice(&buf[len..]));
        }
    }
}

#[tokio::test]
async fn handle_upgrade_with_a_head_parsed_elsewhere() {
    let server = Arc::new(Server::builder().path("/raw").build());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = {
        let server = server.clone();
        tokio::spawn(async move {
            let (mut tcp, remote) = listener.accept().await.unwrap();
            let (req, head) = read_head(&mut tcp).await;
            let mut ws = server.handle_upgrade(&req, tcp, head.clone(), ClientInfo::new(Some(remote))).await.unwrap();
            // The frame that arrived with the head is not lost.
            let first = ws.recv().await.unwrap().unwrap();
            ws.send("ok").await.unwrap();
            (head.len(), first)
        })
    };
    // The client writes its request and a first masked frame ("hi") in one go.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut bytes = format!(
        "GET /raw HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    let key = [1u8, 2, 3, 4];
    bytes.extend_from_slice(&[0x81, 0x82]);
    bytes.extend_from_slice(&key);
    bytes.extend(b"hi".iter().zip(key).map(|(b, k)| b ^ k));
    tcp.write_all(&bytes).await.unwrap();
    let (leftover, first) = within(task).await.unwrap();
    assert_eq!(leftover, 8);
    assert!(matches!(first, Event::Message(Message::Text(t)) if t == "hi"));
    let mut response = Vec::new();
    while !response.ends_with(&[0x81, 2, b'o', b'k']) {
        let mut chunk = [0u8; 512];
        let n = within(tcp.read(&mut chunk)).await.unwrap();
        assert!(n > 0);
        response.extend_from_slice(&chunk[..n]);
    }
    assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(String::from_utf8_lossy(&response).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

    // A request this server does not handle is answered 400 on the socket.
    let (a, b) = tokio::io::duplex(4096);
    let req = Request::get("/elsewhere").header("host", "x").body(()).unwrap();
    let result = server.handle_upgrade(&req, b, Bytes::new(), ClientInfo::default()).await;
    assert!(matches!(result, Err(AcceptError::Rejected { status: StatusCode::BAD_REQUEST, .. })));
    drop(a);
}

#[tokio::test]
async fn client_ip_and_forwarded_for() {
    let (server, addr) = bind(Server::builder()).await;
    let _c = try_client(addr, "/", |r| {
        r.header("x-forwarded-for", "203.0.113.7, 10.0.0.1");
    })
    .await
    .unwrap();
    let conn = within(server.accept()).await.unwrap();
    assert!(conn.info.remote.unwrap().ip().is_loopback());
    assert_eq!(conn.info.local, Some(addr));
    assert!(!conn.info.secure);
    assert_eq!(forwarded_for(&conn.request), Some(IpAddr::from([203, 0, 113, 7])));
    let _c = client(addr, "/").await;
    assert_eq!(forwarded_for(&within(server.accept()).await.unwrap().request), None);
}

#[tokio::test]
async fn accept_websocket_is_plain_and_untracked() {
    let (server, addr) = bind(Server::builder()).await;
    let mut c = client(addr, "/plain").await;
    let mut accepted = within(server.accept_websocket()).await.unwrap();
    assert_eq!(accepted.request.uri().path(), "/plain");
    assert!(server.clients().is_empty());
    accepted.ws.send("plain").await.unwrap();
    assert_eq!(next_text(&mut c).await, "plain");
}

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
    assert_eq!(rejected(try_client(addr, "/baz", |_| {}).await).0, StatusCode::NOT_FOUND);
    // A refusal from respond() (here: not an upgrade) reaches the client with its status.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /foo HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = vec![0; 12];
    within(tcp.read_exact(&mut head)).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 426");
}

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

#[tokio::test]
async fn example_auth_checks_tokens() {
    let server = within(example_auth::bind(0)).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(example_auth::run(server));
    let (status, headers, _) = rejected(try_client(addr, "/", |_| {}).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get(WWW_AUTHENTICATE).is_some());
    let mut c = try_client(addr, "/", |r| {
        r.header("authorization", "Bearer hunter2");
    })
    .await
    .unwrap()
    .0;
    assert_eq!(next_text(&mut c).await, "hello bob");
    c.send("hi").await.unwrap();
    assert_eq!(next_text(&mut c).await, "bob: hi");
    let mut c = client(addr, "/?token=s3cret").await;
    assert_eq!(next_text(&mut c).await, "hello alice");
}

#[tokio::test]
async fn example_axum_upgrades_on_its_route() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_axum::run(listener));
    let mut c = client(addr, "/ws").await;
    c.send("through axum").await.unwrap();
    assert_eq!(next_text(&mut c).await, "through axum");
    // The plain route answers HTTP, which a WebSocket client sees as a refusal.
    let (status, _, body) = rejected(try_client(addr, "/", |_| {}).await);
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello from axum\n"[..]));
}

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
