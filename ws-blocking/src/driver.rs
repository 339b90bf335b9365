//! The blocking IO half of the driving loop, shared by the handshakes and the connection: one
//! read into the machine's receive slot with the read timeout set from its next deadline, and
//! writing out everything it queued with the write timeout set the same way.

use std::io::{self, IoSlice, Read, Write};
use std::net;
use std::time::Instant;

use ws_proto::{Buf, Connection, Transmit};
use ws_proto::{ClientHandshake, ServerHandshake};

use crate::transport::Transport;

/// Bytes asked of a handshake for each read (a connection sizes its reads itself, through
/// `Connection::read_hint`).
const HANDSHAKE_READ: usize = 8 * 1024;

/// Slices gathered per vectored write.
const IOV: usize = 64;

/// What the driver needs from a sans-IO state machine (a handshake or a connection).
pub(crate) trait Machine {
    fn poll_transmit(&mut self) -> Option<Transmit<'_>>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    /// How many bytes to read next.
    fn read_hint(&self) -> usize;
    fn recv_slot(&mut self, len_hint: usize) -> &mut [u8];
    fn commit_received(&mut self, n: usize);
    fn receive_eof(&mut self);
    /// A write blocked past the machine's deadline: fire its timers and say whether writing
    /// is abandoned (a handshake that timed out, a connection that a timer terminated, which
    /// dropped its output).
    fn write_timed_out(&mut self, now: Instant) -> bool;
}

/// The methods every machine has under the same name.
macro_rules! machine_common {
    () => {
        fn poll_timeout(&self) -> Option<Instant> {
            Self::poll_timeout(self)
        }
        fn handle_timeout(&mut self, now: Instant) {
            Self::handle_timeout(self, now);
        }
        fn recv_slot(&mut self, len_hint: usize) -> &mut [u8] {
            Self::recv_slot(self, len_hint)
        }
        fn commit_received(&mut self, n: usize) {
            Self::commit_received(self, n);
        }
        fn receive_eof(&mut self) {
            Self::receive_eof(self);
        }
    };
}

impl Machine for Connection {
    machine_common!();
    fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        Self::poll_transmit(self)
    }
    fn read_hint(&self) -> usize {
        Self::read_hint(self)
    }
    fn write_timed_out(&mut self, now: Instant) -> bool {
        Self::handle_timeout(self, now);
        // Mid-write, only a timer's hard termination ends the connection.
        Self::is_terminated(self)
    }
}

impl Machine for ClientHandshake {
    machine_common!();
    fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        Self::poll_transmit(self)
    }
    fn read_hint(&self) -> usize {
        HANDSHAKE_READ
    }
    fn write_timed_out(&mut self, now: Instant) -> bool {
        Self::handle_timeout(self, now);
        // The deadline is gone once it expired; `poll_outcome` then reports the timeout.
        Self::poll_timeout(self).is_none()
    }
}

impl Machine for ServerHandshake {
    machine_common!();
    fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        // The server handshake writes nothing itself: the 101 is queued in the connection and
        // a rejection carries its own bytes.
        None
    }
    fn read_hint(&self) -> usize {
        HANDSHAKE_READ
    }
    fn write_timed_out(&mut self, now: Instant) -> bool {
        Self::handle_timeout(self, now);
        true
    }
}

/// One step of [`Io::write_all`].
enum Step {
    Shutdown,
    /// The deadline passed before the write.
    Expired,
    Wrote(io::Result<usize>),
}

/// Which timeout of the stream.
#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

/// Whether an IO error is a socket timeout firing.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Remembers whether a timeout is set on the stream, so that the common case (no timer armed)
/// costs no system call.
#[derive(Debug, Default)]
pub(crate) struct Armed(bool);

impl Armed {
    /// Sets the `dir` timeout of `stream` to end at `deadline`. Returns `false`, setting
    /// nothing, when the deadline has already passed: fire the timers instead of blocking.
    fn arm<S: Transport>(&mut self, stream: &S, dir: Dir, deadline: Option<Instant>, now: Instant) -> io::Result<bool> {
        if !S::TIMEOUTS {
            return Ok(true);
        }
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(now).filter(|left| !left.is_zero()) {
                Some(left) => Some(left),
                None => return Ok(false),
            },
            None if self.0 => None,
            None => return Ok(true),
        };
        match dir {
            Dir::Read => stream.set_read_timeout(timeout)?,
            Dir::Write => stream.set_write_timeout(timeout)?,
        }
        self.0 = timeout.is_some();
        Ok(true)
    }

    /// Sets the read timeout; see [`arm`](Self::arm).
    pub(crate) fn arm_read<S: Transport>(&mut self, stream: &S, deadline: Option<Instant>) -> io::Result<bool> {
        self.arm(stream, Dir::Read, deadline, Instant::now())
    }

    /// Sets the write timeout; see [`arm`](Self::arm).
    pub(crate) fn arm_write<S: Transport>(&mut self, stream: &S, deadline: Option<Instant>) -> io::Result<bool> {
        self.arm(stream, Dir::Write, deadline, Instant::now())
    }

    /// Whether `e`, returned by a call made after arming, is the timeout firing.
    pub(crate) fn fired(&self, e: &io::Error) -> bool {
        self.0 && is_timeout(e)
    }
}

