//! HTTP head helpers shared by both handshake roles.
//!
//! - token-list parsing (RFC 7230 §3.2.6, §7): `Connection`, `Upgrade`, `Sec-WebSocket-Protocol`;
//! - `Sec-WebSocket-Extensions` parsing for the handshakes (the grammar is [`crate::extension`]'s);
//! - [`HeadBuffer`]: input buffering with an incremental end-of-head scan and the size limit;
//! - zero-copy conversion of an httparse head into `http` types, and head serialization.
//!
//! Nothing here panics on peer data: every index is checked.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::HandshakeError;
use crate::extension::ExtensionOffer;
use crate::input::InputBuffer;

/// `tchar` of RFC 7230 §3.2.6.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// A non-empty RFC 7230 token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Optional whitespace (RFC 7230 §3.2.3).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing optional whitespace.
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// Whether any field `name` of `headers` lists `token` (comma-separated, compared ignoring ASCII
/// case). Lenient about empty elements, as RFC 7230 §7 asks of recipients.
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// The single value of field `name`: `Ok(None)` when absent, `Err(())` when repeated.
pub(crate) fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a HeaderValue>, ()> {
    let mut it = headers.get_all(name).iter();
    let first = it.next();
    if it.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// Parses `Sec-WebSocket-Protocol` field values (each a comma-separated list; several fields are
/// one list) into the offered subprotocols: non-empty, unique RFC 7230 tokens with optional
/// whitespace around them. Empty elements, such as in `a,,b`, `a,` or an empty value, are errors
/// (as in Node `ws`).
pub(crate) fn parse_subprotocols<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<String>, ()> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        for element in value.split(|&b| b == b',') {
            let t = trim_ows(element);
            if !is_token(t) {
                return Err(());
            }
            // Tokens are ASCII, so this cannot fail; treat failure as malformed anyway.
            let s = std::str::from_utf8(t).map_err(|_| ())?;
            if out.iter().any(|p| p == s) {
                return Err(());
            }
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

/// Checks a subprotocol list built by an application (the client's offers).
pub(crate) fn validate_subprotocols(list: &[String]) -> Result<(), String> {
    for (i, p) in list.iter().enumerate() {
        if !is_token(p.as_bytes()) {
            return Err(format!("subprotocol {p:?} is not an RFC 7230 token"));
        }
        if list.iter().take(i).any(|q| q == p) {
            return Err(format!("subprotocol {p:?} is listed twice"));
        }
    }
    Ok(())
}

/// Parses `Sec-WebSocket-Extensions` field values (several fields form one list) with
/// [`crate::extension`]'s grammar; the handshakes only need to know whether it failed.
pub(crate) fn parse_extensions<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<ExtensionOffer>, ()> {
    crate::extension::parse_fields(values).map_err(|_| ())
}

/// Received bytes of an HTTP head, with the incremental search for its end.
#[derive(Debug, Default)]
pub(crate) struct HeadBuffer {
    pub(crate) input: InputBuffer,
    /// Bytes already scanned for `\r\n\r\n` without finding it.
    scanned: usize,
    /// New bytes (or EOF) arrived since the last [`poll_end`](Self::poll_end).
    fresh: bool,
}

impl HeadBuffer {
    pub(crate) fn receive(&mut self, data: &[u8]) {
        self.input.receive(data);
        self.fresh |= !data.is_empty();
    }

    pub(crate) fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
        self.input.recv_slot(len_hint)
    }

    pub(crate) fn commit(&mut self, n: usize) {
        let before = self.input.len();
        self.input.commit(n);
        self.fresh |= self.input.len() != before;
    }

    pub(crate) fn receive_eof(&mut self) {
        self.input.eof = true;
        self.fresh = true;
    }

    pub(crate) fn eof(&self) -> bool {
        self.input.eof
    }

    /// Whether anything arrived since the last call; clears the flag.
    pub(crate) fn take_fresh(&mut self) -> bool {
        std::mem::take(&mut self.fresh)
    }

    /// Finds the end of the head (the index just past `\r\n\r\n`), resuming the scan 3 bytes
    /// before where the previous one stopped. `Err(HeadTooLarge)` once the head cannot end
    /// within `max` bytes.
    pub(crate) fn find_end(&mut self, max: usize) -> Result<Option<usize>, HandshakeError> {
        let len = self.input.len();
        let limit = len.min(max);
        let start = self.scanned.saturating_sub(3);
        let window = self.input.buf.get(start..limit).unwrap_or_default();
        if let Some(i) = window.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(start + i + 4));
        }
        self.scanned = limit;
        if len >= max {
            return Err(HandshakeError::HeadTooLarge);
        }
        Ok(None)
    }

    /// Drops an uncommitted receive slot, then removes and returns the first `end` bytes
    /// (the head) and everything after them (the leftover).
    pub(crate) fn take(&mut self, end: usize) -> (Bytes, Bytes) {
        self.input.abandon_slot();
        let mut all: BytesMut = std::mem::take(&mut self.input.buf);
        self.input.clear();
        let end = end.min(all.len());
        let head = all.split_to(end).freeze();
        (head, all.freeze())
    }
}

