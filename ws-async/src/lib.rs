//! # ws-async: the async WebSocket layer, written once
//!
//! Everything between the sans-IO core [`ws_proto`] and an async runtime, written once over a
//! small runtime abstraction ([`runtime`]): [`WebSocket`] (with `Stream`/`Sink`), its
//! [`split`](WebSocket::split) halves, driver mode ([`WebSocket::spawn`], [`WsHandle`],
//! [`EventReceiver`]), the byte stream ([`WsByteStream`]), both opening handshakes, the client
//! builder ([`ClientBuilder`]: redirects, HTTP proxies, custom connectors, TLS options,
//! permessage-deflate offered by default), the Node `ws`-style [`server::Server`], compression
//! offload ([`offload`]), errors, entropy and TLS options ([`tls`]).
//!
//! Applications use it through a binding, which names its runtime and re-exports this crate's
//! API with that runtime filled in: `ws-tokio` (tokio) and `ws-async-std` (async-std and smol).
//! Code written for one binding ports to the other by changing the crate name. The example
//! below uses `ws-tokio`; its crate documentation has one that runs on 127.0.0.1.
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
//! ## The driving loop
//!
//! [`WebSocket::poll_next_event`] follows the loop every adapter shares: fire expired timers;
//! return a pending event (after opportunistically writing what producing it queued); write
//! queued output (vectored when the stream supports it); stop once the connection is
//! terminated; otherwise read into the connection's receive slot (sized by
//! `Connection::read_hint`: small while idle, growing under load), or hand it EOF. Reading
//! happens only when the application asks for the next event and the connection wants input,
//! which bounds buffered input and pushes back on the peer. Sends respect the write
//! high-water mark (`Config::write_high_water`).
//!
//! ## Errors
//!
//! Protocol errors are never `Err`: the peer breaking the protocol, a timeout or an EOF all
//! end in `Event::Closed(info)` with the close code and the error. `Err` from receiving is an
//! `io::Error` from the stream; [`Error`] from sending is an IO failure, a call not allowed in
//! the connection's state ([`Error::Send`]) or a connection already over.
//!
//! ## Writing a binding
//!
//! Implement [`runtime::Runtime`], [`runtime::Io`] for the runtime's streams,
//! [`runtime::Net`] and [`runtime::Custom`] on a zero-sized type, then invoke
//! [`bind_runtime!`] in the crate root. `docs/design/runtime.md` in the repository lists
//! what each piece must do.
//!
//! ## Features
//!
//! - `futures` (default): `futures_core::Stream` and `futures_sink::Sink` impls.
//! - `rustls` (default): TLS options ([`tls`]) and `wss://` in the client builder.
//! - `server` (default): the [`server`] module.
//! - `zlib-rs` (default): ws-proto's zlib-rs permessage-deflate backend (every window size,
//!   all zlib options).
//! - `miniz`: ws-proto's miniz_oxide backend (15-bit compressor window only), used when
//!   `zlib-rs` is off.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate documentation links to the feature-gated modules; without those features the
// links have no target, which is expected there.
#![cfg_attr(not(all(feature = "server", feature = "rustls")), allow(rustdoc::broken_intra_doc_links))]

mod bind;
mod builder_setters;
mod byte_stream;
mod client;
mod client_options;
mod client_stream;
mod connector;
mod driver;
mod entropy;
mod error;
mod handshake;
mod io;
pub mod offload;
mod proxy;
pub mod runtime;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod split;
mod stream;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tls;
mod unmasked;

pub use byte_stream::WsByteStream;
pub use client::{connect, connect_config, dial, ClientBuilder};
pub use client_options::{
    ClientOptions, ConnectPlan, FinishRequest, MaskGenerator, RedirectAction, RedirectHook, RedirectRequest,
};
pub use connector::{ConnectFuture, Connector};
pub use driver::{Driver, EventReceiver, Outbound, WsHandle};
pub use entropy::OsEntropy;
pub use error::{AcceptError, ConnectError, Error, TrySendError};
pub use handshake::{accept_async_with, accept_hdr_with, accept_with, connect_with};
pub use runtime::Target;
pub use split::{ReuniteError, WsReader, WsWriter};
pub use stream::{MessagePieces, WebSocket};

pub use ws_proto;
pub use ws_proto::extension;
// The IO traits `client_stream!` implements, reachable from the bindings' expansions.
#[doc(hidden)]
pub use futures_io;
#[doc(hidden)]
pub use tokio::io as tokio_io;
pub use ws_proto::{
    http, Bytes, CloseCode, CloseFrame, CloseInfo, Config, Connection, Event, Fragment, Message, MessageKind,
    PreparedMessage, SendError, SendOptions, State, Utf8Bytes,
};
pub use ws_proto::{
    Accept, ClientErrorReply, ClientRequest, HandshakeError, Refusal, Rejection, ServerOptions, UpgradeRequest,
};
pub use ws_proto::{Backend, DeflateConfig, DeflateParams, MaxWindowBits, NoContextTakeover, Strategy};
