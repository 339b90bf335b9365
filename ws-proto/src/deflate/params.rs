//! `Sec-WebSocket-Extensions` parameters of permessage-deflate (RFC 7692 §7.1): parsing,
//! formatting and the negotiation decisions of both roles, as decision tables (the
//! `websockets` style). Every row has a unit test below.
//!
//! The configuration has Node `ws`'s states per parameter ([`NoContextTakeover`]: `false` =
//! `Never`, not set = `Allowed`, `true` = `Requested`; [`MaxWindowBits`]: `false` = `Never`,
//! `true` or not set = `Any`, a number `N`); "–" in a config column below is the default.
//! [`DeflateConfig::inflate_window_bits`] tightens the peer's window setting first (the
//! server's `client_max_window_bits`, the client's `server_max_window_bits`), see
//! `effective_*_window`.
//!
//! Notation: `m` is the smallest compressor window the backend honours
//! ([`min_window_bits`](super::Backend::min_window_bits): 15 for miniz_oxide, 8 for zlib-rs,
//! which compresses with a 9-bit window for 8, as zlib does; its farthest match is
//! 2^9 − 262 = 250 bytes back, inside a 256-byte window). Window values are "8".."15" without
//! leading zeros (RFC 7692 §7.1.2).
//!
//! ## A. Parameter validation (offers received by a server, responses received by a client)
//!
//! | parameter | in an offer | in a response |
//! |---|---|---|
//! | unknown name | 400 | fail |
//! | any name twice | 400 | fail |
//! | `server_no_context_takeover` / `client_no_context_takeover` with a value | 400 | fail |
//! | `server_max_window_bits` without a value | 400 | fail |
//! | `client_max_window_bits` without a value | valid | fail |
//! | a window value that is not 8..15 (leading zeros, signs, `16`, `7`…) | 400 | fail |
//!
//! A server validates *every* permessage-deflate offer before choosing one (Node `ws`: a
//! malformed parameter anywhere is a 400). Other extensions are ignored (declined).
//!
//! ## B. Server: choosing an offer
//!
//! Offers are walked in the client's order; the first one the server can honour is accepted
//! and the rest are declined. When none can be honoured the handshake succeeds without the
//! extension (RFC 7692 §5), or, with `reject_unacceptable_offers(true)`, is refused with 400
//! (Node `ws`). An offer is declined when (rows C6, D5, D10 and E2):
//! - it asks for `server_no_context_takeover` and the server is configured `false` for it,
//! - it carries `server_max_window_bits` and the server is configured `false` for it,
//! - it asks for a server window smaller than `m`, or
//! - the server is configured with `client_max_window_bits` and the offer lacks that parameter
//!   (Node `ws`: the client must accept a limit the server insists on).
//!
//! ## C. Server: context takeover (the response)
//!
//! | # | offer | config | response |
//! |---|---|---|---|
//! | C1 | – | – | – |
//! | C2 | `server_no_context_takeover` | – | `server_no_context_takeover` |
//! | C3 | – | `server_no_context_takeover(true)` | `server_no_context_takeover` |
//! | C4 | `client_no_context_takeover` | – | `client_no_context_takeover` (echoed, as Node) |
//! | C5 | – | `client_no_context_takeover(true)` | `client_no_context_takeover` |
//! | C6 | `server_no_context_takeover` | `server_no_context_takeover(false)` | declined |
//! | C7 | `client_no_context_takeover` | `client_no_context_takeover(false)` | `client_no_context_takeover` (echoed, as Node) |
//!
//! ## D. Server: `server_max_window_bits` (S = offer value, C = configured value)
//!
//! own window `w = max(min(S or 15, C or 15), m)`; decline when `S` is present and `w > S`;
//! respond `server_max_window_bits=w` when `S` is present or `w < 15`. Configured `false`:
//! decline when `S` is present, else as not set.
//!
//! | # | S | C | m | result |
//! |---|---|---|---|---|
//! | D1 | – | – | any | accept, nothing sent, window 15 |
//! | D2 | – | 10 | 8 | accept, `server_max_window_bits=10` |
//! | D3 | – | 10 | 15 | accept, nothing sent, window 15 (config clamped to the backend) |
//! | D4 | 10 | – | 8 | accept, `server_max_window_bits=10` |
//! | D5 | 10 | – | 15 | decline the offer |
//! | D6 | 15 | – | 15 | accept, `server_max_window_bits=15` |
//! | D7 | 12 | 10 | 8 | accept, `server_max_window_bits=10` |
//! | D8 | 10 | 12 | 8 | accept, `server_max_window_bits=10` (Node would decline) |
//! | D9 | 8 | – | 8 | accept, `server_max_window_bits=8` (compressing with 9 bits) |
//! | D10 | 10 or 15 | `false` | any | decline the offer |
//! | D11 | – | `false` | any | accept, nothing sent, window 15 |
//!
//! ## E. Server: `client_max_window_bits` (O = offer, C = configured value)
//!
//! | # | O | C | result |
//! |---|---|---|---|
//! | E1 | – | – | nothing sent |
//! | E2 | – | N | decline the offer |
//! | E3 | bare | – | nothing sent |
//! | E4 | bare | N | `client_max_window_bits=max(N, 9)` |
//! | E5 | V | – | `client_max_window_bits=V` (echoed, as Node) |
//! | E6 | V | N | `client_max_window_bits=min(V, max(N, 9))` |
//! | E7 | any | `false` | nothing sent (the client keeps 15 bits) |
//!
//! The server's decompressor handles any window, so these only serve the client's memory. A
//! configured 8 is asked as 9: zlib-based clients (zlib ≥ 1.2.9 refuses an 8-bit raw deflate
//! window; Python `websockets` fails the handshake) cannot compress with 8, and a 9-bit zlib
//! window keeps its matches within 250 bytes anyway. A client that itself offers 8 gets 8.
//!
//! ## F. Client: the offer
//!
//! | # | config | offer with m = 15 (miniz_oxide) | offer with m ≤ 14 (zlib-rs) |
//! |---|---|---|---|
//! | F1 | default | `permessage-deflate` | `permessage-deflate; client_max_window_bits` |
//! | F2 | `server_no_context_takeover(true)` | `+ server_no_context_takeover` | same |
//! | F3 | `client_no_context_takeover(true)` | `+ client_no_context_takeover` | same |
//! | F4 | `server_max_window_bits(Some(N))` | `+ server_max_window_bits=N` | same |
//! | F5 | `client_max_window_bits(Some(N))` | (not offered: the compressor cannot honour it) | `client_max_window_bits=N` |
//! | F6 | `client_max_window_bits(false)` | not offered | not offered |
//! | F7 | `false` for any other parameter | not offered | not offered |
//!
//! A client only offers `client_max_window_bits` when its compressor can use a smaller
//! window: the bare parameter tells the server the client accepts a limit on its own window.
//!
//! ## G. Client: validating the response
//!
//! | # | response | result |
//! |---|---|---|
//! | G1 | no `Sec-WebSocket-Extensions` | no compression |
//! | G2 | an extension other than permessage-deflate, or permessage-deflate not offered | fail: `ExtensionNotOffered` |
//! | G3 | more than one extension | fail |
//! | G4 | a row of table A | fail |
//! | G5 | `server_no_context_takeover` | accepted (always allowed) |
//! | G6 | offered `server_no_context_takeover`, response without it | fail |
//! | G7 | `client_no_context_takeover` | accepted (the client resets its compressor per message) |
//! | G8 | `server_max_window_bits=V`, nothing offered | accepted (the decompressor handles any window) |
//! | G9 | offered `server_max_window_bits=N`, response `V ≤ N` | accepted |
//! | G10 | offered `server_max_window_bits=N`, response `V > N` or absent | fail |
//! | G11 | `client_max_window_bits=V`, not offered | fail |
//! | G12 | offered bare, response `V` | accepted, window `max(V, m)` where `m ≤ V` always holds |
//! | G13 | offered `N`, response `V ≤ N` | accepted; response `V > N` fails |
//! | G14 | `client_no_context_takeover(false)`, response with `client_no_context_takeover` | fail (Node `ws`) |
//! | G15 | `client_max_window_bits(false)`, response `V` | fail (not offered) |
//! | G16 | `server_no_context_takeover(false)` or `server_max_window_bits(false)`, response with it | accepted (it only constrains the server; Node does not check either) |

