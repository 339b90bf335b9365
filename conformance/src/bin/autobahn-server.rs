//! The Autobahn|Testsuite echo server on any adapter:
//! `cargo run --release -p ws-conformance [--features zlib-rs] --bin autobahn-server -- [PORT]
//! [--adapter tokio|tokio-current-thread|async-std|smol|blocking|blocking-reactor]` (default port 9001, 0 picks
//! a free one; default adapter tokio). Listens on 127.0.0.1 and prints
//! `listening on 127.0.0.1:PORT` once ready. `scripts/autobahn.sh` runs the suite against it.

use std::process::ExitCode;

use ws_conformance::{async_peer, blocking_peer, parse_args, Adapter};

fn main() -> ExitCode {
    let (adapter, port) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => return fail(&e),
    };
    let port = match port.as_deref().map_or(Ok(9001), str::parse::<u16>) {
        Ok(port) => port,
        Err(e) => return fail(&format!("port: {e}")),
    };
    let result = match adapter {
        Adapter::Tokio => async_peer::serve_tokio(port, false),
        Adapter::TokioCurrentThread => async_peer::serve_tokio(port, true),
        Adapter::AsyncStd => async_peer::serve_async_std(port),
        Adapter::Smol => async_peer::serve_smol(port),
        Adapter::Blocking => blocking_peer::serve(port),
        Adapter::BlockingReactor => blocking_peer::serve_reactor(port),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("autobahn-server: {message}");
    ExitCode::from(2)
}
