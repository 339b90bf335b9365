//! Connection configuration: limits, timers and protocol knobs, shared by every connection.

use std::time::Duration;

use crate::deflate::DeflateConfig;

/// Which side of the connection this endpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that sent the opening handshake; its frames are masked.
    Client,
    /// The endpoint that accepted the opening handshake; its frames are not masked.
    Server,
}

/// Settings for handshakes and connections.
///
/// Build once, share as `Arc<Config>` across connections. Setters take `self` and return `Self`
/// so they chain, as every builder of the workspace does:
/// `Arc::new(Config::default().max_message_size(Some(1 << 20)))`. Defaults follow Node `ws` unless safety argues otherwise:
///
/// | setting | default | Node `ws` equivalent |
/// |---|---|---|
/// | [`max_message_size`](Self::max_message_size) | 100 MiB | `maxPayload` |
/// | [`max_frame_size`](Self::max_frame_size) | `None` (bounded by the message size) | — |
/// | [`max_fragments`](Self::max_fragments) | 131 072 (empty fragments count) | — |
/// | [`max_buffered_input`](Self::max_buffered_input) | 128 KiB (raised to fit the frame being read) | — |
/// | [`write_high_water`](Self::write_high_water) | 128 KiB | `bufferedAmount` checks |
/// | [`outgoing_fragment_size`](Self::outgoing_fragment_size) | `None` (one frame per message) | — |
/// | [`auto_pong`](Self::auto_pong) | `true` | `autoPong` |
/// | [`deliver_fragments`](Self::deliver_fragments) | `false` (assembled messages) | `binaryType: 'fragments'` |
/// | [`skip_utf8_validation`](Self::skip_utf8_validation) | `false` | `skipUTF8Validation` |
/// | [`accept_unmasked_frames`](Self::accept_unmasked_frames) | `false` | — |
/// | [`keep_alive`](Self::keep_alive) | off | heartbeat example |
/// | [`close_timeout`](Self::close_timeout) | 30 s | `closeTimeout` |
/// | [`handshake_timeout`](Self::handshake_timeout) | 10 s | `handshakeTimeout` |
/// | [`max_handshake_size`](Self::max_handshake_size) | 16 KiB | Node's `maxHeaderSize` (16 KiB) |
/// | [`max_headers`](Self::max_headers) | 100 | — |
/// | [`max_rejection_body`](Self::max_rejection_body) | 64 KiB | — |
/// | [`permessage_deflate`](Self::permessage_deflate) | `None` (nothing offered) | client `perMessageDeflate` (Node offers by default) |
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) max_frame_size: Option<usize>,
    pub(crate) max_message_size: Option<usize>,
    pub(crate) max_fragments: Option<usize>,
    pub(crate) max_buffered_input: usize,
    pub(crate) write_high_water: usize,
    pub(crate) outgoing_fragment_size: Option<usize>,
    pub(crate) auto_pong: bool,
    pub(crate) deliver_fragments: bool,
    pub(crate) skip_utf8_validation: bool,
    pub(crate) accept_unmasked_frames: bool,
    pub(crate) keep_alive_idle: Option<Duration>,
    pub(crate) keep_alive_timeout: Option<Duration>,
    pub(crate) close_timeout: Option<Duration>,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) max_handshake_size: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_rejection_body: usize,
    pub(crate) permessage_deflate: Option<DeflateConfig>,
}

/// Default `max_message_size`: 100 MiB, Node `ws` `maxPayload`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 100 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: None,
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            max_fragments: Some(131_072),
            max_buffered_input: 128 * 1024,
            write_high_water: 128 * 1024,
            outgoing_fragment_size: None,
            auto_pong: true,
            deliver_fragments: false,
            skip_utf8_validation: false,
            accept_unmasked_frames: false,
            keep_alive_idle: None,
            keep_alive_timeout: None,
            close_timeout: Some(Duration::from_secs(30)),
            handshake_timeout: Some(Duration::from_secs(10)),
            max_handshake_size: 16 * 1024,
            max_headers: 100,
            max_rejection_body: 64 * 1024,
            permessage_deflate: None,
        }
    }
}

impl Config {
    /// Largest accepted frame payload; `None` means only the message limit applies.
    /// A larger frame fails the connection with 1009 before its payload is buffered.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: Option<usize>) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Largest accepted message (sum of its fragments' payloads, after decompression); `None` is
    /// unlimited. A larger message fails the connection with 1009. Node `maxPayload`.
    ///
    /// A compressed (permessage-deflate) message is held to it twice: its frames' lengths on
    /// the wire, checked from their headers, and its inflated bytes as they are produced (a
    /// decompression bomb stops at the limit).
    #[must_use]
    pub fn max_message_size(mut self, bytes: Option<usize>) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Most frames one message may have, empty ones included; more fails the connection with
    /// 1008. `None` is unlimited.
    #[must_use]
    pub fn max_fragments(mut self, n: Option<usize>) -> Self {
        self.max_fragments = n;
        self
    }

    /// Input buffered and not yet parsed above which [`Connection::wants_read`] turns false.
    /// The connection raises it to whatever the frame being read needs, which the frame and
    /// message limits bound.
    ///
    /// [`Connection::wants_read`]: crate::Connection::wants_read
    #[must_use]
    pub fn max_buffered_input(mut self, bytes: usize) -> Self {
        self.max_buffered_input = bytes.max(1);
        self
    }

