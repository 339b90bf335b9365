//! `WsByteStream`: a WebSocket as `AsyncRead + AsyncWrite` (Node `createWebSocketStream`),
//! through its futures-io and its tokio implementations alike (both exist whatever the
//! runtime).

use std::io;

use futures::io::{AsyncReadExt as _, AsyncWriteExt as _};
use ws_async::runtime::Io;
use ws_async::ws_proto::Role;
use ws_async::{Event, Message, WebSocket, WsByteStream};

use crate::harness::*;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Echoes messages until the connection is over.
async fn echo_feed<S, R: Io<S>>(mut ws: WebSocket<S, R>) {
    while let Some(Ok(event)) = ws.recv().await {
        if let Event::Message(m) = event {
            let _ = ws.feed(m).await;
        }
    }
}

on_every_runtime! {
    /// futures-io: 1 MB copied through an echo server comes back whole; `close` half-closes.
    async fn copy_both_ways_through_an_echo_server<T: TestRt>() {
        let (client, server) = tcp_pair::<T>(config()).await;
        let server = T::spawn(echo_feed(server));
        let (mut rd, mut wr) = WsByteStream::new(client).split();
        let sent = data(1_000_000);
        let mut received = Vec::new();
        let (copied_in, copied_out) = within(futures::future::join(
            async {
                let n = futures::io::copy(&sent[..], &mut wr).await?;
                // Half-close: sends the close frame; reading goes on until its echo.
                wr.close().await?;
                io::Result::Ok(n)
            },
            futures::io::copy(&mut rd, &mut received),
        ))
        .await;
        assert_eq!(copied_in.unwrap(), sent.len() as u64);
        assert_eq!(copied_out.unwrap(), sent.len() as u64);
        assert!(received == sent, "echoed bytes differ");
        let ws = rd.reunite(wr).unwrap().into_inner();
        assert!(ws.close_info().is_some_and(|i| i.was_clean()));
        drop(ws);
        within(server).await;
    }

    /// tokio's io: 1 MB copied through an echo server comes back whole; `shutdown` half-closes.
    async fn copy_both_ways_with_tokio_io<T: TestRt>() {
        let (client, server) = tcp_pair::<T>(config()).await;
        let server = T::spawn(echo_feed(server));
        let (mut rd, mut wr) = tokio::io::split(WsByteStream::new(client));
        let sent = data(1_000_000);
        let mut received = Vec::new();
        let (copied_in, copied_out) = within(futures::future::join(
            async {
                let n = tokio::io::copy(&mut &sent[..], &mut wr).await?;
                tokio::io::AsyncWriteExt::shutdown(&mut wr).await?;
                io::Result::Ok(n)
            },
            tokio::io::copy(&mut rd, &mut received),
        ))
        .await;
        assert_eq!(copied_in.unwrap(), sent.len() as u64);
        assert_eq!(copied_out.unwrap(), sent.len() as u64);
        assert!(received == sent, "echoed bytes differ");
        let ws = rd.unsplit(wr).into_inner();
        assert!(ws.close_info().is_some_and(|i| i.was_clean()));
        drop(ws);
        within(server).await;
    }

    /// The halves of a split byte stream (futures-io's, then tokio's split) work from two tasks.
    async fn halves_in_two_tasks<T: TestRt>() {
        let sent = data(300_000);

        let (client, server) = tcp_pair::<T>(config()).await;
        let server = T::spawn(echo_feed(server));
        let (mut rd, mut wr) = WsByteStream::new(client).split();
        let to_send = sent.clone();
        let writer = T::spawn(async move {
            for chunk in to_send.chunks(1000) {
                wr.write_all(chunk).await.unwrap();
            }
            wr.close().await.unwrap();
            wr
        });
        let reader = T::spawn(async move {
            let mut received = Vec::new();
            rd.read_to_end(&mut received).await.unwrap();
            (rd, received)
        });
        let wr = within(writer).await;
        let (rd, received) = within(reader).await;
        assert!(received == sent, "echoed bytes differ");
        drop(rd.reunite(wr).unwrap());
        within(server).await;

        let (client, server) = tcp_pair::<T>(config()).await;
        let server = T::spawn(echo_feed(server));
        let (mut rd, mut wr) = tokio::io::split(WsByteStream::new(client));
        let to_send = sent.clone();
        let writer = T::spawn(async move {
            for chunk in to_send.chunks(1000) {
                tokio::io::AsyncWriteExt::write_all(&mut wr, chunk).await.unwrap();
            }
            tokio::io::AsyncWriteExt::shutdown(&mut wr).await.unwrap();
            wr
        });
        let reader = T::spawn(async move {
            let mut received = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut received).await.unwrap();
            (rd, received)
        });
        let wr = within(writer).await;
        let (rd, received) = within(reader).await;
        assert!(received == sent, "echoed bytes differ");
        drop(rd.unsplit(wr));
        within(server).await;
    }

    /// tokio's `copy_bidirectional` bridges a WebSocket and a byte pipe both ways, the close being EOF.
    async fn copy_bidirectional_bridges_a_websocket_and_a_pipe<T: TestRt>() {
        let (mut client, server) = pipe_pair::<T>(4096, config()).await;
        let (mut local, mut far) = duplex(1024);
        let bridge = T::spawn(async move {
            let mut stream = WsByteStream::new(server);
            tokio::io::copy_bidirectional(&mut stream, &mut local).await
        });
        // Bytes from the far end of the pipe become binary messages for the client...
        far.write_all(b"from the pipe").await.unwrap();
        match within(client.recv()).await {
            Some(Ok(Event::Message(Message::Binary(b)))) => assert_eq!(b, "from the pipe"),
            other => panic!("{other:?}"),
        }
        // ...and the client's messages (text too) come out of the pipe, concatenated.
        within(client.send("hello ")).await.unwrap();
        within(client.send(b"world".to_vec())).await.unwrap();
        let mut buf = [0u8; 11];
        within(far.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"hello world");
        // The client's close ends the readable side (EOF into the pipe).
        within(client.close(1000u16, "")).await.unwrap();
        let mut rest = Vec::new();
        within(far.read_to_end(&mut rest)).await.unwrap();
        assert!(rest.is_empty());
        drop(far);
        let (to_pipe, to_ws) = within(bridge).await.unwrap();
        assert_eq!((to_pipe, to_ws), (11, 13));
    }

    /// futures-io's `copy`, one per direction, bridges a WebSocket and a byte pipe, the close being EOF.
    async fn futures_copy_bridges_a_websocket_and_a_pipe<T: TestRt>() {
        let (mut client, server) = pipe_pair::<T>(4096, config()).await;
        let (local, far) = duplex(1024);
        let bridge = T::spawn(async move {
            let (ws_rd, mut ws_wr) = WsByteStream::new(server).split();
            let (local_rd, mut local_wr) = local.split();
            futures::future::join(
                async {
                    let n = futures::io::copy(ws_rd, &mut local_wr).await;
                    let _ = local_wr.close().await;
                    n
                },
                async {
                    let n = futures::io::copy(local_rd, &mut ws_wr).await;
                    let _ = ws_wr.close().await;
                    n
                },
            )
            .await
        });
        let (mut far_rd, mut far_wr) = far.split();
        // Bytes from the far end become binary messages for the client...
        far_wr.write_all(b"from the pipe").await.unwrap();
        match within(client.recv()).await {
            Some(Ok(Event::Message(Message::Binary(b)))) => assert_eq!(b, "from the pipe"),
            other => panic!("{other:?}"),
        }
        // ...and the client's messages (text too) come out of the pipe, concatenated.
        within(client.send("hello ")).await.unwrap();
        within(client.send(b"world".to_vec())).await.unwrap();
        let mut buf = [0u8; 11];
        within(far_rd.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"hello world");
        // The client's close is the readable side's EOF.
        within(client.close(1000u16, "")).await.unwrap();
        let mut rest = Vec::new();
        within(far_rd.read_to_end(&mut rest)).await.unwrap();
        assert!(rest.is_empty());
        drop(far_wr);
        let (to_pipe, to_ws) = within(bridge).await;
        assert_eq!((to_pipe.unwrap(), to_ws.unwrap()), (11, 13));
    }

    /// EOF without a close is `UnexpectedEof`, writing after it `BrokenPipe`, a protocol error `InvalidData`.
    async fn abnormal_end_is_an_error<T: TestRt>() {
        for tokio_io in [false, true] {
            // EOF without a close frame.
            let (client, server) = tcp_pair::<T>(config()).await;
            drop(server);
            let mut stream = WsByteStream::new(client);
            let mut buf = Vec::new();
            let err = if tokio_io {
                within(tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf)).await.unwrap_err()
            } else {
                within(stream.read_to_end(&mut buf)).await.unwrap_err()
            };
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            // Writing after the connection ended.
            let err = if tokio_io {
                within(tokio::io::AsyncWriteExt::write_all(&mut stream, b"x")).await.unwrap_err()
            } else {
                within(stream.write_all(b"x")).await.unwrap_err()
            };
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

            // A protocol error from the peer (invalid UTF-8 in a text message).
            let (mut peer, io) = duplex(1024);
            let mut stream = WsByteStream::new(websocket::<T, _>(io, Role::Server, config()));
            tokio::io::AsyncWriteExt::write_all(&mut peer, &client_frame(true, 0x1, b"ok ")).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut peer, &client_frame(true, 0x1, &[0xff, 0xfe])).await.unwrap();
            let mut buf = [0u8; 3];
            let mut more = [0u8; 8];
            let err = if tokio_io {
                within(tokio::io::AsyncReadExt::read_exact(&mut stream, &mut buf)).await.unwrap();
                within(tokio::io::AsyncReadExt::read(&mut stream, &mut more)).await.unwrap_err()
            } else {
                within(stream.read_exact(&mut buf)).await.unwrap();
                within(stream.read(&mut more)).await.unwrap_err()
            };
            assert_eq!(&buf, b"ok ");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        }
    }

    /// A clean close from the peer is EOF after the data; closing is then a no-op and writing fails.
    async fn clean_close_from_the_peer_is_eof<T: TestRt>() {
        for tokio_io in [false, true] {
            let (mut client, server) = pipe_pair::<T>(4096, config()).await;
            let mut stream = WsByteStream::from(server);
            within(client.send("last words")).await.unwrap();
            within(client.close(1000u16, "bye")).await.unwrap();
            let mut all = String::new();
            if tokio_io {
                within(tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut all)).await.unwrap();
            } else {
                within(stream.read_to_string(&mut all)).await.unwrap();
            }
            assert_eq!(all, "last words");
            assert_eq!(stream.get_ref().close_info().map(|i| i.reason().to_owned()).as_deref(), Some("bye"));
            // The peer closed: closing is a no-op, writing fails.
            let err = if tokio_io {
                within(tokio::io::AsyncWriteExt::shutdown(&mut stream)).await.unwrap();
                within(tokio::io::AsyncWriteExt::write(&mut stream, b"x")).await.unwrap_err()
            } else {
                within(stream.close()).await.unwrap();
                within(stream.write(b"x")).await.unwrap_err()
            };
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        }
    }
}
