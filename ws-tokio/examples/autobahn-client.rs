//! Autobahn|Testsuite client driver for the tokio adapter, offering permessage-deflate.
//!
//! `AUTOBAHN_URL=ws://127.0.0.1:9001 AUTOBAHN_AGENT=ws-tokio cargo run --release -p ws-tokio
//! --example tokio-autobahn-client [--features zlib-rs]` (both variables optional: these are the
//! defaults; the first argument, when given, overrides `AUTOBAHN_URL`).
//! `../shared/autobahn/client-suite.sh` sets both; `scripts/autobahn.sh tokio-client` runs it.
//!
//! Asks the fuzzing server for the number of cases (`/getCaseCount`), runs every case
//! (`/runCase?case=N&agent=AGENT`), echoing each text and binary message back unchanged until
//! the server closes, then asks it to write the reports (`/updateReports?agent=AGENT`).
//! Pings are answered and closes echoed by the library.
//!
//! Every connection offers `permessage-deflate; client_no_context_takeover` plus, with a
//! backend that can limit its window (zlib-rs), a bare `client_max_window_bits`: the offer
//! that lets a server choose every combination the suite's 13.* cases ask for. (The client
//! then resets its compressor after every message, which RFC 7692 allows whatever the server
//! answers.) Large messages are compressed off the runtime (`ws_tokio::offload`).
//!
//! Limits suit the suite: messages up to 64 MiB (the suite sends up to 16 MiB) in up to
//! 131 072 fragments (the suite sends up to 65 536).

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::sync::Arc;

use ws_tokio::{connect_config, Backend, ClientStream, Config, DeflateConfig, Error, Event, Message, WebSocket};

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

fn config() -> Arc<Config> {
    let config = Config::default()
        .max_message_size(Some(64 * 1024 * 1024))
        .max_fragments(Some(131_072))
        .permessage_deflate(Some(DeflateConfig::default().client_no_context_takeover(true)));
    Arc::new(config)
}

fn main() -> Result<()> {
    let base = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("AUTOBAHN_URL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_owned();
    let agent = std::env::var("AUTOBAHN_AGENT").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "ws-tokio".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(base, agent))
}

async fn run(base: String, agent: String) -> Result<()> {
    let config = config();
    let count = case_count(&base, &config).await?;
    let backend = Backend::preferred().map_or("none", Backend::name);
    eprintln!("autobahn-client: {count} cases, agent {agent}, permessage-deflate backend {backend}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={}", encode(&agent));
        if let Err(e) = run_case(&url, &config).await {
            // The suite's report tells what went wrong; keep going with the next case.
            eprintln!("autobahn-client: case {case}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={}", encode(&agent));
    let (mut ws, _) = connect_config(&url, config).await?;
    drain(&mut ws).await?;
    eprintln!("autobahn-client: done");
    Ok(())
}

/// `/getCaseCount` answers with the count as a text message, then closes.
async fn case_count(base: &str, config: &Arc<Config>) -> Result<u32> {
    let (mut ws, _) = connect_config(&format!("{base}/getCaseCount"), config.clone()).await?;
    let mut count = None;
    while let Some(event) = ws.recv().await {
        match event? {
            Event::Message(Message::Text(t)) => count = Some(t.trim().parse::<u32>()?),
            Event::Closed(_) => break,
            _ => {}
        }
    }
    wait_end(&mut ws).await;
    count.ok_or_else(|| "/getCaseCount sent no count".into())
}

/// Echoes every message until the connection closes.
async fn run_case(url: &str, config: &Arc<Config>) -> Result<()> {
    let (mut ws, _) = connect_config(url, config.clone()).await?;
    while let Some(event) = ws.recv().await {
        match event? {
            // `recv` writes what `feed` queued once no further message is buffered.
            Event::Message(msg) => match ws.feed(msg).await {
                // Not allowed any more (closing) or the peer went away: `recv` tells.
                Ok(()) | Err(Error::Send(_) | Error::ConnectionClosed) => {}
                Err(e) => return Err(e.into()),
            },
            Event::Closed(_) => break,
            _ => {}
        }
    }
    wait_end(&mut ws).await;
    Ok(())
}

/// Reads until the connection closes, ignoring messages.
async fn drain(ws: &mut WebSocket<ClientStream>) -> Result<()> {
    while let Some(event) = ws.recv().await {
        if let Event::Closed(_) = event? {
            break;
        }
    }
    wait_end(ws).await;
    Ok(())
}

/// After `Closed`: waits (bounded by the close timeout) until the server closes TCP, as a
/// client should (RFC 6455 §7.1.1: the server closes the TCP connection first).
async fn wait_end(ws: &mut WebSocket<ClientStream>) {
    while let Some(Ok(_)) = ws.recv().await {}
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
