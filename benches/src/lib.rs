//! Shared helpers for the benchmarks (the benches themselves live in `benches/`).
//!
//! - [`criterion()`]: the common, deliberately short criterion settings;
//! - [`Rng`], [`json_message`], [`json_corpus`], [`ascii_text`], [`mixed_text`]: deterministic
//!   test data (the same bytes on every run and machine);
//! - [`server`], [`client`], [`deflate_pair`]: connections built through the public
//!   `ws-proto` API, as a handshake would have left them;
//! - [`drain_vectored`], [`drain_copy`], [`drain_events`]: the two halves of the driving
//!   contract, done the way an adapter does them;
//! - [`echo`]: the echo servers of the loopback load test (ours and the other stacks), each
//!   run as its own process; [`memory`]: server memory per idle connection;
//! - [`codec`]: the in-memory client → server → client echo of every stack (`src/bin/codec.rs`).

pub mod codec;
pub mod echo;
pub mod memory;

use std::hint::black_box;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ws_proto::{
    Backend, Buf, Config, Connection, DeflateConfig, DeflateParams, Entropy, Event, Negotiated, Role, Transmit,
};

/// The criterion settings every bench uses: 20 samples, 0.5 s warm-up and 2 s of measurement,
/// so that `cargo bench -p ws-benches` finishes in a few minutes on two cores.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// A size as it appears in a benchmark id: `16B`, `1KiB`, `64KiB`, `1MiB`.
pub fn size_label(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{}MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{}KiB", n >> 10)
    } else {
        format!("{n}B")
    }
}

// ------------------------------------------------------------------------ deterministic data

/// A small deterministic generator (SplitMix64): the benches' data must not depend on the
/// run, and the masking keys of client connections come from it too.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the slight modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fills `dest` with random bytes.
    pub fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

const SYMBOLS: &[&str] = &["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "DOGE-USD", "XRP-USD", "LTC-USD", "DOT-USD"];
const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];
const ROOMS: &[&str] = &["general", "random", "trading", "support", "dev"];
const ASCII_WORDS: &[&str] = &[
    "the",
    "market",
    "is",
    "up",
    "today",
    "anyone",
    "seen",
    "the",
    "latest",
    "release",
    "notes",
    "yes",
    "no",
    "maybe",
    "later",
    "thanks",
    "for",
    "sharing",
    "this",
    "looks",
    "great",
    "deploy",
    "failed",
    "again",
    "on",
    "staging",
    "can",
    "you",
    "check",
    "logs",
    "please",
    "lunch",
    "meeting",
    "at",
    "noon",
    "price",
    "spread",
    "volume",
    "order",
    "book",
    "depth",
    "bid",
    "ask",
    "filled",
    "cancelled",
    "websocket",
    "latency",
    "ok",
];
const MIXED_WORDS: &[&str] = &[
    "hello",
    "world",
    "café",
    "naïve",
    "façade",
    "über",
    "smörgåsbord",
    "Привет",
    "мир",
    "日本語",
    "テキスト",
    "你好",
    "世界",
    "안녕하세요",
    "γειά",
    "σου",
    "שלום",
    "مرحبا",
    "👍",
    "🚀",
    "😀",
    "✓",
    "→",
    "€100",
    "ok",
    "and",
    "the",
    "déjà",
    "vu",
    "jalapeño",
];