/// A header field located in a head buffer: its name and the byte range of its value.
pub(crate) struct RawHeader {
    name: HeaderName,
    value: Result<Range<usize>, Vec<u8>>,
}

/// The byte range of `part` inside `base`, if `part` is a sub-slice of it.
pub(crate) fn range_in(base: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= base.len()).then_some(start..end)
}

/// Records httparse's headers as names plus value ranges in `base` (hyper's header-indices
/// trick), so that the values can later be sliced out of the frozen head without copying.
pub(crate) fn record_headers(base: &[u8], headers: &[httparse::Header<'_>]) -> Result<Vec<RawHeader>, HandshakeError> {
    headers
        .iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| HandshakeError::Malformed(format!("invalid header name {:?}", h.name)))?;
            let value = range_in(base, h.value).ok_or_else(|| h.value.to_vec());
            Ok(RawHeader { name, value })
        })
        .collect()
}

/// Builds the header map from recorded headers, slicing values out of `head` (zero-copy).
pub(crate) fn build_header_map(head: &Bytes, raw: Vec<RawHeader>) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::with_capacity(raw.len());
    for RawHeader { name, value } in raw {
        let v = match value {
            Ok(r) if r.end <= head.len() => HeaderValue::from_maybe_shared(head.slice(r)),
            Ok(_) => return Err(HandshakeError::Malformed("header index out of range".into())),
            Err(copy) => HeaderValue::from_bytes(&copy),
        }
        .map_err(|_| HandshakeError::Malformed(format!("invalid value for header {name}")))?;
        map.append(name, v);
    }
    Ok(map)
}

/// httparse header slots for a complete head of `head_len` bytes: room for `max_headers`
/// fields, but never more than the head could hold (so a huge limit allocates nothing extra).
pub(crate) fn header_slots<'b>(head_len: usize, max_headers: usize) -> Vec<httparse::Header<'b>> {
    // Every header line takes at least 3 bytes ("a:" and a line end).
    let most = head_len / 3 + 1;
    vec![httparse::EMPTY_HEADER; max_headers.min(most)]
}

/// Maps an httparse error to a handshake error.
pub(crate) fn map_parse_error(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::Version => HandshakeError::NotHttp11,
        other => HandshakeError::Malformed(other.to_string()),
    }
}

