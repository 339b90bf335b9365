//! The Autobahn|Testsuite peers of the workspace, written once for every adapter: an echo
//! server (`autobahn-server PORT [--adapter NAME]`) and the client driver the suite's fuzzing
//! server runs against (`autobahn-client [URL] [--adapter NAME]`, `AUTOBAHN_URL` and
//! `AUTOBAHN_AGENT` from the environment). `scripts/autobahn.sh` builds and runs them.
//!
//! Adapters: `tokio` (multi-thread runtime), `tokio-current-thread`, `async-std`, `smol` and
//! `blocking` (threads), `blocking-reactor` (ws-blocking's reactor thread). The async ones share one generic implementation over
//! `ws_async`'s runtime types ([`async_peer`]); the blocking one is [`blocking_peer`].
//!
//! Both peers echo every text and binary message unchanged; pings are answered and closes
//! echoed by the library. permessage-deflate: the server accepts every offer its backend can
//! honour (`DeflateConfig::default()`); the client offers `client_no_context_takeover` (and,
//! with zlib-rs, a bare `client_max_window_bits`), which lets the server choose every
//! combination the 13.* cases ask for. Limits suit the suite: messages up to 64 MiB (it sends
//! up to 16 MiB) in up to 131 072 fragments (it sends up to 65 536).

use std::fmt::Write as _;
use std::sync::Arc;

use ws_async::{Backend, Config, DeflateConfig, ServerOptions};

pub mod async_peer;
pub mod blocking_peer;

/// An adapter and runtime the peers run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// ws-tokio on a multi-thread runtime.
    Tokio,
    /// ws-tokio on a current-thread runtime.
    TokioCurrentThread,
    /// ws-async-std on async-std.
    AsyncStd,
    /// ws-async-std on smol.
    Smol,
    /// ws-blocking, a thread per connection.
    Blocking,
    /// ws-blocking's reactor: every connection on one thread (Unix).
    BlockingReactor,
}

impl Adapter {
    /// Every adapter with its command-line name.
    pub const ALL: [(&'static str, Self); 6] = [
        ("tokio", Self::Tokio),
        ("tokio-current-thread", Self::TokioCurrentThread),
        ("async-std", Self::AsyncStd),
        ("smol", Self::Smol),
        ("blocking", Self::Blocking),
        ("blocking-reactor", Self::BlockingReactor),
    ];

    /// The adapter of a command-line name.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown adapter {name:?} (expected one of {})", names.join(", "))
        })
    }
}

/// The command line both binaries take: `[POSITIONAL] [--adapter NAME]` (default `tokio`).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<(Adapter, Option<String>), String> {
    let mut adapter = Adapter::Tokio;
    let mut positional = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--adapter" => adapter = Adapter::parse(&args.next().unwrap_or_default())?,
            _ if positional.is_none() => positional = Some(arg),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok((adapter, positional))
}

/// The name of the permessage-deflate backend in use, for the peers' first line.
pub fn backend_name() -> &'static str {
    Backend::preferred().map_or("none", Backend::name)
}

/// The connection settings of both peers: messages up to 64 MiB in up to 131 072 fragments.
pub fn config() -> Arc<Config> {
    Arc::new(Config::default().max_message_size(Some(64 * 1024 * 1024)).max_fragments(Some(131_072)))
}

/// The server's handshake policy: permessage-deflate accepted with the default settings
/// (the reactor server sets the same through its builder).
pub fn server_options() -> Arc<ServerOptions> {
    Arc::new(ServerOptions::default().per_message_deflate(Some(DeflateConfig::default())))
}

/// The client's permessage-deflate offer.
pub fn client_deflate() -> DeflateConfig {
    DeflateConfig::default().client_no_context_takeover(true)
}

/// The fuzzing server's URLs for an agent, from its base URL (`ws://127.0.0.1:9001`).
#[derive(Clone, Debug)]
pub struct SuiteUrls {
    base: String,
    agent: String,
}

impl SuiteUrls {
    /// The URLs under `base` for `agent`.
    pub fn new(base: &str, agent: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), agent: encode(agent) }
    }

    /// `/getCaseCount`: answers with the number of cases as a text message, then closes.
    pub fn case_count(&self) -> String {
        format!("{}/getCaseCount", self.base)
    }

    /// `/runCase`: case `n` (from 1).
    pub fn case(&self, n: u32) -> String {
        format!("{}/runCase?case={n}&agent={}", self.base, self.agent)
    }

    /// `/updateReports`: writes the reports of the agent's cases.
    pub fn update_reports(&self) -> String {
        format!("{}/updateReports?agent={}", self.base, self.agent)
    }
}

/// Percent-encodes a query value (agent names are usually plain already).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Prints the listening line the scripts wait for (with the deflate backend).
fn announce(addr: std::net::SocketAddr) -> std::io::Result<()> {
    use std::io::Write as _;
    println!("listening on {addr} (permessage-deflate backend: {})", backend_name());
    std::io::stdout().flush()
}

/// The case count `/getCaseCount` sent, or why there is none.
pub fn parse_case_count(text: Option<&str>) -> Result<u32, String> {
    let text = text.ok_or("/getCaseCount sent no count")?;
    text.trim().parse().map_err(|e| format!("/getCaseCount sent {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_the_agent() {
        let urls = SuiteUrls::new("ws://127.0.0.1:9001/", "ws tokio/1");
        assert_eq!(urls.case(3), "ws://127.0.0.1:9001/runCase?case=3&agent=ws%20tokio%2F1");
        assert_eq!(urls.update_reports(), "ws://127.0.0.1:9001/updateReports?agent=ws%20tokio%2F1");
        assert_eq!(urls.case_count(), "ws://127.0.0.1:9001/getCaseCount");
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| (*s).to_owned()));
        assert_eq!(args(&[]).unwrap(), (Adapter::Tokio, None));
        assert_eq!(args(&["9001", "--adapter", "smol"]).unwrap(), (Adapter::Smol, Some("9001".into())));
        assert!(args(&["--adapter", "nope"]).is_err());
        assert!(args(&["1", "2"]).is_err());
    }

    #[test]
    fn case_counts() {
        assert_eq!(parse_case_count(Some(" 517\n")), Ok(517));
        assert!(parse_case_count(Some("many")).is_err());
        assert!(parse_case_count(None).is_err());
    }
}
