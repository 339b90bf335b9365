//! Interop of the tokio adapter with real third-party peers, in both roles:
//!
//! - **our server**: a ws-tokio server runs in this process (permessage-deflate accepted,
//!   subprotocols `ws-rs-test` and `other`, a `verify_client` that refuses `/reject?status=N`
//!   with status N and the body "rejected by verify_client", and echo with two commands:
//!   `close-me:CODE:REASON` and `header:NAME`, which answers with that request header's
//!   value). The Node `ws` client (`interop/node/client.js --extended`) and the Python
//!   `websockets` client (`interop/python/client.py --extended`) run their whole matrix
//!   against it, with and without permessage-deflate, and must exit 0.
//! - **our client**: the Node `ws` server (`interop/node/server.js`) and the Python
//!   `websockets` server (`interop/python/server.py`) listen on two ports each, one accepting
//!   permessage-deflate and one declining it; this test's ws-tokio client runs the matrix in
//!   [`CLIENT_CASES`] against them, offering permessage-deflate and not.
//!
//! Every peer process and every case is bounded in time, everything runs on 127.0.0.1, the
//! peers are killed (by PID) when a test ends, and a failure names the peer, the mode and the
//! case, with the peer's output. The peers are installed by `scripts/setup-interop.sh`; when
//! they are missing these tests fail (they never skip).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{ChildStdout, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../../interop/peers.rs"]
mod peers;

use peers::{read_all, repo_root, run_with_timeout, show_output, KillOnDrop, Peer};
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::http::{HeaderMap, StatusCode};
use ws_tokio::ws_proto::Initiator;
use ws_tokio::{
    accept_hdr_with, connect_with, Bytes, ClientRequest, CloseCode, Config, ConnectError, DeflateConfig, Error, Event,
    Message, MessageKind, Refusal, ServerOptions, WebSocket,
};

/// Time allowed for one peer client's whole matrix (the peer's own limit is a bit lower).
const PEER_TIMEOUT: Duration = Duration::from_secs(180);
/// Seconds the peer clients allow themselves per case (a 16 MiB echo through a debug build
/// with permessage-deflate takes a few seconds).
const CASE_TIMEOUT_SECS: u64 = 30;
/// Time allowed for a peer server to print its ports.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Time allowed for one case of our client.
const CLIENT_CASE_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------- our server (role 1)

/// Status, body of the refusal, for `/reject?status=N`.
fn refusal_for(query: Option<&str>) -> Refusal {
    let status = query
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("status=")))
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::FORBIDDEN);
    Refusal::new(status).with_body("rejected by verify_client\n")
}

fn server_config() -> Arc<Config> {
    let c = Config::default()
        .max_message_size(Some(64 << 20))
        .max_fragments(Some(131_072))
        .close_timeout(Some(Duration::from_secs(5)));
    Arc::new(c)
}

fn server_options() -> Arc<ServerOptions> {
    let o = ServerOptions::default()
        .per_message_deflate(Some(DeflateConfig::default()))
        .subprotocols(["ws-rs-test", "other"])
        .verify_client(|req| if req.path().starts_with("/reject") { Err(refusal_for(req.query())) } else { Ok(()) });
    Arc::new(o)
}

/// The ws-tokio server of role 1, on a runtime of its own; stopped when dropped.
struct TokioServer {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    /// One line per connection problem, shown when a peer fails.
    log: Arc<Mutex<Vec<String>>>,
}

impl TokioServer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).expect("binding 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (config, options, log2) = (server_config(), server_options(), log.clone());
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (config, options, log) = (config.clone(), options.clone(), log2.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve_one(tcp, config, options).await {
                        log.lock().unwrap().push(e);
                    }
                });
            }
        });
        Self { runtime: Some(runtime), port, log }
    }

    fn log_text(&self) -> String {
        let log = self.log.lock().unwrap();
        if log.is_empty() {
            String::new()
        } else {
            format!("\n----- our server's log -----\n{}", log.join("\n"))
        }
    }
}