use std::fmt::Write as _;

use super::{DeflateConfig, DeflateParams, MaxWindowBits, NoContextTakeover};
use crate::config::Role;
use crate::handshake::server::ExtensionOffer;

/// The extension token.
pub(crate) const EXTENSION_NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// `client_max_window_bits` as sent: absent, bare, or with a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ClientBits {
    #[default]
    Absent,
    Bare,
    Value(u8),
}

/// The validated parameters of one offer or response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: ClientBits,
}

/// Parses a window size: "8".."15" without leading zeros.
pub(crate) fn parse_window_bits(v: &str) -> Option<u8> {
    match v {
        "8" => Some(8),
        "9" => Some(9),
        "10" => Some(10),
        "11" => Some(11),
        "12" => Some(12),
        "13" => Some(13),
        "14" => Some(14),
        "15" => Some(15),
        _ => None,
    }
}

/// Validates the parameters of an offer (`response == false`) or a response (table A).
fn parse_params(params: &[(String, Option<String>)], response: bool) -> Result<Params, String> {
    let mut p = Params::default();
    let mut seen = [false; 4];
    for (name, value) in params {
        let idx =
            [SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER, SERVER_MAX_WINDOW_BITS, CLIENT_MAX_WINDOW_BITS]
                .iter()
                .position(|k| k.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("unknown parameter {name:?}"))?;
        if std::mem::replace(&mut seen[idx], true) {
            return Err(format!("duplicate parameter {name}"));
        }
        let value = value.as_deref();
        let bits = |v: Option<&str>| match v {
            None => Err(format!("{name} needs a value")),
            Some(v) => parse_window_bits(v).ok_or_else(|| format!("invalid value {v:?} for {name} (expected 8..15)")),
        };
        match idx {
            0 | 1 => {
                if let Some(v) = value {
                    return Err(format!("{name} takes no value (got {v:?})"));
                }
                if idx == 0 {
                    p.server_no_context_takeover = true;
                } else {
                    p.client_no_context_takeover = true;
                }
            }
            2 => p.server_max_window_bits = Some(bits(value)?),
            _ => {
                p.client_max_window_bits = match value {
                    None if response => return Err(format!("{name} without a value in a response")),
                    None => ClientBits::Bare,
                    v => ClientBits::Value(bits(v)?),
                }
            }
        }
    }
    Ok(p)
}

