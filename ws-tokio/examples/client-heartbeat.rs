//! Client heartbeat (Node `ws` example "How to detect and close broken connections?", client
//! side): notice that the server vanished without a TCP close.
//!
//! Node's client arms a timer on `open` and on every server `ping`, and terminates when it
//! fires (the server pings every 30 s, so 30 s plus a margin of silence means it is gone).
//! Here `Config::keep_alive` does it inside the connection: after `idle` without receiving
//! anything the client pings, and if nothing comes back within `pong_timeout` the connection
//! fails (sending 1011) and `recv` returns `Event::Closed` with the timeout error. Pings from the server count as traffic and
//! are answered automatically. No timer to reset by hand.
//!
//! `cargo run -p ws-tokio --example client-heartbeat -- [PORT] [IDLE_SECS]` connects to
//! `ws://127.0.0.1:PORT/` (defaults 8080, 30), e.g. the `server-heartbeat` example.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ws_tokio::{ClientBuilder, Config, Event};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(8080), |p| p.parse()).map_err(io::Error::other)?;
    let idle: u64 = args.next().map_or(Ok(30), |s| s.parse()).map_err(io::Error::other)?;
    let mut config = Config::default();
    // 30 s of silence → ping; no answer within 10 s → the server is gone.
    config = config.keep_alive(Some(Duration::from_secs(idle)), Some(Duration::from_secs(idle.div_ceil(3))));
    let (mut ws, _) = ClientBuilder::new(format!("ws://127.0.0.1:{port}/")).config(Arc::new(config)).connect().await?;
    println!("connected");
    while let Some(event) = ws.recv().await {
        match event? {
            Event::Ping(_) => println!("ping from the server (answered)"),
            Event::Pong(_) => println!("pong: the server is alive"),
            Event::Message(msg) => println!("message: {msg:?}"),
            Event::Closed(info) => println!("closed: {} {:?}", info.code(), info.error),
            _ => {}
        }
    }
    Ok(())
}
