//! Test harness: a live switch on free loopback ports with its own data directory
//! ([`switch`]), phones speaking raw SIP over UDP so the tests see exactly what goes on the wire
//! ([`phone`]), RTP helpers ([`rtp`]) and digest answers ([`digest`]).
#![allow(dead_code, clippy::unwrap_used, clippy::disallowed_methods)]

pub mod digest;
pub mod phone;
pub mod rtp;
pub mod switch;

// Each test binary uses its own part of the harness.
#[allow(unused_imports)]
pub use {digest::*, phone::*, rtp::*, switch::*};

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
