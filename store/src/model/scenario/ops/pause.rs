//! "Pause": answer and send silence for a while. Exit: `next`.

use super::{Op, RefAt, NEXT};
use serde::{Deserialize, Serialize};

/// Silence for a while (answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// Milliseconds.
    pub ms: u32,
}

impl Op for Pause {
    fn exits(&self) -> &'static [&'static str] {
        NEXT
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
}
