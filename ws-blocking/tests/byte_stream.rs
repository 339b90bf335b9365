//! `WsByteStream`: a WebSocket as `std::io::Read + Write` (Node `createWebSocketStream`): 1 MiB
//! copied through an echo server comes back whole (one thread, and split halves on two);
//! the peer's close is EOF; writing after a close fails; abnormal ends are errors of the
//! matching kind; text arrives as bytes and pings are answered. Every test runs under a
//! watchdog.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

mod common;
use common::{pattern, serve, watchdog, ReadEvent};
use ws_blocking::{accept, connect, CloseCode, Event, Message, WebSocket, WsByteStream};

/// Echoes every message (text as text) until the connection is over.
fn echo_server() -> SocketAddr {
    serve(usize::MAX, |stream| {
        let Ok(mut ws) = accept(stream) else { return };
        while let Some(Ok(m)) = ws.recv_message() {
            if ws.send(m).is_err() {
                break;
            }
        }
        while ws.recv().is_some() {}
    })
    .0
}

fn client(addr: SocketAddr) -> WebSocket<ws_blocking::ClientStream> {
    connect(&format!("ws://{addr}/")).unwrap().0
}

const MIB: usize = 1 << 20;

/// One thread: 1 MiB written in 16 KiB writes, each read back before the next, then the
/// half-close and EOF at the echo of the close.
#[test]
fn one_mib_round_trip_on_one_thread() {
    watchdog(30, || {
        let mut stream = WsByteStream::new(client(echo_server()));
        let sent = pattern(MIB);
        let mut received = vec![0u8; MIB];
        for (out, back) in sent.chunks(16 * 1024).zip(received.chunks_mut(16 * 1024)) {
            stream.write_all(out).unwrap();
            stream.read_exact(back).unwrap();
        }
        stream.flush().unwrap();
        assert!(received == sent, "echoed bytes differ");
        stream.shutdown().unwrap();
        let mut rest = Vec::new();
        assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0);
        let info = stream.get_ref().close_info().unwrap();
        assert!(info.was_clean(), "{info:?}");
        assert_eq!(info.code(), CloseCode::NORMAL);
    });
}

/// Split halves on two threads: `io::copy` of 1 MiB in, `io::copy` out until EOF.
#[test]
fn one_mib_copied_through_split_halves() {
    watchdog(30, || {
        let stream = WsByteStream::new(client(echo_server()));
        let (mut reader, mut writer) = stream.split();
        assert!(reader.is_pair_of(&writer));
        let sent = pattern(MIB);
        let to_send = sent.clone();
        let copier = thread::spawn(move || {
            let n = io::copy(&mut &to_send[..], &mut writer).unwrap();
            writer.shutdown().unwrap();
            // Writing after the half-close fails.
            assert_eq!(writer.write(b"late").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
            n
        });
        let mut received = Vec::new();
        let n = io::copy(&mut reader, &mut received).unwrap();
        assert_eq!(copier.join().unwrap(), MIB as u64);
        assert_eq!(n, MIB as u64);
        assert!(received == sent, "echoed bytes differ");
        assert!(reader.get_ref().close_info().unwrap().was_clean());
    });
}

/// The peer's clean close is EOF after its data (text read as bytes); writing then fails
/// and `shutdown` is a no-op.
#[test]
fn peer_close_is_eof_then_writes_fail() {
    watchdog(20, || {
        let (addr, _) = serve(1, |stream| {
            let mut ws = accept(stream).unwrap();
            ws.send("last ").unwrap();
            ws.send(b"words".to_vec()).unwrap();
            ws.close(CloseCode::NORMAL, "bye").unwrap();
            while ws.recv().is_some() {}
        });
        let mut stream = WsByteStream::from(client(addr));
        let mut all = String::new();
        stream.read_to_string(&mut all).unwrap();
        assert_eq!(all, "last words");
        assert_eq!(stream.get_ref().close_info().unwrap().reason(), "bye");
        // EOF stays EOF.
        assert_eq!(stream.read(&mut [0u8; 8]).unwrap(), 0);
        assert_eq!(stream.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        stream.shutdown().unwrap();
        stream.flush().unwrap();
        // An empty write is not a message.
        assert_eq!(stream.write(b"").unwrap(), 0);
    });
}

/// After our own `shutdown` writes fail, reads go on until the peer's answer.
#[test]
fn write_after_shutdown_fails() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(1, move |stream| {
            let mut ws = accept(stream).unwrap();
            // Data sent after the client's close still reaches it.
            let first = ws.recv_message().unwrap().unwrap();
            loop {
                match ws.read_event().unwrap() {
                    Event::Closed(info) => {
                        tx.send((first, info.received.map(|f| f.code))).unwrap();
                        break;
                    }
                    Event::Message(_) => panic!("a message after the close"),
                    _ => {}
                }
            }
        });
        let mut stream = WsByteStream::new(client(addr));
        stream.write_all(b"before").unwrap();
        stream.shutdown().unwrap();
        assert_eq!(stream.get_ref().ready_state(), ws_blocking::State::Closing);
        assert_eq!(stream.write(b"after").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        let (first, code) = rx.recv().unwrap();
        assert_eq!(first, Message::binary(b"before".to_vec()));
        assert_eq!(code, Some(CloseCode::NORMAL));
    });
}

