//! The Node `ws`-style `Server`: modes (bind, serve, noServer), the order of the checks, hooks,
//! client tracking, broadcast with slow clients, close.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_async::http::header::{HeaderValue, WWW_AUTHENTICATE};
use ws_async::http::{HeaderMap, Request, Response, StatusCode};
use ws_async::runtime::{Io, Net};
use ws_async::server::{
    forwarded_for, ClientInfo, Server, ServerBuilder, ServerConnection, ServerError, Shutdown, SlowPolicy,
};
use ws_async::ws_proto::DeflateConfig;
use ws_async::{
    connect_with, AcceptError, Bytes, ClientRequest, CloseCode, Config, ConnectError, Event, Message, PreparedMessage,
    Refusal, WebSocket,
};

use crate::harness::*;

/// A client connection of the runtime `T`.
type Client<T> = Ws<<T as TestRt>::Tcp, T>;

/// Connects to `addr` with the request built by `f`.
async fn try_client<T: TestRt>(
    addr: SocketAddr,
    path: &str,
    f: impl FnOnce(ClientRequest) -> ClientRequest,
) -> Result<(Client<T>, Response<()>), ConnectError> {
    try_client_config::<T>(addr, path, Arc::new(Config::default()), f).await
}

async fn try_client_config<T: TestRt>(
    addr: SocketAddr,
    path: &str,
    config: Arc<Config>,
    f: impl FnOnce(ClientRequest) -> ClientRequest,
) -> Result<(Client<T>, Response<()>), ConnectError> {
    let request = f(ClientRequest::new(&addr.to_string(), path));
    let tcp = within(T::connect(addr)).await.unwrap();
    within(connect_with::<_, T::R>(tcp, request, config)).await
}

async fn client<T: TestRt>(addr: SocketAddr, path: &str) -> Client<T> {
    try_client::<T>(addr, path, |r| r).await.expect("handshake").0
}

/// A valid upgrade request head for `path`.
fn upgrade_head(path: &str) -> Request<()> {
    Request::get(path)
        .header("host", "x")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap()
}

/// The status, headers and body of a refused handshake.
fn rejected<C>(result: Result<(C, Response<()>), ConnectError>) -> (StatusCode, HeaderMap, Bytes) {
    match result {
        Err(ConnectError::Rejected { status, headers, body }) => (status, *headers, body),
        Err(e) => panic!("expected a rejection, got {e}"),
        Ok(_) => panic!("expected a rejection, got a connection"),
    }
}

async fn bind<T: TestRt>(builder: ServerBuilder<T::R>) -> (Server<T::R>, SocketAddr) {
    let server = within(builder.bind("127.0.0.1", 0)).await.unwrap();
    let addr = server.local_addr().unwrap();
    (server, addr)
}

/// The next event that is not a ping or pong.
async fn next<S, R: Io<S>>(ws: &mut WebSocket<S, R>) -> Event {
    loop {
        match within(ws.recv()).await.expect("event").expect("io") {
            Event::Ping(_) | Event::Pong(_) => {}
            event => return event,
        }
    }
}

