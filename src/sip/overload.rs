//! Early shedding of new calls (D73): the edge counts the calls *in setup* — an INVITE admitted
//! whose call actor has not yet sent its first answer (ring, progress, answer, rejection) — and
//! refuses a new INVITE with 503 and `Retry-After` once that count reaches its bound.
//!
//! A call in setup is work the switch accepted but has not caught up with: in normal running it
//! lasts a millisecond or two (a handful at thousands of calls a second); when the call actors
//! fall behind it grows with every INVITE. Refusing at the door costs one response and no call,
//! so the switch keeps finishing what it took on instead of piling up transactions, tasks and
//! retransmissions that it would serve late or not at all. Calls already up, BYEs, CANCELs and
//! in-dialog requests are never shed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `Retry-After` of an overload refusal, seconds (RFC 3261 §21.5.4: a peer that honours it
/// stops sending new calls to us for this long; short, so a burst does not black out a trunk).
pub const RETRY_AFTER_S: u32 = 2;

/// The count of calls in setup and its bound.
#[derive(Debug)]
pub struct SetupGauge {
    in_setup: AtomicUsize,
    /// The bound (0: no bound).
    max: usize,
}

impl SetupGauge {
    /// A gauge that admits up to `max` calls in setup at once (0: any number).
    pub fn new(max: usize) -> Arc<SetupGauge> {
        Arc::new(SetupGauge {
            in_setup: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes a place for one more call in setup, or `None` when the bound is reached.
    pub fn try_enter(self: &Arc<Self>) -> Option<SetupSlot> {
        let admitted = self
            .in_setup
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (self.max == 0 || n < self.max).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            metrics::counter!("vpbx_sip_overload_refusals_total").increment(1);
            return None;
        }
        metrics::gauge!("vpbx_sip_calls_in_setup").increment(1.0);
        Some(SetupSlot(Some(self.clone())))
    }

    /// Calls in setup now.
    pub fn in_setup(&self) -> usize {
        self.in_setup.load(Ordering::Acquire)
    }
}

/// One call's place among the calls in setup; given back on [`SetupSlot::leave`] or drop.
#[derive(Debug)]
pub struct SetupSlot(Option<Arc<SetupGauge>>);

impl SetupSlot {
    /// The call's setup is over (its first answer went out, or it ended): the place is free.
    /// Idempotent.
    pub fn leave(&mut self) {
        if let Some(g) = self.0.take() {
            g.in_setup.fetch_sub(1, Ordering::AcqRel);
            metrics::gauge!("vpbx_sip_calls_in_setup").decrement(1.0);
        }
    }
}

impl Drop for SetupSlot {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_refuses_and_a_place_left_is_taken_again() {
        let g = SetupGauge::new(2);
        let mut a = g.try_enter().expect("first");
        let b = g.try_enter().expect("second");
        assert!(g.try_enter().is_none(), "the third waits for a place");
        a.leave();
        a.leave();
        assert_eq!(g.in_setup(), 1, "leaving twice frees one place");
        let c = g.try_enter().expect("a place was left");
        drop(b);
        drop(c);
        assert_eq!(g.in_setup(), 0);
    }

    #[test]
    fn zero_means_no_bound() {
        let g = SetupGauge::new(0);
        let slots: Vec<_> = (0..10_000).filter_map(|_| g.try_enter()).collect();
        assert_eq!(slots.len(), 10_000);
    }
}
