//! `wscat`: a WebSocket client and server for the command line, built on ws-tokio; a
//! drop-in for Node's `wscat` with a few additions (binary and hex mode, JSON output,
//! pings at intervals, compression settings).
//!
//! ```text
//! wscat -c ws://127.0.0.1:8080/chat          # interactive client
//! wscat -c wss://example.com -x hello        # send, print the reply, exit
//! echo hi | wscat -c localhost:8080 --json   # pipes and scripts
//! wscat -l 8080                              # server: prints what clients send
//! ```
//!
//! See `wscat --help` and `wscat/README.md` for every option and the exit status. Install it
//! from the repository with `cargo install --path wscat`, or run it with
//! `cargo run -p wscat -- -c URL`.
//!
//! The crate is a binary only (not published) and has no cargo features: TLS is rustls
//! through ws-tokio (client certificates, custom CAs, encrypted PKCS#8 keys with
//! `--passphrase`), and permessage-deflate uses ws-tokio's default backend, zlib-rs (every
//! window size, so all of the `--deflate-*` options apply in both roles).
//!
//! Modules, one concern each: [`args`] (the command line), [`client`], [`server`],
//! [`command`] (input lines and slash commands), [`input`] (line editor, pipes, signals),
//! [`output`] (interactive, plain and JSON output), [`errors`] (errors in words, exit
//! status), [`tls`] (with [`passphrase`], the terminal question for an encrypted key),
//! [`settings`] (connection and compression settings), [`hex`].
#![forbid(unsafe_code)]

pub mod args;
pub mod client;
pub mod command;
pub mod errors;
pub mod hex;
pub mod input;
pub mod output;
pub mod passphrase;
pub mod server;
pub mod settings;
pub mod tls;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::args::Args;
use crate::output::{Output, Style};

fn main() -> ExitCode {
    let args = Args::parse();
    let style = if args.json {
        Style::Json
    } else if input::is_interactive() {
        Style::Interactive
    } else {
        Style::Plain
    };
    let out = Arc::new(Output::new(style, output::colors_allowed(args.no_color), args.hex));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            out.error("io", &format!("cannot start the async runtime: {e}"), Default::default());
            return ExitCode::from(errors::EXIT_ERROR);
        }
    };
    let code = runtime.block_on(async {
        if args.listen.is_some() {
            server::run(&args, out.clone()).await
        } else {
            client::run(&args, out.clone()).await
        }
    });
    out.release_terminal();
    let _ = std::io::stdout().flush();
    // The line editor's thread and stdin reads may still be blocked: end the process now.
    std::process::exit(i32::from(code));
}
