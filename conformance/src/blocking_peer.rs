//! The peers on ws-blocking: a thread per connection, or every connection on a reactor
//! thread (`blocking-reactor`).

use std::error::Error as StdError;
use std::io::{Read, Write};
use std::net::TcpListener;

use ws_blocking::reactor::Reactor;
use ws_blocking::server::Server;
use ws_blocking::{ClientBuilder, ClientStream, Error, Event, Message, WebSocket, WsHandle};

use crate::{client_deflate, config, parse_case_count, server_options, SuiteUrls};

/// Echoes every message until the connection ends.
pub fn echo<S: Read + Write + ws_blocking::Transport>(ws: &mut WebSocket<S>) -> Result<(), Error> {
    while let Some(event) = ws.recv() {
        if let Event::Message(msg) = event? {
            match ws.send(msg) {
                // A message racing the peer's close, or the peer gone: `recv` tells.
                Ok(()) | Err(Error::Send(_) | Error::ConnectionClosed) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A reactor handler echoing every message.
fn echo_handler(ws: &WsHandle, event: std::io::Result<Event>) {
    match event {
        // A message racing the peer's close is refused; the connection tells the rest.
        Ok(Event::Message(msg)) => drop(ws.send(msg)),
        Err(e) => eprintln!("connection: {e}"),
        Ok(_) => {}
    }
}

/// Echoes one case's connection on `reactor` until it is over.
fn echo_on(reactor: &Reactor, ws: WebSocket<ClientStream>) -> Result<(), Box<dyn StdError>> {
    reactor.drive(ws, echo_handler)?.closed();
    Ok(())
}

/// The client driver: every case of the suite at `urls`, then the reports; with `reactor`,
/// each case's connection is driven by a reactor thread.
pub fn run_client(urls: &SuiteUrls, reactor: bool) -> Result<(), Box<dyn StdError>> {
    let count = case_count(urls)?;
    eprintln!("autobahn-client: {count} cases, permessage-deflate backend {}", crate::backend_name());
    let reactor = if reactor { Some(Reactor::new()?) } else { None };
    for case in 1..=count {
        let run = open(&urls.case(case)).and_then(|mut ws| match &reactor {
            Some(reactor) => echo_on(reactor, ws),
            None => Ok(echo(&mut ws)?),
        });
        if let Err(e) = run {
            // The suite's report tells what went wrong; keep going with the next case.
            eprintln!("autobahn-client: case {case}: {e}");
        }
    }
    echo(&mut open(&urls.update_reports())?)?;
    eprintln!("autobahn-client: done");
    Ok(())
}

fn open(url: &str) -> Result<WebSocket<ClientStream>, Box<dyn StdError>> {
    Ok(ClientBuilder::new(url).config(config()).per_message_deflate(Some(client_deflate())).connect()?.0)
}

fn case_count(urls: &SuiteUrls) -> Result<u32, Box<dyn StdError>> {
    let mut ws = open(&urls.case_count())?;
    let mut count = None;
    while let Some(event) = ws.recv() {
        if let Event::Message(Message::Text(t)) = event? {
            count = Some(t.to_string());
        }
    }
    Ok(parse_case_count(count.as_deref())?)
}

/// The echo server: a thread per connection.
pub fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    crate::announce(listener.local_addr()?)?;
    for tcp in listener.incoming() {
        let tcp = match tcp {
            Ok(tcp) => tcp,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            tcp.set_nodelay(true)?;
            match ws_blocking::accept_with(tcp, config(), server_options()) {
                Ok(mut ws) => {
                    if let Err(e) = echo(&mut ws) {
                        eprintln!("connection: {e}");
                    }
                }
                Err(e) => eprintln!("connection: {e}"),
            }
            std::io::Result::Ok(())
        });
    }
    Ok(())
}

/// The echo server on a reactor: `Server::drive_on`, every connection on one thread.
pub fn serve_reactor(port: u16) -> std::io::Result<()> {
    let server = Server::builder()
        .config(config())
        .per_message_deflate(Some(ws_blocking::DeflateConfig::default()))
        .bind("127.0.0.1", port)?;
    let addr = server.local_addr().ok_or_else(|| std::io::Error::other("no address"))?;
    crate::announce(addr)?;
    let reactor = Reactor::new()?;
    loop {
        match server.drive_on(&reactor, |_| echo_handler) {
            Ok(()) => return Ok(()),
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
