//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): [`parse`](fn@parse) a value into a
//! list of extensions with their parameters, and [`format`](fn@format) such a list back into a
//! value (Node `ws`'s `extension.parse` and `extension.format`).
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = token *( OWS ";" OWS extension-param )
//! extension-param = token [ OWS "=" OWS ( token / quoted-string ) ]
//! ```
//!
//! A parameter value may be sent as a quoted string; RFC 6455 §9.1 requires it to be a token
//! once unescaped, so [`format`](fn@format) never needs quotes and writes every value bare.
//!
//! ```
//! use ws_proto::extension::{self, ExtensionOffer};
//!
//! let offers = extension::parse("permessage-deflate; client_max_window_bits=\"10\", x-foo")?;
//! assert_eq!(offers[0].name, "permessage-deflate");
//! assert_eq!(offers[0].param("client_max_window_bits"), Some(Some("10")));
//! assert_eq!(offers[1], ExtensionOffer::new("x-foo"));
//!
//! let value = extension::format(&[ExtensionOffer::new("permessage-deflate")
//!     .with_param("server_max_window_bits", "12")
//!     .with_flag("client_no_context_takeover")])?;
//! assert_eq!(value, "permessage-deflate; server_max_window_bits=12; client_no_context_takeover");
//! # Ok::<(), ws_proto::extension::ExtensionError>(())
//! ```

use std::fmt;

use crate::handshake::headers::{is_tchar, is_token};

/// One element of a `Sec-WebSocket-Extensions` header: an extension name and its parameters
/// (an offer in a request, the agreed extension in a response).
///
/// Parameter values given as quoted strings are unescaped; RFC 6455 §9.1 requires the result to
/// be a token, which the parser checks. Names keep the case the peer sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// The parameters in the order sent: name and optional value.
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// An extension without parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), params: Vec::new() }
    }

    /// Adds a parameter with a value (`name=value`).
    #[must_use]
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), Some(value.into())));
        self
    }

    /// Adds a parameter without a value (`name`).
    #[must_use]
    pub fn with_flag(mut self, name: impl Into<String>) -> Self {
        self.params.push((name.into(), None));
        self
    }

    /// The value of the first parameter called `name` (ignoring ASCII case): `None` when absent,
    /// `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }
}

/// Why a `Sec-WebSocket-Extensions` value could not be parsed or formatted. Indices are byte
/// offsets into the value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtensionError {
    /// Parsing: the value ended where the grammar needs more (empty value, a trailing `,`,
    /// `;` or `=`, an unterminated quoted string). Node: "Unexpected end of input".
    UnexpectedEnd,
    /// Parsing: a byte the grammar does not allow at `index` (an empty list element, a space
    /// inside a token, a separator where a token belongs). Node: "Unexpected character at
    /// index N".
    UnexpectedChar {
        /// Where the byte is.
        index: usize,
    },
    /// Parsing: the quoted string starting at `index` is not a token once unescaped (RFC 6455
    /// §9.1), e.g. empty or holding a space.
    QuotedNotToken {
        /// Where its opening quote is.
        index: usize,
    },
    /// Formatting: an extension name, parameter name or value that is not an RFC 7230 token,
    /// so no valid header can carry it (this also keeps CR, LF and other bytes out of the
    /// header).
    NotAToken(String),
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("invalid Sec-WebSocket-Extensions: unexpected end of input"),
            Self::UnexpectedChar { index } => {
                write!(f, "invalid Sec-WebSocket-Extensions: unexpected character at index {index}")
            }
            Self::QuotedNotToken { index } => write!(
                f,
                "invalid Sec-WebSocket-Extensions: the quoted value at index {index} is not a token once unescaped"
            ),
            Self::NotAToken(s) => {
                write!(f, "cannot format Sec-WebSocket-Extensions: {s:?} is not a token")
            }
        }
    }
}

impl std::error::Error for ExtensionError {}

/// Parses one `Sec-WebSocket-Extensions` value (Node `extension.parse`) into its extensions, in
/// order; an extension offered several times (with different parameters) appears several
/// times. Takes text or bytes (`&str`, `&[u8]`, an `http::HeaderValue`). Empty list elements
/// are errors, as in Node `ws`; optional whitespace around separators is allowed.
pub fn parse(value: impl AsRef<[u8]>) -> Result<Vec<ExtensionOffer>, ExtensionError> {
    let mut out = Vec::new();
    parse_into(value.as_ref(), &mut out)?;
    Ok(out)
}

