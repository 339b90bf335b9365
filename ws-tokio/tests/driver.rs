//! Driver-task mode: `WebSocket::spawn`, `WsHandle`, `EventReceiver`, both bounded queues.

mod common;

use std::time::Duration;

use common::*;
#[cfg(feature = "futures")]
use futures_util::StreamExt;
use ws_tokio::{CloseCode, Event, Message, PreparedMessage, TrySendError};

#[tokio::test]
async fn messages_pings_and_close_through_handles() {
    let (mut client, server) = tcp_pair(config()).await;
    let (handle, mut events) = server.spawn(8);
    let other = handle.clone();

    within(client.send("hi")).await.unwrap();
    assert!(matches!(within(events.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("hi")));
    within(handle.send("back")).await.unwrap();
    within(other.send(vec![1u8, 2])).await.unwrap();
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("back")));
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::binary(vec![1u8, 2])));

    within(handle.ping(&b"are you there"[..])).await.unwrap();
    // The client only reads: its pong is written from recv, and reaches the event channel.
    let client_task = tokio::spawn(async move {
        let mut last = None;
        while let Some(Ok(event)) = client.recv().await {
            if let Event::Closed(info) = event {
                last = Some(info);
            }
        }
        last
    });
    assert!(matches!(within(events.recv()).await, Some(Ok(Event::Pong(p))) if p == "are you there"));
    assert!(matches!(handle.ping(vec![0u8; 126]).await, Err(ws_tokio::Error::Send(_))));

    assert!(!handle.is_closed());
    within(other.close(CloseCode::NORMAL, "bye")).await.unwrap();
    match within(events.recv()).await {
        Some(Ok(Event::Closed(info))) => assert!(info.was_clean()),
        other => panic!("{other:?}"),
    }
    assert!(handle.is_closed());
    assert!(matches!(handle.send("late").await, Err(ws_tokio::Error::ConnectionClosed)));
    assert!(matches!(handle.try_send("late"), Err(TrySendError::Closed(_))));
    within(handle.closed()).await;
    assert!(within(events.recv()).await.is_none());
    let info = within(client_task).await.unwrap().unwrap();
    assert_eq!((info.code(), info.reason()), (CloseCode::NORMAL, "bye"));
}

#[tokio::test]
async fn try_send_is_full_when_the_peer_does_not_read() {
    let cfg = config_with(|c| {
        c.write_high_water(8 * 1024);
    });
    let (client, server) = raw_pair(4096, config(), cfg);
    let (handle, _events) = server.spawn(4);
    let mut accepted = 0;
    let mut full = false;
    for i in 0..1000 {
        match handle.try_send(payload(i, 4000)) {
            Ok(()) => accepted += 1,
            Err(TrySendError::Full(m)) => {
                assert_eq!(m.len(), payload(i, 4000).len());
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        // Let the driver take commands and write what it can.
        tokio::task::yield_now().await;
    }
    assert!(full, "the queue never filled");
    // The pipe, the connection's queue (high-water mark plus one message) and the command
    // queue bound what was accepted.
    assert!(accepted <= (4096 + 8 * 1024) / 4000 + 2 + 4 + 1, "{accepted} accepted");

    // The peer reads: every accepted message arrives, in order.
    let mut client = client;
    for i in 0..accepted {
        match within(client.recv()).await {
            Some(Ok(Event::Message(Message::Binary(b)))) => assert_eq!(b, payload(i, 4000)),
            other => panic!("{other:?}"),
        }
    }
    within(handle.send("and more")).await.unwrap();
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("and more")));
}

#[tokio::test]
async fn a_full_event_channel_stops_reading() {
    let (client, server) = tcp_pair(config()).await;
    let (_handle, mut events) = server.spawn(2);
    let mut client = client;
    // Nobody takes events: the driver stops reading and the client's sends start to wait.
    let mut sent = 0;
    for i in 0..2000 {
        match tokio::time::timeout(Duration::from_millis(200), client.send(payload(i, 16 * 1024))).await {
            Ok(r) => {
                r.unwrap();
                sent += 1;
            }
            Err(_) => break,
        }
    }
    assert!(sent < 2000, "the driver never stopped reading");
    // Taking events lets everything through, in order (the last send was cancelled while
    // flushing: its message is queued, and the next sends write it).
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while let Some(Ok(Event::Message(Message::Binary(b)))) = events.recv().await {
            assert_eq!(b, payload(n, 16 * 1024), "message {n}");
            n += 1;
        }
        n
    });
    for i in sent + 1..sent + 50 {
        within(client.send(payload(i, 16 * 1024))).await.unwrap();
    }
    within(client.close(1000u16, "")).await.unwrap();
    while let Some(Ok(event)) = within(client.recv()).await {
        if matches!(event, Event::Closed(_)) {
            break;
        }
    }
    assert_eq!(within(reader).await.unwrap(), sent + 50);
}

#[tokio::test]
async fn encode_once_broadcast() {
    let mut clients = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (client, server) = tcp_pair(config()).await;
        let (handle, events) = server.spawn(16);
        clients.push(client);
        handles.push((handle, events));
    }
    let prepared = PreparedMessage::new(Message::text("to everyone"));
    for (handle, _) in &handles {
        handle.try_send_prepared(prepared.clone()).unwrap();
        within(handle.send_prepared(prepared.clone())).await.unwrap();
    }
    for client in &mut clients {
        for _ in 0..2 {
            assert!(
                matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("to everyone"))
            );
        }
    }
}

#[tokio::test]
async fn dropping_handles_and_receiver_closes_normally() {
    let (mut client, server) = duplex_pair(4096, config()).await;
    let (handle, events) = server.spawn(4);
    within(handle.send("last")).await.unwrap();
    drop(handle);
    drop(events);
    assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(_)))));
    match within(client.recv()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::NORMAL),
        other => panic!("{other:?}"),
    }
    assert!(within(client.recv()).await.is_none());
}

#[cfg(feature = "futures")]
#[tokio::test]
async fn event_receiver_is_a_stream_and_terminate_arrives() {
    let (client, server) = duplex_pair(4096, config()).await;
    let (handle, mut events) = server.spawn(4);
    let mut client = client;
    within(client.send("one")).await.unwrap();
    assert!(matches!(within(events.next()).await, Some(Ok(Event::Message(_)))));
    within(handle.terminate()).await.unwrap();
    match within(events.next()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
    assert!(within(events.next()).await.is_none());
    match within(client.recv()).await {
        Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
        other => panic!("{other:?}"),
    }
}
