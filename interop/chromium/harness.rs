//! The headless-Chromium harness shared by `ws-blocking/tests/chromium.rs` and
//! `ws-tokio/tests/chromium.rs` (each includes this file with `#[path]`); only the WebSocket
//! side differs, passed in as a handler.
//!
//! One loopback listener serves `interop/chromium/page.html` on `http://127.0.0.1:PORT/` and
//! WebSocket upgrades on `/ws` (a connection's request line is peeked: a `GET /ws…` goes to the
//! adapter's handler, anything else to a tiny HTTP responder). Chromium runs headless (no
//! sandbox, no GPU, no background networking, a fresh profile in a temporary folder) on that
//! page, which
//!
//! - opens `/ws?case=server-close`, sends `close-me:4001:why` and checks that the server's close
//!   (4001 "why") arrives cleanly;
//! - opens `/ws?case=echo` offering subprotocols, exchanges text (unicode, empty, 256 KiB) and
//!   binary (ArrayBuffer, typed array, Blob, empty, 1 MiB) messages that the server echoes,
//!   checks 200 messages come back in order, then sends `RESULT ok extensions=… protocol=…`
//!   and closes with 1000 "done".
//!
//! A failure on the page is POSTed to `/result` as `RESULT fail CASE: why`. [`run`] asserts
//! the result, the browser's `Sec-WebSocket-Extensions` offer (its default
//! permessage-deflate offer with `client_max_window_bits`), its `Origin`, that
//! `ws.extensions` / `ws.protocol` on the page match what the server agreed (and, when asked,
//! that permessage-deflate was agreed), and the close codes on both sides. Everything is
//! bounded by [`TEST_TIMEOUT`]; Chromium is stopped (by PID) when the test ends, pass or fail.
//!
//! Chromium is installed by `scripts/setup-chromium.sh`; when it is missing the tests fail
//! (they never skip). `CHROMIUM` overrides the browser path (default `/usr/bin/chromium`).
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

// The adapter's `ws_proto`, which the including test imports at its root.
use crate::ws_proto::{CloseInfo, Config, Negotiated, UpgradeRequest};

/// The whole test: server, browser start, both cases.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the page may take to start talking once Chromium runs; mostly Chromium's start.
/// Adapters use it as their handshake timeout and socket timeouts.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// After the result arrived: time for the echo connection's closing handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

const PAGE: &str = include_str!("page.html");
const SETUP_HINT: &str =
    "run `scripts/setup-chromium.sh` from the repository root first (it installs Debian's chromium)";

/// What the server threads tell the test.
#[derive(Debug)]
pub(crate) enum Report {
    /// An HTTP request that was not an upgrade: method and target.
    Http(String),
    /// A WebSocket handshake was accepted.
    Upgrade {
        target: String,
        origin: Option<String>,
        offer: Option<String>,
        protocols: Option<String>,
        /// What the server agreed on (`Sec-WebSocket-Extensions` of the 101), if anything.
        agreed_extensions: Option<String>,
        agreed_protocol: Option<String>,
    },
    /// A WebSocket handshake was refused.
    Refused { target: String, error: String },
    /// The page's verdict, over the WebSocket (`via` "websocket") or POSTed (`via` "http").
    Result { via: &'static str, text: String },
    /// A WebSocket connection ended.
    Closed { target: String, code: u16, reason: String, clean: bool, error: Option<String> },
}

impl Report {
    /// The accepted upgrade: what the page's request carried ([`offered`]) and what the server
    /// agreed on.
    pub(crate) fn upgrade(target: String, seen: Option<Offered>, negotiated: &Negotiated) -> Self {
        let (origin, offer, protocols) = seen.unwrap_or_default();
        Self::Upgrade {
            target,
            origin,
            offer,
            protocols,
            agreed_extensions: negotiated.extensions.clone(),
            agreed_protocol: negotiated.subprotocol.clone(),
        }
    }

