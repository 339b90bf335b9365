//! The timer table: deadlines the connection wants to be woken at (quinn-proto style).

use std::time::Instant;

/// A connection timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Send a keepalive ping when the connection has been idle this long.
    KeepAlive = 0,
    /// Fail the connection if nothing arrived since the keepalive ping.
    PongDeadline = 1,
    /// Give up on the close handshake or on the peer's TCP close.
    Close = 2,
}

const COUNT: usize = 3;
const ALL: [Timer; COUNT] = [Timer::KeepAlive, Timer::PongDeadline, Timer::Close];

/// One optional deadline per [`Timer`].
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        self.data[t as usize] = Some(at);
    }

    #[cfg(test)]
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.data[t as usize]
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.data[t as usize] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.data = [None; COUNT];
    }

    /// The earliest deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// Takes a timer whose deadline is at or before `now`, if any.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        for t in ALL {
            if self.data[t as usize].is_some_and(|d| d <= now) {
                self.data[t as usize] = None;
                return Some(t);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_and_expiry() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Close, now + Duration::from_secs(5));
        t.set(Timer::KeepAlive, now + Duration::from_secs(2));
        assert_eq!(t.next_timeout(), Some(now + Duration::from_secs(2)));
        assert_eq!(t.take_expired(now + Duration::from_secs(1)), None);
        assert_eq!(t.take_expired(now + Duration::from_secs(2)), Some(Timer::KeepAlive));
        assert_eq!(t.take_expired(now + Duration::from_secs(2)), None);
        assert_eq!(t.get(Timer::Close), Some(now + Duration::from_secs(5)));
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }
}
