//! Client ↔ server over 127.0.0.1 (and a Unix socket): messages, control frames, closing,
//! rejection, split halves, timers and EOF. Every test runs under a watchdog.

use std::io::{Read, Write};

mod common;
use common::{pattern, serve, watchdog, ReadEvent};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ws_blocking::http::{HeaderMap, StatusCode};
use ws_blocking::ws_proto::{Error as ProtoError, HandshakeError, Initiator, ProtocolError, TimeoutKind};
use ws_blocking::{
    accept, accept_hdr, accept_with, connect, connect_config, connect_with, dial, Accept, AcceptError, Bytes,
    ClientRequest, CloseCode, CloseInfo, Config, ConnectError, Error, Event, Message, MessageKind, Plain, Rejection,
    SendError, ServerOptions, WebSocket,
};

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

/// Echoes messages until the connection closes; returns how it closed.
fn echo<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> CloseInfo {
    loop {
        match ws.read_event().expect("server read") {
            Event::Message(m) => ws.send(m).expect("server send"),
            Event::Closed(info) => return info,
            _ => {}
        }
    }
}

fn echo_server() -> SocketAddr {
    let config = Config::default().max_message_size(Some(64 << 20));
    let config = Arc::new(config);
    let options = Arc::new(ServerOptions::default());
    serve(usize::MAX, move |stream| {
        if let Ok(mut ws) = accept_with(stream, config.clone(), options.clone()) {
            echo(&mut ws);
        }
    })
    .0
}

/// The next data message, skipping control events.
fn next_message<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> Message {
    loop {
        match ws.read_event().expect("read") {
            Event::Message(m) => return m,
            Event::Closed(info) => panic!("closed early: {info:?}"),
            _ => {}
        }
    }
}

fn next_closed<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> CloseInfo {
    loop {
        if let Event::Closed(info) = ws.read_event().expect("read") {
            return info;
        }
    }
}

/// A server that sends `messages` in one write, then holds the connection open (reading
/// nothing) until the returned sender is dropped.
fn sends_then_waits(messages: &'static [&'static str]) -> (SocketAddr, mpsc::Sender<()>) {
    let (done, wait) = mpsc::channel::<()>();
    let wait = std::sync::Mutex::new(Some(wait));
    let (addr, _) = serve(1, move |stream| {
        let mut ws = accept(stream).expect("accept");
        for m in messages {
            ws.feed(*m).expect("feed");
        }
        ws.flush().expect("flush");
        if let Some(wait) = wait.lock().unwrap().take() {
            let _ = wait.recv();
        }
    });
    (addr, done)
}

/// After `terminate`, the messages already received are still delivered before `Closed`
/// (1006), as Node `ws` emits them before 'close': on the whole socket and through the split
/// reader when the writer terminates.
#[test]
fn terminate_delivers_the_messages_already_received() {
    watchdog(20, || {
        let (addr, _done) = sends_then_waits(&["one", "two", "three"]);
        let (mut ws, _) = connect(&url(addr, "/")).expect("connect");
        // All three are in the socket buffer: the first read takes them together.
        thread::sleep(Duration::from_millis(100));
        assert_eq!(next_message(&mut ws), Message::text("one"));
        assert!(ws.connection().buffered_input() > 0, "the rest was read with the first message");
        ws.terminate();
        for m in ["two", "three"] {
            assert!(matches!(ws.read_event().expect(m), Event::Message(got) if got == Message::text(m)), "{m}");
        }
        match ws.read_event().expect("closed") {
            Event::Closed(info) => assert_eq!((info.code(), info.initiator), (CloseCode::ABNORMAL, Initiator::Local)),
            other => panic!("expected Closed after the messages received, got {other:?}"),
        }
        assert!(ws.recv().is_none());

        let (addr, _done) = sends_then_waits(&["one", "two", "three"]);
        let (ws, _) = connect(&url(addr, "/")).expect("connect");
        thread::sleep(Duration::from_millis(100));
        let (mut reader, mut writer) = ws.split();
        assert!(matches!(reader.read_event().expect("one"), Event::Message(m) if m == Message::text("one")));
        writer.terminate();
        for m in ["two", "three"] {
            assert!(matches!(reader.read_event().expect(m), Event::Message(got) if got == Message::text(m)), "{m}");
        }
        match reader.read_event().expect("closed") {
            Event::Closed(info) => assert_eq!(info.code(), CloseCode::ABNORMAL),
            other => panic!("expected Closed after the messages received, got {other:?}"),
        }
    });
}