impl Drop for TokioServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// One connection: echo, `close-me:CODE:REASON`, `header:NAME`.
async fn serve_one(tcp: TcpStream, config: Arc<Config>, options: Arc<ServerOptions>) -> Result<(), String> {
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    let accepted = accept_hdr_with(tcp, config, options, |req| {
        headers = req.request().headers().clone();
        req.negotiate()
    })
    .await;
    // Refusals are part of the matrix.
    let Ok(mut ws) = accepted else { return Ok(()) };
    while let Some(event) = ws.recv().await {
        let sent = match event.map_err(|e| format!("server: io error {e}"))? {
            Event::Message(Message::Text(t)) => {
                if let Some(rest) = t.strip_prefix("close-me:") {
                    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
                    let code = code.parse::<u16>().map_err(|e| format!("server: close-me code: {e}"))?;
                    ws.close(code, reason).await
                } else if let Some(name) = t.strip_prefix("header:") {
                    let value = headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("(none)").to_owned();
                    ws.send(value).await
                } else {
                    ws.feed(Message::Text(t)).await
                }
            }
            Event::Message(m) => ws.feed(m).await,
            Event::Closed(info) if info.error.is_some() => {
                return Err(format!("server: connection failed: {info:?}"));
            }
            _ => Ok(()),
        };
        match sent {
            Ok(()) | Err(Error::Send(_)) => {}
            Err(e) => return Err(format!("server: send failed: {e}")),
        }
    }
    Ok(())
}

/// Runs one peer client's extended matrix against our server and asserts it passed.
fn peer_client_against_our_server(peer: Peer) {
    let mut cmd = peer.command("client");
    let server = TokioServer::start();
    let url = format!("ws://127.0.0.1:{}", server.port);
    cmd.arg(&url)
        .arg("--extended")
        .current_dir(repo_root())
        .env("INTEROP_CASE_TIMEOUT", CASE_TIMEOUT_SECS.to_string())
        .env("INTEROP_TIMEOUT", (PEER_TIMEOUT.as_secs() - 10).to_string());
    let out = run_with_timeout(&mut cmd, PEER_TIMEOUT).unwrap_or_else(|e| panic!("{} client: {e}", peer.name()));
    let failed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let problem = match out.status {
        Some(status) if status.success() => None,
        Some(status) => Some(format!("exited with {status}")),
        None => Some(format!("did not finish within {}s", PEER_TIMEOUT.as_secs())),
    };
    if let Some(problem) = problem {
        panic!(
            "{} client against our tokio server ({url}) {problem}; failed cases:\n  {}\n{cmd:?}{}{}",
            peer.name(),
            if failed.is_empty() { "(none reported)".to_owned() } else { failed.join("\n  ") },
            show_output(&out),
            server.log_text()
        );
    }
    // Shown with `cargo test -- --nocapture`.
    println!("{} client against our tokio server:\n{}", peer.name(), out.stdout.trim_end());
}

#[test]
fn node_ws_client_against_tokio_server() {
    peer_client_against_our_server(Peer::Node);
}

#[test]
fn python_websockets_client_against_tokio_server() {
    peer_client_against_our_server(Peer::Python);
}

// ------------------------------------------------------------------- our client (role 2)

/// A peer server (`server.js` / `server.py`), killed when dropped.
struct PeerServer {
    child: KillOnDrop,
    deflate_port: u16,
    plain_port: u16,
    /// Everything it printed so far (stdout, then stderr at the end).
    output: Arc<Mutex<String>>,
}

