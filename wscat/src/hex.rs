//! Hex input (`--hex` lines) and hex output (one line, or a `hexdump -C`-style dump).

use std::fmt::Write;

/// Parses hex digits into bytes. Whitespace, `:` and `-` between bytes are ignored, and a
/// `0x` prefix is allowed (`"68 69"`, `"6869"`, `"0x6869"`, `"68:69"`).
pub fn parse(s: &str) -> Result<Vec<u8>, String> {
    let trimmed = s.trim();
    let body = trimmed.strip_prefix("0x").or_else(|| trimmed.strip_prefix("0X")).unwrap_or(trimmed);
    let digits: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b':' && *b != b'-').collect();
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("invalid hex digit {:?} in {s:?}", *bad as char));
    }
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    Ok(digits.chunks(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])).collect())
}

fn nibble(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    }
}

/// The bytes as lowercase hex without separators (`"6869"`).
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A canonical hex dump, 16 bytes a line: offset, hex bytes, printable ASCII.
/// Lines end with `\n`; an empty input gives an empty string.
pub fn dump(data: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }));
        out.push_str("|\n");
    }
    out
}

/// Text for a ping or pong payload: the text itself when it is UTF-8, else hex.
pub fn payload_text(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("0x{}", encode(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("68 69").unwrap(), b"hi");
        assert_eq!(parse("0x6869").unwrap(), b"hi");
        assert_eq!(parse("68:69-0A").unwrap(), b"hi\n");
        assert_eq!(parse("").unwrap(), b"");
        assert!(parse("6").is_err());
        assert!(parse("zz").is_err());
    }

    #[test]
    fn encodes_and_dumps() {
        assert_eq!(encode(&[0, 0xff, 0x10]), "00ff10");
        let d = dump(b"hello, world\x00\x01\x02\x03!");
        assert_eq!(
            d,
            "00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 00 01 02 03  |hello, world....|\n\
             00000010  21                                                |!|\n"
        );
        assert_eq!(payload_text(b"ok"), "ok");
        assert_eq!(payload_text(&[0xff]), "0xff");
    }
}
