//! Hostile peers against ws-blocking's servers: the Node-style `Server` (`accept`, thread per
//! connection, tracked), `accept_with` on a plain `TcpListener`, and the `Server` on a reactor
//! (`drive_on`, every connection on one thread).
//!
//! Each case asserts the wire answer (the HTTP status during the handshake, the close code
//! after it) and, where it is observable, what the server held; numeric limits are tried at,
//! below and above the limit. Timeouts are small so that every case ends in seconds; peers are
//! hand-rolled over loopback TCP; every test runs under a watchdog.
#![cfg(all(unix, feature = "server"))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;
#[path = "../../testkit/frames.rs"]
mod frames;
#[path = "../../testkit/requests.rs"]
mod requests;
use common::watchdog;
use frames::{client_frame, close_code, long_header, server_frames};
use requests::{header_limit_cases, upgrade_request};
use socket2::SockRef;
use ws_blocking::reactor::Reactor;
use ws_blocking::server::Server;
use ws_blocking::ws_proto::{Error as ProtoError, TimeoutKind};
use ws_blocking::{
    accept_with, connect_with, Backend, ClientRequest, CloseInfo, Config, DeflateConfig, Event, ServerOptions,
    Transport, WebSocket, WsHandle,
};

/// How long a peer waits for one read before the test fails.
const STEP: Duration = Duration::from_secs(20);

/// Which server API runs the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Server::accept`: handshakes on threads of their own, connections tracked.
    Tracked,
    /// `accept_with` on a plain listener.
    Direct,
    /// `Server::drive_on`: every connection on one reactor thread, tracked.
    Reactor,
}

const MODES: [Mode; 3] = [Mode::Tracked, Mode::Direct, Mode::Reactor];

/// What the server application does with each connection.
#[derive(Clone, Copy, Debug)]
enum App {
    /// Echoes every message.
    Echo,
    /// Sends messages of `size` bytes until a send fails (at most `cap`).
    Flood { size: usize, cap: usize },
}

/// How a server connection ended, as its application saw it.
#[derive(Debug, Default)]
struct Report {
    info: Option<CloseInfo>,
    sent: usize,
    /// A send returned an error (the connection ended under it).
    send_failed: bool,
    max_buffered: usize,
}

impl Report {
    fn info(&self) -> &CloseInfo {
        self.info.as_ref().expect("the server application saw Closed")
    }
}

struct Running {
    addr: SocketAddr,
    reports: mpsc::Receiver<Report>,
    _server: Option<Arc<Server>>,
}

impl Running {
    fn report(&self) -> Report {
        self.reports.recv_timeout(STEP).expect("a report")
    }
}

fn quick() -> Config {
    Config::default()
        .handshake_timeout(Some(Duration::from_millis(700)))
        .close_timeout(Some(Duration::from_millis(700)))
}

fn start(mode: Mode, config: Config, options: ServerOptions, app: App, send_buffer: Option<usize>) -> Running {
    let (tx, reports) = mpsc::channel();
    let config = Arc::new(config);
    match mode {
        Mode::Tracked => {
            let server = Arc::new(Server::builder().config(config).options(options).bind("127.0.0.1", 0).unwrap());
            let addr = server.local_addr().unwrap();
            let accepting = server.clone();
            thread::spawn(move || {
                while let Ok(conn) = accepting.accept() {
                    let tx = tx.clone();
                    thread::spawn(move || run_app(conn.ws, app, tx));
                }
            });
            Running { addr, reports, _server: Some(server) }
        }
        Mode::Direct => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let options = Arc::new(options);
            thread::spawn(move || {
                for tcp in listener.incoming() {
                    let Ok(tcp) = tcp else { return };
                    if let Some(n) = send_buffer {
                        SockRef::from(&tcp).set_send_buffer_size(n).unwrap();
                    }
                    let (config, options, tx) = (config.clone(), options.clone(), tx.clone());
                    thread::spawn(move || {
                        if let Ok(ws) = accept_with(tcp, config, options) {
                            run_app(ws, app, tx);
                        }
                    });
                }
            });
            Running { addr, reports, _server: None }
        }
        Mode::Reactor => {
            let server = Arc::new(Server::builder().config(config).options(options).bind("127.0.0.1", 0).unwrap());
            let addr = server.local_addr().unwrap();
            let accepting = server.clone();
            thread::spawn(move || {
                let reactor = Reactor::new().unwrap();
                let _ = accepting.drive_on(&reactor, |conn| reactor_app(conn.handle, app, tx.clone()));
            });
            Running { addr, reports, _server: Some(server) }
        }
    }
}

