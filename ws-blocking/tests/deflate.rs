//! permessage-deflate negotiated by the blocking client (offered by default) and the blocking
//! server (accepted when configured), in both roles: the extension string, a large
//! compressible message both ways, and decompression bombs bounded by `max_message_size`
//! (1009). Loopback only; every test runs under a watchdog.
#![cfg(feature = "server")]

use std::sync::Arc;
use std::thread;

mod common;
use common::{watchdog, ReadEvent};
use ws_blocking::server::Server;
use ws_blocking::{ClientBuilder, CloseCode, Config, DeflateConfig, Event, Message};

fn deflate_server(max_payload: usize) -> Server {
    Server::builder()
        .per_message_deflate(Some(DeflateConfig::default()))
        .max_payload(max_payload)
        .bind("127.0.0.1", 0)
        .unwrap()
}

fn url(server: &Server) -> String {
    format!("ws://{}/", server.local_addr().unwrap())
}

/// Text that compresses well: 1 MiB of a repeated sentence with a counter.
fn compressible() -> String {
    let mut s = String::with_capacity(1 << 20);
    let mut i = 0u32;
    while s.len() < 1 << 20 {
        s.push_str(&format!("the quick brown fox jumps over the lazy dog {} ", i % 1000));
        i += 1;
    }
    s
}

#[test]
fn negotiated_by_default_and_large_messages_round_trip() {
    watchdog(60, || {
        let server = deflate_server(64 << 20);
        let (mut ws, response) = ClientBuilder::new(url(&server)).connect().unwrap();
        let mut conn = server.accept().unwrap();
        let agreed = response.headers().get("sec-websocket-extensions").unwrap().to_str().unwrap().to_owned();
        assert!(agreed.starts_with("permessage-deflate"), "{agreed}");
        assert_eq!(ws.extensions(), Some(agreed.as_str()));
        assert_eq!(conn.ws.extensions(), Some(agreed.as_str()));
        let text = compressible();
        // Client → server: compressed on the wire, much less than the payload.
        let before = conn.ws.bytes_received();
        ws.send(text.as_str()).unwrap();
        assert_eq!(conn.ws.recv_message().unwrap().unwrap(), Message::text(text.clone()));
        let wire = conn.ws.bytes_received() - before;
        assert!(wire < (text.len() / 10) as u64, "{wire} bytes on the wire for {}", text.len());
        // Server → client.
        conn.ws.send(text.as_str()).unwrap();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text(text));
        let server_side = thread::spawn(move || while conn.ws.recv().is_some() {});
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.recv().is_some() {}
        server_side.join().unwrap();
        assert!(ws.close_info().unwrap().was_clean());
        // Not offered: not negotiated.
        let (ws, response) = ClientBuilder::new(url(&server)).per_message_deflate(None).connect().unwrap();
        assert!(response.headers().get("sec-websocket-extensions").is_none());
        assert_eq!(ws.extensions(), None);
        // A server without deflate declines the default offer.
        let plain = Server::builder().bind("127.0.0.1", 0).unwrap();
        let (ws, _) = ClientBuilder::new(url(&plain)).connect().unwrap();
        assert_eq!(ws.extensions(), None);
    });
}

#[test]
fn bomb_to_the_server_fails_with_1009() {
    watchdog(30, || {
        let server = deflate_server(256 << 10);
        let (mut ws, _) = ClientBuilder::new(url(&server)).connect().unwrap();
        let mut conn = server.accept().unwrap();
        let server_side = thread::spawn(move || loop {
            if let Event::Closed(info) = conn.ws.read_event().unwrap() {
                return info;
            }
        });
        // 8 MiB of zeros is a few KiB compressed.
        ws.send(vec![0u8; 8 << 20]).unwrap();
        let info = loop {
            if let Event::Closed(info) = ws.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(info.code(), CloseCode::MESSAGE_TOO_BIG);
        // The failing side reports at once what it sent, and why.
        let server_info = server_side.join().unwrap();
        assert_eq!(server_info.sent.map(|f| f.code), Some(CloseCode::MESSAGE_TOO_BIG));
        assert!(server_info.error.is_some());
    });
}

#[test]
fn bomb_to_the_client_fails_with_1009() {
    watchdog(30, || {
        let server = deflate_server(64 << 20);
        let config = Config::default().max_message_size(Some(256 << 10));
        let (mut ws, _) = ClientBuilder::new(url(&server)).config(Arc::new(config)).connect().unwrap();
        assert!(ws.extensions().is_some());
        let mut conn = server.accept().unwrap();
        conn.ws.send(vec![0u8; 8 << 20]).unwrap();
        let info = loop {
            if let Event::Closed(info) = ws.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(info.sent.map(|f| f.code), Some(CloseCode::MESSAGE_TOO_BIG));
        assert!(info.error.is_some());
        let server_info = loop {
            if let Event::Closed(info) = conn.ws.read_event().unwrap() {
                break info;
            }
        };
        assert_eq!(server_info.code(), CloseCode::MESSAGE_TOO_BIG);
    });
}