impl PeerServer {
    fn start(peer: Peer) -> Self {
        let mut cmd = peer.command("server");
        cmd.current_dir(repo_root())
            .env("INTEROP_TIMEOUT", (PEER_TIMEOUT.as_secs() + 60).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child =
            KillOnDrop(cmd.spawn().unwrap_or_else(|e| panic!("{} server: cannot start {cmd:?}: {e}", peer.name())));
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stdout: ChildStdout = child.0.stdout.take().unwrap();
        let out2 = output.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                out2.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let stderr = child.0.stderr.take();
        let out3 = output.clone();
        thread::spawn(move || {
            let text = read_all(stderr).join().unwrap_or_default();
            if !text.trim().is_empty() {
                out3.lock().unwrap().push_str(&format!("----- stderr -----\n{text}"));
            }
        });
        let ports = wait_for_ports(&rx, START_TIMEOUT);
        let Some((deflate_port, plain_port)) = ports else {
            let _ = child.0.kill();
            thread::sleep(Duration::from_millis(200));
            panic!(
                "{} server: no `listening deflate=PORT plain=PORT` line within {}s from {cmd:?}; its output:\n{}",
                peer.name(),
                START_TIMEOUT.as_secs(),
                output.lock().unwrap()
            );
        };
        Self { child, deflate_port, plain_port, output }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

fn wait_for_ports(rx: &Receiver<String>, limit: Duration) -> Option<(u16, u16)> {
    let deadline = Instant::now() + limit;
    loop {
        let line = rx.recv_timeout(deadline.checked_duration_since(Instant::now())?).ok()?;
        let Some(rest) = line.strip_prefix("listening ") else { continue };
        let ports: HashMap<&str, u16> = rest
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        return Some((*ports.get("deflate")?, *ports.get("plain")?));
    }
}

/// The cases our client runs against each peer server, in both modes (offering
/// permessage-deflate or not), on the port that accepts it.
const CLIENT_CASES: &[&str] = &[
    "negotiation",
    "declined-by-server",
    "text-round-trip",
    "binary-round-trip",
    "empty-messages",
    "unicode-text",
    "binary-16MiB",
    "fragmented-from-us",
    "fragmented-from-peer",
    "many-messages-in-order",
    "ping-from-peer-with-payload",
    "ping-from-us-with-payload",
    "subprotocol-selection",
    "custom-header",
    "client-close-4000-bye",
    "peer-close-4001-why",
    "rejection-403-with-body",
];

const UNICODE: &str = "héllo wörld — καλημέρα — 你好 — 🌍🚀 — \u{10FFFF}";

fn client_config(offer_deflate: bool) -> Arc<Config> {
    let c = Config::default()
        .max_message_size(Some(64 << 20))
        .close_timeout(Some(Duration::from_secs(5)))
        .handshake_timeout(Some(Duration::from_secs(10)))
        .permessage_deflate(offer_deflate.then(DeflateConfig::default));
    Arc::new(c)
}

/// Opens a connection with our client; `customize` adds headers or subprotocols.
async fn open(
    port: u16,
    path: &str,
    offer_deflate: bool,
    customize: impl FnOnce(ClientRequest) -> ClientRequest,
) -> Result<WebSocket<TcpStream>, ConnectError> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let request = customize(ClientRequest::new(&format!("127.0.0.1:{port}"), path));
    let (ws, response) = connect_with(tcp, request, client_config(offer_deflate)).await?;
    assert_eq!(response.status(), 101);
    Ok(ws)
}

async fn connect_ok(port: u16, offer_deflate: bool) -> Result<WebSocket<TcpStream>, String> {
    open(port, "/", offer_deflate, |r| r).await.map_err(|e| format!("handshake failed: {e:?}"))
}

/// The next data message; pings and pongs are skipped (and answered by the library).
async fn next_message(ws: &mut WebSocket<TcpStream>, waiting_for: &str) -> Result<Message, String> {
    loop {
        match ws.recv().await {
            Some(Ok(Event::Message(m))) => return Ok(m),
            Some(Ok(Event::Closed(info))) => {
                return Err(format!(
                    "the connection closed ({} {:?}, error {:?}) while waiting for {waiting_for}",
                    info.code(),
                    info.reason(),
                    info.error
                ))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("io error while waiting for {waiting_for}: {e}")),
            None => return Err(format!("the connection ended while waiting for {waiting_for}")),
        }
    }
}

fn describe(m: &Message) -> String {
    let kind = match m.kind() {
        MessageKind::Text => "text",
        MessageKind::Binary => "binary",
    };
    if m.len() > 64 {
        format!("{kind} of {} bytes", m.len())
    } else {
        format!("{kind} {:?}", String::from_utf8_lossy(m.as_bytes()))
    }
}

async fn expect_echo(ws: &mut WebSocket<TcpStream>, sent: &Message) -> Result<(), String> {
    let got = next_message(ws, "the echo").await?;
    if got != *sent {
        return Err(format!("sent {}, got {}", describe(sent), describe(&got)));
    }
    Ok(())
}

async fn round_trip(ws: &mut WebSocket<TcpStream>, m: impl Into<Message>) -> Result<(), String> {
    let m = m.into();
    ws.send(m.clone()).await.map_err(|e| format!("sending {}: {e}", describe(&m)))?;
    expect_echo(ws, &m).await
}

/// Waits for `Event::Closed` and checks how the connection ended.
async fn expect_closed(
    ws: &mut WebSocket<TcpStream>,
    code: u16,
    reason: &str,
    initiator: Initiator,
) -> Result<(), String> {
    loop {
        match ws.recv().await {
            Some(Ok(Event::Closed(info))) => {
                let (got_code, got_reason) = (info.code().as_u16(), info.reason().to_owned());
                if got_code != code || got_reason != reason || !info.was_clean() || info.initiator != initiator {
                    return Err(format!(
                        "expected a clean close {code} {reason:?} started by {initiator:?}, got {got_code} {got_reason:?} \
                         (clean {}, started by {:?}, error {:?})",
                        info.was_clean(),
                        info.initiator,
                        info.error
                    ));
                }
                // The peer closes TCP next (bounded by the close timeout).
                while let Some(Ok(_)) = ws.recv().await {}
                return Ok(());
            }
            Some(Ok(Event::Message(m))) => return Err(format!("expected the close, got {}", describe(&m))),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("io error while waiting for the close: {e}")),
            None => return Err("the connection ended without Event::Closed".into()),
        }
    }
}

/// Closes with 1000 and checks the peer's echo.
async fn close_normally(mut ws: WebSocket<TcpStream>) -> Result<(), String> {
    ws.close(CloseCode::NORMAL, "").await.map_err(|e| format!("closing: {e}"))?;
    expect_closed(&mut ws, 1000, "", Initiator::Local).await
}

/// Compressible, order-sensitive bytes: random 4 KiB blocks, each stamped with its index.
fn repetitive(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let block: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut out = Vec::with_capacity(len);
    let mut i = 0u32;
    while out.len() < len {
        out.extend_from_slice(&i.to_be_bytes());
        out.extend_from_slice(&block[4..]);
        i += 1;
    }
    out.truncate(len);
    out
}

/// One case of [`CLIENT_CASES`]: `port` accepts permessage-deflate, `plain_port` declines it.
async fn client_case(peer: Peer, case: &str, port: u16, plain_port: u16, offer_deflate: bool) -> Result<(), String> {
    match case {
        "negotiation" => {
            let ws = connect_ok(port, offer_deflate).await?;
            let agreed = ws.extensions().map(str::to_owned);
            if agreed.as_deref().is_some_and(|e| e.starts_with("permessage-deflate")) != offer_deflate {
                return Err(format!("agreed extensions {agreed:?}, offered deflate: {offer_deflate}"));
            }
            close_normally(ws).await
        }
        "declined-by-server" => {
            let mut ws = connect_ok(plain_port, offer_deflate).await?;
            if let Some(e) = ws.extensions() {
                return Err(format!("a server without permessage-deflate agreed on {e:?}"));
            }
            round_trip(&mut ws, "x".repeat(5000)).await?;
            close_normally(ws).await
        }
        "text-round-trip" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            round_trip(&mut ws, "Hello, WebSocket!").await?;
            round_trip(&mut ws, "compressible ".repeat(1000)).await?;
            close_normally(ws).await
        }
        "binary-round-trip" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            round_trip(&mut ws, vec![0u8, 1, 2, 0x7f, 0x80, 0xfe, 0xff]).await?;
            round_trip(&mut ws, repetitive(100_000)).await?;
            close_normally(ws).await
        }
        "empty-messages" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            round_trip(&mut ws, "").await?;
            round_trip(&mut ws, Vec::new()).await?;
            close_normally(ws).await
        }
        "unicode-text" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            round_trip(&mut ws, UNICODE).await?;
            close_normally(ws).await
        }
        "binary-16MiB" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            round_trip(&mut ws, repetitive(16 << 20)).await?;
            close_normally(ws).await
        }
        "fragmented-from-us" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            // "€" is E2 82 AC: its bytes are spread over two fragments; the middle part is
            // large enough to be compressed when the first is (the first part decides).
            let text = format!("price: 5€ {} ok", "middle ".repeat(300));
            let bytes = text.as_bytes();
            let cut = bytes.iter().position(|&b| b == 0xe2).unwrap() + 1;
            let parts = [&bytes[..cut], &bytes[cut..cut + 1500], &bytes[cut + 1500..]];
            for (i, part) in parts.iter().enumerate() {
                ws.send_frame_part(MessageKind::Text, Bytes::copy_from_slice(part), i == parts.len() - 1)
                    .await
                    .map_err(|e| format!("sending fragment {i}: {e}"))?;
            }
            expect_echo(&mut ws, &Message::text(text)).await?;
            let parts: Vec<Vec<u8>> = vec![repetitive(3000), repetitive(70_000), vec![1, 2, 3]];
            for (i, part) in parts.iter().enumerate() {
                ws.send_frame_part(MessageKind::Binary, part.clone(), i == parts.len() - 1)
                    .await
                    .map_err(|e| format!("sending binary fragment {i}: {e}"))?;
            }
            expect_echo(&mut ws, &Message::binary(parts.concat())).await?;
            close_normally(ws).await
        }
        "fragmented-from-peer" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            let text = format!("fragments from the peer: {UNICODE} {}", "more ".repeat(500));
            ws.send(format!("frag-me:4:{text}")).await.map_err(|e| e.to_string())?;
            let got = next_message(&mut ws, "the fragmented message").await?;
            if got != Message::text(text.clone()) {
                return Err(format!(
                    "asked for {} in 4 fragments, got {}",
                    describe(&Message::text(text)),
                    describe(&got)
                ));
            }
            close_normally(ws).await
        }
        "many-messages-in-order" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            for i in 0..200 {
                let m = if i % 10 == 0 { format!("message {i} {}", "z".repeat(2000)) } else { format!("message {i}") };
                ws.feed(m).await.map_err(|e| e.to_string())?;
            }
            ws.flush().await.map_err(|e| e.to_string())?;
            for i in 0..200 {
                let want =
                    if i % 10 == 0 { format!("message {i} {}", "z".repeat(2000)) } else { format!("message {i}") };
                expect_echo(&mut ws, &Message::text(want)).await.map_err(|e| format!("message {i}: {e}"))?;
            }
            close_normally(ws).await
        }
        "ping-from-peer-with-payload" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            ws.send("ping-me:ping payload 🏓").await.map_err(|e| e.to_string())?;
            let mut pinged = None;
            let reply = loop {
                match ws.recv().await {
                    Some(Ok(Event::Ping(p))) => pinged = Some(p),
                    Some(Ok(Event::Message(m))) => break m,
                    Some(Ok(Event::Pong(_))) => {}
                    other => return Err(format!("waiting for the peer's ping and its report: {other:?}")),
                }
            };
            if pinged.as_deref() != Some("ping payload 🏓".as_bytes()) {
                return Err(format!("expected a ping with payload \"ping payload 🏓\", got {pinged:?}"));
            }
            if reply != Message::text("pong:ping payload 🏓") {
                return Err(format!("the peer reports our pong as {}", describe(&reply)));
            }
            close_normally(ws).await
        }
        "ping-from-us-with-payload" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            ws.ping("our ping ✓").await.map_err(|e| e.to_string())?;
            loop {
                match ws.recv().await {
                    Some(Ok(Event::Pong(p))) if p == "our ping ✓".as_bytes() => break,
                    Some(Ok(Event::Pong(p))) => return Err(format!("pong with payload {p:?}")),
                    Some(Ok(Event::Ping(_))) => {}
                    other => return Err(format!("waiting for the pong: {other:?}")),
                }
            }
            round_trip(&mut ws, "after the ping").await?;
            close_normally(ws).await
        }
        "subprotocol-selection" => {
            let mut ws = open(port, "/", offer_deflate, |r| r.subprotocol("ws-rs-unknown").subprotocol("ws-rs-test"))
                .await
                .map_err(|e| format!("handshake failed: {e:?}"))?;
            if ws.protocol() != Some("ws-rs-test") {
                return Err(format!("offered ws-rs-unknown, ws-rs-test; the server chose {:?}", ws.protocol()));
            }
            round_trip(&mut ws, "with a subprotocol").await?;
            close_normally(ws).await
        }
        "custom-header" => {
            let token = format!("token-{}-{}", peer.name(), std::process::id());
            let mut ws = open(port, "/", offer_deflate, |r| r.header("X-Interop-Token", &token))
                .await
                .map_err(|e| format!("handshake failed: {e:?}"))?;
            ws.send("header:x-interop-token").await.map_err(|e| e.to_string())?;
            let got = next_message(&mut ws, "the header's value").await?;
            if got != Message::text(token.clone()) {
                return Err(format!("sent X-Interop-Token: {token}; the peer saw {}", describe(&got)));
            }
            close_normally(ws).await
        }
        "client-close-4000-bye" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            round_trip(&mut ws, "before closing").await?;
            ws.close(4000, "bye").await.map_err(|e| format!("closing: {e}"))?;
            expect_closed(&mut ws, 4000, "bye", Initiator::Local).await
        }
        "peer-close-4001-why" => {
            let mut ws = connect_ok(port, offer_deflate).await?;
            ws.send("close-me:4001:why").await.map_err(|e| e.to_string())?;
            expect_closed(&mut ws, 4001, "why", Initiator::Remote).await
        }
        "rejection-403-with-body" => {
            let want_body = match peer {
                Peer::Node => "rejected by node ws",
                Peer::Python => "rejected by python websockets",
            };
            match open(port, "/reject", offer_deflate, |r| r).await {
                Err(ConnectError::Rejected { status, body, .. }) => {
                    let body = String::from_utf8_lossy(&body);
                    if status != StatusCode::FORBIDDEN || !body.contains(want_body) {
                        return Err(format!("expected Rejected 403 with body {want_body:?}, got {status} {body:?}"));
                    }
                    Ok(())
                }
                Err(e) => Err(format!("expected ConnectError::Rejected (403), got {e:?}")),
                Ok(_) => Err("the peer accepted /reject".into()),
            }
        }
        other => Err(format!("unknown case {other}")),
    }
}

