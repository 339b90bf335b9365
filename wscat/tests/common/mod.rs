//! Shared test helpers: the `wscat` binary as a child process (every wait bounded, the child
//! killed by its PID if it outlives the test) and WebSocket servers on 127.0.0.1 built with
//! ws-tokio that record what they see.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use ws_tokio::http::Request;
use ws_tokio::server::{ClientInfo, Server, ServerBuilder};
use ws_tokio::tls::rustls::ServerConfig;
use ws_tokio::tls::{accept_tls, TlsAcceptor};
use ws_tokio::{CloseCode, Event, Message, WebSocket};

/// Bound on every single wait in a test.
pub const STEP: Duration = Duration::from_secs(15);

/// Runs `f`, failing the test if it takes longer than [`STEP`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wscat-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `content` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished `wscat` left.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// A running `wscat` with piped stdin, stdout and stderr.
pub struct Wscat {
    child: Child,
    pid: i32,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    /// Stdout read so far by [`line`](Self::line) and friends.
    seen_stdout: String,
    stderr: Arc<Mutex<String>>,
}

/// Starts `wscat` with `args`, stdin, stdout and stderr piped.
pub fn wscat(args: &[&str]) -> Wscat {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wscat"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start wscat");
    let pid = child.id().expect("pid") as i32;
    let stdin = child.stdin.take();
    let stdout = Some(BufReader::new(child.stdout.take().unwrap()));
    let mut err = child.stderr.take().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match err.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    Wscat { child, pid, stdin, stdout, seen_stdout: String::new(), stderr }
}

/// Runs `wscat` with stdin closed at once and waits for it to exit.
pub async fn run(args: &[&str]) -> Finished {
    let mut w = wscat(args);
    w.close_stdin();
    w.finish().await
}

