//! permessage-deflate (RFC 7692): configuration, the negotiated parameters, the per-direction
//! compression state and the backends behind one small internal trait.
//!
//! - [`DeflateConfig`] is what an endpoint offers (client, [`Config::permessage_deflate`]) or
//!   accepts (server, [`ServerOptions::per_message_deflate`]), plus its local compression
//!   settings.
//! - [`DeflateParams`] is what the handshake agreed, in [`Negotiated::deflate`].
//! - [`Backend`] names the compression library. `miniz_oxide` (feature `deflate`, default)
//!   compresses with a 15-bit window only; `zlib-rs` (feature `zlib-rs`) honours every window
//!   size. Both decompress any window.
//! - [`CompressTask`] and [`CompressedMessage`] let an adapter compress a large message off its
//!   async runtime (Node's `concurrencyLimit`; see [`Connection::prepare_compressed`]).
//!
//! The design, the negotiation tables and the memory costs are in `docs/design/deflate.md`.
//!
//! [`Config::permessage_deflate`]: crate::Config::permessage_deflate
//! [`ServerOptions::per_message_deflate`]: crate::ServerOptions::per_message_deflate
//! [`Negotiated::deflate`]: crate::Negotiated::deflate
//! [`Connection::prepare_compressed`]: crate::Connection::prepare_compressed

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes};

use crate::config::Role;
use crate::error::ProtocolError;
use crate::event::MessageKind;

#[cfg(feature = "miniz")]
mod miniz;
pub(crate) mod params;
#[cfg(feature = "zlib-rs")]
mod zlib;

/// The four octets a sync flush ends with, stripped from every compressed message by the
/// sender and appended again by the receiver (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Largest piece of inflated output handed out at once in fragment-delivery mode, and the
/// smallest growth step of an assembled message's buffer.
pub(crate) const INFLATE_CHUNK: usize = 32 * 1024;

/// A compression library. Only the compiled ones exist as variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `miniz_oxide` (feature `deflate`): compresses with a 15-bit window only, so it declines
    /// offers that need a smaller server window and never offers `client_max_window_bits`.
    #[cfg(feature = "miniz")]
    MinizOxide,
    /// `zlib-rs` (feature `zlib-rs`): compresses with any window of 8 to 15 bits (8 as zlib
    /// does: a 9-bit window whose matches stay within 256 bytes).
    #[cfg(feature = "zlib-rs")]
    ZlibRs,
}

impl Backend {
    /// The backend used unless [`DeflateConfig::backend`] picks another: zlib-rs when compiled,
    /// else miniz_oxide, else none (then nothing is offered or accepted).
    pub fn preferred() -> Option<Self> {
        Self::available().first().copied()
    }

    /// The compiled backends, preferred first.
    pub fn available() -> &'static [Self] {
        &[
            #[cfg(feature = "zlib-rs")]
            Self::ZlibRs,
            #[cfg(feature = "miniz")]
            Self::MinizOxide,
        ]
    }

    /// The smallest compressor window (in bits) this backend honours: 15 for miniz_oxide, 8 for
    /// zlib-rs.
    pub fn min_window_bits(self) -> u8 {
        match self {
            #[cfg(feature = "miniz")]
            Self::MinizOxide => 15,
            #[cfg(feature = "zlib-rs")]
            Self::ZlibRs => 8,
        }
    }

    /// The library's crate name.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "miniz")]
            Self::MinizOxide => "miniz_oxide",
            #[cfg(feature = "zlib-rs")]
            Self::ZlibRs => "zlib-rs",
        }
    }

    #[cfg_attr(not(feature = "zlib-rs"), allow(unused_variables))]
    fn compressor(self, key: &DeflateKey) -> Box<dyn Compress> {
        match self {
            #[cfg(feature = "miniz")]
            Self::MinizOxide => Box::new(miniz::MinizCompressor::new(key.level, key.strategy)),
            #[cfg(feature = "zlib-rs")]
            Self::ZlibRs => {
                Box::new(zlib::ZlibCompressor::new(key.level, key.mem_level, key.window_bits, key.strategy))
            }
        }
    }

    /// A decompressor for a peer compressing with at most `window_bits` (miniz_oxide keeps a
    /// 32 KiB dictionary whatever the window).
    #[cfg_attr(not(feature = "zlib-rs"), allow(unused_variables))]
    fn decompressor(self, window_bits: u8) -> Box<dyn Decompress> {
        match self {
            #[cfg(feature = "miniz")]
            Self::MinizOxide => Box::new(miniz::MinizDecompressor::new()),
            #[cfg(feature = "zlib-rs")]
            Self::ZlibRs => Box::new(zlib::ZlibDecompressor::new(window_bits)),
        }
    }
}

/// A `*_no_context_takeover` setting: Node `ws`'s `serverNoContextTakeover` /
/// `clientNoContextTakeover`, whose three states are `false`, not set, and `true`.
///
/// `From<bool>` and `From<Option<bool>>` follow Node: `false` is [`Never`](Self::Never),
/// `true` is [`Requested`](Self::Requested), `None` (Node: not set) is
/// [`Allowed`](Self::Allowed), the default. What each state does per role and parameter is in
/// the table on [`DeflateConfig`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NoContextTakeover {
    /// Node `false`: refused where the peer could impose it. A server declines offers that ask
    /// for `server_no_context_takeover`; a client fails the handshake when the response asks it
    /// for `client_no_context_takeover`.
    Never,
    /// Not set (the default): not asked for, agreed to when the peer asks.
    #[default]
    Allowed,
    /// Node `true`: asked for. A client offers it; a server states it in every response (and
    /// the side it concerns resets its compressor after every message).
    Requested,
}

impl NoContextTakeover {
    /// Whether this is [`Requested`](Self::Requested) (Node `true`).
    pub fn is_requested(self) -> bool {
        self == Self::Requested
    }
}

impl From<bool> for NoContextTakeover {
    /// Node's booleans: `true` asks for it, `false` refuses it.
    fn from(on: bool) -> Self {
        if on {
            Self::Requested
        } else {
            Self::Never
        }
    }
}

impl From<Option<bool>> for NoContextTakeover {
    /// `None` is Node's "not set" ([`Allowed`](Self::Allowed)).
    fn from(on: Option<bool>) -> Self {
        on.map_or(Self::Allowed, Self::from)
    }
}

/// A `*_max_window_bits` setting: Node `ws`'s `serverMaxWindowBits` / `clientMaxWindowBits`,
/// whose states are `false`, `true` (or not set) and a number of bits.
///
/// `From<u8>` and `From<Option<u8>>` give [`Bits`](Self::Bits) (`None`:
/// [`Any`](Self::Any), the default); `From<bool>` follows Node (`false`:
/// [`Never`](Self::Never), `true`: [`Any`](Self::Any)). What each state does per role and
/// parameter is in the table on [`DeflateConfig`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MaxWindowBits {
    /// Node `false`: the parameter is never used. A server declines offers that carry
    /// `server_max_window_bits`, and never sends `client_max_window_bits`; a client never
    /// offers `client_max_window_bits` (so a response with it fails the handshake).
    Never,
    /// Node `true` or not set (the default): whatever the peer asks for within 8..=15 is
    /// accepted; a client offers a bare `client_max_window_bits` (when its backend can shrink
    /// its window, see [`Backend::min_window_bits`]).
    #[default]
    Any,
    /// Node a number: that window, 8..=15 bits (clamped). A server compresses with at most
    /// that (`server_*`) or asks the client for it and declines offers that do not allow it
    /// (`client_*`); a client asks the server for it (`server_*`) or compresses with it
    /// (`client_*`).
    Bits(u8),
}

impl MaxWindowBits {
    /// The number of bits of [`Bits`](Self::Bits), else `None`.
    pub fn bits(self) -> Option<u8> {
        match self {
            Self::Bits(b) => Some(b),
            Self::Never | Self::Any => None,
        }
    }

    fn clamped(self) -> Self {
        match self {
            Self::Bits(b) => Self::Bits(b.clamp(8, 15)),
            other => other,
        }
    }
}

