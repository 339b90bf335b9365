//! Cancel safety: receiving and sending inside `select!` with branches that win at every
//! other poll, over pipes that deliver a few bytes at a time and streams that return
//! `Pending` at every other call. Nothing may be lost, duplicated or corrupted.

mod common;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ws_tokio::ws_proto::Role;
use ws_tokio::{CloseCode, Event, Message, WebSocket};

const N: usize = 150;

/// The bytes a client would send: N messages (some fragmented, pings interleaved), then a
/// close.
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

/// Receives every message with `recv` cancelled by competing branches.
async fn receive_all<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> (Vec<Vec<u8>>, usize) {
    let mut got = Vec::new();
    let mut cancelled = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    loop {
        tokio::select! {
            event = ws.recv() => match event {
                Some(Ok(Event::Message(Message::Binary(b)))) => got.push(b.to_vec()),
                Some(Ok(Event::Ping(_))) => {}
                Some(Ok(Event::Closed(info))) => {
                    assert!(info.was_clean(), "{info:?}");
                    return (got, cancelled);
                }
                other => panic!("{other:?}"),
            },
            () = tokio::task::yield_now() => cancelled += 1,
            _ = tick.tick() => cancelled += 1,
        }
    }
}

fn check(got: &[Vec<u8>]) {
    assert_eq!(got.len(), N);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &payload(i, len_of(i) % 20_000), "message {i}");
    }
}

#[tokio::test]
async fn recv_cancelled_repeatedly_while_bytes_trickle_in() {
    // A tiny pipe: every frame arrives in many reads.
    let (peer, server_io) = tokio::io::duplex(7);
    let mut server = WebSocket::from_connection(server_io, connection(Role::Server, config()));
    let (mut peer_rd, mut peer_wr) = tokio::io::split(peer);
    let writer = tokio::spawn(async move {
        let wire = client_wire();
        let mut at = 0;
        let mut step = 1;
        while at < wire.len() {
            let end = (at + step).min(wire.len());
            peer_wr.write_all(&wire[at..end]).await.unwrap();
            at = end;
            step = step % 13 + 1;
            tokio::task::yield_now().await;
        }
        peer_wr.shutdown().await.unwrap();
        peer_wr
    });
    // The pongs and the close echo must be read for the pipe not to fill.
    let reader = tokio::spawn(async move {
        let mut back = Vec::new();
        peer_rd.read_to_end(&mut back).await.unwrap();
        back
    });
    let (got, cancelled) = within(receive_all(&mut server)).await;
    check(&got);
    assert!(cancelled > 100, "only {cancelled} cancellations");
    assert!(within(server.recv()).await.is_none());
    drop(server);
    drop(within(writer).await.unwrap());
    let back = within(reader).await.unwrap();
    let (frames, rest) = server_frames(&back);
    assert_eq!(rest, 0);
    let pongs = frames.iter().filter(|f| f.1 == 0xA).count();
    assert_eq!(pongs, N.div_ceil(3));
    assert_eq!(frames.last().map(|f| f.1), Some(0x8));
}

/// A stream that returns `Pending` (after waking itself) at every other call and moves at most
/// `max` bytes per call.
struct Flaky<S> {
    inner: S,
    max: usize,
    reads: usize,
    writes: usize,
    vectored: bool,
}

impl<S> Flaky<S> {
    fn new(inner: S, max: usize, vectored: bool) -> Self {
        Self { inner, max, reads: 0, writes: 0, vectored }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Flaky<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.reads += 1;
        if this.reads % 2 == 0 {
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
        bufs: &[io::IoSlice<'_>],
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

#[tokio::test]
async fn recv_over_a_stream_pending_every_other_call() {
    for vectored in [false, true] {
        let (peer, server_io) = tokio::io::duplex(64 * 1024);
        let io = Flaky::new(server_io, 5, vectored);
        let mut server = WebSocket::from_connection(io, connection(Role::Server, config()));
        let (mut peer_rd, mut peer_wr) = tokio::io::split(peer);
        let writer = tokio::spawn(async move {
            peer_wr.write_all(&client_wire()).await.unwrap();
            peer_wr.shutdown().await.unwrap();
            peer_wr
        });
        let reader = tokio::spawn(async move {
            let mut back = Vec::new();
            peer_rd.read_to_end(&mut back).await.unwrap();
            back
        });
        let (got, _) = within(receive_all(&mut server)).await;
        check(&got);
        assert!(within(server.recv()).await.is_none());
        assert!(server.get_ref().reads > 100);
        drop(server);
        drop(within(writer).await.unwrap());
        let (frames, _) = server_frames(&within(reader).await.unwrap());
        assert_eq!(frames.iter().filter(|f| f.1 == 0xA).count(), N.div_ceil(3));
    }
}

/// `feed` waits only before queuing, so a cancelled `feed` queued nothing and is retried;
/// with a high-water mark that never makes it wait, `send` waits only after queuing, so a
/// cancelled `send` queued the whole message and is not retried. Either way every message
/// arrives exactly once, in order, through flaky streams on both sides.
#[tokio::test]
async fn sends_cancelled_are_all_or_nothing() {
    for use_send in [false, true] {
        let (a, b) = tokio::io::duplex(61);
        let high_water = if use_send { 1 << 30 } else { 1024 };
        let cfg = config_with(|c| {
            c.write_high_water(high_water);
        });
        let mut client = WebSocket::from_connection(Flaky::new(a, 7, true), connection(Role::Client, cfg));
        let mut server = WebSocket::from_connection(Flaky::new(b, 9, false), connection(Role::Server, config()));
        let receiver = tokio::spawn(async move {
            let (got, _) = receive_all(&mut server).await;
            while server.recv().await.is_some() {}
            got
        });
        let mut cancelled = 0;
        let mut i = 0;
        while i < N {
            let msg = payload(i, len_of(i) % 20_000);
            let done = tokio::select! {
                r = async {
                    if use_send { client.send(msg).await } else { client.feed(msg).await }
                } => { r.unwrap(); true }
                () = tokio::task::yield_now() => false,
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
        // The client's stream is shut down once the connection is over: the server sees EOF.
        assert!(within(client.recv()).await.is_none());
        let got = within(receiver).await.unwrap();
        assert!(cancelled > 10, "only {cancelled} cancellations");
        check(&got);
    }
}
