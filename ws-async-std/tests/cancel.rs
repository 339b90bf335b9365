//! Cancel safety on async-std and smol: `recv` inside `futures::select!` against a competing
//! timer and a yield, while frames trickle in a few bytes at a time; a stream that returns
//! `Pending` at every other call; sends cancelled mid-way. Nothing may be lost, duplicated or
//! corrupted.

#[macro_use]
mod common;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::*;
use futures::future::FutureExt;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures::{select_biased, StreamExt};
use ws_async_std::ws_proto::Role;
use ws_async_std::{CloseCode, Event, Message, WebSocket};

const N: usize = 150;

/// What a client would send: N messages (every third fragmented around a ping), then a close.
fn client_wire() -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..N {
        let p = payload(i, len_of(i) % 20_000);
        if i % 3 == 0 {
            let (a, b) = p.split_at(p.len() / 2);
            wire.extend(client_frame(false, 0x2, a));
            wire.extend(client_frame(true, 0x9, b"ping"));
            wire.extend(client_frame(true, 0x0, b));
        } else {
            wire.extend(client_frame(true, 0x2, &p));
        }
    }
    wire.extend(client_frame(true, 0x8, &1000u16.to_be_bytes()));
    wire
}

/// Receives every message with `recv` losing a `select!` again and again to a 1 ms timer and
/// to a plain yield.
async fn receive_all<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> (Vec<Vec<u8>>, usize) {
    let mut got = Vec::new();
    let mut cancelled = 0;
    let mut tick = async_io::Timer::interval(Duration::from_millis(1));
    loop {
        select_biased! {
            _ = tick.next().fuse() => cancelled += 1,
            () = yield_now().fuse() => cancelled += 1,
            event = ws.recv().fuse() => match event {
                Some(Ok(Event::Message(Message::Binary(b)))) => got.push(b.to_vec()),
                Some(Ok(Event::Ping(_))) => {}
                Some(Ok(Event::Closed(info))) => {
                    assert!(info.was_clean(), "{info:?}");
                    return (got, cancelled);
                }
                other => panic!("{other:?}"),
            },
        }
    }
}

fn check(got: &[Vec<u8>]) {
    check_sizes(got, 20_000);
}

/// Every message once, in order, intact (message `i` is `len_of(i) % modulo` bytes long).
fn check_sizes(got: &[Vec<u8>], modulo: usize) {
    assert_eq!(got.len(), N);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &payload(i, len_of(i) % modulo), "message {i}");
    }
}

/// Message sizes of the sending test: smaller, since both of its sides spin in `select!`
/// loops on flaky streams.
const SEND_MODULO: usize = 6_000;

/// A stream that returns `Pending` (after waking itself) at every other call and moves at most
/// `max` bytes per call.
struct Flaky<S> {
    inner: S,
    max: usize,
    reads: usize,
    writes: usize,
}

