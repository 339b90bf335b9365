//! The opening handshakes over any tokio stream, and a minimal `connect` for `ws://`,
//! `wss://` (feature `rustls`) and `ws+unix://` URLs; [`ClientBuilder`](crate::ClientBuilder)
//! has every client option.
//!
//! [`connect_with`] and the `accept*` functions are generic over the stream, so TLS, proxies
//! or an HTTP server's upgraded connection plug in by handing over an already-open stream.

use std::future::{poll_fn, Future};
use std::io;
use std::sync::Arc;
use std::task::Poll;

use http::Response;
use ws_proto::{
    Accept, ClientHandshake, ClientOutcome, ClientRequest, Config, HandshakeError, Rejection, ServerHandshake,
    ServerOptions, UpgradeRequest,
};

use crate::entropy::OsEntropy;
use crate::error::{AcceptError, ConnectError};
use crate::io::{self as wio, Timer, WriteState};
use crate::runtime::{self, Io};
use crate::stream::WebSocket;

pub(crate) use ws_proto::linger::REJECT_WRITE;
use ws_proto::linger::{DRAIN_CHUNK, LINGER, LINGER_BYTES};

/// Performs the client handshake over an open stream (TCP, TLS, a Unix socket, a proxy
/// tunnel…) and returns the connection and the server's `101` response (e.g. for its
/// `Set-Cookie`).
///
/// `Config::handshake_timeout` bounds the whole exchange ([`ConnectError::Timeout`]). A
/// non-101 answer is [`ConnectError::Rejected`] with the status, headers and body (up to
/// `Config::max_rejection_body`); a 101 that breaks RFC 6455 is
/// [`ConnectError::Handshake`]. Bytes the server sent right after its `101` are kept for the
/// connection. Masking keys come from [`OsEntropy`].
///
/// Not cancel safe in a useful sense: cancelled midway, the stream is dropped with the future.
pub async fn connect_with<S, R: Io<S>>(
    io: S,
    request: ClientRequest,
    config: Arc<Config>,
) -> Result<(WebSocket<S, R>, Response<()>), ConnectError> {
    connect_with_entropy(io, request, config, Box::new(OsEntropy::new())).await
}

