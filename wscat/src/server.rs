//! The server (`-l PORT`): ws-tokio's `Server` (plain, or over TLS with `--cert`/`--key`)
//! prints what each client sends and broadcasts input lines to every connected client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use ws_tokio::server::{Server, ServerConnection};
use ws_tokio::tls::rustls::ServerConfig;
use ws_tokio::tls::{accept_tls, TlsAcceptor};
use ws_tokio::{Bytes, Event, Message};

use crate::args::Args;
use crate::command::{self, Command};
use crate::errors::{self, Failure, EXIT_ERROR, EXIT_OK};
use crate::input::{self, Input, Interrupts};
use crate::output::Output;
use crate::{settings, tls};

/// Time allowed for a client's TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the server until Ctrl-C; returns the exit status.
pub async fn run(args: &Args, out: Arc<Output>) -> u8 {
    let mut interrupts = Interrupts::install();
    let (server, addr, secure, mut conns) = match start(args, out.clone()).await {
        Ok(started) => started,
        Err(f) => {
            let status = f.exit_status();
            out.error(f.kind, &f.message, f.extra);
            return status;
        }
    };
    out.listening(addr, secure);
    let file = match args.binary_file.as_deref().map(|p| tls::read_file("--binary-file", p)).transpose() {
        Ok(f) => f.map(Bytes::from),
        Err(f) => {
            out.error(f.kind, &f.message, f.extra);
            return EXIT_ERROR;
        }
    };
    let mut lines = Some(input::start(&out));
    let mut ping = args.ping_interval.map(|d| tokio::time::interval_at(Instant::now() + d, d));
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            Some(conn) = conns.recv() => {
                tasks.spawn(serve_client(conn, out.clone(), args.show_ping_pong, file.clone()));
            }
            line = input::next(&mut lines) => match line {
                Some(Input::Line(line)) => {
                    broadcast(&server, &out, command::parse(&line, args.slash, args.hex)).await;
                }
                Some(Input::Interrupt) => break,
                // The server keeps running without input; Ctrl-C stops it.
                Some(Input::Eof) | None => lines = None,
            },
            _ = input::tick(&mut ping) => broadcast(&server, &out, Command::Ping(Bytes::new())).await,
            _ = interrupts.next() => break,
            _ = out.stdout_closed() => break,
        }
    }
    out.release_terminal();
    for (_, handle) in server.clients().iter() {
        let _ = handle.close_now(1000u16, "");
    }
    let bound = settings::CLOSE_TIMEOUT + Duration::from_secs(1);
    let _ = tokio::time::timeout(bound, server.close()).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async { while tasks.join_next().await.is_some() {} }).await;
    out.status("Server stopped");
    EXIT_OK
}

/// Binds the listener and starts accepting; connections arrive on the returned channel.
async fn start(
    args: &Args,
    out: Arc<Output>,
) -> Result<(Arc<Server>, SocketAddr, bool, mpsc::Receiver<ServerConnection>), Failure> {
    let port = args.listen.unwrap_or(0);
    let tls_config = tls::server_config(args)?;
    let mut builder = Server::builder()
        .per_message_deflate(settings::deflate(args))
        .config(Arc::new(settings::connection_config(args)));
    if !args.subprotocols.is_empty() {
        builder = builder.subprotocols(args.subprotocols.iter().cloned());
    }
    let listen_error =
        |e: std::io::Error| Failure::new("listen", format!("cannot listen on {}:{port}: {e}", args.bind));
    let (tx, rx) = mpsc::channel(16);
    match tls_config {
        None => {
            let server = Arc::new(builder.bind(&args.bind, port).await.map_err(listen_error)?);
            let addr = server.local_addr().ok_or_else(|| Failure::new("listen", "the server has no address"))?;
            tokio::spawn(accept_plain(server.clone(), tx, out));
            Ok((server, addr, false, rx))
        }
        Some(config) => {
            let listener = TcpListener::bind((args.bind.as_str(), port)).await.map_err(listen_error)?;
            let addr = listener.local_addr().map_err(listen_error)?;
            let server = Arc::new(builder.build());
            tokio::spawn(accept_tls_loop(listener, server.clone(), config, tx, out));
            Ok((server, addr, true, rx))
        }
    }
}