impl<S> Flaky<S> {
    fn new(inner: S, max: usize) -> Self {
        Self { inner, max, reads: 0, writes: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Flaky<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.reads += 1;
        if this.reads % 2 == 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = this.max.min(buf.len());
        Pin::new(&mut this.inner).poll_read(cx, &mut buf[..n])
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Flaky<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writes += 1;
        if this.writes % 2 == 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = this.max.min(buf.len());
        Pin::new(&mut this.inner).poll_write(cx, &buf[..n])
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

both! {
    async fn recv_in_select_while_bytes_trickle_in() {
        // A 7-byte pipe: every frame takes many reads.
        let (peer, io) = duplex(7);
        let mut server = WebSocket::from_connection(io, connection(Role::Server, config()));
        let (mut peer_rd, mut peer_wr) = peer.split();
        let writer = spawn(async move {
            let wire = client_wire();
            let (mut at, mut step) = (0, 1);
            while at < wire.len() {
                let end = (at + step).min(wire.len());
                peer_wr.write_all(&wire[at..end]).await.unwrap();
                at = end;
                step = step % 13 + 1;
                yield_now().await;
            }
            peer_wr.close().await.unwrap();
            peer_wr
        });
        // The pongs and the close echo must be read for the pipe not to fill.
        let reader = spawn(async move {
            let mut back = Vec::new();
            peer_rd.read_to_end(&mut back).await.unwrap();
            back
        });
        let (got, cancelled) = within(receive_all(&mut server)).await;
        check(&got);
        assert!(cancelled > 100, "only {cancelled} cancellations");
        assert!(within(server.recv()).await.is_none());
        drop(server);
        drop(within(writer).await);
        let back = within(reader).await;
        let (frames, rest) = server_frames(&back);
        assert_eq!(rest, 0);
        assert_eq!(frames.iter().filter(|f| f.1 == 0xA).count(), N.div_ceil(3), "one pong per ping");
        assert_eq!(frames.last().map(|f| f.1), Some(0x8));
    }

    async fn recv_over_a_stream_pending_every_other_call() {
        let (peer, io) = duplex(64 * 1024);
        let mut server = WebSocket::from_connection(Flaky::new(io, 5), connection(Role::Server, config()));
        let (mut peer_rd, mut peer_wr) = peer.split();
        let writer = spawn(async move {
            peer_wr.write_all(&client_wire()).await.unwrap();
            peer_wr.close().await.unwrap();
            peer_wr
        });
        let reader = spawn(async move {
            let mut back = Vec::new();
            peer_rd.read_to_end(&mut back).await.unwrap();
            back
        });
        let (got, _) = within(receive_all(&mut server)).await;
        check(&got);
        assert!(within(server.recv()).await.is_none());
        assert!(server.get_ref().reads > 100);
        drop(server);
        drop(within(writer).await);
        let (frames, _) = server_frames(&within(reader).await);
        assert_eq!(frames.iter().filter(|f| f.1 == 0xA).count(), N.div_ceil(3));
    }

    /// `feed` waits only before queuing, so a cancelled `feed` queued nothing and is retried;
    /// with a high-water mark that never makes it wait, `send` waits only after queuing, so a
    /// cancelled `send` queued the whole message and is not retried. Either way every message
    /// arrives once, in order, through flaky streams on both sides.
    async fn sends_cancelled_are_all_or_nothing() {
        for use_send in [false, true] {
            // Small enough that sends wait often, large enough to finish quickly with the
            // receiver on another thread.
            let (a, b) = duplex(601);
            let high_water = if use_send { 1 << 30 } else { 1024 };
            let cfg = config_with(|c| {
                c.write_high_water(high_water);
            });
            let mut client = WebSocket::from_connection(Flaky::new(a, 67), connection(Role::Client, cfg));
            let mut server = WebSocket::from_connection(Flaky::new(b, 73), connection(Role::Server, config()));
            let receiver = spawn(async move {
                let (got, _) = receive_all(&mut server).await;
                while server.recv().await.is_some() {}
                got
            });
            let mut cancelled = 0;
            let mut i = 0;
            while i < N {
                let msg = payload(i, len_of(i) % SEND_MODULO);
                let done = select_biased! {
                    r = async {
                        if use_send { client.send(msg).await } else { client.feed(msg).await }
                    }.fuse() => { r.unwrap(); true }
                    () = yield_now().fuse() => false,
                };
                if done {
                    i += 1;
                } else {
                    cancelled += 1;
                    if use_send {
                        assert!(client.buffered_amount() > 0, "a cancelled send left its message queued");
                        i += 1;
                    }
                }
            }
            within(client.flush()).await.unwrap();
            within(client.close(CloseCode::NORMAL, "")).await.unwrap();
            let closed = within(async {
                loop {
                    match client.recv().await {
                        Some(Ok(Event::Closed(info))) => break info,
                        Some(Ok(_)) => {}
                        other => panic!("{other:?}"),
                    }
                }
            })
            .await;
            assert!(closed.was_clean());
            assert!(within(client.recv()).await.is_none());
            let got = within(receiver).await;
            assert!(cancelled > 10, "only {cancelled} cancellations");
            check_sizes(&got, SEND_MODULO);
        }
    }

    async fn split_reader_in_select_loses_nothing() {
        let (peer, io) = duplex(11);
        let ws = WebSocket::from_connection(io, connection(Role::Server, config()));
        let (mut reader, _writer) = ws.split();
        let (mut peer_rd, mut peer_wr) = peer.split();
        let writer = spawn(async move {
            for chunk in client_wire().chunks(5) {
                peer_wr.write_all(chunk).await.unwrap();
            }
            peer_wr
        });
        let _drain = spawn(async move {
            let mut back = Vec::new();
            let _ = peer_rd.read_to_end(&mut back).await;
        });
        let mut got = Vec::new();
        let mut tick = async_io::Timer::interval(Duration::from_millis(1));
        within(async {
            loop {
                select_biased! {
                    _ = tick.next().fuse() => {}
                    () = yield_now().fuse() => {}
                    event = reader.recv().fuse() => match event {
                        Some(Ok(Event::Message(Message::Binary(b)))) => got.push(b.to_vec()),
                        Some(Ok(Event::Ping(_))) => {}
                        Some(Ok(Event::Closed(info))) => break assert!(info.was_clean()),
                        other => panic!("{other:?}"),
                    },
                }
            }
        })
        .await;
        check(&got);
        drop(within(writer).await);
    }
}
