//! The `echo-server` example (compiled in here) serves 20 concurrent clients, and honours
//! `close-me:CODE:REASON`.
#![cfg(feature = "server")]

use std::net::{SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::thread;

mod common;
use common::{watchdog, ReadEvent};
use ws_blocking::{connect, CloseCode, Error, Event, Message};

#[allow(dead_code)]
#[path = "../examples/echo-server.rs"]
mod echo_server;

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || echo_server::run(listener));
        addr
    })
}

fn next_event(ws: &mut ws_blocking::WebSocket<ws_blocking::Stream>) -> Event {
    loop {
        match ws.read_event().unwrap() {
            Event::Ping(_) | Event::Pong(_) => {}
            other => return other,
        }
    }
}

#[test]
fn twenty_concurrent_clients() {
    watchdog(60, || {
        let addr = server();
        let clients: Vec<_> = (0..20)
            .map(|c| {
                thread::spawn(move || {
                    let (mut ws, _) = connect(&format!("ws://{addr}/client/{c}")).unwrap();
                    for i in 0..50 {
                        let text = format!("client {c} message {i}");
                        ws.send(text.as_str()).unwrap();
                        match next_event(&mut ws) {
                            Event::Message(m) => assert_eq!(m, Message::text(text)),
                            other => panic!("{other:?}"),
                        }
                        let data = vec![(c * 7 + i) as u8; 1000 + i * 100];
                        ws.send(Message::binary(data.clone())).unwrap();
                        match next_event(&mut ws) {
                            Event::Message(m) => assert_eq!(m, Message::binary(data)),
                            other => panic!("{other:?}"),
                        }
                    }
                    ws.ping("still there?").unwrap();
                    match ws.read_event().unwrap() {
                        Event::Pong(p) => assert_eq!(&p[..], b"still there?"),
                        other => panic!("{other:?}"),
                    }
                    ws.close(CloseCode::NORMAL, "bye").unwrap();
                    match next_event(&mut ws) {
                        Event::Closed(info) => {
                            assert!(info.was_clean(), "{info:?}");
                            assert_eq!(info.code(), CloseCode::NORMAL);
                            assert_eq!(info.reason(), "bye");
                        }
                        other => panic!("{other:?}"),
                    }
                    assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    });
}

#[test]
fn close_me_closes_with_code_and_reason() {
    watchdog(20, || {
        let (mut ws, _) = connect(&format!("ws://{}/", server())).unwrap();
        ws.send("close-me:4321:as you wish").unwrap();
        match next_event(&mut ws) {
            Event::Closed(info) => {
                assert!(info.was_clean(), "{info:?}");
                assert_eq!(info.code().as_u16(), 4321);
                assert_eq!(info.reason(), "as you wish");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(ws.read_event(), Err(Error::ConnectionClosed)));
        // Without a reason.
        let (mut ws, _) = connect(&format!("ws://{}/", server())).unwrap();
        ws.send("close-me:1001").unwrap();
        match next_event(&mut ws) {
            Event::Closed(info) => {
                assert_eq!(info.code(), CloseCode::GOING_AWAY);
                assert_eq!(info.reason(), "");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn large_message_within_autobahn_limits() {
    watchdog(60, || {
        let (mut ws, _) = connect(&format!("ws://{}/", server())).unwrap();
        let data: Vec<u8> = (0..16 << 20).map(|i: usize| (i % 253) as u8).collect();
        ws.send(Message::binary(data.clone())).unwrap();
        match next_event(&mut ws) {
            Event::Message(Message::Binary(b)) => assert!(b == data),
            other => panic!("{other:?}"),
        }
        assert_eq!(echo_server::config().get_max_message_size(), Some(64 << 20));
    });
}
