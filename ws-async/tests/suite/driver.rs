//! Driver mode: `WebSocket::spawn` (a task of the runtime's, through ws-async's `Runtime`) and
//! `WebSocket::into_driver` (the `Driver` future spawned by the test), `WsHandle`,
//! `EventReceiver`, both bounded queues.

use std::time::Duration;

use futures::StreamExt;
use std::sync::Arc;

use ws_async::ws_proto::ClientRequest;
use ws_async::{
    extension, CloseCode, Config, DeflateConfig, Error, Event, Message, Outbound, PreparedMessage, SendOptions,
    ServerOptions, TrySendError,
};

use crate::harness::*;

on_every_runtime! {
    /// `spawn`: messages, pings and a close go through cloned handles and the event receiver; then sends fail.
    async fn messages_pings_and_close_through_handles<T: TestRt>() {
        let (mut client, server) = tcp_pair::<T>(config()).await;
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
        let client_task = T::spawn(async move {
            let mut last = None;
            while let Some(Ok(event)) = client.recv().await {
                if let Event::Closed(info) = event {
                    last = Some(info);
                }
            }
            last
        });
        assert!(matches!(within(events.recv()).await, Some(Ok(Event::Pong(p))) if p == "are you there"));
        assert!(matches!(handle.ping(vec![0u8; 126]).await, Err(Error::Send(_))));

        assert!(!handle.is_closed());
        within(other.close(CloseCode::NORMAL, "bye")).await.unwrap();
        match within(events.recv()).await {
            Some(Ok(Event::Closed(info))) => assert!(info.was_clean()),
            other => panic!("{other:?}"),
        }
        assert!(handle.is_closed());
        assert!(matches!(handle.send("late").await, Err(Error::ConnectionClosed)));
        assert!(matches!(handle.try_send("late"), Err(TrySendError::Closed(_))));
        within(handle.closed()).await;
        assert!(within(events.recv()).await.is_none());
        let info = within(client_task).await.unwrap();
        assert_eq!((info.code(), info.reason()), (CloseCode::NORMAL, "bye"));
    }

    /// `into_driver`: the `Driver` future spawned by the app sends, receives, answers pings and ends on close.
    async fn handles_send_and_events_arrive_with_the_driver_future<T: TestRt>() {
        let (mut client, server) = tcp_pair::<T>(config()).await;
        let (driver, handle, mut events) = server.into_driver(8);
        let driver = T::spawn(driver);
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
        let _client = T::spawn(async move { while client.recv().await.is_some() {} });
        assert!(matches!(within(events.recv()).await, Some(Ok(Event::Closed(i))) if i.was_clean()));
        assert!(within(events.recv()).await.is_none());
        within(handle.closed()).await;
        within(driver).await;
        assert!(handle.is_closed());
        assert!(matches!(handle.send("late").await, Err(Error::ConnectionClosed)));
    }

    /// A peer that does not read fills the bounded queues: `try_send` is `Full`, `send` waits, order is kept.
    async fn try_send_is_full_when_the_peer_does_not_read<T: TestRt>() {
        let cfg = config_with(|c| c.write_high_water(8 * 1024));
        let (mut client, server) = raw_pair::<T>(4096, config(), cfg);
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
            yield_now().await;
            if accepted % 4 == 0 {
                sleep(Duration::from_millis(5)).await;
            }
        }
        assert!(full, "the queue never filled");
        // The pipe, the connection's queue (high-water mark plus one message) and the command
        // queue bound what was accepted.
        assert!(accepted <= (4096 + 8 * 1024) / 4000 + 2 + 4 + 1, "{accepted} accepted");
        assert!(timeout(Duration::from_millis(100), handle.send("waits")).await.is_none(), "send did not wait");

        // The peer reads: every accepted message arrives, in order (then the one whose send
        // was cancelled while waiting for room, if it was queued).
        for i in 0..accepted {
            match within(client.recv()).await {
                Some(Ok(Event::Message(Message::Binary(b)))) => assert_eq!(b, payload(i, 4000)),
                other => panic!("{other:?}"),
            }
        }
        within(handle.send("and more")).await.unwrap();
        loop {
            match within(client.recv()).await {
                Some(Ok(Event::Message(m))) if m == Message::text("waits") => {}
                Some(Ok(Event::Message(m))) => break assert_eq!(m, Message::text("and more")),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Nobody takes events: the driver stops reading (the peer's sends wait); taking them lets all through.
    async fn a_full_event_channel_stops_reading<T: TestRt>() {
        let (client, server) = tcp_pair::<T>(config()).await;
        let (_handle, mut events) = server.spawn(2);
        let mut client = client;
        // Nobody takes events: the driver stops reading and the client's sends start to wait.
        let mut sent = 0;
        for i in 0..2000 {
            match timeout(Duration::from_millis(200), client.send(payload(i, 16 * 1024))).await {
                Some(r) => {
                    r.unwrap();
                    sent += 1;
                }
                None => break,
            }
        }
        assert!(sent < 2000, "the driver never stopped reading");
        // Taking events lets everything through, in order (the last send was cancelled while
        // flushing: its message is queued, and the next sends write it).
        let reader = T::spawn(async move {
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
        assert_eq!(within(reader).await, sent + 50);
    }

    /// A `PreparedMessage` (framed once) reaches several connections through `try_send_prepared`/`send_prepared`.
    async fn encode_once_broadcast<T: TestRt>() {
        let mut clients = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let (client, server) = tcp_pair::<T>(config()).await;
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

    /// Dropping every handle and the receiver closes normally (1000) after what was sent, in both driver modes.
    async fn dropping_handles_and_receiver_closes_normally<T: TestRt>() {
        for into_driver in [false, true] {
            let (mut client, server) = pipe_pair::<T>(4096, config()).await;
            let (handle, events, driver) = if into_driver {
                let (driver, handle, events) = server.into_driver(4);
                (handle, events, Some(T::spawn(driver)))
            } else {
                let (handle, events) = server.spawn(4);
                (handle, events, None)
            };
            within(handle.send("last")).await.unwrap();
            drop(handle);
            drop(events);
            assert!(matches!(within(client.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("last")));
            match within(client.recv()).await {
                Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::NORMAL),
                other => panic!("{other:?}"),
            }
            assert!(within(client.recv()).await.is_none());
            if let Some(driver) = driver {
                within(driver).await;
            }
        }
    }

    /// `terminate` while the event channel is full: the messages already received (one in the
    /// channel, one held by the driver, two left unparsed while it stopped reading) all reach
    /// the receiver before `Closed` (1006).
    async fn terminate_delivers_the_messages_already_received<T: TestRt>() {
        let (client, mut server) = raw_pair::<T>(4096, config(), config());
        let (driver, handle, mut events) = client.into_driver(1);
        for m in ["one", "two", "three", "four"] {
            within(server.feed(m)).await.unwrap();
        }
        within(server.flush()).await.unwrap();
        let driver = T::spawn(driver);
        // Let the driver read all four, fill the channel and stop parsing.
        sleep(Duration::from_millis(100)).await;
        handle.terminate_now().unwrap();
        for m in ["one", "two", "three", "four"] {
            assert!(matches!(within(events.recv()).await, Some(Ok(Event::Message(got))) if got == Message::text(m)), "{m}");
        }
        match within(events.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
            other => panic!("expected Closed after the messages received, got {other:?}"),
        }
        within(driver).await;
    }

    /// The event receiver is a `Stream`; `terminate` from a handle ends both sides with 1006.
    async fn event_receiver_is_a_stream_and_terminate_arrives<T: TestRt>() {
        let (mut client, server) = pipe_pair::<T>(4096, config()).await;
        let (handle, mut events) = server.spawn(4);
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
}

on_every_runtime! {
    /// Messages a handle queued behind a close are never silently dropped: once the driver
    /// applied the close, later sends fail (`ConnectionClosed`, `TrySendError::Closed`), and
    /// those accepted before it noticed are counted in `Event::Closed`'s `unsent_messages`;
    /// the message queued before the close reaches the peer.
    async fn sends_after_the_close_fail_or_are_counted<T: TestRt>() {
        let (mut client, server) = tcp_pair::<T>(config()).await;
        let (driver, handle, mut events) = server.into_driver(8);
        // The driver is not running yet: all three are queued (Ok).
        within(handle.send("before")).await.unwrap();
        within(handle.close(CloseCode::NORMAL, "bye")).await.unwrap();
        within(handle.send("after 1")).await.unwrap();
        handle.try_send("after 2").unwrap();
        let driver = T::spawn(driver);
        // Once the close is applied, nothing that sends is accepted any more.
        // Until the driver applied the close, a send may still be accepted: each one accepted
        // must then be counted.
        let mut raced = 0;
        eventually(|| match handle.try_send("late") {
            Ok(()) => {
                raced += 1;
                false
            }
            Err(TrySendError::Closed(_)) => true,
            Err(e) => panic!("{e:?}"),
        })
        .await;
        assert!(matches!(within(handle.send("late")).await, Err(Error::ConnectionClosed)));
        assert!(matches!(within(handle.ping(&b"late"[..])).await, Err(Error::ConnectionClosed)));
        let client_task = T::spawn(async move {
            let mut got = Vec::new();
            while let Some(Ok(event)) = client.recv().await {
                match event {
                    Event::Message(m) => got.push(m),
                    Event::Closed(info) => return (got, info),
                    _ => {}
                }
            }
            panic!("no Closed");
        });
        let (got, info) = within(client_task).await;
        assert_eq!(got, [Message::text("before")]);
        assert_eq!((info.code(), info.reason()), (CloseCode::NORMAL, "bye"));
        match within(events.recv()).await {
            Some(Ok(Event::Closed(info))) => {
                assert!(info.was_clean());
                assert_eq!(info.unsent_messages, 2 + raced, "the messages queued behind the close");
            }
            other => panic!("{other:?}"),
        }
        within(driver).await;
    }

    /// With the event receiver dropped, the peer's close is still echoed only after the
    /// commands queued before it were applied: the peer gets every message, then the echo.
    async fn receiver_dropped_held_echo_waits_for_queued_commands<T: TestRt>() {
        const N: usize = 20;
        // One message at a time leaves the driver's output (high-water mark 1), so the peer's
        // close is read while most commands still wait in the queue.
        let (mut client, server) = tcp_pair::<T>(config_with(|c| c.write_high_water(1))).await;
        let (driver, handle, events) = server.into_driver(N);
        drop(events);
        for i in 0..N {
            handle.try_send(format!("m{i}")).unwrap();
        }
        within(client.close(CloseCode::NORMAL, "done")).await.unwrap();
        let driver = T::spawn(driver);
        let mut got = Vec::new();
        let info = loop {
            match within(client.recv()).await {
                Some(Ok(Event::Message(m))) => got.push(m),
                Some(Ok(Event::Closed(info))) => break info,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        let want: Vec<Message> = (0..N).map(|i| Message::text(format!("m{i}"))).collect();
        assert_eq!(got, want);
        assert!(info.was_clean(), "{info:?}");
        assert_eq!(info.code(), CloseCode::NORMAL);
        drop((handle, client));
        within(driver).await;
    }

    /// `WsHandle::send_with` / `try_send_with` (Node send options): with permessage-deflate
    /// agreed (the agreed header parses with `extension::parse`), the default options compress,
    /// `compress(false)` sends that one message uncompressed (the client receives the whole
    /// payload's bytes), and a client handle's `mask(false)` is refused by the server with 1002.
    async fn handle_send_with_compress_and_mask<T: TestRt>() {
        let deflate = || Some(DeflateConfig::default());
        let client_config = Arc::new(Config::default().permessage_deflate(deflate()));
        let options = Arc::new(ServerOptions::default().per_message_deflate(deflate()));
        let request = ClientRequest::new("localhost", "/");
        let (mut client, server) = tcp_pair_with::<T>(client_config, config(), options, request).await;
        let agreed = extension::parse(client.extensions().expect("deflate agreed")).unwrap();
        assert_eq!(agreed.len(), 1);
        assert_eq!(agreed[0].name, "permessage-deflate");
        let (handle, mut events) = server.spawn(8);

        let text = "a compressible line of text, ".repeat(100);
        let sends: [(SendOptions, bool); 3] = [
            (SendOptions::default(), true),
            (SendOptions::default().compress(false), false),
            (SendOptions::default().compress(false).mask(false), false),
        ];
        for (i, (opts, compressed)) in sends.into_iter().enumerate() {
            let before = client.bytes_received();
            if i == 1 {
                handle.try_send_with(text.as_str(), opts).unwrap();
            } else {
                within(handle.send_with(text.as_str(), opts)).await.unwrap();
            }
            match within(client.recv()).await {
                Some(Ok(Event::Message(Message::Text(t)))) => assert_eq!(t, text.as_str()),
                other => panic!("{other:?}"),
            }
            let wire = client.bytes_received() - before;
            if compressed {
                assert!(wire < 200, "compressed: {wire} bytes on the wire");
            } else {
                // Servers never mask, whatever `mask` says: the frame is the payload plus a header.
                assert_eq!(wire, text.len() as u64 + 4, "uncompressed");
            }
        }
        // A client in driver mode sending unmasked: the server fails the connection with 1002.
        let (handle, mut client_events) = client.spawn(8);
        within(handle.send_with("masked", SendOptions::default().compress(false))).await.unwrap();
        loop {
            match within(events.recv()).await {
                Some(Ok(Event::Message(Message::Text(t)))) if t == "masked" => break,
                Some(Ok(Event::Message(_))) => {}
                other => panic!("{other:?}"),
            }
        }
        within(handle.send_with("unmasked", SendOptions::default().mask(false))).await.unwrap();
        let info = loop {
            match within(client_events.recv()).await {
                Some(Ok(Event::Closed(info))) => break info,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(info.code(), CloseCode::PROTOCOL_ERROR);
        assert!(matches!(
            handle.send_with("late", SendOptions::default()).await,
            Err(Error::ConnectionClosed)
        ));
        assert!(matches!(handle.try_send_with("late", SendOptions::default()), Err(TrySendError::Closed(_))));
    }
}
