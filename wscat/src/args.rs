//! The command line: every option of `wscat`, parsed with clap's derive API.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};

/// What `--help` prints after the options: the exit status and the interactive commands.
const AFTER_HELP: &str = "\
Exit status:
  0    the connection closed cleanly: closing handshake completed, and either this side
       closed (Ctrl-C, Ctrl-D, end of input, /close, -x/-w done) or the peer closed with
       1000, 1001 or no code; with --listen: the server was stopped with Ctrl-C
  1    an error: invalid URL, connection refused, handshake rejected (status shown),
       TLS failure, timeout, too many redirects, proxy refusal, connection lost without
       a closing handshake, protocol error, message over --max-payload, unreadable file
  2    invalid command-line arguments
  3    the peer closed the connection with another code (e.g. 1008, 1011, 4000)
  130  interrupted: Ctrl-C while connecting or at the passphrase question, or a second
       Ctrl-C while closing

Input and output:
  On a terminal, lines are edited with history (arrow keys, Ctrl-R), sent messages use
  the '>' prompt and received ones start with '<'. When stdin or stdout is not a
  terminal, each input line is sent as one message, each received text message is one
  line on stdout (binary ones as a hex dump, or one hex line with --hex), and status
  lines (connected, ping/pong, close code and reason, errors) go to stderr.
  End of input closes the connection with 1000 (after --wait seconds, if given).

Slash commands (with --slash):
  /ping [data]            send a ping
  /pong [data]            send an unsolicited pong
  /close [code [reason]]  close the connection (code 1000 by default)
  //text                  send \"/text\" as a message";

/// `wscat`: a WebSocket client (`-c URL`) and server (`-l PORT`) for the terminal and for
/// scripts.
#[derive(Parser, Debug, Clone)]
#[command(name = "wscat", version, about = "WebSocket client and server for the command line", after_help = AFTER_HELP)]
#[command(group(ArgGroup::new("mode").required(true).args(["connect", "listen"])))]
#[command(group(ArgGroup::new("secret").args(["key", "pfx"])))]
pub struct Args {
    /// Connect to a WebSocket server: ws://, wss://, ws+unix:///path/to.sock:/request-path
    /// (ws:// is assumed when the URL has no scheme)
    #[arg(short = 'c', long, value_name = "URL")]
    pub connect: Option<String>,

    /// Run a WebSocket server on PORT (0 picks a free port, printed at start); prints what
    /// each client sends and sends typed lines to every connected client
    #[arg(short = 'l', long, value_name = "PORT")]
    pub listen: Option<u16>,

    /// Address the --listen server binds to
    #[arg(long, value_name = "ADDRESS", default_value = "0.0.0.0", requires = "listen")]
    pub bind: String,

