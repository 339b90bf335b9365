//! Pausing reception, with Node `ws`'s rules.

use crate::connection::State;

/// Whether the application paused reception (Node `pause()` / `resume()` / `isPaused`).
///
/// Adapters keep one per receiving side and stop parsing and reading while it is set. As in
/// Node, both calls do nothing once the connection is closed: a connection paused before its
/// end stays paused, one closed unpaused cannot be paused any more. (Node also ignores them
/// while connecting; an adapter's socket type exists only after the opening handshake.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pause {
    paused: bool,
}

impl Pause {
    /// Pauses, unless the connection is closed.
    pub fn pause(&mut self, state: State) {
        if state != State::Closed {
            self.paused = true;
        }
    }

    /// Resumes, unless the connection is closed.
    pub fn resume(&mut self, state: State) {
        if state != State::Closed {
            self.paused = false;
        }
    }

    /// Whether reception is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_rules() {
        let mut p = Pause::default();
        assert!(!p.is_paused());
        p.pause(State::Open);
        assert!(p.is_paused());
        p.resume(State::Closing);
        assert!(!p.is_paused(), "closing still resumes");
        p.pause(State::Closing);
        assert!(p.is_paused(), "closing still pauses");
        p.resume(State::Closed);
        assert!(p.is_paused(), "resume after the close does nothing");
        let mut q = Pause::default();
        q.pause(State::Closed);
        assert!(!q.is_paused(), "pause after the close does nothing");
    }
}
