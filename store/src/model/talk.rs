//! Talk options (SPEC §5): DTMF keys an employee presses during a talk, configured per box.

use super::{ContactGroupId, NumberListId, ScenarioId, TagId, TalkOptionId};
use serde::{Deserialize, Serialize};

/// Where "save caller ID" puts the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SaveTarget {
    /// A number list (e.g. the blacklist).
    List {
        /// The list.
        list: NumberListId,
    },
    /// A contact group (the contact is created if missing).
    ContactGroup {
        /// The group.
        group: ContactGroupId,
    },
}

/// What a talk option does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TalkAction {
    /// Attended transfer (`#` + extension or number; hang up to connect, or return).
    Transfer,
    /// Blind transfer.
    BlindTransfer,
    /// Conference: add parties one by one.
    Conference,
    /// Take the caller out of the talk into a scenario.
    RunScenario {
        /// The scenario.
        scenario: ScenarioId,
    },
    /// Start/stop recording the talk.
    Recorder,
    /// The employee's trainer joins (coach mode).
    CallTrainer,
    /// Tag the call; `None` lets the employee choose or create one.
    Tag {
        /// A fixed tag.
        #[serde(default)]
        tag: Option<TagId>,
    },
    /// The pressing employee becomes the caller's personal manager.
    AssignPersonalManager,
    /// Save the caller's number into a list or contact group.
    SaveCallerId {
        /// Where.
        target: SaveTarget,
    },
}

/// One DTMF key sequence and its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TalkOption {
    /// Id.
    pub id: TalkOptionId,
    /// DTMF keys (`0`–`9`, `*`, `#`; 1–4 of them), unique per box.
    pub keys: String,
    /// What pressing them does.
    pub action: TalkAction,
}
