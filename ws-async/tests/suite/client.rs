//! `ClientBuilder` (Node `new WebSocket(address, protocols, options)`) against loopback servers:
//! request headers, subprotocols, origin, version, the 101 response, rejections, redirects,
//! URL forms, Unix sockets, local address, connectors, HTTP CONNECT proxies, timeouts and
//! permessage-deflate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use ws_async::http::{header, HeaderMap, HeaderValue, StatusCode};
use ws_async::runtime::Io;
use ws_async::{
    accept_hdr_with, Bytes, ClientBuilder, Config, ConnectError, DeflateConfig, Event, Message, Rejection,
    ServerOptions, Target, UpgradeRequest, WebSocket,
};

use crate::harness::decide::*;
use crate::harness::*;

/// What a test server saw of one handshake request.
#[derive(Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
}

/// A WebSocket server on 127.0.0.1 (the runtime's sockets): reports every request, lets
/// `decide` accept or refuse it, and echoes messages on accepted connections. It stops when
/// the guard is dropped.
async fn server<T: TestRt>(
    options: ServerOptions,
    decide: Arc<Decide>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>, AbortOnDrop) {
    let listener = T::listen();
    let addr = T::listener_addr(&listener);
    let (tx, rx) = mpsc::unbounded_channel();
    let options = Arc::new(options);
    let task = T::spawn(async move {
        loop {
            let Ok((tcp, peer)) = T::accept(&listener).await else { return };
            let (tx, options, decide) = (tx.clone(), options.clone(), decide.clone());
            T::spawn_detached(async move {
                let accepted =
                    accept_hdr_with::<_, T::R, _>(tcp, Arc::new(Config::default()), options, |req: &UpgradeRequest| {
                        let headers = req.request().headers().clone();
                        let _ = tx.send(Seen { path: req.path().to_owned(), headers, peer: Some(peer) });
                        decide(req)
                    })
                    .await;
                if let Ok(ws) = accepted {
                    echo_until_error(ws).await;
                }
            });
        }
    });
    (addr, rx, task.abort_on_drop())
}

/// Echoes messages until the connection ends or a send fails.
async fn echo_until_error<S, R: Io<S>>(mut ws: WebSocket<S, R>) {
    while let Some(Ok(event)) = ws.recv().await {
        if let Event::Message(m) = event {
            if ws.send(m).await.is_err() {
                break;
            }
        }
    }
}

/// Sends `text` and expects it back.
async fn round_trip<S, R: Io<S>>(ws: &mut WebSocket<S, R>, text: &str) {
    ws.send(text).await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, text),
        other => panic!("{other:?}"),
    }
}

