//! The reactor (`ws_blocking::reactor`): many connections on one thread. A server driven
//! with `Server::drive_on` echoes every message of many concurrent clients; N messages then a
//! close come back as N echoes then the close; a handle sends from another thread to an idle
//! connection; tracked reactor connections get broadcasts, leave `clients()` before their
//! handler sees `Closed`, and `shutdown` closes them with 1001; keepalive pings and the pong
//! deadline fire on the reactor; a peer that sends without reading is pushed back
//! (the reactor stops reading, so the peer's writes block); a panicking handler ends only its
//! own connection; a client connection can be driven too; a stream without a descriptor is
//! refused. Loopback only; every test runs under a watchdog.
#![cfg(all(unix, feature = "server"))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ws_blocking::reactor::Reactor;
use ws_blocking::server::Server;
use ws_blocking::{connect, CloseCode, Config, Error, Event, Message, WsHandle};

mod common;
use common::{watchdog, ReadEvent};

/// A handler that echoes messages and reports every event's kind on `tx`.
fn echo(tx: Option<Sender<String>>) -> impl FnMut(&WsHandle, io::Result<Event>) + Send + 'static {
    move |ws, event| {
        let kind = match event {
            Ok(Event::Message(m)) => {
                let kind = format!("message {}", m.len());
                ws.send(m).unwrap();
                kind
            }
            Ok(Event::Closed(info)) => format!("closed {}", u16::from(info.code())),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("error {e}"),
        };
        if let Some(tx) = &tx {
            let _ = tx.send(kind);
        }
    }
}

