//! The call as pure data and logic: where its legs go, and (growing) the call state machine.

use vpbx_store::model::SipLineId;

/// Where an outbound leg goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// Every registered contact of a SIP line of this box (forked; the first to answer wins).
    Line {
        /// The line.
        line: SipLineId,
        /// Its login (shown in the call detail).
        login: String,
    },
    /// A SIP URI elsewhere (`user@host[:port]`).
    Uri(String),
    /// An external number, through a trunk.
    External(String),
}

impl std::fmt::Display for DialTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialTarget::Line { login, .. } => write!(f, "line {login}"),
            DialTarget::Uri(u) => write!(f, "sip:{u}"),
            DialTarget::External(n) => write!(f, "external {n}"),
        }
    }
}