/// [`run_app`] as a reactor handler: echoes on the reactor thread; a flood is sent by a
/// thread of its own through the handle (which waits for room). The report goes out once
/// the connection is over. The reactor gives no view of the queue (`max_buffered` stays 0):
/// its bound is what `send` waiting shows, and `tests/reactor.rs` checks the echo side.
fn reactor_app(
    handle: WsHandle,
    app: App,
    tx: mpsc::Sender<Report>,
) -> impl FnMut(&WsHandle, io::Result<Event>) + Send {
    let report = Arc::new(Mutex::new(Report::default()));
    let flooding = matches!(app, App::Flood { .. });
    if let App::Flood { size, cap } = app {
        let (report, tx) = (report.clone(), tx.clone());
        thread::spawn(move || {
            let mut sent = 0;
            let failed = loop {
                if sent == cap {
                    break false;
                }
                if handle.send(vec![7u8; size]).is_err() {
                    break true;
                }
                sent += 1;
            };
            handle.closed();
            let mut report = std::mem::take(&mut *report.lock().unwrap());
            (report.sent, report.send_failed) = (sent, failed);
            let _ = tx.send(report);
        });
    }
    move |ws, event| match event {
        Ok(Event::Message(m)) => {
            let _ = ws.send(m);
        }
        Ok(Event::Closed(info)) => {
            report.lock().unwrap().info = Some(info);
            if !flooding {
                let _ = tx.send(std::mem::take(&mut *report.lock().unwrap()));
            }
        }
        _ => {}
    }
}

fn run_app<S: Read + Write + Transport>(mut ws: WebSocket<S>, app: App, tx: mpsc::Sender<Report>) {
    let mut report = Report::default();
    if let App::Flood { size, cap } = app {
        while report.sent < cap {
            if ws.send(vec![7u8; size]).is_err() {
                report.send_failed = true;
                break;
            }
            report.sent += 1;
            report.max_buffered = report.max_buffered.max(ws.buffered_amount());
        }
    }
    while let Some(event) = ws.recv() {
        report.max_buffered = report.max_buffered.max(ws.buffered_amount());
        match event {
            Ok(Event::Message(m)) => {
                let _ = ws.send(m);
            }
            Ok(Event::Closed(info)) => report.info = Some(info),
            _ => {}
        }
    }
    let _ = tx.send(report);
}

// ------------------------------------------------------------------ hand-rolled peers

fn peer(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(STEP)).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn response(p: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let status = std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap();
            return (status, buf[end + 4..].to_vec());
        }
        let mut chunk = [0u8; 4096];
        let n = p.read(&mut chunk).expect("a response within the step limit");
        assert!(n > 0, "EOF before the end of the response head: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn upgraded(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut p = peer(addr);
    p.write_all(upgrade_request("/", "x").as_bytes()).unwrap();
    let (status, rest) = response(&mut p);
    assert_eq!(status, 101);
    (p, rest)
}

/// Reads until EOF (a reset counts as the end); a read timing out fails the test.
fn read_to_end(p: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match p.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                panic!("no EOF within {STEP:?}")
            }
            Err(_) => return,
        }
    }
}

fn closed_with(p: &mut TcpStream, mut buf: Vec<u8>) -> Option<u16> {
    read_to_end(p, &mut buf);
    close_code(&buf)
}

