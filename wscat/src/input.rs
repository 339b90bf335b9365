//! Where input lines come from: a line editor on a terminal (rustyline, in a thread of its
//! own), or plain lines from a pipe or file.

use std::io::IsTerminal;

use nix::sys::termios::{self, SetArg, Termios};
use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor, ExternalPrinter};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Interval;

use crate::output::{Output, Style};

/// Lines waiting to be handled.
const QUEUE: usize = 64;

/// One input event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line, without its line ending.
    Line(String),
    /// End of input (Ctrl-D on a terminal, end of the pipe or file).
    Eof,
    /// Ctrl-C typed at the line editor.
    Interrupt,
}

/// Whether both stdin and stdout are terminals: then `wscat` runs the line editor, colours
/// and markers; otherwise it reads and writes plain lines.
pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Prints above the line editor's prompt from any thread.
pub type Printer = Box<dyn ExternalPrinter + Send>;

/// The terminal's mode before the line editor changed it, to restore on exit (the editor's
/// thread may still be inside `readline` when the process ends).
#[derive(Debug)]
pub struct TerminalGuard {
    saved: Option<Termios>,
}

impl TerminalGuard {
    /// Saves the mode of the terminal on stdin.
    fn save() -> Self {
        Self { saved: termios::tcgetattr(std::io::stdin()).ok() }
    }

    /// Puts the saved mode back.
    pub fn restore(&self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
    }
}

/// Starts the line editor with `prompt` (plain text, and the same with colours) in a
/// thread. Returns the lines, a printer for output shown above the prompt, and the guard
/// that restores the terminal.
pub fn interactive(prompt: (String, String)) -> Result<(mpsc::Receiver<Input>, Printer, TerminalGuard), String> {
    let guard = TerminalGuard::save();
    let config = Config::builder().auto_add_history(true).bracketed_paste(false).build();
    let mut editor = DefaultEditor::with_config(config).map_err(|e| format!("cannot start the line editor: {e}"))?;
    // The unit helper makes the editor use the styled (coloured) prompt.
    editor.set_helper(Some(()));
    let printer = editor.create_external_printer().map_err(|e| format!("cannot start the line editor: {e}"))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("wscat-readline".into())
        .spawn(move || loop {
            let input = match editor.readline(&prompt) {
                Ok(line) => Input::Line(line),
                Err(ReadlineError::Interrupted) => Input::Interrupt,
                Err(_) => Input::Eof,
            };
            let eof = input == Input::Eof;
            if tx.blocking_send(input).is_err() || eof {
                break;
            }
        })
        .map_err(|e| format!("cannot start the line editor: {e}"))?;
    Ok((rx, Box::new(printer), guard))
}

/// Reads stdin line by line (invalid UTF-8 replaced) in a task; `Eof` comes last.
pub fn piped() -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin());
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stdin.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                        if buf.last() == Some(&b'\r') {
                            buf.pop();
                        }
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(Input::Line(line)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Input::Eof).await;
    });
    rx
}

/// Ctrl-C (SIGINT) and SIGTERM, installed once so that no signal is missed between waits.
#[derive(Debug)]
pub struct Interrupts {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    /// Installs the handlers (within a tokio runtime). Until then, Ctrl-C ends the process.
    pub fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Self { int: signal(SignalKind::interrupt()).ok(), term: signal(SignalKind::terminate()).ok() }
    }

    /// Resolves at the next SIGINT or SIGTERM.
    pub async fn next(&mut self) {
        async fn wait(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    if s.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = wait(&mut self.int) => {}
            _ = wait(&mut self.term) => {}
        }
    }
}

/// Starts reading input for `out`: the line editor when it is interactive, plain lines
/// otherwise (or when the editor cannot start).
pub fn start(out: &Output) -> mpsc::Receiver<Input> {
    if out.style() == Style::Interactive {
        let styled = if out.color() { "\x1b[32m> \x1b[0m" } else { "> " };
        match interactive(("> ".to_owned(), styled.to_owned())) {
            Ok((rx, printer, guard)) => {
                out.attach_terminal(printer, guard);
                return rx;
            }
            Err(e) => out.warn(&e),
        }
    }
    piped()
}

/// The next input event, or never when there is no input (any more).
pub async fn next(lines: &mut Option<mpsc::Receiver<Input>>) -> Option<Input> {
    match lines {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next tick of an interval (`--ping-interval`), or never without one.
pub async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