#[test]
fn echo_text_binary_empty() {
    watchdog(20, || {
        let addr = echo_server();
        let (mut ws, response) = connect(&url(addr, "/")).unwrap();
        assert_eq!(response.status(), 101);
        ws.send("hello").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("hello"));
        ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
        assert_eq!(next_message(&mut ws), Message::binary(vec![1u8, 2, 3]));
        ws.send(Message::text("")).unwrap();
        assert_eq!(next_message(&mut ws), Message::text(""));
        ws.send(Message::binary(Bytes::new())).unwrap();
        assert_eq!(next_message(&mut ws), Message::binary(Bytes::new()));
        ws.send(Message::text("héllo wörld ✓")).unwrap();
        assert_eq!(next_message(&mut ws), Message::text("héllo wörld ✓"));
        // Many small messages queued with feed and written at once.
        for i in 0..50 {
            ws.feed(format!("m{i}")).unwrap();
        }
        assert!(ws.buffered_amount() > 0);
        ws.flush().unwrap();
        assert_eq!(ws.buffered_amount(), 0);
        for i in 0..50 {
            assert_eq!(next_message(&mut ws), Message::text(format!("m{i}")));
        }
        ws.close_with(None).unwrap();
        let info = next_closed(&mut ws);
        assert!(info.was_clean(), "{info:?}");
        assert_eq!(info.code(), CloseCode::NO_STATUS);
    });
}

#[test]
fn fragmented_both_ways() {
    watchdog(20, || {
        // The server splits what it sends into 1000-byte frames.
        let config = Config::default().outgoing_fragment_size(Some(1000));
        let config = Arc::new(config);
        let (addr, _) = serve(1, move |stream| {
            let mut ws = accept_with(stream, config.clone(), Arc::new(ServerOptions::default())).unwrap();
            echo(&mut ws);
        });
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        // The client streams a message in three frames, with a ping in between.
        ws.send_frame_part(MessageKind::Text, "hel", false).unwrap();
        ws.ping("mid").unwrap();
        ws.send_frame_part(MessageKind::Text, "lo ", false).unwrap();
        assert!(matches!(ws.send("other"), Err(Error::Send(SendError::MessageInProgress))));
        ws.send_frame_part(MessageKind::Binary, "world", true).unwrap();
        let mut pong = false;
        let msg = loop {
            match ws.read_event().unwrap() {
                Event::Pong(p) => {
                    assert_eq!(&p[..], b"mid");
                    pong = true;
                }
                Event::Message(m) => break m,
                other => panic!("{other:?}"),
            }
        };
        assert!(pong);
        assert_eq!(msg, Message::text("hello world"));
        // 10 000 bytes come back in 10 frames and are assembled.
        let big = "x".repeat(10_000);
        ws.send(big.as_str()).unwrap();
        assert_eq!(next_message(&mut ws), Message::text(big));
        ws.close(1000u16, "").unwrap();
        next_closed(&mut ws);
    });
}

