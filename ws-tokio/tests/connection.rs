//! `WebSocket<S>` end to end: handshakes, messages, control frames, closing, timers, errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
#[cfg(feature = "futures")]
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::http::{HeaderMap, StatusCode};
use ws_tokio::ws_proto::{Error as ProtoError, HandshakeError, Initiator, Role, TimeoutKind};
use ws_tokio::{
    accept_async_with, accept_hdr_with, accept_with, connect, connect_config, connect_with, Accept, AcceptError, Bytes,
    ClientRequest, CloseCode, ConnectError, Event, Message, MessageKind, Rejection, ServerOptions, State, WebSocket,
};

/// Echoes messages until the connection ends; returns how it ended.
async fn echo<S>(mut ws: WebSocket<S>) -> ws_tokio::CloseInfo
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut info = None;
    while let Some(event) = ws.recv().await {
        match event.unwrap() {
            Event::Message(m) => {
                let _ = ws.send(m).await;
            }
            Event::Closed(i) => info = Some(i),
            _ => {}
        }
    }
    info.expect("Closed was reported")
}

#[tokio::test]
async fn echo_close_and_accessors_over_tcp() {
    let (mut client, server) = tcp_pair(config()).await;
    let server = tokio::spawn(echo(server));
    assert_eq!(client.ready_state(), State::Open);
    assert_eq!(client.url(), None);
    assert_eq!(client.protocol(), None);
    assert_eq!(client.extensions(), None);
    assert_eq!(client.protocol_version(), 13);

    within(client.send("hello")).await.unwrap();
    within(client.send(vec![1u8, 2, 3])).await.unwrap();
    let big = Bytes::from(payload(7, 300_000));
    within(client.send(Message::Binary(big.clone()))).await.unwrap();
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "hello"));
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b[..] == [1, 2, 3]));
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == big));
    assert!(client.bytes_received() > 300_000);
    assert_eq!(client.buffered_amount(), 0);

    within(client.close(CloseCode::NORMAL, "bye")).await.unwrap();
    assert_eq!(client.ready_state(), State::Closing);
    assert!(matches!(client.send("late").await, Err(ws_tokio::Error::Send(ws_tokio::SendError::CloseAlreadySent))));
    match within(client.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.code(), CloseCode::NORMAL);
            assert_eq!(info.reason(), "bye");
            assert_eq!(info.initiator, Initiator::Local);
            assert!(info.was_clean());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.ready_state(), State::Closed);
    assert_eq!(client.close_info().map(|i| i.code()), Some(CloseCode::NORMAL));
    // The server closes TCP first; then the client's connection is over.
    assert!(within(client.recv()).await.is_none());
    assert!(within(client.recv()).await.is_none());
    let info = within(server).await.unwrap();
    assert_eq!(info.initiator, Initiator::Remote);
    assert_eq!(info.code(), CloseCode::NORMAL);
}

#[tokio::test]
async fn ping_pong_and_server_initiated_close_without_code() {
    let (mut client, mut server) = duplex_pair(4096, config()).await;
    within(client.ping("abc")).await.unwrap();
    // The server only reads: its pong goes out from recv.
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Ping(p))) if p == "abc"));
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Pong(p))) if p == "abc"));
    within(client.pong("unsolicited")).await.unwrap();
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Pong(p))) if p == "unsolicited"));
    assert!(matches!(client.ping([0u8; 126]).await, Err(ws_tokio::Error::Send(_))));

    within(server.close_with(None)).await.unwrap();
    let server_task = tokio::spawn(async move {
        let closed = within(server.recv()).await;
        assert!(matches!(closed, Some(Ok(Event::Closed(ref i))) if i.code() == CloseCode::NO_STATUS), "{closed:?}");
        assert!(within(server.recv()).await.is_none());
    });
    match within(client.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.code(), CloseCode::NO_STATUS);
            assert_eq!(info.initiator, Initiator::Remote);
        }
        other => panic!("{other:?}"),
    }
    assert!(within(client.recv()).await.is_none());
    within(server_task).await.unwrap();
}

