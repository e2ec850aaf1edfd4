//! Distribution settings (SPEC §4.2, §4.3): how a forward operation or a group rings its
//! employees' phones, and the queue callers wait in when nobody can take them.
//!
//! The logic that reads these lives in `vpbx-actors::core::dist`; here are the settings and
//! their validation.

use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::EmployeeId;

/// How the phones of the employees are rung (SPEC §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// The line idle longest rings first (a line never rung is idle since the switch started).
    #[default]
    LongestIdle,
    /// "Like support": the employee with the least talk time in the last 12 hours within this
    /// scenario rings first.
    LikeSupport,
    /// "Like sales": the employee offered the fewest calls (unanswered included) in the last 12
    /// hours within this scenario rings first.
    LikeSales,
    /// Employees ring by priority (1 first); equal priorities ring together. An employee without
    /// an entry has the lowest priority.
    ByPriority {
        /// Employee → priority (1 = first).
        #[serde(default, deserialize_with = "super::directory::member_percents")]
        priorities: BTreeMap<EmployeeId, u8>,
        /// How many times each priority level is tried.
        #[serde(default = "one")]
        attempts: u8,
        /// Seconds each attempt rings.
        #[serde(default = "twenty")]
        attempt_s: u32,
    },
    /// Caller k in the queue goes to employee k and only to them (the pointer survives
    /// restarts).
    StrictlyInTurn,
    /// Start with `start` phones at once and add `add` more every `every_s` seconds.
    FastestAnswer {
        /// Phones ringing at first.
        #[serde(default = "five")]
        start: u8,
        /// Phones added each step.
        #[serde(default = "one")]
        add: u8,
        /// Seconds between steps.
        #[serde(default = "five_u32")]
        every_s: u32,
    },
    /// Each phone gets its percent share of the calls (the phones' and the group's percents),
    /// by a deterministic ratio: the phone furthest below its share rings first.
    Percentage,
    /// Every phone at once.
    Simultaneous,
    /// One phone after another in the listed order, each for its dial timeout.
    Sequential,
    /// One phone after another, starting each call one phone further along the list.
    Even,
    /// Everything editable.
    Custom {
        /// Phones ringing at once.
        #[serde(default = "one")]
        simultaneous_lines: u8,
        /// Seconds each phone rings (its own dial timeout when unset).
        #[serde(default)]
        per_phone_timeout_s: Option<u32>,
        /// The order of the employees (listed first, in this order; the rest after them).
        #[serde(default)]
        order: Vec<EmployeeId>,
        /// How many passes over the list.
        #[serde(default = "one")]
        attempts: u8,
    },
}

fn one() -> u8 {
    1
}
fn five() -> u8 {
    5
}
fn five_u32() -> u32 {
    5
}
fn twenty() -> u32 {
    20
}

impl Strategy {
    /// The name used in documents and in the call detail.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest_idle",
            Strategy::LikeSupport => "like_support",
            Strategy::LikeSales => "like_sales",
            Strategy::ByPriority { .. } => "by_priority",
            Strategy::StrictlyInTurn => "strictly_in_turn",
            Strategy::FastestAnswer { .. } => "fastest_answer",
            Strategy::Percentage => "percentage",
            Strategy::Simultaneous => "simultaneous",
            Strategy::Sequential => "sequential",
            Strategy::Even => "even",
            Strategy::Custom { .. } => "custom",
        }
    }

    /// Rule violations, with fields relative to the strategy (the caller prefixes them).
    pub fn violations(&self) -> Vec<ValidationError> {
        let bad = |field: &str, rule: &'static str, message: &str| {
            ValidationError::new(field, rule, message)
        };
        let mut out = Vec::new();
        match self {
            Strategy::ByPriority {
                priorities,
                attempts,
                attempt_s,
            } => {
                if *attempts == 0 {
                    out.push(bad(
                        "attempts",
                        "strategy.attempts_positive",
                        "attempts must be at least 1",
                    ));
                }
                if *attempt_s == 0 {
                    out.push(bad(
                        "attempt_s",
                        "strategy.seconds_positive",
                        "attempt_s must be at least 1 second",
                    ));
                }
                if let Some((id, _)) = priorities.iter().find(|(_, p)| **p == 0) {
                    out.push(bad(
                        &format!("priorities.{id}"),
                        "strategy.priority_positive",
                        "priorities start at 1 (1 rings first)",
                    ));
                }
            }
            Strategy::FastestAnswer {
                start,
                add,
                every_s,
            } => {
                if *start == 0 {
                    out.push(bad(
                        "start",
                        "strategy.start_positive",
                        "start must be at least 1 phone",
                    ));
                }
                if *add == 0 {
                    out.push(bad(
                        "add",
                        "strategy.add_positive",
                        "add must be at least 1 phone",
                    ));
                }
                if *every_s == 0 {
                    out.push(bad(
                        "every_s",
                        "strategy.seconds_positive",
                        "every_s must be at least 1 second",
                    ));
                }
            }
            Strategy::Custom {
                simultaneous_lines,
                per_phone_timeout_s,
                attempts,
                ..
            } => {
                if *simultaneous_lines == 0 {
                    out.push(bad(
                        "simultaneous_lines",
                        "strategy.lines_positive",
                        "simultaneous_lines must be at least 1",
                    ));
                }
                if *per_phone_timeout_s == Some(0) {
                    out.push(bad(
                        "per_phone_timeout_s",
                        "strategy.seconds_positive",
                        "per_phone_timeout_s must be at least 1 second when set",
                    ));
                }
                if *attempts == 0 {
                    out.push(bad(
                        "attempts",
                        "strategy.attempts_positive",
                        "attempts must be at least 1",
                    ));
                }
            }
            _ => {}
        }
        out
    }

    /// Employees the strategy names (for referential integrity).
    pub fn employees(&self) -> Vec<(String, EmployeeId)> {
        match self {
            Strategy::ByPriority { priorities, .. } => priorities
                .keys()
                .map(|id| (format!("priorities.{id}"), *id))
                .collect(),
            Strategy::Custom { order, .. } => order
                .iter()
                .enumerate()
                .map(|(k, id)| (format!("order[{k}]"), *id))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The queue of a forward operation (SPEC §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Announce the position and the expected wait when queueing starts and after each pass of
    /// the ringback files.
    #[serde(default = "yes")]
    pub announce: bool,
    /// The key a waiting caller presses to hang up and be called back (`None`: no callback).
    #[serde(default)]
    pub callback_key: Option<char>,
}

fn yes() -> bool {
    true
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            announce: true,
            callback_key: None,
        }
    }
}

impl QueueSettings {
    /// Rule violations, with fields relative to the settings.
    pub fn violations(&self) -> Vec<ValidationError> {
        match self.callback_key {
            Some(k) if !matches!(k, '0'..='9' | '*' | '#') => vec![ValidationError::new(
                "callback_key",
                "queue.callback_key",
                "callback_key is one of 0-9, * or #",
            )],
            _ => Vec::new(),
        }
    }
}