#[test]
fn fragments_delivered_as_they_arrive() {
    watchdog(20, || {
        let addr = echo_server();
        let config = Config::default().deliver_fragments(true);
        let (mut ws, _) = connect_config(&url(addr, "/"), Arc::new(config)).unwrap();
        let payload = pattern(300_000);
        ws.send(Message::binary(payload.clone())).unwrap();
        let mut got = Vec::new();
        loop {
            match ws.read_event().unwrap() {
                Event::Fragment(f) => {
                    assert_eq!(f.kind, MessageKind::Binary);
                    got.extend_from_slice(&f.data);
                    if f.fin {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, payload);
    });
}

#[test]
fn large_message_8_mib() {
    watchdog(60, || {
        let addr = echo_server();
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        let payload = pattern(8 << 20);
        ws.send(Message::binary(payload.clone())).unwrap();
        match next_message(&mut ws) {
            Message::Binary(b) => assert!(b == payload, "payload differs"),
            other => panic!("{other:?}"),
        }
        let text = "ü".repeat(2 << 20);
        ws.send(Message::text(text.as_str())).unwrap();
        assert_eq!(next_message(&mut ws), Message::text(text));
    });
}

#[test]
fn ping_pong_both_directions() {
    watchdog(20, || {
        let (addr, done) = serve(1, |stream| {
            let mut ws = accept(stream).unwrap();
            // The client's ping arrives (and was answered by the library).
            match ws.read_event().unwrap() {
                Event::Ping(p) => assert_eq!(&p[..], b"from client"),
                other => panic!("{other:?}"),
            }
            ws.ping("from server").unwrap();
            match ws.read_event().unwrap() {
                Event::Pong(p) => assert_eq!(&p[..], b"from server"),
                other => panic!("{other:?}"),
            }
            assert!(matches!(ws.ping([0u8; 126]), Err(Error::Send(SendError::ControlPayloadTooLong(126)))));
            let info = next_closed(&mut ws);
            assert_eq!(info.initiator, Initiator::Remote);
        });
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        ws.ping("from client").unwrap();
        match ws.read_event().unwrap() {
            Event::Pong(p) => assert_eq!(&p[..], b"from client"),
            other => panic!("{other:?}"),
        }
        // The server's ping is answered while we only read.
        match ws.read_event().unwrap() {
            Event::Ping(p) => assert_eq!(&p[..], b"from server"),
            other => panic!("{other:?}"),
        }
        ws.pong("unsolicited").unwrap();
        ws.close_with(None).unwrap();
        next_closed(&mut ws);
        done.recv().unwrap();
    });
}

#[test]
fn client_closes_with_code_and_reason() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, done) = serve(1, move |stream| {
            let mut ws = accept(stream).unwrap();
            let info = next_closed(&mut ws);
            // After Closed: wait for the client's TCP close, then ConnectionClosed.
            assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
            assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
            assert!(matches!(ws.send("late"), Err(Error::Send(SendError::NotOpen))));
            tx.send(info).unwrap();
        });
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        ws.close(4001u16, "bye now").unwrap();
        assert!(matches!(ws.send("after close"), Err(Error::Send(SendError::CloseAlreadySent))));
        assert!(matches!(ws.close_with(None), Err(Error::Send(SendError::CloseAlreadySent))));
        let info = next_closed(&mut ws);
        assert!(info.was_clean(), "{info:?}");
        assert_eq!(info.initiator, Initiator::Local);
        assert_eq!(info.code().as_u16(), 4001);
        assert_eq!(info.reason(), "bye now");
        // The server closes TCP first; the next read sees it and ends.
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        let server = rx.recv().unwrap();
        assert_eq!(server.initiator, Initiator::Remote);
        assert_eq!(server.code().as_u16(), 4001);
        assert_eq!(server.reason(), "bye now");
        assert!(server.was_clean());
        done.recv().unwrap();
    });
}

#[test]
fn server_closes_with_code_and_reason() {
    watchdog(20, || {
        let (addr, done) = serve(1, |stream| {
            let mut ws = accept(stream).unwrap();
            ws.send("last words").unwrap();
            ws.close(CloseCode::GOING_AWAY, "shutting down").unwrap();
            // Messages still arriving before the client's close are delivered.
            assert_eq!(next_message(&mut ws), Message::text("in flight"));
            let info = next_closed(&mut ws);
            assert_eq!(info.initiator, Initiator::Local);
            assert_eq!(info.code(), CloseCode::GOING_AWAY);
            assert!(info.was_clean());
            assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        });
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        assert_eq!(next_message(&mut ws), Message::text("last words"));
        // Sent before we read the close: the server still takes it.
        ws.send("in flight").unwrap();
        let info = next_closed(&mut ws);
        assert_eq!(info.initiator, Initiator::Remote);
        assert_eq!(info.code(), CloseCode::GOING_AWAY);
        assert_eq!(info.reason(), "shutting down");
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        done.recv().unwrap();
    });
}

