//! The call's media resources: the caller's media session, prompts (files and text-to-speech,
//! loaded once here for scenario prompts, ringback and the voicemail greeting), tones, and the
//! recording parts of the call.

use super::{CallActor, FromMedia, FromParty, PartyEvent};
use crate::core::call::{Listener, PartyId};
use crate::core::scenario::Input as Scenario;
use actix::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use tracing::warn;
use vpbx_media::{MediaHandle, PlayOptions, Prompt as MediaPrompt};
use vpbx_store::model::{CompanyConfig, Event, Prompt};

/// Media correlation id of the call's recording (scenario ids count up from 1).
pub(super) const RECORDING_ID: u64 = u64::MAX;
/// Media id of the ringback loop played to an answered caller.
const RINGBACK_ID: u64 = u64::MAX - 1;
/// Media id of music on hold.
const HOLD_ID: u64 = u64::MAX - 2;

/// A recording part: when it started and its two files, relative to the data directory.
#[derive(Debug, Clone)]
struct Part {
    start_unix_ms: u64,
    stereo: String,
    mono: String,
}

/// Media state of a call that is not a session handle: the configuration its files come from
/// and its recording parts.
pub(super) struct CallMedia {
    snapshot: Arc<CompanyConfig>,
    parts: u32,
    recording: Option<Part>,
    /// Parts stopped whose files the media task is still finishing, with their end.
    closing: VecDeque<(Part, u64)>,
    /// The voicemail in progress.
    pub(super) voicemail: Option<super::voicemail::Voicemail>,
    /// The voice assistant's answer being recorded.
    pub(super) listening: Option<super::speech::Listening>,
}

impl CallMedia {
    pub(super) fn new(snapshot: Arc<CompanyConfig>) -> Self {
        CallMedia {
            snapshot,
            parts: 0,
            recording: None,
            closing: VecDeque::new(),
            voicemail: None,
            listening: None,
        }
    }
}

impl CallActor {
    /// The configuration the call keeps to its end.
    pub(super) fn deps_snapshot(&self) -> &CompanyConfig {
        &self.media.snapshot
    }

    /// Starts the caller's media session once; returns our SDP for the caller.
    pub(super) fn start_caller_media(&mut self, ctx: &mut Context<Self>) -> Option<String> {
        if let Some(sdp) = &self.caller.sdp {
            return Some(sdp.clone());
        }
        let media_leg = self.caller.media_leg.take()?;
        let offer = &self.caller.info.offer;
        let local = media_leg.local_addr();
        let session_id = self.record.start_unix_ms;
        let sdp = vpbx_media::answer(local.ip(), local.port(), offer, session_id, 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = media_leg.start(offer.remote, offer.codec, offer.telephone_event, tx);
        let addr = ctx.address();
        ctx.spawn(
            async move {
                while let Some(ev) = rx.recv().await {
                    addr.do_send(FromMedia(ev));
                }
            }
            .into_actor(self),
        );
        self.caller.media = Some(handle);
        self.caller.sdp = Some(sdp.clone());
        Some(sdp)
    }

    /// Starts a party's media towards its latest description, once.
    pub(super) fn start_party_media(&mut self, id: PartyId, ctx: &mut Context<Self>) {
        let Some(p) = self.parties.get_mut(&id) else {
            return;
        };
        if p.media.is_some() {
            return;
        }
        let (Some(n), Some(media_leg)) = (p.remote, p.media_leg.take()) else {
            return;
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        p.media = Some(media_leg.start(n.remote, n.codec, n.telephone_event, tx));
        let addr = ctx.address();
        ctx.spawn(
            async move {
                while let Some(ev) = rx.recv().await {
                    addr.do_send(FromParty(id, PartyEvent::Media(ev)));
                }
            }
            .into_actor(self),
        );
    }

    /// The media session of a side, if started.
    pub(super) fn media_of(&self, who: Listener) -> Option<MediaHandle> {
        match who {
            Listener::Caller => self.caller.media.clone(),
            Listener::Party(p) => self.parties.get(&p)?.media.clone(),
        }
    }

    /// A file prompt of the configuration, loaded (and cached) by the media engine.
    pub(super) fn load_file(
        &self,
        file: vpbx_store::model::FileId,
    ) -> Result<Arc<MediaPrompt>, String> {
        let meta = self
            .media
            .snapshot
            .file(file)
            .ok_or_else(|| format!("file {file} is not in the file base"))?;
        let path = vpbx_store::files::confine(&self.deps.data_dir, &meta.path)
            .map_err(|e| format!("file {file}: {e}"))?;
        self.deps
            .media
            .prompts()
            .get_or_load(&path)
            .map_err(|e| format!("file {file} ({}): {e}", path.display()))
    }

    /// Plays a scenario prompt to the caller; a failure goes back to the scenario.
    pub(super) fn play(&mut self, id: u64, prompt: Prompt, ctx: &mut Context<Self>) {
        let file = match prompt {
            Prompt::Text { text, voice } => {
                // Spoken off the actor: espeak-ng runs as a subprocess (cached by text and voice).
                let tts = self.deps.tts.clone();
                let voice = voice.unwrap_or_else(|| self.deps.default_voice.clone());
                ctx.spawn(
                    async move { tts.speak(&text, &voice).await }
                        .into_actor(self)
                        .map(move |res, act, ctx| match (res, &act.caller.media) {
                            (Ok(p), Some(media)) => media.play(id, p),
                            (Ok(_), None) => {}
                            (Err(e), _) => {
                                let _g = act.span.clone().entered();
                                warn!(error = %e, "text-to-speech failed; prompt skipped");
                                let why = format!("text-to-speech: {e}");
                                act.feed(Scenario::PlayFailed { id, why }.into(), ctx);
                            }
                        }),
                );
                return;
            }
            Prompt::File { id: file } => file,
        };
        match (self.load_file(file), &self.caller.media) {
            (Ok(p), Some(media)) => media.play(id, p),
            (Ok(_), None) => {
                let why = "no media".to_string();
                self.feed(Scenario::PlayFailed { id, why }.into(), ctx);
            }
            (Err(why), _) => {
                warn!(%why, "prompt not playable");
                self.feed(Scenario::PlayFailed { id, why }.into(), ctx);
            }
        }
    }

    /// Loops a ringback to the caller: the operation's file, else the ringing tone (a text
    /// ringback is not spoken: the tone covers it).
    pub(super) fn ringback(&mut self, prompt: Option<Prompt>) {
        let Some(media) = self.caller.media.clone() else {
            return;
        };
        let custom = match prompt {
            Some(Prompt::File { id }) => match self.load_file(id) {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(error = %e, "ringback file not playable; tone instead");
                    None
                }
            },
            Some(Prompt::Text { .. }) | None => None,
        };
        let prompt = custom.unwrap_or_else(|| Arc::new(vpbx_media::tones::ringback_ru()));
        media.play_sequence(RINGBACK_ID, vec![prompt], looped());
    }

    /// Music on hold to a side.
    pub(super) fn music_on_hold(&mut self, to: Listener) {
        if let Some(m) = self.media_of(to) {
            let moh = Arc::new(vpbx_media::tones::music_on_hold());
            m.play_sequence(HOLD_ID, vec![moh], looped());
        }
    }

    /// Records the call: `recordings/<call>-stereo.wav` (caller left) and `recordings/<call>.wav`
    /// (mono mix) under the data directory; later parts are `<call>-2.wav`, ...
    pub(super) fn start_recording(&mut self) {
        let Some(media) = self.caller.media.clone() else {
            return;
        };
        let dir = self.deps.data_dir.join("recordings");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            warn!(error = %e, "cannot create the recordings directory; call not recorded");
            return;
        }
        self.media.parts += 1;
        let base = if self.media.parts == 1 {
            self.id.0.clone()
        } else {
            format!("{}-{}", self.id, self.media.parts)
        };
        let part = Part {
            start_unix_ms: self.deps.clock.unix_ms(),
            stereo: format!("recordings/{base}-stereo.wav"),
            mono: format!("recordings/{base}.wav"),
        };
        media.start_recording(
            RECORDING_ID,
            vpbx_media::RecordSpec {
                stereo_path: Some(self.deps.data_dir.join(&part.stereo)),
                mono_path: Some(self.deps.data_dir.join(&part.mono)),
            },
        );
        self.event(Event::RecordingStarted {
            path: part.mono.clone(),
        });
        self.media.recording = Some(part);
    }

