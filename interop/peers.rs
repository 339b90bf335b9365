//! The interop peers' processes, shared by the adapters' interop tests (included with
//! `#[path = "../../interop/peers.rs"] mod peers;`): which program runs each peer, and a child
//! process bounded in time whose output is kept for failure messages.
//!
//! The peers are installed by `scripts/setup-interop.sh`; when one is missing, [`Peer::command`]
//! panics with that hint (the tests never skip).
#![allow(dead_code)] // each including test uses its own part

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What to do when a peer is missing.
pub(crate) const SETUP_HINT: &str = "run `scripts/setup-interop.sh` from the repository root first \
     (it installs the pinned Node `ws` and Python `websockets` peers)";

/// The repository's root (the including crate sits directly inside it).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crate sits inside the workspace").to_path_buf()
}

/// A third-party peer: its name in messages and how to start its programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Node `ws` (`interop/node/`).
    Node,
    /// Python `websockets` (`interop/python/`).
    Python,
}

impl Peer {
    /// The peer's name in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Node => "node-ws",
            Self::Python => "python-websockets",
        }
    }

    /// The command running `script` (`client` or `server`) of this peer; panics with the setup
    /// hint when the peer is not installed.
    pub(crate) fn command(self, script: &str) -> Command {
        let root = repo_root();
        match self {
            Self::Node => {
                let ws = root.join("interop/node/node_modules/ws/package.json");
                assert!(ws.is_file(), "Node `ws` is not installed ({} is missing): {SETUP_HINT}", ws.display());
                let node = std::env::var_os("NODE").unwrap_or_else(|| OsString::from("node"));
                let works = Command::new(&node).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
                assert!(
                    works.is_ok_and(|s| s.success()),
                    "`{}` (Node.js) is not on PATH; install Node.js 18 or newer, then {SETUP_HINT}",
                    node.to_string_lossy()
                );
                let mut cmd = Command::new(node);
                cmd.arg(root.join(format!("interop/node/{script}.js")));
                cmd
            }
            Self::Python => {
                let python = root.join("interop/python/.venv/bin/python");
                assert!(
                    python.is_file(),
                    "the Python `websockets` venv is not installed ({} is missing): {SETUP_HINT}",
                    python.display()
                );
                let mut cmd = Command::new(python);
                cmd.arg(root.join(format!("interop/python/{script}.py"))).env("PYTHONDONTWRITEBYTECODE", "1");
                cmd
            }
        }
    }
}

/// A child process that is killed (and reaped) when dropped.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished (or killed) child printed.
pub(crate) struct Output {
    /// `None` when it was killed for running past its time limit.
    pub(crate) status: Option<ExitStatus>,
    /// Its standard output.
    pub(crate) stdout: String,
    /// Its standard error.
    pub(crate) stderr: String,
}

/// Reads a child's pipe to its end on a thread of its own.
pub(crate) fn read_all<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` to completion with piped output, killing it after `limit`.
pub(crate) fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut child = KillOnDrop(child);
    let stdout = read_all(child.0.stdout.take());
    let stderr = read_all(child.0.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.0.kill();
                let _ = child.0.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {cmd:?}: {e}")),
        }
    };
    drop(child);
    Ok(Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}

/// A child's output for a failure message.
pub(crate) fn show_output(out: &Output) -> String {
    let mut s = String::new();
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if !text.trim().is_empty() {
            let _ = write!(s, "\n----- {name} -----\n{}", text.trim_end());
        }
    }
    s
}
