//! "Info message" (SPEC §3): answer and play a prompt once. Exit: `next`.

use super::{prompt_ref, Op, RefAt, NEXT};
use crate::model::Prompt;
use serde::{Deserialize, Serialize};

/// Play a prompt once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoMessage {
    /// What to play.
    pub prompt: Prompt,
}

impl Op for InfoMessage {
    fn exits(&self) -> &'static [&'static str] {
        NEXT
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", Some(&self.prompt))
            .into_iter()
            .collect()
    }
}
