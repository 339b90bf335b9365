//! The opening handshake, sans IO.
//!
//! - `handshake/server_accept`: a server parses a typical browser upgrade request (Chrome's
//!   headers, cookie and permessage-deflate offer included), validates it, negotiates (the
//!   offer is ignored), accepts, and the `101` is drained;
//! - `handshake/server_accept_deflate`: the same with permessage-deflate enabled on the
//!   server, so the offer is negotiated and answered;
//! - `handshake/client_response` and `client_response_deflate`: a client parses and checks the
//!   server's `101` (accept key, upgrade headers, extension response) and builds its
//!   connection; creating the handshake and its request is outside the measurement.
//!
//! Throughput counts the bytes of the request (server) or response (client) parsed.

use std::sync::Arc;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput};
use ws_benches::entropy;
use ws_proto::{
    Buf, ClientHandshake, ClientOutcome, ClientRequest, Config, DeflateConfig, ServerHandshake, ServerOptions, Transmit,
};

/// What Chrome sends to open a WebSocket (plus a session cookie).
const BROWSER_REQUEST: &[u8] = b"GET /chat?room=general HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: https://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=3f9a7c1e5b2d4a6f8e0c; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

fn server_options(deflate: bool) -> Arc<ServerOptions> {
    let mut options = ServerOptions::default();
    if deflate {
        options = options.per_message_deflate(Some(DeflateConfig::default()));
    }
    Arc::new(options)
}

/// Parses `request`, accepts it and returns the `101` response bytes.
fn serve(config: &Arc<Config>, options: &Arc<ServerOptions>, request: &[u8], out: &mut Vec<u8>) -> usize {
    let now = Instant::now();
    let mut hs = ServerHandshake::new(config.clone(), options.clone(), now);
    hs.receive(request);
    let req = hs.poll_request().expect("valid request").expect("complete request");
    let accept = req.negotiate().expect("acceptable request");
    let mut conn = req.accept(accept, now);
    out.clear();
    conn.transmit_into(out)
}

fn client_config(deflate: bool) -> Arc<Config> {
    let mut config = Config::default();
    if deflate {
        config = config.permessage_deflate(Some(DeflateConfig::default()));
    }
    Arc::new(config)
}

/// A client handshake (with the same key every time) and the request it wrote.
fn client_handshake(config: &Arc<Config>) -> (ClientHandshake, Vec<u8>) {
    let request = ClientRequest::new("example.com:8080", "/chat?room=general").origin("https://example.com");
    let mut hs = ClientHandshake::new(request, config.clone(), entropy(7), Instant::now()).expect("valid request");
    let mut written = Vec::new();
    while let Some(Transmit::Data(mut buf)) = hs.poll_transmit() {
        let n = buf.chunk().len();
        written.extend_from_slice(buf.chunk());
        buf.advance(n);
    }
    (hs, written)
}

fn bench_handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    let config = Arc::new(Config::default());
    let mut out = Vec::new();
    for (name, deflate) in [("server_accept", false), ("server_accept_deflate", true)] {
        let options = server_options(deflate);
        serve(&config, &options, BROWSER_REQUEST, &mut out);
        let has_extension = String::from_utf8_lossy(&out).contains("permessage-deflate");
        assert_eq!(has_extension, deflate, "{name}");
        group.throughput(Throughput::Bytes(BROWSER_REQUEST.len() as u64));
        group.bench_function(name, |b| b.iter(|| serve(&config, &options, BROWSER_REQUEST, &mut out)));
    }

    for (name, deflate) in [("client_response", false), ("client_response_deflate", true)] {
        let config = client_config(deflate);
        // The server's answer to this client's request.
        let (mut hs, request) = client_handshake(&config);
        let mut response = Vec::new();
        serve(&Arc::new(Config::default()), &server_options(deflate), &request, &mut response);
        assert_eq!(String::from_utf8_lossy(&response).contains("permessage-deflate"), deflate, "{name}");
        hs.receive(&response);
        let accepted = matches!(hs.poll_outcome(Instant::now()), Ok(Some(ClientOutcome::Accepted { .. })));
        assert!(accepted, "{name}");

        group.throughput(Throughput::Bytes(response.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || client_handshake(&config).0,
                |mut hs| {
                    hs.receive(&response);
                    match hs.poll_outcome(Instant::now()) {
                        Ok(Some(ClientOutcome::Accepted { connection, .. })) => connection,
                        other => panic!("handshake failed: {other:?}"),
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn main() {
    let mut c = ws_benches::criterion();
    bench_handshake(&mut c);
    c.final_summary();
}
