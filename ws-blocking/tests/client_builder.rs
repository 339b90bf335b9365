//! `ClientBuilder`: subprotocols, headers, origin, redirects (and the headers they drop),
//! too many redirects, an HTTP CONNECT proxy, the local address, the handshake timeout and
//! rejections. Loopback only; every test runs under a watchdog.
#![cfg(feature = "server")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{serve, watchdog};
use ws_blocking::http::{HeaderMap, HeaderValue, StatusCode};
use ws_blocking::server::Server;
use ws_blocking::{ClientBuilder, ConnectError, Message, Refusal};

/// A server recording each upgrade request's headers (and the client's address), echoing.
fn recording_server() -> (SocketAddr, Receiver<(HeaderMap, Option<SocketAddr>)>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::builder()
        .subprotocols(["b", "a"])
        .verify_client(move |req, info| {
            let _ = tx.lock().unwrap().send((req.request().headers().clone(), info.remote));
            true
        })
        .bind("127.0.0.1", 0)
        .unwrap();
    let addr = server.local_addr().unwrap();
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
    (addr, rx)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Answers each connection's request with `302 Location: location`.
fn redirector(location: impl Fn(usize) -> String + Send + Sync + 'static) -> SocketAddr {
    let count = std::sync::atomic::AtomicUsize::new(0);
    serve(usize::MAX, move |mut tcp| {
        let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut reader = BufReader::new(tcp.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let response = format!("HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n", location(n));
        let _ = tcp.write_all(response.as_bytes());
    })
    .0
}

#[test]
fn subprotocols_headers_and_origin() {
    watchdog(20, || {
        let (addr, seen) = recording_server();
        let (mut ws, response) = ClientBuilder::new(format!("ws://u:p@{addr}/x?y=1"))
            .subprotocols(["c", "a"])
            .subprotocol("b")
            .origin("https://app.example")
            .header("X-Custom", "one")
            .header("x-custom", "two")
            .header("Cookie", "s=1")
            .connect()
            .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(ws.protocol(), Some("a"));
        assert_eq!(ws.url(), Some(format!("ws://u:p@{addr}/x?y=1").as_str()));
        let (h, _) = seen.recv().unwrap();
        assert_eq!(header(&h, "origin"), Some("https://app.example"));
        assert_eq!(header(&h, "x-custom"), Some("two"));
        assert_eq!(header(&h, "cookie"), Some("s=1"));
        assert_eq!(header(&h, "authorization"), Some("Basic dTpw"));
        assert_eq!(header(&h, "sec-websocket-protocol"), Some("c, a, b"));
        ws.send("hi").unwrap();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text("hi"));
        // An invalid header fails before connecting.
        let e = ClientBuilder::new(format!("ws://{addr}/")).header("bad name", "v").connect().unwrap_err();
        assert!(matches!(e, ConnectError::Handshake(_)), "{e:?}");
        let e = ClientBuilder::new("ftp://example.com/").connect().unwrap_err();
        assert!(matches!(e, ConnectError::InvalidUrl(_)), "{e:?}");
    });
}

#[test]
fn redirects_drop_credentials_for_another_host() {
    watchdog(20, || {
        let (target, seen) = recording_server();
        // Another port is another host: Authorization, Cookie and Host are dropped.
        let hop = redirector(move |_| format!("http://{target}/final"));
        let (ws, _) = ClientBuilder::new(format!("ws://{hop}/start"))
            .header("Authorization", "Bearer secret")
            .header("Cookie", "s=1")
            .header("X-Keep", "yes")
            .follow_redirects(true)
            .connect()
            .unwrap();
        assert_eq!(ws.url(), Some(format!("ws://{target}/final").as_str()));
        let (h, _) = seen.recv().unwrap();
        assert_eq!(header(&h, "x-keep"), Some("yes"));
        assert_eq!(header(&h, "authorization"), None);
        assert_eq!(header(&h, "cookie"), None);
        assert_eq!(header(&h, "host"), Some(target.to_string().as_str()));
        // Not followed unless asked: the 302 is a rejection with its Location.
        match ClientBuilder::new(format!("ws://{hop}/start")).connect() {
            Err(ConnectError::Rejected { status, headers, .. }) => {
                assert_eq!(status, StatusCode::FOUND);
                assert_eq!(headers.get("location").unwrap(), &format!("http://{target}/final"));
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    });
}

#[test]
fn redirects_on_the_same_host_keep_credentials() {
    watchdog(20, || {
        // One listener: the first request is redirected to /next on the same address, the
        // second upgraded.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder().build();
        let (tx, seen) = mpsc::channel();
        thread::spawn(move || {
            let (mut first, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = first.read(&mut buf);
            first
                .write_all(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            let (second, peer) = listener.accept().unwrap();
            let info = ws_blocking::server::ClientInfo::new(Some(peer));
            let accepted = server.accept_stream(second, info).unwrap();
            tx.send(accepted.request).unwrap();
        });
        ClientBuilder::new(format!("ws://{addr}/start"))
            .header("Authorization", "Bearer kept")
            .follow_redirects(true)
            .connect()
            .unwrap();
        let request = seen.recv().unwrap();
        assert_eq!(request.uri().path(), "/next");
        assert_eq!(header(request.headers(), "authorization"), Some("Bearer kept"));
    });
}

#[test]
fn too_many_redirects() {
    watchdog(20, || {
        let hop = redirector(|n| format!("/again/{n}"));
        let e =
            ClientBuilder::new(format!("ws://{hop}/")).follow_redirects(true).max_redirects(3).connect().unwrap_err();
        assert!(matches!(e, ConnectError::TooManyRedirects(3)), "{e:?}");
        let bad = redirector(|_| "ftp://elsewhere/".into());
        let e = ClientBuilder::new(format!("ws://{bad}/")).follow_redirects(true).connect().unwrap_err();
        assert!(matches!(e, ConnectError::InvalidUrl(_)), "{e:?}");
    });
}

/// A tiny HTTP CONNECT proxy: records each request head, refuses without the expected
/// `Proxy-Authorization` (407), else tunnels.
fn connect_proxy(expected_auth: &'static str) -> (SocketAddr, Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let addr = serve(usize::MAX, move |client| {
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let mut head = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            head.push_str(&line);
            line.clear();
        }
        let _ = tx.lock().unwrap().send(head.clone());
        let mut client = client;
        if !head.contains(expected_auth) {
            let _ =
                client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n");
            return;
        }
        let target = head.split_whitespace().nth(1).unwrap().to_owned();
        let upstream = TcpStream::connect(target).unwrap();
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
        let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
        let mut down_w = client.try_clone().unwrap();
        let pump = thread::spawn(move || {
            let _ = std::io::copy(&mut up_r, &mut down_w);
            let _ = down_w.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut reader, &mut up_w);
        let _ = up_w.shutdown(std::net::Shutdown::Write);
        let _ = pump.join();
    })
    .0;
    (addr, rx)
}

#[test]
fn through_an_http_connect_proxy() {
    watchdog(20, || {
        let (target, seen) = recording_server();
        let (proxy, heads) = connect_proxy("Proxy-Authorization: Basic dXNlcjpwdw==");
        let (mut ws, _) = ClientBuilder::new(format!("ws://{target}/via-proxy"))
            .proxy(format!("http://user:pw@{proxy}"))
            .connect()
            .unwrap();
        let head = heads.recv().unwrap();
        assert!(head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")), "{head}");
        seen.recv().unwrap();
        ws.send("tunnelled").unwrap();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text("tunnelled"));
        // Wrong credentials: the proxy's refusal.
        match ClientBuilder::new(format!("ws://{target}/")).proxy(format!("http://user:nope@{proxy}")).connect() {
            Err(ConnectError::ProxyRejected { status, headers }) => {
                assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
                assert_eq!(headers.get("proxy-authenticate").unwrap(), "Basic");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let e = ClientBuilder::new(format!("ws://{target}/")).proxy("socks5://x").connect().unwrap_err();
        assert!(matches!(e, ConnectError::InvalidUrl(_)), "{e:?}");
    });
}

#[test]
fn local_address() {
    watchdog(20, || {
        let (addr, seen) = recording_server();
        let local = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let (_ws, _) = ClientBuilder::new(format!("ws://{addr}/")).local_address(local).connect().unwrap();
        let (_, remote) = seen.recv().unwrap();
        assert_eq!(remote.unwrap().ip(), local);
    });
}

#[test]
fn handshake_timeout_and_rejection() {
    watchdog(20, || {
        // Accepts TCP and never answers.
        let (silent, _) = serve(1, |tcp| {
            thread::sleep(Duration::from_secs(3));
            drop(tcp);
        });
        let started = Instant::now();
        let e = ClientBuilder::new(format!("ws://{silent}/"))
            .handshake_timeout(Duration::from_millis(300))
            .connect()
            .unwrap_err();
        assert!(matches!(e, ConnectError::Timeout), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        // A refusal with its status, headers and body.
        let server = Server::builder()
            .verify_client(|_, _| {
                Err(Refusal::new(StatusCode::FORBIDDEN)
                    .with_header("x-why".parse().unwrap(), HeaderValue::from_static("banned"))
                    .with_body("go away"))
            })
            .bind("127.0.0.1", 0)
            .unwrap();
        match ClientBuilder::new(format!("ws://{}/", server.local_addr().unwrap())).connect() {
            Err(ConnectError::Rejected { status, headers, body }) => {
                assert_eq!(status, StatusCode::FORBIDDEN);
                assert_eq!(headers.get("x-why").unwrap(), "banned");
                assert_eq!(&body[..], b"go away");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    });
}
