//! The read model of the SIP edge's live state: where each SIP line is registered and how each
//! trunk stands with its carrier. The SIP edge implements [`Presence`] over its registrar and
//! trunk state; the HTTP edge reads it and never names the SIP edge's types, so the two edges
//! depend on this module and not on each other.

use vpbx_store::model::{SipLineId, Trunk};

/// One registered contact of a SIP line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineContact {
    /// Contact URI as registered.
    pub contact: String,
    /// Where the REGISTER really came from (`ip:port`).
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// User-Agent of the phone.
    pub user_agent: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// Whether the contact answers the switch's OPTIONS probes.
    pub reachable: bool,
}

/// Live state of one trunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrunkStatus {
    /// `registered`, `failed`, `registering`, `disabled`, or `ip` (IP-authenticated: nothing to
    /// register).
    pub registration: String,
    /// The carrier's last answer or the error, e.g. `200 OK`, `403 Forbidden`, `timeout`.
    pub last_response: String,
    /// Calls on the trunk now.
    pub channels: usize,
}

/// What the SIP edge shows of its live state. Reads are cheap and never wait on the network.
pub trait Presence: Send + Sync {
    /// The live contacts of `line` (empty: not registered).
    fn line_contacts(&self, line: SipLineId) -> Vec<LineContact>;
    /// The live status of `trunk`.
    fn trunk_status(&self, trunk: &Trunk) -> TrunkStatus;
}