impl Wscat {
    /// The process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Writes `line` and a newline to its stdin.
    pub async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        within("writing to wscat", async {
            stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
            stdin.flush().await.unwrap();
        })
        .await;
    }

    /// Closes its stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line of stdout.
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        let stdout = self.stdout.as_mut().expect("stdout open");
        let n = match tokio::time::timeout(STEP, stdout.read_line(&mut line)).await {
            Ok(r) => r.unwrap(),
            Err(_) => {
                panic!("no stdout line from wscat; stdout so far {:?}, stderr {:?}", self.seen_stdout, self.stderr())
            }
        };
        assert!(n > 0, "wscat closed stdout; stdout so far {:?}, stderr {:?}", self.seen_stdout, self.stderr());
        self.seen_stdout.push_str(&line);
        line.trim_end_matches('\n').to_owned()
    }

    /// Closes the reading end of its stdout (as `| head -1` does).
    pub fn close_stdout(&mut self) {
        self.stdout = None;
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`; returns stderr.
    pub async fn stderr_until(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let s = self.stderr();
            if s.contains(needle) {
                return s;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("stderr never contained {needle:?}: {s:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGINT);
    }

    /// Waits for the exit (killing it by PID if it does not exit in time) and collects
    /// the rest of its output.
    pub async fn finish(mut self) -> Finished {
        self.stdin = None;
        let mut rest = String::new();
        let done = tokio::time::timeout(STEP, async {
            if let Some(stdout) = self.stdout.as_mut() {
                let _ = stdout.read_to_string(&mut rest).await;
            }
            self.child.wait().await
        })
        .await;
        let status = match done {
            Ok(s) => s.unwrap(),
            Err(_) => {
                let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
                panic!("wscat did not exit in time; stdout {:?}{rest:?}, stderr {:?}", self.seen_stdout, self.stderr());
            }
        };
        // Let the stderr reader drain.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut stdout = std::mem::take(&mut self.seen_stdout);
        stdout.push_str(&rest);
        Finished { code: status.code(), stdout, stderr: self.stderr() }
    }
}

impl Drop for Wscat {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }
}

/// What a test server saw from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Closed(u16, String),
}

/// A WebSocket echo server on 127.0.0.1 that records requests and events.
///
/// Besides echoing, it obeys a few texts: `ping-me` (sends a ping "srv"), `close-me CODE
/// REASON`, `binary-me` (sends 00 01 02 ff 68 69), `big N` (sends N bytes of text), `later`
/// (sends "first", then "second" 300 ms later).
pub struct TestServer {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<Request<()>>,
    pub events: mpsc::UnboundedReceiver<Seen>,
    /// Bytes read from clients (TLS and handshake included).
    pub bytes_in: Arc<AtomicU64>,
}

impl TestServer {
    /// A plain echo server with default options (permessage-deflate accepted).
    pub async fn start() -> Self {
        Self::start_with(|b| b, None).await
    }

    /// An echo server configured by `configure`, over TLS with `tls` if given.
    pub async fn start_with(
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
        tls: Option<Arc<ServerConfig>>,
    ) -> Self {
        let builder = Server::builder().per_message_deflate(Some(Default::default()));
        let server = Arc::new(configure(builder).build());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (req_tx, requests) = mpsc::unbounded_channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let bytes_in = Arc::new(AtomicU64::new(0));
        let counter = bytes_in.clone();
        let acceptor = tls.map(TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, remote)) = listener.accept().await else { return };
                let io = Counting { inner: tcp, count: counter.clone() };
                let (server, req_tx, ev_tx, acceptor) =
                    (server.clone(), req_tx.clone(), ev_tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let info = ClientInfo::new(Some(remote));
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls) = accept_tls(io, &a).await {
                                serve(&server, tls, info, req_tx, ev_tx).await;
                            }
                        }
                        None => serve(&server, io, info, req_tx, ev_tx).await,
                    }
                });
            }
        });
        Self { addr, requests, events, bytes_in }
    }

    /// `ws://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The next request the server accepted.
    pub async fn request(&mut self) -> Request<()> {
        within("a request at the test server", self.requests.recv()).await.expect("server gone")
    }

    /// The next event the server saw.
    pub async fn event(&mut self) -> Seen {
        within("an event at the test server", self.events.recv()).await.expect("server gone")
    }

    /// Events until the connection closed (the close included).
    pub async fn events_until_close(&mut self) -> Vec<Seen> {
        let mut all = Vec::new();
        loop {
            let e = self.event().await;
            let done = matches!(e, Seen::Closed(..));
            all.push(e);
            if done {
                return all;
            }
        }
    }
}

/// A Unix-socket echo server (for `ws+unix:`) at `path`.
pub async fn unix_server(path: &Path) -> (mpsc::UnboundedReceiver<Request<()>>, mpsc::UnboundedReceiver<Seen>) {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let server = Arc::new(Server::builder().build());
    let (req_tx, requests) = mpsc::unbounded_channel();
    let (ev_tx, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (server, req_tx, ev_tx) = (server.clone(), req_tx.clone(), ev_tx.clone());
            tokio::spawn(async move { serve(&server, stream, ClientInfo::new(None), req_tx, ev_tx).await });
        }
    });
    (requests, events)
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    server: &Server,
    io: S,
    info: ClientInfo,
    req_tx: mpsc::UnboundedSender<Request<()>>,
    ev_tx: mpsc::UnboundedSender<Seen>,
) {
    let Ok(accepted) = server.accept_stream(io, info).await else { return };
    let _ = req_tx.send(accepted.request.clone());
    echo(accepted.ws, ev_tx).await;
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>, ev_tx: mpsc::UnboundedSender<Seen>) {
    while let Some(Ok(event)) = ws.recv().await {
        match event {
            Event::Message(Message::Text(t)) => {
                let text = t.as_str().to_owned();
                let _ = ev_tx.send(Seen::Text(text.clone()));
                let mut words = text.splitn(3, ' ');
                let r = match words.next().unwrap_or_default() {
                    "ping-me" => ws.ping(b"srv").await,
                    "close-me" => {
                        let code: u16 = words.next().and_then(|c| c.parse().ok()).unwrap_or(1000);
                        ws.close(CloseCode::from(code), words.next().unwrap_or("")).await
                    }
                    "binary-me" => ws.send(Message::binary(vec![0u8, 1, 2, 0xff, b'h', b'i'])).await,
                    "big" => {
                        let n: usize = words.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                        ws.send("x".repeat(n)).await
                    }
                    "later" => {
                        let _ = ws.send("first").await;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        ws.send("second").await
                    }
                    _ => ws.send(text).await,
                };
                if r.is_err() {
                    // Closing: keep reading until the close completes.
                }
            }
            Event::Message(Message::Binary(b)) => {
                let _ = ev_tx.send(Seen::Binary(b.to_vec()));
                let _ = ws.send(Message::Binary(b)).await;
            }
            Event::Ping(p) => {
                let _ = ev_tx.send(Seen::Ping(p.to_vec()));
            }
            Event::Pong(p) => {
                let _ = ev_tx.send(Seen::Pong(p.to_vec()));
            }
            Event::Closed(info) => {
                let _ = ev_tx.send(Seen::Closed(info.code().as_u16(), info.reason().to_owned()));
            }
            _ => {}
        }
    }
}

