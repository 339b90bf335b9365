//! Replays the committed fuzz seed corpora through the fuzz harnesses, so the harnesses stay
//! buildable and their invariants hold on every seed (the fuzzers themselves run via cargo-fuzz).

#[path = "../../fuzz/src/harness.rs"]
#[allow(unreachable_pub, dead_code)]
mod harness;

#[path = "../../fuzz/src/pair.rs"]
#[allow(unreachable_pub, dead_code)]
mod pair;

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("read seed");
        // Every prefix too: truncated input is the commonest real-world case.
        for cut in [data.len(), data.len() / 2, data.len().min(20)] {
            run(&data[..cut]);
        }
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds in {}", dir.display());
}

#[test]
fn frame_header_corpus() {
    replay("frame_header", harness::frame_header);
}

#[test]
fn decoder_server_corpus() {
    replay("decoder_server", harness::decoder_server);
}

#[test]
fn decoder_client_corpus() {
    replay("decoder_client", harness::decoder_client);
}

#[test]
fn utf8_corpus() {
    replay("utf8", harness::utf8);
}

#[test]
fn handshake_request_corpus() {
    replay("handshake_request", harness::handshake_request);
}

#[test]
fn handshake_response_corpus() {
    replay("handshake_response", harness::handshake_response);
}

#[test]
fn pair_corpus() {
    replay("pair", pair::pair);
}

/// The structured target is not vacuous: a plain exchange delivers every message both ways and
/// closes cleanly.
#[test]
fn pair_delivers_and_closes_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pair");
    for (seed, sent) in [("text-echo", [1, 1]), ("deflate-both", [1, 1])] {
        let data = std::fs::read(dir.join(seed)).expect("seed");
        let s = pair::run(&data);
        assert_eq!(s.sent, sent, "{seed}: {s:?}");
        assert_eq!(s.delivered, [s.sent[1], s.sent[0]], "{seed}: {s:?}");
        assert_eq!(s.clean, [true, true], "{seed}: {s:?}");
    }
}

#[test]
fn extensions_corpus() {
    replay("extensions", harness::extensions);
}

#[test]
fn subprotocols_corpus() {
    replay("subprotocols", harness::subprotocols);
}

#[test]
fn inflate_corpus() {
    replay("inflate", harness::inflate);
}

#[test]
fn proxy_corpus() {
    replay("proxy", harness::proxy);
}

#[cfg(feature = "url")]
#[test]
fn url_corpus() {
    replay("url", harness::url);
}

/// Every corpus directory has its test above (a new target's corpus cannot be forgotten).
#[test]
fn every_corpus_is_replayed() {
    let this = include_str!("fuzz_corpus.rs");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let name = entry.expect("entry").file_name().into_string().expect("UTF-8 name");
        assert!(this.contains(&format!("replay(\"{name}\"")), "corpus {name} is not replayed by a test");
    }
}
