//! `WebSocket<S, R>` end to end: handshakes, messages, control frames, closing, timers, errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use ws_async::http::{HeaderMap, StatusCode};
use ws_async::runtime::Net;
use ws_async::ws_proto::{Error as ProtoError, HandshakeError, Initiator, Role, TimeoutKind};
use ws_async::{
    accept_async_with, accept_hdr_with, accept_with, connect, connect_config, connect_with, Accept, AcceptError, Bytes,
    ClientRequest, CloseCode, ConnectError, Driver, Error, Event, EventReceiver, Message, MessageKind, Rejection,
    SendError, ServerOptions, State, WebSocket, WsByteStream, WsHandle, WsReader, WsWriter,
};

use crate::harness::*;

on_every_runtime! {
    /// Echo of text, binary and a large message over TCP, the accessors, and a client-initiated close.
    async fn echo_close_and_accessors_over_tcp<T: TestRt>() {
        let (mut client, server) = tcp_pair::<T>(config()).await;
        let server = T::spawn(echo(server));
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
        assert!(matches!(late, Err(Error::Send(SendError::CloseAlreadySent))), "{late:?}");
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!((info.code(), info.reason(), info.initiator), (CloseCode::NORMAL, "bye", Initiator::Local));
                assert!(info.was_clean());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(client.ready_state(), State::Closed);
        assert_eq!(client.close_info().map(|i| i.code()), Some(CloseCode::NORMAL));
        // The server closes TCP first; then the client's connection is over.
        assert!(within(client.recv()).await.is_none());
        assert!(within(client.recv()).await.is_none());
        let info = within(server).await;
        assert_eq!((info.initiator, info.code(), info.reason()), (Initiator::Remote, CloseCode::NORMAL, "bye"));
    }

    /// Fragment mode delivers pieces; `recv_message` assembles a large message; otherwise one piece each.
    async fn pieces_fragments_and_message_assembly<T: TestRt>() {
        let cfg = config_with(|c| c.deliver_fragments(true));
        let (mut client, mut server) = pipe_pair::<T>(1024, cfg).await;
        within(client.send_frame_part(MessageKind::Text, "héll", false)).await.unwrap();
        within(client.ping("in between")).await.unwrap();
        within(client.send_frame_part(MessageKind::Text, "o wörld", true)).await.unwrap();
        let pieces = within(server.recv_pieces()).await.unwrap().unwrap();
        assert_eq!(pieces.kind, MessageKind::Text);
        assert!(!pieces.pieces.is_empty());
        assert_eq!(pieces.concat(), "héllo wörld");
        assert_eq!(pieces.clone().into_message(), Message::text("héllo wörld"));

        // A large binary message arrives in several pieces; recv_message assembles it.
        let big = payload(1, 200_000);
        let (sent, received) =
            within(futures::future::join(client.send(big.clone()), server.recv_message())).await;
        sent.unwrap();
        assert_eq!(received.unwrap().unwrap(), Message::Binary(big.into()));

        // Without fragment mode, one piece per message.
        let (mut client, mut server) = pipe_pair::<T>(1024, config()).await;
        let (sent, pieces) = within(futures::future::join(client.send(vec![9u8; 5000]), server.recv_pieces())).await;
        sent.unwrap();
        let pieces = pieces.unwrap().unwrap();
        assert_eq!((pieces.kind, pieces.pieces.len(), pieces.len()), (MessageKind::Binary, 1, 5000));
    }

    /// `Stream` and `Sink`: fed messages echo in order; `SinkExt::close` runs the close and ends the stream.
    async fn stream_and_sink<T: TestRt>() {
        let (mut client, mut server) = pipe_pair::<T>(512, config()).await;
        let echo = T::spawn(async move {
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
        assert_eq!(within(echo).await, Some(CloseCode::NORMAL));
    }

    /// In fragment mode the `Stream` still yields whole messages and `recv_message` assembles them.
    async fn stream_and_sink_in_fragment_mode<T: TestRt>() {
        let cfg = config_with(|c| c.deliver_fragments(true));
        let (mut client, mut server) = pipe_pair::<T>(1024, cfg).await;
        within(client.ping("p")).await.unwrap();
        let echo = T::spawn(async move {
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
            assert_eq!(within(client.recv_message()).await.unwrap().unwrap(), Message::text(format!("m{i}")));
        }
        within(SinkExt::close(&mut client)).await.unwrap();
        assert!(within(client.next()).await.is_none(), "the stream ends with the close handshake");
        assert_eq!(client.close_info().map(|i| i.code()), Some(CloseCode::NORMAL));
        assert_eq!(within(echo).await, Some(CloseCode::NORMAL));
    }

    /// `recv` alone answers pings; oversized pings fail; a server close without a code is 1005 both sides.
    async fn ping_pong_and_server_initiated_close_without_code<T: TestRt>() {
        let (mut client, mut server) = pipe_pair::<T>(4096, config()).await;
        within(client.ping("abc")).await.unwrap();
        // The server only reads: its pong goes out from recv.
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Ping(p))) if p == "abc"));
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Pong(p))) if p == "abc"));
        within(client.pong("unsolicited")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Pong(p))) if p == "unsolicited"));
        assert!(matches!(client.ping([0u8; 126]).await, Err(Error::Send(_))));

        within(server.close_with(None)).await.unwrap();
        let server_task = T::spawn(async move {
            let closed = within(server.recv()).await;
            assert!(matches!(closed, Some(Ok(Event::Closed(ref i))) if i.code() == CloseCode::NO_STATUS), "{closed:?}");
            assert!(within(server.recv()).await.is_none());
        });
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!((info.code(), info.initiator), (CloseCode::NO_STATUS, Initiator::Remote));
            }
            other => panic!("{other:?}"),
        }
        assert!(within(client.recv()).await.is_none());
        within(server_task).await;
    }

    /// A server-initiated close with code and reason reaches the client; both sides end cleanly.
    async fn close_from_the_server_with_code_and_reason<T: TestRt>() {
        let (mut client, mut server) = tcp_pair::<T>(config()).await;
        within(server.close(4001u16, "server says bye")).await.unwrap();
        let server_task = T::spawn(async move { expect_closed(&mut server).await });
        let info = expect_closed(&mut client).await;
        assert_eq!((info.code().as_u16(), info.reason()), (4001, "server says bye"));
        assert_eq!(info.initiator, Initiator::Remote);
        assert!(within(client.recv()).await.is_none());
        let info = within(server_task).await;
        assert!(info.was_clean());
        assert_eq!((info.initiator, info.sent.map(|f| f.code.as_u16())), (Initiator::Local, Some(4001)));
    }

    /// A protocol error (unmasked client frame) is `Closed` with 1002, not `Err`; the server closes TCP first.
    async fn protocol_error_is_an_event_not_an_error<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let server = T::spawn(async move {
            let (tcp, _) = T::accept(&listener).await.unwrap();
            let mut ws = accept_with::<_, T::R>(tcp, config(), Arc::default()).await.unwrap();
            let first = within(ws.recv()).await;
            let rest = within(ws.recv()).await;
            (first, rest)
        });
        let mut raw = raw::<T>(within(T::connect(addr)).await.unwrap());
        raw.write_all(upgrade_request("/", "x").as_bytes()).await.unwrap();
        let mut head = vec![0u8; 129];
        within(raw.read_exact(&mut head)).await.unwrap();
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        // An unmasked text frame from a client: a protocol error (1002).
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

    /// Invalid UTF-8 in a text message closes the connection with 1007.
    async fn invalid_utf8_from_the_peer_closes_with_1007<T: TestRt>() {
        let (mut peer, io) = duplex(4096);
        let mut server = websocket::<T, _>(io, Role::Server, config());
        peer.write_all(&client_frame(true, 0x1, &[0xce, 0xba, 0xff])).await.unwrap();
        let info = expect_closed(&mut server).await;
        assert_eq!(info.sent.map(|f| f.code), Some(CloseCode::INVALID_PAYLOAD));
        assert!(matches!(info.error, Some(ProtoError::Protocol(_))));
    }

    /// The server picks its preferred subprotocol among the client's offers.
    async fn subprotocol_negotiated<T: TestRt>() {
        let options = ServerOptions::default().subprotocols(["chat", "superchat"]);
        let request = ClientRequest::new("localhost", "/room?x=1").subprotocol("superchat").subprotocol("chat");
        let (client, server) = tcp_pair_with::<T>(config(), config(), Arc::new(options), request).await;
        assert_eq!(client.protocol(), Some("superchat"));
        assert_eq!(server.protocol(), Some("superchat"));
    }

    /// An application's rejection reaches the client with its status, headers and body.
    async fn application_rejection_reaches_the_client<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let server = T::spawn(async move {
            let (tcp, _) = T::accept(&listener).await.unwrap();
            accept_hdr_with::<_, T::R, _>(tcp, config(), Arc::default(), |req| {
                assert_eq!(req.path(), "/secret");
                Err(Rejection::new(StatusCode::FORBIDDEN, HeaderMap::new(), Bytes::from_static(b"nope")))
            })
            .await
        });
        let tcp = within(T::connect(addr)).await.unwrap();
        match within(connect_with::<_, T::R>(tcp, ClientRequest::new("localhost", "/secret"), config())).await {
            Err(ConnectError::Rejected { status, headers, body }) => {
                assert_eq!((status, &body[..]), (StatusCode::FORBIDDEN, &b"nope"[..]));
                assert_eq!(headers["connection"], "close");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let result = within(server).await;
        assert!(
            matches!(result, Err(AcceptError::Rejected { status: StatusCode::FORBIDDEN, error: None })),
            "{:?}",
            result.map(|_| ())
        );
    }

    /// A plain HTTP request (no upgrade) is answered 426.
    async fn plain_http_request_gets_426<T: TestRt>() {
        let (mut raw, io) = duplex(4096);
        let server = T::spawn(accept_with::<_, T::R>(io, config(), Arc::default()));
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut response = Vec::new();
        within(raw.read_to_end(&mut response)).await.unwrap();
        assert!(response.starts_with(b"HTTP/1.1 426"), "{}", String::from_utf8_lossy(&response));
        let err = within(server).await.map(|_| ()).unwrap_err();
        assert!(matches!(err, AcceptError::Rejected { status, .. } if status == 426), "{err:?}");
    }

    /// The client's handshake timeout ends a connect to a server that never answers, promptly.
    async fn client_handshake_timeout<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        // Accepts and never answers, until the test is over.
        let (done, until_done) = oneshot::channel::<()>();
        let _silent = T::spawn(async move {
            let tcp = T::accept(&listener).await;
            let _ = until_done.await;
            drop(tcp);
        });
        let cfg = config_with(|c| c.handshake_timeout(Some(Duration::from_millis(200))));
        let started = Instant::now();
        let err = within(connect_config::<T::R>(&format!("ws://{addr}/"), cfg)).await.map(|_| ()).unwrap_err();
        assert!(matches!(err, ConnectError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        drop(done);
    }

    /// An incomplete request: the server's handshake timeout answers 408.
    async fn server_handshake_timeout_answers_408<T: TestRt>() {
        let (mut raw, io) = duplex(4096);
        let cfg = config_with(|c| c.handshake_timeout(Some(Duration::from_millis(150))));
        let server = T::spawn(accept_with::<_, T::R>(io, cfg, Arc::default()));
        raw.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut response = Vec::new();
        within(raw.read_to_end(&mut response)).await.unwrap();
        assert!(response.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&response));
        let err = within(server).await.map(|_| ()).unwrap_err();
        assert!(matches!(err, AcceptError::Rejected { error: Some(HandshakeError::Timeout), .. }), "{err:?}");
    }

    /// Async verification accepts after checking a header; one slower than the handshake deadline gets 408.
    async fn async_verification_accepts_and_times_out<T: TestRt>() {
        let (client_io, server_io) = duplex(4096);
        let server = T::spawn(accept_async_with::<_, T::R, _, _>(server_io, config(), Arc::default(), |req| {
            let token = req.request().headers().get("authorization").cloned();
            async move {
                sleep(Duration::from_millis(10)).await;
                match token {
                    Some(t) if t == "Bearer ok" => Ok(Accept::default()),
                    _ => Err(Rejection::new(StatusCode::UNAUTHORIZED, HeaderMap::new(), Bytes::new())),
                }
            }
        }));
        let request = ClientRequest::new("localhost", "/").header("Authorization", "Bearer ok");
        let (mut client, _) = within(connect_with::<_, T::R>(client_io, request, config())).await.unwrap();
        let mut server = within(server).await.unwrap();
        within(client.send("after verify")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(_)))));

        // A verification slower than the handshake deadline gets 408.
        let (client_io, server_io) = duplex(4096);
        let cfg = config_with(|c| c.handshake_timeout(Some(Duration::from_millis(150))));
        let server = T::spawn(accept_async_with::<_, T::R, _, _>(server_io, cfg, Arc::default(), |_| async {
            sleep(Duration::from_secs(10)).await;
            Ok(Accept::default())
        }));
        let err = within(connect_with::<_, T::R>(client_io, ClientRequest::new("localhost", "/"), config()))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, ConnectError::Rejected { status, .. } if status == 408), "{err:?}");
        assert!(within(server).await.is_err());
    }

    /// Keepalive pings after the idle interval and, unanswered, closes with 1011 at the pong deadline.
    async fn keepalive_ping_then_pong_deadline<T: TestRt>() {
        let cfg = config_with(|c| c.keep_alive(Some(Duration::from_millis(300)), Some(Duration::from_millis(200))));
        let (peer, io) = duplex(4096);
        let mut server = websocket::<T, _>(io, Role::Server, cfg);
        // The peer reads what arrives but never answers.
        let peer = T::spawn(async move {
            let (mut rd, _wr) = peer.split();
            let mut wire = Vec::new();
            let _ = rd.read_to_end(&mut wire).await;
            wire
        });
        let started = Instant::now();
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Pong)));
                assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::INTERNAL_ERROR));
            }
            other => panic!("{other:?}"),
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        drop(server);
        let wire = within(peer).await;
        let (frames, _) = server_frames(&wire);
        assert_eq!(frames[0].1, 0x9, "a keepalive ping first");
        assert_eq!(frames[1].1, 0x8, "then the close");
    }

    /// Keepalive pings answered by the peer keep the connection open indefinitely.
    async fn keepalive_answered_keeps_the_connection_open<T: TestRt>() {
        let cfg = config_with(|c| c.keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_millis(300))));
        let (mut client, mut server) = raw_pair::<T>(4096, config(), cfg);
        let client_task = T::spawn(async move {
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

    /// A close the peer never answers ends at the close timeout (1006, `Timeout(Close)`).
    async fn close_timeout_ends_an_unanswered_close<T: TestRt>() {
        let cfg = config_with(|c| c.close_timeout(Some(Duration::from_millis(300))));
        let (peer, io) = duplex(4096);
        let mut server = websocket::<T, _>(io, Role::Server, cfg);
        let _peer = T::spawn(async move {
            let (mut rd, _wr) = peer.split();
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        });
        let started = Instant::now();
        within(server.close(4000u16, "going")).await.unwrap();
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close)));
                assert_eq!(info.code(), CloseCode::ABNORMAL);
            }
            other => panic!("{other:?}"),
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(within(server.recv()).await.is_none());
    }

    /// `from_parts`: bytes read past the handshake are consumed before the stream.
    async fn from_parts_consumes_leftover_bytes_first<T: TestRt>() {
        let (mut peer, io) = duplex(4096);
        let mut leftover = client_frame(true, 0x1, b"early");
        leftover.extend(client_frame(false, 0x2, b"ab"));
        let mut server =
            WebSocket::<_, T::R>::from_parts(io, Bytes::from(leftover), connection::<T>(Role::Server, config()));
        peer.write_all(&client_frame(true, 0x0, b"cd")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "early"));
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Binary(b)))) if b == "abcd"));
    }

    /// A paused connection delivers nothing until resumed.
    async fn pause_and_resume<T: TestRt>() {
        let (mut client, mut server) = pipe_pair::<T>(4096, config()).await;
        within(client.send("one")).await.unwrap();
        server.pause();
        assert!(server.is_paused());
        assert!(timeout(Duration::from_millis(100), server.recv()).await.is_none(), "paused: no event");
        server.resume();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(Message::Text(t)))) if t == "one"));
    }

    /// Node's rules: pause and resume do nothing once the connection is closed (a connection
    /// paused before its end stays paused, and its `Closed` still arrives), on the whole socket
    /// and on the split reader.
    async fn pause_and_resume_do_nothing_once_closed<T: TestRt>() {
        let (mut client, mut server) = pipe_pair::<T>(4096, config()).await;
        server.terminate();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Closed(_)))));
        server.pause();
        assert!(!server.is_paused(), "pause after the close");
        client.pause();
        client.terminate();
        client.resume();
        assert!(client.is_paused(), "resume after the close");
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Closed(_)))), "terminated: Closed despite the pause");

        let (client, _server) = pipe_pair::<T>(4096, config()).await;
        let (mut reader, mut writer) = client.split();
        reader.pause();
        assert!(reader.is_paused());
        reader.resume();
        assert!(!reader.is_paused());
        writer.terminate();
        assert!(matches!(within(reader.recv()).await, Some(Ok(Event::Closed(_)))));
        reader.pause();
        assert!(!reader.is_paused(), "split reader: pause after the close");
    }

    /// `terminate` ends the connection at once: 1006 here, 1006 with an unexpected EOF there.
    async fn terminate_reports_abnormal_closure_on_both_sides<T: TestRt>() {
        let (mut client, mut server) = tcp_pair::<T>(config()).await;
        client.terminate();
        assert!(matches!(client.send("x").await, Err(Error::Send(_))));
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
            other => panic!("{other:?}"),
        }
        assert!(within(client.recv()).await.is_none());
        drop(client);
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!((info.code(), info.error), (CloseCode::ABNORMAL, Some(ProtoError::UnexpectedEof)));
            }
            other => panic!("{other:?}"),
        }
    }

    /// After `terminate`, the messages already received are still delivered before `Closed`
    /// (1006), as Node `ws` emits them before 'close'; a message missing its last frame is not,
    /// and nothing is read or written any more.
    async fn terminate_delivers_the_messages_already_received<T: TestRt>() {
        let (mut client, mut server) = raw_pair::<T>(4096, config(), config());
        // One write: the client's first read takes it all, and its first recv parses one message.
        within(server.feed("one")).await.unwrap();
        within(server.feed("two")).await.unwrap();
        within(server.send_frame_part(MessageKind::Text, "three, first half", false)).await.unwrap();
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("one")));
        assert!(client.connection().buffered_input() > 0, "the rest was read with the first message");
        client.terminate();
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("two")));
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!((info.code(), info.initiator, info.close_sent), (CloseCode::ABNORMAL, Initiator::Local, false));
            }
            other => panic!("expected Closed after the messages received, got {other:?}"),
        }
        assert!(within(client.recv()).await.is_none());
        drop(client);
        // Nothing was written: the server sees the stream end without a close frame.
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!((info.code(), info.error), (CloseCode::ABNORMAL, Some(ProtoError::UnexpectedEof)));
            }
            other => panic!("{other:?}"),
        }
    }

    /// `try_send` queues without writing; `recv` writes what is queued before waiting.
    async fn try_send_queues_without_writing<T: TestRt>() {
        let (mut client, mut server) = pipe_pair::<T>(4096, config()).await;
        client.try_send("queued").unwrap();
        assert!(client.buffered_amount() > 0);
        // recv writes what is queued before waiting for input.
        let _ = timeout(Duration::from_millis(50), client.recv()).await;
        assert_eq!(client.buffered_amount(), 0);
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("queued")));
    }

    /// `connect` with `ws://` and `ws+unix://` URLs; a refused connection is an IO error.
    async fn connect_ws_and_ws_unix_urls<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let server = T::spawn(async move {
            let (tcp, _) = T::accept(&listener).await.unwrap();
            let ws = accept_hdr_with::<_, T::R, _>(tcp, config(), Arc::default(), |req| {
                assert_eq!(req.request().uri(), "/chat?room=1");
                req.negotiate()
            })
            .await
            .unwrap();
            echo(ws).await
        });
        let url = format!("ws://{addr}/chat?room=1");
        let (mut ws, _) = within(connect::<T::R>(&url)).await.unwrap();
        assert_eq!(T::kind(ws.get_ref()), StreamKind::Tcp);
        assert_eq!(ws.url(), Some(url.as_str()));
        within(ws.send("over tcp")).await.unwrap();
        assert!(matches!(within(ws.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("over tcp")));
        within(ws.close(1000u16, "")).await.unwrap();
        assert!(expect_closed(&mut ws).await.was_clean());
        assert!(within(ws.recv()).await.is_none());
        assert_eq!(within(server).await.code(), CloseCode::NORMAL);

        #[cfg(unix)]
        {
            let dir = std::env::temp_dir().join(format!("ws-async-suite-{}-{}", std::process::id(), T::NAME));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("s.sock");
            let _ = std::fs::remove_file(&path);
            let listener = T::bind_unix(&path).unwrap();
            let server = T::spawn(async move {
                let io = T::accept_unix(&listener).await.unwrap();
                accept_hdr_with::<_, T::R, _>(io, config(), Arc::default(), |req| {
                    assert_eq!(req.path(), "/p");
                    req.negotiate()
                })
                .await
                .unwrap()
            });
            let url = format!("ws+unix://{}:/p", path.display());
            let (mut ws, _) = within(connect::<T::R>(&url)).await.unwrap();
            assert_eq!(T::kind(ws.get_ref()), StreamKind::Unix);
            let mut server = within(server).await;
            within(ws.send("over unix")).await.unwrap();
            assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("over unix")));
            within(server.close(1000u16, "")).await.unwrap();
            let _server = T::spawn(async move { while server.recv().await.is_some() {} });
            assert!(expect_closed(&mut ws).await.was_clean());
            let _ = std::fs::remove_dir_all(&dir);
        }

        let refused = within(connect::<T::R>("ws://127.0.0.1:1/")).await.map(|_| ()).unwrap_err();
        assert!(matches!(refused, ConnectError::Io(_)), "{refused:?}");
    }

    /// A write to a gone peer is an IO error, then the connection reports `Closed` (1006) and ends.
    async fn io_failure_is_an_error_then_closed<T: TestRt>() {
        let (mut client, mut server) = raw_pair::<T>(64, config(), config());
        within(client.send("x")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(_)))));
        // The peer's pipe is gone: writing fails with an IO error, not a protocol event.
        drop(client);
        let err = within(server.send(vec![0u8; 10_000])).await.unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err:?}");
        match within(server.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
            other => panic!("{other:?}"),
        }
        assert!(within(server.recv()).await.is_none());
    }

    /// Random bytes then EOF from the peer end in `Closed`, never a panic or an `Err`.
    async fn garbage_from_the_peer_never_panics<T: TestRt>() {
        for seed in 0u32..40 {
            let (mut peer, io) = duplex(1 << 16);
            let mut server = websocket::<T, _>(io, Role::Server, config());
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
            let _ = peer.shutdown().await;
            let info = expect_closed(&mut server).await;
            assert!(!info.was_clean() || info.close_received, "{info:?}");
        }
    }

    /// The connection, its halves, byte stream, driver and handles are `Send` (handles, readers, errors `Sync`).
    async fn types_can_cross_tasks<T: TestRt>() {
        fn send<X: Send>() {}
        fn send_sync<X: Send + Sync>() {}
        send::<WebSocket<T::Tcp, T::R>>();
        send::<WebSocket<<T::R as Net>::ClientStream, T::R>>();
        send::<WsReader<T::Tcp, T::R>>();
        send::<WsWriter<T::Tcp, T::R>>();
        send::<WsByteStream<T::Tcp, T::R>>();
        send::<Driver<T::Tcp, T::R>>();
        send::<EventReceiver>();
        send_sync::<WsHandle>();
        send_sync::<WsReader<T::Tcp, T::R>>();
        send_sync::<Error>();
    }
}
