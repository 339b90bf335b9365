//! Client tracking (Node `clientTracking` and `server.clients`) and encode-once broadcast.
//!
//! A tracked connection shares its `Connection` with the registry (see
//! [`split`](crate::WebSocket::split) for how), and has a flusher thread that writes what
//! broadcasts queue: a broadcast only takes each connection's lock for a moment to queue the
//! prepared frame, and never waits for a socket.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ws_async::server::{BroadcastReport, SlowPolicy};
use ws_proto::{CloseCode, CloseFrame, Message, PreparedMessage, State};

use crate::split::Shared;
use crate::transport::Transport;

/// How often [`Clients::wait_empty`] looks again.
const PRUNE_TICK: Duration = Duration::from_millis(20);

/// Identifies a connection of a [`Server`](super::Server): unique per server, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(u64);

impl ClientId {
    /// The number behind the id (1 for a server's first connection).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why a broadcast did not queue a message for one connection.
pub(crate) enum Skipped {
    /// Its output queue is above `Config::write_high_water` (a slow consumer).
    Full,
    /// It is closing or closed.
    Closed,
}

/// What the registry needs from a tracked connection, whatever its stream type.
pub(crate) trait Tracked: Send + Sync {
    /// Queues `msg` without waiting, and wakes the connection's flusher.
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped>;
    /// Starts the closing handshake (after what is already queued).
    fn close_with(&self, code: CloseCode, reason: &str);
    /// Drops the connection at once.
    fn end(&self);
    /// Whether the connection is over (closed or terminated): it leaves the registry.
    fn is_over(&self) -> bool;
}

impl<S: Write + Transport + Send> Tracked for Shared<S> {
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped> {
        {
            let mut conn = self.conn();
            if conn.state() != State::Open {
                return Err(Skipped::Closed);
            }
            // A message the application is streaming in parts cannot be interleaved either.
            if !conn.is_write_ready() || conn.send_prepared(msg).is_err() {
                return Err(Skipped::Full);
            }
        }
        self.notify();
        Ok(())
    }

    fn close_with(&self, code: CloseCode, reason: &str) {
        let _ = self.conn().close(Some(CloseFrame::new(code, reason)), Instant::now());
        self.notify();
    }

    fn end(&self) {
        self.terminate();
    }

    fn is_over(&self) -> bool {
        let conn = self.conn();
        conn.state() == State::Closed || conn.is_terminated()
    }
}

struct Entry {
    conn: Arc<dyn Tracked>,
    /// Closed by [`SlowPolicy::Close`]: no longer broadcast to.
    evicted: bool,
}

#[derive(Default)]
struct Registry {
    map: HashMap<ClientId, Entry>,
    /// The server is closing: no client is added any more.
    closing: bool,
}

/// The connections a [`Server`](super::Server) tracks (Node `server.clients`): every
/// connection from [`Server::accept`](super::Server::accept) or
/// [`Server::track`](super::Server::track) while client tracking is on, until it is closed
/// (or its `WebSocket` dropped).
///
/// Cheap to clone (a shared registry), so a connection's thread can broadcast. Every method
/// holds a lock only briefly; broadcasts never wait for a client.
#[derive(Clone)]
pub struct Clients {
    registry: Arc<Mutex<Registry>>,
    next_id: Arc<AtomicU64>,
    policy: SlowPolicy,
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients").field("len", &self.len()).field("policy", &self.policy).finish()
    }
}

impl Clients {
    pub(crate) fn new(policy: SlowPolicy) -> Self {
        Self { registry: Arc::default(), next_id: Arc::new(AtomicU64::new(1)), policy }
    }

    /// The registry, without the connections that are over.
    fn live(&self) -> MutexGuard<'_, Registry> {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry.map.retain(|_, e| !e.conn.is_over());
        registry
    }

    pub(crate) fn next_id(&self) -> ClientId {
        ClientId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Adds a client; false (and nothing added) once the server is closing.
    pub(crate) fn insert(&self, id: ClientId, conn: Arc<dyn Tracked>) -> bool {
        let mut registry = self.live();
        if !registry.closing {
            registry.map.insert(id, Entry { conn, evicted: false });
        }
        !registry.closing
    }

    /// Refuses new clients from now on and returns the current ones.
    pub(crate) fn start_closing(&self) -> Vec<Arc<dyn Tracked>> {
        let mut registry = self.live();
        registry.closing = true;
        registry.map.values().map(|e| e.conn.clone()).collect()
    }

    /// Waits until no client is left, at most until `deadline`; whether none is left.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> bool {
        loop {
            if self.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::sleep(PRUNE_TICK.min(deadline - now));
        }
    }

    /// What a broadcast does with a client whose queue is full.
    pub fn policy(&self) -> SlowPolicy {
        self.policy
    }

    /// How many connections are tracked.
    pub fn len(&self) -> usize {
        self.live().map.len()
    }

    /// Whether no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is tracked (and not over).
    pub fn contains(&self, id: ClientId) -> bool {
        self.live().map.contains_key(&id)
    }

    /// The ids of the tracked connections, in no particular order.
    pub fn ids(&self) -> Vec<ClientId> {
        self.live().map.keys().copied().collect()
    }

    /// Starts the closing handshake with `id` (e.g. to kick a client); false if not tracked.
    pub fn close(&self, id: ClientId, code: impl Into<CloseCode>, reason: &str) -> bool {
        let conn = self.live().map.get(&id).map(|e| e.conn.clone());
        conn.map(|c| c.close_with(code.into(), reason)).is_some()
    }

    /// Drops the connection `id` at once; false if not tracked.
    pub fn terminate(&self, id: ClientId) -> bool {
        let conn = self.live().map.get(&id).map(|e| e.conn.clone());
        conn.map(|c| c.end()).is_some()
    }

    /// Sends `msg` (framed once) to every tracked connection without waiting: queued for each
    /// one whose output is below `Config::write_high_water` and written by its flusher thread;
    /// a slower one is handled per the [`policy`](Self::policy).
    pub fn broadcast(&self, msg: &PreparedMessage) -> BroadcastReport {
        self.broadcast_filter(msg, |_| true)
    }

    /// [`broadcast`](Self::broadcast) to every connection but `except` (the sender).
    pub fn broadcast_except(&self, except: ClientId, msg: &PreparedMessage) -> BroadcastReport {
        self.broadcast_filter(msg, |id| id != except)
    }

    /// Frames `msg` once and [`broadcast`](Self::broadcast)s it.
    pub fn broadcast_message(&self, msg: impl Into<Message>) -> BroadcastReport {
        self.broadcast(&PreparedMessage::new(msg.into()))
    }

    /// [`broadcast`](Self::broadcast) to the connections for which `to` returns true. `to` runs
    /// under the registry's lock: keep it short and do not call back into these `Clients`.
    pub fn broadcast_filter(&self, msg: &PreparedMessage, mut to: impl FnMut(ClientId) -> bool) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        for (&id, entry) in self.live().map.iter_mut() {
            if entry.evicted || !to(id) {
                continue;
            }
            match (entry.conn.offer(msg), self.policy) {
                (Ok(()), _) => report.sent += 1,
                (Err(Skipped::Full), SlowPolicy::Close) => {
                    entry.evicted = true;
                    entry.conn.close_with(CloseCode::TRY_AGAIN_LATER, "slow consumer");
                    report.closed += 1;
                }
                (Err(Skipped::Full), _) => report.dropped += 1,
                // Closing: it stays listed until it is over.
                (Err(Skipped::Closed), _) => {}
            }
        }
        report
    }
}
