//! # ws-tokio: WebSocket over tokio
//!
//! The tokio binding of the async WebSocket layer [`ws_async`] over the sans-IO core
//! [`ws_proto`]: it names tokio as the runtime ([`Tokio`]: tokio's clock and timer, `spawn`,
//! `spawn_blocking`, TCP and Unix sockets, tokio-rustls) and re-exports the whole API with it
//! filled in, so that `WebSocket<S>` is a WebSocket over any tokio `AsyncRead + AsyncWrite`. Everything the protocol
//! requires (answering pings, echoing the peer's close, failing on protocol errors with the
//! right close code, limits, keepalive and close timers) happens in the core.
//!
//! ```no_run
//! use ws_tokio::{connect, Event, Message};
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
//! [`connect`] takes a URL (`ws://`, `wss://`, `ws+unix://`); [`ClientBuilder`] has the options
//! of Node's `new WebSocket(address, protocols, options)`: subprotocols, origin, headers,
//! redirects, local address, custom connectors, HTTP proxies, TLS settings ([`tls`]) and
//! permessage-deflate (offered by default, as in Node).
//!
//! A whole round trip on 127.0.0.1, an echo server task and a client (this one runs as a
//! test):
//!
//! ```
//! use std::sync::Arc;
//! use ws_tokio::{accept_with, connect, Config, Event, Message, ServerOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("ws://{}/", listener.local_addr()?);
//! tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let mut ws = accept_with(tcp, Arc::new(Config::default()), Arc::new(ServerOptions::default())).await?;
//!     while let Some(Ok(Event::Message(m))) = ws.recv().await {
//!         ws.send(m).await?; // Pings are answered and the close is echoed by the library.
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! let (mut ws, _response) = connect(&url).await?;
//! ws.send("hello").await?;
//! match ws.recv().await {
//!     Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, "hello"),
//!     other => panic!("{other:?}"),
//! }
//! ws.close(1000u16, "done").await?;
//! while let Some(event) = ws.recv().await {
//!     if let Event::Closed(info) = event? {
//!         assert_eq!(info.code().as_u16(), 1000);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A server, one task per connection:
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_tokio::{accept_with, Config, Event, ServerOptions};
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (config, options) = (Arc::new(Config::default()), Arc::new(ServerOptions::default()));
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let (config, options) = (config.clone(), options.clone());
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = accept_with(tcp, config, options).await else { return };
//!         while let Some(Ok(event)) = ws.recv().await {
//!             if let Event::Message(m) = event {
//!                 if ws.send(m).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     });
//! }
//! # }
//! ```
//!
//! ## Ways to drive a connection
//!
//! - [`WebSocket`]: one task receives ([`recv`](WebSocket::recv), or the `Stream` impl) and
//!   sends ([`send`](WebSocket::send), [`feed`](WebSocket::feed), or the `Sink` impl). Pongs
//!   and close echoes are written while the task only receives.
//! - [`WebSocket::split`]: a [`WsReader`] and a [`WsWriter`] for two tasks, sharing the
//!   connection behind a lock that is never held across an `.await`.
//! - [`WebSocket::spawn`]: driver-task mode. One task owns the connection; any number of
//!   [`WsHandle`]s send through a bounded queue and an [`EventReceiver`] gets the events.
//! - [`WsByteStream`]: the connection as `AsyncRead + AsyncWrite` (Node
//!   `createWebSocketStream`).
//!
//! ## The driving loop
//!
//! [`WebSocket::poll_next_event`] follows the loop every adapter shares: fire expired timers;
//! return a pending event (after opportunistically writing what producing it queued); write
//! queued output (vectored when the stream supports it); stop once the connection is
//! terminated; otherwise read into the connection's receive slot, or hand it EOF. Reading
//! happens only when the application asks for the next event and the connection wants input,
//! which bounds buffered input and pushes back on the peer. Sends respect the write
//! high-water mark (`Config::write_high_water`): above it they flush before queuing more, so
//! a peer that does not read bounds this side's memory.
//!
//! ## Errors
//!
//! Protocol errors are never `Err`: the peer breaking the protocol, a timeout or an EOF all
//! end in `Event::Closed(info)` with the close code and the error. `Err` from receiving is an
//! `io::Error` from the stream; [`Error`] from sending is an IO failure, a call not allowed in
//! the connection's state ([`Error::Send`]) or a connection already over.
//!
//! ## Binary representations (Node `binaryType`)
//!
//! A received [`Message`] holds `Bytes` (Node `'nodebuffer'`, zero-copy from the read buffer):
//! [`Message::into_bytes`] gives them for text and binary alike, and
//! `Vec::<u8>::from(message.into_bytes())` a `Vec<u8>` (Node `'arraybuffer'`; no copy when the
//! buffer is not shared). [`WebSocket::recv_pieces`] gives a message as a `Vec<Bytes>` of the
//! frames' buffers, one per frame (Node `'fragments'`), as delivered in fragment mode
//! (`Config::deliver_fragments`), which never joins a message's frames into one buffer.
//!
//! ## Cancel safety
//!
//! Receiving ([`recv`](WebSocket::recv), `StreamExt::next`) is cancel safe: use it in
//! `tokio::select!` freely, no event is lost or duplicated. Sending is all-or-nothing: a
//! cancelled `send` either queued the whole message or nothing. See the table on
//! [`WebSocket`].
//!
//! ## permessage-deflate
//!
//! Offered by a client with `Config::permessage_deflate(Some(DeflateConfig::default()))` and
//! accepted by a server with `ServerOptions::per_message_deflate(Some(..))`. Messages of at
//! least `DeflateConfig::offload_threshold` bytes (64 KiB) that would be compressed are
//! compressed in `spawn_blocking`, at most `DeflateConfig::concurrency_limit` (10) at once per
//! process, so a large message does not stall the runtime; order is kept. See [`offload`].
//! Feature `zlib-rs` (default) selects ws-proto's zlib-rs backend (every window size, Node's
//! offer); feature `miniz` the miniz_oxide one (15-bit compressor window only), used when
//! `zlib-rs` is off.
//!
//! ## Features
//!
//! - `futures` (default): `futures_core::Stream` and `futures_sink::Sink` for [`WebSocket`],
//!   [`WsReader`] / [`WsWriter`] and [`EventReceiver`].
//! - `rustls` (default): `wss://` for [`ClientBuilder`] and [`connect`], and the [`tls`]
//!   module (client [`TlsOptions`](tls::TlsOptions), server helpers
//!   [`server_config_from_pem`](tls::server_config_from_pem) and [`accept_tls`](tls::accept_tls)),
//!   with rustls' `ring` provider.
//! - `server` (default): the [`server`] module, a Node `ws`-style [`Server`](server::Server)
//!   (listener, `verify_client`, client tracking with encode-once broadcast, graceful close).
//! - `zlib-rs` (default): ws-proto's zlib-rs permessage-deflate backend (every window size,
//!   all zlib options).
//! - `miniz`: ws-proto's miniz_oxide backend (15-bit compressor window only), used when
//!   `zlib-rs` is off (`default-features = false`).
//! - `axum`: the [`axum`] module, an axum 0.8 extractor
//!   ([`WebSocketUpgrade`](axum::WebSocketUpgrade)) that answers the upgrade with ws-proto's
//!   handshake rules and hands a [`WebSocket`] to its callback.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate documentation links to the feature-gated modules; without those features the
// links have no target, which is expected there.
#![cfg_attr(not(all(feature = "server", feature = "rustls", feature = "axum")), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod client_stream;
mod runtime;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tls;

pub use client_stream::{AsyncStream, BoxStream, ClientStream, ServerStream};
pub use runtime::{Tokio, TokioSleep};
pub use ws_async;

ws_async::bind_runtime!(Tokio, ClientStream);

/// The addresses of an accepted TCP stream, for the server's `ClientInfo`.
#[cfg(feature = "server")]
pub fn client_info(tcp: &tokio::net::TcpStream) -> server::ClientInfo {
    server::ClientInfo::of_tcp::<Tokio>(tcp)
}
