//! # ws-proto: a sans-IO WebSocket core
//!
//! `ws-proto` implements RFC 6455 (handshake, framing, masking, fragmentation, UTF-8, close,
//! ping/pong, limits and timers) without doing any IO, reading any clock or drawing any
//! randomness. Bytes go in through `receive*`, bytes come out through `poll_transmit`, time
//! comes in as `now`, and entropy is injected. Adapters (`ws-tokio`, `ws-async-std`,
//! `ws-blocking`) drive it over real sockets.
//!
//! ## The driving contract
//!
//! After every `receive*`, `send*`, `close`, `fail` and `handle_timeout`:
//!
//! 1. drain [`Connection::poll_event`] until it returns `None`;
//! 2. drain [`Connection::poll_transmit`]: write every [`Transmit::Data`] completely and in
//!    order (writes must be serialized); on [`Transmit::Shutdown`] half-close the write side;
//! 3. re-arm the timer from [`Connection::poll_timeout`].
//!
//! Read only while [`Connection::wants_read`] is true; hand EOF to
//! [`Connection::receive_eof`]; drop the socket once [`Connection::is_terminated`] is true.
//!
//! The core does every protocol duty itself: it answers pings, echoes the peer's close,
//! fails the connection with the right close code, shuts the server's write side first, and
//! checks every size limit from frame headers before buffering a payload.
//!
//! permessage-deflate (RFC 7692) is opt-in on both sides: [`Config::permessage_deflate`] for a
//! client's offer, [`ServerOptions::per_message_deflate`] for a server, with a
//! [`DeflateConfig`]. Backends: `zlib-rs` (feature `zlib-rs`, default: every window size, as
//! Node's zlib) and `miniz_oxide` (feature `miniz`, formerly `deflate`: a 15-bit compressor
//! window only). Compression of large messages can be moved off an async runtime with
//! [`Connection::prepare_compressed`].
//!
//! Client policy that every adapter needs lives here too, without IO: `ClientTarget` turns a
//! URL (`ws`, `wss`, `http(s)`, `ws+unix`) into an `Endpoint` and a [`ClientRequest`], and
//! `RedirectPolicy` decides which redirects to follow and which headers go along (both with
//! feature `url`, on by default); [`ProxyTunnel`] runs an HTTP `CONNECT` exchange,
//! [`PieceCollector`] gathers fragments into [`MessagePieces`], [`linger`] holds the
//! timings for writing a rejection, and [`extension`] parses and formats
//! `Sec-WebSocket-Extensions` values.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use ws_proto::{Config, Connection, Event, Message, Negotiated, Role};
//!
//! let now = Instant::now();
//! let config = Arc::new(Config::default());
//! let mut server = Connection::new(Role::Server, config, Negotiated::default(), None, now);
//! // A masked text frame "Hi" from a client.
//! server.receive(&[0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2]);
//! match server.poll_event(now) {
//!     Some(Event::Message(Message::Text(t))) => assert_eq!(t, "Hi"),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! The guide's "Embedding ws-proto" chapter (`docs/book` in the repository) drives a client
//! and a server over non-blocking `std::net` sockets with this contract, timers included.
//!
//! ## Features
//!
//! - `zlib-rs` (default): permessage-deflate with the zlib-rs backend: every window size
//!   8..=15 in both directions and all of zlib's options (level, memory level, strategy).
//! - `miniz`: permessage-deflate with the miniz_oxide backend (a 15-bit compressor window
//!   only: a server declines offers that need less, a client never offers
//!   `client_max_window_bits`). With both features, zlib-rs is used.
//! - `deflate`: the former name of `miniz`.
//! - `url` (default): URL parsing for clients (`ClientTarget`, `Endpoint`), the redirect
//!   policy (`RedirectPolicy`) and proxy URLs.
//!
//! Without `zlib-rs` and `miniz`, permessage-deflate is never negotiated (a client does not
//! offer it, a server declines offers).
#![forbid(unsafe_code)]

mod assembler;
mod close;
mod codec;
mod config;
mod connection;
mod deflate;
mod error;
mod event;
pub mod extension;
pub mod frame;
pub mod handshake;
mod input;
pub mod linger;
mod mask;
mod pause;
mod pieces;
mod timer;
mod transmit;
mod utf8;

#[cfg(fuzzing)]
pub mod fuzzing;

pub use bytes::{Buf, Bytes};
pub use http;

pub use close::{CloseCode, CloseFrame, CloseInfo, Initiator, MAX_CLOSE_REASON};
pub use codec::PreparedMessage;
pub use config::{Config, Role, DEFAULT_MAX_MESSAGE_SIZE};
pub use connection::{Connection, SendOptions, State};
pub use deflate::{
    Backend, CompressTask, CompressedMessage, DeflateConfig, DeflateParams, MaxWindowBits, NoContextTakeover, Strategy,
};
pub use error::{Error, HandshakeError, ProtocolError, SendError, TimeoutKind};
pub use event::{Event, Fragment, Message, MessageKind};
pub use handshake::client::{ClientHandshake, ClientOutcome, ClientRequest};
pub use handshake::proxy::{HttpProxy, ProxyError, ProxyStatus, ProxyTunnel, MAX_PROXY_HEADERS};
#[cfg(feature = "url")]
pub use handshake::redirect::{Redirect, RedirectError, RedirectPolicy, DEFAULT_MAX_REDIRECTS};
pub use handshake::server::{
    Accept, ClientErrorReply, ExtensionOffer, Refusal, Rejection, ServerHandshake, ServerOptions, UpgradeRequest,
};
#[cfg(feature = "url")]
pub use handshake::target::{ClientTarget, Endpoint, UrlError, UrlErrorKind};
pub use handshake::{accept_key, Negotiated};
pub use mask::{apply_mask, Entropy};
pub use pause::Pause;
pub use pieces::{MessagePieces, PieceCollector};
pub use transmit::{Transmit, TransmitBuf};
pub use utf8::{Utf8Bytes, Utf8Validator};
