//! # ws-async-std: WebSocket over `futures-io` (async-std and smol)
//!
//! The futures-io binding of the async WebSocket layer [`ws_async`] over the sans-IO core
//! [`ws_proto`]: it names the runtime ([`AsyncStd`]) and re-exports the whole API with it
//! filled in. Streams are anything implementing [`futures_io::AsyncRead`] and
//! [`futures_io::AsyncWrite`], which async-std re-exports as `async_std::io::{Read, Write}` and
//! which smol, `async-net`, `async-io` and `futures-rustls` implement, so **it serves
//! async-std and smol alike**. Timers are `async_io::Timer`s, driven by the reactor both
//! runtimes share; driver mode and the [`server::Server`] spawn on `async-global-executor`,
//! compression offload runs on the `blocking` pool.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052 recommends smol); this crate does not
//! depend on it, and keeps its name for continuity. Its tests run every case on both
//! runtimes.
//!
//! ```no_run
//! use ws_async_std::{connect, Event, Message};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut ws, _response) = connect("ws://127.0.0.1:9001/").await?;
//! ws.send("hello").await?;
//! while let Some(event) = ws.recv().await {
//!     match event? {
//!         Event::Message(Message::Text(t)) => println!("{t}"),
//!         Event::Closed(info) => println!("closed: {} {}", info.code(), info.reason()),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A server on smol, one task per connection (with async-std: `async_std::net::TcpListener`
//! and `async_std::task::spawn`, and wrap each accepted socket in [`ShutdownOnClose`], since
//! async-std's `poll_close` does not half-close TCP):
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_async_std::{accept_with, Config, Event, ServerOptions};
//!
//! # fn main() -> std::io::Result<()> {
//! smol::block_on(async {
//!     let listener = smol::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     let (config, options) = (Arc::new(Config::default()), Arc::new(ServerOptions::default()));
//!     loop {
//!         let (tcp, _) = listener.accept().await?;
//!         let (config, options) = (config.clone(), options.clone());
//!         smol::spawn(async move {
//!             let Ok(mut ws) = accept_with(tcp, config, options).await else { return };
//!             while let Some(Ok(event)) = ws.recv().await {
//!                 if let Event::Message(m) = event {
//!                     if ws.send(m).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             }
//!         })
//!         .detach();
//!     }
//! })
//! # }
//! ```
//!
//! A whole round trip on 127.0.0.1 with smol, an echo server task and a client (this one runs
//! as a test):
//!
//! ```
//! use std::sync::Arc;
//! use ws_async_std::{accept_with, connect, Config, Event, Message, ServerOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("ws://{}/", listener.local_addr()?);
//!     let server = smol::spawn(async move {
//!         let (tcp, _) = listener.accept().await?;
//!         let mut ws = accept_with(tcp, Arc::new(Config::default()), Arc::new(ServerOptions::default())).await?;
//!         while let Some(Ok(Event::Message(m))) = ws.recv().await {
//!             ws.send(m).await?;
//!         }
//!         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//!     });
//!
//!     let (mut ws, _response) = connect(&url).await?;
//!     ws.send("hello").await?;
//!     match ws.recv().await {
//!         Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, "hello"),
//!         other => panic!("{other:?}"),
//!     }
//!     ws.close(1000u16, "done").await?;
//!     while let Some(event) = ws.recv().await {
//!         if let Event::Closed(info) = event? {
//!             assert_eq!(info.code().as_u16(), 1000);
//!         }
//!     }
//!     server.await.map_err(|e| e.to_string())?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## Ways to drive a connection
//!
//! - [`WebSocket`]: one task receives ([`recv`](WebSocket::recv), or `Stream`) and sends
//!   ([`send`](WebSocket::send), [`feed`](WebSocket::feed), or `Sink`). Pongs and close echoes
//!   are written while the task only receives.
//! - [`WebSocket::split`]: a [`WsReader`] and a [`WsWriter`] for two tasks, sharing the
//!   connection behind a lock that is never held across an `.await`.
//! - [`WebSocket::spawn`]: driver mode. One task owns the connection; cloneable
//!   [`WsHandle`]s send through a bounded queue and an [`EventReceiver`] gets the events.
//!   [`WebSocket::into_driver`] hands out the [`Driver`] future to run on an executor of your
//!   choice instead.
//! - [`ClientBuilder`]: every Node client option (subprotocols, headers, redirects, HTTP
//!   proxies, custom connectors, TLS options, permessage-deflate offered by default), and
//!   [`server::Server`], a Node-style server with client tracking and broadcast.
//! - [`WsByteStream`]: the connection as `AsyncRead + AsyncWrite` (Node
//!   `createWebSocketStream`).
//!
//! ## The driving loop
//!
//! [`WebSocket::poll_next_event`] runs the loop all adapters share: fire expired timers;
//! return a ready event (after opportunistically writing what producing it queued); write
//! queued output (vectored where the stream supports it); stop once the connection is
//! terminated; otherwise read into the connection's receive slot, or hand it EOF. Reading
//! happens only while the application asks for events and the connection wants input, which
//! bounds buffered input and pushes back on the peer. Sends respect the write high-water mark
//! (`Config::write_high_water`): above it they flush before queuing more, so a peer that does
//! not read bounds this side's memory.
//!
//! ## Errors
//!
//! Protocol errors are never `Err`: a peer breaking the protocol, a timeout or an EOF end in
//! `Event::Closed(info)` with the close code and the cause. `Err` from receiving is an
//! `io::Error` of the stream; [`Error`] from sending is an IO failure, a call the
//! connection's state does not allow ([`Error::Send`]), or a connection already over.
//!
//! ## Cancel safety
//!
//! Receiving ([`recv`](WebSocket::recv), `StreamExt::next`) is cancel safe: use it in
//! `futures::select!` freely, no event is lost or duplicated. Sending is all or nothing: a
//! cancelled `send` queued the whole message or nothing. The table is on [`WebSocket`].
//!
//! ## Features
//!
//! - `futures` (default): `Stream`/`Sink` impls.
//! - `rustls` (default): `wss://` in [`connect`] and [`ClientBuilder`] through `futures-rustls`
//!   (ring provider, Mozilla's roots), with [`tls::TlsOptions`] (custom roots from PEM, client
//!   certificates, a server name, verification off for tests, a whole `rustls::ClientConfig`),
//!   and [`tls::accept_tls`] to serve `wss://`.
//! - `server` (default): the [`server`] module.
//! - `zlib-rs` (default): ws-proto's zlib-rs permessage-deflate backend (every window size,
//!   all zlib options).
//! - `miniz`: ws-proto's miniz_oxide backend (15-bit compressor window only), used when
//!   `zlib-rs` is off (`default-features = false`).
//!
//! ## async-std sockets
//!
//! async-std's `TcpStream` and `UnixStream` (like `async_io::Async<std::net::TcpStream>`) only
//! flush in `poll_close`; they do not half-close. Wrap them in [`ShutdownOnClose`] (async-std
//! feature `io_safety`) so that a server closes TCP first after the close handshake, as RFC
//! 6455 §7.1.1 wants; otherwise both peers wait for their close timeout. smol's `async-net`
//! streams, and [`connect`]'s, need no wrapper.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate documentation links to the feature-gated modules; without those features the
// links have no target, which is expected there.
#![cfg_attr(not(all(feature = "server", feature = "rustls")), allow(rustdoc::broken_intra_doc_links))]

mod client_stream;
mod runtime;
mod shutdown;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tls;

pub use client_stream::{AsyncStream, BoxStream, ClientStream, ServerStream};
pub use runtime::{AsyncIoSleep, AsyncStd};
pub use shutdown::ShutdownOnClose;
pub use ws_async;

ws_async::bind_runtime!(AsyncStd, ClientStream);

/// The addresses of an accepted TCP stream, for the server's `ClientInfo`.
#[cfg(feature = "server")]
pub fn client_info(tcp: &async_net::TcpStream) -> server::ClientInfo {
    server::ClientInfo::of_tcp::<AsyncStd>(tcp)
}
