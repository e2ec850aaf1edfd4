//! Scenarios (SPEC §3): named graphs of operations, and the prompts they play.
//!
//! Every operation is a struct of its own in [`ops`] and answers [`Op::exits`] (the exit names it
//! can take) and [`Op::refs`] (the entities and prompt files it uses). Those two are the one list
//! that validation (`crate::validate`), referential integrity (`crate::integrity::users_of`) and
//! the interpreter read: adding an operation is one file in `ops/` plus its line in the
//! `actions!` list that declares [`Action`].

use super::{OpName, ScenarioId};
use serde::{Deserialize, Serialize};

pub mod ops;

pub use ops::{
    Echo, Escalation, Forward, ForwardTarget, HangUp, InfoMessage, InsertScenario, ListBranch,
    Menu, Op, Pause, PersonalManager, Phrase, Pin, Ref, RefAt, RegionBranch, RepeatBranch, Ring,
    RingMode, ScheduleBranch, SegmentBranch, SegmentExit, VoiceAssistant, Voicemail, Webhook,
};

use super::FileId;
use std::collections::BTreeMap;

/// A named graph of operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Id.
    pub id: ScenarioId,
    /// Name.
    pub name: String,
    /// The operation a call starts at.
    pub start: OpName,
    /// Operations by name.
    pub operations: BTreeMap<OpName, Operation>,
    /// Call recording on/off (SPEC §3 scenario-level option): the whole call from answer on,
    /// as a stereo WAV (caller left) and a mono mix.
    #[serde(default)]
    pub record: bool,
    /// Greeting melody (scenario-level option): played to every caller, answered, before the
    /// start operation (not when the scenario is inserted into another, nor on a callback).
    #[serde(default)]
    pub greeting: Option<Prompt>,
    /// Ringback melody (scenario-level option): what the caller hears while employees ring in
    /// every forward operation of this scenario that sets no ringback of its own.
    #[serde(default)]
    pub ringback: Option<Prompt>,
    /// Present the virtual number instead of the caller's to employees' SIP phones in every
    /// forward operation of this scenario (scenario-level option; an operation can set it too).
    #[serde(default)]
    pub present_virtual_number: bool,
}

impl Scenario {
    /// The prompt files the scenario's own options use, with their field.
    pub fn option_files(&self) -> Vec<(&'static str, FileId)> {
        [("greeting", &self.greeting), ("ringback", &self.ringback)]
            .into_iter()
            .filter_map(|(f, p)| p.as_ref().and_then(Prompt::file).map(|id| (f, id)))
            .collect()
    }
}

/// One operation of a scenario with its named exits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// What the operation does.
    pub action: Action,
    /// Exit name → next operation. An exit with no entry ends the call.
    #[serde(default)]
    pub exits: BTreeMap<String, OpName>,
}

/// A prompt: a file or a text spoken by text-to-speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Prompt {
    /// A file from the file base.
    File {
        /// The file.
        id: FileId,
    },
    /// A text for text-to-speech.
    Text {
        /// The text.
        text: String,
        /// Voice, e.g. `ru` or `en`.
        #[serde(default)]
        voice: Option<String>,
    },
}

impl Prompt {
    /// The prompt in words, for the call's events (`file 3`, `text: Hello`).
    pub fn label(&self) -> String {
        match self {
            Prompt::File { id } => format!("file {id}"),
            Prompt::Text { text, .. } => format!("text: {text}"),
        }
    }

    /// The file this prompt plays, if it is a file.
    pub fn file(&self) -> Option<FileId> {
        match self {
            Prompt::File { id } => Some(*id),
            Prompt::Text { .. } => None,
        }
    }
}

/// Declares [`Action`] from one line per operation: its variant, its struct and its kind as
/// written in documents (the serde tag and [`Action::kind`] come from the same literal).
macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident($op:ident) = $kind:literal,)*) => {
        /// What an operation does: one variant per operation, wrapping the operation's own
        /// struct. Serialized internally tagged (`{"kind": "voicemail", "max_s": 60}`); every
        /// operation refuses unknown fields.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum Action {
            $(
                $(#[$doc])*
                #[serde(rename = $kind)]
                $variant($op),
            )*
        }

        impl Action {
            /// Every operation kind the switch accepts, in declaration order: the same literals
            /// as the serde tags, so the list cannot miss one (the API reference is checked
            /// against it).
            pub const KINDS: &'static [&'static str] = &[$($kind,)*];

            /// The operation's kind as written in documents (`info_message`, `forward`, ...).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => $kind,)*
                }
            }

            /// The operation behind the variant.
            pub fn op(&self) -> &dyn Op {
                match self {
                    $(Action::$variant(o) => o,)*
                }
            }
        }
    };
}

actions! {
    /// Play a prompt once.
    InfoMessage(InfoMessage) = "info_message",
    /// A voice menu: a prompt, then one key (or an extension).
    Menu(Menu) = "menu",
    /// Ring the caller unanswered for a while.
    Ring(Ring) = "ring",
    /// Silence for a while (answered).
    Pause(Pause) = "pause",
    /// Echo test.
    Echo(Echo) = "echo",
    /// Record a voicemail.
    Voicemail(Voicemail) = "voicemail",
    /// Ring employees, groups, numbers or SIP URIs and connect the caller to whoever answers.
    Forward(Forward) = "forward",
    /// Ask for a PIN code and compare it with the configured ones.
    Pin(Pin) = "pin",
    /// End the call.
    HangUp(HangUp) = "hang_up",
    /// Branch on whether the call's time is inside an activity schedule.
    ScheduleBranch(ScheduleBranch) = "schedule_branch",
    /// Branch on whether the caller's number is in a number list.
    ListBranch(ListBranch) = "list_branch",
    /// Ring the caller's personal manager from the address book.
    PersonalManager(PersonalManager) = "personal_manager",
    /// Arm a timer: a call no employee answered in time goes on at `escalated`.
    Escalation(Escalation) = "escalation",
    /// Run another scenario here, then go on at `next`.
    InsertScenario(InsertScenario) = "insert_scenario",
    /// Branch on whether the caller called before within a time.
    RepeatBranch(RepeatBranch) = "repeat_branch",
    /// Call a CRM over HTTP and act on its JSON reply.
    Webhook(Webhook) = "webhook",
    /// Ask a question and branch on the caller's spoken answer.
    VoiceAssistant(VoiceAssistant) = "voice_assistant",
    /// Branch on the region of the caller's number.
    RegionBranch(RegionBranch) = "region_branch",
    /// Branch on the caller's segment (a saved filter over contacts).
    SegmentBranch(SegmentBranch) = "segment_branch",
}

impl Action {
    /// The exit names every operation of this kind has (see [`Action::all_exits`] for the
    /// ones its settings add).
    pub fn exits(&self) -> &'static [&'static str] {
        self.op().exits()
    }

    /// Every exit name this operation can take: its kind's ([`Action::exits`]), then the ones
    /// its settings bind ([`Op::bound_exits`]).
    pub fn all_exits(&self) -> Vec<&str> {
        let mut out = self.op().exits().to_vec();
        out.extend(self.op().bound_exits());
        out
    }

    /// The exits whose absence is warned about: the kind's expected ones and the bound ones.
    pub fn expected_exits(&self) -> Vec<&str> {
        let mut out = self.op().expected_exits().to_vec();
        out.extend(self.op().bound_exits());
        out
    }

    /// The entities and prompt files this operation uses.
    pub fn refs(&self) -> Vec<RefAt> {
        self.op().refs()
    }
}
