//! Test helpers: every test runs on async-std and on smol (the [`both!`] macro), over loopback
//! TCP of either runtime or an in-memory pipe; hand-rolled frames; a time limit on every wait.
#![allow(dead_code, unreachable_pub)]

pub mod pipe;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncWrite};
use ws_async_std::ws_proto::{Entropy, Negotiated, Role};
use ws_async_std::{
    accept_with, connect_with, ClientRequest, Config, Connection, OsEntropy, ServerOptions, ShutdownOnClose, WebSocket,
};

pub use pipe::{duplex, Pipe};

/// Generates, for each `async fn name() { … }`, a module `name` with two tests, `async_std`
/// and `smol`, that run the body on that runtime within [`TEST_LIMIT`].
macro_rules! both {
    ($($(#[$attr:meta])* async fn $name:ident() $body:block)*) => {$(
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body() $body

            #[test]
            fn async_std() {
                $crate::common::run($crate::common::Rt::AsyncStd, body());
            }

            #[test]
            fn smol() {
                $crate::common::run($crate::common::Rt::Smol, body());
            }
        }
    )*};
}

/// The runtime a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    AsyncStd,
    Smol,
}

thread_local! {
    static CURRENT: Cell<Option<Rt>> = const { Cell::new(None) };
}

/// The runtime of the running test (also inside tasks it spawned).
pub fn rt() -> Rt {
    CURRENT.with(Cell::get).expect("not inside common::run")
}

/// Upper bound for one awaited step, and for a whole test.
pub const LIMIT: Duration = Duration::from_secs(20);
pub const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Runs `f` to completion on `rt`, failing the test after [`TEST_LIMIT`].
pub fn run<F: Future<Output = ()>>(rt: Rt, f: F) {
    CURRENT.with(|c| c.set(Some(rt)));
    let bounded = WithRt { rt, f: Box::pin(async { timeout(TEST_LIMIT, f).await.expect("test timed out") }) };
    match rt {
        Rt::AsyncStd => async_std::task::block_on(bounded),
        Rt::Smol => smol::block_on(bounded),
    }
}

/// Makes [`rt`] answer while `f` is polled, on whatever thread polls it.
struct WithRt<F> {
    rt: Rt,
    f: Pin<Box<F>>,
}

impl<F: Future> Future for WithRt<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = CURRENT.with(|c| c.replace(Some(self.rt)));
        let out = self.f.as_mut().poll(cx);
        CURRENT.with(|c| c.set(previous));
        out
    }
}

/// A spawned task; awaiting it gives its output. Dropping it detaches the task.
pub struct Task<T: Send + 'static>(Option<Inner<T>>);

enum Inner<T> {
    AsyncStd(async_std::task::JoinHandle<T>),
    Smol(smol::Task<T>),
}

impl<T: Send + 'static> Future for Task<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.0.as_mut().expect("polled after completion") {
            Inner::AsyncStd(h) => Pin::new(h).poll(cx),
            Inner::Smol(t) => Pin::new(t).poll(cx),
        }
    }
}

impl<T: Send + 'static> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(Inner::Smol(t)) = self.0.take() {
            t.detach();
        }
    }
}

/// Spawns `f` on the test's runtime.
pub fn spawn<F>(f: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = rt();
    let f = WithRt { rt, f: Box::pin(f) };
    Task(Some(match rt {
        Rt::AsyncStd => Inner::AsyncStd(async_std::task::spawn(f)),
        Rt::Smol => Inner::Smol(smol::spawn(f)),
    }))
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
    .await
}

pub async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

/// `f`, or `None` after `d`.
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
    timeout(LIMIT, f).await.expect("test step timed out")
}

pub fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

pub fn config_with(f: impl FnOnce(&mut Config)) -> Arc<Config> {
    let mut c = Config::default();
    f(&mut c);
    Arc::new(c)
}

/// A TCP stream of the test's runtime: `async_std::net::TcpStream` (wrapped: its `poll_close`
/// only flushes) or `smol::net::TcpStream`.
#[derive(Debug)]
pub enum Tcp {
    AsyncStd(ShutdownOnClose<async_std::net::TcpStream>),
    Smol(smol::net::TcpStream),
}

