//! UTF-8: an incremental, fail-fast validator and the `Utf8Bytes` text payload type.

use std::fmt;
use std::ops::Deref;
use std::str::Utf8Error;

use bytes::Bytes;

/// Validates UTF-8 split across any number of chunks, failing at the first byte that makes the
/// sequence invalid (not at the end of the message), as Autobahn's strict 6.4.x cases require.
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: usize,
}

/// Length of the sequence a lead byte starts (1 for bytes that cannot lead: std rejects them).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk. `Err` as soon as the bytes seen so far cannot start valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.carry_len > 0 {
            let need = sequence_len(self.carry[0]);
            let take = need.saturating_sub(self.carry_len).min(data.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
            let have = self.carry_len + take;
            match std::str::from_utf8(&self.carry[..have]) {
                Ok(_) => {
                    self.carry_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_some() => return Err(e),
                Err(_) => {
                    // Still incomplete, so `data` was used up.
                    self.carry_len = have;
                    return Ok(());
                }
            }
        }
        // SIMD validation (simdutf8, many times std's speed on non-ASCII text); std's
        // validator only runs to build the error of invalid input.
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            // std builds the error (and, being the reference, has the last word).
            Err(e) if e.error_len().is_some() => std::str::from_utf8(data).map(drop),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                Ok(())
            }
        }
    }

    /// Whether the text may end here (no incomplete sequence carried).
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// Forgets any carried bytes, for the next message.
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }
}

/// A `Bytes` that holds valid UTF-8: the payload of a text message.
///
/// Cheap to clone (reference counted) and zero-copy from the read buffer.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// A text from a static string.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        // The crate forbids `unsafe`, so the invariant is re-checked instead of assumed, with
        // SIMD (simdutf8) so that it costs little next to receiving the text. Data from `from_validated` with validation
        // switched off may fail here and reads as empty.
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }

    /// The text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying `Bytes`.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Wraps bytes already validated, or unvalidated when validation is switched off by config.
    pub(crate) fn from_validated(b: Bytes) -> Self {
        Self(b)
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Utf8Error> {
        if simdutf8::basic::from_utf8(&b).is_err() {
            std::str::from_utf8(&b)?;
        }
        Ok(Self(b))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Utf8Error;
    fn try_from(v: Vec<u8>) -> Result<Self, Utf8Error> {
        Self::try_from(Bytes::from(v))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(t: Utf8Bytes) -> Self {
        t.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = vec![
            b"hello".to_vec(),
            "κόσμε".as_bytes().to_vec(),
            "𝄞 music ✓ €".as_bytes().to_vec(),
            vec![0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90, 0x80, 0x80],
            vec![0xed, 0xa0, 0x80],
            vec![0xf0, 0x9f, 0x98],
            vec![0xc0, 0xaf],
            vec![0xe0, 0x80, 0xaf],
            vec![0xf8, 0x88, 0x80, 0x80, 0x80],
            vec![0xef, 0xbf, 0xbf],
            vec![0xf4, 0x8f, 0xbf, 0xbf],
            vec![0x80],
            vec![0x61, 0xc3],
            vec![],
        ];
        v.push("ab\u{10ffff}cd".as_bytes().to_vec());
        v
    }

    fn run(chunks: &[&[u8]]) -> (Result<(), ()>, bool) {
        let mut val = Utf8Validator::new();
        for c in chunks {
            if val.feed(c).is_err() {
                return (Err(()), false);
            }
        }
        (Ok(()), val.is_complete())
    }

    #[test]
    fn agrees_with_std_at_every_split() {
        for v in vectors() {
            let std_ok = std::str::from_utf8(&v).is_ok();
            for i in 0..=v.len() {
                for j in i..=v.len() {
                    let (r, complete) = run(&[&v[..i], &v[i..j], &v[j..]]);
                    assert_eq!(r.is_ok() && complete, std_ok, "{v:x?} split at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn fails_fast_before_message_end() {
        // A surrogate lead is invalid as soon as its second byte arrives.
        let mut val = Utf8Validator::new();
        val.feed(b"abc").unwrap();
        val.feed(&[0xed]).unwrap();
        assert!(val.feed(&[0xa0]).is_err());
        // F4 90 is beyond U+10FFFF: fails on the second byte, no third needed.
        let mut val = Utf8Validator::new();
        val.feed(&[0xf4]).unwrap();
        assert!(val.feed(&[0x90]).is_err());
    }

    #[test]
    fn utf8_bytes_conversions() {
        let t = Utf8Bytes::from("héllo");
        assert_eq!(t, "héllo");
        assert_eq!(t.len(), 6);
        assert!(Utf8Bytes::try_from(Bytes::from_static(&[0xff])).is_err());
        assert_eq!(Bytes::from(t.clone()), Bytes::from_static("héllo".as_bytes()));
        assert_eq!(format!("{t:?}"), "\"héllo\"");
    }
}
