//! [`Link`]: what a connection on a reactor shares between the reactor thread and its
//! handles ([`WsHandle`](crate::WsHandle), and the server's
//! [`ClientHandle`](crate::server::ClientHandle) when tracked).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ws_proto::{CloseCode, CloseFrame, Connection, SendError, State};

use super::event_loop::Wake;
use crate::handle::{admit, Driven, Refused};

/// How long a handle waiting for room (or for the end) sleeps before looking again, in case
/// a wake-up was missed.
const TICK: Duration = Duration::from_millis(250);

/// Token of a link not registered yet.
const UNREGISTERED: usize = usize::MAX;

/// One connection's state shared with its handles.
pub(crate) struct Link {
    conn: Mutex<Connection>,
    /// Output went below the high-water mark, or the connection ended (handles waiting for
    /// room or for the end wait on it).
    changed: Condvar,
    /// The connection's index in the reactor, once registered.
    token: AtomicUsize,
    /// The reactor will drive the connection soon: handles need not wake it again.
    scheduled: AtomicBool,
    /// The reactor dropped the connection (after its `Closed` event).
    finished: AtomicBool,
    /// Handles waiting on `changed` (so that the reactor signals only when someone waits).
    waiters: AtomicUsize,
    wake: Arc<Wake>,
}

impl Link {
    pub(crate) fn new(conn: Connection, wake: Arc<Wake>) -> Self {
        Self {
            conn: Mutex::new(conn),
            changed: Condvar::new(),
            token: AtomicUsize::new(UNREGISTERED),
            // Until registered: the reactor drives a new connection as soon as it takes it.
            scheduled: AtomicBool::new(true),
            finished: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            wake,
        }
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_token(&self, token: usize) {
        self.token.store(token, Ordering::Release);
    }

    /// The reactor drives the connection now: handles need not wake it.
    pub(crate) fn hold_schedule(&self) {
        self.scheduled.store(true, Ordering::Release);
    }

    /// The reactor is done with the connection for this turn: later changes must wake it.
    /// Called under the connection's lock, so that a handle queueing meanwhile either sees
    /// the flag cleared (and wakes the reactor) or queued before the reactor looks.
    pub(crate) fn unschedule(&self) {
        self.scheduled.store(false, Ordering::Release);
    }

    /// Asks the reactor to drive the connection (write what was queued, fire timers).
    pub(crate) fn schedule(&self) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let token = self.token.load(Ordering::Acquire);
            if token != UNREGISTERED {
                self.wake.wake(token);
            }
        }
    }

    /// Output drained below the high-water mark: handles waiting for room may go on. Called
    /// under the connection's lock (which waiters hold when they count themselves in).
    pub(crate) fn notify_room(&self) {
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits on `changed` for a while.
    fn wait<'a>(&self, conn: MutexGuard<'a, Connection>) -> MutexGuard<'a, Connection> {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let conn = self.changed.wait_timeout(conn, TICK).unwrap_or_else(PoisonError::into_inner).0;
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        conn
    }

    /// The reactor dropped the connection.
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        // Under the lock, so that a waiter cannot miss it between its check and its wait.
        let _conn = self.conn();
        self.changed.notify_all();
    }

    fn is_over_locked(conn: &Connection) -> bool {
        conn.state() == State::Closed || conn.is_terminated()
    }
}

impl Driven for Link {
    fn push(
        &self,
        limit: Option<usize>,
        wait: bool,
        f: &mut dyn FnMut(&mut Connection) -> Result<(), SendError>,
    ) -> Result<(), Refused> {
        // The reactor thread writes: there it cannot wait for room, so a message queues past
        // the high-water mark (the reactor reads nothing more from a connection in that state).
        let may_exceed = wait && self.wake.is_reactor_thread();
        let mut conn = self.conn();
        while !admit(&conn, limit.is_some(), conn.is_write_ready() || may_exceed, wait)? {
            conn = self.wait(conn);
        }
        f(&mut conn).map_err(Refused::Send)?;
        drop(conn);
        self.schedule();
        Ok(())
    }

    fn terminate(&self) {
        self.conn().terminate();
        self.schedule();
    }

    fn is_over(&self) -> bool {
        Self::is_over_locked(&self.conn())
    }

    fn close_normal(&self) {
        {
            let mut conn = self.conn();
            if conn.state() == State::Open {
                let _ = conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), Instant::now());
            }
        }
        self.schedule();
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn wait_finished(&self) {
        if self.wake.is_reactor_thread() {
            return;
        }
        let mut conn = self.conn();
        while !self.finished.load(Ordering::Acquire) {
            conn = self.wait(conn);
        }
    }
}

#[cfg(feature = "server")]
impl crate::server::Conn for Link {
    fn offer(&self, msg: &ws_proto::PreparedMessage) -> Result<(), ws_async::server::Skipped> {
        crate::server::offer_to(&mut self.conn(), msg)?;
        self.schedule();
        Ok(())
    }

    fn close_with(&self, code: CloseCode, reason: &str) {
        let _ = self.conn().close(Some(CloseFrame::new(code, reason)), Instant::now());
        self.schedule();
    }

    fn end(&self) {
        Driven::terminate(self);
    }

    fn is_over(&self) -> bool {
        Driven::is_over(self)
    }
}