#[tokio::test]
async fn protocol_error_is_an_event_not_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = accept_with(tcp, config(), Arc::default()).await.unwrap();
        let first = within(ws.recv()).await;
        let rest = within(ws.recv()).await;
        (first, rest)
    });
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.unwrap();
    // An unmasked text frame from a client: a protocol error (1002).
    let mut head = vec![0u8; 129];
    raw.read_exact(&mut head).await.unwrap();
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    raw.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    // The server answers with a close frame and closes TCP first.
    let mut wire = Vec::new();
    within(raw.read_to_end(&mut wire)).await.unwrap();
    drop(raw);
    let (first, rest) = within(server).await.unwrap();
    match first {
        Some(Ok(Event::Closed(info))) => {
            assert!(matches!(info.error, Some(ProtoError::Protocol(_))), "{info:?}");
            assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::PROTOCOL_ERROR));
            assert_eq!(info.initiator, Initiator::Library);
        }
        other => panic!("{other:?}"),
    }
    assert!(rest.is_none());
    let (frames, _) = server_frames(&wire);
    assert_eq!(frames[0].1, 0x8);
    assert_eq!(frames[0].2[..2], 1002u16.to_be_bytes());
}

#[tokio::test]
async fn subprotocol_and_extra_headers() {
    let mut options = ServerOptions::default();
    options.subprotocols(["chat", "superchat"]);
    let mut request = ClientRequest::new("localhost", "/room?x=1");
    request.subprotocol("superchat").subprotocol("chat");
    let (client, server) = tcp_pair_with(config(), config(), Arc::new(options), request).await;
    assert_eq!(client.protocol(), Some("superchat"));
    assert_eq!(server.protocol(), Some("superchat"));
}

#[tokio::test]
async fn application_rejection_reaches_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept_hdr_with(tcp, config(), Arc::default(), |req| {
            assert_eq!(req.path(), "/secret");
            Err(Rejection::new(StatusCode::FORBIDDEN, HeaderMap::new(), Bytes::from_static(b"nope")))
        })
        .await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let err = within(connect_with(tcp, ClientRequest::new("localhost", "/secret"), config())).await.unwrap_err();
    match err {
        ConnectError::Rejected { status, headers, body } => {
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert_eq!(body, "nope");
            assert_eq!(headers["connection"], "close");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        within(server).await.unwrap(),
        Err(AcceptError::Rejected { status: StatusCode::FORBIDDEN, error: None })
    ));
}

#[tokio::test]
async fn plain_http_request_gets_426() {
    let (mut raw, server_io) = tokio::io::duplex(4096);
    let server = tokio::spawn(accept_with(server_io, config(), Arc::default()));
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    within(raw.read_to_end(&mut response)).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 426"), "{}", String::from_utf8_lossy(&response));
    let err = within(server).await.unwrap().unwrap_err();
    assert!(matches!(err, AcceptError::Rejected { status, .. } if status == 426), "{err:?}");
}

#[tokio::test]
async fn client_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers.
    let _silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(tcp);
    });
    let cfg = config_with(|c| {
        c.handshake_timeout(Some(Duration::from_millis(200)));
    });
    let url = format!("ws://{addr}/");
    let started = std::time::Instant::now();
    let err = within(connect_config(&url, cfg)).await.unwrap_err();
    assert!(matches!(err, ConnectError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn server_handshake_timeout_answers_408() {
    let (mut raw, server_io) = tokio::io::duplex(4096);
    let cfg = config_with(|c| {
        c.handshake_timeout(Some(Duration::from_millis(100)));
    });
    let server = tokio::spawn(accept_with(server_io, cfg, Arc::default()));
    raw.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut response = Vec::new();
    within(raw.read_to_end(&mut response)).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&response));
    let err = within(server).await.unwrap().unwrap_err();
    assert!(matches!(err, AcceptError::Rejected { error: Some(HandshakeError::Timeout), .. }));
}

