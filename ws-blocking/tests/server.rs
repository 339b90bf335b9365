//! The Node-style `Server`: request checks, tracking and broadcast, slow clients, close.
//! Loopback only; every test runs under a watchdog.
#![cfg(feature = "server")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{watchdog, ReadEvent};
use ws_blocking::http::StatusCode;
use ws_blocking::server::{Server, Shutdown, SlowPolicy};
use ws_blocking::{
    ClientBuilder, CloseCode, Config, ConnectError, Event, Message, PreparedMessage, Refusal, ServerStream, WebSocket,
};

fn url(server: &Server, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr().unwrap())
}

fn client(url: &str) -> WebSocket<ServerStream> {
    ClientBuilder::new(url).connect().unwrap().0
}

/// The status of a refused handshake.
fn refused(url: &str) -> (StatusCode, String) {
    match ClientBuilder::new(url).connect() {
        Err(ConnectError::Rejected { status, body, .. }) => (status, String::from_utf8_lossy(&body).into_owned()),
        other => panic!("expected a rejection, got {:?}", other.map(|_| ())),
    }
}

/// Echoes on a thread per connection.
fn echo_all(server: Arc<Server>) {
    thread::spawn(move || {
        while let Ok(mut conn) = server.accept() {
            thread::spawn(move || {
                while let Some(Ok(m)) = conn.ws.recv_message() {
                    let _ = conn.ws.send(m);
                }
                while conn.ws.recv().is_some() {}
            });
        }
    });
}

