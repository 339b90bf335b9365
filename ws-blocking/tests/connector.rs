//! `ClientBuilder::connector`: a custom connector (Node `agent` / `createConnection`) opens the
//! transport instead of TCP: it gets the URL's target, is called again for each redirect, its
//! error is the connect error, its stream can be split, and a connector reaching a proxy gets
//! the tunnel layered over its stream. Loopback only; every test runs under a watchdog.
#![cfg(feature = "server")]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;
use common::{serve, watchdog};
use ws_blocking::http::HeaderMap;
use ws_blocking::server::Server;
use ws_blocking::{ClientBuilder, CloseCode, ConnectError, Connector, Message, Plain, Stream, Target};

/// The path and headers of each upgrade request a server saw.
type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// An echo server recording each upgrade request's path and headers.
fn echo_server() -> (SocketAddr, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = Server::builder()
        .verify_client(move |req, _| {
            let r = req.request();
            record.lock().unwrap().push((r.uri().path().to_string(), r.headers().clone()));
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
    (addr, seen)
}

/// Answers every request with `302 Location: location`.
fn redirector(location: String) -> SocketAddr {
    serve(usize::MAX, move |mut tcp| {
        let mut reader = BufReader::new(tcp.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let response = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
        let _ = tcp.write_all(response.as_bytes());
    })
    .0
}

/// A connector dialing 127.0.0.1 itself: `routes` maps host names (which do not resolve) to
/// local addresses; every call is counted and its target recorded.
#[derive(Clone, Default)]
struct Routes {
    routes: Arc<Mutex<Vec<(String, SocketAddr)>>>,
    calls: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<Target>>>,
}

impl Routes {
    fn add(&self, host: &str, addr: SocketAddr) {
        self.routes.lock().unwrap().push((host.to_string(), addr));
    }

    fn dial(&self, target: Target) -> io::Result<TcpStream> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let addr = self.routes.lock().unwrap().iter().find(|(h, _)| *h == target.host).map(|(_, a)| *a);
        self.targets.lock().unwrap().push(target);
        let addr = addr.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no route"))?;
        assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
        TcpStream::connect(addr)
    }

    fn connector(&self) -> impl Fn(Target) -> io::Result<TcpStream> + Send + Sync + 'static {
        let this = self.clone();
        move |target| this.dial(target)
    }
}

fn round_trip(ws: &mut ws_blocking::WebSocket<Stream>, text: &str) {
    ws.send(text).unwrap();
    assert_eq!(ws.recv_message().unwrap().unwrap(), Message::text(text));
}

#[test]
fn connector_opens_the_stream() {
    watchdog(20, || {
        let (addr, seen) = echo_server();
        let routes = Routes::default();
        routes.add("service.invalid", addr);
        // The URL names a host that does not resolve: only the connector knows where it is.
        let (mut ws, response) = ClientBuilder::new("ws://service.invalid:1234/via-connector")
            .connector(routes.connector())
            .connect()
            .unwrap();
        assert_eq!(response.status(), 101);
        assert_eq!(routes.calls.load(Ordering::SeqCst), 1);
        assert_eq!(*routes.targets.lock().unwrap(), [Target::new("service.invalid", 1234, false)]);
        let (path, headers) = seen.lock().unwrap()[0].clone();
        assert_eq!(path, "/via-connector");
        assert_eq!(headers.get("host").unwrap(), "service.invalid:1234");
        assert!(matches!(ws.get_ref(), Stream::Custom(_)), "{:?}", ws.get_ref());
        assert!(ws.get_ref().is_custom());
        assert_eq!(ws.url(), Some("ws://service.invalid:1234/via-connector"));
        round_trip(&mut ws, "custom transport");
        // The connection's timers work over it: the boxed TcpStream keeps its timeouts.
        let Stream::Custom(custom) = ws.get_ref() else { unreachable!() };
        assert!(custom.has_timeouts());
        ws.close(CloseCode::NORMAL, "bye").unwrap();
        while ws.recv().is_some() {}
        assert!(ws.close_info().unwrap().close_received);
    });
}

#[test]
fn redirects_call_the_connector_again() {
    watchdog(20, || {
        let (addr, seen) = echo_server();
        let routes = Routes::default();
        let hop = redirector("ws://second.invalid:2000/final".into());
        routes.add("first.invalid", hop);
        routes.add("second.invalid", addr);
        let (mut ws, _) = ClientBuilder::new("ws://first.invalid:1000/start")
            .connector(routes.connector())
            .follow_redirects(true)
            .connect()
            .unwrap();
        assert_eq!(routes.calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            *routes.targets.lock().unwrap(),
            [Target::new("first.invalid", 1000, false), Target::new("second.invalid", 2000, false)]
        );
        assert_eq!(seen.lock().unwrap()[0].0, "/final");
        assert_eq!(ws.url(), Some("ws://second.invalid:2000/final"));
        round_trip(&mut ws, "after a redirect");

        // Without following, the redirect is the answer: one call only.
        let routes2 = Routes::default();
        routes2.add("first.invalid", hop);
        let e = ClientBuilder::new("ws://first.invalid:1000/start").connector(routes2.connector()).connect();
        assert!(matches!(e, Err(ConnectError::Rejected { status, .. }) if status == 302));
        assert_eq!(routes2.calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn connector_error_is_the_connect_error() {
    watchdog(20, || {
        let e = ClientBuilder::new("ws://service.invalid/")
            .connector(|_: Target| Err::<TcpStream, _>(io::Error::other("no route")))
            .connect()
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(&e, ConnectError::Io(io) if io.to_string() == "no route"), "{e:?}");
    });
}

#[test]
fn custom_stream_splits() {
    watchdog(20, || {
        let (addr, _) = echo_server();
        let (ws, _) = ClientBuilder::new("ws://anywhere.invalid/")
            .connector(move |_: Target| TcpStream::connect(addr))
            .connect()
            .unwrap();
        let (mut reader, mut writer) = ws.split();
        let sender = thread::spawn(move || {
            for i in 0..100 {
                writer.send(format!("m{i}")).unwrap();
            }
            writer
        });
        for i in 0..100 {
            assert_eq!(reader.recv_message().unwrap().unwrap(), Message::text(format!("m{i}")));
        }
        let mut writer = sender.join().unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        while reader.recv().is_some() {}
        assert!(reader.close_info().unwrap().close_received);
    });
}

/// A stream without a second handle: the connection works, `split` fails it.
#[test]
fn custom_stream_without_clone() {
    struct Once(SocketAddr);
    impl Connector for Once {
        fn connect(&self, _: &Target) -> io::Result<Stream> {
            Ok(Stream::Custom(ws_blocking::CustomStream::without_clone(Plain(TcpStream::connect(self.0)?))))
        }
    }
    watchdog(20, || {
        let (addr, _) = echo_server();
        let (mut ws, _) = ClientBuilder::new("ws://anywhere.invalid/").connector(Once(addr)).connect().unwrap();
        let Stream::Custom(custom) = ws.get_ref() else { panic!("{:?}", ws.get_ref()) };
        assert!(!custom.has_timeouts());
        round_trip(&mut ws, "plain");
        let (mut reader, _writer) = ws.split();
        let e = reader.recv().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(matches!(reader.recv(), Some(Ok(ws_blocking::Event::Closed(_)))));
    });
}

/// With a proxy, the connector reaches the proxy; the tunnel runs over its stream.
#[test]
fn connector_reaches_the_proxy() {
    watchdog(20, || {
        let (target, _) = echo_server();
        // A CONNECT proxy that ignores the authority and tunnels to the echo server.
        let (proxy, _) = serve(1, move |client| {
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut line = String::new();
            let mut head = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                head.push_str(&line);
                line.clear();
            }
            assert!(head.starts_with("CONNECT service.invalid:80 HTTP/1.1\r\n"), "{head}");
            let mut client = client;
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
            let upstream = TcpStream::connect(target).unwrap();
            let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
            let mut down_w = client.try_clone().unwrap();
            let t = thread::spawn(move || {
                let _ = io::copy(&mut up_r, &mut down_w);
                let _ = down_w.shutdown(std::net::Shutdown::Write);
            });
            let _ = io::copy(&mut reader, &mut up_w);
            let _ = up_w.shutdown(std::net::Shutdown::Write);
            let _ = t.join();
        });
        let routes = Routes::default();
        routes.add("proxy.invalid", proxy);
        let (mut ws, _) = ClientBuilder::new("ws://service.invalid/tunnelled")
            .proxy("http://proxy.invalid:3128")
            .connector(routes.connector())
            .connect()
            .unwrap();
        assert_eq!(*routes.targets.lock().unwrap(), [Target::new("proxy.invalid", 3128, false)]);
        round_trip(&mut ws, "through the proxy");
    });
}

/// A connector slower than the handshake timeout is a timeout once it returns.
#[test]
fn slow_connector_times_out() {
    watchdog(20, || {
        let (addr, _) = echo_server();
        let e = ClientBuilder::new("ws://slow.invalid/")
            .handshake_timeout(Duration::from_millis(100))
            .connector(move |_: Target| {
                thread::sleep(Duration::from_millis(300));
                TcpStream::connect(addr)
            })
            .connect()
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::Timeout), "{e:?}");
    });
}
