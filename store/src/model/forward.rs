//! The "forward" operation (SPEC §3 op 4): ring employees, groups, external numbers or SIP URIs
//! and connect the caller to whoever answers.

use super::{EmployeeId, GroupId, Prompt};
use serde::{Deserialize, Serialize};

/// One thing a forward operation rings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ForwardTarget {
    /// An employee: their phones in priority order.
    Employee {
        /// The employee.
        id: EmployeeId,
    },
    /// A group: its members' phones, `simultaneous_lines` at a time.
    Group {
        /// The group.
        id: GroupId,
    },
    /// An external number (international format, digits), through a trunk.
    External {
        /// Digits.
        number: String,
        /// Seconds to ring (default 30).
        #[serde(default)]
        timeout_s: Option<u32>,
    },
    /// A SIP URI (`user@host[:port]`).
    SipUri {
        /// `user@host[:port]`.
        uri: String,
        /// Seconds to ring (default 30).
        #[serde(default)]
        timeout_s: Option<u32>,
    },
}

/// How the phones of a forward operation are rung.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingMode {
    /// One phone (or one group batch) after another, each for its dial timeout.
    #[default]
    Sequential,
    /// Every phone at once; the first to answer wins.
    Simultaneous,
}

/// Settings of a forward operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// What to ring, in order.
    pub targets: Vec<ForwardTarget>,
    /// How.
    #[serde(default)]
    pub mode: RingMode,
    /// Upper bound on the whole ringing in seconds (`None`: until every target was tried).
    #[serde(default)]
    pub max_wait_s: Option<u32>,
    /// Played to the caller in a loop while ringing (answered calls); `None` = ringback tone.
    #[serde(default)]
    pub ringback: Option<Prompt>,
    /// Present the virtual number instead of the caller's number to SIP phones.
    #[serde(default)]
    pub present_virtual_number: bool,
}
