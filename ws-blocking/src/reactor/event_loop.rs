//! The reactor thread: waits on the OS readiness API for every registered connection, and
//! drives each ready one through ws-proto (timers, events to its handler, non-blocking writes
//! and reads). See `docs/design/reactor.md`.

use std::collections::{BTreeSet, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, ThreadId};
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use ws_proto::{Buf, Connection, Event, Transmit};

use super::link::Link;
use super::Handler;
use crate::transport::Transport;
use crate::WsHandle;

/// The waker's token (connections use their index in the table).
const WAKER: Token = Token(usize::MAX - 1);

/// The reactor's one read buffer, for reads into a connection with nothing buffered.
const READ_BUFFER: usize = 64 * 1024;

/// Reads per connection per turn before the next ready connection gets its turn.
const READS_PER_TURN: usize = 4;

/// Slices gathered per vectored write.
const IOV: usize = 64;

/// Readiness events taken per wait.
const EVENTS: usize = 1024;

/// A stream the reactor owns, whatever its type.
pub(crate) trait Socket: Read + Write + Send {
    /// Half-closes or closes it (errors ignored: the peer may be gone).
    fn shut(&self, how: net::Shutdown);
}

impl<S: Read + Write + Transport + Send> Socket for S {
    fn shut(&self, how: net::Shutdown) {
        let _ = Transport::shutdown(self, how);
    }
}

/// What the application threads hand the reactor thread, and how they wake it.
pub(crate) struct Wake {
    waker: Waker,
    inbox: Mutex<Inbox>,
    thread: OnceLock<ThreadId>,
    /// Connections handed over and not dropped yet.
    count: AtomicUsize,
}

#[derive(Default)]
struct Inbox {
    /// Connections handles asked to be driven.
    woken: Vec<usize>,
    /// New connections.
    added: Vec<Entry>,
    /// The waker was signalled since the reactor last looked.
    signalled: bool,
    /// The `Reactor` was dropped: the thread ends once its connections are over.
    stop: bool,
    /// The reactor thread ended (its poller failed): nothing can be added.
    dead: bool,
}

impl Wake {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signals the reactor once per batch of requests.
    fn signal(&self, mut inbox: MutexGuard<'_, Inbox>) {
        if !inbox.signalled {
            inbox.signalled = true;
            drop(inbox);
            let _ = self.waker.wake();
        }
    }

    /// Asks the reactor to drive connection `token`.
    pub(crate) fn wake(&self, token: usize) {
        let mut inbox = self.lock();
        inbox.woken.push(token);
        self.signal(inbox);
    }

    /// Hands a new connection to the reactor.
    pub(crate) fn add(&self, entry: Entry) -> io::Result<()> {
        let mut inbox = self.lock();
        if inbox.dead {
            return Err(io::Error::other("the reactor thread has ended"));
        }
        self.count.fetch_add(1, Ordering::AcqRel);
        inbox.added.push(entry);
        self.signal(inbox);
        Ok(())
    }

    /// The `Reactor` is gone: end the thread once its connections are over.
    pub(crate) fn stop(&self) {
        let mut inbox = self.lock();
        inbox.stop = true;
        self.signal(inbox);
    }

    /// Whether the caller runs on the reactor thread (in a handler).
    pub(crate) fn is_reactor_thread(&self) -> bool {
        self.thread.get().is_some_and(|id| *id == thread::current().id())
    }

    /// Connections handed over and not dropped yet.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// One connection, owned by the reactor thread.
pub(crate) struct Entry {
    link: Arc<Link>,
    stream: Box<dyn Socket>,
    fd: RawFd,
    handler: Box<dyn Handler>,
    handle: WsHandle,
    /// The deadline registered in the timer table.
    deadline: Option<Instant>,
    /// Reads may find something (edge-triggered readiness: true until a read would block).
    readable: bool,
    /// Writes may go through (true until a write would block).
    writable: bool,
    /// Written since the stream was last flushed (TLS keeps records until flushed).
    unflushed: bool,
    /// The protocol asked for a half-close that waits for a flush.
    shutdown_pending: bool,
    /// In the ready list.
    queued: bool,
    /// An IO error to report before `Closed`.
    error: Option<io::Error>,
    /// The handler panicked: it gets no more events.
    poisoned: bool,
}

impl Entry {
    pub(crate) fn new(
        link: Arc<Link>,
        stream: Box<dyn Socket>,
        fd: RawFd,
        handler: Box<dyn Handler>,
        handle: WsHandle,
    ) -> Self {
        Self {
            link,
            stream,
            fd,
            handler,
            handle,
            deadline: None,
            readable: true,
            writable: true,
            unflushed: false,
            shutdown_pending: false,
            queued: false,
            error: None,
            poisoned: false,
        }
    }

