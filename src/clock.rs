//! The one real clock of the process. Everything else gets time from here.

use vpbx_actors::clock::Clock;

/// Wall time from the operating system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the OS clock
    fn unix_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    fn now(&self) -> std::time::Instant {
        monotonic_now()
    }
}

/// Monotonic now, for uptime.
#[allow(clippy::disallowed_methods)] // the one place allowed to read the OS clock
pub fn monotonic_now() -> std::time::Instant {
    std::time::Instant::now()
}
