//! # ws-blocking: WebSocket over `std::io` / `std::net`
//!
//! The blocking adapter for the sans-IO core [`ws_proto`], with the API of the async
//! bindings (`ws-tokio`, `ws-async-std`) spelled the same, minus `async`: a
//! [`ClientBuilder`] (with custom [`Connector`]s), [`connect`] / [`dial`] /
//! [`connect_with`], a Node-style `server::Server`, and [`WebSocket`] with `recv` / `send` /
//! `close`, [`split`](WebSocket::split) halves, driver mode ([`WebSocket::spawn`]: a
//! cloneable [`WsHandle`] and an [`EventReceiver`]) and the byte stream ([`WsByteStream`],
//! Node `createWebSocketStream`). Errors, entropy and TLS options are ws-async's runtime-free
//! pieces, re-exported; URL parsing, redirects, proxies and the server policy are
//! ws-proto's.
//!
//! ```no_run
//! use ws_blocking::{ClientBuilder, Event, Message};
//!
//! let (mut ws, _response) = ClientBuilder::new("ws://127.0.0.1:9001/").connect()?;
//! ws.send("hello")?;
//! while let Some(event) = ws.recv() {
//!     match event? {
//!         Event::Message(Message::Text(t)) => println!("{t}"),
//!         Event::Closed(info) => println!("closed: {} {}", info.code(), info.reason()),
//!         _ => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A server, one thread per connection:
//!
//! ```no_run
//! # #[cfg(feature = "server")] {
//! use ws_blocking::server::Server;
//!
//! let server = Server::builder().path("/echo").bind("127.0.0.1", 9001)?;
//! while let Ok(mut conn) = server.accept() {
//!     std::thread::spawn(move || {
//!         while let Some(Ok(message)) = conn.ws.recv_message() {
//!             if conn.ws.send(message).is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A whole round trip on 127.0.0.1, an echo server thread and a client (this one runs as a
//! test):
//!
//! ```
//! use std::sync::Arc;
//! use ws_blocking::{accept_with, connect, Config, Event, Message, ServerOptions};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/", listener.local_addr()?);
//! let server = std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let (tcp, _) = listener.accept()?;
//!     let mut ws = accept_with(tcp, Arc::new(Config::default()), Arc::new(ServerOptions::default()))?;
//!     while let Some(Ok(Event::Message(m))) = ws.recv() {
//!         ws.send(m)?;
//!     }
//!     Ok(())
//! });
//!
//! let (mut ws, _response) = connect(&url)?;
//! ws.send("hello")?;
//! match ws.recv() {
//!     Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, "hello"),
//!     other => panic!("{other:?}"),
//! }
//! ws.close(1000u16, "done")?;
//! while let Some(event) = ws.recv() {
//!     if let Event::Closed(info) = event? {
//!         assert_eq!(info.code().as_u16(), 1000);
//!     }
//! }
//! server.join().expect("server thread").map_err(|e| e.to_string())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The driving loop
//!
//! [`WebSocket::recv`] follows the loop every adapter shares: fire expired timers; return a
//! pending event (after writing what producing it queued, so pongs and close echoes go out
//! while the application only reads); write queued output; stop once the connection is
//! terminated; otherwise read into the connection (reads sized by `Connection::read_hint`:
//! small while idle, growing under load), or hand it EOF. Sends respect backpressure: above
//! `Config::write_high_water` the queue is flushed (blocking) before more is queued.
//!
//! ## Errors
//!
//! Protocol errors are never `Err`: the peer breaking the protocol, a timeout or an EOF all
//! end in `Event::Closed(info)` with the code and the error. `Err` from receiving is an
//! `io::Error` from the stream; [`Error`] from sending is an IO failure, a call not allowed in
//! the connection's state ([`Error::Send`]) or a connection already over.
//!
//! ## Timers
//!
//! Keepalive, pong deadline, close and handshake timeouts are honoured through socket read and
//! write timeouts for streams whose [`Transport::TIMEOUTS`] is true (`TcpStream`,
//! `UnixStream`, [`Stream`], TLS over them). For other streams ([`Plain`]) they only fire
//! when a call finds them expired. After [`WebSocket::split`], the [`WsReader`] runs the
//! timers, so it must be read. In driver mode the driver thread reads and the connection's
//! flusher thread fires the timers too, so they run while the application is idle.
//!
//! ## Features
//!
//! - `rustls` (default): `wss://`, `tls::TlsOptions`, `tls::TlsStream` and TLS listeners.
//! - `server` (default): the `server` module.
//! - `zlib-rs` (default): ws-proto's zlib-rs permessage-deflate backend (every window size,
//!   all zlib options).
//! - `miniz`: ws-proto's miniz_oxide backend (15-bit compressor window only), used when
//!   `zlib-rs` is off (`default-features = false`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod accept;
mod builder;
mod byte_stream;
mod client;
mod connector;
mod core;
mod driver;
mod handle;
mod proxy;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod reactor;
mod recv;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod split;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tls;
mod transport;
mod unmasked;
mod websocket;

pub use accept::{accept, accept_hdr, accept_with};
pub use builder::ClientBuilder;
pub use byte_stream::{WsByteReader, WsByteStream, WsByteWriter};
pub use client::{connect, connect_config, connect_with, dial};
pub use connector::{Connector, CustomStream};
pub use handle::{EventIntoIter, EventIter, EventReceiver, WsHandle};
pub use split::{Reader, Writer, WsReader, WsWriter};
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use tls::TlsOptions;
pub use transport::{ClientStream, Plain, ServerStream, Stream, Transport, TryClone};
pub use websocket::{ConnectionMut, ConnectionRef, WebSocket};
pub use ws_async::{
    AcceptError, ConnectError, Error, OsEntropy, RedirectAction, RedirectRequest, Target, TrySendError,
};

pub use ws_proto;
pub use ws_proto::extension;
pub use ws_proto::{
    http, Bytes, CloseCode, CloseFrame, CloseInfo, Config, Connection, Event, Fragment, Message, MessageKind,
    MessagePieces, PreparedMessage, SendError, SendOptions, State, Utf8Bytes,
};
pub use ws_proto::{
    Accept, ClientErrorReply, ClientRequest, HandshakeError, Refusal, Rejection, ServerOptions, UpgradeRequest,
};
pub use ws_proto::{Backend, DeflateConfig, DeflateParams, MaxWindowBits, NoContextTakeover, Strategy};
