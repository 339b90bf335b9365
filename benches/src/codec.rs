//! The in-memory codec echo of `src/bin/codec.rs`: a client and a server of one WebSocket
//! stack, connected by two in-memory byte queues instead of a socket, echo binary messages.
//!
//! One round trip ([`Pair::echo`]): the client sends a binary message (masked, as clients
//! must) taken from a shared, immutable [`Bytes`] (so every stack that masks has to copy it
//! once); its bytes go into the client-to-server queue; the server reads them, parses the
//! message and sends it back; the bytes go into the server-to-client queue; the client reads
//! them, parses the echo and compares it with what it sent. Every stack pays the same two
//! copies per direction that a socket costs (a write into the queue, a read out of it), and no
//! system call: the queues are `Vec`s whose capacity is kept, and the clocks are read through
//! the vDSO (`strace -c` of `codec --run-one` counts the same system calls for 10 and for 300
//! messages, for every stack at 16 B, 64 KiB and 1 MiB).
//!
//! The stacks ([`STACKS`]):
//!
//! | name | endpoints | how it is driven |
//! |---|---|---|
//! | `ws-proto` | two [`ws_proto::Connection`]s, assembled mode, no deflate | sans-IO: `poll_transmit` written into the queue, the queue's bytes handed to `receive`, `poll_event` |
//! | `tungstenite` | two sync `tungstenite::WebSocket`s (`from_raw_socket`) | over [`MemStream`]'s `std::io::Read + Write`; `send` and `read` |
//! | `fastwebsockets` | two `FragmentCollector`s over `WebSocket::after_handshake` | over [`MemStream`]'s tokio `AsyncRead + AsyncWrite`; `write_frame` / `read_frame` |
//! | `tokio-websockets` | `ClientBuilder::take_over` and `ServerBuilder::serve` | same; `SinkExt::send` / `StreamExt::next` |
//! | `sockudo` | sockudo-ws `WebSocketStream::client` / `::server` | same |
//!
//! The three async stacks need no runtime: their futures are polled once each with a no-op
//! waker ([`FutureExt::now_or_never`](futures_util::FutureExt::now_or_never)). The queue always
//! accepts writes, and a reader only runs after the whole message is queued, so nothing ever
//! has to wait; a future that returns
//! `Pending` anyway is reported as an error (the stack wanted more than was sent). So the
//! per-message cost of the async stacks includes their own future and `poll_*` machinery but
//! no executor, task or waker traffic.
//!
//! Masking keys: our client draws them from [`crate::entropy`] (SplitMix64, as every ws-proto
//! benchmark does); the peers use their own generators (tungstenite and fastwebsockets
//! `rand`'s thread-local generator, tokio-websockets and sockudo-ws `fastrand`), all in user
//! space.

use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ws_proto::{Buf, Config, Connection, Event, Message, Transmit};

use crate::Rng;

/// The stacks, in the order the tables list them (ours first).
pub const STACKS: &[&str] = &["ws-proto", "tungstenite", "fastwebsockets", "tokio-websockets", "sockudo"];

/// The stack whose cost is compared with the best of the others.
pub const OURS: &str = "ws-proto";

/// How many distinct payloads a run goes round, so that an echo of the wrong message (or of a
/// stale buffer) does not compare equal.
const PAYLOADS: usize = 4;

/// A client and a server of one stack, connected in memory.
pub trait Pair {
    /// One round trip of `payload`: client send, server receive and echo, client receive and
    /// check. An error says what went wrong (a protocol error, a wrong echo, or a stack that
    /// wanted to wait).
    fn echo(&mut self, payload: &Bytes) -> Result<(), String>;
}

/// `PAYLOADS` distinct deterministic payloads of `size` bytes.
pub fn payloads(size: usize) -> Vec<Bytes> {
    let mut rng = Rng::new(0xc0dec ^ size as u64);
    (0..PAYLOADS)
        .map(|_| {
            let mut v = vec![0; size];
            rng.fill(&mut v);
            Bytes::from(v)
        })
        .collect()
}

/// Builds `stack`'s pair (`None` for an unknown name), runs `warmup` untimed round trips and
/// then `messages` timed ones of `size`-byte messages; returns the time of the timed part.
pub fn run(stack: &str, size: usize, warmup: u64, messages: u64) -> Option<Result<Duration, String>> {
    let payloads = payloads(size);
    Some(match stack {
        "ws-proto" => drive(WsProto::new(), &payloads, warmup, messages),
        "tungstenite" => drive(Tungstenite::new(), &payloads, warmup, messages),
        "fastwebsockets" => drive(FastWebSockets::new(), &payloads, warmup, messages),
        "tokio-websockets" => drive(TokioWebSockets::new(), &payloads, warmup, messages),
        "sockudo" => drive(Sockudo::new(), &payloads, warmup, messages),
        _ => return None,
    })
}

