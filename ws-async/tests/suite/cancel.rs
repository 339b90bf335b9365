//! Cancel safety: receiving and sending inside `select!` with branches that win at every
//! other poll, over pipes that deliver a few bytes at a time and streams that return
//! `Pending` at every other call. Nothing may be lost, duplicated or corrupted.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::FutureExt;
use futures::{select_biased, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ws_async::runtime::Io;
use ws_async::ws_proto::Role;
use ws_async::{CloseCode, Event, Message, WebSocket};

use crate::harness::*;

const N: usize = 150;

/// Message `i` of a test is `len_of(i) % MODULO` bytes long.
const MODULO: usize = 20_000;

/// What a client would send: N messages (every third fragmented around a ping), then a close.
fn client_wire() -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..N {
        let p = payload(i, len_of(i) % MODULO);
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
/// to a plain yield; returns the messages and how many times `recv` was cancelled.
async fn receive_all<S, R: Io<S>>(ws: &mut WebSocket<S, R>) -> (Vec<Vec<u8>>, usize) {
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

/// Every message once, in order, intact.
fn check(got: &[Vec<u8>]) {
    assert_eq!(got.len(), N);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &payload(i, len_of(i) % MODULO), "message {i}");
    }
}

/// A stream that returns `Pending` (after waking itself) at every other call and moves at most
/// `max` bytes per call; `reads` counts its reads.
struct Flaky<S> {
    inner: S,
    max: usize,
    reads: Arc<AtomicUsize>,
    writes: usize,
    vectored: bool,
}

impl<S> Flaky<S> {
    fn new(inner: S, max: usize, vectored: bool) -> Self {
        Self { inner, max, reads: Arc::default(), writes: 0, vectored }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Flaky<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reads.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut tmp = vec![0u8; this.max.min(buf.remaining())];
        let mut small = ReadBuf::new(&mut tmp);
        match Pin::new(&mut this.inner).poll_read(cx, &mut small) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(small.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
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

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // At most `max` bytes, gathered across the slices.
        let mut flat = Vec::new();
        for b in bufs {
            flat.extend_from_slice(b);
            if flat.len() >= self.max {
                break;
            }
        }
        self.poll_write(cx, &flat)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

on_every_runtime! {
    /// `recv` cancelled again and again while frames trickle in loses nothing; pongs and close echo go out.
    async fn recv_cancelled_repeatedly_while_bytes_trickle_in<T: TestRt>() {
        // A tiny pipe: every frame arrives in many reads.
        let (peer, io) = duplex(7);
        let mut server = websocket::<T, _>(io, Role::Server, config());
        let (mut peer_rd, mut peer_wr) = peer.split();
        let writer = T::spawn(async move {
            let wire = client_wire();
            let (mut at, mut step) = (0, 1);
            while at < wire.len() {
                let end = (at + step).min(wire.len());
                peer_wr.write_all(&wire[at..end]).await.unwrap();
                at = end;
                step = step % 13 + 1;
                yield_now().await;
            }
            peer_wr.shutdown().await.unwrap();
            peer_wr
        });
        // The pongs and the close echo must be read for the pipe not to fill.
        let reader = T::spawn(async move {
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

    /// `recv` in `select!` over a stream `Pending` every other call loses nothing, vectored writes or not.
    async fn recv_over_a_stream_pending_every_other_call<T: TestRt>() {
        for vectored in [false, true] {
            let (peer, io) = duplex(64 * 1024);
            let flaky = Flaky::new(io, 5, vectored);
            let reads = flaky.reads.clone();
            let mut server = websocket::<T, _>(AnyStream::new(flaky), Role::Server, config());
            let (mut peer_rd, mut peer_wr) = peer.split();
            let writer = T::spawn(async move {
                peer_wr.write_all(&client_wire()).await.unwrap();
                peer_wr.shutdown().await.unwrap();
                peer_wr
            });
            let reader = T::spawn(async move {
                let mut back = Vec::new();
                peer_rd.read_to_end(&mut back).await.unwrap();
                back
            });
            let (got, _) = within(receive_all(&mut server)).await;
            check(&got);
            assert!(within(server.recv()).await.is_none());
            assert!(reads.load(Ordering::Relaxed) > 100);
            drop(server);
            drop(within(writer).await);
            let (frames, _) = server_frames(&within(reader).await);
            assert_eq!(frames.iter().filter(|f| f.1 == 0xA).count(), N.div_ceil(3));
        }
    }

    /// Cancelled `feed`s queue nothing and cancelled `send`s the whole message: each arrives once, in order.
    async fn sends_cancelled_are_all_or_nothing<T: TestRt>() {
        // N messages through a 61-byte pipe that fails every few calls, cancelled at random:
        // slow on a loaded 2-core machine, so each step gets more than the usual limit.
        const SLOW: Duration = Duration::from_secs(120);
        for use_send in [false, true] {
            let (a, b) = duplex(61);
            let high_water = if use_send { 1 << 30 } else { 1024 };
            let cfg = config_with(|c| c.write_high_water(high_water));
            let mut client = websocket::<T, _>(AnyStream::new(Flaky::new(a, 7, true)), Role::Client, cfg);
            let mut server = websocket::<T, _>(AnyStream::new(Flaky::new(b, 9, false)), Role::Server, config());
            let receiver = T::spawn(async move {
                let (got, _) = receive_all(&mut server).await;
                while server.recv().await.is_some() {}
                got
            });
            let mut cancelled = 0;
            let mut i = 0;
            while i < N {
                let msg = payload(i, len_of(i) % MODULO);
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
            within_for(SLOW, client.flush()).await.unwrap();
            within_for(SLOW, client.close(CloseCode::NORMAL, "")).await.unwrap();
            let closed = within_for(SLOW, async {
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
            // The client's stream is shut down once the connection is over: the server sees EOF.
            assert!(within_for(SLOW, client.recv()).await.is_none());
            let got = within_for(SLOW, receiver).await;
            assert!(cancelled > 10, "only {cancelled} cancellations");
            check(&got);
        }
    }

    /// A split reader's `recv` in `select!` loses nothing while frames arrive 5 bytes at a time.
    async fn split_reader_in_select_loses_nothing<T: TestRt>() {
        let (peer, io) = duplex(11);
        let (mut reader, _writer) = websocket::<T, _>(io, Role::Server, config()).split();
        let (mut peer_rd, mut peer_wr) = peer.split();
        let writer = T::spawn(async move {
            for chunk in client_wire().chunks(5) {
                peer_wr.write_all(chunk).await.unwrap();
            }
            peer_wr
        });
        let _drain = T::spawn(async move {
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
