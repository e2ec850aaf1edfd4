//! One struct per scenario operation (SPEC §3), each with what it answers about itself:
//! [`Op::exits`], [`Op::refs`] and [`Op::violations`].
//!
//! Validation and referential integrity read these answers and nothing else, so an operation's
//! rules live in its own file. Every struct refuses unknown fields: a typo in an operation's
//! settings is a 400 naming the field, never a silently used default.

use crate::model::{
    ContactGroupId, EmployeeId, FileId, GroupId, NumberListId, Prompt, ScheduleId, SegmentId, TagId,
};
use crate::validate::ValidationError;

mod echo;
mod escalation;
mod forward;
mod hang_up;
mod info_message;
mod insert_scenario;
mod list_branch;
mod menu;
mod pause;
mod personal_manager;
mod pin;
mod region_branch;
mod repeat_branch;
mod ring;
mod schedule_branch;
mod segment_branch;
mod voice_assistant;
mod voicemail;
mod webhook;

pub use echo::Echo;
pub use escalation::Escalation;
pub use forward::{Forward, ForwardTarget, NotAnswered, RingMode};
pub use hang_up::HangUp;
pub use info_message::InfoMessage;
pub use insert_scenario::{InsertScenario, MAX_NESTING};
pub use list_branch::ListBranch;
pub use menu::{Menu, MENU_KEYS};
pub use pause::Pause;
pub use personal_manager::PersonalManager;
pub use pin::{Pin, PIN_MAX_DIGITS};
pub use region_branch::{region_known, RegionBranch, OTHER_REGIONS};
pub use repeat_branch::{RepeatBranch, REPEAT_MAX_H};
pub use ring::Ring;
pub use schedule_branch::ScheduleBranch;
pub use segment_branch::{SegmentBranch, SegmentExit, NO_SEGMENT, OTHERS, SEGMENT_MAX_EXITS};
pub use voice_assistant::{Phrase, VoiceAssistant, ASSISTANT_MAX_PHRASES};
pub use voicemail::Voicemail;
pub use webhook::{Webhook, WEBHOOK_PARAMS};

/// Something outside its scenario that an operation uses: it must exist when the scenario is
/// saved, and it cannot be deleted while the operation uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    /// An employee.
    Employee(EmployeeId),
    /// A group of employees.
    Group(GroupId),
    /// A file of the file base (a prompt).
    File(FileId),
    /// An activity schedule.
    Schedule(ScheduleId),
    /// A number list.
    NumberList(NumberListId),
    /// A scenario (a sub-scenario).
    Scenario(crate::model::ScenarioId),
    /// A segment of contacts.
    Segment(SegmentId),
    /// A contact group.
    ContactGroup(ContactGroupId),
    /// A tag.
    Tag(TagId),
}

impl Ref {
    /// The kind, as named in messages and rules (`ref.<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            Ref::Employee(_) => "employee",
            Ref::Group(_) => "group",
            Ref::File(_) => "file",
            Ref::Schedule(_) => "schedule",
            Ref::NumberList(_) => "number_list",
            Ref::Scenario(_) => "scenario",
            Ref::Segment(_) => "segment",
            Ref::ContactGroup(_) => "contact_group",
            Ref::Tag(_) => "tag",
        }
    }

    /// The stable validation rule of a dangling reference of this kind.
    pub fn rule(&self) -> &'static str {
        match self {
            Ref::Employee(_) => "ref.employee",
            Ref::Group(_) => "ref.group",
            Ref::File(_) => "ref.file",
            Ref::Schedule(_) => "ref.schedule",
            Ref::NumberList(_) => "ref.number_list",
            Ref::Scenario(_) => "ref.scenario",
            Ref::Segment(_) => "ref.segment",
            Ref::ContactGroup(_) => "ref.contact_group",
            Ref::Tag(_) => "ref.tag",
        }
    }
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Employee(id) => write!(f, "employee {id}"),
            Ref::Group(id) => write!(f, "group {id}"),
            Ref::File(id) => write!(f, "file {id}"),
            Ref::Schedule(id) => write!(f, "schedule {id}"),
            Ref::NumberList(id) => write!(f, "number list {id}"),
            Ref::Scenario(id) => write!(f, "scenario {id}"),
            Ref::Segment(id) => write!(f, "segment {id}"),
            Ref::ContactGroup(id) => write!(f, "contact group {id}"),
            Ref::Tag(id) => write!(f, "tag {id}"),
        }
    }
}

/// A [`Ref`] at a field of the operation, the path relative to the operation's `action`
/// (`ringback.id`, `targets[2].id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefAt {
    /// Where in the operation.
    pub field: String,
    /// What it refers to.
    pub target: Ref,
}

/// What every scenario operation answers about itself.
pub trait Op {
    /// The exit names the operation can take (an exit that is not set ends the call there).
    fn exits(&self) -> &'static [&'static str];

    /// Exits named by the operation's own settings besides [`Op::exits`] (a webhook's bound
    /// codes); none by default. Validation accepts them and warns when one is unset.
    fn bound_exits(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The entities and prompt files the operation uses.
    fn refs(&self) -> Vec<RefAt>;

    /// The exits whose absence is warned about ("calls can be lost here"): by default every
    /// exit; an operation whose unset exits have a fallback of their own (a menu's keys go to
    /// `invalid`) names fewer.
    fn expected_exits(&self) -> &'static [&'static str] {
        self.exits()
    }

    /// Broken rules of the operation's own values (ranges, required lists), with fields relative
    /// to the operation's `action`. References and the graph are checked from
    /// [`Op::refs`] and [`Op::exits`], not here.
    fn violations(&self) -> Vec<ValidationError> {
        Vec::new()
    }
}

/// The file reference of a prompt at `field`, if the prompt is a file.
fn prompt_ref(field: &str, prompt: Option<&Prompt>) -> Option<RefAt> {
    prompt.and_then(Prompt::file).map(|id| RefAt {
        field: format!("{field}.id"),
        target: Ref::File(id),
    })
}

/// A broken rule at `field`.
fn broken(field: &str, rule: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, rule, message)
}

/// The exit of operations that have one way on.
const NEXT: &[&str] = &["next"];
