//! The voice assistant inside a call actor: the media task records the caller's answer (a mono
//! 8 kHz WAV under `speech/`, ended by the silence after the answer, by `listen_ms` without a
//! word, or at the longest answer), then the recording is posted to the speech service as a
//! future on the actor's context and the result goes back to the core. The file is removed
//! once sent. The call never waits on the service: the core's guard timer takes
//! `not_recognised` should the result never come.

use super::CallActor;
use crate::core::call::Input;
use crate::core::scenario::{Input as Scenario, SpeechAsk, SpeechResult};
use crate::webhook::Sent;
use actix::prelude::*;
use std::path::PathBuf;
use std::time::Duration;
use tracing::debug;
use vpbx_media::{MediaEvent, VoicemailReason, VoicemailSpec};

/// A voice assistant's answer being recorded.
pub(super) struct Listening {
    id: u64,
    ask: SpeechAsk,
    url: String,
    path: PathBuf,
}

impl CallActor {
    pub(super) fn listen(&mut self, id: u64, ask: SpeechAsk, ctx: &mut Context<Self>) {
        let done = |act: &mut Self, result, ctx: &mut Context<Self>| {
            act.feed(Input::Scenario(Scenario::SpeechDone { id, result }), ctx);
        };
        let Some(url) = self.deps.speech_url.clone() else {
            return done(self, SpeechResult::NotConfigured, ctx);
        };
        let Some(media) = self.caller.media.clone() else {
            let result = SpeechResult::Failed {
                why: "no media session to listen on".into(),
                audio_ms: 0,
                time_ms: 0,
            };
            return done(self, result, ctx);
        };
        let dir = self.deps.data_dir.join("speech");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let result = SpeechResult::Failed {
                why: format!("cannot create {}: {e}", dir.display()),
                audio_ms: 0,
                time_ms: 0,
            };
            return done(self, result, ctx);
        }
        let path = dir.join(format!("{}-{id}.wav", self.id));
        media.record_voicemail(
            id,
            path.clone(),
            VoicemailSpec {
                max_ms: ask.listen_ms.saturating_add(ask.max_ms),
                silence_ms: ask.silence_ms,
                silence_threshold: 500,
                no_speech_ms: ask.listen_ms,
            },
        );
        self.media.listening = Some(Listening { id, ask, url, path });
    }

    /// Takes the media events that belong to the answer being recorded; passes the others on.
    pub(super) fn speech_event(
        &mut self,
        ev: MediaEvent,
        ctx: &mut Context<Self>,
    ) -> Option<MediaEvent> {
        let Some(l) = self.media.listening.as_ref() else {
            return Some(ev);
        };
        match ev {
            MediaEvent::VoicemailDone {
                id,
                duration_ms,
                reason,
            } if id == l.id => {
                let l = self.media.listening.take()?;
                if reason == VoicemailReason::NoSpeech {
                    let _ = std::fs::remove_file(&l.path);
                    let result = SpeechResult::NoSpeech {
                        audio_ms: duration_ms,
                    };
                    self.feed(Input::Scenario(Scenario::SpeechDone { id, result }), ctx);
                } else {
                    self.recognise(l, duration_ms, ctx);
                }
                None
            }
            MediaEvent::RecordingFailed { id, error } if id == l.id => {
                let l = self.media.listening.take()?;
                let _ = std::fs::remove_file(&l.path);
                let result = SpeechResult::Failed {
                    why: format!("the answer could not be recorded ({error})"),
                    audio_ms: 0,
                    time_ms: 0,
                };
                self.feed(Input::Scenario(Scenario::SpeechDone { id, result }), ctx);
                None
            }
            other => Some(other),
        }
    }

    /// Posts the recorded answer and feeds the result back.
    fn recognise(&mut self, l: Listening, audio_ms: u64, ctx: &mut Context<Self>) {
        let Listening { id, ask, url, path } = l;
        let wav = std::fs::read(&path);
        let _ = std::fs::remove_file(&path);
        let wav = match wav {
            Ok(w) => w,
            Err(e) => {
                let result = SpeechResult::Failed {
                    why: format!("the recorded answer could not be read ({e})"),
                    audio_ms,
                    time_ms: 0,
                };
                self.feed(Input::Scenario(Scenario::SpeechDone { id, result }), ctx);
                return;
            }
        };
        let boundary = format!("vpbx-answer-{}-{id}-7f3a91c2e5d8", self.id);
        let (content_type, body) = ask.body(&boundary, &wav);
        let timeout = Duration::from_millis(u64::from(ask.timeout_ms));
        let sent_at = self.deps.clock.now();
        debug!(audio_ms, bytes = body.len(), "speech request");
        ctx.spawn(
            async move { crate::speech::post(&url, content_type, body, timeout).await }
                .into_actor(self)
                .map(move |sent, act, ctx| {
                    let _g = act.span.clone().entered();
                    let time_ms = u64::try_from(
                        act.deps
                            .clock
                            .now()
                            .saturating_duration_since(sent_at)
                            .as_millis(),
                    )
                    .unwrap_or(u64::MAX);
                    let result = match sent {
                        Sent::Reply { status, body } => SpeechResult::Replied {
                            status,
                            body,
                            audio_ms,
                            time_ms,
                        },
                        Sent::TimedOut => SpeechResult::TimedOut { audio_ms, time_ms },
                        Sent::Failed(why) => SpeechResult::Failed {
                            why,
                            audio_ms,
                            time_ms,
                        },
                    };
                    debug!(time_ms, "speech result");
                    act.feed(Input::Scenario(Scenario::SpeechDone { id, result }), ctx);
                }),
        );
    }

    /// Removes the file of an answer cut short by the end of the call.
    pub(super) fn finish_listening(&mut self) {
        if let Some(l) = self.media.listening.take() {
            let _ = std::fs::remove_file(&l.path);
        }
    }
}
