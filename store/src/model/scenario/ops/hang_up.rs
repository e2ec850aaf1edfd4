//! "Hang up": end the call. No exits.

use super::{Op, RefAt};
use serde::{Deserialize, Serialize};

/// End the call. Written `{"kind": "hang_up"}`; it has no settings (and refuses any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangUp {}

impl Op for HangUp {
    fn exits(&self) -> &'static [&'static str] {
        &[]
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
}
