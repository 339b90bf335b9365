//! The peers on the async adapters: one implementation over `ws_async`'s runtime types, and
//! the accept loop of each runtime.

use std::error::Error as StdError;
use std::io;

use ws_async::runtime::{Io, Net};
use ws_async::{ClientBuilder, Error, Event, Message, WebSocket};

use crate::{client_deflate, config, parse_case_count, server_options, SuiteUrls};

/// Echoes every message until the connection ends (the peer's close is echoed by the
/// library; the loop then waits for the transport to end, bounded by the close timeout).
pub async fn echo<S, R: Io<S>>(mut ws: WebSocket<S, R>) -> Result<(), Error> {
    while let Some(event) = ws.recv().await {
        if let Event::Message(msg) = event? {
            // `recv` writes what `feed` queued once no further message is buffered, so echoes
            // of back-to-back messages share writes.
            match ws.feed(msg).await {
                // A message racing the peer's close, or the peer gone: `recv` tells.
                Ok(()) | Err(Error::Send(_) | Error::ConnectionClosed) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The client driver: every case of the suite at `urls`, then the reports.
pub async fn run_client<R: Net>(urls: &SuiteUrls) -> Result<(), Box<dyn StdError>> {
    let count = case_count::<R>(urls).await?;
    eprintln!("autobahn-client: {count} cases, permessage-deflate backend {}", crate::backend_name());
    for case in 1..=count {
        let result = match open::<R>(&urls.case(case)).await {
            Ok(ws) => echo(ws).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The suite's report tells what went wrong; keep going with the next case.
            eprintln!("autobahn-client: case {case}: {e}");
        }
    }
    echo(open::<R>(&urls.update_reports()).await?).await?;
    eprintln!("autobahn-client: done");
    Ok(())
}

async fn open<R: Net>(url: &str) -> Result<WebSocket<R::ClientStream, R>, Error> {
    let builder = ClientBuilder::<R>::new(url).config(config()).per_message_deflate(Some(client_deflate()));
    Ok(builder.connect().await.map_err(|e| Error::Io(io::Error::other(e)))?.0)
}

async fn case_count<R: Net>(urls: &SuiteUrls) -> Result<u32, Box<dyn StdError>> {
    let mut ws = open::<R>(&urls.case_count()).await?;
    let mut count = None;
    while let Some(event) = ws.recv().await {
        if let Event::Message(Message::Text(t)) = event? {
            count = Some(t.to_string());
        }
    }
    Ok(parse_case_count(count.as_deref())?)
}

/// The echo server on tokio (multi-thread, or current-thread when `current_thread`).
pub fn serve_tokio(port: u16, current_thread: bool) -> io::Result<()> {
    let mut builder = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        crate::announce(listener.local_addr()?)?;
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            tcp.set_nodelay(true)?;
            tokio::spawn(connection(ws_tokio::accept_with(tcp, config(), server_options())));
        }
    })
}

/// The echo server on smol: an executor run by one thread per core.
pub fn serve_smol(port: u16) -> io::Result<()> {
    let ex = std::sync::Arc::new(smol::Executor::<'static>::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 1..threads {
        let ex = ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())));
    }
    smol::block_on(ex.run(async {
        let listener = smol::net::TcpListener::bind(("127.0.0.1", port)).await?;
        crate::announce(listener.local_addr()?)?;
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tcp.set_nodelay(true)?;
                    ex.spawn(connection(ws_async_std::accept_with(tcp, config(), server_options()))).detach();
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    }))
}

/// The echo server on async-std.
pub fn serve_async_std(port: u16) -> io::Result<()> {
    async_std::task::block_on(async {
        let listener = async_std::net::TcpListener::bind(("127.0.0.1", port)).await?;
        crate::announce(listener.local_addr()?)?;
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tcp.set_nodelay(true)?;
                    // async-std's `poll_close` only flushes: the wrapper makes the server's
                    // half-close after the close handshake a real TCP FIN.
                    let io = ws_async_std::ShutdownOnClose::new(tcp);
                    async_std::task::spawn(connection(ws_async_std::accept_with(io, config(), server_options())));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
}

/// One server connection: the handshake, then [`echo`].
async fn connection<S, R: Io<S>>(
    accept: impl std::future::Future<Output = Result<WebSocket<S, R>, ws_async::AcceptError>>,
) {
    let result = match accept.await {
        Ok(ws) => echo(ws).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        eprintln!("connection: {e}");
    }
}
