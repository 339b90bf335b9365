//! Client tracking (Node `clientTracking` and `server.clients`) and encode-once broadcast.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use ws_proto::http::{HeaderMap, StatusCode};
use ws_proto::{Bytes, CloseCode, Message, PreparedMessage, Rejection};

use crate::driver::WsHandle;
use crate::error::TrySendError;
use crate::runtime::{self, Runtime};

/// How often the waits for an empty registry look for connections that are over but not yet
/// removed (a driver task still delivering events, a blocking connection nobody reads).
const PRUNE_TICK: Duration = Duration::from_millis(20);

/// A place held under a server's connection cap for an upgrade on its way to the registry
/// ([`Clients::reserve`]); dropping it frees the place. For adapters.
#[doc(hidden)]
pub struct Reservation<H: Tracked> {
    /// `None` once the place was taken over by the registry.
    clients: Option<Clients<H>>,
}

impl<H: Tracked> Drop for Reservation<H> {
    fn drop(&mut self) {
        if let Some(clients) = self.clients.take() {
            let mut state = clients.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.reserved -= 1;
        }
    }
}

impl<H: Tracked> fmt::Debug for Reservation<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").field("held", &self.clients.is_some()).finish()
    }
}

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

/// Why a broadcast did not queue a message for one connection.
#[doc(hidden)]
#[derive(Debug)]
pub enum Skipped {
    /// Its output queue is full (a slow consumer).
    Full,
    /// It is closing or closed.
    Closed,
}

/// What [`Clients`] needs from a tracked connection's handle: the async adapters' [`WsHandle`],
/// or ws-blocking's shared connection. For adapters; not part of the API users call.
#[doc(hidden)]
pub trait Tracked: Clone + Send + Sync + 'static {
    /// Queues `msg` without waiting.
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped>;
    /// Starts the closing handshake (after what is already queued).
    fn close_with(&self, code: CloseCode, reason: &str);
    /// Drops the connection at once.
    fn end(&self);
    /// Whether the connection is over (it reported `Event::Closed`, or was terminated): it is
    /// no longer counted, listed or broadcast to.
    fn is_over(&self) -> bool;
}

impl Tracked for WsHandle {
    fn offer(&self, msg: &PreparedMessage) -> Result<(), Skipped> {
        match self.try_send_prepared(msg.clone()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Skipped::Full),
            Err(_) => Err(Skipped::Closed),
        }
    }

    fn close_with(&self, code: CloseCode, reason: &str) {
        // Behind what is queued; a full queue (a slow consumer) is closed at once instead.
        let frame = ws_proto::CloseFrame::new(code, reason);
        if let Err(TrySendError::Full(_)) = self.try_command(crate::driver::Outbound::Close(Some(frame))) {
            let _ = self.close_now(code, reason);
        }
    }

    fn end(&self) {
        let _ = self.terminate_now();
    }

    fn is_over(&self) -> bool {
        self.is_closed()
    }
}

/// The connections a server tracks (Node `server.clients`): every connection from its
/// `accept` or `track` while client tracking is on, until it is over (it then is no longer
/// counted, listed or broadcast to; the async server removes it when its driver task ends).
/// `H` is the adapter's connection handle: [`WsHandle`] for the async adapters.
///
/// Cheap to clone (a shared registry), so a connection's task can broadcast. Every method is
/// synchronous and holds a lock only briefly; broadcasts never wait for a client.
pub struct Clients<H = WsHandle> {
    shared: Arc<Registry<H>>,
}

impl<H> Clone for Clients<H> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<H: Tracked> fmt::Debug for Clients<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients").field("len", &self.len()).field("policy", &self.shared.policy).finish()
    }
}

struct Registry<H> {
    state: Mutex<State<H>>,
    next_id: AtomicU64,
    policy: SlowPolicy,
    /// Notified whenever a client is removed.
    changed: Notify,
}

struct State<H> {
    map: HashMap<ClientId, Entry<H>>,
    /// The server is closing: no client is added any more.
    closing: bool,
    /// Places held by [`Reservation`]s: upgrades on their way to the registry.
    reserved: usize,
}

struct Entry<H> {
    handle: H,
    /// Closed by [`SlowPolicy::Close`]: no longer broadcast to nor counted in reports.
    evicted: bool,
}

impl<H: Tracked> Clients<H> {
    /// An empty registry (for adapters: a server makes its own).
    #[doc(hidden)]
    pub fn new(policy: SlowPolicy) -> Self {
        let state = Mutex::new(State { map: HashMap::new(), closing: false, reserved: 0 });
        let shared = Registry { state, next_id: AtomicU64::new(1), policy, changed: Notify::new() };
        Self { shared: Arc::new(shared) }
    }

