//! The "forward" operation (SPEC §3 op 4): ring employees, groups, external numbers or SIP URIs
//! and connect the caller to whoever answers. Exits: `answered` (after the talk, when the
//! employee hung up first), `no_answer`, `busy`.

use super::{broken, prompt_ref, Op, Ref, RefAt};
use crate::model::{EmployeeId, GroupId, Prompt, QueueSettings, Strategy};
use crate::validate::ValidationError;
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
    /// How the employees' phones are rung (SPEC §4.2). Unset: a group rings by its own
    /// strategy, and everything else by `mode`.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Callers nobody could take after one full round wait in the queue of these employees'
    /// numbers (SPEC §4.3). Unset: no queue.
    #[serde(default)]
    pub queue: Option<QueueSettings>,
    /// Wrap-up: a phone that talked on a call of this operation gets no call for this many
    /// seconds afterwards.
    #[serde(default)]
    pub wrap_up_s: u32,
    /// The operator hint: played to the employee who answered, before the caller is connected
    /// (SPEC §3: who calls and why).
    #[serde(default)]
    pub operator_hint: Option<Prompt>,
    /// The simple action when nobody answered (outcome `no_answer` or `busy`); unset: just the
    /// exit.
    #[serde(default)]
    pub not_answered: Option<NotAnswered>,
}

/// What a forward operation does when nobody answered (SPEC §3 op 4: "end the call, or create
/// a task").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NotAnswered {
    /// End the call at once, whatever the exits say.
    EndCall,
    /// Create a call-back task for the employees (the caller's number, the time, the
    /// operation), then go on at the exit.
    CreateTask {
        /// The employee the task is for; unset (and no group): the operation's employees.
        #[serde(default)]
        employee: Option<EmployeeId>,
        /// The group the task is for.
        #[serde(default)]
        group: Option<GroupId>,
        /// A note for whoever calls back (at most 500 characters).
        #[serde(default)]
        note: Option<String>,
    },
}

impl Op for Forward {
    fn exits(&self) -> &'static [&'static str] {
        &["answered", "no_answer", "busy"]
    }

    fn refs(&self) -> Vec<RefAt> {
        let mut out: Vec<RefAt> = self
            .targets
            .iter()
            .enumerate()
            .filter_map(|(k, t)| {
                let target = match t {
                    ForwardTarget::Employee { id } => Ref::Employee(*id),
                    ForwardTarget::Group { id } => Ref::Group(*id),
                    ForwardTarget::External { .. } | ForwardTarget::SipUri { .. } => return None,
                };
                Some(RefAt {
                    field: format!("targets[{k}].id"),
                    target,
                })
            })
            .collect();
        out.extend(prompt_ref("ringback", self.ringback.as_ref()));
        out.extend(prompt_ref("operator_hint", self.operator_hint.as_ref()));
        if let Some(NotAnswered::CreateTask {
            employee, group, ..
        }) = &self.not_answered
        {
            out.extend(employee.map(|id| RefAt {
                field: "not_answered.employee".into(),
                target: Ref::Employee(id),
            }));
            out.extend(group.map(|id| RefAt {
                field: "not_answered.group".into(),
                target: Ref::Group(id),
            }));
        }
        if let Some(st) = &self.strategy {
            out.extend(st.employees().into_iter().map(|(field, id)| RefAt {
                field: format!("strategy.{field}"),
                target: Ref::Employee(id),
            }));
        }
        out
    }

    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if self.targets.is_empty() {
            out.push(broken(
                "targets",
                "forward.targets_required",
                "a forward operation needs at least one target",
            ));
        }
        if let Some(NotAnswered::CreateTask {
            employee,
            group,
            note,
        }) = &self.not_answered
        {
            if employee.is_some() && group.is_some() {
                out.push(broken(
                    "not_answered",
                    "forward.task_for",
                    "a task is for an employee or a group, not both",
                ));
            }
            if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
                out.push(broken(
                    "not_answered.note",
                    "forward.task_note",
                    "a task's note is at most 500 characters",
                ));
            }
        }
        if self.max_wait_s == Some(0) {
            out.push(broken(
                "max_wait_s",
                "forward.max_wait_positive",
                "max_wait_s must be at least 1 second when set",
            ));
        }
        if let Some(st) = &self.strategy {
            out.extend(st.violations().into_iter().map(|mut e| {
                e.field = format!("strategy.{}", e.field);
                e
            }));
        }
        if let Some(q) = &self.queue {
            out.extend(q.violations().into_iter().map(|mut e| {
                e.field = format!("queue.{}", e.field);
                e
            }));
        }
        if self.wrap_up_s > 3600 {
            out.push(broken(
                "wrap_up_s",
                "forward.wrap_up_range",
                "wrap_up_s is at most 3600 seconds",
            ));
        }
        for (k, t) in self.targets.iter().enumerate() {
            match t {
                ForwardTarget::External { number, .. }
                    if number.is_empty()
                        || number.len() > 15
                        || !number.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    out.push(broken(
                        &format!("targets[{k}].number"),
                        "forward.external_digits",
                        "an external number is 1-15 digits in international format, without +",
                    ))
                }
                ForwardTarget::SipUri { uri, .. }
                    if !uri.contains('@') || uri.starts_with('@') || uri.ends_with('@') =>
                {
                    out.push(broken(
                        &format!("targets[{k}].uri"),
                        "forward.sip_uri",
                        "a SIP URI target is user@host or user@host:port",
                    ))
                }
                _ => {}
            }
        }
        out
    }
}
