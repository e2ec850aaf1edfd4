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
///
/// Read through a private document form, so a kind without settings refuses unknown fields too (serde
/// ignores them on a unit variant of an internally tagged enum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", from = "StrategyDoc")]
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
        priorities: BTreeMap<EmployeeId, u8>,
        /// How many times each priority level is tried.
        attempts: u8,
        /// Seconds each attempt rings.
        attempt_s: u32,
    },
    /// Caller k in the queue goes to employee k and only to them (the pointer survives
    /// restarts).
    StrictlyInTurn,
    /// Start with `start` phones at once and add `add` more every `every_s` seconds.
    FastestAnswer {
        /// Phones ringing at first.
        start: u8,
        /// Phones added each step.
        add: u8,
        /// Seconds between steps.
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
        simultaneous_lines: u8,
        /// Seconds each phone rings (its own dial timeout when unset).
        per_phone_timeout_s: Option<u32>,
        /// The order of the employees (listed first, in this order; the rest after them).
        order: Vec<EmployeeId>,
        /// How many passes over the list.
        attempts: u8,
    },
}

/// The document form of [`Strategy`]: the same kinds, each a struct (settings-less kinds empty),
/// so unknown fields are refused on every kind, with the defaults of the settings.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum StrategyDoc {
    LongestIdle {},
    LikeSupport {},
    LikeSales {},
    ByPriority {
        #[serde(default, deserialize_with = "super::directory::member_percents")]
        priorities: BTreeMap<EmployeeId, u8>,
        #[serde(default = "one")]
        attempts: u8,
        #[serde(default = "twenty")]
        attempt_s: u32,
    },
    StrictlyInTurn {},
    FastestAnswer {
        #[serde(default = "five")]
        start: u8,
        #[serde(default = "one")]
        add: u8,
        #[serde(default = "five_u32")]
        every_s: u32,
    },
    Percentage {},
    Simultaneous {},
    Sequential {},
    Even {},
    Custom {
        #[serde(default = "one")]
        simultaneous_lines: u8,
        #[serde(default)]
        per_phone_timeout_s: Option<u32>,
        #[serde(default)]
        order: Vec<EmployeeId>,
        #[serde(default = "one")]
        attempts: u8,
    },
}

impl From<StrategyDoc> for Strategy {
    fn from(d: StrategyDoc) -> Strategy {
        match d {
            StrategyDoc::LongestIdle {} => Strategy::LongestIdle,
            StrategyDoc::LikeSupport {} => Strategy::LikeSupport,
            StrategyDoc::LikeSales {} => Strategy::LikeSales,
            StrategyDoc::ByPriority {
                priorities,
                attempts,
                attempt_s,
            } => Strategy::ByPriority {
                priorities,
                attempts,
                attempt_s,
            },
            StrategyDoc::StrictlyInTurn {} => Strategy::StrictlyInTurn,
            StrategyDoc::FastestAnswer {
                start,
                add,
                every_s,
            } => Strategy::FastestAnswer {
                start,
                add,
                every_s,
            },
            StrategyDoc::Percentage {} => Strategy::Percentage,
            StrategyDoc::Simultaneous {} => Strategy::Simultaneous,
            StrategyDoc::Sequential {} => Strategy::Sequential,
            StrategyDoc::Even {} => Strategy::Even,
            StrategyDoc::Custom {
                simultaneous_lines,
                per_phone_timeout_s,
                order,
                attempts,
            } => Strategy::Custom {
                simultaneous_lines,
                per_phone_timeout_s,
                order,
                attempts,
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::{users_of, EntityRef, UsedBy};
    use crate::validate_config;

    #[test]
    fn every_kind_reads_with_defaults_and_refuses_unknown_fields() {
        let st: Strategy =
            serde_json::from_str(r#"{"kind":"by_priority","priorities":{"1":2}}"#).unwrap();
        assert_eq!(
            st,
            Strategy::ByPriority {
                priorities: [(EmployeeId(1), 2)].into(),
                attempts: 1,
                attempt_s: 20
            }
        );
        let st: Strategy = serde_json::from_str(r#"{"kind":"fastest_answer"}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&st).unwrap(),
            serde_json::json!({"kind": "fastest_answer", "start": 5, "add": 1, "every_s": 5})
        );
        let st: Strategy = serde_json::from_str(r#"{"kind":"even"}"#).unwrap();
        assert_eq!(st, Strategy::Even);
        assert_eq!(
            serde_json::to_string(&st).unwrap(),
            r#"{"kind":"even"}"#,
            "a kind without settings is written as its kind alone"
        );
        // Documents (YAML) may key the priorities by number or by string.
        let st: Strategy =
            serde_yaml::from_str("{kind: by_priority, priorities: {1: 1, '2': 2}, attempts: 2}")
                .unwrap();
        assert_eq!(
            st,
            Strategy::ByPriority {
                priorities: [(EmployeeId(1), 1), (EmployeeId(2), 2)].into(),
                attempts: 2,
                attempt_s: 20
            }
        );
        assert!(serde_yaml::from_str::<Strategy>("{kind: simultaneous, lines: 2}").is_err());
        for bad in [
            r#"{"kind":"even","start":1}"#,
            r#"{"kind":"custom","attempt":2}"#,
            r#"{"kind":"round_robin"}"#,
        ] {
            assert!(serde_json::from_str::<Strategy>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_group_strategy_is_validated_and_its_employees_are_used() {
        let mut cfg = crate::parse_document(include_str!("../../../config/demo.yaml")).unwrap();
        let members = cfg.groups[0].members.clone();
        let (m, outsider) = (members[0], EmployeeId(999));
        cfg.groups[0].strategy = Some(Strategy::ByPriority {
            priorities: [(m, 0), (outsider, 1)].into(),
            attempts: 0,
            attempt_s: 20,
        });
        let errors = validate_config(&cfg);
        let found =
            |field: String, rule: &str| errors.iter().any(|e| e.field == field && e.rule == rule);
        assert!(
            found(
                format!("groups[0].strategy.priorities.{m}"),
                "strategy.priority_positive"
            ),
            "{errors:?}"
        );
        assert!(
            found(
                "groups[0].strategy.attempts".into(),
                "strategy.attempts_positive"
            ),
            "{errors:?}"
        );
        assert!(
            found(
                format!("groups[0].strategy.priorities.{outsider}"),
                "ref.employee"
            ),
            "{errors:?}"
        );
        cfg.groups[0].strategy = Some(Strategy::Custom {
            simultaneous_lines: 1,
            per_phone_timeout_s: None,
            order: vec![m],
            attempts: 1,
        });
        assert!(
            validate_config(&cfg).is_empty(),
            "{:?}",
            validate_config(&cfg)
        );
        let users = users_of(&cfg, &EntityRef::Employee(m));
        assert!(
            users.iter().any(|u| matches!(
                u,
                UsedBy::Group {
                    field: "strategy",
                    ..
                }
            )),
            "{users:?}"
        );
    }
}