#[test]
fn rejection_by_path() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(2, move |stream| {
            let options = ServerOptions::default().path("/x");
            let result = accept_with(stream, Arc::new(Config::default()), Arc::new(options));
            tx.send(result.map(|_| ()).map_err(|e| match e {
                AcceptError::Rejected { status, error } => (status.as_u16(), error),
                other => panic!("{other:?}"),
            }))
            .unwrap();
        });
        match connect(&url(addr, "/y")) {
            Err(ConnectError::Rejected { status, headers, body }) => {
                assert_eq!(status, 400);
                assert!(headers.contains_key("content-length"));
                assert!(!body.is_empty());
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert_eq!(rx.recv().unwrap(), Err((400, Some(HandshakeError::PathNotFound))));
        // The right path is accepted.
        let (mut ws, _) = connect(&url(addr, "/x")).unwrap();
        assert_eq!(rx.recv().unwrap(), Ok(()));
        drop(ws.close_with(None));
    });
}

#[test]
fn custom_rejection_and_request_inspection() {
    watchdog(20, || {
        let (addr, _) = serve(2, |stream| {
            let _ =
                accept_hdr(stream, Arc::new(Config::default()), Arc::new(ServerOptions::default()), |req| {
                    match req.request().headers().get("authorization") {
                        Some(v) if v == "Bearer ok" => Ok(Accept::with_subprotocol("chat")),
                        _ => Err(Rejection::new(
                            StatusCode::UNAUTHORIZED,
                            HeaderMap::new(),
                            Bytes::from_static(b"who are you?"),
                        )),
                    }
                })
                .map(|mut ws| echo(&mut ws));
        });
        match connect(&url(addr, "/")) {
            Err(ConnectError::Rejected { status, body, .. }) => {
                assert_eq!(status, 401);
                assert_eq!(&body[..], b"who are you?");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let (stream, mut request) = dial(&url(addr, "/")).unwrap();
        request = request.header("Authorization", "Bearer ok").subprotocol("chat");
        let (mut ws, response) = connect_with(stream, request, Arc::new(Config::default())).unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(ws.protocol(), Some("chat"));
        ws.send("hi").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("hi"));
    });
}

#[test]
fn subprotocol_negotiation() {
    watchdog(20, || {
        let (addr, _) = serve(1, |stream| {
            let options = ServerOptions::default().subprotocols(["v2", "v1"]);
            let mut ws = accept_with(stream, Arc::new(Config::default()), Arc::new(options)).unwrap();
            assert_eq!(ws.protocol(), Some("v1"));
            echo(&mut ws);
        });
        let (stream, mut request) = dial(&url(addr, "/")).unwrap();
        request = request.subprotocol("v1").subprotocol("v2");
        let (ws, _) = connect_with(stream, request, Arc::new(Config::default())).unwrap();
        assert_eq!(ws.protocol(), Some("v1"));
    });
}

#[cfg(unix)]
#[test]
fn unix_socket_round_trip() {
    use std::os::unix::net::UnixListener;
    watchdog(20, || {
        let dir = std::env::temp_dir().join(format!(
            "ws-blocking-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("echo.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = accept_hdr(stream, Arc::new(Config::default()), Arc::new(ServerOptions::default()), |req| {
                assert_eq!(req.path(), "/chat");
                assert_eq!(req.query(), Some("room=1"));
                req.negotiate()
            })
            .unwrap();
            echo(&mut ws)
        });
        let (mut ws, _) = connect(&format!("ws+unix://{}:/chat?room=1", sock.display())).unwrap();
        assert!(matches!(ws.get_ref(), ws_blocking::Stream::Unix(_)));
        ws.send("over unix").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("over unix"));
        ws.send(Message::binary(pattern(1 << 20))).unwrap();
        assert_eq!(next_message(&mut ws), Message::binary(pattern(1 << 20)));
        ws.close(1000u16, "done").unwrap();
        assert_eq!(next_closed(&mut ws).code(), CloseCode::NORMAL);
        assert_eq!(server.join().unwrap().code(), CloseCode::NORMAL);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn split_reader_and_writer_threads() {
    watchdog(30, || {
        const N: usize = 200;
        let (tx, rx) = mpsc::channel();
        let (addr, done) = serve(1, move |stream| {
            let ws = accept(stream).unwrap();
            let (mut reader, mut writer) = ws.split();
            let writing = thread::spawn(move || {
                for i in 0..N {
                    writer.send(format!("msg {i}")).unwrap();
                }
                writer
            });
            // This thread only reads: pings get their pongs anyway.
            let mut pings = 0;
            let info = loop {
                match reader.read_event().unwrap() {
                    Event::Ping(_) => pings += 1,
                    Event::Closed(info) => break info,
                    other => panic!("{other:?}"),
                }
            };
            let mut writer = writing.join().unwrap();
            assert!(matches!(writer.send("late"), Err(Error::Send(SendError::NotOpen))));
            assert!(matches!(reader.read_event(), Err(Error::ConnectionClosed)));
            tx.send((pings, info)).unwrap();
        });
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        let mut received = 0;
        let mut pongs = 0;
        for i in 0..20 {
            ws.ping(format!("p{i}")).unwrap();
        }
        while received < N || pongs < 20 {
            match ws.read_event().unwrap() {
                Event::Message(Message::Text(t)) => {
                    assert_eq!(t, format!("msg {received}").as_str());
                    received += 1;
                }
                Event::Pong(p) => {
                    // Only the latest ping needs an answer, but unanswered ones are dropped only
                    // if still queued: count what came back in order.
                    assert!(p.starts_with(b"p"));
                    pongs += 1;
                    if p == Bytes::from_static(b"p19") {
                        pongs = 20;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        ws.close(4002u16, "split done").unwrap();
        let info = next_closed(&mut ws);
        assert!(info.was_clean(), "{info:?}");
        // Our TCP close lets the server's reader finish too.
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        let (pings, server) = rx.recv().unwrap();
        assert_eq!(pings, 20);
        assert_eq!(server.code().as_u16(), 4002);
        done.recv().unwrap();
    });
}

#[test]
fn split_client_closes_from_writer() {
    watchdog(20, || {
        let addr = echo_server();
        let (ws, _) = connect(&url(addr, "/")).unwrap();
        let (mut reader, mut writer) = ws.split();
        let reading = thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match reader.read_event().unwrap() {
                    Event::Message(m) => got.push(m),
                    Event::Closed(info) => return (got, info),
                    _ => {}
                }
            }
        });
        for i in 0..100 {
            writer.send(Message::binary(vec![i as u8; 1000])).unwrap();
        }
        writer.close(1000u16, "").unwrap();
        let (got, info) = reading.join().unwrap();
        assert_eq!(got.len(), 100);
        assert!(info.was_clean(), "{info:?}");
    });
}

/// A server that completes the handshake and then neither reads nor writes for `secs`.
fn silent_server(secs: u64) -> SocketAddr {
    serve(1, move |stream| {
        let ws = accept(stream).unwrap();
        thread::sleep(Duration::from_secs(secs));
        drop(ws);
    })
    .0
}

#[test]
fn close_timeout_via_read_timeout() {
    watchdog(20, || {
        let addr = silent_server(5);
        let config = Config::default().close_timeout(Some(Duration::from_millis(200)));
        let (mut ws, _) = connect_config(&url(addr, "/"), Arc::new(config)).unwrap();
        let start = Instant::now();
        ws.close(1000u16, "").unwrap();
        let info = next_closed(&mut ws);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(190) && took < Duration::from_secs(3), "{took:?}");
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close)));
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
    });
}

