//! Autobahn|Testsuite client driver for the futures-io adapter.
//!
//! `AUTOBAHN_URL=ws://127.0.0.1:9001 AUTOBAHN_AGENT=ws-async-std cargo run --release -p ws-async-std
//! --example async-std-autobahn-client [-- --runtime smol|async-std]` (both variables optional:
//! these are the defaults; a first argument that is not an option overrides `AUTOBAHN_URL`).
//! `../shared/autobahn/client-suite.sh` sets both.
//!
//! Asks the fuzzing server for the number of cases (`/getCaseCount`), runs every case
//! (`/runCase?case=N&agent=AGENT`), echoing each text and binary message unchanged until the
//! server closes, then has it write the reports (`/updateReports?agent=AGENT`). Pings are
//! answered and closes echoed by the library. Limits suit the suite: messages up to 64 MiB in
//! up to 131 072 fragments.
//!
//! Named `async-std-autobahn-client` (file `examples/autobahn-client.rs`) so that its binary
//! does not overwrite ws-blocking's `autobahn-client` in `target/`.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::sync::Arc;

use ws_async_std::{connect_config, ClientStream, Config, DeflateConfig, Error, Event, Message, WebSocket};

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

fn config() -> Arc<Config> {
    let mut config = Config::default();
    // Offers permessage-deflate with client_no_context_takeover, which lets the server pick any
    // combination the suite's 13.* cases ask for (and, with zlib-rs, a bare
    // client_max_window_bits).
    config = config
        .max_message_size(Some(64 * 1024 * 1024))
        .max_fragments(Some(131_072))
        .permessage_deflate(Some(DeflateConfig::default().client_no_context_takeover(true)));
    Arc::new(config)
}

fn main() -> Result<()> {
    let mut base = std::env::var("AUTOBAHN_URL").ok().filter(|s| !s.is_empty());
    let mut runtime = String::from("smol");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runtime" => runtime = args.next().unwrap_or_default(),
            url => base = Some(url.to_owned()),
        }
    }
    let base = base.unwrap_or_else(|| "ws://127.0.0.1:9001".into()).trim_end_matches('/').to_owned();
    let agent = std::env::var("AUTOBAHN_AGENT").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "ws-async-std".into());
    match runtime.as_str() {
        "smol" => smol::block_on(run(&base, &agent)),
        "async-std" => async_std::task::block_on(run(&base, &agent)),
        other => Err(format!("unknown runtime {other:?} (expected smol or async-std)").into()),
    }
}

async fn run(base: &str, agent: &str) -> Result<()> {
    let config = config();
    let count = case_count(base, &config).await?;
    eprintln!("autobahn-client: {count} cases, agent {agent}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={}", encode(agent));
        if let Err(e) = run_case(&url, &config).await {
            // The report says what went wrong; go on with the next case.
            eprintln!("autobahn-client: case {case}: {e}");
        }
    }
    let (mut ws, _) = connect_config(&format!("{base}/updateReports?agent={}", encode(agent)), config).await?;
    while ws.recv().await.transpose()?.is_some() {}
    eprintln!("autobahn-client: done");
    Ok(())
}

/// `/getCaseCount` answers with the count as a text message, then closes.
async fn case_count(base: &str, config: &Arc<Config>) -> Result<u32> {
    let (mut ws, _) = connect_config(&format!("{base}/getCaseCount"), config.clone()).await?;
    let mut count = None;
    while let Some(event) = ws.recv().await {
        if let Event::Message(Message::Text(t)) = event? {
            count = Some(t.trim().parse::<u32>()?);
        }
    }
    count.ok_or_else(|| "/getCaseCount sent no count".into())
}

/// Echoes every message until the connection is over (after `Event::Closed`, `recv` goes on
/// until the server closed TCP, as a client should: RFC 6455 §7.1.1).
async fn run_case(url: &str, config: &Arc<Config>) -> Result<()> {
    let (mut ws, _) = connect_config(url, config.clone()).await?;
    echo(&mut ws).await
}

async fn echo(ws: &mut WebSocket<ClientStream>) -> Result<()> {
    while let Some(event) = ws.recv().await {
        if let Event::Message(msg) = event? {
            match ws.feed(msg).await {
                // Not allowed any more (closing) or the connection is gone: `recv` tells.
                Ok(()) | Err(Error::Send(_) | Error::ConnectionClosed) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Percent-encodes a query value.
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