impl From<u8> for MaxWindowBits {
    fn from(bits: u8) -> Self {
        Self::Bits(bits)
    }
}

impl From<Option<u8>> for MaxWindowBits {
    /// `None` is Node's "not set" ([`Any`](Self::Any)).
    fn from(bits: Option<u8>) -> Self {
        bits.map_or(Self::Any, Self::Bits)
    }
}

impl From<bool> for MaxWindowBits {
    /// Node's booleans: `true` accepts any window, `false` never uses the parameter.
    fn from(on: bool) -> Self {
        if on {
            Self::Any
        } else {
            Self::Never
        }
    }
}

/// zlib's compression strategy (Node `zlibDeflateOptions.strategy`). Both backends honour
/// every strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `Z_DEFAULT_STRATEGY`: matches and Huffman coding (the default).
    #[default]
    Default,
    /// `Z_FILTERED`: favours Huffman coding over short matches (data from a filter).
    Filtered,
    /// `Z_HUFFMAN_ONLY`: no matches, Huffman coding only.
    HuffmanOnly,
    /// `Z_RLE`: matches at distance 1 only (run lengths); fast, good for image-like data.
    Rle,
    /// `Z_FIXED`: fixed Huffman codes only.
    Fixed,
}

/// permessage-deflate settings (Node `ws`'s `perMessageDeflate` object): what a client offers
/// ([`Config::permessage_deflate`](crate::Config::permessage_deflate)) or a server accepts
/// ([`ServerOptions::per_message_deflate`](crate::ServerOptions::per_message_deflate)), and how
/// this endpoint compresses and decompresses (Node's `zlibDeflateOptions` and
/// `zlibInflateOptions`).
///
/// Builder methods take and return `self`:
/// `DeflateConfig::default().client_no_context_takeover(true).threshold(256)`.
///
/// ## The negotiation parameters (Node's three states)
///
/// Each takes what Node takes: `bool`, a number of bits, or `None` / `Option` for "not set"
/// ([`NoContextTakeover`], [`MaxWindowBits`]).
///
/// | setting | state | client (offer, response check) | server (accepting an offer) |
/// |---|---|---|---|
/// | [`server_no_context_takeover`](Self::server_no_context_takeover) | not set (default) | not offered; accepted in a response | done when the offer asks |
/// | | `true` | offered, and required in the response | always done and stated |
/// | | `false` | not offered; accepted in a response (the server resetting costs the client nothing; Node does not check either) | offers asking for it are declined |
/// | [`client_no_context_takeover`](Self::client_no_context_takeover) | not set (default) | not offered; done when the response asks | echoed when the offer has it (the client resets anyway) |
/// | | `true` | offered, and done | asked of the client in every response |
/// | | `false` | a response asking for it fails the handshake | as not set (the client's own choice is echoed, as Node does) |
/// | [`server_max_window_bits`](Self::server_max_window_bits) | not set / `true` (default) | not offered; any value accepted | the offer's value (window raised to what the backend can do, else the offer is declined) |
/// | | `N` | `server_max_window_bits=N` offered; a response without it or above N fails | compresses with at most N bits and says so; an offer asking for less gets its value |
/// | | `false` | not offered; any value accepted | offers carrying it are declined |
/// | [`client_max_window_bits`](Self::client_max_window_bits) | not set / `true` (default) | bare `client_max_window_bits` offered (zlib-rs; miniz_oxide cannot shrink its window and offers nothing) | the offer's value echoed, if it had one |
/// | | `N` | `client_max_window_bits=N` offered (zlib-rs); a larger response fails | asked of the client (at least 9); offers without the parameter are declined |
/// | | `false` | not offered; a response with it fails | never sent (the client compresses with 15 bits) |
///
/// An offer the server declines leaves the next offer to be tried; when none is acceptable the
/// connection opens without compression (RFC 7692 §5), or, with
/// [`reject_unacceptable_offers`](Self::reject_unacceptable_offers), the handshake is refused
/// with 400 as Node `ws` does. One difference from Node: a server configured with
/// `server_max_window_bits(N)` accepts an offer that asks for less than N (compressing with the
/// smaller window) where Node declines it.
///
/// ## Local settings
///
/// | setting | default | Node `ws` | zlib-rs | miniz_oxide |
/// |---|---|---|---|---|
/// | [`compression_level`](Self::compression_level) | 6 | `zlibDeflateOptions.level` | yes | yes |
/// | [`memory_level`](Self::memory_level) | 8 | `zlibDeflateOptions.memLevel` | yes | ignored (fixed buffers) |
/// | [`strategy`](Self::strategy) | [`Strategy::Default`] | `zlibDeflateOptions.strategy` | yes | yes |
/// | [`deflate_chunk_size`](Self::deflate_chunk_size) | adaptive | `zlibDeflateOptions.chunkSize` | yes | yes |
/// | [`inflate_chunk_size`](Self::inflate_chunk_size) | 32 KiB | `zlibInflateOptions.chunkSize` | yes | yes |
/// | [`inflate_window_bits`](Self::inflate_window_bits) | `None` (15) | `zlibInflateOptions.windowBits` | negotiated; the peer is held to it | negotiated |
/// | [`threshold`](Self::threshold) | 1024 bytes | `threshold` | messages shorter than this are sent uncompressed | |
/// | [`offload_threshold`](Self::offload_threshold) | 64 KiB | — | adapters compress larger messages off the async runtime | |
/// | [`concurrency_limit`](Self::concurrency_limit) | 10 | `concurrencyLimit` | adapters run at most this many offloaded compressions at once | |
/// | [`backend`](Self::backend) | [`Backend::preferred`] | — | | |
///
/// zlib's `windowBits` for compressing is not a local setting here (nor in Node, which
/// overrides it): the compressor uses the window agreed for this side, see
/// `*_max_window_bits`. The decompressor's window is the one agreed for the peer (15 when
/// none); [`inflate_window_bits`](Self::inflate_window_bits) makes the negotiation ask for a
/// smaller one. Neither backend allocates less for a smaller decompressor window (both keep
/// 32 KiB); zlib-rs fails a message that reaches further back than the agreed window (1007).
///
/// A window smaller than the backend can compress with ([`Backend::min_window_bits`]) is only
/// a preference for this endpoint's own compressor and is raised to what the backend can do;
/// when the *peer* requires such a window, the server declines that offer and the client does
/// not offer it.
///
/// ## Memory per connection
///
/// Each direction costs memory only while it has state: the compressor exists once a
/// compressed message was sent, the decompressor once one was received. With
/// `*_no_context_takeover` in a direction, its state is freed after every message (an idle
/// connection then costs nothing for it, and each compressed message allocates it afresh).
///
/// | state | miniz_oxide | zlib-rs |
/// |---|---|---|
/// | compressor | 311 KiB, whatever the settings | 2^(w+2) + 7·2^(memLevel+6) + 128 KiB + 3 KiB: 371 KiB at w = 15 and memLevel 8 (the defaults), 259 KiB at w = 12, 245 KiB at w = 9; 260 KiB at w = 15 and memLevel 1, 134 KiB at w = 9 and memLevel 1; 483 KiB at memLevel 9 |
/// | decompressor | 42 KiB (any window) | 46 KiB (any window) |
///
/// (`w` is the compressor's window: this endpoint's `*_max_window_bits`, 9 for 8.) Measured
/// with a counting allocator; the server's and the client's costs are the same per direction.
///
/// Plus, while a compressed message is received, its inflated bytes: one buffer of at most
/// `max_message_size` + 1 bytes (it grows by half, at least by the inflate chunk size), or in
/// fragment-delivery mode one such buffer per frame. See `docs/design/deflate.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    pub(crate) server_no_context_takeover: NoContextTakeover,
    pub(crate) client_no_context_takeover: NoContextTakeover,
    pub(crate) server_max_window_bits: MaxWindowBits,
    pub(crate) client_max_window_bits: MaxWindowBits,
    pub(crate) reject_unacceptable: bool,
    pub(crate) level: u8,
    pub(crate) mem_level: u8,
    pub(crate) strategy: Strategy,
    pub(crate) deflate_chunk: Option<usize>,
    pub(crate) inflate_chunk: usize,
    pub(crate) inflate_window_bits: Option<u8>,
    pub(crate) threshold: usize,
    pub(crate) offload_threshold: Option<usize>,
    pub(crate) concurrency_limit: usize,
    pub(crate) backend: Option<Backend>,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: NoContextTakeover::Allowed,
            client_no_context_takeover: NoContextTakeover::Allowed,
            server_max_window_bits: MaxWindowBits::Any,
            client_max_window_bits: MaxWindowBits::Any,
            reject_unacceptable: false,
            level: 6,
            mem_level: 8,
            strategy: Strategy::Default,
            deflate_chunk: None,
            inflate_chunk: INFLATE_CHUNK,
            inflate_window_bits: None,
            threshold: 1024,
            offload_threshold: Some(64 * 1024),
            concurrency_limit: 10,
            backend: None,
        }
    }
}