    /// Calls the handler (without the connection's lock). A panic terminates the connection
    /// instead of the reactor.
    fn deliver(&mut self, event: io::Result<Event>) {
        if self.poisoned {
            return;
        }
        let (handler, handle) = (&mut self.handler, &self.handle);
        if catch_unwind(AssertUnwindSafe(|| handler.on_event(handle, event))).is_err() {
            self.poisoned = true;
            self.link.conn().terminate();
        }
    }

    /// Writes what the connection queued until done or the socket would block.
    fn write_out(&mut self, conn: &mut Connection) -> io::Result<()> {
        while self.writable {
            match conn.poll_transmit() {
                None => break,
                Some(Transmit::Shutdown) => self.shutdown_pending = true,
                Some(Transmit::Data(mut buf)) => {
                    let mut slices = [IoSlice::new(&[]); IOV];
                    let n = buf.chunks_vectored(&mut slices);
                    match self.stream.write_vectored(&slices[..n]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(k) => {
                            buf.advance(k);
                            self.unflushed = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if self.writable && self.unflushed {
            match self.stream.flush() {
                Ok(()) => self.unflushed = false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.shutdown_pending && !self.unflushed {
            self.shutdown_pending = false;
            self.stream.shut(net::Shutdown::Write);
        }
        Ok(())
    }

    /// One non-blocking read into the connection: `Ok(true)` when something (or EOF)
    /// arrived. With nothing buffered the bytes go through the reactor's buffer and only what
    /// arrived is copied, so an idle connection holds no receive memory.
    fn read_into(&mut self, conn: &mut Connection, buf: &mut [u8]) -> io::Result<bool> {
        let hint = conn.read_hint();
        let result = if conn.buffered_input() == 0 {
            let len = hint.clamp(1, buf.len());
            let result = self.stream.read(&mut buf[..len]);
            if let Ok(n) = result {
                conn.receive(&buf[..n]);
            }
            result
        } else {
            let result = self.stream.read(conn.recv_slot(hint));
            conn.commit_received(*result.as_ref().unwrap_or(&0));
            result
        };
        match result {
            Ok(0) => {
                self.readable = false;
                conn.receive_eof();
                Ok(true)
            }
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// The reactor thread's state.
pub(crate) struct EventLoop {
    poll: Poll,
    wake: Arc<Wake>,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    timers: BTreeSet<(Instant, usize)>,
    ready: VecDeque<usize>,
    buf: Box<[u8]>,
    stopping: bool,
}

impl EventLoop {
    /// A poller and its waker.
    pub(crate) fn new() -> io::Result<(Self, Arc<Wake>)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let wake = Arc::new(Wake {
            waker,
            inbox: Mutex::new(Inbox::default()),
            thread: OnceLock::new(),
            count: AtomicUsize::new(0),
        });
        let this = Self {
            poll,
            wake: wake.clone(),
            entries: Vec::new(),
            free: Vec::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            stopping: false,
        };
        Ok((this, wake))
    }

    /// Runs until the `Reactor` is dropped and every connection is over.
    pub(crate) fn run(mut self) {
        let _ = self.wake.thread.set(thread::current().id());
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let timeout = if self.ready.is_empty() {
                self.timers.first().map(|(at, _)| at.saturating_duration_since(Instant::now()))
            } else {
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.fail_all(e);
                    return;
                }
            }
            for event in events.iter() {
                let token = event.token().0;
                let Some(Some(entry)) = self.entries.get_mut(token) else { continue };
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    entry.readable = true;
                }
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    entry.writable = true;
                }
                self.enqueue(token);
            }
            self.take_inbox();
            let now = Instant::now();
            while let Some(&(at, token)) = self.timers.first() {
                if at > now {
                    break;
                }
                self.timers.pop_first();
                if let Some(Some(entry)) = self.entries.get_mut(token) {
                    entry.deadline = None;
                    self.enqueue(token);
                }
            }
            for _ in 0..self.ready.len() {
                let Some(token) = self.ready.pop_front() else { break };
                self.drive(token, now);
            }
            if self.stopping && self.wake.count() == 0 {
                return;
            }
        }
    }

    fn enqueue(&mut self, token: usize) {
        if let Some(Some(entry)) = self.entries.get_mut(token) {
            if !entry.queued {
                entry.queued = true;
                self.ready.push_back(token);
            }
        }
    }

    /// Takes new connections and wake-ups from the inbox.
    fn take_inbox(&mut self) {
        let (woken, added, stop) = {
            let mut inbox = self.wake.lock();
            inbox.signalled = false;
            (std::mem::take(&mut inbox.woken), std::mem::take(&mut inbox.added), inbox.stop)
        };
        self.stopping = stop;
        for token in woken {
            self.enqueue(token);
        }
        for entry in added {
            self.insert(entry);
        }
    }

    /// Registers a new connection and drives it at once (its handshake may have left input
    /// or output behind).
    fn insert(&mut self, entry: Entry) {
        let token = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        });
        let registered = self.poll.registry().register(
            &mut SourceFd(&entry.fd),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        );
        entry.link.set_token(token);
        self.entries[token] = Some(entry);
        if let Err(e) = registered {
            if let Some(entry) = self.entries[token].as_mut() {
                entry.link.conn().terminate();
                entry.error = Some(e);
            }
        }
        self.enqueue(token);
    }

    /// One turn of a connection: timers, events to the handler, writes, reads, until nothing
    /// moves (or it had its share of reads); then its next deadline, or its end.
    fn drive(&mut self, token: usize, now: Instant) {
        let Some(Some(entry)) = self.entries.get_mut(token) else { return };
        entry.queued = false;
        let link = entry.link.clone();
        // While it is driven, what handles queue (the handler's answers above all) is written
        // by this turn: no wake-up needed. Cleared at the end of the turn.
        link.hold_schedule();
        let mut reads = 0;
        let over = loop {
            let mut conn = link.conn();
            if conn.poll_timeout().is_some_and(|at| at <= now) {
                conn.handle_timeout(now);
            }
            if let Some(e) = entry.error.take() {
                drop(conn);
                entry.deliver(Err(e));
                conn = link.conn();
            }
            while let Some(event) = conn.poll_event(now) {
                drop(conn);
                entry.deliver(Ok(event));
                conn = link.conn();
            }
            if conn.is_terminated() {
                break true;
            }
            if let Err(e) = entry.write_out(&mut conn) {
                conn.terminate();
                entry.error = Some(e);
                continue;
            }
            if conn.is_write_ready() {
                link.notify_room();
            }
            if conn.is_terminated() {
                continue;
            }
            if entry.readable && reads < READS_PER_TURN && conn.wants_read() && conn.is_write_ready() {
                reads += 1;
                match entry.read_into(&mut conn, &mut self.buf) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        conn.terminate();
                        entry.error = Some(e);
                        continue;
                    }
                }
            }
            // Let handles wake the reactor again; what they queued since the write above
            // (or a terminate) is then picked up by another turn.
            link.unschedule();
            let pending = (entry.writable && conn.wants_write()) || conn.is_terminated();
            let deadline = conn.poll_timeout();
            let more = pending || (entry.readable && reads == READS_PER_TURN && conn.wants_read());
            drop(conn);
            if deadline != entry.deadline {
                if let Some(at) = entry.deadline {
                    self.timers.remove(&(at, token));
                }
                if let Some(at) = deadline {
                    self.timers.insert((at, token));
                }
                entry.deadline = deadline;
            }
            if more {
                self.enqueue(token);
            }
            break false;
        };
        if over {
            self.remove(token);
        }
    }

    /// Drops a connection that is over.
    fn remove(&mut self, token: usize) {
        let Some(entry) = self.entries.get_mut(token).and_then(Option::take) else { return };
        if let Some(at) = entry.deadline {
            self.timers.remove(&(at, token));
        }
        let _ = self.poll.registry().deregister(&mut SourceFd(&entry.fd));
        entry.stream.shut(net::Shutdown::Both);
        self.free.push(token);
        self.wake.count.fetch_sub(1, Ordering::AcqRel);
        entry.link.finish();
    }

    /// The poller failed: every connection ends with that error.
    fn fail_all(&mut self, e: io::Error) {
        let added = {
            let mut inbox = self.wake.lock();
            inbox.dead = true;
            std::mem::take(&mut inbox.added)
        };
        for entry in added {
            self.insert(entry);
        }
        let now = Instant::now();
        for token in 0..self.entries.len() {
            if let Some(Some(entry)) = self.entries.get_mut(token) {
                entry.link.conn().terminate();
                entry.error = Some(io::Error::new(e.kind(), e.to_string()));
                entry.writable = false;
                entry.readable = false;
                self.drive(token, now);
            }
        }
    }
}
