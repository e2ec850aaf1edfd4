//! Talk options (SPEC §5): DTMF keys the employee presses during a talk, matched against the
//! box's key sequences. Digits come from the employee's leg (RFC 4733, in-band or SIP INFO);
//! 3 s without a digit clears what was typed. Today the recorder (start/stop recording the
//! talk, in parts) acts; the other actions are recorded in the call detail as not available.

use super::CallActor;
use actix::prelude::*;
use std::time::Duration;
use vpbx_store::model::TalkAction;

/// Inter-digit timeout of talk options.
const INTER_DIGIT: Duration = Duration::from_secs(3);

/// Keys typed so far.
#[derive(Debug, Default)]
pub(super) struct Digits {
    typed: String,
    generation: u64,
}

impl CallActor {
    /// A digit from the employee in the talk.
    pub(super) fn employee_digit(&mut self, digit: char, ctx: &mut Context<Self>) {
        self.talk_digits.typed.push(digit);
        self.talk_digits.generation += 1;
        let generation = self.talk_digits.generation;
        ctx.run_later(INTER_DIGIT, move |act, _| {
            if act.talk_digits.generation == generation {
                act.talk_digits.typed.clear();
            }
        });
        let typed = self.talk_digits.typed.clone();
        let options = &self.snapshot.talk_options;
        if let Some(opt) = options.iter().find(|o| o.keys == typed) {
            let action = opt.action.clone();
            self.talk_digits.typed.clear();
            self.talk_action(&typed, action);
        } else if !options.iter().any(|o| o.keys.starts_with(&typed)) {
            // No option starts like this: start over from this digit.
            self.talk_digits.typed.clear();
            if typed.len() > 1 {
                self.talk_digits.typed.push(digit);
                if !options.iter().any(|o| o.keys.starts_with(digit)) {
                    self.talk_digits.typed.clear();
                }
            }
        }
    }

    fn talk_action(&mut self, keys: &str, action: TalkAction) {
        match action {
            TalkAction::Recorder => {
                let now = self.deps.clock.unix_ms();
                if self.recording.is_some() {
                    self.stop_recording(now);
                    self.note(format!("talk option '{keys}': recording stopped"));
                } else if let Some(m) = self.media.clone() {
                    self.start_recording(&m, now);
                    self.note(format!("talk option '{keys}': recording started"));
                }
            }
            other => self.note(format!(
                "talk option '{keys}' ({other:?}) is not available during calls yet"
            )),
        }
    }
}
