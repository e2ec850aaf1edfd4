//! Scenarios (SPEC §3): named graphs of operations, and the prompts they play.
//!
//! Every operation is a struct of its own in [`ops`] and answers [`Op::exits`] (the exit names it
//! can take) and [`Op::refs`] (the entities and prompt files it uses). Those two are the one list
//! that validation (`crate::validate`), referential integrity (`crate::integrity::users_of`) and
//! the interpreter read: adding an operation is one file in `ops/` plus its variant in
//! [`Action`].

use super::{OpName, ScenarioId};
use serde::{Deserialize, Serialize};

pub mod ops;

pub use ops::{
    Echo, Forward, ForwardTarget, HangUp, InfoMessage, Op, Pause, Ref, RefAt, Ring, RingMode,
    Voicemail,
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
    /// The file this prompt plays, if it is a file.
    pub fn file(&self) -> Option<FileId> {
        match self {
            Prompt::File { id } => Some(*id),
            Prompt::Text { .. } => None,
        }
    }
}

/// What an operation does: one variant per operation, wrapping the operation's own struct.
/// Serialized internally tagged (`{"kind": "voicemail", "max_s": 60}`); every operation refuses
/// unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Play a prompt once.
    InfoMessage(InfoMessage),
    /// Ring the caller unanswered for a while.
    Ring(Ring),
    /// Silence for a while (answered).
    Pause(Pause),
    /// Echo test.
    Echo(Echo),
    /// Record a voicemail.
    Voicemail(Voicemail),
    /// Ring employees, groups, numbers or SIP URIs and connect the caller to whoever answers.
    Forward(Forward),
    /// End the call.
    HangUp(HangUp),
}

impl Action {
    /// The operation's kind as written in documents (`info_message`, `forward`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::InfoMessage(_) => "info_message",
            Action::Ring(_) => "ring",
            Action::Pause(_) => "pause",
            Action::Echo(_) => "echo",
            Action::Voicemail(_) => "voicemail",
            Action::Forward(_) => "forward",
            Action::HangUp(_) => "hang_up",
        }
    }

    /// The operation behind the variant.
    pub fn op(&self) -> &dyn Op {
        match self {
            Action::InfoMessage(o) => o,
            Action::Ring(o) => o,
            Action::Pause(o) => o,
            Action::Echo(o) => o,
            Action::Voicemail(o) => o,
            Action::Forward(o) => o,
            Action::HangUp(o) => o,
        }
    }

    /// The exit names this operation can take.
    pub fn exits(&self) -> &'static [&'static str] {
        self.op().exits()
    }

    /// The entities and prompt files this operation uses.
    pub fn refs(&self) -> Vec<RefAt> {
        self.op().refs()
    }
}