/// Parses several header fields as one list (RFC 7230 §3.2.2), for the handshakes.
pub(crate) fn parse_fields<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<ExtensionOffer>, ExtensionError> {
    let mut out = Vec::new();
    for value in values {
        parse_into(value, &mut out)?;
    }
    Ok(out)
}

/// Formats extensions as a `Sec-WebSocket-Extensions` value (Node `extension.format`):
/// `name; param=value; flag, other`. Every name and value must be a token (values never need
/// quotes, see the [module documentation](self)); [`ExtensionError::NotAToken`] otherwise. An
/// empty list formats as the empty string, which is not a valid header value: send no header
/// then.
pub fn format(extensions: &[ExtensionOffer]) -> Result<String, ExtensionError> {
    let token = |s: &str| if is_token(s.as_bytes()) { Ok(()) } else { Err(ExtensionError::NotAToken(s.to_owned())) };
    let mut out = String::new();
    for (i, extension) in extensions.iter().enumerate() {
        token(&extension.name)?;
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&extension.name);
        for (name, value) in &extension.params {
            token(name)?;
            out.push_str("; ");
            out.push_str(name);
            if let Some(value) = value {
                token(value)?;
                out.push('=');
                out.push_str(value);
            }
        }
    }
    Ok(out)
}

/// Parses one field value, appending its extensions to `out`.
fn parse_into(value: &[u8], out: &mut Vec<ExtensionOffer>) -> Result<(), ExtensionError> {
    let mut c = Cursor { s: value, pos: 0 };
    loop {
        c.skip_ows();
        let mut extension = ExtensionOffer::new(c.token()?);
        c.skip_ows();
        while c.eat(b';') {
            c.skip_ows();
            let name = c.token()?;
            c.skip_ows();
            let value = if c.eat(b'=') {
                c.skip_ows();
                Some(if c.peek() == Some(b'"') { c.quoted()? } else { c.token()? })
            } else {
                None
            };
            extension.params.push((name, value));
            c.skip_ows();
        }
        out.push(extension);
        match c.peek() {
            None => return Ok(()),
            Some(b',') => c.pos += 1,
            Some(_) => return Err(c.unexpected()),
        }
    }
}

