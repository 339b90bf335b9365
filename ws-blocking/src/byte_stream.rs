//! [`WsByteStream`]: a WebSocket as a blocking byte stream (Node `createWebSocketStream`),
//! and its [split](WsByteStream::split) halves.

use std::fmt;
use std::io::{self, Read, Write};

use ws_proto::{Buf, Bytes, CloseCode, Event, Message, SendError, State};

use crate::split::{WsReader, WsWriter};
use crate::transport::{Transport, TryClone};
use crate::websocket::WebSocket;
use crate::Error;

/// A [`WebSocket`] as `std::io::Read + std::io::Write` (Node `createWebSocketStream`; the
/// async bindings' `WsByteStream`), for code that speaks bytes: `std::io::copy`, codecs,
/// protocols tunnelled over WebSocket.
///
/// - **Writes** become binary messages, one per `write` call (wrap the stream in a
///   `std::io::BufWriter` for fewer, larger messages), written before `write` returns, as a
///   socket write would be. Writing waits while the output queue is above
///   `Config::write_high_water`. [`flush`](Write::flush) writes anything still queued.
/// - **Reads** return the bytes of received messages, text or binary, concatenated (message
///   boundaries are not preserved). Pings are answered and skipped.
/// - **[`shutdown`](Self::shutdown)** starts the closing handshake (1000) and writes the close
///   frame: a half-close, as in Node's duplex. Reading goes on until the peer's close frame
///   arrives, which is the readable side's end (EOF).
/// - **Errors**: a connection that ended abnormally (protocol error → `InvalidData`, timeout →
///   `TimedOut`, EOF without a close frame → `UnexpectedEof`) is an `Err` from `read`, as is an
///   IO failure. Writing after the connection closed (or after `shutdown`) is `BrokenPipe`.
///
/// A single stream cannot read and write at the same time: when both peers write much more
/// than their socket buffers hold without reading, both block. [`split`](Self::split) it to
/// read on one thread and write on another (e.g. one `std::io::copy` per direction).
///
/// ```no_run
/// use std::io::{Read, Write};
/// use ws_blocking::{connect, WsByteStream};
///
/// let (ws, _) = connect("ws://127.0.0.1:9001/tunnel")?;
/// let mut stream = WsByteStream::new(ws);
/// stream.write_all(b"ping\n")?;
/// stream.shutdown()?;
/// let mut answer = Vec::new();
/// stream.read_to_end(&mut answer)?; // until the peer's close
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WsByteStream<S: Write + Transport> {
    ws: WebSocket<S>,
    read: ReadState,
}

impl<S: Write + Transport> fmt::Debug for WsByteStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsByteStream").field("ws", &self.ws).field("read", &self.read).finish()
    }
}

impl<S: Write + Transport> WsByteStream<S> {
    /// Wraps a connection.
    pub fn new(ws: WebSocket<S>) -> Self {
        Self { ws, read: ReadState::default() }
    }

    /// The connection.
    pub fn get_ref(&self) -> &WebSocket<S> {
        &self.ws
    }

    /// The connection, mutably (sending through it directly interleaves messages with the
    /// stream's writes).
    pub fn get_mut(&mut self) -> &mut WebSocket<S> {
        &mut self.ws
    }

    /// The connection back (bytes of the current message not yet read are lost).
    pub fn into_inner(self) -> WebSocket<S> {
        self.ws
    }
}

impl<S: Write + Transport> From<WebSocket<S>> for WsByteStream<S> {
    fn from(ws: WebSocket<S>) -> Self {
        Self::new(ws)
    }
}

impl<S: Read + Write + Transport> WsByteStream<S> {
    /// Half-closes: sends a close frame (1000) after everything written so far and writes it
    /// out (blocking until the stream took it). Reading goes on until the peer's close (EOF);
    /// `Event::Closed` is then in [`close_info`](WebSocket::close_info). A no-op once the
    /// connection is closing or over.
    pub fn shutdown(&mut self) -> io::Result<()> {
        let open = self.ws.ready_state() == State::Open;
        shutdown(if open { self.ws.close(CloseCode::NORMAL, "") } else { self.ws.flush() })
    }
}

impl<S: Read + Write + Transport> Read for WsByteStream<S> {
    /// Reads message bytes into `buf` (`Ok(0)`: the peer closed, or `buf` is empty). A
    /// connection that ended with an error (protocol error, timeout, EOF without a close) is
    /// an `io::Error` of the matching kind.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ws = &mut self.ws;
        self.read.read(buf, || ws.recv())
    }
}

impl<S: Read + Write + Transport> Write for WsByteStream<S> {
    /// Sends `buf` as one binary message and writes it out.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let ws = &mut self.ws;
        write(ws.ready_state(), buf, |m| ws.send(m))
    }

    /// Writes everything queued (pongs, messages queued through [`get_mut`](Self::get_mut)).
    fn flush(&mut self) -> io::Result<()> {
        flush(self.ws.flush())
    }
}