/// The smallest chunk size zlib accepts (`Z_MIN_CHUNK`).
const MIN_CHUNK: usize = 64;

impl DeflateConfig {
    /// The defaults (see the tables above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Node `serverNoContextTakeover`: `true`, `false` or `None` (not set, the default); see
    /// [`NoContextTakeover`] and the table above. Server: `true` resets the compressor after
    /// every message (always done when the client asks), `false` declines offers asking for
    /// it. Client: `true` asks the server to reset. Saves the peer's decompressor history and
    /// the resetting side's compressor memory between messages; costs compression ratio.
    pub fn server_no_context_takeover(mut self, setting: impl Into<NoContextTakeover>) -> Self {
        self.server_no_context_takeover = setting.into();
        self
    }

    /// Node `clientNoContextTakeover`: `true`, `false` or `None` (not set, the default); see
    /// [`NoContextTakeover`]. Client: `true` resets the compressor after every message and
    /// says so, `false` fails the handshake if the server asks for it. Server: `true` asks the
    /// client to reset.
    pub fn client_no_context_takeover(mut self, setting: impl Into<NoContextTakeover>) -> Self {
        self.client_no_context_takeover = setting.into();
        self
    }

    /// Node `serverMaxWindowBits`: a number of bits 8..=15 (clamped), `true` / `None` (any,
    /// the default) or `false` (never); see [`MaxWindowBits`]. Server: compress with a window
    /// of at most N bits and tell the client; `false` declines offers that carry the
    /// parameter. Client: ask the server for at most N bits.
    pub fn server_max_window_bits(mut self, setting: impl Into<MaxWindowBits>) -> Self {
        self.server_max_window_bits = setting.into().clamped();
        self
    }

    /// Node `clientMaxWindowBits`: a number of bits 8..=15 (clamped), `true` / `None` (any,
    /// the default) or `false` (never); see [`MaxWindowBits`]. Client: compress with a window
    /// of at most N bits and tell the server (only with a backend that can, see
    /// [`Backend::min_window_bits`]); `false` offers nothing and refuses a limit. Server: ask
    /// the client for N bits (at least 9: zlib-based clients cannot compress with 8),
    /// declining offers that do not allow it (as Node `ws`); `false` never asks.
    pub fn client_max_window_bits(mut self, setting: impl Into<MaxWindowBits>) -> Self {
        self.client_max_window_bits = setting.into().clamped();
        self
    }

    /// Server: when no permessage-deflate offer can be accepted, refuse the handshake with 400
    /// (Node `ws`: "Invalid or unacceptable Sec-WebSocket-Extensions header") instead of
    /// opening the connection without compression (the default, RFC 7692 §5).
    pub fn reject_unacceptable_offers(mut self, on: bool) -> Self {
        self.reject_unacceptable = on;
        self
    }

    /// Compression level 0 (stored, no compression) to 9 (best); default 6 (Node
    /// `zlibDeflateOptions.level`). Both backends.
    pub fn compression_level(mut self, level: u8) -> Self {
        self.level = level.min(9);
        self
    }

    /// zlib's `memLevel` 1..=9 (default 8, Node `zlibDeflateOptions.memLevel`): the size of
    /// the compressor's symbol buffers. zlib-rs only; miniz_oxide's are fixed and it ignores
    /// this. Lower saves memory, costs ratio and speed.
    pub fn memory_level(mut self, level: u8) -> Self {
        self.mem_level = level.clamp(1, 9);
        self
    }

    /// zlib's compression strategy (Node `zlibDeflateOptions.strategy`); both backends.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The compressor's output buffer step (Node `zlibDeflateOptions.chunkSize`): a
    /// compressed message starts with a buffer of this many bytes and grows by at least as
    /// much. `None` (the default): adaptive, a quarter of the message (64 bytes to 256 KiB),
    /// growing by at least 1 KiB. At least 64 (zlib's minimum). Both backends.
    pub fn deflate_chunk_size(mut self, bytes: Option<usize>) -> Self {
        self.deflate_chunk = bytes.map(|b| b.max(MIN_CHUNK));
        self
    }

    /// The decompressor's output step (Node `zlibInflateOptions.chunkSize`): a compressed
    /// message's (or, in fragment-delivery mode, frame's) inflated buffer grows by at least
    /// this many bytes at a time, and by half its size when that is more. Default 32 KiB; at
    /// least 64 (zlib's minimum). Both backends.
    pub fn inflate_chunk_size(mut self, bytes: usize) -> Self {
        self.inflate_chunk = bytes.max(MIN_CHUNK);
        self
    }

    /// The largest window the decompressor needs (Node `zlibInflateOptions.windowBits`),
    /// 8..=15 (clamped); `None` (the default): 15.
    ///
    /// The peer decides its compressor's window, so a smaller decompressor window is only safe
    /// when the peer agreed to it: with `Some(n)` below 15 a server asks for
    /// `client_max_window_bits` of at most `n` (declining offers that do not allow it, as with
    /// [`client_max_window_bits`](Self::client_max_window_bits)), and a client offers
    /// `server_max_window_bits` of at most `n` (as with
    /// [`server_max_window_bits`](Self::server_max_window_bits)); the smaller of the two
    /// settings wins. Whatever this says, the decompressor's window is the one agreed for the
    /// peer (15 when none): zlib-rs fails a message reaching further back (1007), miniz_oxide
    /// accepts any distance. Both keep a 32 KiB window in memory whatever its size (zlib-rs
    /// 0.6 allocates the largest one), so this saves memory on the peer's side only.
    pub fn inflate_window_bits(mut self, bits: Option<u8>) -> Self {
        self.inflate_window_bits = bits.map(|b| b.clamp(8, 15));
        self
    }

    /// Messages shorter than this many bytes are sent uncompressed (default 1024, Node
    /// `threshold`). For a message sent in parts, the first part's length decides for the
    /// whole message.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// A hint for adapters: compress messages of at least this many bytes off the async
    /// runtime (e.g. `spawn_blocking`) through [`Connection::prepare_compressed`]; `None`:
    /// always compress inline. The core itself never reads it. Default 64 KiB.
    ///
    /// [`Connection::prepare_compressed`]: crate::Connection::prepare_compressed
    pub fn offload_threshold(mut self, bytes: Option<usize>) -> Self {
        self.offload_threshold = bytes;
        self
    }

    /// A hint for adapters: at most this many offloaded compressions at once per process
    /// (Node `concurrencyLimit`, default 10); further ones wait. At least 1.
    pub fn concurrency_limit(mut self, n: usize) -> Self {
        self.concurrency_limit = n.max(1);
        self
    }

    /// The compression library, when several are compiled (default:
    /// [`Backend::preferred`]).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The backend in use: the chosen one, else [`Backend::preferred`]; `None` when no
    /// backend is compiled.
    pub fn get_backend(&self) -> Option<Backend> {
        self.backend.or_else(Backend::preferred)
    }

    /// Whether `server_no_context_takeover` is requested (Node `true`); see
    /// [`server_no_context_takeover_setting`](Self::server_no_context_takeover_setting) for
    /// the three states.
    pub fn get_server_no_context_takeover(&self) -> bool {
        self.server_no_context_takeover.is_requested()
    }

