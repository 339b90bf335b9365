//! Errors in words, and the exit status.

use std::io;

use serde_json::{json, Map, Value};
use ws_tokio::ws_proto::Initiator;
use ws_tokio::{CloseInfo, ConnectError};

/// The connection closed cleanly.
pub const EXIT_OK: u8 = 0;
/// An error (see `--help`).
pub const EXIT_ERROR: u8 = 1;
/// The peer closed with a code other than 1000, 1001 or none.
pub const EXIT_PEER_CODE: u8 = 3;
/// Interrupted while connecting, or again while closing.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A failure to report: a short machine-readable kind (the `error` field of `--json`), the
/// text, and extra JSON fields (the status and body of a rejected handshake…).
#[derive(Debug, Clone)]
pub struct Failure {
    /// `invalid_url`, `refused`, `connect`, `rejected`, `tls`, `timeout`, `redirects`,
    /// `proxy`, `handshake`, `file`, `tls_config`, `listen`, `io`, `input`, `interrupted`.
    pub kind: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// More fields for `--json`.
    pub extra: Map<String, Value>,
}

impl Failure {
    /// A failure without extra fields.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), extra: Map::new() }
    }

    /// The exit status for this failure before a connection: 130 when the user cancelled
    /// (kind `interrupted`, e.g. Ctrl-C at the passphrase question), 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        if self.kind == "interrupted" {
            EXIT_INTERRUPTED
        } else {
            EXIT_ERROR
        }
    }
}

/// The innermost error's text (rustls' reason inside an `io::Error`, for example).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Describes a failed connection attempt to `url`.
pub fn describe_connect(url: &str, e: &ConnectError) -> Failure {
    match e {
        ConnectError::InvalidUrl(why) => Failure::new("invalid_url", format!("invalid URL: {why}")),
        ConnectError::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            Failure::new("refused", format!("connection refused by {url} (is a server listening there?)"))
        }
        ConnectError::Io(io) => Failure::new("connect", format!("could not connect to {url}: {io}")),
        ConnectError::Rejected { status, body, .. } => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let mut message = format!("handshake rejected: the server answered {status}");
            if !text.is_empty() {
                let shown: String = text.chars().take(500).collect();
                message.push_str(&format!(": {shown}"));
            }
            let mut f = Failure::new("rejected", message);
            f.extra.insert("status".into(), json!(status.as_u16()));
            f.extra.insert("body".into(), json!(text));
            f
        }
        ConnectError::Tls(io) => {
            let cause = match io.get_ref() {
                Some(inner) => root_cause(inner),
                None => io.to_string(),
            };
            let hint = if cause.contains("certificate") || cause.contains("Certificate") {
                " (use --ca FILE to trust the server's CA, or -n/--no-check to skip verification)"
            } else {
                ""
            };
            Failure::new("tls", format!("TLS failure: {cause}{hint}"))
        }
        ConnectError::Timeout => Failure::new("timeout", format!("timed out connecting to {url}")),
        ConnectError::TooManyRedirects(n) => {
            Failure::new("redirects", format!("too many redirects (more than {n}; see --max-redirects)"))
        }
        ConnectError::ProxyRejected { status, .. } => {
            let mut f = Failure::new("proxy", format!("the proxy refused the connection: {status}"));
            f.extra.insert("status".into(), json!(status.as_u16()));
            f
        }
        ConnectError::Handshake(h) => Failure::new("handshake", format!("handshake failed: {h}")),
        other => Failure::new("connect", other.to_string()),
    }
}

/// The exit status for a closed connection.
pub fn exit_for_close(info: &CloseInfo) -> u8 {
    if info.error.is_some() || !info.close_received || !info.close_sent {
        return EXIT_ERROR;
    }
    if info.initiator == Initiator::Local {
        return EXIT_OK;
    }
    match info.code().as_u16() {
        1000 | 1001 | 1005 => EXIT_OK,
        _ => EXIT_PEER_CODE,
    }
}

/// Why the connection ended, in words, when it did not end cleanly.
pub fn close_error(info: &CloseInfo) -> Option<String> {
    if let Some(e) = &info.error {
        return Some(e.to_string());
    }
    if !info.close_received {
        return Some("the connection was lost without a closing handshake".into());
    }
    None
}

/// The close code to show: the peer's, or the one this side sent when it failed the
/// connection (1009 for a message over `--max-payload`, 1002 for a protocol error…), else
/// 1005 or 1006 as ws-tokio reports.
pub fn shown_code(info: &CloseInfo) -> u16 {
    match (&info.received, &info.sent) {
        (Some(peer), _) => peer.code.as_u16(),
        (None, Some(ours)) if info.error.is_some() => ours.code.as_u16(),
        _ => info.code().as_u16(),
    }
}
