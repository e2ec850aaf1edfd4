//! Scenarios (SPEC §3): named graphs of operations, and the prompts they play.

use super::{FileId, Forward, OpName, ScenarioId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn voicemail_max_s() -> u32 {
    120
}

fn voicemail_silence_s() -> u32 {
    5
}

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
#[serde(tag = "kind", rename_all = "snake_case")]
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

/// What an operation does. Exit names per action are listed on each variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Play a prompt once. Exit: `next`.
    InfoMessage {
        /// What to play.
        prompt: Prompt,
    },
    /// Ring the caller (180 Ringing, not answered) for a while. Exit: `next`.
    Ring {
        /// Milliseconds.
        ms: u32,
    },
    /// Silence for a while (answered). Exit: `next`.
    Pause {
        /// Milliseconds.
        ms: u32,
    },
    /// Echo test: send the caller's audio back until they hang up or `max_s` passes. Exit: `next`.
    Echo {
        /// Upper bound on the echo in seconds.
        max_s: u32,
    },
    /// Voicemail: play the prompt (if any), a beep, then record the caller until silence after
    /// speech, hang-up or `max_s`. The recording is kept with the call's recordings (mono, under
    /// `voicemail/`). Exit: `next`.
    Voicemail {
        /// Played before the beep.
        #[serde(default)]
        prompt: Option<Prompt>,
        /// Maximum length in seconds (1–600).
        #[serde(default = "voicemail_max_s")]
        max_s: u32,
        /// Seconds of silence after speech that end the message (0: only hang-up or max_s).
        #[serde(default = "voicemail_silence_s")]
        silence_s: u32,
        /// Where the notification goes (caller number and time in the subject).
        #[serde(default)]
        email: Option<String>,
    },
    /// Ring employees, groups, numbers or SIP URIs and connect the caller to whoever answers.
    /// Exits: `answered` (after the talk, when the employee hung up first), `no_answer`, `busy`.
    Forward(Forward),
    /// End the call.
    HangUp,
}

impl Action {
    /// The exit names this action can take.
    pub fn exit_names(&self) -> &'static [&'static str] {
        match self {
            Action::InfoMessage { .. }
            | Action::Ring { .. }
            | Action::Pause { .. }
            | Action::Echo { .. } => &["next"],
            Action::Forward(_) => &["answered", "no_answer", "busy"],
            Action::Voicemail { .. } => &["next"],
            Action::HangUp => &[],
        }
    }
}