/// A byte cursor over one field value.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// The error for the byte at the cursor (or the end).
    fn unexpected(&self) -> ExtensionError {
        if self.pos < self.s.len() {
            ExtensionError::UnexpectedChar { index: self.pos }
        } else {
            ExtensionError::UnexpectedEnd
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.pos += usize::from(found);
        found
    }

    /// A non-empty token.
    fn token(&mut self) -> Result<String, ExtensionError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        match self.s.get(start..self.pos) {
            // Tokens are ASCII, so the conversion cannot fail.
            Some(t) if !t.is_empty() => Ok(String::from_utf8_lossy(t).into_owned()),
            _ => Err(self.unexpected()),
        }
    }

    /// A quoted string (the opening quote is next), unescaped; it must then be a token.
    fn quoted(&mut self) -> Result<String, ExtensionError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else { return Err(ExtensionError::UnexpectedEnd) };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    out.push(self.peek().ok_or(ExtensionError::UnexpectedEnd)?);
                    self.pos += 1;
                }
                c => out.push(c),
            }
        }
        if !is_token(&out) {
            return Err(ExtensionError::QuotedNotToken { index: start });
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        ExtensionOffer {
            name: name.to_owned(),
            params: params.iter().map(|(n, v)| ((*n).to_owned(), v.map(str::to_owned))).collect(),
        }
    }

    #[test]
    fn parses_names_params_and_flags() {
        let e = parse("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(e, [ext("permessage-deflate", &[("client_max_window_bits", None)])]);
        assert_eq!(e[0].param("CLIENT_max_window_bits"), Some(None));
        assert_eq!(e[0].param("server_max_window_bits"), None);

        let e = parse("a;x=1 ; y = \"2\", b,c ;z=\"q\\u\"").unwrap();
        assert_eq!(e, [ext("a", &[("x", Some("1")), ("y", Some("2"))]), ext("b", &[]), ext("c", &[("z", Some("qu"))])]);
        assert_eq!(e[0].param("y"), Some(Some("2")));

        // Tabs are whitespace too; bytes and header values parse the same.
        assert_eq!(parse(b"\ta\t;\tp\t=\t1\t").unwrap(), [ext("a", &[("p", Some("1"))])]);
        let header = http::HeaderValue::from_static("foo, foo; bar");
        assert_eq!(parse(&header).unwrap(), [ext("foo", &[]), ext("foo", &[("bar", None)])]);
    }

    #[test]
    fn several_fields_form_one_list() {
        let e = parse_fields([&b"a; p=1"[..], b"a; p=2"]).unwrap();
        assert_eq!(e, [ext("a", &[("p", Some("1"))]), ext("a", &[("p", Some("2"))])]);
        assert_eq!(parse_fields([&b"a"[..], b""]), Err(ExtensionError::UnexpectedEnd));
    }

    #[test]
    fn errors_say_where() {
        use ExtensionError::*;
        let cases: &[(&str, ExtensionError)] = &[
            ("", UnexpectedEnd),
            (" ", UnexpectedEnd),
            ("a,", UnexpectedEnd),
            ("a;", UnexpectedEnd),
            ("a; p=", UnexpectedEnd),
            ("a; p=\"unterminated", UnexpectedEnd),
            ("a; p=\"esc\\", UnexpectedEnd),
            (",", UnexpectedChar { index: 0 }),
            (",a", UnexpectedChar { index: 0 }),
            ("a,,b", UnexpectedChar { index: 2 }),
            ("a; =1", UnexpectedChar { index: 3 }),
            ("a; p=1 2", UnexpectedChar { index: 7 }),
            ("a b", UnexpectedChar { index: 2 }),
            ("a; p==1", UnexpectedChar { index: 5 }),
            ("\"a\"", UnexpectedChar { index: 0 }),
            ("a; p=(1)", UnexpectedChar { index: 5 }),
            ("é", UnexpectedChar { index: 0 }),
            ("a; p=\"\"", QuotedNotToken { index: 5 }),
            ("a; p=\"1 2\"", QuotedNotToken { index: 5 }),
            ("a; p=\"x\\\"\"", QuotedNotToken { index: 5 }),
        ];
        for (bad, want) in cases {
            assert_eq!(parse(bad).as_ref(), Err(want), "{bad:?}");
        }
        assert_eq!(
            parse("a b").unwrap_err().to_string(),
            "invalid Sec-WebSocket-Extensions: unexpected character at index 2"
        );
    }

    #[test]
    fn formats_and_round_trips() {
        let list = [
            ExtensionOffer::new("permessage-deflate")
                .with_flag("client_max_window_bits")
                .with_param("server_max_window_bits", "10"),
            ExtensionOffer::new("x-webkit-deflate-frame"),
        ];
        let value = format(&list).unwrap();
        assert_eq!(
            value,
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-webkit-deflate-frame"
        );
        assert_eq!(parse(&value).unwrap(), list);
        assert_eq!(format(&[]).unwrap(), "");

        // A quoted value comes back bare, and parses to the same list again.
        let parsed = parse("foo; bar=\"b\\az\"; q").unwrap();
        let value = format(&parsed).unwrap();
        assert_eq!(value, "foo; bar=baz; q");
        assert_eq!(parse(&value).unwrap(), parsed);
    }

    #[test]
    fn format_refuses_what_no_header_can_carry() {
        for bad in [
            ExtensionOffer::new(""),
            ExtensionOffer::new("a b"),
            ExtensionOffer::new("a").with_flag("p;"),
            ExtensionOffer::new("a").with_param("p", ""),
            ExtensionOffer::new("a").with_param("p", "1\r\nInjected: yes"),
            ExtensionOffer::new("a").with_param("p", "\"quoted\""),
        ] {
            let e = format(std::slice::from_ref(&bad)).unwrap_err();
            assert!(matches!(e, ExtensionError::NotAToken(_)), "{bad:?}: {e:?}");
        }
        assert_eq!(
            format(&[ExtensionOffer::new("a").with_param("p", "x y")]).unwrap_err().to_string(),
            "cannot format Sec-WebSocket-Extensions: \"x y\" is not a token"
        );
    }
}
