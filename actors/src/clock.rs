//! Wall time, injected. The binary provides the one real implementation; tests use fakes.

/// A source of wall time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64;
    /// Monotonic time: what the call cores are fed and their deadlines are measured in.
    fn now(&self) -> std::time::Instant;
}

/// An arbitrary origin for virtual time in the cores' tests (a core never reads the clock; its
/// tests start their fake clock here and move it by hand).
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests' one read of the OS clock: an origin, not a time
pub(crate) fn test_origin() -> std::time::Instant {
    std::time::Instant::now()
}
