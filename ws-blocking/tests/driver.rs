//! Driver mode (`WebSocket::spawn`): a driven server connection echoes N messages; handles
//! send from several threads; a handle's close reaches the peer with its code; keepalive pings
//! go out while the application is idle (also while its event channel is full); the close
//! timeout ends a connection whose peer never answers; backpressure (`try_send` hands the
//! message back, `send` waits); terminate; dropping every handle and the receiver closes with
//! 1000; a tracked `Server` connection. The events always end with `Event::Closed`, then
//! `None`. Every test runs under a watchdog.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{serve, watchdog, ReadEvent};
use ws_blocking::ws_proto::{Error as ProtoError, TimeoutKind};
use ws_blocking::{
    accept_with, connect, ClientStream, CloseCode, CloseInfo, Config, Error, Event, EventReceiver, Message,
    ServerOptions, TrySendError, WebSocket, WsHandle,
};

/// A server accepting one connection with `config`, driven with `queue`, handed to `app`.
fn driven_server<F>(config: Config, queue: usize, app: F) -> SocketAddr
where
    F: Fn(WsHandle, EventReceiver) + Send + Sync + 'static,
{
    let config = Arc::new(config);
    let options = Arc::new(ServerOptions::default());
    serve(1, move |stream| {
        let ws = accept_with(stream, config.clone(), options.clone()).unwrap();
        let (handle, events) = ws.spawn(queue);
        app(handle, events);
    })
    .0
}

fn client(addr: SocketAddr) -> WebSocket<ClientStream> {
    connect(&format!("ws://{addr}/")).unwrap().0
}

/// Drains the receiver: the events after the data, which must end with exactly one
/// `Event::Closed`, then `None`. Returns that close.
fn ends_with_closed(events: &mut EventReceiver) -> CloseInfo {
    let mut closed = None;
    for event in events {
        match event {
            Ok(Event::Closed(info)) => {
                assert!(closed.is_none(), "Closed twice");
                closed = Some(info);
            }
            Ok(other) => assert!(closed.is_none(), "{other:?} after Closed"),
            Err(e) => assert!(closed.is_none(), "{e} after Closed"),
        }
    }
    closed.expect("no Event::Closed")
}

/// Reads the client's events until its close, returning the data messages and the close.
fn read_all<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> (Vec<Message>, CloseInfo) {
    let mut messages = Vec::new();
    loop {
        match ws.read_event().unwrap() {
            Event::Message(m) => messages.push(m),
            Event::Closed(info) => return (messages, info),
            _ => {}
        }
    }
}

#[test]
fn driven_server_echoes_n_messages() {
    const N: usize = 2000;
    watchdog(30, || {
        let (tx, rx) = mpsc::channel();
        let addr = driven_server(Config::default(), 16, move |handle, mut events| {
            let mut echoed = 0;
            while let Some(event) = events.recv() {
                match event.unwrap() {
                    Event::Message(m) => {
                        handle.send(m).unwrap();
                        echoed += 1;
                    }
                    Event::Closed(info) => {
                        // Nothing after Closed but the end.
                        assert!(events.recv().is_none());
                        tx.send((echoed, info)).unwrap();
                        break;
                    }
                    _ => {}
                }
            }
            handle.closed();
            assert!(handle.is_closed());
        });
        let (mut reader, mut writer) = client(addr).split();
        let sender = thread::spawn(move || {
            for i in 0..N {
                if i % 2 == 0 {
                    writer.send(format!("text {i}")).unwrap();
                } else {
                    writer.send(vec![i as u8; i % 700]).unwrap();
                }
            }
            writer
        });
        for i in 0..N {
            let expected =
                if i % 2 == 0 { Message::text(format!("text {i}")) } else { Message::binary(vec![i as u8; i % 700]) };
            assert_eq!(reader.recv_message().unwrap().unwrap(), expected, "message {i}");
        }
        let mut writer = sender.join().unwrap();
        writer.close(CloseCode::NORMAL, "done").unwrap();
        while reader.recv().is_some() {}
        assert!(reader.close_info().unwrap().was_clean());
        let (echoed, info) = rx.recv().unwrap();
        assert_eq!(echoed, N);
        assert_eq!(info.code(), CloseCode::NORMAL);
        assert_eq!(info.reason(), "done");
    });
}

