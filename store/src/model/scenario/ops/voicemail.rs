//! "Voicemail" (SPEC §3): answer, play the prompt (if any) and a beep, then record the caller.
//! Exit: `next`.

use super::{broken, prompt_ref, Op, RefAt, NEXT};
use crate::model::Prompt;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

fn voicemail_max_s() -> u32 {
    120
}

fn voicemail_silence_s() -> u32 {
    5
}

/// Voicemail: play the prompt (if any), a beep, then record the caller until silence after
/// speech, hang-up or `max_s`. The recording is kept with the call's recordings (mono, under
/// `voicemail/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    /// Played before the beep.
    #[serde(default)]
    pub prompt: Option<Prompt>,
    /// Maximum length in seconds (1–600).
    #[serde(default = "voicemail_max_s")]
    pub max_s: u32,
    /// Seconds of silence after speech that end the message (0: only hang-up or max_s).
    #[serde(default = "voicemail_silence_s")]
    pub silence_s: u32,
    /// Where the notification goes (caller number and time in the subject).
    #[serde(default)]
    pub email: Option<String>,
}

impl Op for Voicemail {
    fn exits(&self) -> &'static [&'static str] {
        NEXT
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", self.prompt.as_ref())
            .into_iter()
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if !(1..=600).contains(&self.max_s) {
            out.push(broken(
                "max_s",
                "voicemail.max_s",
                "max_s must be 1-600 seconds",
            ));
        }
        if self.silence_s > 60 {
            out.push(broken(
                "silence_s",
                "voicemail.silence_s",
                "silence_s must be 0-60 seconds",
            ));
        }
        out
    }
}