    /// Queued output above which [`Connection::is_write_ready`] turns false.
    ///
    /// [`Connection::is_write_ready`]: crate::Connection::is_write_ready
    #[must_use]
    pub fn write_high_water(mut self, bytes: usize) -> Self {
        self.write_high_water = bytes;
        self
    }

    /// Split outgoing messages into frames of at most this many payload bytes, so control frames
    /// can interleave. `None` sends each message as one frame.
    #[must_use]
    pub fn outgoing_fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.outgoing_fragment_size = bytes.map(|b| b.max(1));
        self
    }

    /// Answer pings with pongs automatically (Node `autoPong`).
    #[must_use]
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Hand out each received frame as an [`Event::Fragment`](crate::Event::Fragment) instead
    /// of assembled [`Event::Message`](crate::Event::Message)s (Node `binaryType =
    /// 'fragments'`): one buffer per frame, compressed frames inflated, so a message of many
    /// frames is never joined into one buffer.
    #[must_use]
    pub fn deliver_fragments(mut self, on: bool) -> Self {
        self.deliver_fragments = on;
        self
    }

    /// Do not validate the UTF-8 of text messages (Node `skipUTF8Validation`). Text is still
    /// delivered as [`Utf8Bytes`](crate::Utf8Bytes), whose accessors re-check it.
    #[must_use]
    pub fn skip_utf8_validation(mut self, on: bool) -> Self {
        self.skip_utf8_validation = on;
        self
    }

    /// Server role: accept frames a client sent without a mask (an interop knob; RFC 6455
    /// requires failing the connection, which is the default).
    #[must_use]
    pub fn accept_unmasked_frames(mut self, on: bool) -> Self {
        self.accept_unmasked_frames = on;
        self
    }

    /// Keepalive: send a ping after `idle` without receiving anything, and fail the connection
    /// with 1011 if nothing arrives within `pong_timeout` after it. `None` disables either part.
    #[must_use]
    pub fn keep_alive(mut self, idle: Option<Duration>, pong_timeout: Option<Duration>) -> Self {
        self.keep_alive_idle = idle;
        self.keep_alive_timeout = pong_timeout;
        self
    }

    /// How long to wait for the peer's close frame, and then for its TCP close, after a close
    /// was started (Node `closeTimeout`). `None` waits forever.
    #[must_use]
    pub fn close_timeout(mut self, d: Option<Duration>) -> Self {
        self.close_timeout = d;
        self
    }

    /// Deadline for the whole opening handshake (Node `handshakeTimeout`). `None` waits forever.
    #[must_use]
    pub fn handshake_timeout(mut self, d: Option<Duration>) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// Largest HTTP head accepted in a handshake; a server answers 431 above it.
    #[must_use]
    pub fn max_handshake_size(mut self, bytes: usize) -> Self {
        self.max_handshake_size = bytes;
        self
    }

    /// Most header fields accepted in a handshake head; a server answers 431 above it.
    #[must_use]
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// Largest body kept from a non-101 handshake response (Node `unexpected-response`).
    #[must_use]
    pub fn max_rejection_body(mut self, bytes: usize) -> Self {
        self.max_rejection_body = bytes;
        self
    }

    /// Client: offer permessage-deflate (RFC 7692) with these settings; `None` (the default)
    /// offers nothing. Unlike Node `ws`, whose client offers it unless told not to, compression
    /// is opt-in: `config.permessage_deflate(Some(DeflateConfig::default()))` offers what Node
    /// does (`permessage-deflate; client_max_window_bits` with the zlib-rs backend, without
    /// the parameter with miniz_oxide, whose compressor cannot use a smaller window).
    ///
    /// Connections made with [`Connection::new`](crate::Connection::new) with deflate in their
    /// [`Negotiated`](crate::Negotiated) also take their local compression settings from here
    /// (the defaults when `None`). Servers configure deflate in
    /// [`ServerOptions::per_message_deflate`](crate::ServerOptions::per_message_deflate).
    #[must_use]
    pub fn permessage_deflate(mut self, c: Option<DeflateConfig>) -> Self {
        self.permessage_deflate = c;
        self
    }

    /// The configured permessage-deflate offer.
    pub fn get_permessage_deflate(&self) -> Option<&DeflateConfig> {
        self.permessage_deflate.as_ref()
    }

    /// The configured frame payload limit.
    pub fn get_max_frame_size(&self) -> Option<usize> {
        self.max_frame_size
    }
    /// The configured message size limit.
    pub fn get_max_message_size(&self) -> Option<usize> {
        self.max_message_size
    }
    /// The configured fragment count limit.
    pub fn get_max_fragments(&self) -> Option<usize> {
        self.max_fragments
    }
    /// The configured write high-water mark.
    pub fn get_write_high_water(&self) -> usize {
        self.write_high_water
    }
    /// The configured close timeout.
    pub fn get_close_timeout(&self) -> Option<Duration> {
        self.close_timeout
    }
    /// The configured handshake timeout.
    pub fn get_handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }
    /// The configured handshake head size limit.
    pub fn get_max_handshake_size(&self) -> usize {
        self.max_handshake_size
    }
    /// The configured header count limit.
    pub fn get_max_headers(&self) -> usize {
        self.max_headers
    }
    /// The configured keepalive settings: (idle, pong timeout).
    pub fn get_keep_alive(&self) -> (Option<Duration>, Option<Duration>) {
        (self.keep_alive_idle, self.keep_alive_timeout)
    }
    /// Whether fragments are delivered as they arrive.
    pub fn get_deliver_fragments(&self) -> bool {
        self.deliver_fragments
    }
}
