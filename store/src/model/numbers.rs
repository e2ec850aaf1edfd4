//! Virtual numbers and their rules (SPEC §2): which scenario handles which callers when.

use super::{ContactGroupId, ContactId, NumberListId, RuleId, ScenarioId, ScheduleId};
use serde::{Deserialize, Serialize};

/// Kind of virtual number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// Full rules.
    #[default]
    Pbx,
    /// Forwards to exactly one number.
    Tracking,
}

/// A company number (DID) with its ordered rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualNumber {
    /// Digits, international format without `+`.
    pub number: String,
    /// Kind.
    #[serde(default)]
    pub kind: NumberKind,
    /// Rules in priority order: the first that matches handles the call.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Attaches a scenario to a number for a schedule and a set of callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Id; left out (0) when creating through the API, which assigns one.
    #[serde(default)]
    pub id: RuleId,
    /// Name shown to the admin.
    pub name: String,
    /// Activity schedule; `None` means always.
    #[serde(default)]
    pub schedule: Option<ScheduleId>,
    /// Which callers the rule applies to.
    #[serde(default)]
    pub callers: CallerFilter,
    /// The scenario that handles matching calls.
    pub scenario: ScenarioId,
}

/// Caller filter of a rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallerFilter {
    /// Every caller.
    #[default]
    All,
    /// Callers matching one of these masks (`*` any run of digits, `?` one digit).
    Numbers {
        /// Masks.
        masks: Vec<String>,
    },
    /// Callers that are one of these contacts.
    Contacts {
        /// Contacts.
        contacts: Vec<ContactId>,
    },
    /// Callers that are a contact in one of these contact groups.
    ContactGroups {
        /// Contact groups.
        groups: Vec<ContactGroupId>,
    },
    /// Callers not in the address book.
    Unknown,
    /// Callers matching an entry of a number list.
    NumberList {
        /// The list.
        list: NumberListId,
    },
}