    /// Stops the recording in progress; its metadata is filed once its files are complete.
    pub(super) fn stop_recording(&mut self) {
        if let Some(part) = self.media.recording.take() {
            if let Some(m) = &self.caller.media {
                m.stop_recording(RECORDING_ID);
            }
            self.event(Event::RecordingStopped {
                path: part.mono.clone(),
            });
            let now = self.deps.clock.unix_ms();
            self.media.closing.push_back((part, now));
        }
    }

    /// A part stopped during the call: its files are complete now.
    pub(super) fn recording_closed(&mut self) {
        if let Some((part, end)) = self.media.closing.pop_front() {
            self.file_recording(part, end);
        }
    }

    /// Files the metadata of the recording in progress and of parts still closing (their files
    /// are finished by the media task when the leg closes).
    pub(super) fn finish_recordings(&mut self, end: u64) {
        let closing: Vec<_> = self.media.closing.drain(..).collect();
        for (part, stopped) in closing {
            self.file_recording(part, stopped);
        }
        if let Some(part) = self.media.recording.take() {
            self.file_recording(part, end);
        }
    }

    fn file_recording(&mut self, part: Part, end: u64) {
        let employee = self.record.employees.first().copied();
        let duration_ms = end.saturating_sub(part.start_unix_ms);
        self.file_media(
            part.start_unix_ms,
            duration_ms,
            employee,
            Some(part.stereo),
            part.mono,
        );
    }

    /// Files the metadata of a finished recording of this call (a part of the talk, or a
    /// voicemail message) with the CDR writer.
    pub(super) fn file_media(
        &mut self,
        start_unix_ms: u64,
        duration_ms: u64,
        employee: Option<vpbx_store::model::EmployeeId>,
        stereo: Option<String>,
        mono: String,
    ) {
        self.deps
            .cdrs
            .write_recording(vpbx_store::recordings::RecordingMeta {
                call_id: self.id.0.clone(),
                numa: self.caller.info.numa.clone(),
                numb: self.caller.info.numb.clone(),
                employee: employee.map(|e| e.0),
                start_unix_ms,
                duration_ms,
                stereo_path: stereo,
                mono_path: Some(mono),
            });
    }
}

fn looped() -> PlayOptions {
    PlayOptions {
        looped: true,
        barge_in: false,
    }
}

impl From<Scenario> for crate::core::call::Input {
    fn from(i: Scenario) -> Self {
        crate::core::call::Input::Scenario(i)
    }
}
