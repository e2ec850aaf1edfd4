//! Distribution (SPEC §4): agent lines, the strategies that order them, the queue callers wait
//! in, and the statistics fairness needs. Pure: time arrives as data (`now`, a monotonic
//! [`Instant`](std::time::Instant), and wall-clock milliseconds for the persisted statistics).
//!
//! - [`mod@line`]: one agent line (one phone of one employee) as a state machine: claims, talk,
//!   wrap-up, registration and permission, each refusal a typed [`Refusal`];
//! - [`candidates`]: the phones a forward operation may ring, in listed order, each with its
//!   agent line;
//! - [`strategy`]: one file per strategy behind one function, turning candidates and their
//!   [`LineFacts`] into ringing [`Round`]s;
//! - [`stats`]: sliding-window talk time and offers per employee per scenario, and the 30-day
//!   average talk time per line;
//! - [`board`]: everything above for the whole switch, and the queues (one FIFO per set of
//!   employee numbers) — the one place that claims lines and decides who waits.

pub mod board;
pub mod candidates;
pub mod line;
pub mod stats;
pub mod strategy;

#[cfg(test)]
mod sim;

use super::leg::DialTarget;
use vpbx_store::model::{EmployeeId, PhoneType};

pub use line::{Line, LineState, Refusal};

/// An agent line: the phone at index `phone` of the employee `employee` (SPEC §4.1: every phone
/// of every employee is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    /// The employee.
    pub employee: EmployeeId,
    /// Index in the employee's phones (their priority order).
    pub phone: u8,
}

impl LineKey {
    /// The smallest key (a bound for ranges).
    pub const MIN: LineKey = LineKey {
        employee: vpbx_store::model::EmployeeId(0),
        phone: 0,
    };
}

impl std::fmt::Display for LineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "employee {} phone {}", self.employee, self.phone)
    }
}

/// A phone a distribution may ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its agent line; `None` for a forward target that is nobody's phone (an external number
    /// or SIP URI listed in the operation itself).
    pub line: Option<LineKey>,
    /// The employee, if any.
    pub employee: Option<EmployeeId>,
    /// Where to dial.
    pub target: DialTarget,
    /// For the call detail, e.g. `Ivanov (101) line 101`.
    pub label: String,
    /// Phone type (caller ID policy, "sort by type").
    pub kind: PhoneType,
    /// Seconds it rings before moving on (its dial timeout).
    pub timeout_s: u32,
    /// Share of calls under percentage distribution (0-100).
    pub percent: u8,
    /// 0 for phones of the group's "sort by type" type (or when unset), 1 for the others:
    /// every strategy keeps rank 0 ahead of rank 1.
    pub type_rank: u8,
}

/// What the statistics say about one candidate, aligned with the candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineFacts {
    /// Milliseconds since the line last ended a call (since the switch started when it never
    /// took one).
    pub idle_ms: u64,
    /// The employee's talk time in the last 12 hours within this scenario, milliseconds.
    pub talk_ms_12h: u64,
    /// Calls offered to the employee (unanswered included) in the last 12 hours within this
    /// scenario.
    pub offers_12h: u32,
    /// Calls this distribution (the operation or group) offered to this line so far.
    pub offered_here: u64,
}

/// A request for rounds: the candidates in listed order and what is known about them.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The phones, in listed order (targets in order, group members in order, each employee's
    /// phones in priority order).
    pub candidates: &'a [Candidate],
    /// Facts, `facts[k]` about `candidates[k]`.
    pub facts: &'a [LineFacts],
    /// How many calls this distribution handed out before this one (the pointer of "strictly
    /// in turn" and "even"; persisted).
    pub turn: u64,
    /// At most this many phones ring at once (the group's simultaneous lines); `None`: no cap.
    pub cap: Option<usize>,
}

/// Phones ringing together for `timeout_s`. Each round rings afresh, except under "fastest
/// answer", whose rounds widen: there a phone listed in two consecutive rounds keeps ringing
/// across them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// Indices into [`Ask::candidates`].
    pub ring: Vec<usize>,
    /// Seconds before the round gives up.
    pub timeout_s: u32,
}
