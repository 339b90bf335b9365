//! The client (`-c URL`): connects with ws-tokio's `ClientBuilder`, then relays input lines
//! to the server and prints what it sends until the connection closes.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use ws_tokio::{ClientBuilder, Event, MaybeTlsStream, Message, WebSocket};

use crate::args::Args;
use crate::command::{self, Command};
use crate::errors::{self, Failure, EXIT_ERROR, EXIT_INTERRUPTED};
use crate::input::{self, Input, Interrupts};
use crate::output::Output;
use crate::{settings, tls};

/// How long `--execute` waits for replies when `--wait` is not given.
const DEFAULT_EXECUTE_WAIT: Duration = Duration::from_secs(2);

/// The `ClientBuilder` for the arguments.
pub fn builder(args: &Args, url: &str) -> Result<ClientBuilder, Failure> {
    let mut b = ClientBuilder::new(url)
        .protocol_version(args.protocol_version)
        .follow_redirects(args.location)
        .max_redirects(args.max_redirects)
        .per_message_deflate(settings::deflate(args))
        .config(Arc::new(settings::connection_config(args)))
        .tls(tls::client_options(args)?);
    if !args.subprotocols.is_empty() {
        b = b.subprotocols(args.subprotocols.iter().cloned());
    }
    if let Some(origin) = &args.origin {
        b = b.origin(origin);
    }
    if let Some(auth) = &args.auth {
        let creds = base64::engine::general_purpose::STANDARD.encode(auth.as_bytes());
        b = b.header("Authorization", format!("Basic {creds}"));
    }
    if let Some(host) = &args.host {
        b = b.header("Host", host);
    }
    for (name, value) in &args.headers {
        b = b.header(name, value);
    }
    if let Some(proxy) = &args.proxy {
        b = b.proxy(proxy);
    }
    if let Some(t) = args.handshake_timeout {
        b = b.handshake_timeout(t);
    }
    Ok(b)
}

/// Runs the client; returns the exit status.
pub async fn run(args: &Args, out: Arc<Output>) -> u8 {
    let url = args.url().unwrap_or_default();
    let mut interrupts = Interrupts::install();
    let prepared = builder(args, &url).and_then(|b| {
        let file = args.binary_file.as_deref().map(|p| tls::read_file("--binary-file", p)).transpose()?;
        Ok((b, file))
    });
    let (builder, file) = match prepared {
        Ok(p) => p,
        Err(f) => {
            let status = f.exit_status();
            out.error(f.kind, &f.message, f.extra);
            return status;
        }
    };
    let ws = tokio::select! {
        r = builder.connect() => match r {
            Ok((ws, _response)) => ws,
            Err(e) => {
                let f = errors::describe_connect(&url, &e);
                out.error(f.kind, &f.message, f.extra);
                return EXIT_ERROR;
            }
        },
        _ = interrupts.next() => {
            out.error("interrupted", "interrupted while connecting", Default::default());
            return EXIT_INTERRUPTED;
        }
    };
    out.connected(ws.url().unwrap_or(&url), ws.protocol(), ws.extensions());
    let session = Session {
        args,
        out,
        ws,
        interrupts,
        lines: None,
        closing: false,
        interrupted: false,
        awaiting: None,
        deadline: None,
        ping: args.ping_interval.map(|d| tokio::time::interval_at(Instant::now() + d, d)),
    };
    session.run(file).await
}

/// An open connection and what drives it.
struct Session<'a> {
    args: &'a Args,
    out: Arc<Output>,
    ws: WebSocket<MaybeTlsStream>,
    interrupts: Interrupts,
    /// Input lines, until end of input (none with `--execute`).
    lines: Option<mpsc::Receiver<Input>>,
    /// A close frame was sent.
    closing: bool,
    /// Ctrl-C was pressed once already.
    interrupted: bool,
    /// With `--execute` and no `--wait`: replies still expected before closing.
    awaiting: Option<usize>,
    /// When to close (`--execute`, or `--wait` after end of input).
    deadline: Option<Instant>,
    /// `--ping-interval`.
    ping: Option<Interval>,
}