/// Warm-up, then the measured loop; returns the time of the measured part.
fn drive<P: Pair>(mut pair: P, payloads: &[Bytes], warmup: u64, messages: u64) -> Result<Duration, String> {
    warm_up(&mut pair, payloads, warmup)?;
    let start = Instant::now();
    measured(&mut pair, payloads, warmup, messages)?;
    Ok(start.elapsed())
}

/// The untimed round trips, kept out of [`measured`] so that callgrind does not count them.
#[inline(never)]
fn warm_up<P: Pair>(pair: &mut P, payloads: &[Bytes], count: u64) -> Result<(), String> {
    for i in 0..count {
        pair.echo(&payloads[i as usize % payloads.len()])?;
    }
    Ok(())
}

/// The measured round trips, `first..first + count` of the payload rotation. Never inlined:
/// its name is what `codec --callgrind` collects (`--toggle-collect`), so that the
/// instruction count covers exactly these round trips — no setup, no warm-up.
#[inline(never)]
fn measured<P: Pair>(pair: &mut P, payloads: &[Bytes], first: u64, count: u64) -> Result<(), String> {
    for i in first..first + count {
        pair.echo(&payloads[i as usize % payloads.len()])?;
    }
    Ok(())
}

/// The function callgrind toggles collection on (the measured loop of [`run`]), as a
/// `--toggle-collect` pattern: every instantiation of it, whatever the stack.
pub const MEASURED_SYMBOL: &str = "ws_benches::codec::measured*";

/// Runs a future that must not wait: everything it reads is already queued, and every write
/// is accepted at once.
fn ready<T>(what: &str, fut: impl std::future::Future<Output = T>) -> Result<T, String> {
    fut.now_or_never().ok_or_else(|| format!("{what} waited: the stack wanted more input than was queued"))
}

fn check(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: echo of {} bytes differs from the {} bytes sent", got.len(), want.len()))
    }
}

// ------------------------------------------------------------------------ the byte queues

/// One direction of the in-memory connection: bytes written and not yet read. Reading takes
/// from `read`; once everything written has been read the vector is cleared, so its capacity
/// (the largest burst) is reused and steady-state writes do not allocate.
#[derive(Debug, Default)]
struct Queue {
    buf: Vec<u8>,
    read: usize,
}

impl Queue {
    fn readable(&self) -> &[u8] {
        &self.buf[self.read..]
    }

    fn consume(&mut self, n: usize) {
        self.read += n;
        if self.read == self.buf.len() {
            self.buf.clear();
            self.read = 0;
        }
    }

    /// Copies what fits into `dest`, returning how much.
    fn read_into(&mut self, dest: &mut [u8]) -> usize {
        let src = self.readable();
        let n = src.len().min(dest.len());
        dest[..n].copy_from_slice(&src[..n]);
        self.consume(n);
        n
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut n = 0;
        for b in bufs {
            self.buf.extend_from_slice(b);
            n += b.len();
        }
        n
    }
}

/// One end of an in-memory connection: reads from one byte queue, writes into the other.
/// Implements `std::io::Read + Write` (an empty queue reads as `WouldBlock`, like a
/// non-blocking socket) and tokio's `AsyncRead + AsyncWrite` (an empty queue is `Pending`;
/// no waker is ever registered, since the benchmark never waits). Vectored writes are
/// supported, as on a TCP stream, so stacks that use `writev` do so here too.
#[derive(Debug)]
pub struct MemStream {
    rx: Rc<RefCell<Queue>>,
    tx: Rc<RefCell<Queue>>,
}

