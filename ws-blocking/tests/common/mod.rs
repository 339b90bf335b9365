//! Helpers shared by the integration tests: a watchdog, loopback servers, and `read_event`,
//! which turns `recv` into a `Result` for terse assertions.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ws_blocking::{Error, Event, Transport, WebSocket, WsReader};

/// Runs `f` on a thread and fails the test if it takes longer than `secs`.
pub(crate) fn watchdog<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = handle.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {secs} s"),
    }
}

/// A listener on 127.0.0.1 whose connections (up to `n`) are handed to `handler`, each on its
/// own thread. Returns the address and a receiver for the handlers' completion.
pub(crate) fn serve<F>(n: usize, handler: F) -> (SocketAddr, mpsc::Receiver<()>)
where
    F: Fn(TcpStream) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(stream) = stream else { return };
            let (handler, tx) = (handler.clone(), tx.clone());
            thread::spawn(move || {
                handler(stream);
                let _ = tx.send(());
            });
        }
    });
    (addr, rx)
}

/// A payload that compresses poorly and is easy to check.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// `recv` as a `Result`: `None` (the connection is over) is `Error::ConnectionClosed`.
pub(crate) trait ReadEvent {
    /// The next event.
    fn read_event(&mut self) -> Result<Event, Error>;
}

fn flatten(event: Option<std::io::Result<Event>>) -> Result<Event, Error> {
    match event {
        Some(Ok(e)) => Ok(e),
        Some(Err(e)) => Err(Error::Io(e)),
        None => Err(Error::ConnectionClosed),
    }
}

impl<S: Read + Write + Transport> ReadEvent for WebSocket<S> {
    fn read_event(&mut self) -> Result<Event, Error> {
        flatten(self.recv())
    }
}

impl<S: Read + Write + Transport> ReadEvent for WsReader<S> {
    fn read_event(&mut self) -> Result<Event, Error> {
        flatten(self.recv())
    }
}