#[test]
fn keepalive_pong_deadline() {
    watchdog(20, || {
        // The peer never reads, so never answers: the pong deadline fails the connection.
        let addr = silent_server(5);
        let mut config =
            Config::default().keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_millis(200)));
        config = config.close_timeout(Some(Duration::from_millis(200)));
        let (mut ws, _) = connect_config(&url(addr, "/"), Arc::new(config)).unwrap();
        let start = Instant::now();
        let info = next_closed(&mut ws);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(290) && took < Duration::from_secs(3), "{took:?}");
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
        assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::INTERNAL_ERROR));
        // Then the close timeout ends the wait for the peer.
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        assert!(start.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn blocked_send_released_by_timers() {
    watchdog(20, || {
        // The peer stops reading: the send blocks until the pong deadline and then the close
        // timeout end the connection (write timeouts), and the data is dropped.
        let addr = silent_server(5);
        let mut config =
            Config::default().keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_millis(200)));
        config = config.close_timeout(Some(Duration::from_millis(200)));
        let (mut ws, _) = connect_config(&url(addr, "/"), Arc::new(config)).unwrap();
        let start = Instant::now();
        let result = ws.send(Message::binary(vec![0u8; 64 << 20]));
        let took = start.elapsed();
        assert!(matches!(result, Err(Error::ConnectionClosed)), "{result:?}");
        assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(4), "{took:?}");
        let info = next_closed(&mut ws);
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
    });
}

