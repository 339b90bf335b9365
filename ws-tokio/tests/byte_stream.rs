//! `WsByteStream`: a WebSocket as `AsyncRead + AsyncWrite` (Node `createWebSocketStream`).

mod common;

use std::io;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_tokio::ws_proto::Role;
use ws_tokio::{Event, Message, WebSocket, WsByteStream};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Echoes messages until the connection is over.
async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    while let Some(Ok(event)) = ws.recv().await {
        if let Event::Message(m) = event {
            let _ = ws.feed(m).await;
        }
    }
}

#[tokio::test]
async fn copy_both_ways_through_an_echo_server() {
    let (client, server) = tcp_pair(config()).await;
    let server = tokio::spawn(echo(server));
    let stream = WsByteStream::new(client);
    let (mut rd, mut wr) = tokio::io::split(stream);
    let sent = data(1_000_000);
    let mut received = Vec::new();
    let (copied_in, copied_out) = within(async {
        tokio::join!(
            async {
                let n = tokio::io::copy(&mut &sent[..], &mut wr).await?;
                // Half-close: sends the close frame; reading goes on until the echo of it.
                wr.shutdown().await?;
                io::Result::Ok(n)
            },
            tokio::io::copy(&mut rd, &mut received),
        )
    })
    .await;
    assert_eq!(copied_in.unwrap(), sent.len() as u64);
    assert_eq!(copied_out.unwrap(), sent.len() as u64);
    assert!(received == sent, "echoed bytes differ");
    let ws = rd.unsplit(wr).into_inner();
    assert!(ws.close_info().is_some_and(|i| i.was_clean()));
    drop(ws);
    within(server).await.unwrap();
}

/// The halves of `tokio::io::split` in two tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_in_two_tasks() {
    let (client, server) = tcp_pair(config()).await;
    let server = tokio::spawn(echo(server));
    let (mut rd, mut wr) = tokio::io::split(WsByteStream::new(client));
    let sent = data(300_000);
    let to_send = sent.clone();
    let writer = tokio::spawn(async move {
        for chunk in to_send.chunks(1000) {
            wr.write_all(chunk).await.unwrap();
        }
        wr.shutdown().await.unwrap();
        wr
    });
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        rd.read_to_end(&mut received).await.unwrap();
        (rd, received)
    });
    let wr = within(writer).await.unwrap();
    let (rd, received) = within(reader).await.unwrap();
    assert!(received == sent, "echoed bytes differ");
    drop(rd.unsplit(wr));
    within(server).await.unwrap();
}

#[tokio::test]
async fn copy_bidirectional_on_the_server_side() {
    // The server bridges its WebSocket to a local byte pipe; the client talks messages.
    let (mut client, server) = duplex_pair(4096, config()).await;
    let (mut local, mut far) = tokio::io::duplex(1024);
    let bridge = tokio::spawn(async move {
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
    let (to_pipe, to_ws) = within(bridge).await.unwrap().unwrap();
    assert_eq!((to_pipe, to_ws), (11, 13));
}

#[tokio::test]
async fn abnormal_end_is_an_error() {
    // EOF without a close frame.
    let (client, server) = tcp_pair(config()).await;
    drop(server);
    let mut stream = WsByteStream::new(client);
    let mut buf = Vec::new();
    let err = within(stream.read_to_end(&mut buf)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    // Writing after the connection ended.
    let err = within(stream.write_all(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

    // A protocol error from the peer.
    let (mut peer, server_io) = tokio::io::duplex(1024);
    let mut stream = WsByteStream::new(WebSocket::from_connection(server_io, connection(Role::Server, config())));
    peer.write_all(&client_frame(true, 0x1, b"ok ")).await.unwrap();
    peer.write_all(&client_frame(true, 0x1, &[0xff, 0xfe])).await.unwrap();
    let mut buf = [0u8; 3];
    within(stream.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"ok ");
    let err = within(stream.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn clean_close_from_the_peer_is_eof() {
    let (mut client, server) = duplex_pair(4096, config()).await;
    let mut stream = WsByteStream::from(server);
    within(client.send("last words")).await.unwrap();
    within(client.close(1000u16, "bye")).await.unwrap();
    let mut all = String::new();
    within(stream.read_to_string(&mut all)).await.unwrap();
    assert_eq!(all, "last words");
    assert_eq!(stream.get_ref().close_info().map(|i| i.reason().to_owned()).as_deref(), Some("bye"));
    // The peer closed: shutdown is a no-op, writing fails.
    within(stream.shutdown()).await.unwrap();
    assert_eq!(within(stream.write(b"x")).await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}