/// Appends `name: value\r\n`.
pub(crate) fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends every field of `map` except those in `skip`.
pub(crate) fn put_headers(out: &mut Vec<u8>, map: &HeaderMap, skip: &[&HeaderName]) {
    for (name, value) in map {
        if !skip.contains(&name) {
            put_header(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
}

/// Decodes `%XX` escapes (RFC 3986); invalid escapes are kept as they are.
#[cfg_attr(not(feature = "url"), allow(dead_code))]
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(v: &[&str]) -> Result<Vec<String>, ()> {
        parse_subprotocols(v.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"chat.v2+json"));
        assert!(is_token(b"!#$%&'*+-.^_`|~09azAZ"));
        assert!(!is_token(b""));
        for bad in [&b"a b"[..], b"a,b", b"a\"", b"a;b", b"a=b", b"(a)", b"a/b", b"\xc3\xa9", b"a\tb", b"a@b"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }

    #[test]
    fn connection_tokens() {
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&h, &http::header::CONNECTION, "upgrade"));
        assert!(!has_token(&h, &http::header::CONNECTION, "close"));
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("keep-alive"));
        h.append("connection", HeaderValue::from_static(" ,UPGRADE ,"));
        assert!(has_token(&h, &http::header::CONNECTION, "upgrade"));
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("upgraded, x-upgrade"));
        assert!(!has_token(&h, &http::header::CONNECTION, "upgrade"));
        assert!(!has_token(&HeaderMap::new(), &http::header::CONNECTION, "upgrade"));
    }

    #[test]
    fn subprotocol_lists() {
        assert_eq!(offers(&["chat"]).unwrap(), ["chat"]);
        assert_eq!(offers(&["chat, superchat"]).unwrap(), ["chat", "superchat"]);
        assert_eq!(offers(&[" a ,\tb\t", "c"]).unwrap(), ["a", "b", "c"]);
        assert_eq!(offers(&[]).unwrap(), Vec::<String>::new());
        for bad in [&[""][..], &["a,,b"], &["a,"], &[",a"], &["a b"], &["a;b"], &["a, a"], &["a", "a"], &[" "]] {
            assert!(offers(bad).is_err(), "{bad:?}");
        }
        // Case matters for uniqueness: subprotocol names are case-sensitive.
        assert_eq!(offers(&["a, A"]).unwrap(), ["a", "A"]);
        assert!(validate_subprotocols(&["a".into(), "b".into()]).is_ok());
        assert!(validate_subprotocols(&["a".into(), "a".into()]).is_err());
        assert!(validate_subprotocols(&["a b".into()]).is_err());
        assert!(validate_subprotocols(&[String::new()]).is_err());
    }

    #[test]
    fn head_end_scan_resumes_and_limits() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
        let end = head.len() - 4;
        // Every split point finds the same end.
        for cut in 0..head.len() {
            let mut b = HeadBuffer::default();
            b.receive(&head[..cut]);
            let first = b.find_end(1024).unwrap();
            b.receive(&head[cut..]);
            let second = b.find_end(1024).unwrap();
            assert_eq!(first.or(second), Some(end), "cut {cut}");
        }
        // At the limit: accepted; one byte below: too large.
        let mut b = HeadBuffer::default();
        b.receive(head);
        assert_eq!(b.find_end(end).unwrap(), Some(end));
        let mut b = HeadBuffer::default();
        b.receive(head);
        assert_eq!(b.find_end(end - 1), Err(HandshakeError::HeadTooLarge));
        // Incomplete and already at the limit: too large; below it: wait.
        let mut b = HeadBuffer::default();
        b.receive(&head[..10]);
        assert_eq!(b.find_end(11).unwrap(), None);
        assert_eq!(b.find_end(10), Err(HandshakeError::HeadTooLarge));
        let (h, rest) = {
            let mut b = HeadBuffer::default();
            b.receive(head);
            b.recv_slot(8);
            b.take(end)
        };
        assert_eq!(&h[..], &head[..end]);
        assert_eq!(&rest[..], b"rest");
    }

    #[test]
    fn fresh_flag() {
        let mut b = HeadBuffer::default();
        assert!(!b.take_fresh());
        b.receive(b"");
        assert!(!b.take_fresh());
        b.receive(b"x");
        assert!(b.take_fresh());
        assert!(!b.take_fresh());
        b.recv_slot(4);
        b.commit(0);
        assert!(!b.take_fresh());
        b.recv_slot(4)[0] = b'y';
        b.commit(1);
        assert!(b.take_fresh());
        b.receive_eof();
        assert!(b.take_fresh());
        assert!(b.eof());
    }

    #[test]
    fn ranges() {
        let base = b"hello world";
        assert_eq!(range_in(base, &base[6..]), Some(6..11));
        assert_eq!(range_in(base, &base[0..0]), Some(0..0));
        // A slice of another allocation never maps into base.
        let other = b"world".to_vec();
        assert_eq!(range_in(base, &other), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%3a%3A"), b"a b::");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é".as_bytes());
        assert_eq!(percent_decode(""), b"");
    }
}