impl Tcp {
    pub async fn connect(addr: std::net::SocketAddr) -> io::Result<Self> {
        Ok(match rt() {
            Rt::AsyncStd => {
                let s = async_std::net::TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                Self::AsyncStd(ShutdownOnClose::new(s))
            }
            Rt::Smol => {
                let s = smol::net::TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                Self::Smol(s)
            }
        })
    }
}

/// A listener of the test's runtime on 127.0.0.1, any port.
pub enum Listener {
    AsyncStd(async_std::net::TcpListener),
    Smol(smol::net::TcpListener),
}

impl Listener {
    pub async fn bind() -> Self {
        match rt() {
            Rt::AsyncStd => Self::AsyncStd(async_std::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            Rt::Smol => Self::Smol(smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        match self {
            Self::AsyncStd(l) => l.local_addr().unwrap(),
            Self::Smol(l) => l.local_addr().unwrap(),
        }
    }

    pub async fn accept(&self) -> Tcp {
        match self {
            Self::AsyncStd(l) => {
                let (s, _) = l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                Tcp::AsyncStd(ShutdownOnClose::new(s))
            }
            Self::Smol(l) => {
                let (s, _) = l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                Tcp::Smol(s)
            }
        }
    }
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Tcp::AsyncStd($s) => $e,
            Tcp::Smol($s) => $e,
        }
    };
}

impl AsyncRead for Tcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_close(cx))
    }
}

/// A client and a server over loopback TCP, through the real handshakes.
pub async fn tcp_pair(config: Arc<Config>) -> (WebSocket<Tcp>, WebSocket<Tcp>) {
    tcp_pair_with(config.clone(), config, Arc::default(), ClientRequest::new("localhost", "/")).await
}

pub async fn tcp_pair_with(
    client_config: Arc<Config>,
    server_config: Arc<Config>,
    options: Arc<ServerOptions>,
    request: ClientRequest,
) -> (WebSocket<Tcp>, WebSocket<Tcp>) {
    let listener = Listener::bind().await;
    let addr = listener.addr();
    let server = spawn(async move {
        let tcp = listener.accept().await;
        accept_with(tcp, server_config, options).await.unwrap()
    });
    let tcp = Tcp::connect(addr).await.unwrap();
    let (client, response) = within(connect_with(tcp, request, client_config)).await.unwrap();
    assert_eq!(response.status(), 101);
    (client, within(server).await)
}

/// A client and a server over an in-memory pipe of `capacity` bytes, through the handshakes.
pub async fn pipe_pair(capacity: usize, config: Arc<Config>) -> (WebSocket<Pipe>, WebSocket<Pipe>) {
    let (a, b) = duplex(capacity);
    let server = spawn(accept_with(b, config.clone(), Arc::default()));
    let (client, _) = within(connect_with(a, ClientRequest::new("localhost", "/"), config)).await.unwrap();
    (client, within(server).await.unwrap())
}

/// A connection in `role` as if after a handshake (nothing exchanged).
pub fn connection(role: Role, config: Arc<Config>) -> Connection {
    let negotiated = Negotiated { version: 13, ..Negotiated::default() };
    let entropy: Option<Box<dyn Entropy>> = match role {
        Role::Client => Some(Box::new(OsEntropy::new())),
        Role::Server => None,
    };
    Connection::new(role, config, negotiated, entropy, Instant::now())
}

/// A client and a server over an in-memory pipe, without a handshake.
pub fn raw_pair(capacity: usize, client: Arc<Config>, server: Arc<Config>) -> (WebSocket<Pipe>, WebSocket<Pipe>) {
    let (a, b) = duplex(capacity);
    (
        WebSocket::from_connection(a, connection(Role::Client, client)),
        WebSocket::from_connection(b, connection(Role::Server, server)),
    )
}

/// A masked (client-to-server) frame.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// Splits unmasked (server-to-client) bytes into frames `(fin, opcode, payload)`; also returns
/// the length of an incomplete tail.
pub fn server_frames(mut bytes: &[u8]) -> (Vec<(bool, u8, Vec<u8>)>, usize) {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        if bytes.len() < header + len {
            break;
        }
        frames.push((bytes[0] & 0x80 != 0, bytes[0] & 0x0f, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    (frames, bytes.len())
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