    /// The registry, without the connections that are over.
    fn live(&self) -> MutexGuard<'_, State<H>> {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = state.map.len();
        state.map.retain(|_, e| !e.handle.is_over());
        if state.map.len() != before {
            self.shared.changed.notify_waiters();
        }
        state
    }

    /// The next connection's id.
    #[doc(hidden)]
    pub fn next_id(&self) -> ClientId {
        ClientId(self.shared.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Adds a client; false (and nothing added) once the server is closing.
    #[doc(hidden)]
    pub fn insert(&self, id: ClientId, handle: H) -> bool {
        self.insert_reserved(id, handle, None)
    }

    /// [`insert`](Self::insert) taking over the place `reservation` held, in one step under
    /// the lock, so that the connection is never counted zero times.
    #[doc(hidden)]
    pub fn insert_reserved(&self, id: ClientId, handle: H, reservation: Option<Reservation<H>>) -> bool {
        let mut state = self.live();
        if !state.closing {
            state.map.insert(id, Entry { handle, evicted: false });
        }
        if reservation.and_then(|mut r| r.clients.take()).is_some() {
            state.reserved -= 1;
        }
        !state.closing
    }

    /// Holds a place for a connection being upgraded, when the server has a connection cap
    /// (`max_connections`): `Ok(None)` without a cap, `Err` (503 Service Unavailable) when the
    /// tracked connections and the places already held reach `max`. The place is freed when
    /// the reservation is dropped, or taken over by [`insert_reserved`](Self::insert_reserved).
    #[doc(hidden)]
    pub fn reserve(&self, max: Option<usize>) -> Result<Option<Reservation<H>>, Rejection> {
        let Some(max) = max else { return Ok(None) };
        let mut state = self.live();
        if state.map.len() + state.reserved >= max {
            let body = Bytes::from(format!("the server is at its limit of {max} connections"));
            return Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), body));
        }
        state.reserved += 1;
        Ok(Some(Reservation { clients: Some(self.clone()) }))
    }

    /// Removes a client (its connection ended).
    #[doc(hidden)]
    pub fn remove(&self, id: ClientId) {
        self.live().map.remove(&id);
        self.shared.changed.notify_waiters();
    }

    /// Refuses new clients from now on and returns the current ones.
    #[doc(hidden)]
    pub fn start_closing(&self) -> Vec<H> {
        let mut state = self.live();
        state.closing = true;
        state.map.values().map(|e| e.handle.clone()).collect()
    }

    /// Resolves once no client is left.
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

    /// Blocks until no client is left, at most until `deadline`; whether none is left (for
    /// threads).
    #[doc(hidden)]
    pub fn wait_empty_until(&self, deadline: std::time::Instant) -> bool {
        loop {
            if self.is_empty() {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::sleep(PRUNE_TICK.min(deadline - now));
        }
    }

    /// The policy for full queues (the server builder's `slow_client_policy`).
    pub fn policy(&self) -> SlowPolicy {
        self.shared.policy
    }

    /// How many connections are open (Node `clients.size`).
    pub fn len(&self) -> usize {
        self.live().map.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this connection is tracked and open.
    pub fn contains(&self, id: ClientId) -> bool {
        self.live().map.contains_key(&id)
    }

    /// The handle of a tracked connection that is still open.
    pub fn get(&self, id: ClientId) -> Option<H> {
        self.live().map.get(&id).map(|e| e.handle.clone())
    }

    /// The ids of the open connections, in no particular order.
    pub fn ids(&self) -> Vec<ClientId> {
        self.live().map.keys().copied().collect()
    }

    /// A snapshot of the open connections and their handles (Node's `for (const ws of
    /// wss.clients)`). The lock is not held while iterating.
    pub fn iter(&self) -> impl Iterator<Item = (ClientId, H)> {
        let snapshot: Vec<_> = self.live().map.iter().map(|(id, e)| (*id, e.handle.clone())).collect();
        snapshot.into_iter()
    }

    /// Starts the closing handshake with `id` (e.g. to kick a client), after what is already
    /// queued for it; false if it is not tracked.
    pub fn close(&self, id: ClientId, code: impl Into<CloseCode>, reason: &str) -> bool {
        self.get(id).map(|h| h.close_with(code.into(), reason)).is_some()
    }

    /// Drops the connection `id` at once; false if it is not tracked.
    pub fn terminate(&self, id: ClientId) -> bool {
        self.get(id).map(|h| h.end()).is_some()
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
        for (&id, entry) in self.live().map.iter_mut() {
            if entry.evicted || !to(id) {
                continue;
            }
            match entry.handle.offer(msg) {
                Ok(()) => report.sent += 1,
                Err(Skipped::Full) => match policy {
                    SlowPolicy::Drop => report.dropped += 1,
                    SlowPolicy::Close => {
                        entry.evicted = true;
                        entry.handle.close_with(CloseCode::TRY_AGAIN_LATER, "slow consumer");
                        report.closed += 1;
                    }
                },
                // The connection is closing: it stays listed until it is over.
                Err(Skipped::Closed) => {}
            }
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