/// A connected pair of [`MemStream`]s: (client end, server end).
pub fn mem_pair() -> (MemStream, MemStream) {
    let up = Rc::new(RefCell::new(Queue::default()));
    let down = Rc::new(RefCell::new(Queue::default()));
    (MemStream { rx: down.clone(), tx: up.clone() }, MemStream { rx: up, tx: down })
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.rx.borrow_mut().read_into(buf) {
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.borrow_mut().buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.tx.borrow_mut().write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemStream {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut rx = self.rx.borrow_mut();
        let src = rx.readable();
        if src.is_empty() {
            return Poll::Pending;
        }
        let n = src.len().min(buf.remaining());
        buf.put_slice(&src[..n]);
        rx.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.tx.borrow_mut().buf.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.tx.borrow_mut().write_vectored(bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

// ------------------------------------------------------------------------ ws-proto

/// Our pair: two sans-IO connections and the two queues, driven as an adapter drives them.
struct WsProto {
    client: Connection,
    server: Connection,
    up: Queue,
    down: Queue,
}

impl WsProto {
    fn new() -> Self {
        Self {
            client: crate::client(Config::default()),
            server: crate::server(Config::default()),
            up: Queue::default(),
            down: Queue::default(),
        }
    }

    /// Writes everything `conn` has queued into `q`, as a `writev` of up to 64 slices that
    /// takes everything would.
    fn flush(conn: &mut Connection, q: &mut Queue) -> Result<(), String> {
        while let Some(t) = conn.poll_transmit() {
            let Transmit::Data(mut buf) = t else { return Err("unexpected shutdown".into()) };
            while buf.has_remaining() {
                let mut slices = [IoSlice::new(&[]); 64];
                let n = buf.chunks_vectored(&mut slices);
                let written = q.write_vectored(&slices[..n]);
                buf.advance(written);
            }
        }
        Ok(())
    }

    /// Hands `q`'s bytes to `conn` (the read: one copy) and returns the binary messages that
    /// completes, one at a time, to `on_message`. The clock is read once per read, as an
    /// adapter reads it once per wake-up.
    fn read(
        conn: &mut Connection,
        q: &mut Queue,
        mut on_message: impl FnMut(&mut Connection, Bytes) -> Result<(), String>,
    ) -> Result<usize, String> {
        let n = q.readable().len();
        conn.receive(q.readable());
        q.consume(n);
        let now = Instant::now();
        let mut messages = 0;
        while let Some(event) = conn.poll_event(now) {
            match event {
                Event::Message(Message::Binary(b)) => {
                    messages += 1;
                    on_message(conn, b)?;
                }
                Event::Closed(info) => return Err(format!("closed: {info:?}")),
                other => return Err(format!("unexpected event {other:?}")),
            }
        }
        Ok(messages)
    }
}

impl Pair for WsProto {
    fn echo(&mut self, payload: &Bytes) -> Result<(), String> {
        self.client.send_binary(payload.clone()).map_err(|e| e.to_string())?;
        Self::flush(&mut self.client, &mut self.up)?;
        Self::read(&mut self.server, &mut self.up, |server, b| server.send_binary(b).map_err(|e| e.to_string()))?;
        Self::flush(&mut self.server, &mut self.down)?;
        let got = Self::read(&mut self.client, &mut self.down, |_, b| check("ws-proto", &b, payload))?;
        if got != 1 {
            return Err(format!("ws-proto: {got} echoes for one message"));
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------ tungstenite

use tokio_tungstenite::tungstenite;

/// Two sync tungstenite sockets over the in-memory streams.
struct Tungstenite {
    client: tungstenite::WebSocket<MemStream>,
    server: tungstenite::WebSocket<MemStream>,
}

impl Tungstenite {
    fn new() -> Self {
        use tungstenite::protocol::{Role, WebSocket};
        let (c, s) = mem_pair();
        Self {
            client: WebSocket::from_raw_socket(c, Role::Client, None),
            server: WebSocket::from_raw_socket(s, Role::Server, None),
        }
    }
}

impl Pair for Tungstenite {
    fn echo(&mut self, payload: &Bytes) -> Result<(), String> {
        use tungstenite::Message;
        let e = |e: tungstenite::Error| format!("tungstenite: {e}");
        self.client.send(Message::Binary(payload.clone())).map_err(e)?;
        let msg = self.server.read().map_err(e)?;
        if !msg.is_binary() {
            return Err(format!("tungstenite: server got {msg:?}"));
        }
        self.server.send(msg).map_err(e)?;
        match self.client.read().map_err(e)? {
            Message::Binary(b) => check("tungstenite", &b, payload),
            other => Err(format!("tungstenite: client got {other:?}")),
        }
    }
}

// ------------------------------------------------------------------------ fastwebsockets

/// Two fastwebsockets endpoints, each behind a `FragmentCollector` (whole messages, as the
/// load test's server uses it).
struct FastWebSockets {
    client: fastwebsockets::FragmentCollector<MemStream>,
    server: fastwebsockets::FragmentCollector<MemStream>,
}

impl FastWebSockets {
    fn new() -> Self {
        use fastwebsockets::{FragmentCollector, Role, WebSocket};
        let (c, s) = mem_pair();
        Self {
            client: FragmentCollector::new(WebSocket::after_handshake(c, Role::Client)),
            server: FragmentCollector::new(WebSocket::after_handshake(s, Role::Server)),
        }
    }
}

impl Pair for FastWebSockets {
    fn echo(&mut self, payload: &Bytes) -> Result<(), String> {
        use fastwebsockets::{Frame, OpCode, Payload};
        let e = |e: fastwebsockets::WebSocketError| format!("fastwebsockets: {e}");
        // A borrowed payload: the client's mask copies it into an owned buffer.
        let frame = Frame::binary(Payload::Borrowed(payload));
        ready("fastwebsockets client write", self.client.write_frame(frame))?.map_err(e)?;
        let frame = ready("fastwebsockets server read", self.server.read_frame())?.map_err(e)?;
        if frame.opcode != OpCode::Binary {
            return Err(format!("fastwebsockets: server got {:?}", frame.opcode));
        }
        ready("fastwebsockets server write", self.server.write_frame(frame))?.map_err(e)?;
        let frame = ready("fastwebsockets client read", self.client.read_frame())?.map_err(e)?;
        if frame.opcode != OpCode::Binary {
            return Err(format!("fastwebsockets: client got {:?}", frame.opcode));
        }
        check("fastwebsockets", &frame.payload, payload)
    }
}

// ------------------------------------------------------------------------ tokio-websockets

/// A tokio-websockets client (`ClientBuilder::take_over`) and server (`ServerBuilder::serve`).
struct TokioWebSockets {
    client: tokio_websockets::WebSocketStream<MemStream>,
    server: tokio_websockets::WebSocketStream<MemStream>,
}

impl TokioWebSockets {
    fn new() -> Self {
        let (c, s) = mem_pair();
        Self {
            client: tokio_websockets::ClientBuilder::new().take_over(c),
            server: tokio_websockets::ServerBuilder::new().serve(s),
        }
    }
}

impl Pair for TokioWebSockets {
    fn echo(&mut self, payload: &Bytes) -> Result<(), String> {
        use tokio_websockets::Message;
        let e = |e: tokio_websockets::Error| format!("tokio-websockets: {e}");
        ready("tokio-websockets client send", self.client.send(Message::binary(payload.clone())))?.map_err(e)?;
        let msg = ready("tokio-websockets server read", self.server.next())?
            .ok_or("tokio-websockets: server stream ended")?
            .map_err(e)?;
        if !msg.is_binary() {
            return Err(format!("tokio-websockets: server got {msg:?}"));
        }
        ready("tokio-websockets server send", self.server.send(msg))?.map_err(e)?;
        let msg = ready("tokio-websockets client read", self.client.next())?
            .ok_or("tokio-websockets: client stream ended")?
            .map_err(e)?;
        if !msg.is_binary() {
            return Err(format!("tokio-websockets: client got {msg:?}"));
        }
        check("tokio-websockets", msg.as_payload(), payload)
    }
}

// ------------------------------------------------------------------------ sockudo-ws

/// A sockudo-ws client and server (`WebSocketStream`, default `Config`).
struct Sockudo {
    client: sockudo_ws::WebSocketStream<MemStream>,
    server: sockudo_ws::WebSocketStream<MemStream>,
}

impl Sockudo {
    fn new() -> Self {
        use sockudo_ws::{Config, WebSocketStream};
        let (c, s) = mem_pair();
        Self {
            client: WebSocketStream::client(c, Config::default()),
            server: WebSocketStream::server(s, Config::default()),
        }
    }
}

impl Pair for Sockudo {
    fn echo(&mut self, payload: &Bytes) -> Result<(), String> {
        use sockudo_ws::Message;
        let e = |e: sockudo_ws::Error| format!("sockudo: {e}");
        ready("sockudo client send", self.client.send(Message::Binary(payload.clone())))?.map_err(e)?;
        let msg =
            ready("sockudo server read", self.server.next())?.ok_or("sockudo: server stream ended")?.map_err(e)?;
        let Message::Binary(b) = msg else { return Err(format!("sockudo: server got {msg:?}")) };
        ready("sockudo server send", self.server.send(Message::Binary(b)))?.map_err(e)?;
        match ready("sockudo client read", self.client.next())?.ok_or("sockudo: client stream ended")?.map_err(e)? {
            Message::Binary(b) => check("sockudo", &b, payload),
            other => Err(format!("sockudo: client got {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stack_echoes_every_size() {
        for &stack in STACKS {
            for size in [0, 1, 125, 126, 65535, 65536, 300_000] {
                let r = run(stack, size, 3, 5).expect("a known stack");
                assert!(r.is_ok(), "{stack} {size}: {r:?}");
            }
        }
        assert!(run("nope", 16, 0, 1).is_none());
    }

    #[test]
    fn a_wrong_echo_is_caught() {
        assert!(check("x", b"ab", b"ac").is_err());
        let (mut c, mut s) = mem_pair();
        c.write_all(b"hello").unwrap();
        let mut buf = [0; 3];
        assert_eq!(s.read(&mut buf).unwrap(), 3);
        assert_eq!(s.read(&mut buf).unwrap(), 2);
        assert_eq!(s.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }
}