fn is_deflate(e: &ExtensionOffer) -> bool {
    e.name.eq_ignore_ascii_case(EXTENSION_NAME)
}

/// Server: validates every permessage-deflate offer (`Err` is a 400), then accepts the first
/// one that can be honoured (tables B to E). `Ok(None)`: declined (no compression).
pub(crate) fn server_negotiate(
    offers: &[ExtensionOffer],
    cfg: &DeflateConfig,
    m: u8,
) -> Result<Option<DeflateParams>, String> {
    let parsed = offers
        .iter()
        .filter(|o| is_deflate(o))
        .map(|o| parse_params(&o.params, false))
        .collect::<Result<Vec<_>, _>>()?;
    let accepted = parsed.iter().find_map(|offer| server_accept(offer, cfg, m));
    if accepted.is_none() && !parsed.is_empty() && cfg.reject_unacceptable {
        return Err("none of the permessage-deflate offers can be accepted".to_owned());
    }
    Ok(accepted)
}

/// Server: the response to one valid offer, or `None` to decline it.
fn server_accept(offer: &Params, cfg: &DeflateConfig, m: u8) -> Option<DeflateParams> {
    // Table C.
    if cfg.server_no_context_takeover == NoContextTakeover::Never && offer.server_no_context_takeover {
        return None;
    }
    // Table D.
    let configured = match cfg.effective_server_window(Role::Server) {
        MaxWindowBits::Never if offer.server_max_window_bits.is_some() => return None,
        MaxWindowBits::Never | MaxWindowBits::Any => 15,
        MaxWindowBits::Bits(c) => c,
    };
    let want = offer.server_max_window_bits.unwrap_or(15).min(configured);
    let own = want.max(m);
    if offer.server_max_window_bits.is_some_and(|s| own > s) {
        return None;
    }
    let server_max_window_bits = (offer.server_max_window_bits.is_some() || own < 15).then_some(own);
    // Table E.
    let client_max_window_bits = match (offer.client_max_window_bits, cfg.effective_client_window(Role::Server)) {
        (ClientBits::Absent, MaxWindowBits::Bits(_)) => return None,
        (_, MaxWindowBits::Never) | (ClientBits::Absent | ClientBits::Bare, MaxWindowBits::Any) => None,
        (ClientBits::Bare, MaxWindowBits::Bits(n)) => Some(n.max(9)),
        (ClientBits::Value(v), MaxWindowBits::Any) => Some(v),
        (ClientBits::Value(v), MaxWindowBits::Bits(n)) => Some(v.min(n.max(9))),
    };
    // Table C.
    Some(DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover || cfg.server_no_context_takeover.is_requested(),
        client_no_context_takeover: offer.client_no_context_takeover || cfg.client_no_context_takeover.is_requested(),
        server_max_window_bits,
        client_max_window_bits,
    })
}

/// Client: the `Sec-WebSocket-Extensions` offer (table F).
pub(crate) fn client_offer(cfg: &DeflateConfig, m: u8) -> String {
    let mut s = String::from(EXTENSION_NAME);
    if cfg.server_no_context_takeover.is_requested() {
        s.push_str("; ");
        s.push_str(SERVER_NO_CONTEXT_TAKEOVER);
    }
    if cfg.client_no_context_takeover.is_requested() {
        s.push_str("; ");
        s.push_str(CLIENT_NO_CONTEXT_TAKEOVER);
    }
    if let Some(n) = cfg.effective_server_window(Role::Client).bits() {
        let _ = write!(s, "; {SERVER_MAX_WINDOW_BITS}={n}");
    }
    if m < 15 {
        match cfg.client_max_window_bits {
            MaxWindowBits::Never => {}
            MaxWindowBits::Any => {
                s.push_str("; ");
                s.push_str(CLIENT_MAX_WINDOW_BITS);
            }
            MaxWindowBits::Bits(n) => {
                let _ = write!(s, "; {CLIENT_MAX_WINDOW_BITS}={}", n.max(m));
            }
        }
    }
    s
}

