//! A peer's close never overtakes the application's answers: N messages followed at once by a
//! close get N answers and then the close echo, whichever way the server application reads
//! (directly, through split halves, through a driver task's handle and receiver, or as a
//! tracked `Server` connection), and a byte-stream client gets back every byte it sent
//! before shutting down.

use std::time::Duration;

use futures::io::{AsyncReadExt as _, AsyncWriteExt as _};
use ws_async::server::Server;
use ws_async::ws_proto::Role;
use ws_async::{Event, WsByteStream};

use crate::harness::*;

/// Messages sent before the close.
const N: usize = 40;

/// What the client sends in one write: `N` texts, then a close frame (1000, "done").
fn texts_then_close() -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..N {
        wire.extend(client_frame(true, 0x1, format!("m{i}").as_bytes()));
    }
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    wire.extend(client_frame(true, 0x8, &close));
    wire
}

/// Checks what the server sent: the `N` answers in order, then the echo of the close.
#[track_caller]
fn assert_answers_then_close(wire: &[u8]) {
    let (frames, rest) = server_frames(wire);
    assert_eq!(rest, 0, "the server's output ends inside a frame");
    let texts: Vec<String> =
        frames.iter().filter(|f| f.1 == 0x1).map(|f| String::from_utf8(f.2.clone()).unwrap()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected, "every message answered, in order");
    let last = frames.last().expect("frames");
    assert_eq!(last.1, 0x8, "the close echo comes last");
    assert_eq!(&last.2[..2], &1000u16.to_be_bytes());
    assert_eq!(frames.iter().filter(|f| f.1 == 0x8).count(), 1, "one close frame");
}

/// Writes the client's frames on `io` and reads the server's output to its end.
async fn exchange(mut io: Pipe) -> Vec<u8> {
    tokio::io::AsyncWriteExt::write_all(&mut io, &texts_then_close()).await.unwrap();
    let mut out = Vec::new();
    within(tokio::io::AsyncReadExt::read_to_end(&mut io, &mut out)).await.unwrap();
    out
}

/// A small pause, so that a close handled too early would overtake the answers.
async fn think() {
    sleep(Duration::from_millis(1)).await;
}

on_every_runtime! {
    /// Reading and answering on the `WebSocket` itself.
    async fn direct_answers_go_before_the_close_echo<T: TestRt>() {
        let (client, server) = duplex(1 << 20);
        let mut ws = websocket::<T, _>(server, Role::Server, config());
        let app = T::spawn(async move {
            while let Some(event) = ws.recv().await {
                if let Event::Message(m) = event.unwrap() {
                    think().await;
                    ws.send(m).await.unwrap();
                }
            }
        });
        assert_answers_then_close(&exchange(client).await);
        within(app).await;
    }

    /// Reading on the split reader, answering on the writer.
    async fn split_answers_go_before_the_close_echo<T: TestRt>() {
        let (client, server) = duplex(1 << 20);
        let (mut reader, mut writer) = websocket::<T, _>(server, Role::Server, config()).split();
        let app = T::spawn(async move {
            while let Some(event) = reader.recv().await {
                if let Event::Message(m) = event.unwrap() {
                    think().await;
                    writer.send(m).await.unwrap();
                }
            }
        });
        assert_answers_then_close(&exchange(client).await);
        within(app).await;
    }

    /// Driver mode: the driver task reads the close while the application is still
    /// answering the messages before it, through the handle.
    async fn driver_answers_go_before_the_close_echo<T: TestRt>() {
        let (client, server) = duplex(1 << 20);
        let (handle, mut events) = websocket::<T, _>(server, Role::Server, config()).spawn(4);
        let app = T::spawn(async move {
            let mut closed = None;
            while let Some(event) = events.recv().await {
                match event.unwrap() {
                    Event::Message(m) => {
                        think().await;
                        handle.send(m).await.unwrap();
                    }
                    Event::Closed(info) => closed = Some(info),
                    _ => {}
                }
            }
            closed.expect("Closed after the echo")
        });
        assert_answers_then_close(&exchange(client).await);
        let closed = within(app).await;
        assert!(closed.was_clean(), "{closed:?}");
        assert_eq!(closed.code().as_u16(), 1000);
    }

    /// A driver-mode application that never reads its events: the close timeout bounds the
    /// wait, then the echo goes out.
    async fn a_driver_app_that_never_reads_gets_the_echo_at_the_close_timeout<T: TestRt>() {
        let (client, server) = duplex(1 << 20);
        let cfg = config_with(|c| c.close_timeout(Some(Duration::from_millis(300))));
        let (_handle, _events) = websocket::<T, _>(server, Role::Server, cfg).spawn(64);
        let started = std::time::Instant::now();
        let wire = exchange(client).await;
        let (frames, _) = server_frames(&wire);
        assert_eq!(frames.len(), 1, "only the close echo: {frames:?}");
        assert_eq!(frames[0].1, 0x8);
        assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    }

    /// The tracked `Server` (driver mode) answers everything before the close echo; a client
    /// that copies bytes through `WsByteStream` and then shuts down gets them all back.
    async fn a_tracked_server_returns_every_byte_before_the_close<T: TestRt>() {
        let server = within(Server::<T::R>::builder().bind("127.0.0.1", 0)).await.unwrap();
        let addr = server.local_addr().unwrap();
        let app = T::spawn(async move {
            let conn = within(server.accept()).await.unwrap();
            let (handle, mut events) = (conn.handle, conn.events);
            while let Some(event) = events.recv().await {
                if let Event::Message(m) = event.unwrap() {
                    think().await;
                    handle.send(m).await.unwrap();
                }
            }
            server
        });
        let (client, _) = within(ws_async::connect::<T::R>(&format!("ws://{addr}/"))).await.unwrap();
        let (mut rd, mut wr) = WsByteStream::new(client).split();
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut received = Vec::new();
        let (written, read) = within(futures::future::join(
            async {
                for chunk in sent.chunks(7_000) {
                    wr.write_all(chunk).await?;
                }
                wr.close().await
            },
            rd.read_to_end(&mut received),
        ))
        .await;
        written.unwrap();
        assert_eq!(read.unwrap(), sent.len(), "bytes echoed before the close");
        assert!(received == sent, "echoed bytes differ");
        // The client closes TCP; the server's connection then ends.
        drop((rd, wr));
        within(app).await;
    }
}
