//! Plain data about legs that cores and shells share: where an outbound leg goes, a SIP dialog
//! as the switch names it, and the dialog an attended transfer replaces. No runtime, no SIP
//! stack types.

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

/// The dialog an attended transfer replaces (RFC 3891), as named by the transferring phone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Replaces {
    /// SIP Call-ID of the dialog.
    pub call_id: String,
    /// `to-tag` (the tag of the party that received the dialog's INVITE).
    pub to_tag: String,
    /// `from-tag`.
    pub from_tag: String,
}

impl Replaces {
    /// Whether this names the dialog `call_id` with tags `a` and `b` (in either order: phones
    /// differ in which side they call `to` and `from`).
    pub fn names(&self, call_id: &str, a: &str, b: &str) -> bool {
        self.call_id == call_id
            && ((self.to_tag == a && self.from_tag == b)
                || (self.to_tag == b && self.from_tag == a))
    }
}

/// A SIP dialog as the switch sees it: Call-ID, our tag, the peer's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dialog {
    /// SIP Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl Dialog {
    /// Whether `r` names this dialog.
    pub fn is_named_by(&self, r: &Replaces) -> bool {
        r.names(&self.call_id, &self.local_tag, &self.remote_tag)
    }
}
