//! The voicemail operation inside a call actor: prompt and beep, then the media task records
//! the caller (mono WAV under `voicemail/`) until silence after speech, hang-up or the maximum;
//! the recording is filed with the call's recordings and the scenario goes on at `next`.
//!
//! When the voicemail ends — message recorded, caller gone during the greeting, or recording
//! failed — and the operation names an `email`, a [`Notice`] goes to the mailer
//! ([`crate::mailer`]), which sends it from a task of its own: the call never waits for the
//! relay. The call detail notes what was handed over.

use super::CallActor;
use crate::core::mail::{Notice, NoticeOutcome};
use crate::core::scenario::Input;
use crate::mailer::Submitted;
use actix::prelude::*;
use std::sync::Arc;
use tracing::warn;
use vpbx_media::{MediaEvent, PlayOptions, VoicemailSpec};
use vpbx_store::model::Event;
use vpbx_store::model::Prompt;

/// A voicemail in progress.
pub(super) struct Voicemail {
    id: u64,
    /// The prompt and beep are playing; recording starts when they end.
    greeting: bool,
    spec: VoicemailSpec,
    /// Relative to the data directory.
    path: String,
    started: Option<u64>,
    email: Option<String>,
}

impl CallActor {
    pub(super) fn start_voicemail(
        &mut self,
        id: u64,
        prompt: Option<Prompt>,
        max_s: u32,
        silence_s: u32,
        email: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let dir = self.deps.data_dir.join("voicemail");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            warn!(error = %e, "cannot create the voicemail directory");
        }
        self.media.voicemail = Some(Voicemail {
            id,
            greeting: true,
            spec: VoicemailSpec {
                max_ms: max_s.saturating_mul(1000),
                silence_ms: silence_s.saturating_mul(1000),
                silence_threshold: 500,
                no_speech_ms: 0,
            },
            path: format!("voicemail/{}.wav", self.id),
            started: None,
            email,
        });
        let beep = Arc::new(vpbx_media::tones::beep());
        match prompt {
            None => self.voicemail_greeting(id, vec![beep]),
            Some(Prompt::File { id: file }) => {
                let loaded = self.load_file(file).ok();
                if loaded.is_none() {
                    self.note(format!("voicemail: file {file} not playable, beep only"));
                }
                self.voicemail_greeting(id, loaded.into_iter().chain([beep]).collect());
            }
            Some(Prompt::Text { text, voice }) => {
                let tts = self.deps.tts.clone();
                let voice = voice.unwrap_or_else(|| self.deps.default_voice.clone());
                ctx.spawn(
                    async move { tts.speak(&text, &voice).await }
                        .into_actor(self)
                        .map(move |res, act, _| {
                            let mut items = Vec::new();
                            match res {
                                Ok(p) => items.push(p),
                                Err(e) => act.note(format!(
                                    "voicemail: text-to-speech failed ({e}), beep only"
                                )),
                            }
                            items.push(beep);
                            act.voicemail_greeting(id, items);
                        }),
                );
            }
        }
    }

    fn voicemail_greeting(&mut self, id: u64, items: Vec<Arc<vpbx_media::Prompt>>) {
        if let Some(media) = &self.caller.media {
            media.play_sequence(
                id,
                items,
                PlayOptions {
                    looped: false,
                    barge_in: false,
                },
            );
        }
    }

    /// Takes the media events that belong to the voicemail; passes the others on.
    pub(super) fn voicemail_event(
        &mut self,
        ev: MediaEvent,
        ctx: &mut Context<Self>,
    ) -> Option<MediaEvent> {
        let Some(vm) = self.media.voicemail.as_mut() else {
            return Some(ev);
        };
        match ev {
            MediaEvent::PlayDone { id } if id == vm.id && vm.greeting => {
                vm.greeting = false;
                let now = self.deps.clock.unix_ms();
                vm.started = Some(now);
                let spec = vm.spec;
                match vpbx_store::files::confine(&self.deps.data_dir, &vm.path) {
                    Ok(path) => {
                        if let Some(media) = &self.caller.media {
                            media.record_voicemail(id, path, spec);
                        }
                        self.note("voicemail: recording after the beep".into());
                    }
                    Err(e) => self.note(format!("voicemail: not recorded: {e}")),
                }
                None
            }
            MediaEvent::VoicemailDone {
                id,
                duration_ms,
                reason,
            } if id == vm.id => {
                self.note(format!(
                    "voicemail: {duration_ms} ms recorded, ended by {reason:?}"
                ));
                let end = self.deps.clock.unix_ms();
                self.finish_voicemail_with(end, Some(duration_ms));
                self.feed(Input::VoicemailDone { id }.into(), ctx);
                None
            }
            MediaEvent::RecordingFailed { id, error } if id == vm.id => {
                self.note(format!("voicemail: recording failed ({error})"));
                if let Some(vm) = self.media.voicemail.take() {
                    self.notify(&vm, NoticeOutcome::RecordingFailed(error));
                }
                self.feed(Input::VoicemailDone { id }.into(), ctx);
                None
            }
            other => Some(other),
        }
    }

    /// Files a voicemail cut short by the end of the call.
    pub(super) fn finish_voicemail(&mut self, end: u64) {
        self.finish_voicemail_with(end, None);
    }

    fn finish_voicemail_with(&mut self, end: u64, duration_ms: Option<u64>) {
        let Some(vm) = self.media.voicemail.take() else {
            return;
        };
        let Some(start) = vm.started else {
            // Hung up during the greeting: no message, but the e-mail still goes (SPEC §3).
            self.notify(&vm, NoticeOutcome::NoMessage);
            return;
        };
        let duration_ms = duration_ms.unwrap_or_else(|| end.saturating_sub(start));
        self.event(Event::Voicemail {
            path: Some(vm.path.clone()),
            duration_ms,
        });
        self.file_media(start, duration_ms, None, None, vm.path.clone());
        self.notify(
            &vm,
            NoticeOutcome::Recorded {
                path: vm.path.clone(),
                duration_ms,
            },
        );
    }

    /// Hands the e-mail of a finished voicemail to the mailer (when the operation asks for one)
    /// and notes it in the call detail.
    fn notify(&mut self, vm: &Voicemail, outcome: NoticeOutcome) {
        let Some(email) = &vm.email else {
            return;
        };
        let notice = Notice {
            call_id: self.id.0.clone(),
            to: Notice::recipients(email),
            caller: self.caller.info.numa.clone(),
            dialled: self.caller.info.numb.clone(),
            at_unix_ms: self.record.start_unix_ms,
            time_zone: self.deps_snapshot().time_zone.clone(),
            outcome,
        };
        let to = notice.to.join(", ");
        let note = match self.deps.mail.submit(notice) {
            Submitted::Queued => format!("voicemail: e-mail to {to} queued"),
            Submitted::Disabled => {
                format!("voicemail: e-mail to {to} not sent: no SMTP relay configured")
            }
            Submitted::NoRecipient => format!("voicemail: no e-mail address in {email:?}"),
            Submitted::Stopped => format!("voicemail: e-mail to {to} not sent: mailer stopped"),
        };
        self.note(note);
    }
}
