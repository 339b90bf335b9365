//! Interactive sessions through a pseudo-terminal (portable-pty, so no external tool is
//! needed): the line editor with history, coloured markers, `--no-color`, Ctrl-C and Ctrl-D,
//! the interactive server, and the passphrase question (`--passphrase` without a value).

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{within, Ca, Seen, TempDir, TestServer, STEP};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};
use ws_tokio::{ClientBuilder, Event, Message};

/// `wscat` on a pseudo-terminal; everything it prints accumulates in `screen`.
struct Pty {
    child: Box<dyn Child + Send + Sync>,
    pid: i32,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<Vec<u8>>>,
    _master: Box<dyn MasterPty + Send>,
}

impl Pty {
    fn spawn(args: &[&str]) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize { rows: 30, cols: 120, pixel_width: 0, pixel_height: 0 })
            .expect("open a pseudo-terminal");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_wscat"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let child = pair.slave.spawn_command(cmd).expect("spawn wscat");
        drop(pair.slave);
        let pid = child.process_id().expect("pid") as i32;
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self { child, pid, writer, screen, _master: pair.master }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    async fn wait_for(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(tokio::time::Instant::now() < deadline, "the terminal never showed {needle:?}: {s:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn type_keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits for the exit status, killing the child by PID if it does not come in time.
    async fn exit_code(&mut self) -> u32 {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            if tokio::time::Instant::now() > deadline {
                let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
                panic!("wscat did not exit; screen: {:?}", self.screen());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }
}

#[tokio::test]
async fn line_editor_with_history_colours_and_ctrl_c() {
    let mut srv = TestServer::start().await;
    let mut pty = Pty::spawn(&["-c", &srv.url("/")]);
    let screen = pty.wait_for("Connected (press CTRL+C to quit)").await;
    assert!(screen.contains("\x1b[32mConnected"), "green status line: {screen:?}");
    pty.wait_for("\x1b[32m> \x1b[0m").await;
    pty.type_keys("hello\r");
    assert_eq!(srv.event().await, Seen::Text("hello".into()));
    pty.wait_for("\x1b[34m< \x1b[0mhello").await;
    // Up arrow recalls the previous line from the history.
    pty.type_keys("\x1b[A");
    tokio::time::sleep(Duration::from_millis(100)).await;
    pty.type_keys("\r");
    assert_eq!(srv.event().await, Seen::Text("hello".into()));
    // Editing: type, move left, insert.
    pty.type_keys("wrld\x1b[D\x1b[D\x1b[Do\r");
    assert_eq!(srv.event().await, Seen::Text("world".into()));
    pty.type_keys("\x03");
    assert_eq!(srv.event().await, Seen::Closed(1000, String::new()));
    assert_eq!(pty.exit_code().await, 0, "{:?}", pty.screen());
    // The reader thread may still be catching up with the last output.
    pty.wait_for("Disconnected (code: 1000").await;
}

#[tokio::test]
async fn no_color_and_ctrl_d() {
    let mut srv = TestServer::start().await;
    let mut pty = Pty::spawn(&["-c", &srv.url("/"), "--no-color", "--slash"]);
    pty.wait_for("Connected (press CTRL+C to quit)").await;
    pty.type_keys("binary-me\r");
    pty.wait_for("|....hi|").await;
    pty.type_keys("/ping\r");
    assert_eq!(srv.event().await, Seen::Text("binary-me".into()));
    assert_eq!(srv.event().await, Seen::Ping(Vec::new()));
    pty.type_keys("plain\r");
    pty.wait_for("< plain").await;
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code().await, 0);
    let screen = pty.wait_for("Disconnected (code: 1000").await;
    for colour in ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m"] {
        assert!(!screen.contains(colour), "no colours with --no-color: {screen:?}");
    }
    assert!(screen.contains("< (binary, 6 bytes)"), "{screen:?}");
}

#[tokio::test]
async fn interactive_server() {
    let mut pty = Pty::spawn(&["-l", "0", "--bind", "127.0.0.1"]);
    let screen = pty.wait_for("Listening on port ").await;
    let port = common::listening_port(&String::from_utf8_lossy(&strip_ansi(screen.as_bytes())));
    let (mut ws, _) = within("connect", ClientBuilder::new(format!("ws://127.0.0.1:{port}/")).connect()).await.unwrap();
    pty.wait_for("Client #1 connected").await;
    ws.send("from the client").await.unwrap();
    pty.wait_for("< \x1b[0mfrom the client").await;
    pty.type_keys("from the terminal\r");
    match within("broadcast", ws.recv()).await {
        Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t.as_str(), "from the terminal"),
        other => panic!("{other:?}"),
    }
    pty.type_keys("\x03");
    match within("close", ws.recv()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code().as_u16(), 1000),
        other => panic!("{other:?}"),
    }
    assert_eq!(pty.exit_code().await, 0);
}

#[tokio::test]
async fn passphrase_is_asked_on_the_terminal() {
    let ca = Ca::new("server CA");
    let (cert, key) = ca.server_leaf();
    let dir = TempDir::new("ask-passphrase");
    let cert_file = dir.file("cert.pem", cert);
    let key_file = dir.file("key.pem", common::encrypt_key(&key, "typed secret"));
    let args = ["-l", "0", "--bind", "127.0.0.1", "--cert", cert_file.to_str().unwrap()];
    let args = [&args[..], &["--key", key_file.to_str().unwrap(), "--passphrase"]].concat();

    let mut pty = Pty::spawn(&args);
    pty.wait_for("Passphrase for ").await;
    // Typed without echo; a typo erased with Backspace.
    pty.type_keys("typed secrex\x7ft\r");
    let screen = pty.wait_for("Listening on port ").await;
    assert!(!screen.contains("secre"), "the passphrase is not echoed: {screen:?}");
    let port = common::listening_port(&String::from_utf8_lossy(&strip_ansi(screen.as_bytes())));
    let tls = ws_tokio::tls::TlsOptions::new().ca_pem(ca.pem.as_bytes());
    let (mut ws, _) =
        within("wss connect", ClientBuilder::new(format!("wss://localhost:{port}/")).tls(tls).connect()).await.unwrap();
    pty.wait_for("Client #1 connected").await;
    ws.send("over tls").await.unwrap();
    pty.wait_for("over tls").await;
    pty.type_keys("\x03");
    assert_eq!(pty.exit_code().await, 0, "{:?}", pty.screen());

    // Ctrl-C at the question cancels: status 130, nothing started.
    let mut pty = Pty::spawn(&args);
    pty.wait_for("Passphrase for ").await;
    pty.type_keys("half\x03");
    assert_eq!(pty.exit_code().await, 130, "{:?}", pty.screen());
    pty.wait_for("no passphrase entered").await;
}

/// The text without ANSI escape sequences.
fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
