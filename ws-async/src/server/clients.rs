//! Client tracking (Node `clientTracking` and `server.clients`) and encode-once broadcast.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use ws_proto::{CloseCode, Message, PreparedMessage};

use crate::driver::WsHandle;
use crate::error::TrySendError;
use crate::runtime::{self, Runtime};

/// How often [`Clients::wait_empty`] looks for connections that reported `Event::Closed`
/// while their driver task is still delivering events.
const PRUNE_TICK: Duration = Duration::from_millis(20);

/// Identifies a connection of a [`Server`](super::Server): unique per server, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(u64);

impl ClientId {
    /// The id numbered `n` (for adapters that keep their own registries; a server hands out
    /// 1, 2, 3…).
    pub fn new(n: u64) -> Self {
        Self(n)
    }

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

/// What a broadcast does with a client whose queue is full (a slow consumer: its socket does
/// not drain as fast as messages are broadcast).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowPolicy {
    /// Skip the message for that client; it stays connected and gets later messages once its
    /// queue has room (the default: a broadcast never blocks and never disconnects).
    #[default]
    Drop,
    /// Close that client with 1013 (Try Again Later), ahead of what it still has queued. The
    /// close frame follows the output already written to its connection; if the client does
    /// not read it, the close timeout ends the connection.
    Close,
}

/// What a broadcast did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Clients the message was queued for.
    pub sent: usize,
    /// Clients whose queue was full and that skipped the message ([`SlowPolicy::Drop`]).
    pub dropped: usize,
    /// Clients whose queue was full and that are being closed with 1013
    /// ([`SlowPolicy::Close`]).
    pub closed: usize,
}

/// The connections a [`Server`](super::Server) tracks (Node `server.clients`): every
/// connection from [`Server::accept`](super::Server::accept) or
/// [`Server::track`](super::Server::track) while client tracking is on, until it reports
/// `Event::Closed` (it is then no longer counted, listed or broadcast to) and its driver task
/// ends (it is then removed).
///
/// Cheap to clone (a shared registry), so a connection's task can broadcast. Every method is
/// synchronous and holds a lock only briefly; broadcasts never wait for a client.
#[derive(Clone)]
pub struct Clients {
    shared: Arc<Registry>,
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients").field("len", &self.len()).field("policy", &self.shared.policy).finish()
    }
}

struct Registry {
    state: Mutex<State>,
    next_id: AtomicU64,
    policy: SlowPolicy,
    /// Notified whenever a client is removed.
    changed: Notify,
}

#[derive(Default)]
struct State {
    map: HashMap<ClientId, Entry>,
    /// The server is closing: no client is added any more.
    closing: bool,
}

struct Entry {
    handle: WsHandle,
    /// Closed by [`SlowPolicy::Close`]: no longer broadcast to nor counted in reports.
    evicted: bool,
}