/// Why a client refuses a response: the extension was not offered, or its parameters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResponseError {
    NotOffered,
    Params(String),
}

/// Client: validates the server's `Sec-WebSocket-Extensions` elements against what
/// [`client_offer`] sent (table G). `offered` is `None` when nothing was offered, else the
/// configuration and the backend's smallest compressor window.
pub(crate) fn client_validate(
    exts: &[ExtensionOffer],
    offered: Option<(&DeflateConfig, u8)>,
) -> Result<Option<DeflateParams>, ResponseError> {
    let Some(first) = exts.first() else { return Ok(None) };
    let Some((cfg, m)) = offered.filter(|_| is_deflate(first)) else {
        return Err(ResponseError::NotOffered);
    };
    if exts.len() > 1 {
        return Err(ResponseError::Params(format!("{} extensions accepted, one was offered", exts.len())));
    }
    let p = parse_params(&first.params, true).map_err(ResponseError::Params)?;
    let fail = |m: &str| Err(ResponseError::Params(m.to_owned()));
    if cfg.server_no_context_takeover.is_requested() && !p.server_no_context_takeover {
        return fail("server_no_context_takeover was offered but not accepted");
    }
    if cfg.client_no_context_takeover == NoContextTakeover::Never && p.client_no_context_takeover {
        return fail("client_no_context_takeover is refused by the configuration");
    }
    match (cfg.effective_server_window(Role::Client).bits(), p.server_max_window_bits) {
        (Some(_), None) => return fail("server_max_window_bits was offered but not accepted"),
        (Some(n), Some(v)) if v > n => return fail("server_max_window_bits larger than offered"),
        _ => {}
    }
    // `client_offer` offers `client_max_window_bits` only when `m < 15` and not `Never`, with
    // `max(N, m)`.
    let client_max_window_bits = match p.client_max_window_bits {
        ClientBits::Value(_) if m >= 15 || cfg.client_max_window_bits == MaxWindowBits::Never => {
            return fail("client_max_window_bits was not offered");
        }
        ClientBits::Value(v) if cfg.client_max_window_bits.bits().is_some_and(|n| v > n.max(m)) => {
            return fail("client_max_window_bits larger than offered");
        }
        ClientBits::Value(v) if v < m => return fail("client_max_window_bits smaller than the compressor supports"),
        ClientBits::Value(v) => Some(v),
        // Rejected by `parse_params` in a response.
        ClientBits::Absent | ClientBits::Bare => None,
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover,
        server_max_window_bits: p.server_max_window_bits,
        client_max_window_bits,
    }))
}

