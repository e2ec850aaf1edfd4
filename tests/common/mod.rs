//! Test harness: a live switch on free loopback ports with its own data directory
//! ([`switch`]), phones speaking raw SIP over UDP so the tests see exactly what goes on the wire
//! ([`phone`]), RTP helpers ([`rtp`]), digest answers ([`digest`]), and the outside services the
//! switch talks to: a stub HTTP server ([`http_stub`]: a CRM, a speech service) and an SMTP sink
//! ([`smtp_sink`]).
#![allow(dead_code, clippy::unwrap_used, clippy::disallowed_methods)]

pub mod digest;
pub mod http_stub;
pub mod phone;
pub mod rtp;
pub mod smtp_sink;
pub mod switch;

// Each test binary uses its own part of the harness.
#[allow(unused_imports)]
pub use {digest::*, http_stub::*, phone::*, rtp::*, smtp_sink::*, switch::*};

use std::time::{Duration, Instant};

/// Polls `cond` every 10 ms for up to `secs`; true once it holds.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}
