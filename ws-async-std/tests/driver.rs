//! Driver mode on async-std and smol: the `Driver` future spawned on the test's runtime,
//! cloneable handles, bounded queues.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use ws_async_std::{CloseCode, Event, Message, Outbound, TrySendError};

both! {
    async fn handles_send_and_events_arrive() {
        let (mut client, server) = tcp_pair(config()).await;
        let (driver, handle, mut events) = server.into_driver(8);
        let driver = spawn(driver);
        let other = handle.clone();
        within(handle.send("one")).await.unwrap();
        within(other.send(vec![2u8])).await.unwrap();
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("one")));
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::binary(vec![2u8])));
        within(client.send("to the receiver")).await.unwrap();
        within(client.ping("p")).await.unwrap();
        assert!(matches!(within(events.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("to the receiver")));
        assert!(matches!(within(events.next()).await, Some(Ok(Event::Ping(_)))));
        // The driver answered the ping by itself.
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Pong(p))) if p == "p"));
        assert!(matches!(handle.try_command(Outbound::Ping(vec![0u8; 200].into())), Err(TrySendError::Send(_))));

        within(handle.close(CloseCode::NORMAL, "done")).await.unwrap();
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.reason(), "done"),
            other => panic!("{other:?}"),
        }
        let _client = spawn(async move { while client.recv().await.is_some() {} });
        assert!(matches!(within(events.recv()).await, Some(Ok(Event::Closed(i))) if i.was_clean()));
        assert!(within(events.recv()).await.is_none());
        within(handle.closed()).await;
        within(driver).await;
        assert!(handle.is_closed());
        assert!(matches!(handle.send("late").await, Err(ws_async_std::Error::ConnectionClosed)));
    }

    async fn a_full_queue_pushes_back_on_handles() {
        let cfg = config_with(|c| {
            c.write_high_water(4096);
        });
        let (_client, server) = raw_pair(1024, config(), cfg);
        let (driver, handle, _events) = server.into_driver(4);
        let _driver = spawn(driver);
        // The client never reads: the pipe, the connection's queue, then the command queue fill.
        let mut sent = 0;
        loop {
            match handle.try_send(vec![0u8; 1000]) {
                Ok(()) => sent += 1,
                Err(TrySendError::Full(m)) => {
                    assert_eq!(m.len(), 1000);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
            if sent % 4 == 0 {
                sleep(Duration::from_millis(5)).await;
            }
            assert!(sent < 100, "the queue never filled");
        }
        assert!(timeout(Duration::from_millis(100), handle.send("waits")).await.is_none());
    }

    async fn the_connection_closes_when_handles_and_receiver_are_gone() {
        let (mut client, server) = pipe_pair(4096, config()).await;
        let (driver, handle, events) = server.into_driver(4);
        let driver = spawn(driver);
        drop(handle);
        drop(events);
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::NORMAL),
            other => panic!("{other:?}"),
        }
        assert!(within(client.recv()).await.is_none());
        within(driver).await;
    }
}