#[tokio::test]
async fn async_verification_accepts_and_times_out() {
    // Accepted after an asynchronous check of a header.
    let (client_io, server_io) = tokio::io::duplex(4096);
    let server = tokio::spawn(accept_async_with(server_io, config(), Arc::default(), |req| {
        let token = req.request().headers().get("authorization").cloned();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            match token {
                Some(t) if t == "Bearer ok" => Ok(Accept::default()),
                _ => Err(Rejection::new(StatusCode::UNAUTHORIZED, HeaderMap::new(), Bytes::new())),
            }
        }
    }));
    let mut request = ClientRequest::new("localhost", "/");
    request.header("Authorization", "Bearer ok");
    let (mut client, _) = within(connect_with(client_io, request, config())).await.unwrap();
    let mut server = within(server).await.unwrap().unwrap();
    within(client.send("after verify")).await.unwrap();
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(_)))));

    // A verification slower than the handshake deadline gets 408.
    let (client_io, server_io) = tokio::io::duplex(4096);
    let cfg = config_with(|c| {
        c.handshake_timeout(Some(Duration::from_millis(100)));
    });
    let server = tokio::spawn(accept_async_with(server_io, cfg, Arc::default(), |_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Accept::default())
    }));
    let err = within(connect_with(client_io, ClientRequest::new("localhost", "/"), config())).await.unwrap_err();
    assert!(matches!(err, ConnectError::Rejected { status, .. } if status == 408), "{err:?}");
    assert!(within(server).await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn keepalive_ping_then_pong_deadline() {
    let cfg = config_with(|c| {
        c.keep_alive(Some(Duration::from_secs(5)), Some(Duration::from_secs(2)));
    });
    let (peer_io, server_io) = tokio::io::duplex(4096);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, cfg));
    // The peer reads what arrives but never answers.
    let peer = tokio::spawn(async move {
        let mut peer_io = peer_io;
        let mut wire = Vec::new();
        let _ = peer_io.read_to_end(&mut wire).await;
        wire
    });
    let started = tokio::time::Instant::now();
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
            assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::INTERNAL_ERROR));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    drop(server);
    let wire = within(peer).await.unwrap();
    let (frames, _) = server_frames(&wire);
    assert_eq!(frames[0].1, 0x9, "a keepalive ping first");
    assert_eq!(frames[1].1, 0x8, "then the close");
}

#[tokio::test(start_paused = true)]
async fn keepalive_answered_keeps_the_connection_open() {
    let cfg = config_with(|c| {
        c.keep_alive(Some(Duration::from_secs(5)), Some(Duration::from_secs(2)));
    });
    let (mut client, mut server) = raw_pair(4096, config(), cfg);
    let client_task = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(event)) = client.recv().await {
            match event {
                Event::Ping(_) => pings += 1,
                Event::Closed(_) => break,
                _ => {}
            }
        }
        pings
    });
    let mut pongs = 0;
    let open = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match server.recv().await {
                Some(Ok(Event::Pong(_))) => pongs += 1,
                other => return other,
            }
        }
    })
    .await;
    assert!(open.is_err(), "only pongs: the connection stayed open ({open:?})");
    assert!((10..=12).contains(&pongs), "{pongs} pongs in 60 s");
    assert_eq!(server.ready_state(), State::Open);
    within(server.close(CloseCode::NORMAL, "")).await.unwrap();
    loop {
        match within(server.recv()).await {
            Some(Ok(Event::Pong(_))) => {}
            Some(Ok(Event::Closed(info))) => break assert!(info.was_clean()),
            other => panic!("{other:?}"),
        }
    }
    let pings = within(client_task).await.unwrap();
    assert!((10..=12).contains(&pings), "{pings} keepalive pings in 60 s");
}

