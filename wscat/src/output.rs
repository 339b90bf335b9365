//! Everything `wscat` prints, in one of three styles: interactive (markers and colours above
//! the line editor's prompt), plain (messages on stdout, status on stderr, for pipes) and
//! JSON (one object per line on stdout, for scripts).

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use serde_json::{json, Map, Value};
use ws_tokio::Message;

use crate::hex;
use crate::input::{Printer, TerminalGuard};

const RESET: &str = "\x1b[0m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";

/// How output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A terminal with the line editor: `<` markers, colours, status on stdout.
    Interactive,
    /// Pipes: messages alone on stdout, status on stderr.
    Plain,
    /// One JSON object per event on stdout; errors also in words on stderr.
    Json,
}

/// The printer shared by the tasks of a session.
pub struct Output {
    style: Style,
    /// Colours on stdout (interactive style only).
    color: bool,
    /// Colours on stderr.
    err_color: bool,
    /// Binary messages as one hex line instead of a dump.
    hex: bool,
    terminal: Mutex<Terminal>,
    /// Stdout was closed by its reader (`wscat … | head -1`).
    stdout_gone: AtomicBool,
    /// Notified when `stdout_gone` becomes true.
    gone: Notify,
}

/// The line editor's printer and the terminal mode to restore, while the editor runs.
#[derive(Default)]
struct Terminal {
    printer: Option<Printer>,
    guard: Option<TerminalGuard>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("style", &self.style).field("color", &self.color).finish_non_exhaustive()
    }
}