/// Runs [`CLIENT_CASES`] with our client against one peer server, in both modes, and asserts
/// they all passed.
fn our_client_against_peer_server(peer: Peer) {
    let mut server = PeerServer::start(peer);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for offer_deflate in [false, true] {
        let mode = if offer_deflate { "deflate" } else { "plain" };
        for case in CLIENT_CASES {
            let (port, plain) = (server.deflate_port, server.plain_port);
            let result = runtime.block_on(async {
                match tokio::time::timeout(CLIENT_CASE_TIMEOUT, client_case(peer, case, port, plain, offer_deflate))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(format!("timed out after {}s", CLIENT_CASE_TIMEOUT.as_secs())),
                }
            });
            match result {
                Ok(()) => passed.push(format!("{mode}/{case}")),
                Err(why) => failures.push(format!("{mode}/{case}: {why}")),
            }
            if let Ok(Some(status)) = server.child.0.try_wait() {
                failures.push(format!("{mode}/{case}: the {} server exited ({status})", peer.name()));
                break;
            }
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    assert!(
        failures.is_empty(),
        "our tokio client against the {} server: {} of {} cases failed:\n  {}\n----- the {} server's output -----\n{}",
        peer.name(),
        failures.len(),
        failures.len() + passed.len(),
        failures.join("\n  "),
        peer.name(),
        server.output()
    );
    println!(
        "our tokio client against the {} server: {} cases passed in {:?}",
        peer.name(),
        passed.len(),
        started.elapsed()
    );
}

#[test]
fn tokio_client_against_node_ws_server() {
    our_client_against_peer_server(Peer::Node);
}

#[test]
fn tokio_client_against_python_websockets_server() {
    our_client_against_peer_server(Peer::Python);
}
