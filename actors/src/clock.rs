//! Wall time, injected. The binary provides the one real implementation; tests use fakes.

/// A source of wall time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64;
}