/// Appends exactly `n` bytes of space-separated words from `words`: when no word drawn fits
/// the rest any more, it is padded with `x`.
fn push_words(out: &mut String, rng: &mut Rng, words: &[&str], n: usize) {
    let start = out.len();
    let end = start + n;
    let mut misses = 0;
    while misses < 16 {
        let w = *rng.pick(words);
        let sep = usize::from(out.len() > start);
        if out.len() + sep + w.len() > end {
            misses += 1;
            continue;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(w);
    }
    while out.len() < end {
        out.push('x');
    }
}

/// Exactly `len` bytes of ASCII prose.
pub fn ascii_text(len: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut s = String::with_capacity(len);
    push_words(&mut s, &mut rng, ASCII_WORDS, len);
    s
}

/// Exactly `len` bytes of mixed-script text: ASCII, Latin accents, Cyrillic, Greek, Hebrew,
/// Arabic, CJK, Hangul and emoji words (about 60 % of the bytes are in multi-byte sequences).
pub fn mixed_text(len: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut s = String::with_capacity(len);
    push_words(&mut s, &mut rng, MIXED_WORDS, len);
    s
}

fn push_record(out: &mut String, rng: &mut Rng, ts: &mut u64) {
    use std::fmt::Write as _;
    *ts += rng.below(40);
    let symbol = *rng.pick(SYMBOLS);
    let side = if rng.below(2) == 0 { "buy" } else { "sell" };
    let r = match rng.below(20) {
        0..=11 => write!(
            out,
            r#"{{"type":"trade","symbol":"{symbol}","price":"{}.{:02}","size":"{}.{:04}","side":"{side}","trade_id":{},"ts":{}}}"#,
            20_000 + rng.below(30_000),
            rng.below(100),
            rng.below(5),
            rng.below(10_000),
            400_000_000 + rng.below(100_000_000),
            *ts
        ),
        12..=16 => write!(
            out,
            r#"{{"type":"l2update","symbol":"{symbol}","changes":[["buy","{}.{:02}","{}.{:04}"],["sell","{}.{:02}","{}.{:04}"]],"ts":{}}}"#,
            20_000 + rng.below(30_000),
            rng.below(100),
            rng.below(3),
            rng.below(10_000),
            20_000 + rng.below(30_000),
            rng.below(100),
            rng.below(3),
            rng.below(10_000),
            *ts
        ),
        _ => {
            let n = 8 + rng.below(80) as usize;
            let mut text = String::new();
            push_words(&mut text, rng, MIXED_WORDS, n);
            write!(
                out,
                r#"{{"type":"chat","room":"{}","user":"{}_{}","text":"{text}","ts":{}}}"#,
                rng.pick(ROOMS),
                rng.pick(USERS),
                rng.below(100),
                *ts
            )
        }
    };
    r.expect("writing to a String cannot fail");
}

/// One JSON message of `size` bytes: a market-feed / chat batch
/// `{"channel":"feed","seq":N,"events":[...]}` of trades, order-book updates and chat lines
/// (with some non-ASCII text), like a busy feed's frames. The last event is a chat line cut to
/// fit, or spaces pad the end; a `size` below about 100 bytes gives the shortest message,
/// which may be longer.
pub fn json_message(rng: &mut Rng, seq: u64, size: usize) -> String {
    let mut ts = 1_700_000_000_000 + seq * 1000;
    let mut s = String::with_capacity(size + 256);
    s.push_str(r#"{"channel":"feed","seq":"#);
    s.push_str(&seq.to_string());
    s.push_str(r#","events":["#);
    const FILLER: &str = r#"{"type":"chat","room":"general","user":"bot","text":""}"#;
    let suffix = "]}";
    let mut first = true;
    loop {
        let mark = s.len();
        if !first {
            s.push(',');
        }
        push_record(&mut s, rng, &mut ts);
        // Keep room for a separator, the filler event and the suffix.
        if s.len() + 1 + FILLER.len() + suffix.len() > size {
            s.truncate(mark);
            break;
        }
        first = false;
    }
    let sep = usize::from(!first);
    let fixed = s.len() + sep + FILLER.len() + suffix.len();
    if fixed <= size {
        if sep == 1 {
            s.push(',');
        }
        s.push_str(r#"{"type":"chat","room":"general","user":"bot","text":""#);
        push_words(&mut s, rng, ASCII_WORDS, size - fixed);
        s.push_str(r#""}"#);
        s.push_str(suffix);
    } else {
        s.push_str(suffix);
        while s.len() < size {
            s.push(' ');
        }
    }
    debug_assert!(s.len() >= size);
    s
}

/// `count` distinct JSON messages of `size` bytes each (see [`json_message`]), with
/// consecutive sequence numbers: a stream as a feed would send it.
pub fn json_corpus(size: usize, count: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..count as u64).map(|seq| json_message(&mut rng, seq, size)).collect()
}

// ------------------------------------------------------------------------ connections

/// A deterministic source of masking keys (benchmarks only: real clients need an
/// unpredictable one).
pub fn entropy(seed: u64) -> Box<dyn Entropy> {
    let mut rng = Rng::new(seed);
    Box::new(move |dest: &mut [u8]| rng.fill(dest))
}

fn negotiated(deflate: Option<DeflateParams>) -> Negotiated {
    Negotiated { version: 13, deflate, ..Negotiated::default() }
}

/// An open server connection with `config` and nothing negotiated.
pub fn server(config: Config) -> Connection {
    Connection::new(Role::Server, Arc::new(config), negotiated(None), None, Instant::now())
}

/// An open client connection with `config`, nothing negotiated, and deterministic masks.
pub fn client(config: Config) -> Connection {
    Connection::new(Role::Client, Arc::new(config), negotiated(None), Some(entropy(0x5eed)), Instant::now())
}

/// A server and a client connection that negotiated permessage-deflate, compressing with
/// `backend` at `level`; both sides reset their compressor after every message unless
/// `context_takeover`. Every message of at least 1 byte is compressed.
pub fn deflate_pair(backend: Backend, level: u8, context_takeover: bool) -> (Connection, Connection) {
    let params = DeflateParams {
        server_no_context_takeover: !context_takeover,
        client_no_context_takeover: !context_takeover,
        ..DeflateParams::default()
    };
    let local = DeflateConfig::new().backend(backend).compression_level(level).threshold(1);
    let config = Config::default().permessage_deflate(Some(local));
    let config = Arc::new(config);
    let now = Instant::now();
    let server = Connection::new(Role::Server, config.clone(), negotiated(Some(params)), None, now);
    let client = Connection::new(Role::Client, config, negotiated(Some(params)), Some(entropy(0x5eed)), now);
    (server, client)
}

// ------------------------------------------------------------------------ the driving contract

/// Drains `conn`'s output the way a vectored-IO adapter does: `poll_transmit`, then
/// `chunks_vectored` into up to 64 `IoSlice`s and `advance` by their total, as if `writev`
/// wrote everything. Returns the bytes "written".
pub fn drain_vectored(conn: &mut Connection) -> usize {
    let mut total = 0;
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Data(mut buf) => {
                while buf.has_remaining() {
                    let written = {
                        let mut slices = [IoSlice::new(&[]); 64];
                        let n = buf.chunks_vectored(&mut slices);
                        black_box(&slices[..n]).iter().map(|s| s.len()).sum::<usize>()
                    };
                    buf.advance(written);
                    total += written;
                }
            }
            Transmit::Shutdown => break,
        }
    }
    total
}

/// Drains `conn`'s output by copying it into `out` (cleared first) with `transmit_into`, the
/// way a blocking adapter with one write buffer does. Returns the bytes copied.
pub fn drain_copy(conn: &mut Connection, out: &mut Vec<u8>) -> usize {
    out.clear();
    let n = conn.transmit_into(out);
    black_box(&out[..]);
    n
}

/// Calls `poll_event` until it returns `None`, returning the payload bytes of the messages
/// delivered. Panics if the connection closes: a benchmark fed it bad input.
pub fn drain_events(conn: &mut Connection, now: Instant) -> usize {
    let mut n = 0;
    while let Some(event) = conn.poll_event(now) {
        match event {
            Event::Message(m) => n += black_box(m).len(),
            Event::Closed(info) => panic!("connection closed during a benchmark: {info:?}"),
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_has_exact_sizes_and_is_deterministic() {
        for size in [0, 1, 50, 100, 200, 1024, 16 * 1024, 100_000] {
            let c = json_corpus(size, 3, 7);
            assert!(c.iter().all(|m| m.len() >= size), "{size}");
            if size >= 100 {
                assert!(c.iter().all(|m| m.len() == size), "{size}");
            }
            assert_eq!(c, json_corpus(size, 3, 7));
            assert_eq!(ascii_text(size, 1).len(), size);
            assert_eq!(mixed_text(size, 1).len(), size);
        }
        let m = mixed_text(1 << 16, 3);
        assert!(m.bytes().filter(|b| !b.is_ascii()).count() > m.len() / 4);
        assert!(ascii_text(4096, 3).is_ascii());
    }

    #[test]
    fn deflate_pair_round_trips() {
        for &backend in Backend::available() {
            let (mut server, mut client) = deflate_pair(backend, 6, true);
            let corpus = json_corpus(4096, 4, 1);
            let mut wire = Vec::new();
            for m in &corpus {
                server.send_text(m.as_str()).unwrap();
                drain_copy(&mut server, &mut wire);
                assert!(wire.len() < m.len() / 2, "{backend:?} did not compress");
                client.receive(&wire);
                assert_eq!(drain_events(&mut client, Instant::now()), m.len());
            }
        }
    }
}
