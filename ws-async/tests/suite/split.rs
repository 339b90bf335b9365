//! `WebSocket::split`: halves in different tasks, automatic replies from the reader alone,
//! keepalive from the reader, closing and terminating from the writer, both directions at
//! once, reunite.

use std::time::Duration;

use ws_async::ws_proto::Initiator;
use ws_async::{CloseCode, Error, Event, Message, ReuniteError};

use crate::harness::*;

on_every_runtime! {
    /// `terminate` from the writer: the reader still gets the messages already received, then
    /// `Closed` (1006).
    async fn writer_terminate_delivers_the_messages_already_received<T: TestRt>() {
        let (client, mut server) = raw_pair::<T>(4096, config(), config());
        for m in ["one", "two", "three"] {
            within(server.feed(m)).await.unwrap();
        }
        within(server.flush()).await.unwrap();
        let (mut reader, mut writer) = client.split();
        assert!(matches!(within(reader.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("one")));
        writer.terminate();
        for m in ["two", "three"] {
            assert!(matches!(within(reader.recv()).await, Some(Ok(Event::Message(got))) if got == Message::text(m)), "{m}");
        }
        match within(reader.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!((info.code(), info.initiator), (CloseCode::ABNORMAL, Initiator::Local)),
            other => panic!("expected Closed after the messages received, got {other:?}"),
        }
        assert!(within(reader.recv()).await.is_none());
    }

    /// The reader alone (the writer idle) answers pings and completes the peer's close.
    async fn reader_alone_answers_pings<T: TestRt>() {
        let (mut client, server) = tcp_pair::<T>(config()).await;
        let (mut reader, writer) = server.split();
        // Only the reader is polled; the writer stays idle.
        let reader_task = T::spawn(async move {
            let mut pings = 0;
            while let Some(Ok(event)) = reader.recv().await {
                match event {
                    Event::Ping(_) => pings += 1,
                    Event::Closed(info) => {
                        assert!(info.was_clean());
                        break;
                    }
                    _ => {}
                }
            }
            pings
        });
        for i in 0..20 {
            let p = format!("p{i}");
            within(client.ping(p.as_bytes())).await.unwrap();
            assert!(matches!(within(client.recv()).await, Some(Ok(Event::Pong(b))) if b == p));
        }
        within(client.close(CloseCode::NORMAL, "")).await.unwrap();
        assert!(matches!(within(client.recv()).await, Some(Ok(Event::Closed(i))) if i.was_clean()));
        assert_eq!(within(reader_task).await, 20);
        drop(writer);
    }

    /// The reader alone runs keepalive (answered pings keep the connection open) and closes.
    async fn reader_runs_keepalive_and_closes<T: TestRt>() {
        let cfg = config_with(|c| c.keep_alive(Some(Duration::from_millis(100)), Some(Duration::from_millis(300))));
        let (mut client, server) = raw_pair::<T>(4096, config(), cfg);
        let (mut reader, _writer) = server.split();
        let client_task = T::spawn(async move {
            let mut pings = 0;
            while let Some(Ok(event)) = client.recv().await {
                match event {
                    Event::Ping(_) => pings += 1,
                    Event::Closed(_) => break,
                    _ => {}
                }
            }
            pings
        });
        let mut pongs = 0;
        let still_open = timeout(Duration::from_millis(700), async {
            loop {
                match reader.recv().await {
                    Some(Ok(Event::Pong(_))) => pongs += 1,
                    other => return other,
                }
            }
        })
        .await;
        assert!(still_open.is_none(), "{still_open:?}");
        assert!((3..=8).contains(&pongs), "{pongs} pongs");
        within(reader.close(CloseCode::GOING_AWAY, "")).await.unwrap();
        loop {
            match within(reader.recv()).await {
                Some(Ok(Event::Closed(info))) => break assert_eq!(info.code(), CloseCode::GOING_AWAY),
                Some(Ok(Event::Pong(_))) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(within(client_task).await >= pongs);
    }

    /// The writer alone sends 100 messages of mixed sizes in order, then closes.
    async fn writer_alone_sends_everything_in_order<T: TestRt>() {
        let (mut client, server) = pipe_pair::<T>(1024, config()).await;
        let (reader, mut writer) = server.split();
        let sender = T::spawn(async move {
            for i in 0..100 {
                writer.send(payload(i, len_of(i))).await.unwrap();
            }
            writer.close(CloseCode::NORMAL, "done").await.unwrap();
            writer
        });
        for i in 0..100 {
            match within(client.recv()).await {
                Some(Ok(Event::Message(Message::Binary(b)))) => assert_eq!(b, payload(i, len_of(i)), "message {i}"),
                other => panic!("{other:?}"),
            }
        }
        match within(client.recv()).await {
            Some(Ok(Event::Closed(info))) => assert_eq!((info.code(), info.reason()), (CloseCode::NORMAL, "done")),
            other => panic!("{other:?}"),
        }
        let writer = within(sender).await;
        assert!(reader.is_pair_of(&writer));
    }

    /// A close from the writer while the reader waits: the reader gets the echoes, a clean `Closed`, the end.
    async fn close_from_the_writer_while_the_reader_waits<T: TestRt>() {
        let (mut client, server) = tcp_pair::<T>(config()).await;
        let (mut reader, mut writer) = server.split();
        let reader_task = T::spawn(async move {
            let mut messages = Vec::new();
            loop {
                match reader.recv().await {
                    Some(Ok(Event::Message(m))) => messages.push(m),
                    Some(Ok(Event::Closed(info))) => return (messages, info, reader.recv().await.is_none()),
                    other => panic!("{other:?}"),
                }
            }
        });
        let client_task = T::spawn(async move {
            // Echo until the close handshake is done.
            while let Some(Ok(event)) = client.recv().await {
                if let Event::Message(m) = event {
                    let _ = client.send(m).await;
                }
            }
            client.close_info().cloned()
        });
        within(writer.send("a")).await.unwrap();
        within(writer.send("b")).await.unwrap();
        sleep(Duration::from_millis(20)).await;
        within(writer.close(4000u16, "from writer")).await.unwrap();
        let (messages, info, ended) = within(reader_task).await;
        assert_eq!(messages, [Message::text("a"), Message::text("b")]);
        assert_eq!(info.initiator, Initiator::Local);
        assert_eq!(info.sent.as_ref().map(|f| f.code.as_u16()), Some(4000));
        assert!(info.was_clean());
        assert!(ended);
        let client_info = within(client_task).await.unwrap();
        assert_eq!((client_info.code().as_u16(), client_info.reason()), (4000, "from writer"));
    }

    /// Split both sides: large messages and pings cross through a small pipe; reunited, the halves work again.
    async fn both_directions_at_once_then_reunite<T: TestRt>() {
        const N: usize = 60;
        let (client, server) = pipe_pair::<T>(2048, config()).await;
        let (mut c_reader, mut c_writer) = client.split();
        let (mut s_reader, mut s_writer) = server.split();
        let c_send = T::spawn(async move {
            for i in 0..N {
                c_writer.send(payload(i, len_of(i))).await.unwrap();
                c_writer.ping(b"c").await.unwrap();
            }
            c_writer
        });
        let s_send = T::spawn(async move {
            for i in 0..N {
                s_writer.send(Message::text(String::from_utf8(payload(i, len_of(i))).unwrap())).await.unwrap();
            }
            s_writer
        });
        let s_recv = T::spawn(async move {
            let (mut i, mut pings) = (0, 0);
            while i < N || pings < N {
                match s_reader.recv().await {
                    Some(Ok(Event::Message(Message::Binary(b)))) => {
                        assert_eq!(b, payload(i, len_of(i)));
                        i += 1;
                    }
                    Some(Ok(Event::Ping(_))) => pings += 1,
                    other => panic!("{other:?}"),
                }
            }
            s_reader
        });
        let mut pongs = 0;
        let mut i = 0;
        while i < N {
            match within(c_reader.recv()).await {
                Some(Ok(Event::Message(Message::Text(t)))) => {
                    assert_eq!(t.as_bytes(), payload(i, len_of(i)));
                    i += 1;
                }
                Some(Ok(Event::Pong(_))) => pongs += 1,
                other => panic!("{other:?}"),
            }
        }
        let c_writer = within(c_send).await;
        let s_writer = within(s_send).await;
        let s_reader = within(s_recv).await;
        // Reunited, the halves are one working connection again.
        let mut client = c_reader.reunite(c_writer).unwrap();
        let mut server = s_reader.reunite(s_writer).unwrap();
        within(client.send("whole again")).await.unwrap();
        assert!(matches!(within(server.recv()).await, Some(Ok(Event::Message(m))) if m == Message::text("whole again")));
        within(server.close(CloseCode::NORMAL, "")).await.unwrap();
        let _server = T::spawn(async move { while server.recv().await.is_some() {} });
        loop {
            match within(client.recv()).await {
                Some(Ok(Event::Pong(_))) => pongs += 1,
                Some(Ok(Event::Closed(info))) => break assert!(info.was_clean()),
                other => panic!("{other:?}"),
            }
        }
        // Every ping is answered, except that under a flood only the latest unsent pongs are kept.
        assert!(pongs >= 16, "{pongs}");
    }

    /// `terminate` from the writer wakes a reader parked in `recv` with `Closed` (1006); later sends fail.
    async fn terminate_from_the_writer_wakes_the_reader<T: TestRt>() {
        let (_client, server) = pipe_pair::<T>(4096, config()).await;
        let (mut reader, mut writer) = server.split();
        let reader_task = T::spawn(async move { reader.recv().await });
        sleep(Duration::from_millis(30)).await;
        writer.terminate();
        match within(reader_task).await {
            Some(Ok(Event::Closed(info))) => assert_eq!(info.code(), CloseCode::ABNORMAL),
            other => panic!("{other:?}"),
        }
        assert!(matches!(writer.send("late").await, Err(Error::Send(_))));
    }

    /// `reunite` refuses halves of different connections and hands them back.
    async fn reunite_refuses_halves_of_different_connections<T: TestRt>() {
        let (a, b) = raw_pair::<T>(1024, config(), config());
        let (a_reader, a_writer) = a.split();
        let (b_reader, b_writer) = b.split();
        let ReuniteError(a_reader, b_writer) = a_reader.reunite(b_writer).unwrap_err();
        assert!(a_reader.reunite(a_writer).is_ok());
        assert!(b_reader.reunite(b_writer).is_ok());
    }
}
