//! The voicemail operation inside a call actor: prompt and beep, then the media task records
//! the caller (mono WAV under `voicemail/`) until silence after speech, hang-up or the maximum;
//! the recording is filed with the call's recordings and the scenario goes on at `next`.
//!
//! There is no mail relay on the box yet: the notification SPEC §3 asks for is recorded in the
//! call detail (address, caller, time) so it can be sent once a relay is configured.

use super::CallActor;
use crate::core::scenario::Input;
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
                self.media.voicemail = None;
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
            // Hung up during the greeting: no message.
            if let Some(to) = &vm.email {
                self.note(format!(
                    "voicemail: no message; notification for {to} pending (no mail relay configured)"
                ));
            }
            return;
        };
        let duration_ms = duration_ms.unwrap_or_else(|| end.saturating_sub(start));
        self.event(Event::Voicemail {
            path: Some(vm.path.clone()),
            duration_ms,
        });
        self.file_media(start, duration_ms, None, None, vm.path.clone());
        if let Some(to) = &vm.email {
            self.note(format!(
                "voicemail: notification for {to} (caller {}, {duration_ms} ms) pending (no mail relay configured)",
                self.caller.info.numa
            ));
        }
    }
}