#[test]
fn handles_send_from_several_threads() {
    const THREADS: usize = 4;
    const EACH: usize = 250;
    watchdog(30, || {
        let addr = driven_server(Config::default(), 4, |handle, mut events| {
            let senders: Vec<_> = (0..THREADS)
                .map(|t| {
                    let handle = handle.clone();
                    thread::spawn(move || {
                        for i in 0..EACH {
                            handle.send(format!("{t}:{i}")).unwrap();
                        }
                    })
                })
                .collect();
            for s in senders {
                s.join().unwrap();
            }
            handle.close(CloseCode::NORMAL, "all sent").unwrap();
            ends_with_closed(&mut events);
        });
        let mut ws = client(addr);
        let (messages, info) = read_all(&mut ws);
        assert_eq!(messages.len(), THREADS * EACH);
        // Every thread's messages arrive whole and in its order.
        let mut next = HashMap::new();
        for m in messages {
            let Message::Text(t) = m else { panic!("{m:?}") };
            let (t, i) = t.split_once(':').unwrap();
            let expected = next.entry(t.to_string()).or_insert(0usize);
            assert_eq!(i.parse::<usize>().unwrap(), *expected);
            *expected += 1;
        }
        assert!(next.values().all(|n| *n == EACH));
        assert_eq!(info.received.unwrap().code, CloseCode::NORMAL);
    });
}

#[test]
fn close_from_the_handle_reaches_the_peer() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let addr = driven_server(Config::default(), 8, move |handle, mut events| {
            handle.send("before the close").unwrap();
            handle.close(4000u16, "done here").unwrap();
            // Nothing handed over after the close is dropped silently: it is refused.
            assert!(matches!(handle.send("late"), Err(Error::Send(_) | Error::ConnectionClosed)));
            assert!(matches!(handle.try_send("late"), Err(TrySendError::Closed(m)) if m == Message::text("late")));
            assert!(matches!(handle.close(1000u16, ""), Err(Error::Send(_) | Error::ConnectionClosed)));
            let info = ends_with_closed(&mut events);
            handle.closed();
            assert!(handle.is_closed());
            assert!(matches!(handle.send("later"), Err(Error::ConnectionClosed)));
            assert!(matches!(handle.ping(b""), Err(Error::ConnectionClosed)));
            assert!(matches!(handle.terminate(), Err(Error::ConnectionClosed)));
            tx.send(info).unwrap();
        });
        let mut ws = client(addr);
        let (messages, info) = read_all(&mut ws);
        assert_eq!(messages, [Message::text("before the close")]);
        let received = info.received.unwrap();
        assert_eq!(received.code, CloseCode::from(4000u16));
        assert_eq!(received.reason, "done here");
        while ws.recv().is_some() {}
        let server = rx.recv().unwrap();
        assert!(server.was_clean(), "{server:?}");
        assert_eq!(server.sent.unwrap().code, CloseCode::from(4000u16));
    });
}

#[test]
fn keepalive_pings_while_the_app_is_idle() {
    watchdog(20, || {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let done_rx = Mutex::new(done_rx);
        let config = Config::default().keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_secs(5)));
        let addr = driven_server(config, 8, move |_handle, mut events| {
            // The application does nothing until the client is done: the driver pings.
            done_rx.lock().unwrap().recv().unwrap();
            let pongs = events.iter().filter(|e| matches!(e, Ok(Event::Pong(_)))).count();
            assert!(pongs >= 3, "{pongs} pongs");
        });
        let mut ws = client(addr);
        let start = Instant::now();
        let mut pings = 0;
        while pings < 3 {
            match ws.read_event().unwrap() {
                Event::Ping(_) => pings += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        done_tx.send(()).unwrap();
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.recv().is_some() {}
        assert!(ws.close_info().unwrap().was_clean());
    });
}

#[test]
fn keepalive_goes_on_while_the_event_channel_is_full() {
    watchdog(20, || {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let done_rx = Mutex::new(done_rx);
        let config = Config::default().keep_alive(Some(Duration::from_millis(100)), None);
        let addr = driven_server(config, 1, move |_handle, mut events| {
            done_rx.lock().unwrap().recv().unwrap();
            let messages = events.iter().filter(|e| matches!(e, Ok(Event::Message(_)))).count();
            assert_eq!(messages, 20);
        });
        let (mut reader, mut writer) = client(addr).split();
        // Far more than the channel holds: the driver stops reading; its pings still come.
        for i in 0..20 {
            writer.send(format!("unread {i}")).unwrap();
        }
        let mut pings = 0;
        while pings < 3 {
            if let Event::Ping(_) = reader.read_event().unwrap() {
                pings += 1;
            }
        }
        done_tx.send(()).unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        while reader.recv().is_some() {}
    });
}

