//! `WebSocket<S>` end to end on async-std and smol: handshakes, messages, control frames,
//! closing, timers, errors.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::{SinkExt, StreamExt};
use ws_async_std::http::{HeaderMap, StatusCode};
use ws_async_std::ws_proto::{Error as ProtoError, HandshakeError, Initiator, Role, TimeoutKind};
use ws_async_std::{
    accept_async_with, accept_hdr_with, accept_with, connect, connect_config, connect_with, Accept, AcceptError, Bytes,
    ClientRequest, CloseCode, ConnectError, Event, Message, MessageKind, Rejection, State, WebSocket,
};

/// Echoes messages until the connection is over; returns how it ended.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) -> ws_async_std::CloseInfo {
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

async fn expect_closed<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> ws_async_std::CloseInfo {
    loop {
        match within(ws.recv()).await {
            Some(Ok(Event::Closed(info))) => return info,
            Some(Ok(Event::Pong(_) | Event::Ping(_))) => {}
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}

both! {
    async fn echo_text_binary_large_and_close_over_tcp() {
        let (mut client, server) = tcp_pair(config()).await;
        let server = spawn(echo(server));
        assert_eq!(client.ready_state(), State::Open);
        assert_eq!(client.url(), None);
        assert_eq!((client.protocol(), client.extensions(), client.protocol_version()), (None, None, 13));

        within(client.send("hello")).await.unwrap();
        within(client.send(vec![1u8, 2, 3])).await.unwrap();
        let big = Bytes::from(payload(7, 300_000));
        within(client.send(Message::Binary(big.clone()))).await.unwrap();
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "hello"));
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b[..] == [1, 2, 3]));
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == big));
        assert!(client.bytes_received() > 300_000);
        assert_eq!(client.buffered_amount(), 0);
        assert!(client.is_write_ready());

        within(client.close(CloseCode::NORMAL, "bye")).await.unwrap();
        assert_eq!(client.ready_state(), State::Closing);
        let late = client.send("late").await;
        assert!(matches!(late, Err(ws_async_std::Error::Send(ws_async_std::SendError::CloseAlreadySent))), "{late:?}");
        let info = expect_closed(&mut client).await;
        assert_eq!((info.code(), info.reason(), info.initiator), (CloseCode::NORMAL, "bye", Initiator::Local));
        assert!(info.was_clean());
        assert_eq!(client.ready_state(), State::Closed);
        assert_eq!(client.close_info().map(|i| i.code()), Some(CloseCode::NORMAL));
        // The server closes TCP first; then the client's connection is over.
        assert!(within(client.recv()).await.is_none());
        assert!(within(client.recv()).await.is_none());
        let info = within(server).await;
        assert_eq!((info.initiator, info.code(), info.reason()), (Initiator::Remote, CloseCode::NORMAL, "bye"));
    }

    async fn fragmented_messages_pieces_and_stream_sink() {
        let cfg = config_with(|c| {
            c.deliver_fragments(true);
        });
        let (mut client, mut server) = pipe_pair(1024, cfg).await;
        within(client.send_frame_part(MessageKind::Text, "héll", false)).await.unwrap();
        within(client.ping("in between")).await.unwrap();
        within(client.send_frame_part(MessageKind::Text, "o wörld", true)).await.unwrap();
        let pieces = within(server.recv_pieces()).await.unwrap().unwrap();
        assert_eq!(pieces.kind, MessageKind::Text);
        assert_eq!(pieces.concat(), "héllo wörld");
        assert_eq!(pieces.clone().into_message(), Message::text("héllo wörld"));

        // A large message arrives in many pieces; recv_message assembles it.
        let big = payload(1, 200_000);
        let receiver = spawn(async move {
            let m = server.recv_message().await;
            (server, m)
        });
        within(client.send(big.clone())).await.unwrap();
        let (mut server, got) = within(receiver).await;
        assert_eq!(got.unwrap().unwrap(), Message::Binary(big.into()));

        // Stream + Sink: echo through them.
        let echo = spawn(async move {
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
            // Fragment mode on the client too: recv_message assembles (the pong is skipped).
            assert_eq!(within(client.recv_message()).await.unwrap().unwrap(), Message::text(format!("m{i}")));
        }
        within(SinkExt::close(&mut client)).await.unwrap();
        assert!(within(client.next()).await.is_none(), "the stream ends with the close handshake");
        assert_eq!(client.close_info().map(|i| i.code()), Some(CloseCode::NORMAL));
        assert_eq!(within(echo).await, Some(CloseCode::NORMAL));
    }

    async fn ping_pong_and_server_close_without_code() {
        let (mut client, mut server) = pipe_pair(4096, config()).await;
        within(client.ping("abc")).await.unwrap();
        // The server only reads: its pong goes out from recv.
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Ping(p))) if p == "abc"));
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Pong(p))) if p == "abc"));
        within(client.pong("unsolicited")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Pong(p))) if p == "unsolicited"));
        assert!(matches!(client.ping([0u8; 126]).await, Err(ws_async_std::Error::Send(_))));

        within(server.close_with(None)).await.unwrap();
        let server_task = spawn(async move {
            let info = expect_closed(&mut server).await;
            assert_eq!(info.code(), CloseCode::NO_STATUS);
            assert!(within(server.recv()).await.is_none());
        });
        let info = expect_closed(&mut client).await;
        assert_eq!((info.code(), info.initiator), (CloseCode::NO_STATUS, Initiator::Remote));
        assert!(within(client.recv()).await.is_none());
        within(server_task).await;
    }

    async fn close_from_the_server_with_code_and_reason() {
        let (mut client, mut server) = tcp_pair(config()).await;
        within(server.close(4001u16, "server says bye")).await.unwrap();
        let server_task = spawn(async move { expect_closed(&mut server).await });
        let info = expect_closed(&mut client).await;
        assert_eq!((info.code().as_u16(), info.reason()), (4001, "server says bye"));
        assert_eq!(info.initiator, Initiator::Remote);
        assert!(within(client.recv()).await.is_none());
        let info = within(server_task).await;
        assert!(info.was_clean());
        assert_eq!((info.initiator, info.sent.map(|f| f.code.as_u16())), (Initiator::Local, Some(4001)));
    }

    async fn protocol_error_is_closed_not_err() {
        let listener = Listener::bind().await;
        let addr = listener.addr();
        let server = spawn(async move {
            let tcp = listener.accept().await;
            let mut ws = accept_with(tcp, config(), Arc::default()).await.unwrap();
            let first = within(ws.recv()).await;
            let rest = within(ws.recv()).await;
            (first, rest)
        });
        let mut raw = Tcp::connect(addr).await.unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.unwrap();
        let mut head = vec![0u8; 129];
        within(raw.read_exact(&mut head)).await.unwrap();
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        // An unmasked frame from a client: protocol error, 1002.
        raw.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
        // The server answers with a close frame and closes TCP first.
        let mut wire = Vec::new();
        within(raw.read_to_end(&mut wire)).await.unwrap();
        drop(raw);
        let (first, rest) = within(server).await;
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

    async fn invalid_utf8_from_the_peer_closes_with_1007() {
        let (mut peer, io) = duplex(4096);
        let mut server = WebSocket::from_connection(io, connection(Role::Server, config()));
        peer.write_all(&client_frame(true, 0x1, &[0xce, 0xba, 0xff])).await.unwrap();
        let info = expect_closed(&mut server).await;
        assert_eq!(info.sent.map(|f| f.code), Some(CloseCode::INVALID_PAYLOAD));
        assert!(matches!(info.error, Some(ProtoError::Protocol(_))));
    }

    async fn subprotocol_negotiated() {
        let mut options = ws_async_std::ServerOptions::default();
        options.subprotocols(["chat", "superchat"]);
        let mut request = ClientRequest::new("localhost", "/room?x=1");
        request.subprotocol("superchat").subprotocol("chat");
        let (client, server) = tcp_pair_with(config(), config(), Arc::new(options), request).await;
        assert_eq!(client.protocol(), Some("superchat"));
        assert_eq!(server.protocol(), Some("superchat"));
    }

    async fn application_rejection_reaches_the_client() {
        let listener = Listener::bind().await;
        let addr = listener.addr();
        let server = spawn(async move {
            let tcp = listener.accept().await;
            accept_hdr_with(tcp, config(), Arc::default(), |req| {
                assert_eq!(req.path(), "/secret");
                Err(Rejection::new(StatusCode::FORBIDDEN, HeaderMap::new(), Bytes::from_static(b"nope")))
            })
            .await
        });
        let tcp = Tcp::connect(addr).await.unwrap();
        match within(connect_with(tcp, ClientRequest::new("localhost", "/secret"), config())).await {
            Err(ConnectError::Rejected { status, headers, body }) => {
                assert_eq!((status, &body[..]), (StatusCode::FORBIDDEN, &b"nope"[..]));
                assert_eq!(headers["connection"], "close");
            }
            other => panic!("{other:?}"),
        }
        let result = within(server).await;
        assert!(matches!(result, Err(AcceptError::Rejected { status: StatusCode::FORBIDDEN, error: None })), "{result:?}");
    }

    async fn plain_http_request_gets_426() {
        let (mut raw, io) = duplex(4096);
        let server = spawn(accept_with(io, config(), Arc::default()));
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut response = Vec::new();
        within(raw.read_to_end(&mut response)).await.unwrap();
        assert!(response.starts_with(b"HTTP/1.1 426"), "{}", String::from_utf8_lossy(&response));
        let err = within(server).await.unwrap_err();
        assert!(matches!(err, AcceptError::Rejected { status, .. } if status == 426), "{err:?}");
    }

    async fn client_handshake_timeout() {
        let listener = Listener::bind().await;
        let addr = listener.addr();
        // Accepts and never answers.
        let _silent = spawn(async move {
            let tcp = listener.accept().await;
            sleep(Duration::from_secs(5)).await;
            drop(tcp);
        });
        let cfg = config_with(|c| {
            c.handshake_timeout(Some(Duration::from_millis(200)));
        });
        let started = Instant::now();
        let err = within(connect_config(&format!("ws://{addr}/"), cfg)).await.unwrap_err();
        assert!(matches!(err, ConnectError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    async fn server_handshake_timeout_answers_408() {
        let (mut raw, io) = duplex(4096);
        let cfg = config_with(|c| {
            c.handshake_timeout(Some(Duration::from_millis(150)));
        });
        let server = spawn(accept_with(io, cfg, Arc::default()));
        raw.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut response = Vec::new();
        within(raw.read_to_end(&mut response)).await.unwrap();
        assert!(response.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&response));
        let err = within(server).await.unwrap_err();
        assert!(matches!(err, AcceptError::Rejected { error: Some(HandshakeError::Timeout), .. }), "{err:?}");
    }

    async fn async_verification_accepts_and_times_out() {
        let (client_io, server_io) = duplex(4096);
        let server = spawn(accept_async_with(server_io, config(), Arc::default(), |req| {
            let token = req.request().headers().get("authorization").cloned();
            async move {
                sleep(Duration::from_millis(10)).await;
                match token {
                    Some(t) if t == "Bearer ok" => Ok(Accept::default()),
                    _ => Err(Rejection::new(StatusCode::UNAUTHORIZED, HeaderMap::new(), Bytes::new())),
                }
            }
        }));
        let mut request = ClientRequest::new("localhost", "/");
        request.header("Authorization", "Bearer ok");
        let (mut client, _) = within(connect_with(client_io, request, config())).await.unwrap();
        let mut server = within(server).await.unwrap();
        within(client.send("after verify")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(_)))));

        // Verification slower than the handshake deadline: 408.
        let (client_io, server_io) = duplex(4096);
        let cfg = config_with(|c| {
            c.handshake_timeout(Some(Duration::from_millis(150)));
        });
        let server = spawn(accept_async_with(server_io, cfg, Arc::default(), |_| async {
            sleep(Duration::from_secs(10)).await;
            Ok(Accept::default())
        }));
        let err = within(connect_with(client_io, ClientRequest::new("localhost", "/"), config())).await.unwrap_err();
        assert!(matches!(err, ConnectError::Rejected { status, .. } if status == 408), "{err:?}");
        assert!(within(server).await.is_err());
    }

    async fn keepalive_ping_then_pong_deadline() {
        let cfg = config_with(|c| {
            c.keep_alive(Some(Duration::from_millis(300)), Some(Duration::from_millis(200)));
        });
        let (peer, io) = duplex(4096);
        let mut server = WebSocket::from_connection(io, connection(Role::Server, cfg));
        // The peer reads but never answers.
        let peer = spawn(async move {
            let (mut rd, _wr) = peer.split();
            let mut wire = Vec::new();
            let _ = rd.read_to_end(&mut wire).await;
            wire
        });
        let started = Instant::now();
        let info = expect_closed(&mut server).await;
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
        assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::INTERNAL_ERROR));
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        drop(server);
        let wire = within(peer).await;
        let (frames, _) = server_frames(&wire);
        assert_eq!(frames[0].1, 0x9, "a keepalive ping first");
        assert_eq!(frames[1].1, 0x8, "then the close");
    }

    async fn keepalive_answered_keeps_the_connection_open() {
        let cfg = config_with(|c| {
            c.keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_millis(300)));
        });
        let (mut client, mut server) = raw_pair(4096, config(), cfg);
        let client_task = spawn(async move {
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
        let open = timeout(Duration::from_millis(1000), async {
            loop {
                match server.recv().await {
                    Some(Ok(Event::Pong(_))) => pongs += 1,
                    other => return other,
                }
            }
        })
        .await;
        assert!(open.is_none(), "only pongs: the connection stayed open ({open:?})");
        assert!((5..=11).contains(&pongs), "{pongs} pongs in 1 s");
        assert_eq!(server.ready_state(), State::Open);
        within(server.close(CloseCode::NORMAL, "")).await.unwrap();
        assert!(expect_closed(&mut server).await.was_clean());
        let pings = within(client_task).await;
        assert!(pings >= pongs, "{pings} pings, {pongs} pongs");
    }

    async fn close_timeout_ends_an_unanswered_close() {
        let cfg = config_with(|c| {
            c.close_timeout(Some(Duration::from_millis(300)));
        });
        let (peer, io) = duplex(4096);
        let mut server = WebSocket::from_connection(io, connection(Role::Server, cfg));
        let _peer = spawn(async move {
            let (mut rd, _wr) = peer.split();
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        });
        let started = Instant::now();
        within(server.close(4000u16, "going")).await.unwrap();
        let info = expect_closed(&mut server).await;
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close)));
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(within(server.recv()).await.is_none());
    }

    async fn from_parts_consumes_leftover_bytes_first() {
        let (mut peer, io) = duplex(4096);
        let mut leftover = client_frame(true, 0x1, b"early");
        leftover.extend(client_frame(false, 0x2, b"ab"));
        let mut server = WebSocket::from_parts(io, Bytes::from(leftover), connection(Role::Server, config()));
        peer.write_all(&client_frame(true, 0x0, b"cd")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "early"));
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == "abcd"));
    }

    async fn pause_and_resume() {
        let (mut client, mut server) = pipe_pair(4096, config()).await;
        within(client.send("one")).await.unwrap();
        server.pause();
        assert!(server.is_paused());
        assert!(timeout(Duration::from_millis(100), server.recv()).await.is_none(), "paused: no event");
        server.resume();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "one"));
    }

    async fn terminate_reports_abnormal_closure_on_both_sides() {
        let (mut client, mut server) = tcp_pair(config()).await;
        client.terminate();
        assert!(matches!(client.send("x").await, Err(ws_async_std::Error::Send(_))));
        assert_eq!(expect_closed(&mut client).await.code(), CloseCode::ABNORMAL);
        assert!(within(client.recv()).await.is_none());
        drop(client);
        let info = expect_closed(&mut server).await;
        assert_eq!((info.code(), info.error), (CloseCode::ABNORMAL, Some(ProtoError::UnexpectedEof)));
    }

    async fn try_send_queues_without_writing() {
        let (mut client, mut server) = pipe_pair(4096, config()).await;
        client.try_send("queued").unwrap();
        assert!(client.buffered_amount() > 0);
        // recv writes what is queued before waiting for input.
        let _ = timeout(Duration::from_millis(50), client.recv()).await;
        assert_eq!(client.buffered_amount(), 0);
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("queued")));
    }

    async fn connect_ws_and_ws_unix_urls() {
        let listener = Listener::bind().await;
        let addr = listener.addr();
        let server = spawn(async move {
            let tcp = listener.accept().await;
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
        assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("over tcp")));
        within(ws.close(1000u16, "")).await.unwrap();
        assert!(expect_closed(&mut ws).await.was_clean());
        assert!(within(ws.recv()).await.is_none());
        assert_eq!(within(server).await.code(), CloseCode::NORMAL);

        #[cfg(unix)]
        {
            let rt = format!("{:?}", rt());
            let dir = std::env::temp_dir().join(format!("ws-async-std-test-{}-{rt}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("s.sock");
            let _ = std::fs::remove_file(&path);
            let listener = async_net::unix::UnixListener::bind(&path).unwrap();
            let server = spawn(async move {
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
            let mut server = within(server).await;
            within(ws.send("over unix")).await.unwrap();
            assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("over unix")));
            within(server.close(1000u16, "")).await.unwrap();
            let _server = spawn(async move { while server.recv().await.is_some() {} });
            assert!(expect_closed(&mut ws).await.was_clean());
            let _ = std::fs::remove_dir_all(&dir);
        }

        let refused = within(connect("ws://127.0.0.1:1/")).await.unwrap_err();
        assert!(matches!(refused, ConnectError::Io(_)), "{refused:?}");
    }

    async fn io_failure_is_an_error_then_closed() {
        let (mut client, mut server) = raw_pair(64, config(), config());
        within(client.send("x")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(_)))));
        // The peer's pipe is gone: writing fails with an IO error, not a protocol event.
        drop(client);
        let err = within(server.send(vec![0u8; 10_000])).await.unwrap_err();
        assert!(matches!(err, ws_async_std::Error::Io(_)), "{err:?}");
        assert_eq!(expect_closed(&mut server).await.code(), CloseCode::ABNORMAL);
        assert!(within(server.recv()).await.is_none());
    }

    async fn garbage_from_the_peer_never_panics() {
        // Random-ish bytes, then EOF: the connection ends in Closed, never a panic or an Err.
        for seed in 0u32..40 {
            let (mut peer, io) = duplex(1 << 16);
            let mut server = WebSocket::from_connection(io, connection(Role::Server, config()));
            let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            let bytes: Vec<u8> = (0..2000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = peer.write_all(&bytes).await;
            let _ = peer.close().await;
            let info = expect_closed(&mut server).await;
            assert!(!info.was_clean() || info.close_received, "{info:?}");
        }
    }
}

#[test]
fn types_can_cross_tasks() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<WebSocket<async_net::TcpStream>>();
    send::<WebSocket<ws_async_std::ClientStream>>();
    send::<ws_async_std::WsReader<async_std::net::TcpStream>>();
    send::<ws_async_std::WsWriter<async_std::net::TcpStream>>();
    send::<ws_async_std::WsByteStream<async_net::TcpStream>>();
    send::<ws_async_std::Driver<async_net::TcpStream>>();
    send::<ws_async_std::EventReceiver>();
    send_sync::<ws_async_std::WsHandle>();
    send_sync::<ws_async_std::WsReader<async_net::TcpStream>>();
    send_sync::<ws_async_std::Error>();
}