/// A server on 127.0.0.1 whose connections run on one reactor with `handler()`'s handlers.
fn reactor_server<H: ws_blocking::reactor::Handler>(
    config: Config,
    mut handler: impl FnMut() -> H + Send + 'static,
) -> (Arc<Server>, Reactor, SocketAddr) {
    let server = Arc::new(Server::builder().config(Arc::new(config)).bind("127.0.0.1", 0).unwrap());
    let addr = server.local_addr().unwrap();
    let reactor = Reactor::new().unwrap();
    let (s, r) = (server.clone(), reactor.clone());
    thread::spawn(move || s.drive_on(&r, |_conn| handler()).unwrap());
    (server, reactor, addr)
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

#[test]
fn echoes_many_clients_on_one_thread() {
    watchdog(60, || {
        let (_server, reactor, addr) = reactor_server(Config::default(), || echo(None));
        let clients: Vec<_> = (0..40)
            .map(|c| {
                thread::spawn(move || {
                    let mut ws = connect(&url(addr)).unwrap().0;
                    for i in 0..50usize {
                        let size = [1, 125, 126, 70_000][i % 4] + c;
                        let payload: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
                        ws.send(payload.clone()).unwrap();
                        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::binary(payload));
                    }
                    ws
                })
            })
            .collect();
        let mut open: Vec<_> = clients.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(reactor.connections(), 40);
        for ws in &mut open {
            ws.close(CloseCode::NORMAL, "").unwrap();
            while ws.recv().is_some() {}
            assert_eq!(ws.close_info().unwrap().code(), CloseCode::NORMAL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while reactor.connections() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(reactor.connections(), 0, "closed connections are dropped");
    });
}

#[test]
fn answers_come_before_the_close_echo() {
    watchdog(30, || {
        let (tx, rx) = mpsc::channel();
        let (_server, _reactor, addr) = reactor_server(Config::default(), move || echo(Some(tx.clone())));
        let mut ws = connect(&url(addr)).unwrap().0;
        // Everything at once: the server reads the messages and the close in one go.
        for i in 0..200 {
            ws.feed(format!("message {i}")).unwrap();
        }
        ws.close(CloseCode::NORMAL, "done").unwrap();
        let mut echoed = 0;
        while let Some(event) = ws.recv() {
            match event.unwrap() {
                Event::Message(m) => {
                    assert_eq!(m, Message::text(format!("message {echoed}")));
                    echoed += 1;
                }
                Event::Closed(info) => assert_eq!(info.code(), CloseCode::NORMAL),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(echoed, 200, "every message before the close was answered");
        let kinds: Vec<String> = rx.iter().take(201).collect();
        assert_eq!(kinds.last().unwrap(), "closed 1000");
    });
}

#[test]
fn a_handle_sends_from_another_thread_to_an_idle_connection() {
    watchdog(30, || {
        let server = Server::builder().bind("127.0.0.1", 0).unwrap();
        let addr = server.local_addr().unwrap();
        let reactor = Reactor::new().unwrap();
        let (handles_tx, handles_rx) = mpsc::channel();
        let r = reactor.clone();
        thread::spawn(move || {
            server
                .drive_on(&r, |conn| {
                    handles_tx.send(conn.handle.clone()).unwrap();
                    |_: &WsHandle, _: io::Result<Event>| {}
                })
                .unwrap();
        });
        let mut ws = connect(&url(addr)).unwrap().0;
        let handle: WsHandle = handles_rx.recv().unwrap();
        // The connection is idle (nothing to read): only the handle's wake-up moves it.
        thread::sleep(Duration::from_millis(100));
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let handle = handle.clone();
                thread::spawn(move || {
                    for i in 0..25 {
                        handle.send(format!("{t}:{i}")).unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..100 {
            got.push(ws.recv_message().unwrap().unwrap());
        }
        for t in 0..4 {
            let expected: Vec<_> = (0..25).map(|i| Message::text(format!("{t}:{i}"))).collect();
            let mine: Vec<_> = got.iter().filter(|m| expected.contains(m)).cloned().collect();
            assert_eq!(mine, expected, "every message, in order per sender");
        }
        handle.close(CloseCode::GOING_AWAY, "bye").unwrap();
        let closed = loop {
            if let Event::Closed(info) = ws.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(closed.code(), CloseCode::GOING_AWAY);
        // The client closes its side once the server's is closed; then the reactor lets go.
        while ws.recv().is_some() {}
        handle.closed();
        assert!(handle.is_closed());
        assert!(matches!(handle.send("late"), Err(Error::ConnectionClosed)));
    });
}

#[test]
fn tracked_connections_broadcast_leave_and_shut_down() {
    watchdog(30, || {
        let (tx, rx) = mpsc::channel::<(usize, bool)>();
        let server = Arc::new(Server::builder().bind("127.0.0.1", 0).unwrap());
        let addr = server.local_addr().unwrap();
        let reactor = Reactor::new().unwrap();
        let (s, r) = (server.clone(), reactor.clone());
        thread::spawn(move || {
            let tracking = s.clone();
            s.drive_on(&r, move |conn| {
                let (tx, clients, id) = (tx.clone(), tracking.clone(), conn.id);
                move |_: &WsHandle, event: io::Result<Event>| {
                    if let Ok(Event::Closed(_)) = event {
                        // Node: a client leaves `clients` before its `close` event.
                        let listed = clients.clients().iter().any(|(i, _)| i == id);
                        let _ = tx.send((clients.clients().len(), listed));
                    }
                }
            })
            .unwrap();
        });
        let mut a = connect(&url(addr)).unwrap().0;
        let mut b = connect(&url(addr)).unwrap().0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.clients().len() < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(server.clients().len(), 2);
        let report = server.clients().broadcast_message(Message::text("to all"));
        assert_eq!(report.sent, 2, "{report:?}");
        assert_eq!(a.recv_message().unwrap().unwrap(), Message::text("to all"));
        assert_eq!(b.recv_message().unwrap().unwrap(), Message::text("to all"));
        a.close(CloseCode::NORMAL, "").unwrap();
        while a.recv().is_some() {}
        let (len, listed) = rx.recv().unwrap();
        assert!(!listed, "left clients() before Closed");
        assert_eq!(len, 1);
        // Shutdown closes the rest with 1001 and returns once they are over.
        let s = server.clone();
        let shutdown = thread::spawn(move || s.shutdown());
        let closed = loop {
            if let Event::Closed(info) = b.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(closed.code(), CloseCode::GOING_AWAY);
        while b.recv().is_some() {}
        shutdown.join().unwrap();
        assert!(server.clients().is_empty());
    });
}

#[test]
fn keepalive_and_pong_deadline_run_on_the_reactor() {
    watchdog(30, || {
        let config = Config::default().keep_alive(Some(Duration::from_millis(200)), Some(Duration::from_millis(300)));
        let (tx, rx) = mpsc::channel();
        let (_server, _reactor, addr) = reactor_server(config, move || echo(Some(tx.clone())));
        // A client that completes the handshake and then never reads nor answers.
        let (ws, _) = connect(&url(addr)).unwrap();
        let mut tcp: TcpStream = match ws.into_inner() {
            ws_blocking::Stream::Tcp(t) => t,
            other => panic!("{other:?}"),
        };
        let started = Instant::now();
        // The keepalive ping arrives on its own (the connection is idle on the reactor).
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x89, "a ping");
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Unanswered, the pong deadline fails the connection (1011) and the handler hears it.
        let closed = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(closed, "closed 1006");
        let mut rest = Vec::new();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = tcp.read_to_end(&mut rest);
        // The ping's payload length, then the close frame with 1011.
        let close = &rest[usize::from(head[1])..];
        assert_eq!(close[0], 0x88, "{rest:?}");
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1011);
    });
}

#[test]
fn a_peer_that_does_not_read_is_pushed_back() {
    watchdog(60, || {
        let config = Config::default().write_high_water(64 * 1024);
        let (_server, _reactor, addr) = reactor_server(config, || echo(None));
        let (ws, _) = connect(&url(addr)).unwrap();
        let mut tcp: TcpStream = match ws.into_inner() {
            ws_blocking::Stream::Tcp(t) => t,
            other => panic!("{other:?}"),
        };
        // Masked 16 KiB binary frames, written without ever reading the echoes.
        let mut frame = vec![0x82, 0xFE, 0x40, 0x00, 0, 0, 0, 0];
        frame.extend(vec![b'x'; 16 * 1024]);
        tcp.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut written = 0usize;
        let blocked = loop {
            match tcp.write_all(&frame) {
                Ok(()) => written += frame.len(),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break true,
                Err(e) => panic!("{e}"),
            }
            if written > 256 << 20 {
                break false;
            }
        };
        assert!(blocked, "the server kept reading {written} bytes while its answers were not read");
        // Bounded by both socket buffers and one high-water mark, not by what the peer sends.
        assert!(written < 64 << 20, "{written}");
    });
}

#[test]
fn a_panicking_handler_ends_only_its_connection() {
    watchdog(30, || {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let (_server, reactor, addr) = reactor_server(Config::default(), move || {
            let first = m.fetch_add(1, Ordering::SeqCst) == 0;
            move |ws: &WsHandle, event: io::Result<Event>| {
                if let Ok(Event::Message(msg)) = event {
                    assert!(!first, "the first connection's handler panics");
                    ws.send(msg).unwrap();
                }
            }
        });
        let mut doomed = connect(&url(addr)).unwrap().0;
        doomed.send("boom").unwrap();
        let closed = match doomed.read_event() {
            Ok(Event::Closed(info)) => info,
            other => panic!("{other:?}"),
        };
        assert_eq!(closed.code(), CloseCode::ABNORMAL);
        let mut fine = connect(&url(addr)).unwrap().0;
        fine.send("still here").unwrap();
        assert_eq!(fine.recv_message().unwrap().unwrap(), Message::text("still here"));
        assert_eq!(reactor.connections(), 1);
    });
}

#[test]
fn a_client_connection_can_be_driven() {
    watchdog(30, || {
        let (_server, _reactor, addr) = reactor_server(Config::default(), || echo(None));
        let client_reactor = Reactor::new().unwrap();
        let (ws, _) = connect(&url(addr)).unwrap();
        let (tx, rx) = mpsc::channel();
        let handle = client_reactor
            .drive(ws, move |_: &WsHandle, event: io::Result<Event>| {
                let _ = tx.send(event.map_err(|e| e.to_string()));
            })
            .unwrap();
        handle.send("ping me back").unwrap();
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            Ok(Event::Message(m)) => assert_eq!(m, Message::text("ping me back")),
            other => panic!("{other:?}"),
        }
        handle.close(CloseCode::NORMAL, "").unwrap();
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            Ok(Event::Closed(info)) => assert_eq!(info.code(), CloseCode::NORMAL),
            other => panic!("{other:?}"),
        }
        handle.closed();
        assert_eq!(client_reactor.connections(), 0);
    });
}

#[test]
fn a_stream_without_a_descriptor_is_refused() {
    watchdog(30, || {
        let (_server, _reactor, addr) = reactor_server(Config::default(), || echo(None));
        // A closure connector wraps its stream into a `CustomStream`.
        let connector = move |_: ws_blocking::Target| TcpStream::connect(addr);
        let (ws, _) = ws_blocking::ClientBuilder::new(url(addr)).connector(connector).connect().unwrap();
        let e = Reactor::new().unwrap().drive(ws, |_: &WsHandle, _: io::Result<Event>| {}).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    });
}