    /// How a connection ended.
    pub(crate) fn closed(target: String, info: &CloseInfo) -> Self {
        Self::Closed {
            target,
            code: info.code().as_u16(),
            reason: info.reason().to_owned(),
            clean: info.was_clean(),
            error: info.error.as_ref().map(ToString::to_string),
        }
    }
}

/// What a handler does with a text message from the page: `close-me:CODE:REASON` → close with
/// that code and reason; `RESULT …` → report it (no echo); anything else → echo it.
pub(crate) enum TextAction<'a> {
    Close(u16, &'a str),
    Result,
    Echo,
}

/// Classifies a text message from the page (see [`TextAction`]).
pub(crate) fn text_action(text: &str) -> TextAction<'_> {
    if let Some(rest) = text.strip_prefix("close-me:") {
        let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
        TextAction::Close(code.parse::<u16>().unwrap_or(4000), reason)
    } else if text.starts_with("RESULT ") {
        TextAction::Result
    } else {
        TextAction::Echo
    }
}

/// The server's connection settings (the including test's root imports its adapter's
/// `ws_proto`): large messages, a short close timeout, the handshake within [`IO_TIMEOUT`].
pub(crate) fn server_config() -> Arc<Config> {
    let config = Config::default()
        .max_message_size(Some(64 * 1024 * 1024))
        .max_fragments(Some(131_072))
        .close_timeout(Some(Duration::from_secs(5)))
        .handshake_timeout(Some(IO_TIMEOUT));
    Arc::new(config)
}

/// What the page's upgrade request carried: `Origin`, `Sec-WebSocket-Extensions` and
/// `Sec-WebSocket-Protocol`.
pub(crate) type Offered = (Option<String>, Option<String>, Option<String>);

/// The [`Offered`] headers of an upgrade request.
pub(crate) fn offered(req: &UpgradeRequest) -> Offered {
    let header = |name: &str| req.request().headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (header("origin"), header("sec-websocket-extensions"), header("sec-websocket-protocol"))
}

/// The origin the page runs at, the only one the adapters' servers allow.
pub(crate) fn page_origin(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// Chromium, stopped (TERM, then KILL) and its profile folder removed when dropped.
struct Browser {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
}

impl Browser {
    fn launch(exe: &Path, url: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "ws-rs-chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&profile);
        fs::create_dir_all(profile.join("data")).expect("creating the Chromium profile folder");
        let log = profile.join("chromium.log");
        let out = File::create(&log).expect("creating chromium.log");
        let err = out.try_clone().expect("cloning chromium.log");
        let child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
            ])
            .arg(format!("--user-data-dir={}", profile.join("data").display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("chromium: cannot start {}: {e}; {SETUP_HINT}", exe.display()));
        Self { child, profile, log }
    }

    /// Chromium's output, without the D-Bus complaints of a machine without a session bus.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> =
            text.lines().filter(|l| !l.contains("dbus") && !l.contains("unexpected operator")).collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        if tail.is_empty() {
            "(chromium printed nothing of note)".into()
        } else {
            tail.join("\n")
        }
    }

    /// Stops Chromium and every process still holding its profile (renderers, zygote).
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let until = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Helpers normally exit with the browser; kill stragglers of this profile by PID.
        let marker = self.profile.join("data").display().to_string();
        for _ in 0..20 {
            let left = processes_mentioning(&marker);
            if left.is_empty() {
                break;
            }
            let mut kill = Command::new("kill");
            kill.arg("-KILL");
            for pid in &left {
                kill.arg(pid.to_string());
            }
            let _ = kill.stderr(Stdio::null()).status();
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.profile);
    }
}

/// PIDs of processes whose command line mentions `marker` (Linux `/proc`).
fn processes_mentioning(marker: &str) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(e.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline).contains(marker).then_some(pid)
    })
    .collect()
}

fn chromium_path() -> PathBuf {
    let exe = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(exe.is_file(), "chromium: {} not found; {SETUP_HINT}", exe.display());
    exe
}

// ------------------------------------------------------------------ the server

/// Handles one WebSocket upgrade request (`GET /ws…`, not yet consumed from the stream):
/// accepts it (allowing only [`page_origin`]), echoes as [`text_action`] says, and reports
/// [`Report::Upgrade`] or [`Report::Refused`], then [`Report::Result`] and [`Report::Closed`].
/// Called on a thread of its own with the stream, the request target and the server's port.
pub(crate) type Handler = dyn Fn(TcpStream, String, u16, &Sender<Report>) + Send + Sync;