    /// Whether `client_no_context_takeover` is requested (Node `true`); see
    /// [`client_no_context_takeover_setting`](Self::client_no_context_takeover_setting).
    pub fn get_client_no_context_takeover(&self) -> bool {
        self.client_no_context_takeover.is_requested()
    }

    /// The configured `server_max_window_bits` when it is a number; see
    /// [`server_max_window_bits_setting`](Self::server_max_window_bits_setting).
    pub fn get_server_max_window_bits(&self) -> Option<u8> {
        self.server_max_window_bits.bits()
    }

    /// The configured `client_max_window_bits` when it is a number; see
    /// [`client_max_window_bits_setting`](Self::client_max_window_bits_setting).
    pub fn get_client_max_window_bits(&self) -> Option<u8> {
        self.client_max_window_bits.bits()
    }

    /// The `server_no_context_takeover` setting, all three states.
    pub fn server_no_context_takeover_setting(&self) -> NoContextTakeover {
        self.server_no_context_takeover
    }

    /// The `client_no_context_takeover` setting, all three states.
    pub fn client_no_context_takeover_setting(&self) -> NoContextTakeover {
        self.client_no_context_takeover
    }

    /// The `server_max_window_bits` setting, all three states.
    pub fn server_max_window_bits_setting(&self) -> MaxWindowBits {
        self.server_max_window_bits
    }

    /// The `client_max_window_bits` setting, all three states.
    pub fn client_max_window_bits_setting(&self) -> MaxWindowBits {
        self.client_max_window_bits
    }

    /// Whether a server refuses the handshake when no offer is acceptable.
    pub fn get_reject_unacceptable_offers(&self) -> bool {
        self.reject_unacceptable
    }

    /// The compression level.
    pub fn get_compression_level(&self) -> u8 {
        self.level
    }

    /// The memory level.
    pub fn get_memory_level(&self) -> u8 {
        self.mem_level
    }

    /// The compression strategy.
    pub fn get_strategy(&self) -> Strategy {
        self.strategy
    }

    /// The compressor's output step, `None` when adaptive.
    pub fn get_deflate_chunk_size(&self) -> Option<usize> {
        self.deflate_chunk
    }

    /// The decompressor's output step.
    pub fn get_inflate_chunk_size(&self) -> usize {
        self.inflate_chunk
    }

    /// The largest decompressor window asked for, `None` for 15.
    pub fn get_inflate_window_bits(&self) -> Option<u8> {
        self.inflate_window_bits
    }

    /// The compression threshold in bytes.
    pub fn get_threshold(&self) -> usize {
        self.threshold
    }

    /// The offload threshold hint.
    pub fn get_offload_threshold(&self) -> Option<usize> {
        self.offload_threshold
    }

    /// The concurrency limit hint.
    pub fn get_concurrency_limit(&self) -> usize {
        self.concurrency_limit
    }

    /// The `server_max_window_bits` this endpoint works with: the setting, tightened by
    /// [`inflate_window_bits`](Self::inflate_window_bits) for a client (the server's window is
    /// the client's decompressor window).
    pub(crate) fn effective_server_window(&self, role: Role) -> MaxWindowBits {
        tighten(self.server_max_window_bits, (role == Role::Client).then_some(self.inflate_window_bits).flatten())
    }

    /// The `client_max_window_bits` this endpoint works with: the setting, tightened by
    /// [`inflate_window_bits`](Self::inflate_window_bits) for a server.
    pub(crate) fn effective_client_window(&self, role: Role) -> MaxWindowBits {
        tighten(self.client_max_window_bits, (role == Role::Server).then_some(self.inflate_window_bits).flatten())
    }

    /// Client: the `Sec-WebSocket-Extensions` value to offer, `None` without a backend.
    pub(crate) fn offer(&self) -> Option<String> {
        let backend = self.get_backend()?;
        Some(params::client_offer(self, backend.min_window_bits()))
    }
}

/// A window setting limited to `limit` bits (a decompressor window below 15).
fn tighten(setting: MaxWindowBits, limit: Option<u8>) -> MaxWindowBits {
    match (setting, limit.filter(|&l| l < 15)) {
        (s, None) => s,
        (MaxWindowBits::Bits(b), Some(l)) => MaxWindowBits::Bits(b.min(l)),
        (MaxWindowBits::Any | MaxWindowBits::Never, Some(l)) => MaxWindowBits::Bits(l),
    }
}

/// The permessage-deflate parameters a handshake agreed on (the response's values).
///
/// `None` window sizes mean the parameter was absent (a 15-bit window). Which side resets and
/// which window applies to whom follows RFC 7692: `server_*` constrain the server's
/// compressor, `client_*` the client's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with a window of at most this many bits.
    pub server_max_window_bits: Option<u8>,
    /// The client compresses with a window of at most this many bits.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` response value, e.g.
    /// `permessage-deflate; client_no_context_takeover; server_max_window_bits=10`.
    pub fn header_value(&self) -> String {
        params::format_response(self)
    }
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header_value())
    }
}

// ------------------------------------------------------------------------ the backend trait

/// How far one decompression call got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) consumed: usize,
    pub(crate) written: usize,
    /// A block with BFINAL ended the deflate stream.
    pub(crate) stream_end: bool,
}

/// A raw-deflate compressor.
pub(crate) trait Compress: Send {
    /// Compresses all of `input` and sync-flushes, appending to `out` (the output ends with
    /// `00 00 ff ff`), which grows by at least `step` bytes at a time. `Err` leaves the
    /// compressor unusable.
    fn compress_sync(&mut self, input: &[u8], out: &mut Vec<u8>, step: usize) -> Result<(), ()>;
}

/// A raw-deflate decompressor.
pub(crate) trait Decompress: Send {
    /// Decompresses from `input` into `out`. No progress with input left means more output
    /// space is needed, or more input when `input` is empty. `Err`: corrupt data.
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, ()>;
    /// Starts a new stream, forgetting the window.
    fn reset(&mut self);
}

/// Makes zero-filled room at the end of `out` (at least `step` bytes, or 1 KiB when `step` is
/// smaller and the buffer grows geometrically) and extends `out` over it; the caller truncates
/// to what it wrote.
#[cfg_attr(not(any(feature = "miniz", feature = "zlib-rs")), allow(dead_code))]
fn grow_spare(out: &mut Vec<u8>, step: usize) {
    if out.capacity() - out.len() < step.clamp(1, 1024) {
        out.reserve(out.len().max(step).max(1024));
    }
    out.resize(out.capacity(), 0);
}

/// Compresses a whole message or a part of one; strips the tail when `fin`. `chunk`: the
/// output step (`None`: adaptive).
fn compress_bytes(c: &mut dyn Compress, input: &[u8], fin: bool, chunk: Option<usize>) -> Result<Bytes, ()> {
    let initial = chunk.unwrap_or_else(|| (input.len() / 4).clamp(64, 256 * 1024));
    let mut out = Vec::with_capacity(initial);
    c.compress_sync(input, &mut out, chunk.unwrap_or(4096))?;
    if fin {
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else if out.is_empty() {
            // Nothing to flush (zlib skips a flush that repeats the previous one, e.g. an empty
            // last part): the stream is byte-aligned after the previous flush, so the header
            // byte of an empty stored block completes the message with the receiver's tail.
            out.push(0x00);
        }
    }
    if out.capacity() - out.len() > out.len() / 4 + 4096 {
        out.shrink_to_fit();
    }
    Ok(Bytes::from(out))
}

// ------------------------------------------------------------------------ send direction

/// What a compressed payload depends on (the cache key of a `PreparedMessage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeflateKey {
    backend: Backend,
    level: u8,
    mem_level: u8,
    window_bits: u8,
    strategy: Strategy,
}

/// A payload compressed once for every connection with the same [`DeflateKey`] and no
/// context takeover.
pub(crate) type DeflateCache = Arc<OnceLock<(DeflateKey, Bytes)>>;