impl Clients {
    pub(crate) fn new(policy: SlowPolicy) -> Self {
        let shared = Registry { state: Mutex::default(), next_id: AtomicU64::new(1), policy, changed: Notify::new() };
        Self { shared: Arc::new(shared) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops entries whose connection reported `Event::Closed`; true if any was dropped.
    fn prune(state: &mut State) -> bool {
        let before = state.map.len();
        state.map.retain(|_, e| !e.handle.is_closed());
        state.map.len() != before
    }

    pub(crate) fn next_id(&self) -> ClientId {
        ClientId(self.shared.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Adds a client; false (and nothing added) once the server is closing.
    pub(crate) fn insert(&self, id: ClientId, handle: WsHandle) -> bool {
        let mut state = self.lock();
        if state.closing {
            return false;
        }
        state.map.insert(id, Entry { handle, evicted: false });
        true
    }

    pub(crate) fn remove(&self, id: ClientId) {
        self.lock().map.remove(&id);
        self.shared.changed.notify_waiters();
    }

    /// Marks the registry closing and returns the clients to close.
    pub(crate) fn start_closing(&self) -> Vec<WsHandle> {
        let mut state = self.lock();
        state.closing = true;
        Self::prune(&mut state);
        state.map.values().map(|e| e.handle.clone()).collect()
    }

    /// Resolves once no client is left (closed connections count as gone).
    pub(crate) async fn wait_empty<R: Runtime>(&self) {
        loop {
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            if self.is_empty() {
                return;
            }
            let _ = runtime::timeout::<R, _>(PRUNE_TICK, changed).await;
        }
    }

    /// The policy for full queues, set with
    /// [`ServerBuilder::slow_client_policy`](super::ServerBuilder::slow_client_policy).
    pub fn policy(&self) -> SlowPolicy {
        self.shared.policy
    }

    /// How many connections are open (Node `clients.size`).
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        if Self::prune(&mut state) {
            self.shared.changed.notify_waiters();
        }
        state.map.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this connection is tracked and open.
    pub fn contains(&self, id: ClientId) -> bool {
        self.get(id).is_some()
    }

    /// The handle of a tracked connection that is still open.
    pub fn get(&self, id: ClientId) -> Option<WsHandle> {
        self.lock().map.get(&id).filter(|e| !e.handle.is_closed()).map(|e| e.handle.clone())
    }

    /// The ids of the open connections, in no particular order.
    pub fn ids(&self) -> Vec<ClientId> {
        let mut state = self.lock();
        Self::prune(&mut state);
        state.map.keys().copied().collect()
    }

    /// A snapshot of the open connections and their handles (Node's `for (const ws of
    /// wss.clients)`). The lock is not held while iterating.
    pub fn iter(&self) -> impl Iterator<Item = (ClientId, WsHandle)> {
        let mut state = self.lock();
        Self::prune(&mut state);
        let snapshot: Vec<_> = state.map.iter().map(|(id, e)| (*id, e.handle.clone())).collect();
        snapshot.into_iter()
    }

    /// Queues `msg` for every open connection: framed once, the same bytes shared by every
    /// client (uncompressed connections share header and payload; see [`PreparedMessage`] for
    /// permessage-deflate). Never waits: a client whose queue is full skips the message or is
    /// closed with 1013, per the [`SlowPolicy`].
    pub fn broadcast(&self, msg: &PreparedMessage) -> BroadcastReport {
        self.broadcast_filter(msg, |_| true)
    }

    /// [`broadcast`](Self::broadcast) to every connection but `except` (Node's "broadcast to
    /// all but the sender").
    pub fn broadcast_except(&self, except: ClientId, msg: &PreparedMessage) -> BroadcastReport {
        self.broadcast_filter(msg, |id| id != except)
    }

    /// [`broadcast`](Self::broadcast) a message, framing it once here.
    pub fn broadcast_message(&self, msg: impl Into<Message>) -> BroadcastReport {
        self.broadcast(&PreparedMessage::new(msg.into()))
    }

    /// [`broadcast`](Self::broadcast) to the connections for which `to` returns true. `to` runs
    /// under the registry's lock: keep it short and do not call back into these `Clients`.
    pub fn broadcast_filter(&self, msg: &PreparedMessage, mut to: impl FnMut(ClientId) -> bool) -> BroadcastReport {
        let policy = self.shared.policy;
        let mut report = BroadcastReport::default();
        let mut state = self.lock();
        let before = state.map.len();
        state.map.retain(|&id, entry| {
            if entry.handle.is_closed() {
                return false;
            }
            if entry.evicted || !to(id) {
                return true;
            }
            match entry.handle.try_send_prepared(msg.clone()) {
                Ok(()) => report.sent += 1,
                Err(TrySendError::Full(_)) => match policy {
                    SlowPolicy::Drop => report.dropped += 1,
                    SlowPolicy::Close => {
                        entry.evicted = true;
                        let _ = entry.handle.close_now(CloseCode::TRY_AGAIN_LATER, "slow consumer");
                        report.closed += 1;
                    }
                },
                // The connection is closing: it stays until it reports `Event::Closed`.
                Err(_) => {}
            }
            true
        });
        if state.map.len() != before {
            self.shared.changed.notify_waiters();
        }
        report
    }

    /// Runs `fut` and removes `id` once it completes (the driver task of a tracked client).
    pub(crate) fn run_tracked(&self, id: ClientId, fut: impl Future<Output = ()>) -> impl Future<Output = ()> {
        let clients = self.clone();
        async move {
            fut.await;
            clients.remove(id);
        }
    }
}
