//! The one way a core asks for time: a table of named deadlines, one per reason (after quinn's
//! `TimerTable`). A core sets and cancels deadlines as its state changes; its shell asks
//! [`TimerTable::poll_timeout`] after every input, arms one runtime timer for the earliest
//! deadline, and feeds the expiry back with the time it fired at. A deadline that was cancelled
//! or moved in the meantime simply is not due, so no generation counters are needed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Deadlines keyed by reason `R` (one deadline per reason).
#[derive(Debug, Clone)]
pub struct TimerTable<R: Ord + Copy> {
    deadlines: BTreeMap<R, Instant>,
}

impl<R: Ord + Copy> Default for TimerTable<R> {
    fn default() -> Self {
        TimerTable {
            deadlines: BTreeMap::new(),
        }
    }
}

impl<R: Ord + Copy> TimerTable<R> {
    /// Sets (or moves) the deadline of `reason`.
    pub fn set(&mut self, reason: R, at: Instant) {
        self.deadlines.insert(reason, at);
    }

    /// Sets the deadline of `reason` to `after` from `now`.
    pub fn set_after(&mut self, reason: R, now: Instant, after: Duration) {
        self.set(reason, now + after);
    }

    /// Cancels the deadline of `reason`, if set.
    pub fn cancel(&mut self, reason: R) {
        self.deadlines.remove(&reason);
    }

    /// Cancels every deadline.
    pub fn clear(&mut self) {
        self.deadlines.clear();
    }

    /// Whether `reason` has a deadline.
    pub fn is_set(&self, reason: R) -> bool {
        self.deadlines.contains_key(&reason)
    }

    /// The earliest deadline and its reason.
    pub fn poll_timeout(&self) -> Option<(Instant, R)> {
        self.deadlines
            .iter()
            .map(|(r, at)| (*at, *r))
            .min_by_key(|(at, _)| *at)
    }

    /// Removes and returns the earliest deadline due at `now`, if any. Call until `None` to
    /// take every due reason in deadline order.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<R> {
        let (at, reason) = self.poll_timeout()?;
        if at > now {
            return None;
        }
        self.deadlines.remove(&reason);
        Some(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Reason {
        A,
        B,
    }

    #[test]
    fn earliest_deadline_first_and_moves_replace() {
        let t0 = crate::clock::test_origin();
        let mut t = TimerTable::default();
        t.set_after(Reason::A, t0, Duration::from_secs(5));
        t.set_after(Reason::B, t0, Duration::from_secs(3));
        assert_eq!(
            t.poll_timeout(),
            Some((t0 + Duration::from_secs(3), Reason::B))
        );
        // Not due yet.
        assert_eq!(t.handle_timeout(t0 + Duration::from_secs(2)), None);
        // Moving B past A makes A the next one.
        t.set_after(Reason::B, t0, Duration::from_secs(9));
        assert_eq!(t.poll_timeout().map(|(_, r)| r), Some(Reason::A));
        let late = t0 + Duration::from_secs(10);
        assert_eq!(t.handle_timeout(late), Some(Reason::A));
        assert_eq!(t.handle_timeout(late), Some(Reason::B));
        assert_eq!(t.handle_timeout(late), None);
        assert!(t.poll_timeout().is_none());
    }

    #[test]
    fn cancelled_deadlines_never_fire() {
        let t0 = crate::clock::test_origin();
        let mut t = TimerTable::default();
        t.set_after(Reason::A, t0, Duration::from_millis(1));
        t.cancel(Reason::A);
        assert!(!t.is_set(Reason::A));
        assert_eq!(t.handle_timeout(t0 + Duration::from_secs(1)), None);
    }
}
