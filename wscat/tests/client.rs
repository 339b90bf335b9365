//! `wscat -c` against ws-tokio servers started by the test: pipes, scripting (`-x`, `-w`),
//! JSON output, slash commands, binary and hex, what reaches the server (subprotocols,
//! headers, origin, auth, Host, protocol version, compression), pings, limits, close codes,
//! Ctrl-C, Unix sockets, redirects and proxies.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{header, run, within, wscat, Seen, TempDir, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn pipe_mode_sends_lines_and_prints_replies() {
    let mut srv = TestServer::start().await;
    let mut w = wscat(&["-c", &srv.url("/echo")]);
    w.send_line("hello").await;
    assert_eq!(w.line().await, "hello");
    w.send_line("second line").await;
    assert_eq!(w.line().await, "second line");
    w.close_stdin();
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(done.stderr.contains("Connected to ws://127.0.0.1"), "{done:?}");
    assert!(done.stderr.contains("Disconnected (code: 1000, reason: \"\")"), "{done:?}");
    assert!(!done.stdout.contains('\x1b'), "no escape codes in pipes: {done:?}");
    assert_eq!(srv.request().await.uri().path(), "/echo");
    let events = srv.events_until_close().await;
    assert_eq!(events.last(), Some(&Seen::Closed(1000, String::new())));
}

#[tokio::test]
async fn closing_stdout_closes_the_connection() {
    let mut srv = TestServer::start().await;
    let mut w = wscat(&["-c", &srv.url("/")]);
    w.send_line("one").await;
    assert_eq!(w.line().await, "one");
    w.close_stdout();
    w.send_line("two").await;
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "{done:?}");
    let events = srv.events_until_close().await;
    assert_eq!(events.last(), Some(&Seen::Closed(1000, String::new())), "{events:?}");
}

#[tokio::test]
async fn url_without_scheme_means_ws() {
    let mut srv = TestServer::start().await;
    let done = run(&["-c", &srv.addr.to_string(), "-x", "hi"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["hi"]);
    srv.request().await;
}

#[tokio::test]
async fn execute_prints_the_reply_and_exits_without_waiting() {
    let srv = TestServer::start().await;
    let started = Instant::now();
    let done = run(&["-c", &srv.url("/"), "-x", "hello"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["hello"], "{done:?}");
    assert!(started.elapsed() < Duration::from_millis(1900), "exits once the reply arrived, not after 2 s");
}

#[tokio::test]
async fn execute_with_wait_prints_everything_received_meanwhile() {
    let srv = TestServer::start().await;
    let started = Instant::now();
    let done = run(&["-c", &srv.url("/"), "-x", "later", "-w", "1"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["first", "second"], "{done:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn repeated_execute_sends_each_command() {
    let mut srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "--execute", "one", "--execute", "two"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["one", "two"]);
    let events = srv.events_until_close().await;
    assert_eq!(events[..2], [Seen::Text("one".into()), Seen::Text("two".into())]);
}

#[tokio::test]
async fn wait_after_end_of_input_keeps_printing() {
    let srv = TestServer::start().await;
    let mut w = wscat(&["-c", &srv.url("/"), "--wait", "1"]);
    w.send_line("later").await;
    w.close_stdin();
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["first", "second"], "{done:?}");
}

#[tokio::test]
async fn json_output_has_one_object_per_event() {
    let srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "--json", "-x", "hello \"you\"", "-x", "binary-me", "-w", "0.5"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    let events: Vec<Value> = done.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[0]["type"], "open");
    assert_eq!(events[0]["extensions"], "permessage-deflate");
    assert_eq!(events[1], serde_json::json!({"type": "message", "kind": "text", "data": "hello \"you\""}));
    assert_eq!(events[2], serde_json::json!({"type": "message", "kind": "binary", "data": "000102ff6869"}));
    assert_eq!(events[3], serde_json::json!({"type": "close", "code": 1000, "reason": "", "clean": true}));
    assert!(!done.stderr.contains("Connected"), "no status lines in JSON mode: {done:?}");
}

#[tokio::test]
async fn json_output_reports_pings_and_errors() {
    let srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "--json", "-P", "-x", "ping-me", "-w", "0.5"]).await;
    let events: Vec<Value> = done.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.contains(&serde_json::json!({"type": "ping", "data": "srv"})), "{events:?}");

    let done = run(&["-c", "ws://127.0.0.1:1/", "--json"]).await;
    assert_eq!(done.code, Some(1));
    let err: Value = serde_json::from_str(done.stdout.trim()).unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"], "refused");
}

