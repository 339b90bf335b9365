//! Echo server on smol or async-std:
//! `cargo run -p ws-async-std --release --example async-std-echo-server -- [PORT] [--runtime smol|async-std]`
//! (default port 9001, 0 picks a free one; default runtime smol). Listens on 127.0.0.1, one
//! task per connection, and prints `listening on 127.0.0.1:PORT` once ready.
//!
//! Echoes text and binary messages; pings are answered and closes echoed by the library. A text
//! message `close-me:CODE:REASON` makes it close with that code and reason instead (used by
//! the interop tests). Limits suit the Autobahn test suite (messages up to 64 MiB, up to
//! 131 072 fragments). permessage-deflate is accepted with the default settings.
//!
//! The example is named `async-std-echo-server` (file `examples/echo-server.rs`) so that its
//! binary does not overwrite the other adapters' `echo-server` examples in `target/`.

use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;

use futures::io::{AsyncRead, AsyncWrite};
use ws_async_std::{
    accept_with, CloseFrame, Config, DeflateConfig, Error, Event, Message, ServerOptions, ShutdownOnClose,
};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

fn main() -> io::Result<()> {
    let mut port = 9001u16;
    let mut runtime = String::from("smol");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runtime" => runtime = args.next().unwrap_or_default(),
            p => port = p.parse().map_err(|e| invalid(format!("port {p:?}: {e}")))?,
        }
    }
    match runtime.as_str() {
        "smol" => run_smol(port),
        "async-std" => async_std::task::block_on(async {
            let listener = async_std::net::TcpListener::bind(("127.0.0.1", port)).await?;
            announce(listener.local_addr()?)?;
            loop {
                match listener.accept().await {
                    Ok((tcp, _)) => {
                        tcp.set_nodelay(true)?;
                        // async-std's `poll_close` only flushes: the wrapper makes the server's
                        // half-close after the close handshake a real TCP FIN.
                        async_std::task::spawn(connection(ShutdownOnClose::new(tcp)));
                    }
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        }),
        other => Err(invalid(format!("unknown runtime {other:?} (expected smol or async-std)"))),
    }
}

/// smol: an executor run by one thread per core, the accept loop on the main thread.
fn run_smol(port: u16) -> io::Result<()> {
    let ex = Arc::new(smol::Executor::<'static>::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 1..threads {
        let ex = Arc::clone(&ex);
        std::thread::spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())));
    }
    smol::block_on(ex.run(async {
        let listener = smol::net::TcpListener::bind(("127.0.0.1", port)).await?;
        announce(listener.local_addr()?)?;
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tcp.set_nodelay(true)?;
                    let task: Task = Box::pin(connection(tcp));
                    ex.spawn(task).detach();
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    }))
}

fn announce(addr: std::net::SocketAddr) -> io::Result<()> {
    println!("listening on {addr}");
    io::stdout().flush()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Autobahn sends messages up to 16 MiB in up to 65 536 fragments.
fn config() -> Arc<Config> {
    let config = Config::default().max_message_size(Some(64 * 1024 * 1024)).max_fragments(Some(131_072));
    Arc::new(config)
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(io: S) {
    if let Err(e) = echo(io).await {
        eprintln!("connection: {e}");
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> Result<(), Box<dyn std::error::Error>> {
    let options = ServerOptions::default().per_message_deflate(Some(DeflateConfig::default()));
    let mut ws = accept_with(io, config(), Arc::new(options)).await?;
    // `recv` writes what `feed` queued as soon as no further message is buffered, so echoes
    // of back-to-back messages share writes.
    while let Some(event) = ws.recv().await {
        let result = match event? {
            Event::Message(Message::Text(text)) => match close_request(&text) {
                Some(frame) => ws.close_with(Some(frame)).await,
                None => ws.feed(Message::Text(text)).await,
            },
            Event::Message(msg) => ws.feed(msg).await,
            // Keep receiving until the transport is done (the client's close, bounded by the
            // close timeout).
            _ => Ok(()),
        };
        match result {
            // A message racing the peer's close, or an invalid close-me code.
            Ok(()) | Err(Error::Send(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `close-me:CODE:REASON` → the close frame to send.
fn close_request(text: &str) -> Option<CloseFrame> {
    let rest = text.strip_prefix("close-me:")?;
    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
    Some(CloseFrame::new(code.trim().parse::<u16>().ok()?, reason))
}
