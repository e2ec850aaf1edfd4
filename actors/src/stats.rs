//! Live figures read by `/health` without asking any actor.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters shared between the actor tree and the HTTP edge.
#[derive(Debug, Default)]
pub struct LiveStats {
    active_calls: AtomicI64,
    finished_calls: AtomicU64,
    restarts: AtomicU64,
    queued: AtomicU64,
}

impl LiveStats {
    /// Calls in progress.
    pub fn active_calls(&self) -> i64 {
        self.active_calls.load(Ordering::Relaxed)
    }
    /// Calls finished since start.
    pub fn finished_calls(&self) -> u64 {
        self.finished_calls.load(Ordering::Relaxed)
    }
    /// Actor restarts since start.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
    /// Callers waiting in queues now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }
    pub(crate) fn set_queued(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        if self.queued.swap(n, Ordering::Relaxed) != n {
            metrics::gauge!("vpbx_queued_callers").set(n as f64);
        }
    }
    pub(crate) fn call_started(&self) {
        self.active_calls.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("vpbx_active_calls").increment(1.0);
    }
    pub(crate) fn call_finished(&self) {
        self.active_calls.fetch_sub(1, Ordering::Relaxed);
        self.finished_calls.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("vpbx_active_calls").decrement(1.0);
    }
    pub(crate) fn restarted(&self, actor: &'static str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vpbx_actor_restarts_total", "actor" => actor).increment(1);
    }
}