/// [`connect_with`] drawing the key and the masking keys from `entropy`.
pub(crate) async fn connect_with_entropy<S, R: Io<S>>(
    mut io: S,
    request: ClientRequest,
    config: Arc<Config>,
    entropy: Box<dyn ws_proto::Entropy>,
) -> Result<(WebSocket<S, R>, Response<()>), ConnectError> {
    let mut hs = ClientHandshake::new(request, config, entropy, R::now())?;
    let mut write = WriteState::<R>::default();
    let mut timer = Timer::<R>::default();
    let mut eof = false;
    let outcome = poll_fn(|cx| loop {
        timer.poll(&mut hs, cx);
        match hs.poll_outcome(R::now()) {
            Ok(Some(outcome)) => return Poll::Ready(Ok(outcome)),
            Err(e) => return Poll::Ready(Err(ConnectError::from(e))),
            Ok(None) if eof => return Poll::Ready(Err(HandshakeError::UnexpectedEof.into())),
            Ok(None) => {}
        }
        match wio::poll_write_out(&mut io, &mut hs, &mut write, cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            // The server answers only once the request is complete.
            Poll::Pending => return Poll::Pending,
        }
        match wio::poll_read_into::<R, S, _>(&mut io, &mut hs, cx) {
            Poll::Ready(Ok(n)) => eof = n == 0,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await?;
    match outcome {
        ClientOutcome::Accepted { response, connection } => Ok((WebSocket::from_connection(io, connection), response)),
        ClientOutcome::Rejected { response, body } => {
            let (parts, ()) = response.into_parts();
            Err(ConnectError::Rejected { status: parts.status, headers: Box::new(parts.headers), body })
        }
    }
}

/// Accepts a WebSocket upgrade on a fresh stream: reads the request, applies `options` (path,
/// origins, `verify_client`, subprotocols, `on_headers`: see [`UpgradeRequest::negotiate`])
/// and writes the `101`.
///
/// A refused request (RFC violation, policy, `Config::handshake_timeout` → 408) is answered
/// with its HTTP response, the write side is shut down, the client's remaining input is
/// drained for a moment, and [`AcceptError::Rejected`] holds the status and the error. The
/// options' [`client_error`](ServerOptions::client_error) hook (Node `wsClientError`) may
/// replace the answer to a request that breaks a rule, or drop the connection without one
/// ([`AcceptError::Dropped`]). The stream's options are left alone:
/// consider `TcpStream::set_nodelay(true)` first.
pub async fn accept_with<S, R: Io<S>>(
    io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
) -> Result<WebSocket<S, R>, AcceptError> {
    accept_hdr_with(io, config, options, UpgradeRequest::negotiate).await
}

/// [`accept_with`] where `decide` inspects the request (path, query, headers via
/// `request()`, offered subprotocols) and accepts or refuses it.
/// `UpgradeRequest::negotiate` applies the options' policy and can be called from `decide`;
/// `Rejection::new(status, headers, body)` builds a custom refusal.
pub async fn accept_hdr_with<S, R, F>(
    io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    decide: F,
) -> Result<WebSocket<S, R>, AcceptError>
where
    R: Io<S>,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Rejection>,
{
    accept_async_with(io, config, options, |req| std::future::ready(decide(req))).await
}

/// [`accept_hdr_with`] with asynchronous verification (Node `verifyClient` with a callback):
/// `decide` gets the request and returns a future (which cannot borrow the request: clone what
/// it needs, e.g. a cookie header). The handshake deadline also bounds the future; when it
/// expires the client is answered 408.
pub async fn accept_async_with<S, R, F, Fut>(
    io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    decide: F,
) -> Result<WebSocket<S, R>, AcceptError>
where
    R: Io<S>,
    F: FnOnce(&UpgradeRequest) -> Fut,
    Fut: Future<Output = Result<Accept, Rejection>>,
{
    // The handshake's state lives on the heap and is freed when it ends: inline, it would stay
    // reserved in the caller's task for the connection's whole life (a per-connection cost).
    Box::pin(accept_inner(io, config, options, decide)).await
}

async fn accept_inner<S, R, F, Fut>(
    mut io: S,
    config: Arc<Config>,
    options: Arc<ServerOptions>,
    decide: F,
) -> Result<WebSocket<S, R>, AcceptError>
where
    R: Io<S>,
    F: FnOnce(&UpgradeRequest) -> Fut,
    Fut: Future<Output = Result<Accept, Rejection>>,
{
    let mut hs = ServerHandshake::new(config, options, R::now());
    let deadline = hs.poll_timeout();
    let mut timer = Timer::<R>::default();
    let read = poll_fn(|cx| loop {
        timer.poll(&mut hs, cx);
        match hs.poll_request() {
            Ok(Some(request)) => return Poll::Ready(Read::Request(Box::new(request))),
            Err(rejection) => return Poll::Ready(Read::Refused(rejection)),
            Ok(None) => {}
        }
        match wio::poll_read_into::<R, S, _>(&mut io, &mut hs, cx) {
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Read::Failed(e)),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    let request = match read {
        Read::Request(r) => r,
        Read::Refused(rejection) => return Err(Box::pin(reject::<S, R>(io, rejection)).await),
        Read::Failed(e) => return Err(AcceptError::Io(e)),
    };
    let mut waited = false;
    let decided = std::pin::pin!(decide(&request));
    let decided = Waited { fut: decided, waited: &mut waited };
    let verdict = match deadline {
        Some(d) => match runtime::timeout_at::<R, _>(d, decided).await {
            Some(v) => v,
            None => Err(Rejection::from_error(HandshakeError::Timeout)),
        },
        None => decided.await,
    };
    match verdict {
        Ok(accept) => {
            let mut conn = request.accept(accept, R::now());
            if waited {
                peer_gone::<S, R>(&mut io, &mut conn)?;
            }
            let mut ws = WebSocket::from_connection(io, conn);
            match runtime::timeout::<R, _>(REJECT_WRITE, ws.flush()).await {
                Some(Ok(())) => Ok(ws),
                Some(Err(e)) => Err(AcceptError::Io(e.into())),
                None => Err(AcceptError::Io(io::ErrorKind::TimedOut.into())),
            }
        }
        Err(rejection) => {
            // `negotiate` applied the `client_error` hook already; a 408 or a refusal `decide`
            // built from a `HandshakeError` gets it here (at most once either way).
            let rejection = request.options().answer_client_error(request.request(), rejection);
            Err(Box::pin(reject::<S, R>(io, rejection)).await)
        }
    }
}

/// A future that records whether it ever returned `Pending` (the verification was truly
/// asynchronous, so the client had time to go away).
struct Waited<'a, F> {
    fut: F,
    waited: &'a mut bool,
}

impl<F: Future + Unpin> Future for Waited<'_, F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.fut).poll(cx);
        if polled.is_pending() {
            *this.waited = true;
        }
        polled
    }
}

/// Checks, without waiting, that the client did not go away while the application verified
/// it: an EOF or a failed read means no `101` is written and no dead connection is handed
/// out. Bytes that did arrive (frames pipelined after the request) stay in `conn`.
pub(crate) fn peer_gone<S, R: Io<S>>(io: &mut S, conn: &mut ws_proto::Connection) -> Result<(), AcceptError> {
    struct NoWake;
    impl std::task::Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }
    let waker = std::task::Waker::from(Arc::new(NoWake));
    let mut cx = std::task::Context::from_waker(&waker);
    match wio::poll_read_into::<R, S, _>(io, conn, &mut cx) {
        Poll::Ready(Ok(0)) => Err(AcceptError::Io(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the client went away while it was being verified",
        ))),
        Poll::Ready(Err(e)) => Err(AcceptError::Io(e)),
        Poll::Ready(Ok(_)) | Poll::Pending => Ok(()),
    }
}

/// What reading the request head ended with.
enum Read {
    Request(Box<UpgradeRequest>),
    Refused(Rejection),
    Failed(io::Error),
}

/// Writes the rejection, half-closes, and drains what the client still sends for a moment;
/// a rejection the `client_error` hook chose to drop is not answered at all. Callers box this
/// future: it is rare, and inline it would grow every accepted connection's
/// task by its size.
pub(crate) async fn reject<S, R: Io<S>>(mut io: S, rejection: Rejection) -> AcceptError {
    if rejection.is_drop() {
        // No answer (Node's `socket.destroy()`): the stream is closed when dropped here.
        return AcceptError::dropped(rejection);
    }
    let status = rejection.status();
    let written = runtime::timeout::<R, _>(REJECT_WRITE, async {
        wio::write_all::<S, R>(&mut io, rejection.bytes()).await?;
        poll_fn(|cx| R::poll_flush(&mut io, cx)).await?;
        poll_fn(|cx| R::poll_shutdown(&mut io, cx)).await
    })
    .await;
    if let Some(Ok(())) = written {
        let _ = runtime::timeout::<R, _>(LINGER, async {
            let mut buf = vec![0u8; DRAIN_CHUNK];
            let mut drained = 0;
            while drained < LINGER_BYTES {
                match poll_fn(|cx| R::poll_read(&mut io, cx, &mut buf)).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
    }
    AcceptError::Rejected { status, error: rejection.error }
}