/// Hands each connection the server upgraded to `tx`.
async fn accept_plain(server: Arc<Server>, tx: mpsc::Sender<ServerConnection>, out: Arc<Output>) {
    loop {
        match server.accept().await {
            Ok(conn) => {
                if tx.send(conn).await.is_err() {
                    return;
                }
            }
            Err(e) if e.is_closed() => return,
            Err(e) => out.warn(&format!("{e}")),
        }
    }
}

/// Accepts TCP connections, runs TLS and the WebSocket handshake, and hands each
/// connection (tracked by `server`) to `tx`.
async fn accept_tls_loop(
    listener: TcpListener,
    server: Arc<Server>,
    config: Arc<ServerConfig>,
    tx: mpsc::Sender<ServerConnection>,
    out: Arc<Output>,
) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                out.warn(&format!("accepting a connection failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (server, acceptor, tx, out) = (server.clone(), acceptor.clone(), tx.clone(), out.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let info = ws_tokio::client_info(&tcp).with_secure(true);
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, accept_tls(tcp, &acceptor)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return out.warn(&format!("TLS handshake with a client failed: {e}")),
                Err(_) => return out.warn("TLS handshake with a client timed out"),
            };
            if let Ok(accepted) = server.accept_stream(tls, info).await {
                let conn = server.track(accepted.ws, accepted.info, accepted.request);
                let _ = tx.send(conn).await;
            }
        });
    }
}

/// Prints what one client sends until it disconnects; sends it `file` first.
async fn serve_client(mut conn: ServerConnection, out: Arc<Output>, show_ping_pong: bool, file: Option<Bytes>) {
    let id = conn.id.get();
    out.client_connected(id, conn.info.remote, conn.request.uri().path(), conn.protocol.as_deref());
    if let Some(bytes) = file {
        if let Err(e) = conn.handle.send(Message::binary(bytes)).await {
            out.warn(&format!("cannot send the file to client #{id}: {e}"));
        }
    }
    while let Some(event) = conn.events.recv().await {
        match event {
            Ok(Event::Message(msg)) => out.message(Some(id), &msg),
            Ok(Event::Ping(data)) if show_ping_pong => out.control(Some(id), false, &data),
            Ok(Event::Pong(data)) if show_ping_pong => out.control(Some(id), true, &data),
            Ok(Event::Closed(info)) => {
                let error = errors::close_error(&info);
                out.closed(Some(id), errors::shown_code(&info), info.reason(), info.was_clean(), error.as_deref());
            }
            Ok(_) => {}
            Err(e) => out.warn(&format!("connection error with client #{id}: {e}")),
        }
    }
}

/// Carries out an input command for every connected client.
async fn broadcast(server: &Server, out: &Output, cmd: Command) {
    let clients = server.clients();
    if let Command::Invalid(why) = &cmd {
        return out.warn(why);
    }
    if clients.is_empty() {
        if !matches!(cmd, Command::Ping(_)) {
            out.warn("no client is connected: nothing sent");
        }
        return;
    }
    match cmd {
        Command::Send(msg) => {
            let report = clients.broadcast_message(msg);
            if report.dropped > 0 {
                out.warn(&format!("{} slow client(s) skipped the message", report.dropped));
            }
        }
        Command::Ping(data) => {
            for (_, handle) in clients.iter() {
                let _ = handle.ping(data.clone()).await;
            }
        }
        Command::Pong(data) => {
            for (_, handle) in clients.iter() {
                let _ = handle.pong(data.clone()).await;
            }
        }
        Command::Close(code, reason) => {
            for (id, handle) in clients.iter() {
                if let Err(e) = handle.close(code, &reason).await {
                    out.warn(&format!("cannot close client {id} with code {code}: {e}"));
                }
            }
        }
        Command::Invalid(_) => {}
    }
}
