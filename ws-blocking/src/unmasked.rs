//! [`WebSocket::send_unmasked`]: a client sending an unmasked frame, as a test and interop
//! tool (Node `ws`'s `send(data, { mask: false })`).

use std::io::{Read, Write};

use ws_proto::Message;

use crate::transport::Transport;
use crate::websocket::WebSocket;
use crate::Error;

impl<S: Read + Write + Transport> WebSocket<S> {
    /// **Testing and interop only.** Sends `msg` as [`send`](Self::send) does, but unmasked
    /// from a client (Node `ws`'s `send(data, { mask: false })`), to test how a server treats
    /// a client breaking RFC 6455 §5.1: a conforming server fails the connection with 1002
    /// (ws-proto's servers accept it only with `Config::accept_unmasked_frames`). Only this
    /// message is unmasked; the frames sent before and after it, automatic pongs included,
    /// are masked as usual. On a server connection it is `send`.
    ///
    /// It uses ws-proto's `Connection::set_unmasked_sends`, which can also unmask control
    /// frames through [`connection_mut`](Self::connection_mut).
    pub fn send_unmasked(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.send_with(msg, ws_proto::SendOptions::default().mask(false))
    }
}