    /// WebSocket protocol version to request: 13 or 8
    #[arg(short = 'p', long = "protocol", value_name = "VERSION", default_value_t = 13,
          value_parser = parse_version, conflicts_with = "listen")]
    pub protocol_version: u8,

    /// Subprotocol to offer (repeatable, most preferred first); with --listen, the
    /// subprotocols the server accepts
    #[arg(short = 's', long = "subprotocol", value_name = "PROTOCOL")]
    pub subprotocols: Vec<String>,

    /// Request header to add (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_header,
          conflicts_with = "listen")]
    pub headers: Vec<(String, String)>,

    /// Origin header to send
    #[arg(short = 'o', long, value_name = "ORIGIN", conflicts_with = "listen")]
    pub origin: Option<String>,

    /// Basic authentication credentials (Authorization: Basic)
    #[arg(long, value_name = "USER:PASS", conflicts_with = "listen")]
    pub auth: Option<String>,

    /// Host header to send instead of the URL's host and port
    #[arg(long, value_name = "HOST", conflicts_with = "listen")]
    pub host: Option<String>,

    /// Do not verify the server's TLS certificate (encrypted but not authenticated)
    #[arg(short = 'n', long = "no-check", conflicts_with = "listen")]
    pub no_check: bool,

    /// Trust the CA certificate(s) in this PEM file instead of the built-in roots
    #[arg(long, value_name = "FILE", conflicts_with = "listen")]
    pub ca: Option<PathBuf>,

    /// Client certificate chain (PEM) for mutual TLS; with --listen, the server
    /// certificate (serves wss://)
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) for --cert: PKCS#8, PKCS#1 or SEC1, or encrypted PKCS#8
    /// (ENCRYPTED PRIVATE KEY, decrypted with --passphrase)
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// PKCS#12 (PFX) bundle holding the certificate chain and its private key, instead of
    /// --cert and --key: for mutual TLS, or with --listen the server certificate; opened with
    /// --passphrase (without it, the empty passphrase)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"])]
    pub pfx: Option<PathBuf>,

    /// Passphrase of an encrypted --key or of a --pfx bundle; given without a value
    /// (--passphrase alone), it is asked for on the terminal without echo. A value starting
    /// with '-' needs --passphrase=VALUE
    #[arg(long, value_name = "PASSPHRASE", requires = "secret", num_args = 0..=1)]
    pub passphrase: Option<Option<String>>,

    /// Follow HTTP redirects (3xx with a Location)
    #[arg(short = 'L', long = "location", conflicts_with = "listen")]
    pub location: bool,

    /// Most redirects followed with --location
    #[arg(long, value_name = "N", default_value_t = 10, conflicts_with = "listen")]
    pub max_redirects: usize,

    /// Connect through this HTTP proxy (CONNECT): http://host:port, or http://user:pass@host:port
    #[arg(long, value_name = "URL", conflicts_with = "listen")]
    pub proxy: Option<String>,

    /// Seconds allowed for connecting, TLS and the handshake
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, conflicts_with = "listen")]
    pub handshake_timeout: Option<Duration>,

    /// Print pings and pongs received
    #[arg(short = 'P', long = "show-ping-pong")]
    pub show_ping_pong: bool,

    /// Enable the slash commands /ping, /pong and /close (see below)
    #[arg(long)]
    pub slash: bool,

    /// Send COMMAND once connected (repeatable), print the reply and exit: without --wait,
    /// once one message per command arrived (or after 2 s)
    #[arg(short = 'x', long = "execute", value_name = "COMMAND", conflicts_with = "listen")]
    pub execute: Vec<String>,

    /// With --execute: print everything received for SECONDS, then close. Without it: on
    /// end of input, wait SECONDS before closing
    #[arg(short = 'w', long, value_name = "SECONDS", value_parser = parse_seconds, conflicts_with = "listen")]
    pub wait: Option<Duration>,

    /// Do not use colours (also off when NO_COLOR is set or output is not a terminal)
    #[arg(long = "no-color")]
    pub no_color: bool,

    /// Send the content of PATH as one binary message once connected (with --listen: to
    /// each client as it connects)
    #[arg(long, value_name = "PATH")]
    pub binary_file: Option<PathBuf>,

    /// Hex mode: input lines are hex ("68 69" or "6869") sent as binary messages, and
    /// binary messages received are printed as one hex line
    #[arg(long)]
    pub hex: bool,

    /// Send a ping every SECONDS (to every client with --listen)
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub ping_interval: Option<Duration>,

    /// Do not offer (or, with --listen, accept) permessage-deflate compression
    #[arg(long = "no-deflate")]
    pub no_deflate: bool,

    /// permessage-deflate compression level, 0 (none) to 9 (best)
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=9))]
    pub deflate_level: Option<u8>,

    /// Messages shorter than BYTES are sent uncompressed (default 1024)
    #[arg(long, value_name = "BYTES")]
    pub deflate_threshold: Option<usize>,

    /// Ask the server to reset its compressor after each message (with --listen: do so)
    #[arg(long)]
    pub deflate_server_no_context_takeover: bool,

    /// Reset this client's compressor after each message, and say so (with --listen: ask
    /// clients to)
    #[arg(long)]
    pub deflate_client_no_context_takeover: bool,

    /// Ask the server to compress with a window of at most 2^BITS bytes, 8 to 15 (with
    /// --listen: compress so, and say so)
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u8).range(8..=15))]
    pub deflate_server_max_window_bits: Option<u8>,

    /// Compress with a window of at most 2^BITS bytes, 8 to 15, and say so (with --listen:
    /// ask clients to, at least 9, declining offers that do not allow it)
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u8).range(8..=15))]
    pub deflate_client_max_window_bits: Option<u8>,

    /// Largest message accepted, in bytes (a larger one closes the connection with 1009)
    #[arg(long, value_name = "BYTES")]
    pub max_payload: Option<usize>,

    /// Print one JSON object per line on stdout for every event (open, message, ping,
    /// pong, close, error…), for scripts
    #[arg(long)]
    pub json: bool,
}

/// `8` or `13`.
fn parse_version(s: &str) -> Result<u8, String> {
    match s.trim() {
        "8" => Ok(8),
        "13" => Ok(13),
        _ => Err(format!("unsupported protocol version {s:?} (expected 8 or 13)")),
    }
}

/// `Name: value` or `Name:value`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or_else(|| format!("{s:?} is not NAME:VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{s:?} has an empty header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// A non-negative number of seconds, fractions allowed (`0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a valid number of seconds"))
}

impl Args {
    /// The URL to connect to, with `ws://` added when it has no scheme (as Node's wscat).
    pub fn url(&self) -> Option<String> {
        self.connect.as_ref().map(|u| if u.contains("://") { u.clone() } else { format!("ws://{u}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header("X-A: b:c").unwrap(), ("X-A".into(), "b:c".into()));
        assert_eq!(parse_header("X-A:b").unwrap(), ("X-A".into(), "b".into()));
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(":v").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("x").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