#[test]
fn close_timeout_ends_a_silent_peer() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let config = Config::default().close_timeout(Some(Duration::from_millis(300)));
        let addr = driven_server(config, 8, move |handle, mut events| {
            // Nothing arrives: the reader blocks without a read timeout when `close` arms the
            // close timer; the driver's flusher fires it.
            assert!(matches!(events.recv_timeout(Duration::from_millis(100)), Err(RecvTimeoutError::Timeout)));
            assert!(events.try_recv().is_none());
            let start = Instant::now();
            handle.close(CloseCode::NORMAL, "").unwrap();
            let info = ends_with_closed(&mut events);
            tx.send((info, start.elapsed())).unwrap();
            assert!(matches!(events.recv_timeout(Duration::from_millis(10)), Err(RecvTimeoutError::Disconnected)));
        });
        // A peer that completes the handshake and then never reads nor answers.
        let ws = client(addr);
        let (info, took) = rx.recv().unwrap();
        assert_eq!(info.error, Some(ProtoError::Timeout(TimeoutKind::Close)));
        assert!(took < Duration::from_secs(3), "{took:?}");
        drop(ws);
    });
}

#[test]
fn backpressure_try_send_hands_back_send_waits() {
    watchdog(60, || {
        let (tx, rx) = mpsc::channel();
        let addr = driven_server(Config::default(), 2, move |handle, mut events| {
            let payload = vec![7u8; 1 << 20];
            let mut accepted = 0usize;
            // The client does not read: the socket buffers, then the output, fill up. `Full`
            // hands the message back. It lasts once the kernel stops taking more (its send
            // buffer may still grow for a while: wait until nothing moved for 750 ms).
            let mut full_in_a_row = 0;
            while full_in_a_row < 15 {
                match handle.try_send(payload.clone()) {
                    Ok(()) => {
                        accepted += 1;
                        full_in_a_row = 0;
                    }
                    Err(TrySendError::Full(back)) => {
                        assert_eq!(back, Message::binary(payload.clone()));
                        full_in_a_row += 1;
                        thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("{e:?}"),
                }
                assert!(accepted < 1000, "never full");
            }
            // `send` waits until the client reads.
            let waiting = {
                let handle = handle.clone();
                let payload = payload.clone();
                thread::spawn(move || handle.send(payload))
            };
            thread::sleep(Duration::from_millis(300));
            if waiting.is_finished() {
                panic!("send did not wait: {:?}", waiting.join().unwrap());
            }
            // The client reads once it knows how many to expect.
            tx.send(accepted + 1).unwrap();
            waiting.join().unwrap().unwrap();
            handle.close(CloseCode::NORMAL, "").unwrap();
            ends_with_closed(&mut events);
        });
        let mut ws = client(addr);
        let expected = rx.recv().unwrap();
        let (messages, _) = read_all(&mut ws);
        assert_eq!(messages.len(), expected);
        assert!(messages.iter().all(|m| m.len() == 1 << 20));
    });
}

#[test]
fn terminate_drops_the_connection() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let addr = driven_server(Config::default(), 8, move |handle, mut events| {
            handle.terminate().unwrap();
            let info = ends_with_closed(&mut events);
            assert!(matches!(handle.terminate(), Err(Error::ConnectionClosed)));
            tx.send(info).unwrap();
        });
        let mut ws = client(addr);
        let (_, info) = read_all(&mut ws);
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        assert_eq!(rx.recv().unwrap().code(), CloseCode::ABNORMAL);
    });
}

/// `terminate` while the event channel is full: the messages already received (one in the
/// channel, the rest read but not yet parsed while the driver waited for room) all reach the
/// receiver before `Closed` (1006).
#[test]
fn terminate_delivers_the_messages_already_received() {
    watchdog(20, || {
        let (done, wait) = mpsc::channel::<()>();
        let wait = Mutex::new(Some(wait));
        let (addr, _) = serve(1, move |stream| {
            let mut ws = accept_with(stream, Arc::new(Config::default()), Arc::new(ServerOptions::default())).unwrap();
            for m in ["one", "two", "three", "four"] {
                ws.feed(m).unwrap();
            }
            ws.flush().unwrap();
            if let Some(wait) = wait.lock().unwrap().take() {
                let _ = wait.recv();
            }
        });
        let ws = client(addr);
        // All four are in the socket buffer before the driver's first read.
        thread::sleep(Duration::from_millis(100));
        let (handle, mut events) = ws.spawn(1);
        // Let the driver read them, fill the channel and wait for room.
        thread::sleep(Duration::from_millis(100));
        handle.terminate().unwrap();
        for m in ["one", "two", "three", "four"] {
            match events.recv() {
                Some(Ok(Event::Message(got))) => assert_eq!(got, Message::text(m)),
                other => panic!("expected {m}, got {other:?}"),
            }
        }
        match events.recv() {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
            other => panic!("expected Closed after the messages received, got {other:?}"),
        }
        assert!(events.recv().is_none());
        drop(done);
    });
}