/// A stream that counts the bytes read through it.
pub struct Counting<S> {
    pub inner: S,
    pub count: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A header of a recorded request, as a string.
pub fn header<'a>(req: &'a Request<()>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A certificate authority generated for the test.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A leaf certificate for `names`: (certificate PEM, key PEM).
    pub fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn server_leaf(&self) -> (String, String) {
        self.leaf(&["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A certificate for `names` and the existing key `key_pem` (unencrypted PKCS#8).
    pub fn cert_for_key(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose, key_pem: &str) -> String {
        let key = KeyPair::from_pem(key_pem).unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![purpose];
        params.signed_by(&key, &self.issuer).unwrap().pem()
    }
}

/// `key_pem` (unencrypted PKCS#8) encrypted with `passphrase` as encrypted PKCS#8 PEM:
/// PBES2 with PBKDF2-HMAC-SHA256 (2048 iterations) and AES-256-CBC, the scheme of
/// `openssl genpkey -aes256` (fixed salt and IV: the key is a test's own).
pub fn encrypt_key(key_pem: &str, passphrase: &str) -> String {
    use pkcs8::der::pem::PemLabel;
    let (_, plain) = pkcs8::SecretDocument::from_pem(key_pem).unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).unwrap();
    let (salt, iv) = ([7u8; 16], [9u8; 16]);
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
    let encrypted = info.encrypt_with_params(params, passphrase).unwrap();
    encrypted.to_pem(pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL, pkcs8::LineEnding::LF).unwrap().as_str().to_owned()
}

/// `cert_pem` and `key_pem` (unencrypted PKCS#8) as a PKCS#12 bundle protected by
/// `passphrase` (PBES2 with AES-256, what OpenSSL 3 writes), as `openssl pkcs12 -export` makes.
pub fn pkcs12(cert_pem: &str, key_pem: &str, passphrase: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let certs = ws_tokio::tls::certs_from_pem(cert_pem.as_bytes()).unwrap();
    let certs = certs.iter().map(|c| Certificate::from_der(c).unwrap());
    let key = PrivateKey::from_der(&KeyPair::from_pem(key_pem).unwrap().serialize_der()).unwrap();
    let mut store = KeyStore::new();
    store.add_entry("wscat test", KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(&b"1"[..], key, certs)));
    // Fewer key-derivation rounds than the default 10 000 (OpenSSL's 2048): tests run unoptimised.
    store.writer(passphrase).encryption_iterations(2048).mac_iterations(2048).write().unwrap()
}

/// The port `wscat -l 0` printed ("Listening on port N").
pub fn listening_port(text: &str) -> u16 {
    let at = text.find("Listening on port ").expect("listening line") + "Listening on port ".len();
    text[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}