/// A stream with its timeout bookkeeping and half-close state.
#[derive(Debug)]
pub(crate) struct Io<S> {
    pub(crate) stream: S,
    pub(crate) read_armed: Armed,
    pub(crate) write_armed: Armed,
    pub(crate) write_shut: bool,
    pub(crate) closed: bool,
}

impl<S: Read + Write + Transport> Io<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self { stream, read_armed: Armed::default(), write_armed: Armed::default(), write_shut: false, closed: false }
    }

    /// One blocking read into the machine, bounded by its next deadline; a timeout (or a
    /// deadline already past) fires its timers instead. EOF goes to `receive_eof`.
    pub(crate) fn read_once<M: Machine>(&mut self, m: &mut M) -> io::Result<()> {
        if !self.read_armed.arm_read(&self.stream, m.poll_timeout())? {
            m.handle_timeout(Instant::now());
            return Ok(());
        }
        let hint = m.read_hint();
        let slot = m.recv_slot(hint);
        let result = self.stream.read(slot);
        match result {
            Ok(0) => {
                m.commit_received(0);
                m.receive_eof();
            }
            Ok(n) => m.commit_received(n),
            Err(e) => {
                m.commit_received(0);
                if self.read_armed.fired(&e) {
                    m.handle_timeout(Instant::now());
                } else if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Writes everything the machine queued (vectored, in order), then flushes the stream.
    /// A write blocked past the machine's deadline fires its timers and carries on, unless the
    /// machine gives up. `Transmit::Shutdown` half-closes the write side.
    ///
    /// Returns `Ok(false)` when writing was cut short by a timer: a handshake timed out, or the
    /// connection was terminated (its output dropped).
    pub(crate) fn write_all<M: Machine>(&mut self, m: &mut M) -> io::Result<bool> {
        let mut wrote = false;
        let complete = loop {
            let now = Instant::now();
            let deadline = m.poll_timeout();
            let step = match m.poll_transmit() {
                None => break true,
                Some(Transmit::Shutdown) => Step::Shutdown,
                Some(Transmit::Data(mut buf)) => {
                    if self.write_armed.arm(&self.stream, Dir::Write, deadline, now)? {
                        let mut slices = [IoSlice::new(&[]); IOV];
                        let n = buf.chunks_vectored(&mut slices);
                        let result = match &slices[..n] {
                            [one] => self.stream.write(one),
                            many => self.stream.write_vectored(many),
                        };
                        if let Ok(k) = result {
                            buf.advance(k);
                        }
                        Step::Wrote(result)
                    } else {
                        Step::Expired
                    }
                }
            };
            let expired = match step {
                Step::Shutdown => {
                    if wrote {
                        if !self.flush_stream(m)? {
                            break false;
                        }
                        wrote = false;
                    }
                    self.shutdown_write();
                    false
                }
                Step::Expired => true,
                Step::Wrote(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Step::Wrote(Ok(_)) => {
                    wrote = true;
                    false
                }
                Step::Wrote(Err(e)) if self.write_armed.fired(&e) => true,
                Step::Wrote(Err(e)) if e.kind() == io::ErrorKind::Interrupted => false,
                Step::Wrote(Err(e)) => return Err(e),
            };
            if expired && m.write_timed_out(Instant::now()) {
                break false;
            }
        };
        if wrote && complete {
            return self.flush_stream(m);
        }
        Ok(complete)
    }

    /// Flushes the stream (a TLS stream writes its last records here), firing the machine's
    /// timers when it blocks past their deadline. `Ok(false)` when the machine gives up.
    fn flush_stream<M: Machine>(&mut self, m: &mut M) -> io::Result<bool> {
        loop {
            if !self.write_armed.arm(&self.stream, Dir::Write, m.poll_timeout(), Instant::now())? {
                if m.write_timed_out(Instant::now()) {
                    return Ok(false);
                }
                continue;
            }
            match self.stream.flush() {
                Ok(()) => return Ok(true),
                Err(e) if self.write_armed.fired(&e) => {
                    if m.write_timed_out(Instant::now()) {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Half-closes the write side once (errors ignored: the peer may be gone already).
    pub(crate) fn shutdown_write(&mut self) {
        if !self.write_shut && !self.closed {
            self.write_shut = true;
            let _ = self.stream.shutdown(net::Shutdown::Write);
        }
    }

    /// Closes both directions once: the connection is over (the socket itself is released
    /// when dropped).
    pub(crate) fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown(net::Shutdown::Both);
        }
    }
}