#[tokio::test]
async fn slash_commands_ping_pong_close() {
    let mut srv = TestServer::start().await;
    let mut w = wscat(&["-c", &srv.url("/"), "--slash", "-P"]);
    w.send_line("/ping hello").await;
    w.stderr_until("Received pong (data: \"hello\")").await;
    w.send_line("/pong unsolicited").await;
    w.send_line("//not a command").await;
    assert_eq!(w.line().await, "/not a command");
    w.send_line("/bogus").await;
    w.stderr_until("unknown command /bogus").await;
    w.send_line("/close 4001 bye now").await;
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "this side closed: {done:?}");
    assert!(done.stderr.contains("Disconnected (code: 4001, reason: \"bye now\")"), "{done:?}");
    let events = srv.events_until_close().await;
    assert_eq!(
        events,
        [
            Seen::Ping(b"hello".to_vec()),
            Seen::Pong(b"unsolicited".to_vec()),
            Seen::Text("/not a command".into()),
            Seen::Closed(4001, "bye now".into()),
        ]
    );
}

#[tokio::test]
async fn without_slash_a_slash_line_is_a_message() {
    let mut srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "-x", "/ping"]).await;
    assert_eq!(done.stdout_lines(), ["/ping"]);
    assert_eq!(srv.event().await, Seen::Text("/ping".into()));
}

#[tokio::test]
async fn show_ping_pong_prints_the_servers_pings() {
    let srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "--show-ping-pong", "-x", "ping-me", "-w", "0.5"]).await;
    assert!(done.stderr.contains("Received ping (data: \"srv\")"), "{done:?}");
    let done = run(&["-c", &srv.url("/"), "-x", "ping-me", "-w", "0.5"]).await;
    assert!(!done.stderr.contains("Received ping"), "only with -P: {done:?}");
}

#[tokio::test]
async fn hex_mode_sends_and_prints_binary_as_hex() {
    let mut srv = TestServer::start().await;
    let mut w = wscat(&["-c", &srv.url("/"), "--hex"]);
    w.send_line("68 69 0a").await;
    assert_eq!(w.line().await, "68690a");
    w.send_line("zz").await;
    w.stderr_until("invalid hex digit").await;
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(srv.event().await, Seen::Binary(b"hi\n".to_vec()));
}

#[tokio::test]
async fn binary_messages_are_hex_dumped() {
    let srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "-x", "binary-me"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(
        done.stdout_lines(),
        ["00000000  00 01 02 ff 68 69                                 |....hi|"],
        "{done:?}"
    );
}

