//! `Connection::set_unmasked_sends`: the test/interop knob that makes a client send unmasked
//! frames (Node `ws`'s `send(data, { mask: false })`), and what a conforming server does
//! with them.

use std::sync::Arc;
use std::time::Instant;

use ws_proto::{CloseCode, Config, Connection, Event, Negotiated, ProtocolError, Role};

fn client() -> Connection {
    let entropy: Box<dyn ws_proto::Entropy> = Box::new(|d: &mut [u8]| d.fill(0x5a));
    Connection::new(Role::Client, Arc::new(Config::default()), Negotiated::default(), Some(entropy), Instant::now())
}

fn server(config: Config) -> Connection {
    Connection::new(Role::Server, Arc::new(config), Negotiated::default(), None, Instant::now())
}

fn written(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    conn.transmit_into(&mut out);
    out
}

#[test]
fn only_frames_queued_while_on_are_unmasked() {
    let mut c = client();
    assert!(!c.unmasked_sends());
    c.send_text("masked").unwrap();
    let masked = written(&mut c);
    assert_eq!(masked[1], 0x80 | 6, "mask bit and length");
    assert_eq!(&masked[2..6], &[0x5a; 4], "the key from the entropy");

    c.set_unmasked_sends(true);
    assert!(c.unmasked_sends());
    c.send_text("plain").unwrap();
    c.send_ping(b"p").unwrap();
    let plain = written(&mut c);
    // The ping (control lane) goes first, then the text frame; neither masked.
    assert_eq!(plain, [&[0x89, 0x01, b'p'][..], &[0x81, 0x05], b"plain"].concat());

    c.set_unmasked_sends(false);
    c.send_binary(vec![1, 2]).unwrap();
    let again = written(&mut c);
    assert_eq!(again[1], 0x80 | 2);
}

#[test]
fn prepared_and_fragmented_sends_follow_the_knob() {
    let mut c = client();
    c.set_unmasked_sends(true);
    c.send_prepared(&ws_proto::PreparedMessage::new("hi".into())).unwrap();
    c.send_frame_part(ws_proto::MessageKind::Binary, vec![7].into(), false).unwrap();
    c.send_frame_part(ws_proto::MessageKind::Binary, vec![8].into(), true).unwrap();
    let out = written(&mut c);
    assert_eq!(out, [0x81, 0x02, b'h', b'i', 0x02, 0x01, 7, 0x80, 0x01, 8]);
}

#[test]
fn a_conforming_server_fails_the_connection_with_1002() {
    let now = Instant::now();
    let mut c = client();
    c.set_unmasked_sends(true);
    c.send_text("no mask").unwrap();
    let bytes = written(&mut c);

    let mut s = server(Config::default());
    s.receive(&bytes);
    let closed = std::iter::from_fn(|| s.poll_event(now)).find_map(|e| match e {
        Event::Closed(info) => Some(info),
        _ => None,
    });
    let info = closed.expect("the server closes");
    assert_eq!(info.sent.as_ref().map(|f| f.code), Some(CloseCode::PROTOCOL_ERROR));
    assert_eq!(info.error, Some(ws_proto::Error::Protocol(ProtocolError::UnmaskedFrameFromClient)));

    // A server configured to accept them (Config::accept_unmasked_frames) takes the message.
    let mut s = server(Config::default().accept_unmasked_frames(true));
    s.receive(&bytes);
    match s.poll_event(now) {
        Some(Event::Message(m)) => assert_eq!(m.as_bytes(), b"no mask"),
        other => panic!("{other:?}"),
    }
}
