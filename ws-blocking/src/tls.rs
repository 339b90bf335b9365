//! TLS with rustls (feature `rustls`): the options and config helpers shared with ws-async
//! ([`TlsOptions`], [`server_config_from_pem`]…, re-exported from `ws_async::tls`), and
//! [`TlsStream`], the blocking glue: a rustls session over a blocking stream that can be
//! [cloned](TryClone) into a second handle, so a TLS connection splits like a TCP one.
//!
//! | Node `tls.connect` / `https.request` option | here |
//! |---|---|
//! | default trust store (Mozilla's, bundled) | the `webpki-roots` Mozilla list, unless custom roots are given |
//! | `ca` | [`TlsOptions::ca_pem`], [`TlsOptions::add_root_certificate`] |
//! | `cert` + `key` | [`TlsOptions::client_auth_pem`] |
//! | `pfx` + `passphrase` | [`TlsOptions::client_auth_pkcs12`] |
//! | `servername` | [`TlsOptions::server_name`] |
//! | `rejectUnauthorized: false` | [`TlsOptions::danger_accept_invalid_certs`] |
//! | `checkServerIdentity` | [`TlsOptions::check_server_identity`] |
//!
//! Serving `wss://`: [`ServerBuilder::bind_tls`](crate::server::ServerBuilder::bind_tls) with a
//! config from [`server_config_from_pem`] or [`server_config_from_pkcs12`] (or
//! [`server_config_with_client_auth_pem`] / [`server_config_with_client_auth_pkcs12`] for
//! mutual TLS), or [`TlsStream::accept`] on a stream you accepted.
//!
//! ## How a TLS stream is shared
//!
//! The rustls session sits behind a mutex that no handle holds during socket IO. The reading
//! handle reads ciphertext from its socket handle without any lock, then feeds it to the
//! session under the lock and takes out the plaintext. A writing handle encrypts under the
//! session lock, then writes the records while holding a second lock that orders every
//! handle's records on the wire (the reader takes it too, rarely: to answer a key update).
//! Only one handle may read. Timers work as over TCP: the timeouts are set on the socket.

use std::io::{self, Read, Write};
use std::net;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use crate::transport::{Transport, TryClone};

pub use ws_async::tls::{
    certs_from_pem, crypto_provider, identity_from_pkcs12, private_key_from_pem, rustls, server_config_from_pem,
    server_config_from_pkcs12, server_config_with_client_auth_pem, server_config_with_client_auth_pkcs12, server_name,
    Pkcs12Error, ServerIdentityCheck, TlsOptions,
};

/// Ciphertext read from the socket at a time: a full TLS record and its header.
const CIPHER_CHUNK: usize = 17 * 1024;

/// The session and the ciphertext waiting to be written, shared by the handles.
#[derive(Debug)]
struct Session {
    tls: Mutex<rustls::Connection>,
    /// Records not yet written. Held while writing, so records reach the wire in the order
    /// they were produced; always locked before `tls`.
    out: Mutex<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A rustls session (client or server) over a blocking stream `S` (TCP, a proxy tunnel…).
///
/// [`try_clone`](TryClone::try_clone) gives a second handle on the same session (with a
/// second handle on `S`), for [`WebSocket::split`](crate::WebSocket::split): see the
/// [module documentation](self). `shutdown` closes the socket without a TLS `close_notify`.
#[derive(Debug)]
pub struct TlsStream<S> {
    sock: S,
    session: Arc<Session>,
    /// Ciphertext read from `sock` and not yet given to the session (the reading handle's).
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S: Read + Write + Transport> TlsStream<S> {
    /// Runs the client TLS handshake over `stream` for `server_name` (SNI and the name
    /// verified), bounded by `timeout` when `S::TIMEOUTS` (`TimedOut` when it expires).
    pub fn connect(
        stream: S,
        server_name: ServerName<'static>,
        config: Arc<ClientConfig>,
        timeout: Option<Duration>,
    ) -> io::Result<Self> {
        let conn = ClientConnection::new(config, server_name).map_err(invalid_data)?;
        Self::handshake(stream, conn.into(), timeout)
    }

    /// Runs the server TLS handshake over an accepted `stream`, bounded by `timeout` when
    /// `S::TIMEOUTS`. A client certificate the config requires is checked here.
    pub fn accept(stream: S, config: Arc<ServerConfig>, timeout: Option<Duration>) -> io::Result<Self> {
        let conn = ServerConnection::new(config).map_err(invalid_data)?;
        Self::handshake(stream, conn.into(), timeout)
    }

    fn handshake(mut sock: S, mut tls: rustls::Connection, timeout: Option<Duration>) -> io::Result<Self> {
        let deadline = timeout.filter(|t| !t.is_zero()).and_then(|t| Instant::now().checked_add(t));
        while tls.is_handshaking() || tls.wants_write() {
            if let (Some(deadline), true) = (deadline, S::TIMEOUTS) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                sock.set_read_timeout(Some(left))?;
                sock.set_write_timeout(Some(left))?;
            }
            match tls.complete_io(&mut sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => return Err(e),
            }
        }
        if S::TIMEOUTS && deadline.is_some() {
            sock.set_read_timeout(None)?;
            sock.set_write_timeout(None)?;
        }
        let session = Arc::new(Session { tls: Mutex::new(tls), out: Mutex::new(Vec::new()) });
        Ok(Self { sock, session, inbuf: Vec::new(), start: 0, end: 0 })
    }
}

impl<S> TlsStream<S> {
    /// The stream underneath (this handle's).
    pub fn get_ref(&self) -> &S {
        &self.sock
    }

