//! Raw WebSocket frames for tests that play a hand-written peer: building client frames and
//! reading back what a server wrote. Included by path from the ws-async suite's harness and
//! ws-blocking's tests (one copy for both).

#![allow(dead_code)]

/// A masked (client-to-server) frame.
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// A masked client frame header announcing `len` payload bytes in the 64-bit length form,
/// without the payload (to announce more than will ever be sent).
pub(crate) fn long_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode, 0x80 | 127];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[1, 2, 3, 4]);
    out
}

/// Splits unmasked (server-to-client) bytes into frames `(fin, opcode, payload)`; also returns
/// the length of an incomplete tail.
pub(crate) fn server_frames(mut bytes: &[u8]) -> (Vec<(bool, u8, Vec<u8>)>, usize) {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        if bytes.len() < header + len {
            break;
        }
        frames.push((bytes[0] & 0x80 != 0, bytes[0] & 0x0f, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    (frames, bytes.len())
}

/// The code of the first close frame in what a server wrote (1005 for an empty body).
pub(crate) fn close_code(bytes: &[u8]) -> Option<u16> {
    let (frames, _) = server_frames(bytes);
    frames.iter().find(|(_, opcode, _)| *opcode == 8).map(|(_, _, p)| {
        if p.len() >= 2 {
            u16::from_be_bytes([p[0], p[1]])
        } else {
            1005
        }
    })
}
