//! The Autobahn|Testsuite client driver on any adapter:
//! `AUTOBAHN_URL=ws://127.0.0.1:9001 AUTOBAHN_AGENT=NAME cargo run --release -p ws-conformance
//! [--features zlib-rs] --bin autobahn-client -- [URL] [--adapter NAME]` (the URL argument
//! overrides `AUTOBAHN_URL`; the agent defaults to the adapter's crate name).
//! `scripts/autobahn/client-suite.sh` sets both variables.
//!
//! Asks the fuzzing server for the number of cases (`/getCaseCount`), runs every case
//! (`/runCase?case=N&agent=AGENT`), echoing each message until the server closes, then asks it
//! to write the reports (`/updateReports?agent=AGENT`).

use std::process::ExitCode;

use ws_conformance::{async_peer, blocking_peer, parse_args, Adapter, SuiteUrls};

fn main() -> ExitCode {
    let (adapter, url) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => return fail(&e),
    };
    let env = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
    let base = url.or_else(|| env("AUTOBAHN_URL")).unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = env("AUTOBAHN_AGENT").unwrap_or_else(|| format!("{adapter:?}"));
    let urls = SuiteUrls::new(&base, &agent);
    let result = match adapter {
        Adapter::Tokio | Adapter::TokioCurrentThread => {
            let mut builder = match adapter {
                Adapter::Tokio => tokio::runtime::Builder::new_multi_thread(),
                _ => tokio::runtime::Builder::new_current_thread(),
            };
            match builder.enable_all().build() {
                Ok(rt) => rt.block_on(async_peer::run_client::<ws_tokio::Tokio>(&urls)),
                Err(e) => Err(e.into()),
            }
        }
        Adapter::AsyncStd => async_std::task::block_on(async_peer::run_client::<ws_async_std::AsyncStd>(&urls)),
        Adapter::Smol => smol::block_on(async_peer::run_client::<ws_async_std::AsyncStd>(&urls)),
        Adapter::Blocking => blocking_peer::run_client(&urls, false),
        Adapter::BlockingReactor => blocking_peer::run_client(&urls, true),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("autobahn-client: {message}");
    ExitCode::from(2)
}