impl<S: Read + Write + Transport + TryClone> WsByteStream<S> {
    /// Splits into a reading and a writing half usable from different threads, over
    /// [`WebSocket::split`] (the writer gets a second handle on the stream). Bytes of a
    /// message partly read go to the reader.
    ///
    /// **The reader runs the timers** and answers pings (see [`WebSocket::split`]): keep
    /// reading it until EOF, also after the writer's [`shutdown`](WsByteWriter::shutdown).
    pub fn split(self) -> (WsByteReader<S>, WsByteWriter<S>) {
        let (reader, writer) = self.ws.split();
        (WsByteReader { ws: reader, read: self.read }, WsByteWriter { ws: writer })
    }
}

/// The reading half of a split [`WsByteStream`]: received message bytes, the timers, and the
/// automatic replies (pongs, the close echo).
pub struct WsByteReader<S: Write + Transport> {
    ws: WsReader<S>,
    read: ReadState,
}

/// The writing half of a split [`WsByteStream`]: each write a binary message, and the
/// half-close.
pub struct WsByteWriter<S: Write + Transport> {
    ws: WsWriter<S>,
}

impl<S: Write + Transport> fmt::Debug for WsByteReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsByteReader").field("ws", &self.ws).field("read", &self.read).finish()
    }
}

impl<S: Write + Transport> fmt::Debug for WsByteWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsByteWriter").field("ws", &self.ws).finish()
    }
}

impl<S: Write + Transport> WsByteReader<S> {
    /// The reading half of the connection (its [`close_info`](WsReader::close_info) once the
    /// stream ended).
    pub fn get_ref(&self) -> &WsReader<S> {
        &self.ws
    }

    /// The reading half, mutably.
    pub fn get_mut(&mut self) -> &mut WsReader<S> {
        &mut self.ws
    }

    /// The reading half back (bytes of the current message not yet read are lost).
    pub fn into_inner(self) -> WsReader<S> {
        self.ws
    }
}

impl<S: Read + Write + Transport> WsByteReader<S> {
    /// Whether `writer` is this reader's other half.
    pub fn is_pair_of(&self, writer: &WsByteWriter<S>) -> bool {
        self.ws.is_pair_of(&writer.ws)
    }
}

impl<S: Read + Write + Transport> Read for WsByteReader<S> {
    /// As [`WsByteStream`]'s `read`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ws = &mut self.ws;
        self.read.read(buf, || ws.recv())
    }
}

impl<S: Write + Transport> WsByteWriter<S> {
    /// The writing half of the connection.
    pub fn get_ref(&self) -> &WsWriter<S> {
        &self.ws
    }

    /// The writing half, mutably.
    pub fn get_mut(&mut self) -> &mut WsWriter<S> {
        &mut self.ws
    }

    /// The writing half back.
    pub fn into_inner(self) -> WsWriter<S> {
        self.ws
    }

    /// Half-closes, as [`WsByteStream::shutdown`]: the reader then reads until the peer's
    /// close (EOF).
    pub fn shutdown(&mut self) -> io::Result<()> {
        let open = self.ws.ready_state() == State::Open;
        shutdown(if open { self.ws.close(CloseCode::NORMAL, "") } else { self.ws.flush() })
    }
}

impl<S: Write + Transport> Write for WsByteWriter<S> {
    /// As [`WsByteStream`]'s `write`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let ws = &mut self.ws;
        write(ws.ready_state(), buf, |m| ws.send(m))
    }

    fn flush(&mut self) -> io::Result<()> {
        flush(self.ws.flush())
    }
}

/// The readable side: the unread bytes of the current message, and whether it ended.
#[derive(Debug, Default)]
struct ReadState {
    chunk: Bytes,
    eof: bool,
}

impl ReadState {
    /// Copies message bytes into `buf`, taking events from `next` while none are left.
    fn read(&mut self, buf: &mut [u8], mut next: impl FnMut() -> Option<io::Result<Event>>) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() && !self.eof {
            match next() {
                Some(Ok(Event::Message(m))) => self.chunk = m.into_bytes(),
                Some(Ok(Event::Fragment(f))) => self.chunk = f.data,
                Some(Ok(Event::Closed(info))) => {
                    self.eof = true;
                    if let Some(e) = info.error {
                        return Err(e.into());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => self.eof = true,
            }
        }
        let n = self.chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// Sends `buf` as a binary message while the connection is open.
fn write(state: State, buf: &[u8], send: impl FnOnce(Message) -> Result<(), Error>) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    if state != State::Open {
        return Err(io::ErrorKind::BrokenPipe.into());
    }
    send(Message::Binary(Bytes::copy_from_slice(buf)))?;
    Ok(buf.len())
}

fn flush(result: Result<(), Error>) -> io::Result<()> {
    match result {
        // Nothing is left to write once the connection is over.
        Ok(()) | Err(Error::ConnectionClosed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The outcome of a half-close: the close frame written (or, when the connection was no
/// longer open, what was queued). A connection that is closing or over already is done.
fn shutdown(result: Result<(), Error>) -> io::Result<()> {
    match result {
        Err(Error::Send(SendError::NotOpen | SendError::CloseAlreadySent)) => Ok(()),
        result => flush(result),
    }
}