/// Whether colours are allowed at all: not with `--no-color`, nor when `NO_COLOR` is set
/// (to anything but the empty string).
pub fn colors_allowed(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

impl Output {
    /// An output in `style`; `colors` says whether colours are allowed (see
    /// [`colors_allowed`]); `hex` prints binary messages as one hex line.
    pub fn new(style: Style, colors: bool, hex: bool) -> Self {
        Self {
            style,
            color: colors && style == Style::Interactive,
            err_color: colors && io::stderr().is_terminal(),
            hex,
            terminal: Mutex::new(Terminal::default()),
            stdout_gone: AtomicBool::new(false),
            gone: Notify::new(),
        }
    }

    /// The style.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Whether colours are used on stdout.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Routes interactive output through the line editor's printer until
    /// [`release_terminal`](Self::release_terminal).
    pub fn attach_terminal(&self, printer: Printer, guard: TerminalGuard) {
        let mut t = self.lock();
        t.printer = Some(printer);
        t.guard = Some(guard);
    }

    /// Stops using the line editor: restores the terminal mode and clears the prompt line,
    /// so that what follows prints directly. Idempotent.
    pub fn release_terminal(&self) {
        let mut t = self.lock();
        t.printer = None;
        if let Some(guard) = t.guard.take() {
            guard.restore();
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"\r\x1b[2K");
            let _ = out.flush();
        }
    }

    /// Resolves once stdout's reader has gone away (a write failed with a broken pipe); the
    /// session then closes, as there is nowhere left to print.
    pub async fn stdout_closed(&self) {
        let notified = self.gone.notified();
        if self.stdout_gone.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Notes the result of a write to stdout.
    fn wrote(&self, result: io::Result<()>) {
        if let Err(e) = result {
            if e.kind() == io::ErrorKind::BrokenPipe && !self.stdout_gone.swap(true, Ordering::AcqRel) {
                self.gone.notify_waiters();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Terminal> {
        self.terminal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// Writes `text` (one or more lines, no final newline) on stdout, above the prompt when
    /// the line editor runs.
    fn stdout_text(&self, text: String) {
        let mut t = self.lock();
        if let Some(printer) = t.printer.as_mut() {
            if printer.print(format!("{text}\n")).is_ok() {
                return;
            }
        }
        drop(t);
        let mut out = io::stdout().lock();
        let result = out.write_all(text.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        self.wrote(result);
    }

    fn stderr_text(&self, color: &str, text: &str) {
        let mut err = io::stderr().lock();
        let _ = if self.err_color { writeln!(err, "{color}{text}{RESET}") } else { writeln!(err, "{text}") };
        let _ = err.flush();
    }

    fn json(&self, value: Value) {
        let mut out = io::stdout().lock();
        let result = writeln!(out, "{value}").and_then(|()| out.flush());
        self.wrote(result);
    }

    /// A status line (green on a terminal, stderr in plain style, nothing in JSON style).
    pub fn status(&self, text: &str) {
        match self.style {
            Style::Interactive => self.stdout_text(self.paint(GREEN, text)),
            Style::Plain => self.stderr_text(GREEN, text),
            Style::Json => {}
        }
    }

    /// The client connected.
    pub fn connected(&self, url: &str, protocol: Option<&str>, extensions: Option<&str>) {
        match self.style {
            Style::Json => {
                self.json(json!({"type": "open", "url": url, "protocol": protocol, "extensions": extensions}))
            }
            Style::Interactive => {
                self.status("Connected (press CTRL+C to quit)");
                if let Some(p) = protocol {
                    self.status(&format!("Subprotocol: {p}"));
                }
            }
            Style::Plain => {
                let mut line = format!("Connected to {url}");
                if let Some(p) = protocol {
                    line.push_str(&format!(" (subprotocol {p})"));
                }
                self.status(&line);
            }
        }
    }

    /// The server is listening on `addr`.
    pub fn listening(&self, addr: SocketAddr, secure: bool) {
        match self.style {
            Style::Json => self.json(
                json!({"type": "listening", "address": addr.ip().to_string(), "port": addr.port(), "secure": secure}),
            ),
            _ => {
                let scheme = if secure { "wss" } else { "ws" };
                self.status(&format!("Listening on port {} ({scheme}, press CTRL+C to quit)", addr.port()));
            }
        }
    }

    /// A client connected to the server.
    pub fn client_connected(&self, id: u64, remote: Option<SocketAddr>, path: &str, protocol: Option<&str>) {
        match self.style {
            Style::Json => self.json(json!({
                "type": "connection", "client": id, "remote": remote.map(|r| r.to_string()),
                "path": path, "protocol": protocol,
            })),
            _ => {
                let from = remote.map_or_else(String::new, |r| format!(" from {r}"));
                let proto = protocol.map_or_else(String::new, |p| format!(", subprotocol {p}"));
                self.status(&format!("Client #{id} connected{from} ({path}{proto})"));
            }
        }
    }

    /// A message arrived (from client `client` in server mode).
    pub fn message(&self, client: Option<u64>, msg: &Message) {
        match self.style {
            Style::Json => {
                let mut obj = Map::new();
                obj.insert("type".into(), "message".into());
                match msg {
                    Message::Text(t) => {
                        obj.insert("kind".into(), "text".into());
                        obj.insert("data".into(), t.as_str().into());
                    }
                    Message::Binary(b) => {
                        obj.insert("kind".into(), "binary".into());
                        obj.insert("data".into(), hex::encode(b).into());
                    }
                }
                if let Some(id) = client {
                    obj.insert("client".into(), id.into());
                }
                self.json(Value::Object(obj));
            }
            Style::Plain => self.stdout_text(self.message_body(msg)),
            Style::Interactive => {
                let body = match msg {
                    Message::Text(t) => t.as_str().to_owned(),
                    Message::Binary(b) if self.hex => hex::encode(b),
                    Message::Binary(b) => {
                        format!("(binary, {} bytes)\n{}", b.len(), hex::dump(b).trim_end_matches('\n'))
                    }
                };
                self.stdout_text(format!("{}{body}", self.paint(BLUE, "< ")));
            }
        }
    }

    /// A message as plain output: its text, a hex line (`--hex`) or a hex dump.
    fn message_body(&self, msg: &Message) -> String {
        match msg {
            Message::Text(t) => t.as_str().to_owned(),
            Message::Binary(b) if self.hex => hex::encode(b),
            Message::Binary(b) => hex::dump(b).trim_end_matches('\n').to_owned(),
        }
    }

    /// A ping (`pong == false`) or pong arrived.
    pub fn control(&self, client: Option<u64>, pong: bool, data: &[u8]) {
        let kind = if pong { "pong" } else { "ping" };
        match self.style {
            Style::Json => {
                let mut obj = json!({"type": kind, "data": hex::payload_text(data)});
                if let Some(id) = client {
                    obj["client"] = id.into();
                }
                self.json(obj);
            }
            Style::Interactive => {
                let text = format!("Received {kind} (data: {:?})", hex::payload_text(data));
                self.stdout_text(format!("{}{}", self.paint(BLUE, "< "), self.paint(YELLOW, &text)));
            }
            Style::Plain => {
                let from = client.map_or_else(String::new, |id| format!(" from client #{id}"));
                self.stderr_text(YELLOW, &format!("Received {kind}{from} (data: {:?})", hex::payload_text(data)));
            }
        }
    }

    /// The connection closed (that of client `client` in server mode). `error` is what
    /// failed, when the connection did not close cleanly.
    pub fn closed(&self, client: Option<u64>, code: u16, reason: &str, clean: bool, error: Option<&str>) {
        match self.style {
            Style::Json => {
                let mut obj = json!({"type": "close", "code": code, "reason": reason, "clean": clean});
                if let Some(id) = client {
                    obj["client"] = id.into();
                }
                if let Some(e) = error {
                    obj["error"] = e.into();
                }
                self.json(obj);
            }
            _ => {
                let who = client.map_or_else(|| "Disconnected".to_owned(), |id| format!("Client #{id} disconnected"));
                let mut text = format!("{who} (code: {code}, reason: {reason:?})");
                if let Some(e) = error {
                    text.push_str(&format!(": {e}"));
                }
                self.status(&text);
            }
        }
    }

    /// An error: in words on stderr (red on a terminal) and, in JSON style, also as
    /// `{"type":"error","error":kind,"message":text,…extra}` on stdout.
    pub fn error(&self, kind: &str, text: &str, extra: Map<String, Value>) {
        if self.style == Style::Json {
            let mut obj = Map::new();
            obj.insert("type".into(), "error".into());
            obj.insert("error".into(), kind.into());
            obj.insert("message".into(), text.into());
            obj.extend(extra);
            self.json(Value::Object(obj));
        }
        let line = format!("error: {text}");
        if self.style == Style::Interactive && self.lock().printer.is_some() {
            self.stdout_text(self.paint(RED, &line));
        } else {
            self.stderr_text(RED, &line);
        }
    }

    /// A problem with one input line or command, which is skipped.
    pub fn warn(&self, text: &str) {
        self.error("input", text, Map::new());
    }
}