#[test]
fn dropping_handles_and_receiver_closes_with_1000() {
    watchdog(20, || {
        let addr = driven_server(Config::default(), 8, |handle, events| {
            handle.send("last").unwrap();
            drop(events);
            let second = handle.clone();
            drop(handle);
            second.send("very last").unwrap();
            drop(second);
        });
        let mut ws = client(addr);
        let (messages, info) = read_all(&mut ws);
        assert_eq!(messages, [Message::text("last"), Message::text("very last")]);
        assert_eq!(info.received.unwrap().code, CloseCode::NORMAL);
        while ws.recv().is_some() {}
        assert!(ws.close_info().unwrap().was_clean());
    });
}

#[cfg(feature = "server")]
#[test]
fn driven_client_and_tracked_server_connection() {
    watchdog(20, || {
        let server = ws_blocking::server::Server::builder().bind("127.0.0.1", 0).unwrap();
        let addr = server.local_addr().unwrap();
        let server = Arc::new(server);
        let accepting = server.clone();
        let t = thread::spawn(move || {
            let conn = accepting.accept().unwrap();
            let (handle, mut events) = conn.ws.spawn(8);
            for event in &mut events {
                match event.unwrap() {
                    Event::Message(m) => handle.send(m).unwrap(),
                    Event::Closed(_) => break,
                    _ => {}
                }
            }
            assert!(events.recv().is_none());
        });
        // The client side driven too.
        let (handle, mut events) = client(addr).spawn(8);
        handle.send("hello").unwrap();
        assert!(matches!(events.recv(), Some(Ok(Event::Message(m))) if m == Message::text("hello")));
        // A broadcast reaches the driven tracked connection through its flusher.
        while server.clients().is_empty() {
            thread::sleep(Duration::from_millis(10));
        }
        server.clients().broadcast_message("to all");
        assert!(matches!(events.recv(), Some(Ok(Event::Message(m))) if m == Message::text("to all")));
        handle.ping(b"p").unwrap();
        assert!(matches!(events.recv(), Some(Ok(Event::Pong(p))) if &p[..] == b"p"));
        handle.close(CloseCode::NORMAL, "").unwrap();
        let info = ends_with_closed(&mut events);
        assert!(info.was_clean());
        handle.closed();
        t.join().unwrap();
    });
}

#[test]
fn handles_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    check::<WsHandle>();
    send::<EventReceiver>();
}

/// Raw bytes to a driven server: a protocol error ends the events with `Closed` (1002).
#[test]
fn protocol_error_ends_the_events() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let addr = driven_server(Config::default(), 8, move |_handle, mut events| {
            loop {
                match events.recv() {
                    Some(Ok(Event::Closed(info))) => break tx.send(info).unwrap(),
                    Some(Ok(_)) => {}
                    other => panic!("{other:?}"),
                }
            }
            // The connection is over once the peer closes TCP.
            assert!(events.recv().is_none());
        });
        let mut raw = TcpStream::connect(addr).unwrap();
        raw.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        // An unmasked frame from a client breaks RFC 6455.
        raw.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        let info = rx.recv().unwrap();
        assert!(matches!(info.error, Some(ProtoError::Protocol(_))), "{info:?}");
        assert_eq!(info.sent.unwrap().code, CloseCode::PROTOCOL_ERROR);
        drop(raw);
    });
}