fn next_text(ws: &mut WebSocket<ServerStream>) -> String {
    match ws.recv_message().expect("open").expect("read") {
        Message::Text(t) => t.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn path_verify_client_and_subprotocol() {
    watchdog(20, || {
        let server = Server::builder()
            .path("/chat")
            .subprotocols(["v2", "v1"])
            .verify_client(|req, info| {
                assert!(info.remote.is_some_and(|a| a.ip().is_loopback()) && !info.secure);
                match req.query() {
                    Some("token=ok") => Ok(()),
                    Some("token=teapot") => Err(Refusal::new(StatusCode::IM_A_TEAPOT).with_body("short and stout")),
                    _ => Err(Refusal::default()),
                }
            })
            .bind("127.0.0.1", 0)
            .unwrap();
        assert!(server.local_addr().unwrap().ip().is_loopback() && server.local_addr().unwrap().port() != 0);
        let server = Arc::new(server);
        echo_all(server.clone());
        assert_eq!(refused(&url(&server, "/other?token=ok")).0, StatusCode::BAD_REQUEST);
        assert_eq!(refused(&url(&server, "/chat")).0, StatusCode::UNAUTHORIZED);
        assert_eq!(refused(&url(&server, "/chat?token=teapot")), (StatusCode::IM_A_TEAPOT, "short and stout".into()));
        let (mut ws, response) =
            ClientBuilder::new(url(&server, "/chat?token=ok")).subprotocols(["v1", "v2"]).connect().unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(ws.protocol(), Some("v1"));
        ws.send("hi").unwrap();
        assert_eq!(next_text(&mut ws), "hi");
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.recv().is_some() {}
        assert_eq!(ws.close_info().unwrap().code(), CloseCode::NORMAL);
    });
}

#[test]
fn tracking_broadcast_and_broadcast_except() {
    watchdog(20, || {
        let server = Server::builder().bind("127.0.0.1", 0).unwrap();
        let addr = url(&server, "/");
        let clients: Vec<_> = (0..3).map(|_| client(&addr)).collect();
        let conns: Vec<_> = (0..3).map(|_| server.accept().unwrap()).collect();
        assert_eq!(server.clients().len(), 3);
        let mut ids = server.clients().ids();
        ids.sort();
        let mut accepted: Vec<_> = conns.iter().map(|c| c.id).collect();
        accepted.sort();
        assert_eq!(ids, accepted);
        // Every client gets the broadcast, while nobody reads on the server side.
        let report = server.clients().broadcast(&PreparedMessage::new(Message::text("to all")));
        assert_eq!((report.sent, report.dropped, report.closed), (3, 0, 0));
        let mut clients: Vec<_> = clients
            .into_iter()
            .map(|mut ws| {
                assert_eq!(next_text(&mut ws), "to all");
                ws
            })
            .collect();
        // The first connection's own client is left out.
        let except = conns[0].id;
        let report = server.clients().broadcast_except(except, &PreparedMessage::new(Message::text("others")));
        assert_eq!(report.sent, 2);
        for ws in &mut clients {
            ws.ping("sync").unwrap();
        }
        // The server side must read for the pings to be answered: each connection on a thread.
        for mut conn in conns {
            thread::spawn(move || while conn.ws.recv().is_some() {});
        }
        let mut got = Vec::new();
        for ws in &mut clients {
            let mut texts = Vec::new();
            loop {
                match ws.read_event().unwrap() {
                    Event::Message(Message::Text(t)) => texts.push(t.to_string()),
                    Event::Pong(_) => break,
                    _ => {}
                }
            }
            got.push(texts);
        }
        assert_eq!(got.iter().filter(|t| t.is_empty()).count(), 1, "{got:?}");
        assert_eq!(got.iter().filter(|t| *t == &["others".to_string()]).count(), 2, "{got:?}");
        // A client that leaves leaves the registry.
        let mut gone = clients.pop().unwrap();
        gone.close(CloseCode::NORMAL, "bye").unwrap();
        while gone.recv().is_some() {}
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.clients().len() != 2 {
            assert!(Instant::now() < deadline, "still {} clients", server.clients().len());
            thread::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn slow_clients_dropped_or_closed_with_1013() {
    for policy in [SlowPolicy::Drop, SlowPolicy::Close] {
        watchdog(30, move || {
            let config = Config::default().write_high_water(64 * 1024).close_timeout(Some(Duration::from_secs(1)));
            let server =
                Server::builder().config(Arc::new(config)).slow_client_policy(policy).bind("127.0.0.1", 0).unwrap();
            // A raw client that completes the handshake and then never reads.
            let (mut ws, _) = ClientBuilder::new(url(&server, "/")).per_message_deflate(None).connect().unwrap();
            let conn = server.accept().unwrap();
            let big = PreparedMessage::new(Message::binary(vec![7u8; 256 * 1024]));
            let mut dropped = 0;
            let mut closed = 0;
            for _ in 0..200 {
                let report = server.clients().broadcast(&big);
                dropped += report.dropped;
                closed += report.closed;
                if dropped + closed > 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            match policy {
                SlowPolicy::Drop => {
                    assert!(dropped > 0 && closed == 0);
                    assert!(server.clients().contains(conn.id));
                }
                _ => {
                    assert!(closed == 1 && dropped == 0);
                    // Now read: the data, then the 1013 close.
                    let code = loop {
                        match ws.read_event() {
                            Ok(Event::Closed(info)) => break info.code(),
                            Ok(_) => {}
                            Err(e) => panic!("{e}"),
                        }
                    };
                    assert_eq!(code, CloseCode::TRY_AGAIN_LATER);
                }
            }
            drop(conn);
        });
    }
}

#[test]
fn shutdown_sends_1001_and_refuses_later_upgrades_with_503() {
    watchdog(20, || {
        let server = Arc::new(Server::builder().bind("127.0.0.1", 0).unwrap());
        let addr = server.local_addr().unwrap();
        let (mut ws, _) = ClientBuilder::new(url(&server, "/")).connect().unwrap();
        let mut conn = server.accept().unwrap();
        let reader = thread::spawn(move || while conn.ws.recv().is_some() {});
        // A TCP connection already accepted, whose upgrade request comes after close().
        let mut late = TcpStream::connect(addr).unwrap();
        thread::sleep(Duration::from_millis(100));
        let closer = {
            let server = server.clone();
            thread::spawn(move || {
                let start = Instant::now();
                assert!(server.shutdown().is_none(), "bind's own listener is not handed back");
                start.elapsed()
            })
        };
        let info = loop {
            if let Event::Closed(info) = ws.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(info.code(), CloseCode::GOING_AWAY);
        // As a client should, wait for the server to close TCP.
        while ws.recv().is_some() {}
        assert!(closer.join().unwrap() < Duration::from_secs(5));
        reader.join().unwrap();
        assert!(server.is_closing() && server.clients().is_empty());
        assert!(server.accept().unwrap_err().is_closed());
        late.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
        let mut response = String::new();
        late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = late.read_to_string(&mut response);
        assert!(response.starts_with("HTTP/1.1 503"), "{response:?}");
    });
}

#[test]
fn shutdown_with_terminate_and_untracked_connections() {
    watchdog(20, || {
        let server = Server::builder().shutdown(Shutdown::Terminate).bind("127.0.0.1", 0).unwrap();
        let (mut ws, _) = ClientBuilder::new(url(&server, "/")).connect().unwrap();
        let _conn = server.accept().unwrap();
        server.shutdown();
        let info = loop {
            if let Event::Closed(info) = ws.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(info.code(), CloseCode::ABNORMAL);
        // Without tracking nothing is registered, and the connection is a plain one.
        let server = Server::builder().client_tracking(false).bind("127.0.0.1", 0).unwrap();
        let (mut ws, _) = ClientBuilder::new(url(&server, "/")).connect().unwrap();
        let mut conn = server.accept().unwrap();
        assert!(server.clients().is_empty() && !server.is_tracking());
        ws.send("direct").unwrap();
        assert_eq!(conn.ws.recv_message().unwrap().unwrap(), Message::text("direct"));
    });
}

#[test]
fn no_server_mode_with_accept_stream() {
    watchdog(20, || {
        let server = Server::builder().path("/ns").build();
        assert!(matches!(server.accept(), Err(e) if e.is_closed()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || {
            let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/ns")).connect().unwrap();
            ws.send("via accept_stream").unwrap();
            while ws.recv().is_some() {}
        });
        let (tcp, peer) = listener.accept().unwrap();
        let info = ws_blocking::server::ClientInfo::new(Some(peer));
        let accepted = server.accept_stream(tcp, info).unwrap();
        assert_eq!(accepted.request.uri().path(), "/ns");
        let mut conn = server.track(accepted.ws, accepted.info, accepted.request);
        assert_eq!(server.clients().len(), 1);
        assert_eq!(conn.ws.recv_message().unwrap().unwrap(), Message::text("via accept_stream"));
        conn.ws.close(CloseCode::NORMAL, "").unwrap();
        while conn.ws.recv().is_some() {}
        client.join().unwrap();
    });
}

/// `close` as Node 8's: established connections stay open, later upgrades get 503,
/// `local_addr` is gone, it returns once the tracked clients are gone, and a second call reports
/// that the server is not running.
#[test]
fn close_leaves_connections_open_and_returns_when_they_are_gone() {
    watchdog(20, || {
        let server = Arc::new(Server::builder().bind("127.0.0.1", 0).unwrap());
        let addr = server.local_addr().unwrap();
        let (mut ws, _) = ClientBuilder::new(url(&server, "/")).connect().unwrap();
        let mut conn = server.accept().unwrap();
        let closer = {
            let server = server.clone();
            thread::spawn(move || server.close().map(|l| l.is_none()))
        };
        while !server.is_closing() {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(server.local_addr(), None);
        assert!(server.accept().unwrap_err().is_closed());
        // The established connection still works both ways.
        ws.send("still here").unwrap();
        assert_eq!(conn.ws.recv_message().unwrap().unwrap(), Message::text("still here"));
        conn.ws.send("me too").unwrap();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text("me too"));
        thread::sleep(Duration::from_millis(50));
        assert!(!closer.is_finished(), "close waits for the tracked client");
        // A new upgrade is refused with 503.
        let mut late = TcpStream::connect(addr);
        if let Ok(late) = &mut late {
            let _ = late.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
            let mut response = String::new();
            late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = late.read_to_string(&mut response);
            assert!(response.is_empty() || response.starts_with("HTTP/1.1 503"), "{response:?}");
        }
        // The client leaves (the server's application reads on); close returns.
        let reader = thread::spawn(move || while conn.ws.recv().is_some() {});
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.recv().is_some() {}
        reader.join().unwrap();
        assert!(closer.join().unwrap().unwrap());
        assert!(server.close().unwrap_err().is_closed(), "the server is not running");
    });
}

/// `serve` on the application's listener: `close` hands it back, still listening.
#[test]
fn close_hands_back_the_applications_listener() {
    watchdog(20, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder().serve(listener);
        let (ws, _) = ClientBuilder::new(format!("ws://{addr}/")).connect().unwrap();
        let conn = server.accept().unwrap();
        drop((ws, conn));
        let listener = server.close().unwrap().expect("the listener comes back");
        assert_eq!(listener.local_addr().unwrap(), addr);
        let again = Server::builder().serve(listener);
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/")).connect().unwrap();
        let mut conn = again.accept().unwrap();
        ws.send("again").unwrap();
        assert_eq!(conn.ws.recv_message().unwrap().unwrap(), Message::text("again"));
    });
}

/// `listen(port)` takes every address: IPv4 and IPv6 loopback reach the same server.
#[test]
fn listen_on_a_port_takes_ipv4_and_ipv6() {
    watchdog(20, || {
        let server = Server::builder().listen(0).unwrap();
        let port = server.local_addr().unwrap().port();
        for host in ["127.0.0.1", "[::1]"] {
            let (mut ws, _) = ClientBuilder::new(format!("ws://{host}:{port}/")).connect().unwrap();
            let mut conn = server.accept().unwrap();
            ws.send(host).unwrap();
            assert_eq!(conn.ws.recv_message().unwrap().unwrap(), Message::text(host));
        }
    });
}

/// A tracked client has left `clients()` by the time the application sees its `Closed`.
#[test]
fn a_closed_client_is_no_longer_listed_when_closed_arrives() {
    watchdog(20, || {
        let server = Server::builder().bind("127.0.0.1", 0).unwrap();
        for _ in 0..20 {
            let (mut ws, _) = ClientBuilder::new(url(&server, "/")).connect().unwrap();
            let mut conn = server.accept().unwrap();
            assert!(server.clients().contains(conn.id));
            ws.close(CloseCode::NORMAL, "").unwrap();
            loop {
                match conn.ws.recv() {
                    Some(Ok(Event::Closed(_))) => break,
                    Some(_) => {}
                    None => panic!("no Closed"),
                }
            }
            assert!(!server.clients().contains(conn.id), "still listed when Closed arrived");
            while ws.recv().is_some() {}
        }
    });
}

/// `max_connections(2)`: below and at the cap upgrades go through (one upgraded and still
/// waiting for `accept` holds its place), above it they get 503 after every other check, and
/// a place frees as soon as a tracked client leaves. `max_connections(0)` refuses all.
#[test]
fn max_connections_below_at_and_above_the_cap() {
    watchdog(30, || {
        let server = Server::builder().path("/chat").max_connections(2).bind("127.0.0.1", 0).unwrap();
        let chat = url(&server, "/chat");
        // Below the cap.
        let mut first = client(&chat);
        let mut first_conn = server.accept().unwrap();
        assert_eq!(server.clients().len(), 1);
        // At the cap: upgraded, not accepted yet, and counted.
        let _second = client(&chat);
        assert_eq!(server.clients().len(), 1);
        // Above it: 503, after the other checks (a wrong path is still a 400).
        let full = (StatusCode::SERVICE_UNAVAILABLE, "the server is at its limit of 2 connections".to_owned());
        assert_eq!(refused(&chat), full);
        assert_eq!(refused(&url(&server, "/other")).0, StatusCode::BAD_REQUEST);
        let _second_conn = server.accept().unwrap();
        assert_eq!(server.clients().len(), 2);
        assert_eq!(refused(&chat), full);
        // A tracked client leaves: its place is free again.
        first.close(CloseCode::NORMAL, "bye").unwrap();
        loop {
            match first_conn.ws.recv() {
                Some(Ok(Event::Closed(_))) => break,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        loop {
            match first.recv() {
                Some(Ok(Event::Closed(info))) => break assert_eq!(info.code(), CloseCode::NORMAL),
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        let mut third = client(&chat);
        let mut third_conn = server.accept().unwrap();
        assert_eq!(server.clients().len(), 2);
        third_conn.ws.send("in").unwrap();
        assert_eq!(next_text(&mut third), "in");
        assert_eq!(refused(&chat), full);

        let none = Server::builder().max_connections(0).bind("127.0.0.1", 0).unwrap();
        assert_eq!(refused(&url(&none, "/")).0, StatusCode::SERVICE_UNAVAILABLE);
    });
}
