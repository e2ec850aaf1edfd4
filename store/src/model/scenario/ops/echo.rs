//! "Echo" (decisions D1, a service operation): answer and send the caller's audio back. Exit:
//! `next`.

use super::{Op, RefAt, NEXT};
use serde::{Deserialize, Serialize};

/// Echo test: send the caller's audio back until they hang up or `max_s` passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Echo {
    /// Upper bound on the echo in seconds.
    pub max_s: u32,
}

impl Op for Echo {
    fn exits(&self) -> &'static [&'static str] {
        NEXT
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
}