/// The length of the first data message echoed, or the close code if the server closed.
fn echo_or_close(p: &mut TcpStream, mut buf: Vec<u8>) -> Result<usize, Option<u16>> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let (frames, _) = server_frames(&buf);
        if let Some(f) = frames.iter().find(|f| f.1 == 1 || f.1 == 2) {
            return Ok(f.2.len());
        }
        if frames.iter().any(|f| f.1 == 8) {
            return Err(close_code(&buf));
        }
        match p.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(close_code(&buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn close_1000(p: &mut TcpStream) {
    p.write_all(&client_frame(true, 8, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(closed_with(p, Vec::new()), Some(1000));
}

fn is_timeout(info: &CloseInfo, kind: TimeoutKind) -> bool {
    info.error == Some(ProtoError::Timeout(kind))
}

// ------------------------------------------------------------------ the cases

/// A head sent one byte every 50 ms ends at the handshake timeout with 408; the server keeps
/// serving.
#[test]
fn slowloris_head_ends_at_handshake_timeout() {
    watchdog(60, || {
        for mode in MODES {
            let server = start(mode, quick(), ServerOptions::default(), App::Echo, None);
            let mut p = peer(server.addr);
            p.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let started = Instant::now();
            let mut answer = Vec::new();
            for byte in upgrade_request("/", "x").as_bytes() {
                if p.write_all(&[*byte]).is_err() {
                    break;
                }
                let mut chunk = [0u8; 1024];
                match p.read(&mut chunk) {
                    Ok(n) => {
                        answer.extend_from_slice(&chunk[..n]);
                        break;
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) => panic!("{mode:?}: reset before an answer: {e}"),
                }
            }
            let elapsed = started.elapsed();
            p.set_read_timeout(Some(STEP)).unwrap();
            read_to_end(&mut p, &mut answer);
            assert!(answer.starts_with(b"HTTP/1.1 408"), "{mode:?}: {:?}", String::from_utf8_lossy(&answer));
            assert!(elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(4), "{mode:?}: {elapsed:?}");
            let (mut ok, rest) = upgraded(server.addr);
            ok.write_all(&client_frame(true, 2, b"still here")).unwrap();
            assert_eq!(echo_or_close(&mut ok, rest), Ok(10), "{mode:?}");
            close_1000(&mut ok);
            assert!(server.report().info().was_clean());
        }
    });
}

/// `max_handshake_size` and `max_headers` at, below and above the limit: 101 or 431.
#[test]
fn header_floods_at_below_above_the_limits() {
    const SIZE: usize = 2048;
    const FIELDS: usize = 20;
    watchdog(60, || {
        let cases = header_limit_cases(SIZE, FIELDS);
        for mode in MODES {
            let config = quick().max_handshake_size(SIZE).max_headers(FIELDS);
            let server = start(mode, config, ServerOptions::default(), App::Echo, None);
            for (head, status) in &cases {
                let mut p = peer(server.addr);
                let _ = p.write_all(head);
                let (got, mut rest) = response(&mut p);
                assert_eq!(got, *status, "{mode:?}: a head of {} bytes", head.len());
                if got == 101 {
                    close_1000(&mut p);
                    assert!(server.report().info().was_clean());
                } else {
                    read_to_end(&mut p, &mut rest);
                }
            }
        }
    });
}

/// 2^63 - 1 announced: 1009 from the header alone, with or without a limit; the message limit
/// is exact (the limit and one below echoed, one above 1009 before any payload).
#[test]
fn huge_length_fails_with_1009_and_message_limit_is_exact() {
    const MAX: usize = 4096;
    watchdog(60, || {
        for mode in MODES {
            for limit in [None, Some(MAX)] {
                let server = start(mode, quick().max_message_size(limit), ServerOptions::default(), App::Echo, None);
                let (mut p, rest) = upgraded(server.addr);
                p.write_all(&long_header(true, 2, (1 << 63) - 1)).unwrap();
                assert_eq!(closed_with(&mut p, rest), Some(1009), "{mode:?} {limit:?}");
                assert_eq!(server.report().info().sent_code().map(|c| c.as_u16()), Some(1009));
            }
            let server = start(mode, quick().max_message_size(Some(MAX)), ServerOptions::default(), App::Echo, None);
            for (len, echoed) in [(MAX - 1, true), (MAX, true), (MAX + 1, false)] {
                let (mut p, rest) = upgraded(server.addr);
                if echoed {
                    p.write_all(&client_frame(true, 2, &vec![5; len])).unwrap();
                    assert_eq!(echo_or_close(&mut p, rest), Ok(len), "{mode:?}");
                    close_1000(&mut p);
                } else {
                    p.write_all(&long_header(true, 2, len as u64)).unwrap();
                    assert_eq!(closed_with(&mut p, rest), Some(1009), "{mode:?}");
                }
                server.report();
            }
        }
    });
}

/// Empty fragments: `max_fragments` frames (and one fewer) deliver the message, one more is
/// 1008; 200 000 empty continuations under the default limit end with 1008.
#[test]
fn empty_fragment_flood_hits_max_fragments() {
    const FRAGMENTS: usize = 100;
    let flood = |frames: usize| {
        let mut out = client_frame(false, 1, b"");
        for _ in 1..frames - 1 {
            out.extend(client_frame(false, 0, b""));
        }
        out.extend(client_frame(true, 0, b""));
        out
    };
    watchdog(60, move || {
        for mode in MODES {
            let config = quick().max_fragments(Some(FRAGMENTS));
            let server = start(mode, config, ServerOptions::default(), App::Echo, None);
            for (frames, delivered) in [(FRAGMENTS - 1, true), (FRAGMENTS, true), (FRAGMENTS + 1, false)] {
                let (mut p, rest) = upgraded(server.addr);
                p.write_all(&flood(frames)).unwrap();
                let got = echo_or_close(&mut p, rest);
                if delivered {
                    assert_eq!(got, Ok(0), "{mode:?}: {frames} frames");
                    close_1000(&mut p);
                } else {
                    assert_eq!(got, Err(Some(1008)), "{mode:?}: {frames} frames");
                }
                server.report();
            }
            let server = start(mode, quick(), ServerOptions::default(), App::Echo, None);
            let (mut p, rest) = upgraded(server.addr);
            let mut bytes = client_frame(false, 1, b"");
            let one = client_frame(false, 0, b"");
            for _ in 0..200_000 {
                bytes.extend_from_slice(&one);
            }
            let _ = p.write_all(&bytes);
            assert_eq!(echo_or_close(&mut p, rest), Err(Some(1008)), "{mode:?}");
            assert_eq!(server.report().info().sent_code().map(|c| c.as_u16()), Some(1008));
        }
    });
}

/// One-byte frames: the message limit applies to the assembled message.
#[test]
fn tiny_frame_flood_hits_the_message_limit() {
    const MAX: usize = 1000;
    watchdog(60, || {
        for mode in MODES {
            let config = quick().max_message_size(Some(MAX)).max_fragments(None);
            let server = start(mode, config, ServerOptions::default(), App::Echo, None);
            for (len, delivered) in [(MAX - 1, true), (MAX, true), (MAX + 1, false)] {
                let (mut p, rest) = upgraded(server.addr);
                let mut bytes = client_frame(false, 2, b"x");
                for _ in 1..len - 1 {
                    bytes.extend(client_frame(false, 0, b"x"));
                }
                bytes.extend(client_frame(true, 0, b"x"));
                let _ = p.write_all(&bytes);
                let got = echo_or_close(&mut p, rest);
                if delivered {
                    assert_eq!(got, Ok(len), "{mode:?}");
                    close_1000(&mut p);
                } else {
                    assert_eq!(got, Err(Some(1009)), "{mode:?}: {len} one-byte frames");
                }
                server.report();
            }
        }
    });
}

/// 5 000 pings from a peer that reads nothing: unsent pongs are replaced (bounded), the server
/// keeps reading, the last pong answers the last ping, the close is echoed.
#[test]
fn ping_flood_from_a_peer_that_never_reads() {
    const PINGS: usize = 5_000;
    watchdog(120, || {
        // The close timer is long: under load the peer may still be writing the flood when a
        // short one would fire, which would cut the pongs short.
        for mode in MODES {
            let server = start(
                mode,
                quick().close_timeout(Some(Duration::from_secs(3))),
                ServerOptions::default(),
                App::Echo,
                Some(4096),
            );
            let (mut p, rest) = upgraded(server.addr);
            SockRef::from(&p).set_recv_buffer_size(4096).unwrap();
            let mut bytes = Vec::new();
            for i in 0..PINGS {
                let mut payload = format!("{i:08}").into_bytes();
                payload.resize(125, b'p');
                bytes.extend(client_frame(true, 9, &payload));
            }
            p.write_all(&bytes).unwrap();
            p.write_all(&client_frame(true, 8, &1000u16.to_be_bytes())).unwrap();
            let mut buf = rest;
            read_to_end(&mut p, &mut buf);
            let (frames, _) = server_frames(&buf);
            let pongs: Vec<_> = frames.iter().filter(|f| f.1 == 10).collect();
            assert!(!pongs.is_empty() && pongs.len() <= PINGS, "{mode:?}: {} pongs", pongs.len());
            assert_eq!(&pongs.last().unwrap().2[..8], format!("{:08}", PINGS - 1).as_bytes(), "{mode:?}");
            assert_eq!(close_code(&buf), Some(1000), "{mode:?}");
            let report = server.report();
            assert!(report.info().was_clean(), "{mode:?}: {:?}", report.info);
            if mode == Mode::Direct {
                assert!(report.max_buffered <= 17 * 131, "{mode:?}: {} bytes queued", report.max_buffered);
            }
        }
    });
}

/// A compression bomb fails with 1009 on every compiled backend (`--features miniz` adds
/// miniz_oxide); the limit and one below are echoed.
#[test]
fn compression_bomb_fails_with_1009_per_backend() {
    const MAX: usize = 64 * 1024;
    watchdog(120, || {
        for backend in Backend::available().iter().copied() {
            for mode in MODES {
                let deflate = DeflateConfig::default().backend(backend);
                let options = ServerOptions::default().per_message_deflate(Some(deflate.clone()));
                let server = start(mode, quick().max_message_size(Some(MAX)), options, App::Echo, None);
                for (len, echoed) in [(MAX - 1, true), (MAX, true), (MAX + 1, false), (16 << 20, false)] {
                    let what = format!("{backend:?} {mode:?} {len}");
                    let tcp = peer(server.addr);
                    let config = Arc::new(quick().permessage_deflate(Some(deflate.clone())));
                    let (mut client, _) = connect_with(tcp, ClientRequest::new("x", "/"), config).unwrap();
                    assert!(client.extensions().is_some_and(|e| e.contains("permessage-deflate")));
                    client.send(vec![0u8; len]).unwrap();
                    let mut closed = None;
                    let mut echo = None;
                    while let Some(event) = client.recv() {
                        match event.unwrap() {
                            Event::Message(m) => {
                                echo = Some(m.len());
                                client.close(1000u16, "").unwrap();
                            }
                            Event::Closed(info) => closed = Some(info.code().as_u16()),
                            _ => {}
                        }
                    }
                    if echoed {
                        assert_eq!((echo, closed), (Some(len), Some(1000)), "{what}");
                    } else {
                        assert_eq!((echo, closed), (None, Some(1009)), "{what}");
                    }
                    server.report();
                }
            }
        }
    });
}

/// Close bodies: 1 byte → 1002, unsendable codes → 1002, a non-UTF-8 reason → 1007.
#[test]
fn malformed_close_frames_fail_the_connection() {
    let cases: [(&[u8], u16); 6] = [
        (&[0x03, 0xe8], 1000),
        (&[0x03], 1002),
        (&[0x03, 0xed], 1002),
        (&[0x03, 0xe7], 1002),
        (&[0x03, 0xf8], 1002),
        (&[0x03, 0xe8, 0xff, 0xfe], 1007),
    ];
    watchdog(60, move || {
        for mode in MODES {
            let server = start(mode, quick(), ServerOptions::default(), App::Echo, None);
            for (body, code) in cases {
                let (mut p, rest) = upgraded(server.addr);
                p.write_all(&client_frame(true, 8, body)).unwrap();
                assert_eq!(closed_with(&mut p, rest), Some(code), "{mode:?}: {body:?}");
                server.report();
            }
        }
    });
}

/// A peer that stalls mid-frame and reads nothing: keepalive pings, no pong, 1011.
#[test]
fn stall_mid_frame_ends_at_the_keepalive_timeout() {
    watchdog(60, || {
        for mode in MODES {
            let config = quick().keep_alive(Some(Duration::from_millis(300)), Some(Duration::from_millis(300)));
            let server = start(mode, config, ServerOptions::default(), App::Echo, None);
            let (mut p, rest) = upgraded(server.addr);
            let frame = client_frame(true, 2, &[9; 100]);
            p.write_all(&frame[..20]).unwrap();
            let started = Instant::now();
            let report = server.report();
            let elapsed = started.elapsed();
            assert!(is_timeout(report.info(), TimeoutKind::Pong), "{mode:?}: {:?}", report.info);
            assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(5), "{mode:?}: {elapsed:?}");
            let mut buf = rest;
            read_to_end(&mut p, &mut buf);
            assert!(server_frames(&buf).0.iter().any(|f| f.1 == 9), "{mode:?}: no keepalive ping");
            assert_eq!(close_code(&buf), Some(1011), "{mode:?}");
        }
    });
}

/// A half-open peer is found by keepalive: `Closed` with 1006 and the pong timeout.
#[test]
fn half_open_peer_found_by_keepalive() {
    watchdog(60, || {
        for mode in MODES {
            let config = quick().keep_alive(Some(Duration::from_millis(200)), Some(Duration::from_millis(200)));
            let server = start(mode, config, ServerOptions::default(), App::Echo, None);
            let (mut p, rest) = upgraded(server.addr);
            let report = server.report();
            assert_eq!(report.info().code().as_u16(), 1006, "{mode:?}");
            assert!(is_timeout(report.info(), TimeoutKind::Pong), "{mode:?}: {:?}", report.info);
            let mut buf = rest;
            read_to_end(&mut p, &mut buf);
            assert!(server_frames(&buf).0.iter().any(|f| f.1 == 9), "{mode:?}");
            assert_eq!(close_code(&buf), Some(1011), "{mode:?}");
        }
    });
}

/// A peer that never reads while the server sends: `send` blocks (backpressure) and fails once
/// keepalive gives up on the peer; the queue stays within the high-water mark plus a message.
#[test]
fn peer_that_never_reads_is_bounded_and_closed() {
    const SIZE: usize = 16 * 1024;
    const HIGH_WATER: usize = 32 * 1024;
    watchdog(60, || {
        for mode in MODES {
            let config = quick()
                .write_high_water(HIGH_WATER)
                .keep_alive(Some(Duration::from_millis(300)), Some(Duration::from_millis(300)));
            let app = App::Flood { size: SIZE, cap: 20_000 };
            let server = start(mode, config, ServerOptions::default(), app, Some(16 * 1024));
            let (p, _rest) = upgraded(server.addr);
            SockRef::from(&p).set_recv_buffer_size(16 * 1024).unwrap();
            let report = server.report();
            assert!(report.send_failed && report.sent < 20_000, "{mode:?}: {} sent", report.sent);
            if mode != Mode::Reactor {
                assert!(report.max_buffered <= HIGH_WATER + SIZE + 14, "{mode:?}: {} queued", report.max_buffered);
            }
            let info = report.info();
            assert!(info.error.is_some() && info.code().as_u16() == 1006, "{mode:?}: {info:?}");
            drop(p);
        }
    });
}

/// 2 000 handshakes abandoned midway: each answered 408 at the handshake timeout, the server
/// serving a real client meanwhile and after.
#[test]
fn abandoned_handshakes() {
    watchdog(120, || abandon(2_000));
}

/// [`abandoned_handshakes`] with 10 000 connections (by hand: `cargo test -p ws-blocking --test
/// hostile -- --ignored`; 10 000 server threads and 20 000+ file descriptors).
#[test]
#[ignore = "by hand: 10 000 connections"]
fn many_abandoned_handshakes() {
    watchdog(600, || abandon(10_000));
}

fn abandon(n: usize) {
    for mode in MODES {
        let config = quick().handshake_timeout(Some(Duration::from_secs(2)));
        let server = start(mode, config, ServerOptions::default(), App::Echo, None);
        let mut peers = Vec::with_capacity(n);
        for i in 0..n {
            let mut p = peer(server.addr);
            if i % 2 == 0 {
                p.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            }
            peers.push(p);
        }
        let (mut ok, rest) = upgraded(server.addr);
        ok.write_all(&client_frame(true, 2, b"served")).unwrap();
        assert_eq!(echo_or_close(&mut ok, rest), Ok(6), "{mode:?}");
        close_1000(&mut ok);
        server.report();
        for p in &mut peers {
            let mut buf = Vec::new();
            read_to_end(p, &mut buf);
            assert!(buf.starts_with(b"HTTP/1.1 408"), "{mode:?}: {:?}", String::from_utf8_lossy(&buf));
        }
        drop(peers);
        let (mut ok, rest) = upgraded(server.addr);
        ok.write_all(&client_frame(true, 2, b"after")).unwrap();
        assert_eq!(echo_or_close(&mut ok, rest), Ok(5), "{mode:?}");
    }
}
