//! `WsByteStream` on async-std and smol: a WebSocket as `AsyncRead + AsyncWrite` (Node
//! `createWebSocketStream`).

#[macro_use]
mod common;

use std::io;

use common::*;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ws_async_std::ws_proto::Role;
use ws_async_std::{Event, Message, WebSocket, WsByteStream};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Echoes messages until the connection is over.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    while let Some(Ok(event)) = ws.recv().await {
        if let Event::Message(m) = event {
            let _ = ws.feed(m).await;
        }
    }
}

both! {
    async fn copy_both_ways_through_an_echo_server() {
        let (client, server) = tcp_pair(config()).await;
        let server = spawn(echo(server));
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

    /// The halves of `AsyncReadExt::split` in two tasks.
    async fn halves_in_two_tasks() {
        let (client, server) = tcp_pair(config()).await;
        let server = spawn(echo(server));
        let (mut rd, mut wr) = WsByteStream::new(client).split();
        let sent = data(300_000);
        let to_send = sent.clone();
        let writer = spawn(async move {
            for chunk in to_send.chunks(1000) {
                wr.write_all(chunk).await.unwrap();
            }
            wr.close().await.unwrap();
            wr
        });
        let reader = spawn(async move {
            let mut received = Vec::new();
            rd.read_to_end(&mut received).await.unwrap();
            (rd, received)
        });
        let wr = within(writer).await;
        let (rd, received) = within(reader).await;
        assert!(received == sent, "echoed bytes differ");
        drop(rd.reunite(wr).unwrap());
        within(server).await;
    }

    async fn bridge_a_websocket_to_a_byte_pipe() {
        // The server copies its WebSocket into a local pipe and back; the client talks messages.
        let (mut client, server) = pipe_pair(4096, config()).await;
        let (local, far) = duplex(1024);
        let bridge = spawn(async move {
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

    async fn abnormal_end_is_an_error() {
        // EOF without a close frame.
        let (client, server) = tcp_pair(config()).await;
        drop(server);
        let mut stream = WsByteStream::new(client);
        let mut buf = Vec::new();
        let err = within(stream.read_to_end(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = within(stream.write_all(b"x")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

        // A protocol error from the peer (invalid UTF-8 in a text message).
        let (mut peer, io) = duplex(1024);
        let mut stream = WsByteStream::new(WebSocket::from_connection(io, connection(Role::Server, config())));
        peer.write_all(&client_frame(true, 0x1, b"ok ")).await.unwrap();
        peer.write_all(&client_frame(true, 0x1, &[0xff, 0xfe])).await.unwrap();
        let mut buf = [0u8; 3];
        within(stream.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"ok ");
        let err = within(stream.read(&mut [0u8; 8])).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    async fn clean_close_from_the_peer_is_eof() {
        let (mut client, server) = pipe_pair(4096, config()).await;
        let mut stream = WsByteStream::from(server);
        within(client.send("last words")).await.unwrap();
        within(client.close(1000u16, "bye")).await.unwrap();
        let mut all = String::new();
        within(stream.read_to_string(&mut all)).await.unwrap();
        assert_eq!(all, "last words");
        assert_eq!(stream.get_ref().close_info().map(|i| i.reason().to_owned()).as_deref(), Some("bye"));
        // The peer closed: close is a no-op, writing fails.
        within(stream.close()).await.unwrap();
        assert_eq!(within(stream.write(b"x")).await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