async fn next_text<S, R: Io<S>>(ws: &mut WebSocket<S, R>) -> String {
    match next(ws).await {
        Event::Message(Message::Text(t)) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn closed_code<S, R: Io<S>>(ws: &mut WebSocket<S, R>) -> u16 {
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

/// Reads a request head the way another HTTP stack would (httparse), returning it and the
/// bytes read past it.
async fn read_head<S: tokio::io::AsyncRead + Unpin>(tcp: &mut S) -> (Request<()>, Bytes) {
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

/// Fast clients read everything; one client never reads (tiny receive buffer) until the
/// broadcasts stop. Returns the messages broadcast, the reports' totals (dropped, closed), the
/// slow client and the server.
async fn slow_client_run<T: TestRt>(policy: SlowPolicy) -> (usize, usize, usize, Client<T>, Server<T::R>) {
    let config = Config::default().write_high_water(16 * 1024).close_timeout(Some(Duration::from_secs(5)));
    let builder = Server::<T::R>::builder().config(Arc::new(config)).handle_queue(4).slow_client_policy(policy);
    let (server, addr) = bind::<T>(builder).await;
    let counters: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    for counter in &counters {
        let mut c = client::<T>(addr, "/").await;
        within(server.accept()).await.unwrap();
        let counter = counter.clone();
        T::spawn_detached(async move {
            while let Some(Ok(Event::Message(_))) = c.recv().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    // The slow client: a tiny receive buffer, set before connecting.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    // Loopback: the connection completes in the listener's backlog.
    socket.connect(&addr.into()).unwrap();
    let tcp = T::from_std(socket.into()).unwrap();
    let request = ClientRequest::new(&addr.to_string(), "/");
    let (slow, _) = within(connect_with::<_, T::R>(tcp, request, Arc::new(Config::default()))).await.unwrap();
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

on_every_runtime! {
    /// `bind` listens on the asked address; an accepted connection echoes through its handle and events.
    async fn bind_local_addr_and_echo<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        assert_eq!(addr.ip(), IpAddr::from([127, 0, 0, 1]));
        assert_ne!(addr.port(), 0);
        let mut c = client::<T>(addr, "/").await;
        let mut conn = within(server.accept()).await.unwrap();
        assert_eq!(conn.request.uri().path(), "/");
        c.send("ping?").await.unwrap();
        let Event::Message(m) = server_next(&mut conn).await else { panic!("no message") };
        conn.handle.send(m).await.unwrap();
        assert_eq!(next_text(&mut c).await, "ping?");
    }

    /// `path`: other paths get 400; the query is not part of the path; `should_handle` says so.
    async fn path_match_and_mismatch<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder().path("/chat")).await;
        let (status, _, _) = rejected(try_client::<T>(addr, "/other", |r| r).await);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // The query is not part of the path.
        let _c = client::<T>(addr, "/chat?room=1").await;
        let conn = within(server.accept()).await.unwrap();
        assert_eq!(conn.request.uri().query(), Some("room=1"));
        assert!(server.should_handle(&Request::get("/chat").body(()).unwrap()));
        assert!(!server.should_handle(&Request::get("/x").body(()).unwrap()));
    }

    /// `should_handle` overrides `path`; it runs after the head checks (an unrouted plain GET is not an upgrade: 426).
    async fn should_handle_overrides_path<T: TestRt>() {
        let builder = Server::builder().path("/ignored").should_handle(|req| req.uri().path().starts_with("/room/"));
        let (server, addr) = bind::<T>(builder).await;
        let _c = client::<T>(addr, "/room/42").await;
        assert_eq!(within(server.accept()).await.unwrap().request.uri().path(), "/room/42");
        assert_eq!(rejected(try_client::<T>(addr, "/ignored", |r| r).await).0, StatusCode::BAD_REQUEST);
        // A plain GET is not an upgrade at all: 426, whatever the path (Node's HTTP server).
        let mut tcp = raw::<T>(within(T::connect(addr)).await.unwrap());
        tcp.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut head = vec![0; 12];
        within(tcp.read_exact(&mut head)).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 426");
    }

    /// The statuses come in Node's order: each request breaks one check and everything after
    /// it, and gets the answer of the first.
    async fn statuses_come_in_nodes_order<T: TestRt>() {
        let builder = Server::builder()
            .path("/ws")
            .per_message_deflate(Some(DeflateConfig::default()))
            .verify_client(|_req, _info| false);
        let (server, addr) = bind::<T>(builder).await;
        let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        let cases: [(String, &[u8]); 9] = [
            // No `Connection: upgrade`: not an upgrade, although every later check fails too.
            ("POST /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n".to_string(), b"426"),
            ("POST /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_string(), b"405"),
            ("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n".to_string(), b"400"),
            ("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_string(), b"400"),
            (format!("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 7\r\n\r\n"), b"400"),
            // The path, before the malformed offers.
            (format!("GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a b\r\n\r\n"), b"400"),
            (format!("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a b\r\n\r\n"), b"400"),
            // A malformed deflate offer is refused before verify_client runs.
            (format!("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99\r\n\r\n"), b"400"),
            (format!("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"), b"401"),
        ];
        for (request, status) in cases {
            let mut tcp = raw::<T>(within(T::connect(addr)).await.unwrap());
            tcp.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            let _ = within(tcp.read_to_end(&mut response)).await;
            assert_eq!(&response[9..12], status, "{request:?} → {}", String::from_utf8_lossy(&response));
            if status == b"400" && request.contains("Version: 7") {
                assert!(String::from_utf8_lossy(&response).to_ascii_lowercase().contains("sec-websocket-version: 13, 8"));
            }
        }
        // The closing server answers last: a request the checks accept gets 503.
        let server = Arc::new(server);
        let closing = {
            let server = server.clone();
            T::spawn(async move { server.close().await.is_ok() })
        };
        eventually(|| server.is_closing()).await;
        let head = upgrade_head("/ws");
        assert_eq!(server.respond(&head, &ClientInfo::default()).unwrap_err().status(), StatusCode::UNAUTHORIZED);
        let plain = Request::get("/ws").header("host", "h").body(()).unwrap();
        assert_eq!(server.respond(&plain, &ClientInfo::default()).unwrap_err().status(), StatusCode::UPGRADE_REQUIRED);
        assert!(within(closing).await);
    }

    /// A sync `verify_client` refuses with its status, headers and body (`false` is 401) or accepts.
    async fn verify_client_sync_refuses_with_401_and_headers<T: TestRt>() {
        let builder = Server::builder().verify_client(|req, info| {
            assert!(info.remote.is_some());
            match req.request().headers().get("x-token") {
                Some(t) if t == "secret" => Ok(()),
                _ => Err(Refusal::new(StatusCode::UNAUTHORIZED)
                    .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                    .with_body("who are you?")),
            }
        });
        let (server, addr) = bind::<T>(builder).await;
        let (status, headers, body) = rejected(try_client::<T>(addr, "/", |r| r).await);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(WWW_AUTHENTICATE).unwrap(), "Bearer");
        assert_eq!(&body[..], b"who are you?");
        let _c = try_client::<T>(addr, "/", |r| r.header("x-token", "secret"))
        .await
        .unwrap();
        within(server.accept()).await.unwrap();

        // Node: verifyClient returning false → 401.
        let (_server, addr) = bind::<T>(Server::builder().verify_client(|_, _| false)).await;
        assert_eq!(rejected(try_client::<T>(addr, "/", |r| r).await).0, StatusCode::UNAUTHORIZED);
    }

    /// An asynchronous `verify_client` accepts and refuses, seeing the client's address.
    async fn verify_client_async_accepts_and_refuses<T: TestRt>() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let builder = Server::builder().verify_client_async(move |req, info| {
            seen2.lock().unwrap().push(info.remote);
            let ok = req.query() == Some("token=ok");
            async move {
                sleep(Duration::from_millis(10)).await;
                if ok {
                    Ok(())
                } else {
                    Err(Refusal::new(StatusCode::FORBIDDEN).with_body("go away"))
                }
            }
        });
        let (server, addr) = bind::<T>(builder).await;
        let (status, _, body) = rejected(try_client::<T>(addr, "/?token=bad", |r| r).await);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(&body[..], b"go away");
        let _c = client::<T>(addr, "/?token=ok").await;
        within(server.accept()).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|r| r.is_some_and(|a| a.ip().is_loopback())));
    }

    /// An asynchronous `verify_client` slower than the handshake timeout gets 408.
    async fn verify_client_async_bounded_by_handshake_timeout<T: TestRt>() {
        let config = Config::default().handshake_timeout(Some(Duration::from_millis(200)));
        let builder = Server::builder().config(Arc::new(config)).verify_client_async(|_, _| async {
            sleep(Duration::from_secs(60)).await;
            true
        });
        let (_server, addr) = bind::<T>(builder).await;
        assert_eq!(rejected(try_client::<T>(addr, "/", |r| r).await).0, StatusCode::REQUEST_TIMEOUT);
    }

    /// `handle_protocols` chooses among the offered subprotocols.
    async fn handle_protocols_chooses<T: TestRt>() {
        let builder = Server::builder()
            .handle_protocols(|offers, _| offers.iter().find(|p| p.starts_with("v2")).map(|p| p.to_string()));
        let (server, addr) = bind::<T>(builder).await;
        let (_c, response) = try_client::<T>(addr, "/", |r| r.subprotocol("v1.chat").subprotocol("v2.chat"))
        .await
        .unwrap();
        assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "v2.chat");
        assert_eq!(within(server.accept()).await.unwrap().protocol.as_deref(), Some("v2.chat"));
    }

    /// `on_headers` adds a header to the 101 response.
    async fn on_headers_adds_a_header<T: TestRt>() {
        let builder = Server::builder().on_headers(|req, headers| {
            let value = format!("path={}", req.path());
            headers.insert("x-hello", HeaderValue::from_str(&value).unwrap());
        });
        let (_server, addr) = bind::<T>(builder).await;
        let (_c, response) = try_client::<T>(addr, "/greet", |r| r).await.unwrap();
        assert_eq!(response.headers().get("x-hello").unwrap(), "path=/greet");
    }

    /// `max_payload`: a message over it closes the connection with 1009 on both sides.
    async fn max_payload_closes_with_1009<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder().max_payload(10)).await;
        let mut c = client::<T>(addr, "/").await;
        let mut conn = within(server.accept()).await.unwrap();
        c.send("0123456789").await.unwrap();
        assert!(matches!(server_next(&mut conn).await, Event::Message(_)));
        c.send("0123456789x").await.unwrap();
        assert_eq!(closed_code(&mut c).await, 1009);
        let Event::Closed(info) = server_next(&mut conn).await else { panic!("expected Closed") };
        assert_eq!(info.sent.map(|f| f.code.as_u16()), Some(1009));
    }

    /// The server negotiates permessage-deflate when enabled (messages and broadcasts pass), not by default.
    async fn deflate_negotiated_when_enabled<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder().per_message_deflate(Some(DeflateConfig::default()))).await;
        let config = Config::default().permessage_deflate(Some(DeflateConfig::default()));
        let (mut c, response) = try_client_config::<T>(addr, "/", Arc::new(config.clone()), |r| r).await.unwrap();
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
        let (_server, addr) = bind::<T>(Server::builder()).await;
        let (_c, response) = try_client_config::<T>(addr, "/", Arc::new(config), |r| r).await.unwrap();
        assert!(response.headers().get("sec-websocket-extensions").is_none());
    }

    /// Client tracking lists each connection and drops it once it reports `Closed`.
    async fn clients_count_up_and_down<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        let mut clients = Vec::new();
        let mut conns = Vec::new();
        for i in 0..3 {
            clients.push(client::<T>(addr, "/").await);
            conns.push(within(server.accept()).await.unwrap());
            assert_eq!(server.clients().len(), i + 1);
        }
        let ids: Vec<_> = conns.iter().map(|c| c.id).collect();
        let mut listed = server.clients().ids();
        listed.sort();
        assert_eq!(listed, ids);
        assert!(server.clients().contains(ids[1]));
        // A client leaves: it is removed once its connection reports Closed. The server's
        // application reads its events (the close is echoed once it has taken them).
        let mut gone = clients.remove(1);
        let mut gone_events = conns.remove(1).events;
        let reader = T::spawn(async move { while gone_events.recv().await.is_some() {} });
        gone.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(closed_code(&mut gone).await, 1000);
        drop(gone);
        within(reader).await;
        eventually(|| server.clients().len() == 2).await;
        assert!(!server.clients().contains(ids[1]));
        // The app's own handles and receivers do not keep a closed client listed.
        drop(clients);
        eventually(|| server.clients().is_empty()).await;
        assert_eq!(server.clients().iter().count(), 0);
    }

    /// A tracked client has left `clients()` by the time the application sees its `Closed`.
    async fn a_closed_client_is_no_longer_listed_when_closed_arrives<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        for _ in 0..20 {
            let mut c = client::<T>(addr, "/").await;
            let mut conn = within(server.accept()).await.unwrap();
            assert!(server.clients().contains(conn.id));
            c.close(CloseCode::NORMAL, "").await.unwrap();
            loop {
                match within(conn.events.recv()).await {
                    Some(Ok(Event::Closed(_))) => break,
                    Some(_) => {}
                    None => panic!("no Closed"),
                }
            }
            assert!(!server.clients().contains(conn.id), "still listed when Closed arrived");
            assert!(server.clients().ids().iter().all(|id| *id != conn.id));
            drop(c);
        }
    }

    /// Without tracking no client is listed, and connections still run in driver mode.
    async fn untracked_server_keeps_no_clients<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder().client_tracking(false)).await;
        let mut c = client::<T>(addr, "/").await;
        let conn = within(server.accept()).await.unwrap();
        assert!(!server.is_tracking());
        assert!(server.clients().is_empty());
        conn.handle.send("driver mode anyway").await.unwrap();
        assert_eq!(next_text(&mut c).await, "driver mode anyway");
    }

    /// Broadcast to fifty clients (framed once), to all but one, and a plain message.
    async fn broadcast_to_fifty_and_except<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        let mut clients = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..50 {
            clients.push(client::<T>(addr, "/").await);
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

    /// `SlowPolicy::Drop`: a client that does not read misses broadcasts but stays; fast ones get everything.
    async fn slow_client_dropped<T: TestRt>() {
        let (n, dropped, closed, mut slow, server) = slow_client_run::<T>(SlowPolicy::Drop).await;
        assert_eq!(closed, 0);
        assert!(dropped >= 1);
        // The slow client stays connected and gets the messages that fit, then later ones.
        let slow_id = server.clients().ids().into_iter().max().unwrap();
        let handle = server.clients().get(slow_id).unwrap();
        let mut got = 0;
        let reader = T::spawn(async move {
            loop {
                match within(slow.recv()).await {
                    Some(Ok(Event::Message(Message::Binary(_)))) => got += 1,
                    Some(Ok(Event::Message(Message::Text(t)))) if t == "end" => return (got, slow),
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        within(handle.send("end")).await.unwrap();
        let (got, _slow) = within(reader).await;
        assert!(got < n, "got {got} of {n}");
        assert_eq!(got + dropped, n);
        assert_eq!(server.clients().len(), 4);
    }

    /// `SlowPolicy::Close`: a client that does not read is closed with 1013 and untracked.
    async fn slow_client_closed_with_1013<T: TestRt>() {
        let (n, dropped, closed, mut slow, server) = slow_client_run::<T>(SlowPolicy::Close).await;
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

    /// `shutdown`: clients get 1001, `accept` ends, in-flight and later upgrades get 503, the listener is gone.
    async fn shutdown_gracefully_with_1001_then_503<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        let server = Arc::new(server);
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(client::<T>(addr, "/").await);
            within(server.accept()).await.unwrap();
        }
        // A connection accepted but still in its handshake when the server closes.
        let mut pending = raw::<T>(within(T::connect(addr)).await.unwrap());
        sleep(Duration::from_millis(50)).await;
        // A pending accept() ends with Closed.
        let waiting = {
            let server = server.clone();
            T::spawn(async move { server.accept().await.map(|c| c.id) })
        };
        sleep(Duration::from_millis(20)).await;
        let closing = {
            let server = server.clone();
            T::spawn(async move { server.shutdown().await })
        };
        for c in &mut clients {
            assert_eq!(closed_code(c).await, 1001);
        }
        assert!(within(closing).await.is_none(), "bind's own listener is not handed back");
        assert!(server.clients().is_empty());
        assert!(matches!(within(waiting).await, Err(ServerError::Closed)));
        assert!(matches!(within(server.accept()).await, Err(ServerError::Closed)));
        // The in-flight handshake is answered 503.
        pending.write_all(upgrade_request("/", &addr.to_string()).as_bytes()).await.unwrap();
        let mut head = vec![0; 12];
        within(pending.read_exact(&mut head)).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 503");
        // The listener is gone.
        assert!(within(T::connect(addr)).await.is_err());
        // Later upgrades through any method get 503.
        let (a, b) = duplex(4096);
        let (client_side, server_side) = within(futures::future::join(
            connect_with::<_, T::R>(a, ClientRequest::new("localhost", "/"), Arc::new(Config::default())),
            server.accept_stream(b, ClientInfo::default()),
        ))
        .await;
        assert!(matches!(client_side, Err(ConnectError::Rejected { status: StatusCode::SERVICE_UNAVAILABLE, .. })));
        assert!(matches!(server_side, Err(AcceptError::Rejected { status: StatusCode::SERVICE_UNAVAILABLE, .. })));
        let head = upgrade_head("/");
        assert_eq!(server.respond(&head, &ClientInfo::default()).unwrap_err().status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    /// `Shutdown::Terminate`: `shutdown` drops connections without a close frame (1006).
    async fn shutdown_terminates_when_asked<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder().shutdown(Shutdown::Terminate)).await;
        let mut c = client::<T>(addr, "/").await;
        within(server.accept()).await.unwrap();
        within(server.shutdown()).await;
        // No close frame: the client sees the TCP close (1006).
        assert_eq!(closed_code(&mut c).await, 1006);
    }

    /// `serve` on a listener the application bound: `close` hands it back, still listening.
    async fn serve_on_an_existing_listener<T: TestRt>() {
        let listener = <T::R as Net>::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 128).unwrap();
        let addr = <T::R as Net>::listener_addr(&listener).unwrap();
        let server = Server::<T::R>::builder().path("/here").serve(listener);
        assert_eq!(server.local_addr(), Some(addr));
        let mut c = client::<T>(addr, "/here").await;
        let conn = within(server.accept()).await.unwrap();
        conn.handle.send("served").await.unwrap();
        assert_eq!(next_text(&mut c).await, "served");
        drop(c);
        drop(conn);
        let listener = within(server.close()).await.unwrap().expect("the application's listener comes back");
        assert_eq!(<T::R as Net>::listener_addr(&listener).unwrap(), addr);
        // A new server on the same listener.
        let again = Server::<T::R>::builder().path("/here").serve(listener);
        let mut c = client::<T>(addr, "/here").await;
        let conn = within(again.accept()).await.unwrap();
        conn.handle.send("again").await.unwrap();
        assert_eq!(next_text(&mut c).await, "again");
    }

    /// `close` as Node 8's: established connections stay open, later upgrades get 503,
    /// `local_addr` is gone, it resolves once the tracked clients are gone, and a second call
    /// reports that the server is not running.
    async fn close_leaves_connections_open_and_resolves_when_they_are_gone<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        let server = Arc::new(server);
        let mut c = client::<T>(addr, "/").await;
        let conn = within(server.accept()).await.unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let closing = {
            let (server, done) = (server.clone(), done.clone());
            T::spawn(async move {
                let result = server.close().await.map(|l| l.is_none());
                done.store(true, Ordering::SeqCst);
                result
            })
        };
        eventually(|| server.is_closing()).await;
        assert_eq!(server.local_addr(), None);
        assert!(matches!(within(server.accept()).await, Err(ServerError::Closed)));
        let head = upgrade_head("/");
        assert_eq!(server.respond(&head, &ClientInfo::default()).unwrap_err().status(), StatusCode::SERVICE_UNAVAILABLE);
        // The established connection still works both ways.
        conn.handle.send("still here").await.unwrap();
        assert_eq!(next_text(&mut c).await, "still here");
        assert_eq!(server.clients().len(), 1);
        sleep(Duration::from_millis(50)).await;
        assert!(!done.load(Ordering::SeqCst), "close waits for the tracked client");
        // The client leaves; the server's application reads its events; close resolves.
        let mut events = conn.events;
        let reader = T::spawn(async move { while events.recv().await.is_some() {} });
        c.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(closed_code(&mut c).await, 1000);
        drop(c);
        within(reader).await;
        assert!(within(closing).await.unwrap());
        assert!(matches!(within(server.close()).await, Err(ServerError::Closed)), "the server is not running");
    }

    /// `listen(port)` takes every address: IPv4 and IPv6 loopback reach the same server.
    async fn listen_on_a_port_takes_ipv4_and_ipv6<T: TestRt>() {
        let server = within(Server::<T::R>::builder().listen(0)).await.unwrap();
        let port = server.local_addr().unwrap().port();
        for host in ["127.0.0.1", "[::1]"] {
            let url = format!("ws://{host}:{port}/");
            let (mut c, _) = within(ws_async::connect::<T::R>(&url)).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let conn = within(server.accept()).await.unwrap();
            conn.handle.send(host).await.unwrap();
            assert_eq!(next_text(&mut c).await, host);
        }
    }

    /// noServer mode (`build`) has no listener: `accept` fails with `NoListener`.
    async fn no_server_mode_has_no_listener<T: TestRt>() {
        let server = Server::<T::R>::builder().build();
        assert_eq!(server.local_addr(), None);
        assert!(matches!(server.accept().await, Err(ServerError::NoListener)));
    }

    /// `handle_upgrade` with a head parsed elsewhere keeps the bytes read past it; unhandled requests get 400.
    async fn handle_upgrade_with_a_head_parsed_elsewhere<T: TestRt>() {
        let server = Arc::new(Server::<T::R>::builder().path("/raw").build());
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let task = {
            let server = server.clone();
            T::spawn(async move {
                let (tcp, remote) = T::accept(&listener).await.unwrap();
                let mut tcp = raw::<T>(tcp);
                let (req, head) = read_head(&mut tcp).await;
                let mut ws = server
                    .handle_upgrade(&req, tcp.into_inner(), head.clone(), ClientInfo::new(Some(remote)))
                    .await
                    .unwrap();
                // The frame that arrived with the head is not lost.
                let first = ws.recv().await.unwrap().unwrap();
                ws.send("ok").await.unwrap();
                (head.len(), first)
            })
        };
        // The client writes its request and a first masked frame ("hi") in one go.
        let mut tcp = raw::<T>(within(T::connect(addr)).await.unwrap());
        let mut bytes = upgrade_request("/raw", &addr.to_string()).into_bytes();
        let key = [1u8, 2, 3, 4];
        bytes.extend_from_slice(&[0x81, 0x82]);
        bytes.extend_from_slice(&key);
        bytes.extend(b"hi".iter().zip(key).map(|(b, k)| b ^ k));
        tcp.write_all(&bytes).await.unwrap();
        let (leftover, first) = within(task).await;
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
        let (a, b) = duplex(4096);
        let req = upgrade_head("/elsewhere");
        let result = server.handle_upgrade(&req, b, Bytes::new(), ClientInfo::default()).await;
        assert!(matches!(result, Err(AcceptError::Rejected { status: StatusCode::BAD_REQUEST, .. })));
        drop(a);
    }

    /// The client's addresses reach `ClientInfo`; `forwarded_for` reads `X-Forwarded-For`.
    async fn client_ip_and_forwarded_for<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        let _c = try_client::<T>(addr, "/", |r| r.header("x-forwarded-for", "203.0.113.7, 10.0.0.1"))
        .await
        .unwrap();
        let conn = within(server.accept()).await.unwrap();
        assert!(conn.info.remote.unwrap().ip().is_loopback());
        assert_eq!(conn.info.local, Some(addr));
        assert!(!conn.info.secure);
        assert_eq!(forwarded_for(&conn.request), Some(IpAddr::from([203, 0, 113, 7])));
        let _c = client::<T>(addr, "/").await;
        assert_eq!(forwarded_for(&within(server.accept()).await.unwrap().request), None);
    }

    /// `accept_websocket` hands out a plain `WebSocket`, not tracked.
    async fn accept_websocket_is_plain_and_untracked<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder()).await;
        let mut c = client::<T>(addr, "/plain").await;
        let mut accepted = within(server.accept_websocket()).await.unwrap();
        assert_eq!(accepted.request.uri().path(), "/plain");
        assert!(server.clients().is_empty());
        accepted.ws.send("plain").await.unwrap();
        assert_eq!(next_text(&mut c).await, "plain");
    }

    /// `max_connections(2)`: below and at the cap upgrades go through (one upgraded and still
    /// waiting for `accept` holds its place), above it they get 503 after every other check,
    /// and a place frees as soon as a tracked client leaves. `max_connections(0)` refuses all.
    async fn max_connections_below_at_and_above_the_cap<T: TestRt>() {
        let (server, addr) = bind::<T>(Server::builder().path("/chat").max_connections(2)).await;
        // Below the cap.
        let mut first = client::<T>(addr, "/chat").await;
        let mut first_conn = within(server.accept()).await.unwrap();
        assert_eq!(server.clients().len(), 1);
        // At the cap: upgraded, not accepted yet, and counted.
        let _second = client::<T>(addr, "/chat").await;
        assert_eq!(server.clients().len(), 1);
        // Above it: 503, after the other checks (a wrong path is still a 400).
        let (status, _, body) = rejected(try_client::<T>(addr, "/chat", |r| r).await);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(&body[..], b"the server is at its limit of 2 connections");
        assert_eq!(rejected(try_client::<T>(addr, "/other", |r| r).await).0, StatusCode::BAD_REQUEST);
        let _second_conn = within(server.accept()).await.unwrap();
        assert_eq!(server.clients().len(), 2);
        assert_eq!(rejected(try_client::<T>(addr, "/chat", |r| r).await).0, StatusCode::SERVICE_UNAVAILABLE);
        // A tracked client leaves: its place is free again.
        first.close(CloseCode::NORMAL, "bye").await.unwrap();
        while !matches!(server_next(&mut first_conn).await, Event::Closed(_)) {}
        assert_eq!(closed_code(&mut first).await, 1000);
        let mut third = client::<T>(addr, "/chat").await;
        let third_conn = within(server.accept()).await.unwrap();
        assert_eq!(server.clients().len(), 2);
        third_conn.handle.send("in").await.unwrap();
        assert_eq!(next_text(&mut third).await, "in");
        assert_eq!(rejected(try_client::<T>(addr, "/chat", |r| r).await).0, StatusCode::SERVICE_UNAVAILABLE);

        let (_none, addr) = bind::<T>(Server::builder().max_connections(0)).await;
        assert_eq!(rejected(try_client::<T>(addr, "/", |r| r).await).0, StatusCode::SERVICE_UNAVAILABLE);
    }
}
