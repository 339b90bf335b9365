//! The `client_error` hook (Node's `wsClientError` event) on the `Server` and on `accept_with`:
//! it sees the error and the request of an invalid upgrade request, and its response reaches
//! the client byte for byte; without it (or when it keeps the default) the default answer is
//! sent. Loopback only; every test runs under a watchdog.
#![cfg(feature = "server")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[path = "../../testkit/client_error.rs"]
mod client_error;
mod common;
use client_error::*;
use common::watchdog;
use ws_blocking::server::{ClientInfo, Server};
use ws_blocking::{
    accept_hdr, accept_with, AcceptError, Config, HandshakeError, Rejection, ServerOptions, UpgradeRequest,
};

const DENIED: &[u8] = b"GET /chat?deny HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

const OTHER_PATH: &[u8] = b"GET /other HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Sends `request` on a fresh connection and returns everything the server answers.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(request).unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).unwrap();
    response
}

#[test]
fn server_client_error_hook_replaces_or_keeps_the_answer() {
    watchdog(30, || {
        let seen = Seen::default();
        let server = Server::builder()
            .path("/chat")
            .client_error(hook(seen.clone()))
            .verify_client(|req, _| req.query() != Some("deny"))
            .bind("127.0.0.1", 0)
            .unwrap();
        let addr = server.local_addr().unwrap();
        assert_eq!(exchange(addr, POST), TEAPOT);
        assert_eq!(exchange(addr, BAD_VERSION), DEFAULT_BAD_VERSION);
        let other = exchange(addr, OTHER_PATH);
        assert!(other.starts_with(b"HTTP/1.1 418 "), "{}", String::from_utf8_lossy(&other));
        // verify_client's refusal is the application's answer, not a client error.
        let denied = exchange(addr, DENIED);
        assert!(denied.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"), "{}", String::from_utf8_lossy(&denied));
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (HandshakeError::MethodNotGet, "POST /chat".to_owned()),
                (HandshakeError::UnsupportedVersion, "GET /chat?room=1".to_owned()),
                (HandshakeError::PathNotFound, "GET /other".to_owned()),
            ]
        );

        // No hook: the default answers.
        let plain = Server::builder().bind("127.0.0.1", 0).unwrap();
        let addr = plain.local_addr().unwrap();
        assert_eq!(exchange(addr, BAD_VERSION), DEFAULT_BAD_VERSION);
        let post = exchange(addr, POST);
        assert!(post.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"), "{}", String::from_utf8_lossy(&post));
    });
}

#[test]
fn accept_with_client_error_hook() {
    watchdog(30, || {
        for with_hook in [true, false] {
            let seen = Seen::default();
            let options = if with_hook {
                ServerOptions::default().client_error(hook(seen.clone()))
            } else {
                ServerOptions::default()
            };
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let options = Arc::new(options);
            let server = thread::spawn(move || {
                let mut statuses = Vec::new();
                for _ in 0..2 {
                    let (tcp, _) = listener.accept().unwrap();
                    match accept_with(tcp, Arc::new(Config::default()), options.clone()) {
                        Err(AcceptError::Rejected { status, .. }) => statuses.push(status.as_u16()),
                        other => panic!("expected a rejection, got {:?}", other.map(|_| ())),
                    }
                }
                statuses
            });
            let post = exchange(addr, POST);
            assert_eq!(exchange(addr, BAD_VERSION), DEFAULT_BAD_VERSION);
            if with_hook {
                assert_eq!(post, TEAPOT);
                assert_eq!(server.join().unwrap(), [418, 400]);
                assert_eq!(seen.lock().unwrap().len(), 2);
            } else {
                assert!(post.starts_with(b"HTTP/1.1 405 "), "{}", String::from_utf8_lossy(&post));
                assert_eq!(server.join().unwrap(), [405, 400]);
            }
        }
    });
}

/// `ClientErrorReply::Drop`: the client sees EOF without a single byte, from the `Server`
/// (listener and `accept_stream`) and from `accept_with` and `accept_hdr` (a refusal `decide`
/// builds from a `HandshakeError` included), which return `AcceptError::Dropped`; errors the
/// hook keeps are still answered.
#[test]
fn client_error_drop_closes_without_an_answer() {
    watchdog(30, || {
        let server = Server::builder().path("/chat").client_error(dropping).bind("127.0.0.1", 0).unwrap();
        let addr = server.local_addr().unwrap();
        assert_eq!(exchange(addr, POST), b"");
        assert_eq!(exchange(addr, OTHER_PATH), b"");
        assert_eq!(exchange(addr, BAD_VERSION), DEFAULT_BAD_VERSION);

        let server = Arc::new(Server::builder().client_error(dropping).build());
        let options = Arc::new(ServerOptions::default().client_error(dropping));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = thread::spawn(move || {
            let refuse = |_: &UpgradeRequest| Err(Rejection::from_error(HandshakeError::PathNotFound));
            let mut results = Vec::new();
            let (tcp, _) = listener.accept().unwrap();
            results.push(server.accept_stream(tcp, ClientInfo::default()).map(|_| ()));
            let (tcp, _) = listener.accept().unwrap();
            results.push(accept_with(tcp, Arc::new(Config::default()), options.clone()).map(|_| ()));
            let (tcp, _) = listener.accept().unwrap();
            results.push(accept_hdr(tcp, Arc::new(Config::default()), options, refuse).map(|_| ()));
            results
        });
        assert_eq!(exchange(addr, POST), b"");
        assert_eq!(exchange(addr, POST), b"");
        assert_eq!(exchange(addr, DENIED), b"");
        let results = accepting.join().unwrap();
        for result in &results[..2] {
            assert!(matches!(result, Err(AcceptError::Dropped { error: Some(HandshakeError::MethodNotGet) })));
        }
        assert!(matches!(results[2], Err(AcceptError::Dropped { error: Some(HandshakeError::PathNotFound) })));
    });
}