    /// Runs `f` on the rustls session (negotiated version, ALPN, peer certificates…), under
    /// its lock.
    pub fn with_session<T>(&self, f: impl FnOnce(&rustls::Connection) -> T) -> T {
        f(&lock(&self.session.tls))
    }

    /// The certificate chain the peer presented (a server's, or a client's with mutual TLS).
    pub fn peer_certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.with_session(|s| s.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()))
    }
}

impl<S: Write> TlsStream<S> {
    /// Writes `out` completely (the caller holds its lock).
    fn drain(sock: &mut S, out: &mut Vec<u8>) -> io::Result<()> {
        let mut done = 0;
        let result = loop {
            if done == out.len() {
                break Ok(());
            }
            match sock.write(&out[done..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        out.drain(..done);
        result
    }

    /// Moves the session's pending records into `out` (the caller holds its lock).
    fn collect(tls: &mut rustls::Connection, out: &mut Vec<u8>) -> io::Result<()> {
        while tls.wants_write() {
            tls.write_tls(out)?;
        }
        Ok(())
    }

    /// Writes what the session queued by itself (an alert, a key update).
    fn send_pending(&mut self) -> io::Result<()> {
        let mut out = lock(&self.session.out);
        Self::collect(&mut lock(&self.session.tls), &mut out)?;
        Self::drain(&mut self.sock, &mut out)
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (state, wants_write) = {
                let mut tls = lock(&self.session.tls);
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // EOF without close_notify: WebSocket has its own close, so this is an EOF.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                if self.start == self.end {
                    drop(tls);
                    self.fill()?;
                    continue;
                }
                let mut pending = self.inbuf.get(self.start..self.end).unwrap_or_default();
                self.start += tls.read_tls(&mut pending)?;
                (tls.process_new_packets().map(drop), tls.wants_write())
            };
            if wants_write {
                // An alert goes out before the error is reported; a failure to send it is moot.
                let sent = self.send_pending();
                if state.is_ok() {
                    sent?;
                }
            }
            state.map_err(invalid_data)?;
        }
    }
}

impl<S: Read> TlsStream<S> {
    /// Reads ciphertext from the socket (no lock held; timeouts propagate). At EOF the session
    /// is told, so its reader reports the end.
    fn fill(&mut self) -> io::Result<()> {
        if self.inbuf.is_empty() {
            self.inbuf = vec![0; CIPHER_CHUNK];
        }
        let n = self.sock.read(&mut self.inbuf)?;
        (self.start, self.end) = (0, n);
        if n == 0 {
            let mut tls = lock(&self.session.tls);
            tls.read_tls(&mut io::empty())?;
            tls.process_new_packets().map_err(invalid_data)?;
        }
        Ok(())
    }
}

impl<S: Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = lock(&self.session.out);
        // Earlier records first: their error (a timeout) is reported before taking more.
        Self::drain(&mut self.sock, &mut out)?;
        let n = {
            let mut tls = lock(&self.session.tls);
            let n = tls.writer().write(buf)?;
            Self::collect(&mut tls, &mut out)?;
            n
        };
        // The plaintext is taken: an error here is reported by the next write or flush.
        let _ = Self::drain(&mut self.sock, &mut out);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut out = lock(&self.session.out);
        Self::drain(&mut self.sock, &mut out)?;
        self.sock.flush()
    }
}

impl<S: Transport> Transport for TlsStream<S> {
    const TIMEOUTS: bool = S::TIMEOUTS;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown(&self, how: net::Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }
}

impl<S: TryClone> TryClone for TlsStream<S> {
    /// A second handle on the session, for writing (only one handle may read).
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Self { sock: self.sock.try_clone()?, session: self.session.clone(), inbuf: Vec::new(), start: 0, end: 0 })
    }
}

fn invalid_data(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