#[tokio::test(start_paused = true)]
async fn close_timeout_ends_an_unanswered_close() {
    let cfg = config_with(|c| {
        c.close_timeout(Some(Duration::from_secs(3)));
    });
    let (peer_io, server_io) = tokio::io::duplex(4096);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, cfg));
    let _peer = tokio::spawn(async move {
        let mut peer_io = peer_io;
        let mut sink = Vec::new();
        let _ = peer_io.read_to_end(&mut sink).await;
    });
    let started = tokio::time::Instant::now();
    within(server.close(4000u16, "going")).await.unwrap();
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close)));
            assert_eq!(info.code(), CloseCode::ABNORMAL);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert!(within(server.recv()).await.is_none());
}

#[tokio::test]
async fn from_parts_consumes_leftover_bytes_first() {
    let (mut peer, server_io) = tokio::io::duplex(4096);
    let mut leftover = client_frame(true, 0x1, b"early");
    leftover.extend(client_frame(false, 0x2, b"ab"));
    let conn = connection(Role::Server, config());
    let mut server = WebSocket::from_parts(server_io, Bytes::from(leftover), conn);
    peer.write_all(&client_frame(true, 0x0, b"cd")).await.unwrap();
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "early"));
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == "abcd"));
}

#[tokio::test]
async fn pause_and_resume() {
    let (mut client, mut server) = duplex_pair(4096, config()).await;
    within(client.send("one")).await.unwrap();
    server.pause();
    assert!(server.is_paused());
    let paused = tokio::time::timeout(Duration::from_millis(100), server.recv()).await;
    assert!(paused.is_err(), "paused: no event");
    server.resume();
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "one"));
}

#[tokio::test]
async fn pieces_fragments_and_stream_assembly() {
    let cfg = config_with(|c| {
        c.deliver_fragments(true);
    });
    let (mut client, mut server) = duplex_pair(1024, cfg).await;
    within(client.send_frame_part(MessageKind::Text, "héll", false)).await.unwrap();
    within(client.send_frame_part(MessageKind::Text, "o wörld", true)).await.unwrap();
    let pieces = within(server.recv_pieces()).await.unwrap().unwrap();
    assert_eq!(pieces.kind, MessageKind::Text);
    assert!(!pieces.pieces.is_empty());
    assert_eq!(pieces.concat(), "héllo wörld");
    assert_eq!(pieces.clone().into_message(), Message::text("héllo wörld"));

    // A large binary message arrives in several pieces; recv_message (and the Stream) assemble it.
    let big = payload(1, 200_000);
    let (sent, received) = within(async { tokio::join!(client.send(big.clone()), server.recv_message()) }).await;
    sent.unwrap();
    assert_eq!(received.unwrap().unwrap(), Message::Binary(big.into()));

    // Without fragment mode, one piece per message.
    let (mut client, mut server) = duplex_pair(1024, config()).await;
    let (sent, pieces) = within(async { tokio::join!(client.send(vec![9u8; 5000]), server.recv_pieces()) }).await;
    sent.unwrap();
    let pieces = pieces.unwrap().unwrap();
    assert_eq!((pieces.kind, pieces.pieces.len(), pieces.len()), (MessageKind::Binary, 1, 5000));
}

