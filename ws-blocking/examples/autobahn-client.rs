//! Autobahn|Testsuite client driver for the blocking adapter.
//!
//! `AUTOBAHN_URL=ws://127.0.0.1:9001 AUTOBAHN_AGENT=ws-blocking cargo run --release -p ws-blocking
//! --example autobahn-client` (both variables optional: these are the defaults; the first
//! argument, when given, overrides `AUTOBAHN_URL`). `../shared/autobahn/client-suite.sh` sets
//! both.
//!
//! Asks the fuzzing server for the number of cases (`/getCaseCount`), runs every case
//! (`/runCase?case=N&agent=AGENT`), echoing each text and binary message back unchanged until
//! the server closes, then asks it to write the reports (`/updateReports?agent=AGENT`).
//! Pings are answered and closes echoed by the library.
//!
//! Connects with [`ClientBuilder`], which offers permessage-deflate (`DeflateConfig::default()`,
//! as Node does). Limits suit the suite: messages up to 64 MiB (the suite sends up to 16 MiB)
//! in up to 131 072 fragments (the suite sends up to 65 536).

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::sync::Arc;

use ws_blocking::{ClientBuilder, ClientStream, Config, Error, Event, WebSocket};

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

fn config() -> Arc<Config> {
    let config = Config::default().max_message_size(Some(64 * 1024 * 1024)).max_fragments(Some(131_072));
    Arc::new(config)
}

fn main() -> Result<()> {
    let base = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("AUTOBAHN_URL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_owned();
    let agent = std::env::var("AUTOBAHN_AGENT").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "ws-blocking".into());
    let config = config();

    let count = case_count(&base, &config)?;
    eprintln!("autobahn-client: {count} cases, agent {agent}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={}", encode(&agent));
        if let Err(e) = run_case(&url, &config) {
            // The suite's report tells what went wrong; keep going with the next case.
            eprintln!("autobahn-client: case {case}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={}", encode(&agent));
    let (mut ws, _) = open(&url, &config)?;
    drain(&mut ws)?;
    eprintln!("autobahn-client: done");
    Ok(())
}

/// Connects as the suite's client, offering permessage-deflate.
fn open(url: &str, config: &Arc<Config>) -> Result<(WebSocket<ClientStream>, ws_blocking::http::Response<()>)> {
    Ok(ClientBuilder::new(url).config(config.clone()).connect()?)
}

/// `/getCaseCount` answers with the count as a text message, then closes.
fn case_count(base: &str, config: &Arc<Config>) -> Result<u32> {
    let (mut ws, _) = open(&format!("{base}/getCaseCount"), config)?;
    let mut count = None;
    while let Some(msg) = ws.recv_message() {
        if let ws_blocking::Message::Text(t) = msg? {
            count = Some(t.trim().parse::<u32>()?);
        }
    }
    wait_end(&mut ws);
    count.ok_or_else(|| "/getCaseCount sent no count".into())
}

/// Echoes every message until the connection closes.
fn run_case(url: &str, config: &Arc<Config>) -> Result<()> {
    let (mut ws, _) = open(url, config)?;
    while let Some(msg) = ws.recv_message() {
        match ws.send(msg?) {
            // Not allowed any more (closing) or the peer went away: `recv_message` tells.
            Ok(()) | Err(Error::Send(_) | Error::ConnectionClosed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    wait_end(&mut ws);
    Ok(())
}

/// Reads until the connection closes, ignoring messages.
fn drain(ws: &mut WebSocket<ClientStream>) -> Result<()> {
    while let Some(event) = ws.recv() {
        if let Event::Closed(_) = event? {
            break;
        }
    }
    wait_end(ws);
    Ok(())
}

/// After `Closed`: waits (bounded by the close timeout) until the server closes TCP, as a
/// client should (RFC 6455 §7.1.1: the server closes the TCP connection first).
fn wait_end(ws: &mut WebSocket<ClientStream>) {
    while let Some(Ok(_)) = ws.recv() {}
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
