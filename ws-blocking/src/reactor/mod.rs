//! A reactor (Unix): one thread drives many connections, so that an idle connection costs a
//! few KiB instead of a thread (feature-free; see `docs/design/reactor.md`).
//!
//! A connection handed to [`Reactor::drive`] is parked on the OS readiness API (epoll,
//! kqueue). When its peer sends, the reactor thread parses the input and calls the
//! connection's [`Handler`] for each event, in order, like Node `ws`'s `message` and `close`
//! listeners on its event loop; keepalive pings, pongs, the close handshake and the timers
//! run on the same thread. What the handler (or any other thread) sends through the
//! [`WsHandle`] is written by the reactor without blocking.
//!
//! ```no_run
//! use ws_blocking::reactor::Reactor;
//! use ws_blocking::server::Server;
//! use ws_blocking::Event;
//!
//! let reactor = Reactor::new()?;
//! let server = Server::builder().bind("127.0.0.1", 8080)?;
//! // Every connection on the one reactor thread: an echo server.
//! server.drive_on(&reactor, |_conn| {
//!     |ws: &ws_blocking::WsHandle, event: std::io::Result<Event>| {
//!         if let Ok(Event::Message(msg)) = event {
//!             let _ = ws.send(msg);
//!         }
//!     }
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **The handler runs on the reactor thread**: while it runs, no other connection of the
//! reactor moves. Hand long work to threads of your own (the [`WsHandle`] is `Clone + Send`).
//! A handler that panics terminates its connection (1006), not the reactor.
//!
//! **Sending.** From another thread, [`WsHandle::send`] waits while the connection's output
//! is above `Config::write_high_water` (a peer that does not read). On the reactor thread it
//! cannot wait, so it queues past the mark (Node's `bufferedAmount`); the reactor then reads
//! nothing more from that connection until its output drains, so an echo or request/response
//! handler stays bounded by the peer's own reading. To relay to *other* connections, use
//! [`WsHandle::try_send`] or the server's broadcast, which skip a slow client.
//!
//! Choose it for many mostly idle connections; for a few busy ones, a [`WebSocket`] on a
//! thread of its own is simpler and as fast.

mod event_loop;
mod link;
mod pollable;

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use ws_proto::Event;

use crate::transport::Transport;
use crate::websocket::{Core, Owned, WebSocket};
use crate::WsHandle;
use event_loop::{Entry, EventLoop, Wake};
pub(crate) use link::Link;
pub use pollable::Pollable;

/// What a connection on a [`Reactor`] does with its events: called on the reactor thread
/// for each, in order (messages or fragments, pings, pongs, then `Event::Closed` once). An
/// `Err` is an IO failure, followed by `Event::Closed` (1006). Events are the same as
/// [`EventReceiver`](crate::EventReceiver) yields in driver mode.
///
/// Implemented for every `FnMut(&WsHandle, io::Result<Event>) + Send + 'static`.
pub trait Handler: Send + 'static {
    /// One event of the connection `ws` (its handle: send, close, terminate from here or
    /// elsewhere).
    fn on_event(&mut self, ws: &WsHandle, event: io::Result<Event>);
}

impl<F: FnMut(&WsHandle, io::Result<Event>) + Send + 'static> Handler for F {
    fn on_event(&mut self, ws: &WsHandle, event: io::Result<Event>) {
        self(ws, event);
    }
}

/// A reactor thread driving many connections; see the [module documentation](self).
///
/// Cheap to clone (clones drive the same thread). When the last clone is dropped, the
/// thread goes on until every connection it drives is over, then ends.
#[derive(Clone)]
pub struct Reactor {
    owner: Arc<Owner>,
}

/// Stops the thread when the last `Reactor` clone goes.
struct Owner {
    wake: Arc<Wake>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.wake.stop();
        // Not joined: the thread ends by itself once its connections are over.
        drop(self.thread.lock().unwrap_or_else(PoisonError::into_inner).take());
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor").field("connections", &self.connections()).finish()
    }
}

impl Reactor {
    /// Starts a reactor thread (`ws-blocking reactor`).
    pub fn new() -> io::Result<Self> {
        let (event_loop, wake) = EventLoop::new()?;
        let thread = thread::Builder::new().name("ws-blocking reactor".into()).spawn(move || event_loop.run())?;
        Ok(Self { owner: Arc::new(Owner { wake, thread: Mutex::new(Some(thread)) }) })
    }

    /// The connections this reactor drives (handed over and not yet dropped).
    pub fn connections(&self) -> usize {
        self.owner.wake.count()
    }

    /// Hands `ws` to the reactor: from now on its events go to `handler`, and the returned
    /// [`WsHandle`] (a clone of the one the handler gets) sends from any thread.
    ///
    /// The stream is switched to non-blocking mode. Refused (and the connection dropped) for a
    /// stream without a descriptor (a custom connector's), for a split or tracked
    /// `WebSocket` (a server's tracked connections go through
    /// `server::Server::drive_on`), and if the reactor thread has
    /// ended.
    pub fn drive<S, H>(&self, ws: WebSocket<S>, handler: H) -> io::Result<WsHandle>
    where
        S: Read + Write + Transport + Pollable + Send + 'static,
        H: Handler,
    {
        self.drive_with(ws, |_, _| handler)
    }

    /// [`drive`](Self::drive), with the handler made once the connection's handle and link
    /// exist (a server registers the link with its client registry there).
    pub(crate) fn drive_with<S, H>(
        &self,
        ws: WebSocket<S>,
        make: impl FnOnce(&WsHandle, &Arc<Link>) -> H,
    ) -> io::Result<WsHandle>
    where
        S: Read + Write + Transport + Pollable + Send + 'static,
        H: Handler,
    {
        let (core, _recv, _url, _negotiated) = ws.into_fields();
        let Core::Owned(Owned { io, conn }) = core else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a split or tracked WebSocket cannot move to a reactor (use Server::drive_on)",
            ));
        };
        let stream = io.stream;
        let fd = stream
            .source_fd()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "the stream has no descriptor to poll"))?;
        stream.set_nonblocking(true)?;
        let link = Arc::new(Link::new(conn, self.owner.wake.clone()));
        let handle = WsHandle::driven(link.clone());
        let handler = make(&handle, &link);
        let entry = Entry::new(link.clone(), Box::new(stream), fd, Box::new(handler), handle.clone());
        if let Err(e) = self.owner.wake.add(entry) {
            // Whoever holds the link (a client registry) sees it over.
            link.conn().terminate();
            link.finish();
            return Err(e);
        }
        Ok(handle)
    }
}