#[cfg(feature = "futures")]
#[tokio::test]
async fn stream_and_sink() {
    let (mut client, mut server) = duplex_pair(512, config()).await;
    let echo = tokio::spawn(async move {
        while let Some(msg) = server.next().await {
            server.send(msg.unwrap()).await.unwrap();
        }
        server.close_info().map(|i| i.code())
    });
    for i in 0..50 {
        within(client.feed(Message::text(format!("m{i}")))).await.unwrap();
    }
    within(SinkExt::flush(&mut client)).await.unwrap();
    for i in 0..50 {
        assert_eq!(within(client.next()).await.unwrap().unwrap(), Message::text(format!("m{i}")));
    }
    within(SinkExt::close(&mut client)).await.unwrap();
    assert!(within(client.next()).await.is_none(), "the stream ends with the close handshake");
    assert_eq!(client.close_info().map(|i| i.code()), Some(CloseCode::NORMAL));
    assert_eq!(within(echo).await.unwrap(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn terminate_reports_abnormal_closure_on_both_sides() {
    let (mut client, mut server) = tcp_pair(config()).await;
    client.terminate();
    assert!(matches!(client.send("x").await, Err(ws_tokio::Error::Send(_))));
    match within(client.recv()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
    assert!(within(client.recv()).await.is_none());
    drop(client);
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => {
            assert_eq!(info.code(), CloseCode::ABNORMAL);
            assert_eq!(info.error, Some(ProtoError::UnexpectedEof));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn try_send_queues_without_writing() {
    let (mut client, mut server) = duplex_pair(4096, config()).await;
    client.try_send("queued").unwrap();
    assert!(client.buffered_amount() > 0);
    // recv writes what is queued before waiting for input.
    let _ = tokio::time::timeout(Duration::from_millis(50), client.recv()).await;
    assert_eq!(client.buffered_amount(), 0);
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("queued")));
}

#[tokio::test]
async fn connect_urls_tcp_and_unix() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = accept_hdr_with(tcp, config(), Arc::default(), |req| {
            assert_eq!(req.request().uri(), "/chat?room=1");
            req.negotiate()
        })
        .await
        .unwrap();
        echo(ws).await
    });
    let url = format!("ws://{addr}/chat?room=1");
    let (mut ws, _) = within(connect(&url)).await.unwrap();
    assert_eq!(ws.url(), Some(url.as_str()));
    within(ws.send("over tcp")).await.unwrap();
    assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(_)))));
    within(ws.close(1000u16, "")).await.unwrap();
    assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Closed(_)))));
    assert!(within(ws.recv()).await.is_none());
    assert_eq!(within(server).await.unwrap().code(), CloseCode::NORMAL);

    #[cfg(unix)]
    {
        let dir = std::env::temp_dir().join(format!("ws-tokio-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (io, _) = listener.accept().await.unwrap();
            accept_hdr_with(io, config(), Arc::default(), |req| {
                assert_eq!(req.path(), "/p");
                req.negotiate()
            })
            .await
            .unwrap()
        });
        let url = format!("ws+unix://{}:/p", path.display());
        let (mut ws, _) = within(connect(&url)).await.unwrap();
        let mut server = within(server).await.unwrap();
        within(ws.send("over unix")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("over unix")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    let refused = within(connect("ws://127.0.0.1:1/")).await.unwrap_err();
    assert!(matches!(refused, ConnectError::Io(_)), "{refused:?}");
}

#[tokio::test]
async fn io_failure_is_an_error_then_closed() {
    let (client_io, server_io) = tokio::io::duplex(64);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, config()));
    let mut client = WebSocket::from_connection(client_io, connection(Role::Client, config()));
    within(client.send("x")).await.unwrap();
    assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(_)))));
    // The peer's pipe is gone: writing fails with an IO error (not a protocol event).
    drop(client);
    let err = within(server.send(vec![0u8; 10_000])).await.unwrap_err();
    assert!(matches!(err, ws_tokio::Error::Io(_)), "{err:?}");
    match within(server.recv()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
    assert!(within(server.recv()).await.is_none());
}

#[test]
fn types_can_cross_tasks() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<WebSocket<TcpStream>>();
    send::<ws_tokio::WsReader<TcpStream>>();
    send::<ws_tokio::WsWriter<TcpStream>>();
    send::<ws_tokio::WsByteStream<TcpStream>>();
    send::<ws_tokio::EventReceiver>();
    send::<ws_tokio::Driver<TcpStream>>();
    send_sync::<ws_tokio::WsHandle>();
    send_sync::<ws_tokio::Error>();
}
