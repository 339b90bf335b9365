//! [`WebSocket::send_unmasked`]: a client sending an unmasked frame, as a test and interop
//! tool (Node `ws`'s `send(data, { mask: false })`).

use std::future::poll_fn;

use ws_proto::{Message, SendOptions};

use crate::error::Error;
use crate::runtime::Io;
use crate::stream::WebSocket;

impl<S, R: Io<S>> WebSocket<S, R> {
    /// **Testing and interop only.** Sends `msg` as [`send`](Self::send) does, but unmasked
    /// from a client (Node `ws`'s `send(data, { mask: false })`), to test how a server treats
    /// a client breaking RFC 6455 §5.1: a conforming server fails the connection with 1002
    /// (ws-proto's servers accept it only with `Config::accept_unmasked_frames`). Only this
    /// message is unmasked; the frames sent before and after it, automatic pongs included,
    /// are masked as usual. On a server connection it is `send`. With permessage-deflate the
    /// message is compressed on this task, never offloaded.
    ///
    /// It uses ws-proto's `Connection::set_unmasked_sends`, which can also unmask control
    /// frames through [`connection_mut`](Self::connection_mut).
    pub async fn send_unmasked(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.send_with(msg, SendOptions::default().mask(false)).await
    }

    /// Sends `msg` with per-message options (Node `send(data, { compress, mask })`):
    /// `SendOptions::default().compress(false)` sends this one message uncompressed,
    /// `.mask(false)` unmasked (see [`send_unmasked`](Self::send_unmasked)). With the default
    /// options it is [`send`](Self::send); otherwise the message is never compressed off the
    /// runtime. Cancel safety and when the message is written: as `send`.
    pub async fn send_with(&mut self, msg: impl Into<Message>, opts: SendOptions) -> Result<(), Error> {
        let msg = msg.into();
        if opts == SendOptions::default() {
            return self.send(msg).await;
        }
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.connection_mut().send_message_with(msg, opts)?;
        self.flush().await
    }
}