/// The response value for agreed parameters, in a fixed order.
pub(crate) fn format_response(p: &DeflateParams) -> String {
    let mut s = String::from(EXTENSION_NAME);
    if p.server_no_context_takeover {
        s.push_str("; ");
        s.push_str(SERVER_NO_CONTEXT_TAKEOVER);
    }
    if p.client_no_context_takeover {
        s.push_str("; ");
        s.push_str(CLIENT_NO_CONTEXT_TAKEOVER);
    }
    if let Some(n) = p.server_max_window_bits {
        let _ = write!(s, "; {SERVER_MAX_WINDOW_BITS}={n}");
    }
    if let Some(n) = p.client_max_window_bits {
        let _ = write!(s, "; {CLIENT_MAX_WINDOW_BITS}={n}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::headers::parse_extensions;

    const PMD: &str = "permessage-deflate";
    /// miniz_oxide's and zlib-rs's smallest compressor windows.
    const MINIZ: u8 = 15;
    const ZLIB: u8 = 8;

    fn exts(header: &str) -> Vec<ExtensionOffer> {
        parse_extensions([header.as_bytes()]).expect("valid syntax")
    }

    fn cfg() -> DeflateConfig {
        DeflateConfig::default()
    }

    /// The server's response to `offer`: `Ok(None)` declined, `Err` a 400.
    fn server(offer: &str, cfg: &DeflateConfig, m: u8) -> Result<Option<String>, String> {
        server_negotiate(&exts(offer), cfg, m).map(|p| p.map(|p| format_response(&p)))
    }

    #[track_caller]
    fn accepts(offer: &str, cfg: &DeflateConfig, m: u8, response: &str) {
        assert_eq!(server(offer, cfg, m), Ok(Some(response.to_owned())), "offer {offer:?}");
    }

    #[track_caller]
    fn declines(offer: &str, cfg: &DeflateConfig, m: u8) {
        assert_eq!(server(offer, cfg, m), Ok(None), "offer {offer:?}");
    }

    #[track_caller]
    fn bad_offer(offer: &str) {
        for m in [MINIZ, ZLIB] {
            assert!(server(offer, &cfg(), m).is_err(), "offer {offer:?} must be a 400");
        }
    }

    /// The client's view of `response` to what `cfg` offered with minimum window `m`.
    fn client(response: &str, cfg: &DeflateConfig, m: u8) -> Result<Option<DeflateParams>, ResponseError> {
        client_validate(&exts(response), Some((cfg, m)))
    }

    #[track_caller]
    fn client_fails(response: &str, cfg: &DeflateConfig, m: u8) {
        assert!(matches!(client(response, cfg, m), Err(ResponseError::Params(_))), "response {response:?}");
    }

    fn params(snct: bool, cnct: bool, smwb: Option<u8>, cmwb: Option<u8>) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        }
    }

    #[test]
    fn window_values() {
        for (v, b) in [("8", 8), ("9", 9), ("10", 10), ("15", 15)] {
            assert_eq!(parse_window_bits(v), Some(b));
        }
        for v in ["7", "16", "0", "08", "010", "+9", "-9", "9 ", "", "nine", "1e1", "255", "99999999999999999999"] {
            assert_eq!(parse_window_bits(v), None, "{v:?}");
        }
    }

    // ---------------------------------------------------------------- table A (offers)

    #[test]
    fn a_offer_validation() {
        bad_offer("permessage-deflate; foo");
        bad_offer("permessage-deflate; foo=1");
        bad_offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
        bad_offer("permessage-deflate; client_max_window_bits; client_max_window_bits=10");
        bad_offer("permessage-deflate; server_no_context_takeover=1");
        bad_offer("permessage-deflate; client_no_context_takeover=true");
        bad_offer("permessage-deflate; server_max_window_bits");
        bad_offer("permessage-deflate; server_max_window_bits=7");
        bad_offer("permessage-deflate; server_max_window_bits=16");
        bad_offer("permessage-deflate; server_max_window_bits=010");
        bad_offer("permessage-deflate; client_max_window_bits=16");
        bad_offer("permessage-deflate; client_max_window_bits=x");
        // A malformed parameter in any offer is a 400, even after an acceptable one.
        bad_offer("permessage-deflate, permessage-deflate; server_max_window_bits=20");
        // Valid forms: bare client_max_window_bits, quoted values, any case.
        accepts("permessage-deflate; client_max_window_bits", &cfg(), MINIZ, PMD);
        accepts(
            "permessage-deflate; client_max_window_bits=\"10\"",
            &cfg(),
            MINIZ,
            "permessage-deflate; client_max_window_bits=10",
        );
        accepts(
            "PerMessage-Deflate; Server_No_Context_Takeover",
            &cfg(),
            MINIZ,
            "permessage-deflate; server_no_context_takeover",
        );
        // Other extensions are not validated: they are declined.
        accepts("x-webkit-deflate-frame; whatever=1, permessage-deflate", &cfg(), MINIZ, PMD);
        declines("x-webkit-deflate-frame", &cfg(), MINIZ);
    }

    // ---------------------------------------------------------------- table B (choice)

    #[test]
    fn b_first_acceptable_offer_wins() {
        let two = "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits";
        accepts(two, &cfg(), MINIZ, PMD);
        accepts(two, &cfg(), ZLIB, "permessage-deflate; server_max_window_bits=10");
        declines("permessage-deflate; server_max_window_bits=10", &cfg(), MINIZ);
        // Chromium's and Firefox's default offers.
        accepts("permessage-deflate; client_max_window_bits", &cfg(), MINIZ, PMD);
        accepts("permessage-deflate; client_max_window_bits", &cfg(), ZLIB, PMD);
        accepts("permessage-deflate", &cfg(), MINIZ, PMD);
    }

    // ---------------------------------------------------------------- table C

    #[test]
    fn c_context_takeover() {
        for m in [MINIZ, ZLIB] {
            accepts(PMD, &cfg(), m, PMD); // C1
            let snct = "permessage-deflate; server_no_context_takeover";
            accepts(snct, &cfg(), m, snct); // C2
            accepts(PMD, &cfg().server_no_context_takeover(true), m, snct); // C3
            let cnct = "permessage-deflate; client_no_context_takeover";
            accepts(cnct, &cfg(), m, cnct); // C4
            accepts(PMD, &cfg().client_no_context_takeover(true), m, cnct); // C5
            let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
            accepts("permessage-deflate; client_no_context_takeover; server_no_context_takeover", &cfg(), m, both);
        }
    }

    // ---------------------------------------------------------------- table D

    #[test]
    fn d_server_max_window_bits() {
        let smwb = |n: u8| format!("permessage-deflate; server_max_window_bits={n}");
        let c = |n: u8| cfg().server_max_window_bits(Some(n));
        accepts(PMD, &cfg(), ZLIB, PMD); // D1
        accepts(PMD, &cfg(), MINIZ, PMD); // D1
        accepts(PMD, &c(10), ZLIB, &smwb(10)); // D2
        accepts(PMD, &c(10), MINIZ, PMD); // D3
        accepts(&smwb(10), &cfg(), ZLIB, &smwb(10)); // D4
        declines(&smwb(10), &cfg(), MINIZ); // D5
        accepts(&smwb(15), &cfg(), MINIZ, &smwb(15)); // D6
        accepts(&smwb(12), &c(10), ZLIB, &smwb(10)); // D7
        accepts(&smwb(10), &c(12), ZLIB, &smwb(10)); // D8
        accepts(&smwb(8), &cfg(), ZLIB, &smwb(8)); // D9
        declines(&smwb(8), &cfg(), MINIZ);
        // Every value in range, both backends.
        for s in 8..=15u8 {
            accepts(&smwb(s), &cfg(), ZLIB, &smwb(s));
            if s < 15 {
                declines(&smwb(s), &cfg(), MINIZ);
            }
        }
    }

    // ---------------------------------------------------------------- table E

    #[test]
    fn e_client_max_window_bits() {
        let cmwb = |n: u8| format!("permessage-deflate; client_max_window_bits={n}");
        let bare = "permessage-deflate; client_max_window_bits";
        for m in [MINIZ, ZLIB] {
            let c = |n: u8| cfg().client_max_window_bits(Some(n));
            accepts(PMD, &cfg(), m, PMD); // E1
            declines(PMD, &c(10), m); // E2
            accepts(bare, &cfg(), m, PMD); // E3
            accepts(bare, &c(10), m, &cmwb(10)); // E4
            accepts(&cmwb(11), &cfg(), m, &cmwb(11)); // E5
            accepts(&cmwb(11), &c(10), m, &cmwb(10)); // E6
            accepts(&cmwb(9), &c(10), m, &cmwb(9)); // E6
                                                    // A configured 8 is asked as 9; an offered 8 is kept.
            accepts(bare, &c(8), m, &cmwb(9)); // E4
            accepts(&cmwb(12), &c(8), m, &cmwb(9)); // E6
            accepts(&cmwb(8), &c(8), m, &cmwb(8)); // E6
            accepts(&cmwb(8), &cfg(), m, &cmwb(8)); // E5
        }
    }

    // ---------------------------------------------------------------- table F

    #[test]
    fn f_client_offer() {
        assert_eq!(client_offer(&cfg(), MINIZ), PMD); // F1
        assert_eq!(client_offer(&cfg(), ZLIB), "permessage-deflate; client_max_window_bits"); // F1
        let snct = cfg().server_no_context_takeover(true);
        assert_eq!(client_offer(&snct, MINIZ), "permessage-deflate; server_no_context_takeover"); // F2
        let cnct = cfg().client_no_context_takeover(true);
        assert_eq!(client_offer(&cnct, MINIZ), "permessage-deflate; client_no_context_takeover"); // F3
        let smwb = cfg().server_max_window_bits(Some(10));
        assert_eq!(client_offer(&smwb, MINIZ), "permessage-deflate; server_max_window_bits=10"); // F4
        let cmwb = cfg().client_max_window_bits(Some(10));
        assert_eq!(client_offer(&cmwb, MINIZ), PMD); // F5
        assert_eq!(client_offer(&cmwb, ZLIB), "permessage-deflate; client_max_window_bits=10"); // F5
        let all = cfg()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(Some(9))
            .client_max_window_bits(Some(8));
        assert_eq!(
            client_offer(&all, ZLIB),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=8"
        );
        // The offer parses back as a valid offer that a server accepts.
        for m in [MINIZ, ZLIB] {
            assert!(server(&client_offer(&all, m), &cfg(), ZLIB).expect("valid").is_some());
        }
    }

    // ---------------------------------------------------------------- table G

    #[test]
    fn g1_g2_g3_extensions() {
        assert_eq!(client_validate(&[], Some((&cfg(), MINIZ))), Ok(None)); // G1
        assert_eq!(client_validate(&exts(PMD), None), Err(ResponseError::NotOffered)); // G2
        assert_eq!(client("x-foo", &cfg(), MINIZ), Err(ResponseError::NotOffered)); // G2
        assert_eq!(client("x-foo, permessage-deflate", &cfg(), MINIZ), Err(ResponseError::NotOffered));
        client_fails("permessage-deflate, permessage-deflate", &cfg(), MINIZ); // G3
        client_fails("permessage-deflate, x-foo", &cfg(), MINIZ); // G3
        assert_eq!(client(PMD, &cfg(), MINIZ), Ok(Some(DeflateParams::default())));
    }

    #[test]
    fn g4_response_validation() {
        for r in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=7",
        ] {
            client_fails(r, &cfg(), ZLIB);
            client_fails(r, &cfg(), MINIZ);
        }
    }

    #[test]
    fn g5_to_g10_server_side_parameters() {
        for m in [MINIZ, ZLIB] {
            let r = client("permessage-deflate; server_no_context_takeover", &cfg(), m); // G5
            assert_eq!(r, Ok(Some(params(true, false, None, None))));
            let snct = cfg().server_no_context_takeover(true);
            client_fails(PMD, &snct, m); // G6
            let r = client("permessage-deflate; client_no_context_takeover", &cfg(), m); // G7
            assert_eq!(r, Ok(Some(params(false, true, None, None))));
            for v in 8..=15 {
                let r = client(&format!("permessage-deflate; server_max_window_bits={v}"), &cfg(), m); // G8
                assert_eq!(r, Ok(Some(params(false, false, Some(v), None))));
            }
            let smwb = cfg().server_max_window_bits(Some(10));
            let r = client("permessage-deflate; server_max_window_bits=10", &smwb, m); // G9
            assert_eq!(r, Ok(Some(params(false, false, Some(10), None))));
            let r = client("permessage-deflate; server_max_window_bits=9", &smwb, m); // G9
            assert_eq!(r, Ok(Some(params(false, false, Some(9), None))));
            client_fails("permessage-deflate; server_max_window_bits=11", &smwb, m); // G10
            client_fails(PMD, &smwb, m); // G10
        }
    }

    #[test]
    fn g11_to_g13_client_max_window_bits() {
        // G11: miniz_oxide never offers it.
        client_fails("permessage-deflate; client_max_window_bits=15", &cfg(), MINIZ);
        client_fails("permessage-deflate; client_max_window_bits=10", &cfg(), MINIZ);
        // G12: offered bare (zlib-rs), any value is fine.
        for v in 8..=15 {
            let r = client(&format!("permessage-deflate; client_max_window_bits={v}"), &cfg(), ZLIB);
            assert_eq!(r, Ok(Some(params(false, false, None, Some(v)))));
        }
        // G13: offered with a value.
        let cmwb = cfg().client_max_window_bits(Some(10));
        let r = client("permessage-deflate; client_max_window_bits=10", &cmwb, ZLIB);
        assert_eq!(r, Ok(Some(params(false, false, None, Some(10)))));
        let r = client("permessage-deflate; client_max_window_bits=9", &cmwb, ZLIB);
        assert_eq!(r, Ok(Some(params(false, false, None, Some(9)))));
        client_fails("permessage-deflate; client_max_window_bits=11", &cmwb, ZLIB);
        // A value below the compressor's minimum (a backend with m > 8 that offered it).
        client_fails("permessage-deflate; client_max_window_bits=8", &cfg(), 9);
    }

    #[test]
    fn server_response_is_accepted_by_the_client_that_offered() {
        // Every combination of client settings, against a default and a demanding server.
        let servers = [
            cfg(),
            cfg().server_no_context_takeover(true).client_no_context_takeover(true),
            cfg().server_max_window_bits(Some(9)).client_max_window_bits(Some(9)),
        ];
        for m in [MINIZ, ZLIB] {
            for bits in 0..16u8 {
                let c = cfg()
                    .server_no_context_takeover((bits & 1 != 0).then_some(true))
                    .client_no_context_takeover((bits & 2 != 0).then_some(true))
                    .server_max_window_bits((bits & 4 != 0).then_some(10))
                    .client_max_window_bits((bits & 8 != 0).then_some(11));
                let offer = client_offer(&c, m);
                for s in &servers {
                    let Some(resp) = server(&offer, s, m).expect("a valid offer") else { continue };
                    let agreed = client(&resp, &c, m).unwrap_or_else(|e| panic!("{offer} -> {resp}: {e:?}"));
                    assert!(agreed.is_some());
                }
            }
        }
    }

    /// Node's `false` per parameter: the server declines what its configuration forbids, the
    /// client refuses what it did not allow (rows B, C6, C7, D10, D11, E7, F6, F7, G14-G16).
    #[test]
    fn node_false_states() {
        let snct = "permessage-deflate; server_no_context_takeover";
        let cnct = "permessage-deflate; client_no_context_takeover";
        let smwb = |n: u8| format!("permessage-deflate; server_max_window_bits={n}");
        let cmwb = |n: u8| format!("permessage-deflate; client_max_window_bits={n}");
        let bare = "permessage-deflate; client_max_window_bits";
        for m in [MINIZ, ZLIB] {
            // C6: a server that never resets declines offers asking for it, accepts the rest.
            let never = cfg().server_no_context_takeover(false);
            declines(snct, &never, m);
            accepts(PMD, &never, m, PMD);
            accepts(&format!("{snct}, {PMD}"), &never, m, PMD);
            // C7: the client's own choice is still echoed (as Node).
            accepts(cnct, &cfg().client_no_context_takeover(false), m, cnct);
            // D10, D11.
            let never = cfg().server_max_window_bits(false);
            declines(&smwb(15), &never, m);
            accepts(PMD, &never, m, PMD);
            accepts(&format!("{}, {bare}", smwb(15)), &never, m, PMD);
            // E7: never asks the client for a window, whatever it offers.
            let never = cfg().client_max_window_bits(false);
            accepts(bare, &never, m, PMD);
            accepts(&cmwb(10), &never, m, PMD);
            // `true` is the same as not set for windows.
            assert_eq!(cfg().client_max_window_bits(true), cfg());
            assert_eq!(cfg().server_max_window_bits(true), cfg());
            // Not set for flags is `None`; `Some(b)` is `b`.
            assert_eq!(cfg().server_no_context_takeover(None::<bool>), cfg());
            assert_eq!(cfg().client_no_context_takeover(Some(false)), cfg().client_no_context_takeover(false));
        }
        // F6, F7: nothing offered for `false`.
        let all_false = cfg()
            .server_no_context_takeover(false)
            .client_no_context_takeover(false)
            .server_max_window_bits(false)
            .client_max_window_bits(false);
        assert_eq!(client_offer(&all_false, ZLIB), PMD);
        assert_eq!(client_offer(&all_false, MINIZ), PMD);
        for m in [MINIZ, ZLIB] {
            // G14, G15.
            client_fails(cnct, &all_false, m);
            client_fails(&cmwb(15), &all_false, m);
            // G16: what only constrains the server is accepted.
            let r = client(&format!("{snct}; server_max_window_bits=10"), &all_false, m);
            assert_eq!(r, Ok(Some(params(true, false, Some(10), None))));
            // With the defaults, the same responses are fine.
            assert_eq!(client(cnct, &cfg(), m), Ok(Some(params(false, true, None, None))));
        }
    }

    /// With `reject_unacceptable_offers` a server whose every permessage-deflate offer is
    /// declined refuses the handshake (a 400, as Node `ws`); without offers nothing changes.
    #[test]
    fn unacceptable_offers_can_be_refused() {
        let strict = cfg().server_no_context_takeover(false).reject_unacceptable_offers(true);
        let snct = "permessage-deflate; server_no_context_takeover";
        for m in [MINIZ, ZLIB] {
            assert!(server(snct, &strict, m).is_err());
            assert!(server(&format!("{snct}, {snct}; client_max_window_bits"), &strict, m).is_err());
            // One acceptable offer is enough.
            accepts(&format!("{snct}, {PMD}"), &strict, m, PMD);
            // Other extensions only: declined as before.
            declines("x-webkit-deflate-frame", &strict, m);
            // The default declines.
            declines(snct, &cfg().server_no_context_takeover(false), m);
        }
        // A window the backend cannot honour is unacceptable too.
        let strict = cfg().reject_unacceptable_offers(true);
        assert!(server("permessage-deflate; server_max_window_bits=10", &strict, MINIZ).is_err());
        accepts(
            "permessage-deflate; server_max_window_bits=10",
            &strict,
            ZLIB,
            "permessage-deflate; server_max_window_bits=10",
        );
    }

    /// `inflate_window_bits` limits the peer's window: a server asks for it (declining offers
    /// that do not allow a limit), a client offers it; the smaller setting wins.
    #[test]
    fn inflate_window_limits_the_peer() {
        let bare = "permessage-deflate; client_max_window_bits";
        let small = cfg().inflate_window_bits(Some(10));
        for m in [MINIZ, ZLIB] {
            accepts(bare, &small, m, "permessage-deflate; client_max_window_bits=10");
            accepts(
                "permessage-deflate; client_max_window_bits=9",
                &small,
                m,
                "permessage-deflate; client_max_window_bits=9",
            );
            declines(PMD, &small, m);
            let both = cfg().inflate_window_bits(Some(12)).client_max_window_bits(11);
            accepts(bare, &both, m, "permessage-deflate; client_max_window_bits=11");
            let both = cfg().inflate_window_bits(Some(11)).client_max_window_bits(12);
            accepts(bare, &both, m, "permessage-deflate; client_max_window_bits=11");
            // 15 is no limit.
            accepts(PMD, &cfg().inflate_window_bits(Some(15)), m, PMD);
            // Client: offered as server_max_window_bits, and required in the response.
            assert_eq!(client_offer(&small, MINIZ), "permessage-deflate; server_max_window_bits=10");
            client_fails(PMD, &small, m);
            client_fails("permessage-deflate; server_max_window_bits=11", &small, m);
            let r = client("permessage-deflate; server_max_window_bits=10", &small, m);
            assert_eq!(r, Ok(Some(params(false, false, Some(10), None))));
        }
    }

    #[test]
    fn format_response_order() {
        let p = params(true, true, Some(9), Some(10));
        assert_eq!(
            format_response(&p),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=10"
        );
        assert_eq!(p.to_string(), format_response(&p));
    }
}
