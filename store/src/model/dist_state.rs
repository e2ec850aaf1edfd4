//! What the distribution (SPEC §4.2, §4.3) remembers between calls and across restarts: the
//! statistics samples the "like support"/"like sales" strategies read, and the queue's
//! callback requests. Stored by [`crate::dist`].

use super::{EmployeeId, ScenarioId};
use serde::{Deserialize, Serialize};

/// One distribution event of one employee's phone: a ring offer, a finished talk, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistSample {
    /// When it happened, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// The scenario the call was in (`None`: a call outside scenarios, e.g. a group extension).
    pub scenario: Option<ScenarioId>,
    /// The employee.
    pub employee: EmployeeId,
    /// Which phone of the employee (index in their phone list).
    pub phone: u8,
    /// The phone was offered the call (rang), answered or not.
    pub offered: bool,
    /// Talk time of a finished talk in ms (0: no talk in this sample).
    pub talk_ms: u64,
}

/// A waiting caller who pressed the callback key: hung up, to be called back when an employee
/// of the queue is free, in their place in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCallback {
    /// Id (from [`crate::Store::new_queue_callback_id`]).
    pub id: u64,
    /// The key of the queue the caller waited in.
    pub set: String,
    /// The number to call back.
    pub caller: String,
    /// The virtual number the caller dialled.
    pub numb: String,
    /// The scenario of the call.
    pub scenario: Option<ScenarioId>,
    /// The forward operation the caller queued in.
    pub op: String,
    /// The caller's place in the queue (first in, first out).
    pub joined_seq: u64,
    /// When the caller joined the queue, ms since the Unix epoch.
    pub joined_unix_ms: u64,
    /// When the caller asked to be called back, ms since the Unix epoch.
    pub requested_unix_ms: u64,
}
