//! Time limits, connected pairs of WebSockets, hand-rolled frames and payloads.
//!
//! The harness's own clock (timeouts, sleeps) is `async_io::Timer`, which wakes a task on any
//! executor; the runtime under test drives the connections' timers itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ws_async::runtime::{Io, Runtime};
use ws_async::ws_proto::{Entropy, Negotiated, Role};
use ws_async::{
    accept_with, connect_with, ClientRequest, CloseInfo, Config, Connection, Event, OsEntropy, ServerOptions, WebSocket,
};

use super::io::{duplex, Pipe};
use super::TestRt;

/// Upper bound for one awaited step.
pub const LIMIT: Duration = Duration::from_secs(20);
/// Upper bound for a whole test.
pub const TEST_LIMIT: Duration = Duration::from_secs(180);

/// Waits `d`.
pub async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

/// `f`, or `None` once `d` has passed.
pub async fn timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut timer = async_io::Timer::after(d);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        Pin::new(&mut timer).poll(cx).map(|_| None)
    })
    .await
}

/// Awaits `f`, failing the test after [`LIMIT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    within_for(LIMIT, f).await
}

/// Awaits `f`, failing the test after `limit` (for steps that push a lot through a tiny pipe,
/// slow on a loaded machine).
pub async fn within_for<F: Future>(limit: Duration, f: F) -> F::Output {
    timeout(limit, f).await.expect("test step timed out")
}

/// Polls `cond` every few milliseconds until it holds (within [`LIMIT`]).
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Yields once to the executor.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// The default configuration.
pub fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

/// A configuration changed by `f`.
pub fn config_with(f: impl FnOnce(Config) -> Config) -> Arc<Config> {
    Arc::new(f(Config::default()))
}

/// A WebSocket of the runtime `T` over a stream `S`.
pub type Ws<S, T> = WebSocket<S, <T as TestRt>::R>;

/// A client and a server connected over loopback TCP (the runtime's own sockets) through the
/// real handshakes.
pub async fn tcp_pair<T: TestRt>(config: Arc<Config>) -> (Ws<T::Tcp, T>, Ws<T::Tcp, T>) {
    tcp_pair_with::<T>(config.clone(), config, Arc::default(), ClientRequest::new("localhost", "/")).await
}

/// [`tcp_pair`] with separate configurations, server options and request.
pub async fn tcp_pair_with<T: TestRt>(
    client_config: Arc<Config>,
    server_config: Arc<Config>,
    options: Arc<ServerOptions>,
    request: ClientRequest,
) -> (Ws<T::Tcp, T>, Ws<T::Tcp, T>) {
    let listener = T::listen();
    let addr = T::listener_addr(&listener);
    let server = T::spawn(async move {
        let (tcp, _) = T::accept(&listener).await.unwrap();
        accept_with::<_, T::R>(tcp, server_config, options).await.unwrap()
    });
    let tcp = within(T::connect(addr)).await.unwrap();
    let (client, response) = within(connect_with::<_, T::R>(tcp, request, client_config)).await.unwrap();
    assert_eq!(response.status(), 101);
    (client, within(server).await)
}

/// A client and a server over an in-memory pipe of `capacity` bytes each way, through the
/// handshakes.
pub async fn pipe_pair<T: TestRt>(capacity: usize, config: Arc<Config>) -> (Ws<Pipe, T>, Ws<Pipe, T>) {
    let (a, b) = duplex(capacity);
    let server = T::spawn(accept_with::<_, T::R>(b, config.clone(), Arc::default()));
    let (client, _) = within(connect_with::<_, T::R>(a, ClientRequest::new("localhost", "/"), config)).await.unwrap();
    (client, within(server).await.unwrap())
}

/// A connection in `role` as if after a handshake (nothing exchanged), on `T`'s clock.
pub fn connection<T: TestRt>(role: Role, config: Arc<Config>) -> Connection {
    let negotiated = Negotiated { version: 13, ..Negotiated::default() };
    let entropy: Option<Box<dyn Entropy>> = match role {
        Role::Client => Some(Box::new(OsEntropy::new())),
        Role::Server => None,
    };
    Connection::new(role, config, negotiated, entropy, <T::R as Runtime>::now())
}

/// A WebSocket of `T` over `io` in `role`, without a handshake.
pub fn websocket<T: TestRt, S>(io: S, role: Role, config: Arc<Config>) -> Ws<S, T>
where
    T::R: Io<S>,
{
    WebSocket::from_connection(io, connection::<T>(role, config))
}

/// A client and a server over an in-memory pipe, without a handshake.
pub fn raw_pair<T: TestRt>(capacity: usize, client: Arc<Config>, server: Arc<Config>) -> (Ws<Pipe, T>, Ws<Pipe, T>) {
    let (a, b) = duplex(capacity);
    (websocket::<T, _>(a, Role::Client, client), websocket::<T, _>(b, Role::Server, server))
}

/// Receives until `Closed` (skipping pings and pongs) and returns it.
pub async fn expect_closed<S, R: Io<S>>(ws: &mut WebSocket<S, R>) -> CloseInfo {
    loop {
        match within(ws.recv()).await {
            Some(Ok(Event::Closed(info))) => return info,
            Some(Ok(Event::Pong(_) | Event::Ping(_))) => {}
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}

/// Echoes messages until the connection is over; returns how it ended.
pub async fn echo<S, R: Io<S>>(mut ws: WebSocket<S, R>) -> CloseInfo {
    let mut info = None;
    while let Some(event) = ws.recv().await {
        match event.unwrap() {
            Event::Message(m) => {
                let _ = ws.send(m).await;
            }
            Event::Closed(i) => info = Some(i),
            _ => {}
        }
    }
    info.expect("Closed was reported")
}

/// A payload that encodes its index, to catch loss, duplication and corruption.
pub fn payload(index: usize, len: usize) -> Vec<u8> {
    let mut v = format!("{index}:").into_bytes();
    v.extend((0..len.saturating_sub(v.len())).map(|i| b'a' + (i % 26) as u8));
    v
}

/// Message sizes around the frame-header boundaries.
pub fn len_of(index: usize) -> usize {
    [8, 125, 126, 1000, 65_535, 65_536, 3, 70_000, 17][index % 9]
}