impl Session<'_> {
    async fn run(mut self, file: Option<Vec<u8>>) -> u8 {
        if let Some(bytes) = file {
            self.send(Message::binary(bytes)).await;
        }
        if self.args.execute.is_empty() {
            self.lines = Some(input::start(&self.out));
        } else {
            let mut sent = 0;
            for line in &self.args.execute {
                if self.handle_command(command::parse(line, self.args.slash, self.args.hex)).await {
                    sent += 1;
                }
            }
            if self.args.wait.is_none() && sent > 0 {
                self.awaiting = Some(sent);
            }
            self.deadline = Some(Instant::now() + self.args.wait.unwrap_or(DEFAULT_EXECUTE_WAIT));
        }
        loop {
            tokio::select! {
                event = self.ws.recv() => {
                    if let Some(code) = self.on_event(event) {
                        return code;
                    }
                    if self.awaiting == Some(0) && !self.closing {
                        self.close(1000, "").await;
                    }
                }
                line = input::next(&mut self.lines), if !self.closing => self.on_input(line).await,
                _ = input::tick(&mut self.ping) => {
                    if let Err(e) = self.ws.ping(b"").await {
                        self.out.warn(&format!("cannot send ping: {e}"));
                    }
                }
                _ = sleep_until(self.deadline), if !self.closing => self.close(1000, "").await,
                _ = self.out.stdout_closed(), if !self.closing => self.close(1000, "").await,
                _ = self.interrupts.next() => {
                    if let Some(code) = self.interrupt().await {
                        return code;
                    }
                }
            }
        }
    }

    /// Handles an event; returns the exit status once the connection is over.
    fn on_event(&mut self, event: Option<std::io::Result<Event>>) -> Option<u8> {
        match event {
            Some(Ok(Event::Message(msg))) => {
                self.out.message(None, &msg);
                if let Some(n) = self.awaiting.as_mut() {
                    *n = n.saturating_sub(1);
                }
            }
            Some(Ok(Event::Ping(data))) if self.args.show_ping_pong => self.out.control(None, false, &data),
            Some(Ok(Event::Pong(data))) if self.args.show_ping_pong => self.out.control(None, true, &data),
            Some(Ok(Event::Closed(info))) => {
                self.out.release_terminal();
                let error = errors::close_error(&info);
                let clean = info.was_clean();
                self.out.closed(None, errors::shown_code(&info), info.reason(), clean, error.as_deref());
                return Some(errors::exit_for_close(&info));
            }
            Some(Ok(_)) => {}
            // The connection is dropped; `Event::Closed` (1006) follows.
            Some(Err(e)) => self.out.error("io", &format!("connection error: {e}"), Default::default()),
            None => {
                self.out.release_terminal();
                return Some(EXIT_ERROR);
            }
        }
        None
    }

    /// Handles one input event.
    async fn on_input(&mut self, input: Option<Input>) {
        match input {
            Some(Input::Line(line)) => {
                let cmd = command::parse(&line, self.args.slash, self.args.hex);
                self.handle_command(cmd).await;
            }
            Some(Input::Interrupt) => {
                // The editor's Ctrl-C. The close is bounded by the close timeout; a later
                // Ctrl-C reaching the process as a signal gives up at once.
                self.interrupted = true;
                self.close(1000, "").await;
            }
            Some(Input::Eof) | None => {
                self.lines = None;
                match self.args.wait {
                    Some(wait) => self.deadline = Some(Instant::now() + wait),
                    None => self.close(1000, "").await,
                }
            }
        }
    }

    /// Ctrl-C: closes with 1000 (or lets a close in progress finish); a second one gives up
    /// at once with [`EXIT_INTERRUPTED`].
    async fn interrupt(&mut self) -> Option<u8> {
        if self.interrupted {
            self.out.release_terminal();
            return Some(EXIT_INTERRUPTED);
        }
        self.interrupted = true;
        self.close(1000, "").await;
        None
    }

    /// Carries out a command; true when it sent a message.
    async fn handle_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Send(msg) => return self.send(msg).await,
            Command::Ping(data) => {
                if let Err(e) = self.ws.ping(&data).await {
                    self.out.warn(&format!("cannot send ping: {e}"));
                }
            }
            Command::Pong(data) => {
                if let Err(e) = self.ws.pong(&data).await {
                    self.out.warn(&format!("cannot send pong: {e}"));
                }
            }
            Command::Close(code, reason) => self.close(code, &reason).await,
            Command::Invalid(why) => self.out.warn(&why),
        }
        false
    }

    async fn send(&mut self, msg: Message) -> bool {
        match self.ws.send(msg).await {
            Ok(()) => true,
            Err(e) => {
                self.out.warn(&format!("cannot send: {e}"));
                false
            }
        }
    }

    /// Starts the closing handshake (once).
    async fn close(&mut self, code: u16, reason: &str) {
        if self.closing {
            return;
        }
        match self.ws.close(code, reason).await {
            Ok(()) => {
                self.closing = true;
                self.lines = None;
            }
            Err(e) => self.out.warn(&format!("cannot close with code {code}: {e}")),
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
