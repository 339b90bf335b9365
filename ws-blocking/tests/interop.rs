//! Interop test: the blocking `echo-server` example against real third-party
//! peers, Node `ws` (`interop/node/client.js`) and Python `websockets`
//! (`interop/python/client.py`).
//!
//! Each test builds the example with the same profile as this test, starts it
//! on a free loopback port, waits until it accepts connections, runs one peer's
//! test matrix against it and asserts that the peer exits 0. The server is
//! killed when the test ends, pass or fail.
//!
//! The peers are installed by `scripts/setup-interop.sh`; when they are
//! missing these tests fail (they never skip).
#![cfg(feature = "server")]

#[path = "../../interop/peers.rs"]
mod peers;

use peers::{repo_root, run_with_timeout, show_output, KillOnDrop, Peer};

use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Time allowed for `cargo build` of the example (a no-op after `cargo test` built it).
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Time allowed for the server to accept connections after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Time allowed for one peer's whole matrix; the peer's own limit is set a bit lower.
const PEER_TIMEOUT: Duration = Duration::from_secs(90);
/// Seconds the peers allow themselves per case.
const CASE_TIMEOUT_SECS: u64 = 10;

/// Builds the `echo-server` example (same profile as this test) and returns its path.
fn echo_server_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_echo_server) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

fn build_echo_server() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root()).args([
        "build",
        "--quiet",
        "-p",
        "ws-blocking",
        "--example",
        "echo-server",
        "--message-format=json-render-diagnostics",
    ]);
    // This test binary lives in <target>/<profile dir>/deps/.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe.parent().and_then(Path::parent).and_then(Path::file_name).and_then(|n| n.to_str());
    match profile_dir {
        Some("release") => {
            cmd.arg("--release");
        }
        Some("debug") | None => {}
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    let out = run_with_timeout(&mut cmd, BUILD_TIMEOUT)?;
    match out.status {
        Some(status) if status.success() => {}
        Some(status) => {
            return Err(format!("building the echo-server example failed ({status}): {cmd:?}{}", show_output(&out)))
        }
        None => {
            return Err(format!(
                "building the echo-server example took more than {}s: {cmd:?}{}",
                BUILD_TIMEOUT.as_secs(),
                show_output(&out)
            ))
        }
    }
    // The JSON line of the example's artifact names its executable.
    out.stdout
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#) && l.contains(r#""name":"echo-server""#))
        .find_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let len = l[start..].find('"')?;
            Some(PathBuf::from(l[start..start + len].replace("\\\\", "\\")))
        })
        .ok_or_else(|| format!("cargo did not report the echo-server executable: {cmd:?}{}", show_output(&out)))
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// The echo server under test, killed when dropped.
struct EchoServer {
    child: KillOnDrop,
    port: u16,
    log: PathBuf,
}

impl EchoServer {
    /// Starts the example on a free port and waits until it accepts TCP connections.
    fn start(peer: &str) -> Self {
        let binary = echo_server_binary();
        let mut errors = Vec::new();
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..3 {
            let port = free_port();
            let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{peer}-echo-server-{port}.log"));
            let log_file = File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
            let log_err = log_file.try_clone().expect("clone log file handle");
            let child = Command::new(binary)
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut server = Self { child: KillOnDrop(child), port, log };
            match server.wait_ready() {
                Ok(()) => return server,
                Err((exited, why)) => {
                    errors.push(why);
                    // An early exit may mean the port was taken meanwhile: try another one.
                    if !exited {
                        break;
                    }
                }
            }
        }
        panic!("the echo server ({}) did not start:\n{}", binary.display(), errors.join("\n"));
    }

    /// Waits until the server accepts TCP connections. The error says whether
    /// the server exited (`true`) or just never accepted (`false`).
    fn wait_ready(&mut self) -> Result<(), (bool, String)> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err((true, format!("it exited with {status} on port {}{}", self.port, self.log_text())));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "nothing accepted connections on {addr} within {}s{}",
                    START_TIMEOUT.as_secs(),
                    self.log_text()
                );
                return Err((false, why));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.0.try_wait().ok().flatten()
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        if text.trim().is_empty() {
            String::new()
        } else {
            format!("\n----- echo server log ({}) -----\n{}", self.log.display(), text.trim_end())
        }
    }
}

/// Runs one interop peer against a fresh echo server and asserts it passed.
fn run_peer(peer: &str, mut cmd: Command) {
    let mut server = EchoServer::start(peer);
    let url = server.url();
    cmd.arg(&url)
        .current_dir(repo_root())
        .env("INTEROP_CASE_TIMEOUT", CASE_TIMEOUT_SECS.to_string())
        .env("INTEROP_TIMEOUT", (PEER_TIMEOUT.as_secs() - 10).to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run_with_timeout(&mut cmd, PEER_TIMEOUT).unwrap_or_else(|e| panic!("{peer}: {e}"));
    let server_exit = server.exited();

    let mut problems = Vec::new();
    match out.status {
        Some(status) if status.success() => {}
        Some(status) => problems.push(format!("the {peer} peer failed ({status})")),
        None => problems.push(format!("the {peer} peer did not finish within {}s", PEER_TIMEOUT.as_secs())),
    }
    if let Some(status) = server_exit {
        problems.push(format!("the echo server exited during the {peer} run ({status})"));
    }
    assert!(
        problems.is_empty(),
        "{} against {url}: {cmd:?}{}{}",
        problems.join("; "),
        show_output(&out),
        server.log_text()
    );
    // Shown with `cargo test -- --nocapture`.
    println!("{peer} peer against {url}:\n{}", out.stdout.trim_end());
}

#[test]
fn node_ws_peer() {
    run_peer(Peer::Node.name(), Peer::Node.command("client"));
}

#[test]
fn python_websockets_peer() {
    run_peer(Peer::Python.name(), Peer::Python.command("client"));
}