#[tokio::test]
async fn binary_file_is_sent_as_one_binary_message() {
    let mut srv = TestServer::start().await;
    let dir = TempDir::new("binfile");
    let content: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let path = dir.file("data.bin", &content);
    let done = run(&["-c", &srv.url("/"), "--binary-file", path.to_str().unwrap(), "-w", "0.3"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(srv.event().await, Seen::Binary(content));
    assert!(done.stdout.starts_with("00000000  00 01 02 03"), "the echo is dumped: {done:?}");

    let done = run(&["-c", &srv.url("/"), "--binary-file", dir.path("missing").to_str().unwrap()]).await;
    assert_eq!(done.code, Some(1));
    assert!(done.stderr.contains("cannot read --binary-file"), "{done:?}");
}

#[tokio::test]
async fn handshake_options_reach_the_server() {
    let mut srv = TestServer::start().await;
    let done = run(&[
        "-c",
        &srv.url("/path?q=1"),
        "-s",
        "chat.v2",
        "--subprotocol",
        "chat.v1",
        "-H",
        "X-Custom: one",
        "--header",
        "X-Other:two",
        "-o",
        "https://origin.example",
        "--auth",
        "alice:s3cret",
        "--host",
        "virtual.example:8080",
        "-x",
        "hi",
    ])
    .await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(done.stderr.contains("subprotocol chat.v2"), "{done:?}");
    let req = srv.request().await;
    assert_eq!(req.uri().path_and_query().unwrap().as_str(), "/path?q=1");
    assert_eq!(header(&req, "sec-websocket-protocol"), Some("chat.v2, chat.v1"));
    assert_eq!(header(&req, "x-custom"), Some("one"));
    assert_eq!(header(&req, "x-other"), Some("two"));
    assert_eq!(header(&req, "origin"), Some("https://origin.example"));
    // base64("alice:s3cret")
    assert_eq!(header(&req, "authorization"), Some("Basic YWxpY2U6czNjcmV0"));
    assert_eq!(header(&req, "host"), Some("virtual.example:8080"));
    assert_eq!(header(&req, "sec-websocket-version"), Some("13"));
}

#[tokio::test]
async fn protocol_version_8() {
    let mut srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "-p", "8", "--origin", "http://o.example", "-x", "hi"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    let req = srv.request().await;
    assert_eq!(header(&req, "sec-websocket-version"), Some("8"));
    assert_eq!(header(&req, "sec-websocket-origin"), Some("http://o.example"));
    let done = run(&["-c", &srv.url("/"), "--protocol", "7"]).await;
    assert_eq!(done.code, Some(2), "invalid version is a usage error: {done:?}");
}

#[tokio::test]
async fn deflate_offer_follows_the_options() {
    let mut srv = TestServer::start().await;
    run(&["-c", &srv.url("/"), "-x", "hi"]).await;
    // The default offer, as Node's: the default backend (zlib-rs) can shrink its window, so it
    // offers `client_max_window_bits`.
    assert_eq!(ws_tokio::Backend::preferred(), Some(ws_tokio::Backend::ZlibRs));
    assert_eq!(
        header(&srv.request().await, "sec-websocket-extensions"),
        Some("permessage-deflate; client_max_window_bits")
    );

    let done = run(&["-c", &srv.url("/"), "--no-deflate", "--json", "-x", "hi"]).await;
    assert_eq!(header(&srv.request().await, "sec-websocket-extensions"), None);
    let open: Value = serde_json::from_str(done.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(open["extensions"], Value::Null);

    run(&[
        "-c",
        &srv.url("/"),
        "--deflate-server-no-context-takeover",
        "--deflate-client-no-context-takeover",
        "--deflate-server-max-window-bits",
        "10",
        "-x",
        "hi",
    ])
    .await;
    let offer = header(&srv.request().await, "sec-websocket-extensions").unwrap().to_owned();
    for part in ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=10"] {
        assert!(offer.contains(part), "{part} in {offer}");
    }

    let done = run(&["-c", &srv.url("/"), "--deflate-client-max-window-bits", "11", "-x", "hi"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(
        header(&srv.request().await, "sec-websocket-extensions"),
        Some("permessage-deflate; client_max_window_bits=11")
    );
}

/// Bytes the server read for one 100 KB compressible message sent with `extra` options.
async fn bytes_for_big_message(extra: &[&str]) -> u64 {
    let srv = TestServer::start().await;
    let dir = TempDir::new("deflate");
    let path = dir.file("big.txt", "abcdefgh".repeat(12_500));
    let mut args = vec!["-c".to_owned(), srv.url("/"), "--binary-file".into(), path.to_str().unwrap().into()];
    args.extend(["-w", "0.3"].iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = run(&args).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    srv.bytes_in.load(Ordering::Relaxed)
}

#[tokio::test]
async fn deflate_level_and_threshold_change_what_is_sent() {
    let compressed = bytes_for_big_message(&[]).await;
    assert!(compressed < 10_000, "compressed by default: {compressed}");
    let stored = bytes_for_big_message(&["--deflate-level", "0"]).await;
    assert!(stored > 100_000, "level 0 stores: {stored}");
    let skipped = bytes_for_big_message(&["--deflate-threshold", "200000"]).await;
    assert!(skipped > 100_000, "under the threshold, not compressed: {skipped}");
    let best = bytes_for_big_message(&["--deflate-level", "9", "--deflate-threshold", "0"]).await;
    assert!(best < 10_000, "{best}");
}

#[tokio::test]
async fn ping_interval_sends_pings() {
    let mut srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "--ping-interval", "0.2", "-w", "1"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    let pings = srv.events_until_close().await.iter().filter(|e| matches!(e, Seen::Ping(_))).count();
    assert!(pings >= 3, "{pings} pings");
}

#[tokio::test]
async fn max_payload_closes_with_1009() {
    let srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "--max-payload", "100", "-x", "big 1000", "-w", "2"]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("code: 1009"), "{done:?}");
    let done = run(&["-c", &srv.url("/"), "--max-payload", "2000", "-x", "big 1000"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
}

#[tokio::test]
async fn exit_status_tells_the_peers_close_code() {
    let srv = TestServer::start().await;
    let done = run(&["-c", &srv.url("/"), "-x", "close-me 1000 done", "-w", "3"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(done.stderr.contains("Disconnected (code: 1000, reason: \"done\")"), "{done:?}");
    let done = run(&["-c", &srv.url("/"), "-x", "close-me 4000 go away", "-w", "3"]).await;
    assert_eq!(done.code, Some(3), "{done:?}");
    assert!(done.stderr.contains("code: 4000, reason: \"go away\""), "{done:?}");
}

#[tokio::test]
async fn ctrl_c_closes_with_1000() {
    let mut srv = TestServer::start().await;
    let w = wscat(&["-c", &srv.url("/")]);
    w.stderr_until("Connected").await;
    w.interrupt();
    let done = w.finish().await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(srv.events_until_close().await, [Seen::Closed(1000, String::new())]);
}

#[tokio::test]
async fn unix_socket_urls() {
    let dir = TempDir::new("unix");
    let sock = dir.path("ws.sock");
    let (mut requests, _events) = common::unix_server(&sock).await;
    let url = format!("ws+unix://{}:/over/unix", sock.display());
    let done = run(&["-c", &url, "-x", "via unix"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["via unix"]);
    let req = within("unix request", requests.recv()).await.unwrap();
    assert_eq!(req.uri().path(), "/over/unix");
}

/// A plain HTTP server answering every request with a redirect to `location`.
async fn redirector(location: String) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn redirects_are_followed_with_location() {
    let mut srv = TestServer::start().await;
    let hop = redirector(srv.url("/final")).await;
    let done = run(&["-c", &format!("ws://{hop}/start"), "-L", "-x", "hi"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["hi"]);
    assert_eq!(srv.request().await.uri().path(), "/final");

    let done = run(&["-c", &format!("ws://{hop}/start"), "-x", "hi"]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("handshake rejected: the server answered 302"), "{done:?}");

    let done = run(&["-c", &format!("ws://{hop}/start"), "--location", "--max-redirects", "0"]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("too many redirects"), "{done:?}");
}

/// A minimal HTTP CONNECT proxy; reports each CONNECT target.
async fn proxy() -> (std::net::SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                let _ = tx.send(head.lines().next().unwrap_or_default().to_owned());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else { return };
                let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn proxy_tunnels_with_connect() {
    let mut srv = TestServer::start().await;
    let (proxy_addr, mut connects) = proxy().await;
    let done = run(&["-c", &srv.url("/"), "--proxy", &format!("http://{proxy_addr}"), "-x", "through"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(done.stdout_lines(), ["through"]);
    let line = within("CONNECT", connects.recv()).await.unwrap();
    assert_eq!(line, format!("CONNECT {} HTTP/1.1", srv.addr));
    srv.request().await;
}

#[tokio::test]
async fn handshake_timeout_bounds_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let started = Instant::now();
    let done = run(&["-c", &format!("ws://{addr}/"), "--handshake-timeout", "0.5"]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("timed out"), "{done:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn ctrl_c_while_connecting_exits_with_130() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen) = tokio::sync::oneshot::channel();
    let _hold = tokio::spawn(async move {
        let held = listener.accept().await;
        let _ = seen_tx.send(());
        let _keep = held;
        std::future::pending::<()>().await;
    });
    let w = wscat(&["-c", &format!("ws://{addr}/")]);
    within("the connection attempt", seen).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.interrupt();
    let done = w.finish().await;
    assert_eq!(done.code, Some(130), "{done:?}");
    assert!(done.stderr.contains("interrupted while connecting"), "{done:?}");
}