/// The peer's close does not overtake the answers: a client sends 40 messages and its close
/// in one write; the driven application answers each after a pause and gets every answer out
/// before the close echo (which waits for it to take the events before the close).
#[test]
fn answers_go_before_the_close_echo() {
    const N: usize = 40;
    watchdog(30, || {
        let addr = driven_server(Config::default(), 4, move |handle, mut events| {
            while let Some(event) = events.recv() {
                if let Ok(Event::Message(m)) = event {
                    thread::sleep(Duration::from_millis(1));
                    handle.send(m).unwrap();
                }
            }
        });
        let mut tcp = TcpStream::connect(addr).unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        let mut wire = request.into_bytes();
        let masked = |opcode: u8, payload: &[u8]| {
            let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
            f.extend_from_slice(payload);
            f
        };
        for i in 0..N {
            wire.extend(masked(0x1, format!("m{i}").as_bytes()));
        }
        wire.extend(masked(0x8, b"\x03\xe8done"));
        tcp.write_all(&wire).unwrap();
        let mut out = Vec::new();
        tcp.read_to_end(&mut out).unwrap();
        let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut rest = &out[head_end..];
        let mut frames = Vec::new();
        while rest.len() >= 2 {
            let len = usize::from(rest[1] & 0x7f);
            frames.push((rest[0] & 0x0f, rest[2..2 + len].to_vec()));
            rest = &rest[2 + len..];
        }
        let texts: Vec<_> =
            frames.iter().filter(|f| f.0 == 0x1).map(|f| String::from_utf8(f.1.clone()).unwrap()).collect();
        assert_eq!(texts, (0..N).map(|i| format!("m{i}")).collect::<Vec<_>>());
        let last = frames.last().unwrap();
        assert_eq!((last.0, &last.1[..]), (0x8, &b"\x03\xe8done"[..]), "the close echo comes last");
    });
}

/// `WsHandle::send_with` / `try_send_with` (Node send options): with permessage-deflate agreed,
/// the default options compress, `compress(false)` sends that one message uncompressed (the
/// client receives the whole payload's bytes), and a client handle's `mask(false)` is refused
/// by the server with 1002.
#[test]
fn handle_send_with_compress_and_mask() {
    use ws_blocking::{ClientBuilder, DeflateConfig, SendOptions};
    watchdog(30, || {
        let text = "a compressible line of text, ".repeat(100);
        let (server_events_tx, server_events) = mpsc::channel();
        let (handles_tx, handles) = mpsc::channel();
        let options = Arc::new(ServerOptions::default().per_message_deflate(Some(DeflateConfig::default())));
        let (addr, _done) = serve(1, move |stream| {
            let ws = accept_with(stream, Arc::new(Config::default()), options.clone()).unwrap();
            let (handle, events) = ws.spawn(8);
            handles_tx.send(handle).unwrap();
            for event in events {
                server_events_tx.send(event.map_err(|e| e.to_string())).unwrap();
            }
        });
        let (mut client, _) = ClientBuilder::new(format!("ws://{addr}/")).connect().unwrap();
        let agreed = ws_blocking::extension::parse(client.extensions().expect("deflate agreed")).unwrap();
        assert_eq!(agreed[0].name, "permessage-deflate");
        let handle: WsHandle = handles.recv().unwrap();
        let sends = [
            (SendOptions::default(), true),
            (SendOptions::default().compress(false), false),
            (SendOptions::default().compress(false).mask(false), false),
        ];
        for (i, (opts, compressed)) in sends.into_iter().enumerate() {
            let before = client.bytes_received();
            if i == 1 {
                handle.try_send_with(text.as_str(), opts).unwrap();
            } else {
                handle.send_with(text.as_str(), opts).unwrap();
            }
            match client.read_event().unwrap() {
                Event::Message(m) => assert_eq!(m, Message::text(text.as_str())),
                other => panic!("{other:?}"),
            }
            let wire = client.bytes_received() - before;
            if compressed {
                assert!(wire < 200, "compressed: {wire} bytes on the wire");
            } else {
                // Servers never mask, whatever `mask` says: the frame is the payload plus a header.
                assert_eq!(wire, text.len() as u64 + 4, "uncompressed");
            }
        }

        // A client in driver mode sending unmasked: the server fails the connection with 1002.
        let (handle, mut client_events) = client.spawn(8);
        handle.send_with("masked", SendOptions::default().compress(false)).unwrap();
        let first = server_events.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(matches!(first, Ok(Event::Message(ref m)) if *m == Message::text("masked")), "{first:?}");
        handle.send_with("unmasked", SendOptions::default().mask(false)).unwrap();
        let info = ends_with_closed(&mut client_events);
        assert_eq!(info.code(), CloseCode::PROTOCOL_ERROR);
        assert!(matches!(handle.send_with("late", SendOptions::default()), Err(Error::ConnectionClosed)));
        assert!(matches!(handle.try_send_with("late", SendOptions::default()), Err(TrySendError::Closed(_))));
    });
}
