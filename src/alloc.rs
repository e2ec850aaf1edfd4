//! An idle thread gives its allocator cache back (issue 14, D78).
//!
//! jemalloc keeps a cache of freed objects per thread and trims it only as that thread
//! allocates again: a thread that goes quiet after a busy spell keeps megabytes of freed calls
//! parked, and the slabs under them cannot go back to the system. The switch's runtimes call
//! [`give_back_cache`] each time one of their threads runs out of work (tokio's
//! `on_thread_park`), the call-record writer each time it has waited for nothing; at most once a
//! second per thread, it empties that thread's cache. Under load the cost is one cache refill a
//! second per thread; at idle the memory of the last burst is returned.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often one thread's cache may be emptied.
const EVERY: Duration = Duration::from_secs(1);

/// Empties the calling thread's allocator cache unless it did so less than a second ago.
pub fn give_back_cache() {
    thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
    LAST.with(|last| {
        let now = crate::clock::monotonic_now();
        if last.get().is_some_and(|at| now.duration_since(at) < EVERY) {
            return;
        }
        last.set(Some(now));
        flush_thread_cache();
    });
}

/// The runtime of an actix thread (the main one, each call arbiter): actix's own default, a
/// single-threaded tokio runtime, that calls [`give_back_cache`].
pub fn actor_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(give_back_cache)
        .build()
        .expect("a single-threaded tokio runtime")
}

/// Empties this thread's jemalloc cache: switching it off flushes every cached object back to
/// its arena, switching it on again starts an empty one. (jemalloc's `thread.tcache.flush`
/// takes no value, which the safe control interface cannot express.)
fn flush_thread_cache() {
    use tikv_jemalloc_ctl::{Access, AsName};
    let enabled = b"thread.tcache.enabled\0".name();
    if enabled.read() == Ok(true) {
        let _ = enabled.write(false);
        let _ = enabled.write(true);
    }
}

#[cfg(test)]
mod tests {
    use tikv_jemalloc_ctl::{Access, AsName};

    #[test]
    fn a_parking_thread_keeps_its_cache_switched_on() {
        std::thread::spawn(|| {
            super::give_back_cache();
            super::give_back_cache();
            let enabled: bool = b"thread.tcache.enabled\0".name().read().unwrap();
            assert!(enabled);
        })
        .join()
        .unwrap();
    }
}