/// A tiny HTTP CONNECT proxy on 127.0.0.1 (the runtime's sockets): reports each request head,
/// then either answers `refuse` and closes, or connects to the requested target, answers 200
/// and relays. It stops when the guard is dropped.
async fn connect_proxy<T: TestRt>(
    refuse: Option<&'static str>,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>, AbortOnDrop) {
    let listener = T::listen();
    let addr = T::listener_addr(&listener);
    let (tx, rx) = mpsc::unbounded_channel();
    let task = T::spawn(async move {
        loop {
            let Ok((tcp, _)) = T::accept(&listener).await else { return };
            let tx = tx.clone();
            T::spawn_detached(async move {
                let mut client = BufReader::new(raw::<T>(tcp));
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if client.read_line(&mut line).await.unwrap() == 0 {
                        return;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let _ = tx.send(head.clone());
                let mut client = client.into_inner();
                if let Some(answer) = refuse {
                    client.write_all(answer.as_bytes()).await.unwrap();
                    return;
                }
                let target: SocketAddr = head.split(' ').nth(1).unwrap().parse().unwrap();
                let mut upstream = raw::<T>(T::connect(target).await.unwrap());
                client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, rx, task.abort_on_drop())
}

on_every_runtime! {
    /// Subprotocols, origin, headers and cookies are sent; the 101 response and the subprotocol come back.
    async fn headers_origin_and_subprotocols_are_sent<T: TestRt>() {
        let options = ServerOptions::default().subprotocols(["b"]).on_headers(|_, h| {
            h.insert(header::SET_COOKIE, HeaderValue::from_static("session=1"));
        });
        let (addr, mut seen, _server) = server::<T>(options, negotiate()).await;
        let (mut ws, response) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/chat?room=1", addr.port()))
                .subprotocols(["a", "b"])
                .origin("https://app.example")
                .header("X-Custom", "one")
                .header("x-custom", "two")
                .header("Cookie", "c=1")
                .connect(),
        )
        .await
        .unwrap();
        let seen = seen.recv().await.unwrap();
        assert_eq!(seen.path, "/chat");
        assert_eq!(header_str(&seen.headers, "sec-websocket-protocol"), Some("a, b"));
        assert_eq!(header_str(&seen.headers, "origin"), Some("https://app.example"));
        assert_eq!(seen.headers.get_all("x-custom").iter().collect::<Vec<_>>(), ["two"]);
        assert_eq!(header_str(&seen.headers, "cookie"), Some("c=1"));
        assert_eq!(header_str(&seen.headers, "sec-websocket-version"), Some("13"));
        // The 101 response is handed back (Node 'upgrade').
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(header_str(response.headers(), "set-cookie"), Some("session=1"));
        assert_eq!(header_str(response.headers(), "sec-websocket-protocol"), Some("b"));
        assert_eq!(ws.protocol(), Some("b"));
        assert_eq!(ws.url(), Some(format!("ws://127.0.0.1:{}/chat?room=1", addr.port()).as_str()));
        assert_eq!(T::kind(ws.get_ref()), StreamKind::Tcp);
        round_trip(&mut ws, "hello").await;
    }

    /// Version 8 sends `Sec-WebSocket-Origin`; an unsupported version is refused before connecting.
    async fn protocol_version_8_sends_sec_websocket_origin<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port()))
                .protocol_version(8)
                .origin("https://app.example")
                .connect(),
        )
        .await
        .unwrap();
        let seen = seen.recv().await.unwrap();
        assert_eq!(header_str(&seen.headers, "sec-websocket-version"), Some("8"));
        assert_eq!(header_str(&seen.headers, "sec-websocket-origin"), Some("https://app.example"));
        assert!(seen.headers.get("origin").is_none());
        assert_eq!(ws.protocol_version(), 8);
        round_trip(&mut ws, "v8").await;
        // An unsupported version is refused before anything is sent.
        let e = within(ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port())).protocol_version(7).connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::Handshake(_)), "{e:?}");
    }

    /// permessage-deflate is offered by default and negotiated; off, nothing is offered; ignored if unsupported.
    async fn deflate_is_offered_by_default_and_negotiated<T: TestRt>() {
        let options = ServerOptions::default().per_message_deflate(Some(DeflateConfig::default()));
        let (addr, mut seen, _server) = server::<T>(options, negotiate()).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        let (mut ws, response) = within(ClientBuilder::<T::R>::new(&url).connect()).await.unwrap();
        let offer = seen.recv().await.unwrap();
        let offered = header_str(&offer.headers, "sec-websocket-extensions").expect("deflate offered by default");
        assert!(offered.starts_with("permessage-deflate"), "{offered}");
        assert!(header_str(response.headers(), "sec-websocket-extensions").unwrap().starts_with("permessage-deflate"));
        assert!(ws.extensions().unwrap().starts_with("permessage-deflate"));
        let big = "compressible ".repeat(2000);
        round_trip(&mut ws, &big).await;

        // Turned off: nothing offered, nothing negotiated.
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).per_message_deflate(None).connect()).await.unwrap();
        assert!(seen.recv().await.unwrap().headers.get("sec-websocket-extensions").is_none());
        assert_eq!(ws.extensions(), None);
        round_trip(&mut ws, &big).await;

        // A server without deflate ignores the offer.
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port())).connect()).await.unwrap();
        assert!(seen.recv().await.unwrap().headers.get("sec-websocket-extensions").is_some());
        assert_eq!(ws.extensions(), None);
        round_trip(&mut ws, "plain").await;
    }

    /// A refusal reaches the client with its status, headers and body.
    async fn rejection_carries_status_headers_and_body<T: TestRt>() {
        let refuse: Arc<Decide> = Arc::new(|_: &UpgradeRequest| {
            let mut headers = HeaderMap::new();
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Err(Rejection::new(StatusCode::UNAUTHORIZED, headers, Bytes::from_static(b"who are you?")))
        });
        let (addr, _seen, _server) = server::<T>(ServerOptions::default(), refuse).await;
        match within(ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port())).connect()).await {
            Err(ConnectError::Rejected { status, headers, body }) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert_eq!(header_str(&headers, "www-authenticate"), Some("Bearer"));
                assert_eq!(&body[..], b"who are you?");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    /// Without `follow_redirects`, a redirect is a rejection carrying its `Location`.
    async fn redirects_not_followed_are_rejected<T: TestRt>() {
        let (addr, _seen, _server) = server::<T>(ServerOptions::default(), redirecting("/old", "/new".into())).await;
        match within(ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/old", addr.port())).connect()).await {
            Err(ConnectError::Rejected { status, headers, .. }) => {
                assert_eq!(status, StatusCode::FOUND);
                assert_eq!(header_str(&headers, "location"), Some("/new"));
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    /// A redirect on the same host keeps the URL's credentials, cookies and other headers.
    async fn redirect_on_the_same_host_keeps_credentials<T: TestRt>() {
        let (addr, mut seen, _server) =
            server::<T>(ServerOptions::default(), redirecting("/old", "/new?x=1".into())).await;
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://user:pw@127.0.0.1:{}/old", addr.port()))
                .follow_redirects(true)
                .header("Cookie", "c=1")
                .header("X-Other", "1")
                .connect(),
        )
        .await
        .unwrap();
        let creds = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("user:pw"));
        for path in ["/old", "/new"] {
            let s = seen.recv().await.unwrap();
            assert_eq!(s.path, path);
            assert_eq!(header_str(&s.headers, "authorization"), Some(creds.as_str()));
            assert_eq!(header_str(&s.headers, "cookie"), Some("c=1"));
            assert_eq!(header_str(&s.headers, "x-other"), Some("1"));
        }
        assert_eq!(ws.url(), Some(format!("ws://user:pw@127.0.0.1:{}/new?x=1", addr.port()).as_str()));
        round_trip(&mut ws, "after redirect").await;
    }

    /// A redirect to another host drops `Authorization` and `Cookie`; `http://` in `Location` means `ws://`.
    async fn redirect_to_another_host_drops_credentials<T: TestRt>() {
        let (target, mut target_seen, _target) = server::<T>(ServerOptions::default(), negotiate()).await;
        // Another port is another host (Node compares `host`, which includes the port); the
        // location is absolute and uses http://, which means ws://.
        let location = format!("http://127.0.0.1:{}/final", target.port());
        let (first, mut first_seen, _first) = server::<T>(ServerOptions::default(), redirecting("/start", location)).await;
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/start", first.port()))
                .follow_redirects(true)
                .header("Authorization", "Bearer secret")
                .header("Cookie", "c=1")
                .header("X-Other", "1")
                .connect(),
        )
        .await
        .unwrap();
        let s = first_seen.recv().await.unwrap();
        assert_eq!(header_str(&s.headers, "authorization"), Some("Bearer secret"));
        assert_eq!(header_str(&s.headers, "cookie"), Some("c=1"));
        let s = target_seen.recv().await.unwrap();
        assert_eq!(s.path, "/final");
        assert_eq!(s.headers.get("authorization"), None);
        assert_eq!(s.headers.get("cookie"), None);
        assert_eq!(header_str(&s.headers, "x-other"), Some("1"));
        assert_eq!(header_str(&s.headers, "host"), Some(format!("127.0.0.1:{}", target.port()).as_str()));
        assert_eq!(ws.url(), Some(format!("ws://127.0.0.1:{}/final", target.port()).as_str()));
        round_trip(&mut ws, "moved").await;
    }

    /// Redirects stop at `max_redirects` (10 by default, as in Node); an unusable `Location` is an invalid URL.
    async fn too_many_redirects<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), redirecting("/loop", "/loop".into())).await;
        let url = format!("ws://127.0.0.1:{}/loop", addr.port());
        let e = within(ClientBuilder::<T::R>::new(&url).follow_redirects(true).max_redirects(3).connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::TooManyRedirects(3)), "{e:?}");
        let mut requests = 0;
        while seen.try_recv().is_ok() {
            requests += 1;
        }
        assert_eq!(requests, 4, "the first request and three redirects");
        // The default limit is 10, as in Node.
        let e = within(ClientBuilder::<T::R>::new(&url).follow_redirects(true).connect()).await.map(|_| ()).unwrap_err();
        assert!(matches!(e, ConnectError::TooManyRedirects(10)), "{e:?}");
        // A Location that is not a usable URL.
        let (addr, _seen, _server) =
            server::<T>(ServerOptions::default(), redirecting("/x", "ftp://elsewhere/".into())).await;
        let e = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/x", addr.port())).follow_redirects(true).connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(e, ConnectError::InvalidUrl(_)), "{e:?}");
    }

    /// `http://` URLs are normalised to `ws://`; unusable URLs and header names are refused.
    async fn url_forms<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(format!("http://127.0.0.1:{}/plain", addr.port())).connect()).await.unwrap();
        assert_eq!(ws.url(), Some(format!("ws://127.0.0.1:{}/plain", addr.port()).as_str()));
        assert_eq!(seen.recv().await.unwrap().path, "/plain");
        round_trip(&mut ws, "normalised").await;
        for bad in ["ftp://127.0.0.1/", "ws://127.0.0.1/#fragment", "not a url", "ws+unix://"] {
            let e = within(ClientBuilder::<T::R>::new(bad).connect()).await.map(|_| ()).unwrap_err();
            assert!(matches!(e, ConnectError::InvalidUrl(_)), "{bad}: {e:?}");
        }
        let e = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port())).header("Bad Name", "x").connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(e, ConnectError::Handshake(_)), "{e:?}");
    }

    /// A `ws+unix://` URL connects over a Unix domain socket, with path and query.
    #[cfg(unix)]
    async fn unix_socket_url<T: TestRt>() {
        let dir = std::env::temp_dir().join(format!("ws-async-suite-client-{}-{}", std::process::id(), T::NAME));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ws.sock");
        let _ = std::fs::remove_file(&path);
        let listener = T::bind_unix(&path).unwrap();
        let server = T::spawn(async move {
            let stream = T::accept_unix(&listener).await.unwrap();
            let mut target = String::new();
            let ws = accept_hdr_with::<_, T::R, _>(stream, Arc::new(Config::default()), Arc::default(), |r| {
                target = format!("{}?{}", r.path(), r.query().unwrap_or_default());
                r.negotiate()
            })
            .await
            .unwrap();
            (ws, target)
        });
        let url = format!("ws+unix://{}:/chat?x=1", path.display());
        let (mut ws, _) = within(ClientBuilder::<T::R>::new(&url).connect()).await.unwrap();
        let (server_ws, target) = within(server).await;
        assert_eq!(target, "/chat?x=1");
        let _echo = T::spawn(echo_until_error(server_ws));
        assert_eq!(T::kind(ws.get_ref()), StreamKind::Unix);
        round_trip(&mut ws, "over a unix socket").await;
        drop(ws);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `local_address` binds the client's socket; no remote address of its family is `AddrNotAvailable`.
    async fn local_address_is_bound<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let url = format!("ws://127.0.0.1:{}/", addr.port());
        // Any 127.0.0.0/8 address is local on Linux; fall back to 127.0.0.1 elsewhere.
        let local = if cfg!(target_os = "linux") { Ipv4Addr::new(127, 0, 0, 2) } else { Ipv4Addr::LOCALHOST };
        let (mut ws, _) =
            within(ClientBuilder::<T::R>::new(&url).local_address(IpAddr::V4(local)).connect()).await.unwrap();
        assert_eq!(seen.recv().await.unwrap().peer.unwrap().ip(), IpAddr::V4(local));
        round_trip(&mut ws, "bound").await;
        // No remote address of the local address's family.
        let e = within(ClientBuilder::<T::R>::new(&url).local_address(IpAddr::V6(Ipv6Addr::LOCALHOST)).connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(&e, ConnectError::Io(io) if io.kind() == std::io::ErrorKind::AddrNotAvailable), "{e:?}");
    }

    /// A custom connector gets the URL's target and opens the stream; its error is the connect error.
    async fn custom_connector_is_used<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let targets = Arc::new(Mutex::new(Vec::new()));
        let recorded = targets.clone();
        // The URL names a host that does not resolve: only the connector knows where it is.
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new("ws://service.invalid:1234/via-connector")
                .connector(move |target: Target| {
                    recorded.lock().unwrap().push(target);
                    T::connect(addr)
                })
                .connect(),
        )
        .await
        .unwrap();
        assert_eq!(*targets.lock().unwrap(), [Target::new("service.invalid", 1234, false)]);
        let s = seen.recv().await.unwrap();
        assert_eq!(s.path, "/via-connector");
        assert_eq!(header_str(&s.headers, "host"), Some("service.invalid:1234"));
        assert_eq!(T::kind(ws.get_ref()), StreamKind::Custom);
        round_trip(&mut ws, "custom transport").await;

        // A connector's error is the connect error.
        let e = within(
            ClientBuilder::<T::R>::new("ws://service.invalid/")
                .connector(|_: Target| async { Err::<T::Tcp, _>(std::io::Error::other("no route")) })
                .connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(&e, ConnectError::Io(io) if io.to_string() == "no route"), "{e:?}");
    }

    /// Through an HTTP CONNECT proxy (credentials to the proxy only); a refusal is `ProxyRejected`.
    async fn http_connect_proxy<T: TestRt>() {
        let (addr, mut seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let (proxy, mut heads, _proxy) = connect_proxy::<T>(None).await;
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/through-proxy", addr.port()))
                .proxy(format!("http://us%3Aer:p%40ss@127.0.0.1:{}", proxy.port()))
                .connect(),
        )
        .await
        .unwrap();
        let head = heads.recv().await.unwrap();
        let authority = format!("127.0.0.1:{}", addr.port());
        assert!(head.starts_with(&format!("CONNECT {authority} HTTP/1.1\r\n")), "{head}");
        assert!(head.contains(&format!("Host: {authority}\r\n")), "{head}");
        let creds = base64::engine::general_purpose::STANDARD.encode("us:er:p@ss");
        assert!(head.contains(&format!("Proxy-Authorization: Basic {creds}\r\n")), "{head}");
        let s = seen.recv().await.unwrap();
        assert_eq!(s.path, "/through-proxy");
        assert!(s.headers.get("proxy-authorization").is_none(), "proxy credentials must not reach the server");
        round_trip(&mut ws, "tunnelled").await;

        // A proxy that wants credentials.
        let (proxy, _heads, _refusing) = connect_proxy::<T>(Some(
            "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n",
        ))
        .await;
        let e = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port()))
                .proxy(format!("http://127.0.0.1:{}", proxy.port()))
                .connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        match e {
            ConnectError::ProxyRejected { status, headers } => {
                assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
                assert_eq!(header_str(&headers, "proxy-authenticate"), Some("Basic realm=\"p\""));
            }
            other => panic!("{other:?}"),
        }
        let e = within(ClientBuilder::<T::R>::new("ws://127.0.0.1:1/").proxy("socks5://127.0.0.1:1080").connect())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ConnectError::InvalidUrl(_)), "{e:?}");

        // Answers a tunnel cannot use: data after a 2xx head (the target sent nothing yet),
        // garbage, an EOF inside the head.
        for (answer, kind) in [
            ("HTTP/1.1 200 Connection established\r\n\r\nextra", std::io::ErrorKind::InvalidData),
            ("garbage\r\n\r\n", std::io::ErrorKind::InvalidData),
            ("HTTP/1.1 200 OK\r\n", std::io::ErrorKind::UnexpectedEof),
        ] {
            let (proxy, _heads, _bad) = connect_proxy::<T>(Some(answer)).await;
            let e = within(
                ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port()))
                    .proxy(format!("http://127.0.0.1:{}", proxy.port()))
                    .connect(),
            )
            .await
            .map(|_| ())
            .unwrap_err();
            match e {
                ConnectError::Io(e) => assert_eq!(e.kind(), kind, "{answer:?}: {e}"),
                other => panic!("{answer:?}: {other:?}"),
            }
        }
    }

    /// The builder's handshake timeout ends a connect to a server that never answers, on time.
    async fn handshake_timeout_against_a_silent_server<T: TestRt>() {
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let holder = T::spawn(async move {
            // Accepts, reads the request, never answers.
            let (tcp, _) = T::accept(&listener).await.unwrap();
            let mut tcp = raw::<T>(tcp);
            let mut buf = [0u8; 1024];
            while tcp.read(&mut buf).await.unwrap_or(0) > 0 {}
        });
        let started = Instant::now();
        let e = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port()))
                .handshake_timeout(Duration::from_millis(300))
                .connect(),
        )
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(matches!(e, ConnectError::Timeout), "{e:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(5), "{took:?}");
        holder.abort();
    }

    /// The builder's `Config` applies: an echo over `max_message_size` fails the connection with 1009.
    async fn config_limits_apply<T: TestRt>() {
        let (addr, _seen, _server) = server::<T>(ServerOptions::default(), negotiate()).await;
        let config = Config::default().max_message_size(Some(16));
        let (mut ws, _) = within(
            ClientBuilder::<T::R>::new(format!("ws://127.0.0.1:{}/", addr.port())).config(Arc::new(config)).connect(),
        )
        .await
        .unwrap();
        // The echo of a message over the limit fails the connection: this side sends 1009.
        ws.send("x".repeat(64)).await.unwrap();
        match within(ws.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert_eq!(info.sent.map(|f| u16::from(f.code)), Some(1009));
                assert!(info.error.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
}