/// EOF without a close frame is `UnexpectedEof`; a protocol error is `InvalidData` after the
/// data before it.
#[test]
fn abnormal_ends_are_errors() {
    watchdog(20, || {
        let (addr, _) = serve(1, |stream| drop(accept(stream).unwrap().into_inner()));
        let mut stream = WsByteStream::new(client(addr));
        let e = stream.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(stream.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);

        let (addr, _) = serve(1, |stream| {
            let mut raw = accept(stream).unwrap().into_inner();
            raw.write_all(&[0x81, 3, b'o', b'k', b' ']).unwrap();
            // Invalid UTF-8 in a text message.
            raw.write_all(&[0x81, 2, 0xff, 0xfe]).unwrap();
            let _ = raw.read_to_end(&mut Vec::new());
        });
        let mut stream = WsByteStream::new(client(addr));
        let mut buf = [0u8; 3];
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ok ");
        let e = stream.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    });
}

/// A ping from the peer is answered while the application only reads bytes.
#[test]
fn pings_are_answered_while_reading() {
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let (addr, _) = serve(1, move |stream| {
            let mut ws = accept(stream).unwrap();
            ws.ping(b"are you there").unwrap();
            loop {
                match ws.read_event().unwrap() {
                    Event::Pong(p) => {
                        tx.send(p).unwrap();
                        break;
                    }
                    Event::Closed(info) => panic!("{info:?}"),
                    _ => {}
                }
            }
            ws.send("after the pong").unwrap();
            ws.close(CloseCode::NORMAL, "").unwrap();
            while ws.recv().is_some() {}
        });
        let mut stream = WsByteStream::new(client(addr));
        let mut all = String::new();
        stream.read_to_string(&mut all).unwrap();
        assert_eq!(all, "after the pong");
        assert_eq!(&rx.recv_timeout(Duration::from_secs(5)).unwrap()[..], b"are you there");
    });
}

/// `into_inner` gives the connection back, still usable.
#[test]
fn into_inner_gives_the_connection_back() {
    watchdog(20, || {
        let mut stream = WsByteStream::new(client(echo_server()));
        stream.write_all(b"bytes").unwrap();
        let mut ws = stream.into_inner();
        assert_eq!(ws.recv_message().unwrap().unwrap(), Message::binary(b"bytes".to_vec()));
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.recv().is_some() {}
    });
}

#[test]
fn halves_are_send() {
    fn is_send<T: Send>() {}
    is_send::<WsByteStream<TcpStream>>();
    is_send::<ws_blocking::WsByteReader<TcpStream>>();
    is_send::<ws_blocking::WsByteWriter<TcpStream>>();
}