/// The sending half: this endpoint's compressor and its settings.
pub(crate) struct Deflater {
    config: DeflateConfig,
    key: DeflateKey,
    /// False when the agreed window is smaller than the backend can honour (only possible with
    /// hand-made parameters): every message then goes uncompressed, which is always allowed.
    enabled: bool,
    /// Reset (here: drop) the compressor after every message.
    no_context_takeover: bool,
    /// Created on first use; `None` while lent to a [`CompressTask`], after a
    /// no-context-takeover message, or after a failure.
    compressor: Option<Box<dyn Compress>>,
    /// Held by tasks and results in flight: identity, and "busy" while shared.
    token: Arc<()>,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("key", &self.key)
            .field("enabled", &self.enabled)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("allocated", &self.compressor.is_some())
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// The local settings.
    pub(crate) fn config(&self) -> &DeflateConfig {
        &self.config
    }

    /// Whether a message (or first part) of `len` bytes is compressed.
    pub(crate) fn would_compress(&self, len: usize) -> bool {
        self.enabled && len >= self.config.threshold
    }

    /// A [`CompressTask`] or its result is in flight: data sends must wait.
    pub(crate) fn is_busy(&self) -> bool {
        Arc::strong_count(&self.token) > 1
    }

    /// Whether `token` belongs to this connection.
    pub(crate) fn owns(&self, token: &Arc<()>) -> bool {
        Arc::ptr_eq(&self.token, token)
    }

    fn take_compressor(&mut self) -> Box<dyn Compress> {
        let key = self.key;
        self.compressor.take().unwrap_or_else(|| key.backend.compressor(&key))
    }

    /// Compresses a whole message (tail stripped); `None` when the compressor failed, in
    /// which case the message must go uncompressed (the next one starts a fresh compressor,
    /// which a peer always accepts).
    pub(crate) fn compress_message(&mut self, payload: &[u8]) -> Option<Bytes> {
        self.compress_part(payload, true)
    }

    /// Compresses one part of a message streamed with sync flushes; `fin` ends the message.
    pub(crate) fn compress_part(&mut self, data: &[u8], fin: bool) -> Option<Bytes> {
        let mut c = self.take_compressor();
        let r = compress_bytes(&mut *c, data, fin, self.config.deflate_chunk).ok();
        if r.is_some() && !(fin && self.no_context_takeover) {
            self.compressor = Some(c);
        }
        r
    }

    /// The compressed payload of a prepared message: shared through `cache` without context
    /// takeover, compressed per connection with it (its bytes depend on the history).
    pub(crate) fn compress_prepared(&mut self, payload: &[u8], cache: &DeflateCache) -> Option<Bytes> {
        if !self.no_context_takeover {
            return self.compress_message(payload);
        }
        if let Some((key, bytes)) = cache.get() {
            if *key == self.key {
                return Some(bytes.clone());
            }
        }
        let bytes = self.compress_message(payload)?;
        let _ = cache.set((self.key, bytes.clone()));
        Some(bytes)
    }

    /// Lends the compressor (when `compress`) to a task run elsewhere.
    pub(crate) fn lend(&mut self, kind: MessageKind, payload: Bytes, compress: bool) -> CompressTask {
        let job = compress.then(|| Job {
            compressor: self.take_compressor(),
            reset_after: self.no_context_takeover,
            chunk: self.config.deflate_chunk,
        });
        CompressTask { kind, payload, job, token: Some(self.token.clone()) }
    }

    /// Takes back the compressor of a finished task.
    pub(crate) fn restore(&mut self, compressor: Option<Box<dyn Compress>>) {
        self.compressor = compressor;
    }
}

struct Job {
    compressor: Box<dyn Compress>,
    reset_after: bool,
    chunk: Option<usize>,
}

/// The compression of one message, moved out of its [`Connection`](crate::Connection) so
/// that an adapter can run it elsewhere (e.g. in `spawn_blocking`). `Send + 'static`.
///
/// Obtained from [`Connection::prepare_compressed`](crate::Connection::prepare_compressed);
/// [`run`](Self::run) it, then hand the result to
/// [`Connection::send_compressed`](crate::Connection::send_compressed). Until then the
/// connection refuses other data messages (`SendError::CompressionPending`), which keeps
/// messages in order; control frames still go out. If the task or its result is dropped, the
/// connection carries on with a fresh compressor (peers accept that at any time).
pub struct CompressTask {
    kind: MessageKind,
    payload: Bytes,
    /// `None`: the message goes uncompressed (below the threshold, not negotiated, or the
    /// caller asked so).
    job: Option<Job>,
    token: Option<Arc<()>>,
}

impl fmt::Debug for CompressTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompressTask")
            .field("kind", &self.kind)
            .field("len", &self.payload.len())
            .field("compresses", &self.job.is_some())
            .finish()
    }
}

impl CompressTask {
    /// A task for a connection without compression: `run` passes the payload through.
    pub(crate) fn passthrough(kind: MessageKind, payload: Bytes) -> Self {
        Self { kind, payload, job: None, token: None }
    }

    /// The uncompressed payload length.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Whether `run` compresses (otherwise it is instant and not worth offloading).
    pub fn compresses(&self) -> bool {
        self.job.is_some()
    }

    /// Compresses the message: CPU-bound, proportional to its length, no IO.
    pub fn run(self) -> CompressedMessage {
        let Self { kind, payload, job, token } = self;
        let (data, compressed, compressor) = match job {
            None => (payload, false, None),
            Some(Job { mut compressor, reset_after, chunk }) => {
                match compress_bytes(&mut *compressor, &payload, true, chunk) {
                    Ok(data) => (data, true, (!reset_after).then_some(compressor)),
                    // Sent uncompressed; the connection starts a fresh compressor next time.
                    Err(()) => (payload, false, None),
                }
            }
        };
        CompressedMessage { kind, data, compressed, compressor, token }
    }
}

/// The result of [`CompressTask::run`], to pass to
/// [`Connection::send_compressed`](crate::Connection::send_compressed) of the same connection.
pub struct CompressedMessage {
    pub(crate) kind: MessageKind,
    pub(crate) data: Bytes,
    pub(crate) compressed: bool,
    pub(crate) compressor: Option<Box<dyn Compress>>,
    pub(crate) token: Option<Arc<()>>,
}

impl fmt::Debug for CompressedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompressedMessage")
            .field("kind", &self.kind)
            .field("len", &self.data.len())
            .field("compressed", &self.compressed)
            .finish()
    }
}

impl CompressedMessage {
    /// The payload as it goes on the wire (compressed or not).
    pub fn wire_len(&self) -> usize {
        self.data.len()
    }

    /// Whether the payload was compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }
}

// ------------------------------------------------------------------------ receive direction

/// The receiving half: inflates compressed messages with a bounded output.
pub(crate) struct Inflater {
    backend: Backend,
    /// Created on first use; dropped after each message when the peer does not take context
    /// over (so an idle connection holds none).
    state: Option<Box<dyn Decompress>>,
    reset_each_message: bool,
    /// The peer's largest compressor window: the decompressor's window.
    window_bits: u8,
    /// The least growth of an inflated buffer (`inflate_chunk_size`).
    chunk: usize,
    /// Compressed bytes not yet consumed.
    input: Bytes,
    /// Bytes of [`TAIL`] still to feed (4 once the message's last bytes are queued).
    tail: usize,
    /// The last step filled its output: more output may be pending.
    out_full: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("backend", &self.backend)
            .field("allocated", &self.state.is_some())
            .field("reset_each_message", &self.reset_each_message)
            .field("window_bits", &self.window_bits)
            .field("pending", &self.input.len())
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater with a 15-bit window and the default chunk size.
    pub(crate) fn new(backend: Backend, reset_each_message: bool) -> Self {
        Self {
            backend,
            state: None,
            reset_each_message,
            window_bits: 15,
            chunk: INFLATE_CHUNK,
            input: Bytes::new(),
            tail: 0,
            out_full: false,
        }
    }

    /// The peer compresses with at most `bits` (8..=15; 9 is used for 8, which covers it).
    pub(crate) fn window_bits(mut self, bits: u8) -> Self {
        self.window_bits = bits.clamp(9, 15);
        self
    }