/// Accepts connections until the test ends (the thread is left behind, blocked in `accept`).
fn serve(listener: TcpListener, reports: Sender<Report>, websocket: Arc<Handler>) {
    let port = listener.local_addr().expect("local address").port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (websocket, reports) = (websocket.clone(), reports.clone());
            thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                match request_line(&stream) {
                    Some((method, target)) if method == "GET" && (target == "/ws" || target.starts_with("/ws?")) => {
                        websocket(stream, target, port, &reports);
                    }
                    Some((method, target)) => http(stream, &method, &target, &reports),
                    None => {}
                }
            });
        }
    });
}

/// Peeks (does not consume) the request line: method and target.
fn request_line(stream: &TcpStream) -> Option<(String, String)> {
    let until = Instant::now() + IO_TIMEOUT;
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.peek(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&buf[..end]).ok()?;
            let mut parts = line.split(' ');
            return Some((parts.next()?.to_owned(), parts.next()?.to_owned()));
        }
        if n == buf.len() || Instant::now() > until {
            return None;
        }
        // The rest of the line is on its way; peek returns at once while data is pending.
        thread::sleep(Duration::from_millis(5));
    }
}

fn http(stream: TcpStream, method: &str, target: &str, reports: &Sender<Report>) {
    let _ = reports.send(Report::Http(format!("{method} {target}")));
    let mut reader = BufReader::new(&stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let (status, kind, body): (&str, &str, &[u8]) = match (method, target) {
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", PAGE.as_bytes()),
        ("POST", "/result") => {
            let mut body = vec![0u8; length.min(64 * 1024)];
            if reader.read_exact(&mut body).is_ok() {
                let text = String::from_utf8_lossy(&body).into_owned();
                let _ = reports.send(Report::Result { via: "http", text });
            }
            ("204 No Content", "text/plain", b"")
        }
        _ => ("404 Not Found", "text/plain", b"not found"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // Let the client read the response before the socket closes.
    let _ = std::io::copy(&mut reader.take(64 * 1024), &mut std::io::sink());
}

/// Collects reports until the page's result and the echo connection's close are in, the
/// browser exits, or the deadline passes.
fn collect(reports: &Receiver<Report>, browser: &mut Browser, deadline: Instant) -> (Vec<Report>, Option<String>) {
    let mut all = Vec::new();
    let mut result_at = None;
    loop {
        let now = Instant::now();
        let echo_closed =
            all.iter().any(|r| matches!(r, Report::Closed { target, .. } if target.contains("case=echo")));
        let failed = all.iter().any(|r| matches!(r, Report::Result { text, .. } if !text.starts_with("RESULT ok")));
        if failed || echo_closed && result_at.is_some() {
            return (all, None);
        }
        if result_at.is_some_and(|t: Instant| now > t + CLOSE_GRACE) {
            return (all, Some(format!("the echo connection did not close within {CLOSE_GRACE:?} after the result")));
        }
        if now >= deadline {
            return (all, Some(format!("no result from the page within {TEST_TIMEOUT:?}")));
        }
        if let Ok(Some(status)) = browser.child.try_wait() {
            return (all, Some(format!("chromium exited ({status}) before the page reported")));
        }
        match reports.recv_timeout((deadline - now).min(Duration::from_millis(200))) {
            Ok(r) => {
                if matches!(r, Report::Result { .. }) && result_at.is_none() {
                    result_at = Some(Instant::now());
                }
                all.push(r);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return (all, Some("the server stopped".into())),
        }
    }
}

// -------------------------------------------------------------------- the test

/// Runs the page in Chromium against a server whose upgrades `websocket` handles, and asserts
/// everything (see the module documentation); with `require_deflate`, also that the server
/// agreed on permessage-deflate with the browser. `adapter` names the server in failures.
pub(crate) fn run(adapter: &str, websocket: Arc<Handler>, require_deflate: bool) {
    let deadline = Instant::now() + TEST_TIMEOUT;
    let exe = chromium_path();
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    serve(listener, tx, websocket);

    let mut browser = Browser::launch(&exe, &format!("http://127.0.0.1:{port}/"));
    let (reports, problem) = collect(&rx, &mut browser, deadline);
    browser.stop();

    let summary = reports.iter().map(|r| format!("  {r:?}")).collect::<Vec<_>>().join("\n");
    let fail = |case: &str, why: String| -> ! {
        panic!(
            "chromium interop ({adapter} server), case {case}: {why}\nwhat the server saw:\n{summary}\nchromium's output (last lines):\n{}",
            browser.log_tail()
        )
    };
    if let Some(why) = problem {
        let case =
            if reports.iter().any(|r| matches!(r, Report::Upgrade { target, .. } if target.contains("case=echo"))) {
                "echo"
            } else if reports.iter().any(|r| matches!(r, Report::Http(request) if request == "GET /")) {
                "server-close"
            } else {
                "page load"
            };
        fail(case, why);
    }

    // The page's verdict.
    let results: Vec<(&str, &str)> = reports
        .iter()
        .filter_map(|r| match r {
            Report::Result { via, text } => Some((*via, text.as_str())),
            _ => None,
        })
        .collect();
    let Some(&(via, result)) = results.first() else { fail("result", "no RESULT".into()) };
    if let Some(rest) = result.strip_prefix("RESULT fail ") {
        let case = rest.split(':').next().unwrap_or("?").to_owned();
        fail(&case, format!("the page reported: {rest}"));
    }
    if via != "websocket" {
        fail("result", format!("the page's result came over {via}, not the WebSocket: {result}"));
    }

    // Every WebSocket request: the browser's own offer and origin.
    let upgrades: Vec<&Report> = reports.iter().filter(|r| matches!(r, Report::Upgrade { .. })).collect();
    for r in &reports {
        if let Report::Refused { target, error } = r {
            fail("handshake", format!("the server refused the upgrade request for {target}: {error}"));
        }
    }
    if upgrades.len() != 2 {
        fail("handshake", format!("expected 2 WebSocket connections (server-close, echo), saw {}", upgrades.len()));
    }
    for r in &upgrades {
        let Report::Upgrade { target, origin, offer, protocols, agreed_extensions, agreed_protocol } = r else {
            unreachable!()
        };
        let case = target.split("case=").nth(1).unwrap_or(target);
        let offer = offer.as_deref().unwrap_or("");
        if !offer.contains("permessage-deflate") || !offer.contains("client_max_window_bits") {
            fail(
                case,
                format!("Sec-WebSocket-Extensions offer {offer:?} lacks permessage-deflate; client_max_window_bits"),
            );
        }
        if origin.as_deref() != Some(&*format!("http://127.0.0.1:{port}")) {
            fail(case, format!("Origin {origin:?}, expected http://127.0.0.1:{port}"));
        }
        if case == "echo" {
            if protocols.as_deref() != Some("ws-rs-test, other") {
                fail(case, format!("Sec-WebSocket-Protocol {protocols:?}, expected \"ws-rs-test, other\""));
            }
            let want = format!(
                "RESULT ok extensions={} protocol={}",
                agreed_extensions.as_deref().unwrap_or(""),
                agreed_protocol.as_deref().unwrap_or("")
            );
            if result != want {
                fail(case, format!("the page saw {result:?}; the server agreed on {want:?}"));
            }
            if require_deflate && !agreed_extensions.as_deref().is_some_and(|e| e.starts_with("permessage-deflate")) {
                fail(case, format!("permessage-deflate was not agreed (the server answered {agreed_extensions:?})"));
            }
        }
    }

    // Closing handshakes, as the server saw them.
    let closed = |case: &str| {
        reports.iter().find_map(|r| match r {
            Report::Closed { target, code, reason, clean, error } if target.ends_with(&format!("case={case}")) => {
                Some((*code, reason.clone(), *clean, error.clone()))
            }
            _ => None,
        })
    };
    match closed("server-close") {
        Some((_, _, true, None)) => {}
        other => fail("server-close", format!("the server's close was not answered cleanly: {other:?}")),
    }
    match closed("echo") {
        Some((1000, reason, true, None)) if reason == "done" => {}
        other => fail("echo", format!("expected the browser to close with 1000 \"done\", cleanly; got {other:?}")),
    }
    eprintln!("chromium interop ({adapter} server): {result}");
}
