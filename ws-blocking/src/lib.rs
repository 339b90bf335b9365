//! # ws-blocking: WebSocket over `std::io` / `std::net`
//!
//! A thin blocking adapter for the sans-IO core [`ws_proto`]: it moves bytes between a stream
//! and a [`Connection`], and everything the protocol requires (answering pings, echoing the
//! peer's close, failing on protocol errors with the right code, limits, keepalive and close
//! timers) happens in the core.
//!
//! ```no_run
//! use ws_blocking::{connect, Event, Message};
//!
//! let (mut ws, _response) = connect("ws://127.0.0.1:9001/")?;
//! ws.send("hello")?;
//! loop {
//!     match ws.read()? {
//!         Event::Message(Message::Text(t)) => println!("{t}"),
//!         Event::Closed(info) => {
//!             println!("closed: {} {}", info.code(), info.reason());
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Server, one thread per connection:
//!
//! ```no_run
//! use std::net::TcpListener;
//! use ws_blocking::{accept, Event};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     let stream = stream?;
//!     std::thread::spawn(move || {
//!         let Ok(mut ws) = accept(stream) else { return };
//!         while let Ok(event) = ws.read() {
//!             match event {
//!                 Event::Message(m) => {
//!                     if ws.send(m).is_err() {
//!                         break;
//!                     }
//!                 }
//!                 Event::Closed(_) => break,
//!                 _ => {}
//!             }
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## The driving loop
//!
//! [`WebSocket::read`] follows the shared adapter loop: fire expired timers; return a pending
//! event (after flushing what producing it queued, so pongs and close echoes go out while the
//! application only reads); flush; stop once the connection is terminated; otherwise read into
//! the connection, or hand it EOF. Sends respect backpressure: above
//! `Config::write_high_water` the queue is flushed (blocking) before more is queued.
//!
//! ## Errors
//!
//! Protocol errors are never `Err`: the peer breaking the protocol, a timeout or an EOF all
//! end in `Event::Closed(info)` with the code and the error. [`Error::Io`] is only a real IO
//! failure, [`Error::Send`] a call not allowed in the connection's state, and
//! [`Error::ConnectionClosed`] a read after the connection ended.
//!
//! ## Timers
//!
//! Keepalive, pong deadline, close and handshake timeouts are honoured through socket read and
//! write timeouts for streams whose [`Transport::TIMEOUTS`] is true (`TcpStream`,
//! `UnixStream`, [`Stream`]). For other streams ([`Plain`]) they only fire when a call finds
//! them expired, never while a call blocks. After [`WebSocket::split`], the [`Reader`] runs the
//! timers, so it must be read.
//!
//! ## TLS
//!
//! With the `rustls` feature (default), [`connect`] and [`dial`] open `wss://` URLs over
//! rustls (`rustls::StreamOwned`, `Stream::Tls`) trusting Mozilla's roots, and
//! `connect_tls` / `dial_tls` take `TlsOptions` (custom CA, client certificate, server name,
//! skipping verification, an identity hook). A TLS stream cannot be split.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod driver;
mod entropy;
mod error;
mod server;
mod split;
#[cfg(feature = "rustls")]
pub mod tls;
mod transport;
mod websocket;

pub use client::{connect, connect_config, connect_with, dial};
#[cfg(feature = "rustls")]
pub use client::{connect_tls, dial_tls};
pub use entropy::OsEntropy;
pub use error::{AcceptError, ConnectError, Error};
pub use server::{accept, accept_hdr, accept_with};
pub use split::{Reader, Writer};
#[cfg(feature = "rustls")]
pub use tls::TlsOptions;
pub use transport::{Plain, Stream, Transport, TryClone};
pub use websocket::WebSocket;

pub use ws_proto;
pub use ws_proto::ClientRequest;
pub use ws_proto::{
    http, Bytes, CloseCode, CloseFrame, CloseInfo, Config, Connection, Event, Fragment, Message, MessageKind,
    SendError, Utf8Bytes,
};
pub use ws_proto::{Accept, Refusal, Rejection, ServerOptions, UpgradeRequest};