#[test]
fn split_timers_release_blocked_writer() {
    watchdog(20, || {
        let addr = silent_server(5);
        let mut config =
            Config::default().keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_millis(200)));
        config = config.close_timeout(Some(Duration::from_millis(200)));
        let (ws, _) = connect_config(&url(addr, "/"), Arc::new(config)).unwrap();
        let (mut reader, mut writer) = ws.split();
        let start = Instant::now();
        let reading = thread::spawn(move || {
            let info = loop {
                if let Event::Closed(info) = reader.read_event().unwrap() {
                    break info;
                }
            };
            (info, reader)
        });
        // Released by its own write timeout (`ConnectionClosed`), or by the reader's timers
        // ending the connection between two writes (`Ok`: the rest was dropped).
        let result = writer.send(Message::binary(vec![0u8; 64 << 20]));
        assert!(matches!(result, Ok(()) | Err(Error::ConnectionClosed)), "{result:?}");
        let (info, mut reader) = reading.join().unwrap();
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
        assert!(matches!(reader.read_event(), Err(Error::ConnectionClosed)));
        assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());
    });
}

#[test]
fn keepalive_answered_by_reading_peer() {
    watchdog(20, || {
        let addr = echo_server();
        let config = Config::default().keep_alive(Some(Duration::from_millis(50)), Some(Duration::from_millis(500)));
        let (mut ws, _) = connect_config(&url(addr, "/"), Arc::new(config)).unwrap();
        // Nothing is sent by the application: the keepalive pings bring pongs back.
        for _ in 0..3 {
            match ws.read_event().unwrap() {
                Event::Pong(p) => assert!(p.is_empty()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(ws.connection().state(), ws_proto::State::Open);
    });
}

#[test]
fn server_handshake_timeout() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(1, move |stream| {
            let config = Config::default().handshake_timeout(Some(Duration::from_millis(200)));
            let start = Instant::now();
            let result = accept_with(stream, Arc::new(config), Arc::new(ServerOptions::default()));
            tx.send((start.elapsed(), result.map(|_| ()))).unwrap();
        });
        let mut raw = TcpStream::connect(addr).unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(); // incomplete head
        let mut response = String::new();
        raw.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        let (took, result) = rx.recv().unwrap();
        assert!(took >= Duration::from_millis(190) && took < Duration::from_secs(3), "{took:?}");
        match result {
            Err(AcceptError::Rejected { status, error }) => {
                assert_eq!(status, 408);
                assert_eq!(error, Some(HandshakeError::Timeout));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn client_handshake_timeout() {
    watchdog(20, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            thread::sleep(Duration::from_secs(2));
            drop(s);
        });
        let config = Config::default().handshake_timeout(Some(Duration::from_millis(200)));
        let start = Instant::now();
        match connect_config(&url(addr, "/"), Arc::new(config)) {
            Err(ConnectError::Timeout) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        hold.join().unwrap();
    });
}

#[test]
fn eof_without_close_frame() {
    watchdog(20, || {
        let (addr, _) = serve(1, |stream| {
            let ws = accept(stream).unwrap();
            let stream = ws.into_inner();
            drop(stream);
        });
        let (mut ws, _) = connect(&url(addr, "/")).unwrap();
        let info = next_closed(&mut ws);
        assert_eq!(info.error, Some(ProtoError::UnexpectedEof));
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        assert!(!info.was_clean());
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
    });
}

#[test]
fn eof_during_handshake() {
    watchdog(20, || {
        // The server hangs up before answering.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
        });
        match connect(&url(addr, "/")) {
            Err(ConnectError::Handshake(HandshakeError::UnexpectedEof)) | Err(ConnectError::Io(_)) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
        t.join().unwrap();
        // The client hangs up before its request is complete.
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(1, move |stream| tx.send(accept(stream).map(|_| ())).unwrap());
        let mut raw = TcpStream::connect(addr).unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        drop(raw);
        match rx.recv().unwrap() {
            Err(AcceptError::Rejected { error: Some(HandshakeError::UnexpectedEof), .. }) | Err(AcceptError::Io(_)) => {
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn protocol_error_is_an_event_not_an_io_error() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(1, move |stream| {
            let mut ws = accept(stream).unwrap();
            tx.send(next_closed(&mut ws)).unwrap();
        });
        let mut raw = TcpStream::connect(addr).unwrap();
        raw.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        // An unmasked frame from a client breaks RFC 6455.
        raw.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        let mut all = Vec::new();
        raw.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 101"), "{text}");
        let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let frame = &all[head_end..];
        assert_eq!(frame[0], 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1002);
        let info = rx.recv().unwrap();
        assert_eq!(info.error, Some(ProtoError::Protocol(ProtocolError::UnmaskedFrameFromClient)));
        assert_eq!(info.initiator, Initiator::Library);
    });
}

#[test]
fn plain_wrapper_and_wss_error() {
    watchdog(20, || {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).unwrap();
        let request = ClientRequest::new(&addr.to_string(), "/plain");
        let (mut ws, _) = connect_with(Plain(stream), request, Arc::new(Config::default())).unwrap();
        ws.send("plain").unwrap();
        assert_eq!(next_message(&mut ws), Message::text("plain"));
        ws.close_with(None).unwrap();
        next_closed(&mut ws);
        let err = connect("wss://127.0.0.1:1/").map(|_| ()).unwrap_err();
        // With TLS (feature `rustls`, tests/tls.rs), nothing listens on port 1.
        #[cfg(feature = "rustls")]
        assert!(matches!(err, ConnectError::Io(_)), "{err:?}");
        #[cfg(not(feature = "rustls"))]
        assert!(matches!(err, ConnectError::InvalidUrl(_)), "{err:?}");
    });
}

#[test]
fn halves_are_send() {
    fn is_send<T: Send>() {}
    is_send::<WebSocket<TcpStream>>();
    is_send::<ws_blocking::Reader<TcpStream>>();
    is_send::<ws_blocking::Writer<TcpStream>>();
}

/// Node's pause rules: while paused nothing is read (a receive returns `WouldBlock`); pause and
/// resume do nothing once the connection is closed, and a connection paused before its end
/// still reports `Closed`.
#[test]
fn pause_rules() {
    watchdog(20, || {
        let addr = echo_server();
        let (mut ws, _) = connect(&url(addr, "/")).expect("connect");
        ws.pause();
        assert!(ws.is_paused());
        match ws.recv() {
            Some(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
            other => panic!("paused: {other:?}"),
        }
        ws.resume();
        ws.send(Message::text("one")).expect("send");
        assert_eq!(next_message(&mut ws), Message::text("one"));
        ws.pause();
        ws.terminate();
        ws.resume();
        assert!(ws.is_paused(), "resume after the close does nothing");
        assert!(matches!(ws.read_event().expect("closed"), Event::Closed(_)), "Closed despite the pause");

        let (mut ws, _) = connect(&url(addr, "/")).expect("connect");
        ws.terminate();
        next_closed(&mut ws);
        ws.pause();
        assert!(!ws.is_paused(), "pause after the close does nothing");
    });
}