    /// The least growth step of an inflated buffer.
    pub(crate) fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk = bytes.max(1);
        self
    }

    /// The least growth step of an inflated buffer.
    pub(crate) fn chunk(&self) -> usize {
        self.chunk
    }

    /// Queues compressed bytes of the current message; `fin`: they end it. Call when drained.
    pub(crate) fn push(&mut self, data: Bytes, fin: bool) {
        debug_assert!(self.is_drained());
        self.input = data;
        self.tail = if fin { TAIL.len() } else { 0 };
        self.out_full = false;
    }

    /// All queued input is consumed and all output handed out.
    pub(crate) fn is_drained(&self) -> bool {
        self.input.is_empty() && self.tail == 0 && !self.out_full
    }

    /// Inflates queued input into `out`, returning the bytes written (0 when drained).
    pub(crate) fn step(&mut self, out: &mut [u8]) -> Result<usize, ProtocolError> {
        let (backend, window_bits) = (self.backend, self.window_bits);
        let dec = self.state.get_or_insert_with(|| backend.decompressor(window_bits));
        let mut written = 0;
        loop {
            let Some(room) = out.get_mut(written..).filter(|r| !r.is_empty()) else {
                self.out_full = true;
                return Ok(written);
            };
            let from_tail = self.input.is_empty();
            let input: &[u8] =
                if from_tail { TAIL.get(TAIL.len() - self.tail..).unwrap_or_default() } else { &self.input };
            let p = dec.decompress(input, room).map_err(|()| ProtocolError::InflateFailed)?;
            let consumed = p.consumed.min(input.len());
            let produced = p.written.min(room.len());
            let had_input = !input.is_empty();
            if from_tail {
                self.tail -= consumed;
            } else {
                self.input.advance(consumed);
            }
            written += produced;
            if p.stream_end {
                // A final block ended the deflate stream (RFC 7692 §7.2.3.4): what follows
                // starts a new one. If only (part of) the appended tail is left, drop it.
                dec.reset();
                if self.input.is_empty() {
                    self.tail = 0;
                }
                continue;
            }
            if consumed == 0 && produced == 0 {
                if had_input {
                    // Input left and room for output, yet no progress: corrupt.
                    return Err(ProtocolError::InflateFailed);
                }
                self.out_full = false;
                return Ok(written);
            }
        }
    }

    /// The current message was fully inflated.
    pub(crate) fn end_message(&mut self) {
        if self.reset_each_message {
            self.state = None;
        }
    }
}

/// The two halves for a connection of `role` that agreed on `params`, with the local
/// settings `local`; `None` without a backend.
#[cfg_attr(not(any(feature = "miniz", feature = "zlib-rs")), allow(unreachable_code, unused_variables))]
pub(crate) fn setup(role: Role, params: &DeflateParams, local: &DeflateConfig) -> Option<(Deflater, Inflater)> {
    let backend = local.get_backend()?;
    let m = backend.min_window_bits();
    let (own_nct, agreed, preferred, peer_nct, peer_window) = match role {
        Role::Server => (
            params.server_no_context_takeover || local.server_no_context_takeover.is_requested(),
            params.server_max_window_bits,
            local.server_max_window_bits.bits(),
            params.client_no_context_takeover,
            params.client_max_window_bits,
        ),
        Role::Client => (
            params.client_no_context_takeover || local.client_no_context_takeover.is_requested(),
            params.client_max_window_bits,
            local.client_max_window_bits.bits(),
            params.server_no_context_takeover,
            params.server_max_window_bits,
        ),
    };
    // The agreed bound must be honoured; the local preference is raised to what the backend
    // can do.
    let enabled = agreed.map_or(true, |a| a >= m);
    let window_bits = agreed.unwrap_or(15).min(preferred.unwrap_or(15).max(m)).clamp(8, 15);
    let key =
        DeflateKey { backend, level: local.level, mem_level: local.mem_level, window_bits, strategy: local.strategy };
    let deflater = Deflater {
        config: local.clone(),
        key,
        enabled,
        no_context_takeover: own_nct,
        compressor: None,
        token: Arc::new(()),
    };
    let inflater =
        Inflater::new(backend, peer_nct).window_bits(peer_window.unwrap_or(15)).chunk_size(local.inflate_chunk);
    Some((deflater, inflater))
}

#[cfg(all(test, any(feature = "miniz", feature = "zlib-rs")))]
pub(crate) mod tests {
    use proptest::prelude::*;
    use proptest::strategy::Strategy;

    use super::*;

