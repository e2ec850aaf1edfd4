//! "Ring": send 180 Ringing (the caller is not answered) and wait. Exit: `next`.

use super::{Op, RefAt, NEXT};
use serde::{Deserialize, Serialize};

/// Ring the caller (180 Ringing, not answered) for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ring {
    /// Milliseconds.
    pub ms: u32,
}

impl Op for Ring {
    fn exits(&self) -> &'static [&'static str] {
        NEXT
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
}
