//! Wall time, injected. The binary provides the one real implementation; tests use fakes.

/// A source of wall time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64;
    /// Monotonic time: what the call cores are fed and their deadlines are measured in.
    fn now(&self) -> std::time::Instant;
}

/// An arbitrary origin for virtual time in the cores' tests (a core never reads the clock; its
/// tests start their fake clock here and move it by hand). The same instant for every call in
/// the process, so a test that takes its origin before building a core and compares against the
/// core's own start measures virtual time only — never how long a busy machine took in between.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests' one read of the OS clock: an origin, not a time
pub(crate) fn test_origin() -> std::time::Instant {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}