    /// A deflate bit writer (LSB-first fields, MSB-first Huffman codes), for hand-made streams.
    #[derive(Default)]
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl Bits {
        fn put(&mut self, value: u32, bits: u32) {
            self.acc |= u64::from(value) << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }

        fn code(&mut self, code: u32, len: u32) {
            let rev = code.reverse_bits() >> (32 - len);
            self.put(rev, len);
        }

        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.out.push(self.acc as u8);
            }
            self.out
        }
    }

    /// A deflate bomb: one dynamic block in which a literal 0 is followed by matches of 258
    /// bytes at distance 1 coded in one bit each (a length code and a distance code), so each
    /// of the `zero_bytes` zero bytes that follow the header inflates to 1032 zeros.
    pub(crate) fn bomb(zero_bytes: usize) -> Vec<u8> {
        let mut b = Bits::default();
        b.put(0, 1); // BFINAL = 0
        b.put(2, 2); // BTYPE = dynamic
        b.put(286 - 257, 5); // HLIT: literal/length codes 0..=285
        b.put(2 - 1, 5); // HDIST: distance codes 0 and 1
        b.put(18 - 4, 4); // HCLEN: code length codes up to "1" in the permuted order
                          // Code length code lengths in the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1:
                          // 18 -> 1 bit ("0"), 1 and 2 -> 2 bits ("10", "11").
        for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
            b.put(len, 3);
        }
        let (one, two, zeros) = ((0b10, 2), (0b11, 2), (0b0, 1));
        b.code(two.0, two.1); // literal 0: length 2
        b.code(zeros.0, zeros.1); // 138 zeros
        b.put(138 - 11, 7);
        b.code(zeros.0, zeros.1); // 117 zeros (literals 1..=255)
        b.put(117 - 11, 7);
        b.code(two.0, two.1); // 256 (end of block): length 2
        b.code(zeros.0, zeros.1); // 28 zeros (257..=284)
        b.put(28 - 11, 7);
        b.code(one.0, one.1); // 285 (length 258): length 1
        b.code(one.0, one.1); // distance 0 (distance 1): length 1
        b.code(one.0, one.1); // distance 1 (distance 2): length 1
                              // Literal/length codes: 285 -> "0", 0 -> "10", 256 -> "11"; distances: 0 -> "0".
        b.code(0b10, 2); // the literal 0
        let mut out = b.finish();
        // Every further zero bit pair is <length 258, distance 1>.
        out.resize(out.len() + zero_bytes, 0);
        out
    }

    /// Inflates a whole message with `inf`, output in pieces of `chunk` bytes.
    fn inflate(inf: &mut Inflater, data: &[u8], chunk: usize) -> Result<Vec<u8>, ProtocolError> {
        inf.push(Bytes::copy_from_slice(data), true);
        let mut out = Vec::new();
        while !inf.is_drained() {
            let mut buf = vec![0; chunk];
            let n = inf.step(&mut buf)?;
            out.extend_from_slice(&buf[..n]);
        }
        inf.end_message();
        Ok(out)
    }

    fn deflater(backend: Backend, level: u8, window_bits: u8, nct: bool) -> Deflater {
        let local = DeflateConfig::default().compression_level(level).backend(backend);
        let p = DeflateParams {
            server_no_context_takeover: nct,
            server_max_window_bits: (window_bits < 15).then_some(window_bits),
            ..DeflateParams::default()
        };
        setup(Role::Server, &p, &local).expect("backend").0
    }

    #[test]
    fn rfc7692_examples() {
        for &b in Backend::available() {
            let mut inf = Inflater::new(b, false);
            // §7.2.3.1: "Hello" in one compressed block.
            assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 64).unwrap(), b"Hello");
            // §7.2.3.2: the same message again, with context takeover.
            assert_eq!(inflate(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00], 64).unwrap(), b"Hello");
            // §7.2.3.3: a stored block.
            let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
            assert_eq!(inflate(&mut inf, &stored, 64).unwrap(), b"Hello");
            // §7.2.3.4: a block with BFINAL, then a new stream for the next message.
            let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
            assert_eq!(inflate(&mut inf, &bfinal, 64).unwrap(), b"Hello");
            assert_eq!(inflate(&mut inf, &bfinal[..7], 64).unwrap(), b"Hello", "without the trailing empty block");
            assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 1).unwrap(), b"Hello");
            // §7.2.3.5 (two frames): the inflater is fed piece by piece.
            inf.push(Bytes::from_static(&[0xf2, 0x48]), false);
            let mut buf = [0u8; 16];
            let mut got = Vec::new();
            while !inf.is_drained() {
                let n = inf.step(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            inf.push(Bytes::from_static(&[0xcd, 0xc9, 0xc9, 0x07, 0x00]), true);
            while !inf.is_drained() {
                let n = inf.step(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"Hello");
            // §7.2.3.6: an empty message is a single 0x00.
            assert_eq!(inflate(&mut inf, &[0x00], 8).unwrap(), b"");
        }
    }

    /// Incompressible messages whose last block is emitted within the final 258 bytes of
    /// input: miniz_oxide stages that block and stops early when it does not fit the output,
    /// and the sync flush must still be completed (found by Autobahn 12.2.9 and 12.5.10 with
    /// the miniz_oxide backend: echoes 247 and 101 bytes short). The lengths trigger it with
    /// miniz_oxide 0.9 at level 6.
    #[test]
    fn incompressible_messages_ending_near_a_block_boundary() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..80_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let sixteen: Vec<u8> = random.iter().map(|b| b % 16).collect();
        let cases: [&[u8]; 4] = [&random[..31_773], &random[..31_870], &random[..31_967], &sixteen[..72_998]];
        for &b in Backend::available() {
            for (i, msg) in cases.iter().enumerate() {
                let mut d = deflater(b, 6, 15, true);
                let wire = d.compress_message(msg).unwrap();
                let mut inf = Inflater::new(b, true);
                let got = inflate(&mut inf, &wire, 32 * 1024).unwrap();
                assert!(got == *msg, "{b:?}, case {i}: {} bytes inflated to {}", msg.len(), got.len());
            }
        }
    }

    #[test]
    fn compressing_hello_strips_the_tail() {
        for &b in Backend::available() {
            for nct in [false, true] {
                let mut d = deflater(b, 6, 15, nct);
                let first = d.compress_message(b"Hello").unwrap();
                assert!(!first.ends_with(&TAIL), "{b:?}: {first:x?}");
                let second = d.compress_message(b"Hello").unwrap();
                let mut inf = Inflater::new(b, nct);
                assert_eq!(inflate(&mut inf, &first, 3).unwrap(), b"Hello");
                assert_eq!(inflate(&mut inf, &second, 3).unwrap(), b"Hello");
                if nct {
                    assert_eq!(first, second, "{b:?}: without context takeover every message stands alone");
                    assert!(d.compressor.is_none(), "the compressor is freed after each message");
                } else {
                    assert!(second.len() < first.len(), "{b:?}: the second refers to the first");
                }
                let empty = d.compress_message(b"").unwrap();
                assert_eq!(inflate(&mut inf, &empty, 3).unwrap(), b"");
            }
        }
    }

    /// An empty last part (or empty message) after a flush still ends the message properly,
    /// although zlib produces nothing for a repeated flush.
    #[test]
    fn empty_parts_and_messages() {
        for &b in Backend::available() {
            for nct in [false, true] {
                let mut d = deflater(b, 6, 15, nct);
                let mut inf = Inflater::new(b, nct);
                let mut stream = Vec::new();
                for (part, fin) in [(&b"abc"[..], false), (b"", false), (b"", true), (b"", true), (b"x", true)] {
                    let c = d.compress_part(part, fin).unwrap();
                    assert!(!fin || !c.is_empty(), "{b:?}: a message's payload is never empty");
                    stream.extend_from_slice(&c);
                    inf.push(c, fin);
                    let mut buf = [0u8; 8];
                    while !inf.is_drained() {
                        inf.step(&mut buf).unwrap();
                    }
                    if fin {
                        inf.end_message();
                        stream.extend_from_slice(&TAIL);
                    }
                }
                assert_eq!(reference_inflate(&stream[..stream.len() - 4]).unwrap().0, b"abcx");
            }
        }
    }

    #[test]
    fn corrupt_input_fails_without_panicking() {
        for &b in Backend::available() {
            for bad in [&[0xff, 0xff, 0xff][..], &[0x07], &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xfe, 0xff]] {
                let mut inf = Inflater::new(b, false);
                assert_eq!(inflate(&mut inf, bad, 16), Err(ProtocolError::InflateFailed), "{b:?} {bad:x?}");
            }
            // A distance reaching before the start of the stream.
            let mut w = Bits::default();
            w.put(1, 1); // BFINAL
            w.put(1, 2); // fixed Huffman
            w.code(0b0011_0000 + u32::from(b'a'), 8); // literal 'a'
            w.code(0b000_0001, 7); // length 3
            w.code(10, 5); // distance code 10: 33..48 with 4 extra bits
            w.put(0, 4);
            w.code(0, 7); // end of block
            let far = w.finish();
            let mut inf = Inflater::new(b, false);
            let r = inflate(&mut inf, &far, 64);
            // zlib-rs rejects it; miniz_oxide reads from its zeroed dictionary. Neither panics.
            assert!(r.is_err() || r.as_ref().is_ok_and(|v| v.len() == 4), "{b:?}: {r:?}");
        }
    }

    #[test]
    fn bomb_is_valid_deflate_and_inflates_1032_to_1() {
        for &b in Backend::available() {
            let data = bomb(1000);
            let mut inf = Inflater::new(b, false);
            inf.push(Bytes::from(data), false);
            let mut total = 0;
            let mut buf = vec![0u8; 64 * 1024];
            while !inf.is_drained() {
                let n = inf.step(&mut buf).unwrap();
                assert!(buf[..n].iter().all(|&x| x == 0));
                total += n;
            }
            // The header's last byte holds a few more match bits.
            let expected = 1 + 1000 * 4 * 258;
            assert!((expected..expected + 3 * 258).contains(&total), "{b:?}: {total}");
        }
    }

    #[test]
    fn output_is_bounded_by_the_room_given() {
        for &b in Backend::available() {
            let mut inf = Inflater::new(b, false);
            inf.push(Bytes::from(bomb(1 << 20)), true);
            let mut buf = vec![0u8; 1000];
            assert_eq!(inf.step(&mut buf).unwrap(), 1000);
            assert!(!inf.is_drained());
            // miniz_oxide inflates ahead into its 32 KiB dictionary, no further.
            assert!(inf.input.len() > (1 << 20) - 64, "{b:?}: only what was needed was consumed");
        }
    }

    /// A minimal reference inflater (slow, for tests) that also reports the farthest match
    /// distance: what a decompressor with a given window must support. Decodes `stream` plus
    /// the tail, to the end of the input.
    pub(crate) fn reference_inflate(stream: &[u8]) -> Result<(Vec<u8>, usize), String> {
        use std::collections::HashMap;
        const LEN_BASE: [u16; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
            227, 258,
        ];
        const LEN_EXTRA: [u8; 29] =
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
        const DIST_BASE: [u16; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
            4097, 6145, 8193, 12289, 16385, 24577,
        ];
        const DIST_EXTRA: [u8; 30] =
            [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
        let mut data = stream.to_vec();
        data.extend_from_slice(&TAIL);
        let total_bits = data.len() * 8;
        let mut pos = 0usize;
        let mut bits = |n: u32, pos: &mut usize| -> Result<u32, String> {
            let mut v = 0;
            for i in 0..n {
                let byte = data.get(*pos / 8).ok_or("out of input")?;
                v |= u32::from((byte >> (*pos % 8)) & 1) << i;
                *pos += 1;
            }
            Ok(v)
        };
        let huffman = |lengths: &[u8]| -> HashMap<(u32, u32), u16> {
            let mut map = HashMap::new();
            let mut code = 0u32;
            for len in 1..=15u8 {
                for (sym, _) in lengths.iter().enumerate().filter(|(_, l)| **l == len) {
                    map.insert((u32::from(len), code), sym as u16);
                    code += 1;
                }
                code <<= 1;
            }
            map
        };
        let decode = |map: &HashMap<(u32, u32), u16>,
                      pos: &mut usize,
                      bits: &mut dyn FnMut(u32, &mut usize) -> Result<u32, String>| {
            let mut code = 0;
            for len in 1..=15 {
                code = (code << 1) | bits(1, pos)?;
                if let Some(&sym) = map.get(&(len, code)) {
                    return Ok(sym);
                }
            }
            Err("bad code".to_owned())
        };
        let (mut out, mut max_dist) = (Vec::new(), 0usize);
        // Stop at the end of the input, at a block boundary.
        while total_bits - pos >= 10 {
            let _final = bits(1, &mut pos)?;
            match bits(2, &mut pos)? {
                0 => {
                    pos = pos.div_ceil(8) * 8;
                    let len = bits(16, &mut pos)?;
                    if bits(16, &mut pos)? != !len & 0xffff {
                        return Err("bad stored length".into());
                    }
                    for _ in 0..len {
                        out.push(bits(8, &mut pos)? as u8);
                    }
                    continue;
                }
                t @ (1 | 2) => {
                    let (lit, dist) = if t == 1 {
                        let mut l = vec![8u8; 288];
                        l[144..256].fill(9);
                        l[256..280].fill(7);
                        (huffman(&l), huffman(&[5; 30]))
                    } else {
                        let hlit = bits(5, &mut pos)? as usize + 257;
                        let hdist = bits(5, &mut pos)? as usize + 1;
                        let hclen = bits(4, &mut pos)? as usize + 4;
                        let mut cl = [0u8; 19];
                        for &i in &[16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15][..hclen] {
                            cl[i] = bits(3, &mut pos)? as u8;
                        }
                        let clmap = huffman(&cl);
                        let mut lengths = Vec::new();
                        while lengths.len() < hlit + hdist {
                            match decode(&clmap, &mut pos, &mut bits)? {
                                s @ 0..=15 => lengths.push(s as u8),
                                16 => {
                                    let prev = *lengths.last().ok_or("repeat without a length")?;
                                    let n = 3 + bits(2, &mut pos)?;
                                    lengths.extend(std::iter::repeat(prev).take(n as usize));
                                }
                                17 => lengths.extend(std::iter::repeat(0).take(3 + bits(3, &mut pos)? as usize)),
                                _ => lengths.extend(std::iter::repeat(0).take(11 + bits(7, &mut pos)? as usize)),
                            }
                        }
                        (huffman(&lengths[..hlit]), huffman(&lengths[hlit..]))
                    };
                    loop {
                        match decode(&lit, &mut pos, &mut bits)? {
                            s @ 0..=255 => out.push(s as u8),
                            256 => break,
                            s => {
                                let i = usize::from(s - 257);
                                let len = usize::from(*LEN_BASE.get(i).ok_or("bad length")?)
                                    + bits(u32::from(LEN_EXTRA[i]), &mut pos)? as usize;
                                let d = usize::from(decode(&dist, &mut pos, &mut bits)?);
                                let distance = usize::from(*DIST_BASE.get(d).ok_or("bad distance")?)
                                    + bits(u32::from(DIST_EXTRA[d]), &mut pos)? as usize;
                                if distance > out.len() {
                                    return Err("distance too far back".into());
                                }
                                max_dist = max_dist.max(distance);
                                for _ in 0..len {
                                    out.push(out[out.len() - distance]);
                                }
                            }
                        }
                    }
                }
                _ => return Err("bad block type".into()),
            }
        }
        Ok((out, max_dist))
    }

    /// A pseudo-random message with a copy of its start `distance` bytes later.
    fn far_repeat(distance: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        let mut msg: Vec<u8> = (0..distance)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        msg.extend_from_within(..distance.min(300));
        msg
    }

    /// The reference inflater sees far matches: with a 15-bit window both compressors use the
    /// copy 1000 bytes back (miniz_oxide whatever window it is asked for: the reason it cannot
    /// honour a smaller one).
    #[test]
    fn reference_inflater_measures_distances() {
        let msg = far_repeat(1000, 7);
        for &b in Backend::available() {
            let c = deflater(b, 6, 15, true).compress_message(&msg).unwrap();
            let (out, max) = reference_inflate(&c).unwrap();
            assert_eq!(out, msg);
            assert_eq!(max, 1000, "{b:?}");
        }
        // Hand-made streams decode the same as with the backends.
        assert_eq!(reference_inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]).unwrap().0, b"Hello");
        let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(reference_inflate(&stored).unwrap(), (b"Hello".to_vec(), 0));
        let two = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff, 0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(reference_inflate(&two).unwrap(), (b"HelloHello".to_vec(), 5));
    }

    #[cfg(feature = "zlib-rs")]
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// zlib-rs honours every window 8..=15 it negotiates: no match reaches further back
        /// than 2^window bytes (8 by compressing with a 9-bit window, whose matches stay within
        /// 250 bytes), across messages too (context takeover).
        #[test]
        fn windows_are_honoured(window in 8u8..=15, distance in 1usize..12_000, seed: u32, level in 1u8..=9) {
            let msg = far_repeat(distance, seed);
            let mut d = deflater(Backend::ZlibRs, level, window, false);
            let mut stream = Vec::new();
            for round in 0..2 {
                if round > 0 {
                    stream.extend_from_slice(&TAIL);
                }
                stream.extend_from_slice(&d.compress_message(&msg).unwrap());
                let (out, max) = reference_inflate(&stream).unwrap();
                prop_assert_eq!(&out[out.len() - msg.len()..], &msg[..]);
                prop_assert!(max <= 1 << window, "window {} distance {}: a match {} back", window, distance, max);
            }
        }
    }

    /// Messages with repeats at every distance, so small windows matter.
    fn message() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..600),
            (prop::collection::vec(any::<u8>(), 1..64), 0usize..40_000, 1usize..5000).prop_map(|(seed, gap, len)| {
                let mut v = seed.clone();
                v.extend((0..gap).map(|i| (i * 7 + i / 3) as u8));
                v.extend(seed.iter().cycle().take(len));
                v
            }),
            "[a-e ]{0,3000}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every compiled compressor, at every window it honours, with and without context
        /// takeover, is decoded by every compiled decompressor, whatever the output chunking.
        #[test]
        fn round_trip(
            msgs in prop::collection::vec(message(), 1..5),
            window in 8u8..=15,
            level in 0u8..=9,
            nct in any::<bool>(),
            chunk in 1usize..5000,
        ) {
            for &cb in Backend::available() {
                if window < cb.min_window_bits() {
                    continue;
                }
                let mut d = deflater(cb, level, window, nct);
                let wire: Vec<Bytes> = msgs.iter().map(|m| d.compress_message(m).unwrap()).collect();
                for &db in Backend::available() {
                    let mut inf = Inflater::new(db, nct);
                    for (m, w) in msgs.iter().zip(&wire) {
                        prop_assert_eq!(&inflate(&mut inf, w, chunk).unwrap(), m);
                    }
                }
            }
        }

        /// Streaming parts with sync flushes gives the same message.
        #[test]
        fn parts_round_trip(parts in prop::collection::vec(message(), 1..6), nct in any::<bool>()) {
            for &b in Backend::available() {
                let mut d = deflater(b, 6, 15, nct);
                let mut inf = Inflater::new(b, nct);
                for round in 0..2 {
                    let mut got = Vec::new();
                    for (i, p) in parts.iter().enumerate() {
                        let fin = i + 1 == parts.len();
                        let c = d.compress_part(p, fin).unwrap();
                        inf.push(c, fin);
                        let mut buf = vec![0u8; 777];
                        while !inf.is_drained() {
                            let n = inf.step(&mut buf).unwrap();
                            got.extend_from_slice(&buf[..n]);
                        }
                    }
                    inf.end_message();
                    prop_assert_eq!(got, parts.concat(), "round {}", round);
                }
            }
        }
    }
}
