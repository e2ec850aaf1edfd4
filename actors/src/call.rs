//! `CallActor`: one per call. A thin shell around [`ScenarioRun`]: it feeds leg and media events
//! into the interpreter and executes the commands that come out. It makes no call decisions.
//!
//! Lifecycle: started by the [`CallSupervisor`](crate::call_supervisor::CallSupervisor) on one of
//! the call arbiters → opens its media leg → runs the scenario → on the scenario's hang-up, the
//! caller's hang-up, a media timeout, a shutdown or a failure it stops. `stopped()` always ends
//! the leg (BYE or final response), closes media, writes the CDR and reports `CallExited` to the
//! supervisor — also after a panic in a handler, which actix turns into a stop of this actor only.

use crate::cdr::CdrSink;
use crate::clock::Clock;
use crate::core::routing::Routed;
use crate::core::scenario::{Command, Ending, Input, ScenarioRun};
use crate::leg::{Dialer, Leg, LegCommand, LegEvent};

mod forwarding;
mod talk_options;
mod voicemail;
use crate::pii::Pii;
use actix::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};
use vpbx_media::{MediaEngine, MediaEvent, MediaHandle, MediaLeg, Prompt as MediaPrompt};
use vpbx_store::model::{
    CallEvent, CallResult, Cdr, CompanyConfig, Event, HangupSide, Prompt, Scenario, Side,
};

/// Media correlation id of the whole-call recording (scenario ids count up from 1).
const RECORDING_ID: u64 = u64::MAX;

/// Our id of a call (unique per box, also used as the tracing span field `call_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub String);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a call actor depends on that is not the call itself.
#[derive(Clone)]
pub struct CallDeps {
    /// RTP sessions and prompts.
    pub media: MediaEngine,
    /// CDR writer.
    pub cdrs: CdrSink,
    /// Data directory (relative file paths are resolved against it).
    pub data_dir: PathBuf,
    /// Wall time.
    pub clock: Arc<dyn Clock>,
    /// Loop guard for scenarios.
    pub step_budget: u32,
    /// Text-to-speech for text prompts.
    pub tts: vpbx_media::Tts,
    /// Voice for text prompts that name none.
    pub default_voice: String,
    /// Outbound legs through the SIP edge.
    pub dialer: Dialer,
    /// Live calls by the SIP Call-IDs of their dialogs (for transfers that name a dialog).
    pub dialogs: DialogIndex,
}

/// Live calls by the SIP Call-IDs of their dialogs.
#[derive(Clone, Default)]
pub struct DialogIndex(Arc<std::sync::Mutex<std::collections::HashMap<String, Addr<CallActor>>>>);

impl DialogIndex {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Addr<CallActor>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Registers a dialog of a call.
    pub fn insert(&self, sip_call_id: String, call: Addr<CallActor>) {
        self.map().insert(sip_call_id, call);
    }
    /// The call holding a dialog.
    pub fn get(&self, sip_call_id: &str) -> Option<Addr<CallActor>> {
        self.map().get(sip_call_id).cloned()
    }
    /// Forgets the dialogs `sip_call_ids` of `call` (an entry another call took over stays).
    pub fn remove(&self, sip_call_ids: &[String], call: &Addr<CallActor>) {
        let mut map = self.map();
        for id in sip_call_ids {
            if map.get(id).is_some_and(|a| a == call) {
                map.remove(id);
            }
        }
    }
    /// Dialogs registered (for tests and metrics).
    pub fn len(&self) -> usize {
        self.map().len()
    }
    /// Whether no dialog is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A routed inbound call, ready to start.
pub struct CallSetup {
    /// Our id.
    pub call_id: CallId,
    /// The inbound leg.
    pub leg: Leg,
    /// The routing decision.
    pub routed: Routed,
    /// The scenario to run (from `snapshot`).
    pub scenario: Arc<Scenario>,
    /// The configuration this call was routed with; it keeps it to the end.
    pub snapshot: Arc<CompanyConfig>,
    /// Number presented on legs to external numbers when the call is a phone's outbound call
    /// (the line's caller ID); `None`: the dialled virtual number (SPEC §5).
    pub outbound_caller_id: Option<String>,
}

/// Sent by a call actor to its supervisor when it stops, for whatever reason.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct CallExited {
    /// Which call.
    pub call_id: CallId,
    /// How it ended.
    pub result: CallResult,
}

/// Ask a call to end because the switch is shutting down.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Fault injection for supervision tests and chaos drills: makes the call actor panic inside a
/// handler, exactly like a bug would. Used by the failure-isolation test.
#[doc(hidden)]
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct InjectFault;

#[derive(Message, Debug)]
#[rtype(result = "()")]
struct FromLeg(LegEvent);

#[derive(Message, Debug)]
#[rtype(result = "()")]
struct FromMedia(MediaEvent);

/// Who ended a call: decides its result and hang-up side together with whether it was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndedBy {
    /// The scenario, a transfer or the switch by design.
    Switch,
    /// The caller hung up or cancelled.
    Caller,
    /// The party in the talk hung up and nothing is left to continue.
    Callee,
    /// Something failed (media, the leg, the scenario, a shutdown before answer).
    Failure,
}

/// The call detail's first steps: the rules skipped and the rule that matched.
fn routing_events(routed: &Routed, at_unix_ms: u64) -> Vec<CallEvent> {
    let skipped = routed.skipped.iter().map(|s| Event::RuleSkipped {
        rule: s.rule,
        name: s.name.clone(),
        why: s.why.clone(),
    });
    skipped
        .chain(std::iter::once(Event::RuleMatched {
            rule: routed.rule,
            name: routed.rule_name.clone(),
        }))
        .map(|what| CallEvent { at_unix_ms, what })
        .collect()
}

/// One call.
pub struct CallActor {
    id: CallId,
    span: tracing::Span,
    deps: CallDeps,
    supervisor: Recipient<CallExited>,
    leg_tx: UnboundedSender<LegCommand>,
    leg_info: crate::leg::LegInfo,
    leg_events: Option<tokio::sync::mpsc::UnboundedReceiver<LegEvent>>,
    leg_open: bool,
    media_leg: Option<MediaLeg>,
    media: Option<MediaHandle>,
    run: ScenarioRun,
    snapshot: Arc<CompanyConfig>,
    routed: Routed,
    events: Vec<CallEvent>,
    /// How the last forward operation ended without a talk (the result of an unanswered call).
    last_forward: Option<crate::core::forward::ForwardOutcome>,
    start_unix_ms: u64,
    answer_unix_ms: Option<u64>,
    outcome: Option<(CallResult, HangupSide, String)>,
    /// Record the call from answer on (the scenario's option).
    record: bool,
    /// The recording in progress: start and the two files, relative to the data directory.
    recording: Option<(u64, String, String)>,
    /// Our SDP answer to the caller, once the caller's media is started.
    caller_sdp: Option<String>,
    /// Whether 180 (or 183) went to the caller.
    caller_ringing: bool,
    /// The forward operation in progress.
    forwarding: Option<forwarding::Forwarding>,
    /// Employees who talked in this call (for the CDR and recordings).
    employees: Vec<vpbx_store::model::EmployeeId>,
    /// See [`CallSetup::outbound_caller_id`].
    outbound_caller_id: Option<String>,
    /// The call joined with this one by an attended transfer (each ends the other).
    joined: Option<Addr<CallActor>>,
    /// The caller's phone transferred this call away: when the talk ends, the call ends.
    caller_transferred: bool,
    /// SIP Call-IDs this call registered in the dialog index.
    dialog_ids: Vec<String>,
    /// Recording parts started so far (the recorder talk option can start several).
    recording_parts: u32,
    /// Parts stopped whose files the media task is still finishing: (start, stereo, mono, end).
    recordings_closing: std::collections::VecDeque<(u64, String, String, u64)>,
    /// The voicemail in progress.
    voicemail: Option<voicemail::Voicemail>,
    /// Digits the employee keyed during the talk, for talk options.
    talk_digits: talk_options::Digits,
}

impl CallActor {
    /// A call actor for `setup`, reporting its exit to `supervisor`.
    pub fn new(setup: CallSetup, deps: CallDeps, supervisor: Recipient<CallExited>) -> Self {
        let span = tracing::info_span!("call", call_id = %setup.call_id);
        let start_unix_ms = deps.clock.unix_ms();
        let record = setup.scenario.record;
        let run = ScenarioRun::new(setup.scenario.clone(), deps.step_budget);
        let Leg {
            info,
            commands,
            events,
        } = setup.leg;
        CallActor {
            id: setup.call_id,
            span,
            deps,
            supervisor,
            leg_tx: commands,
            leg_info: info,
            leg_events: Some(events),
            leg_open: true,
            media_leg: None,
            media: None,
            run,
            snapshot: setup.snapshot,
            events: routing_events(&setup.routed, start_unix_ms),
            last_forward: None,
            routed: setup.routed,
            start_unix_ms,
            answer_unix_ms: None,
            outcome: None,
            record,
            recording: None,
            caller_sdp: None,
            caller_ringing: false,
            forwarding: None,
            employees: Vec::new(),
            outbound_caller_id: setup.outbound_caller_id,
            joined: None,
            caller_transferred: false,
            dialog_ids: Vec::new(),
            recording_parts: 0,
            recordings_closing: Default::default(),
            voicemail: None,
            talk_digits: Default::default(),
        }
    }

    fn execute(&mut self, commands: Vec<Command>, ctx: &mut Context<Self>) {
        for command in commands {
            if self.outcome.is_some() {
                return;
            }
            match command {
                Command::Event(what) => self.event(what),
                Command::Answer => self.answer(ctx),
                Command::Play { id, prompt } => self.play(id, prompt, ctx),
                Command::Forward { id, forward } => self.forward(id, forward, ctx),
                Command::Voicemail {
                    id,
                    prompt,
                    max_s,
                    silence_s,
                    email,
                } => self.start_voicemail(id, prompt, max_s, silence_s, email, ctx),
                Command::Ring { id, ms } => {
                    self.ring_caller();
                    ctx.run_later(Duration::from_millis(u64::from(ms)), move |act, ctx| {
                        let cmds = act.run.handle(Input::TimerFired { id });
                        act.execute(cmds, ctx);
                    });
                }
                Command::Silence { id, ms } => {
                    if let Some(media) = &self.media {
                        media.play(id, Arc::new(MediaPrompt::silence(ms)));
                    }
                }
                Command::Echo { id, max_s } => {
                    if let Some(media) = &self.media {
                        media.echo(id, Duration::from_secs(u64::from(max_s)));
                    }
                }
                Command::Hangup { reason } => {
                    let by = match reason {
                        Ending::Finished(_) => EndedBy::Switch,
                        Ending::Broken(_) => EndedBy::Failure,
                    };
                    self.end(by, reason.reason().to_string(), ctx);
                }
            }
        }
    }

    /// Starts the caller's media session once; returns our SDP for the caller.
    fn start_caller_media(&mut self, ctx: &mut Context<Self>) -> Option<String> {
        if let Some(sdp) = &self.caller_sdp {
            return Some(sdp.clone());
        }
        let media_leg = self.media_leg.take()?;
        let offer = &self.leg_info.offer;
        let local = media_leg.local_addr();
        let session_id = self.start_unix_ms;
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
        self.media = Some(handle);
        self.caller_sdp = Some(sdp.clone());
        Some(sdp)
    }

    /// 180 Ringing to the caller, once.
    fn ring_caller(&mut self) {
        if !self.caller_ringing && self.answer_unix_ms.is_none() {
            self.caller_ringing = true;
            self.send_leg(LegCommand::Ring);
        }
    }

    /// Answers the caller (200 with our SDP); idempotent.
    fn answer(&mut self, ctx: &mut Context<Self>) {
        if self.answer_unix_ms.is_some() {
            return;
        }
        let Some(sdp) = self.start_caller_media(ctx) else {
            self.end(EndedBy::Failure, "no media leg to answer with".into(), ctx);
            return;
        };
        self.send_leg(LegCommand::Answer { sdp });
        let now = self.deps.clock.unix_ms();
        self.answer_unix_ms = Some(now);
        if self.record {
            if let Some(handle) = self.media.clone() {
                self.start_recording(&handle, now);
            }
        }
    }

    fn play(&mut self, id: u64, prompt: Prompt, ctx: &mut Context<Self>) {
        if let Prompt::Text { text, voice } = prompt {
            // Spoken off the actor: espeak-ng runs as a subprocess (cached by text and voice).
            let tts = self.deps.tts.clone();
            let voice = voice.unwrap_or_else(|| self.deps.default_voice.clone());
            ctx.spawn(
                async move { tts.speak(&text, &voice).await }
                    .into_actor(self)
                    .map(move |res, act, ctx| match (res, &act.media) {
                        (Ok(p), Some(media)) => media.play(id, p),
                        (Ok(_), None) => {}
                        (Err(e), _) => {
                            let _g = act.span.clone().entered();
                            warn!(error = %e, "text-to-speech failed; prompt skipped");
                            let cmds = act.run.handle(Input::PlayFailed {
                                id,
                                why: format!("text-to-speech: {e}"),
                            });
                            act.execute(cmds, ctx);
                        }
                    }),
            );
            return;
        }
        let loaded = match &prompt {
            Prompt::File { id: file } => match self.snapshot.file(*file) {
                Some(meta) => {
                    let path = self.deps.data_dir.join(&meta.path);
                    self.deps
                        .media
                        .prompts()
                        .get_or_load(&path)
                        .map_err(|e| format!("file {file} ({}): {e}", path.display()))
                }
                None => Err(format!("file {file} is not in the file base")),
            },
            Prompt::Text { .. } => Err("unreachable: text prompts are spoken above".into()),
        };
        match (loaded, &self.media) {
            (Ok(p), Some(media)) => media.play(id, p),
            (Ok(_), None) => {
                let cmds = self.run.handle(Input::PlayFailed {
                    id,
                    why: "no media".into(),
                });
                self.execute(cmds, ctx);
            }
            (Err(why), _) => {
                warn!(%why, "prompt not playable");
                let cmds = self.run.handle(Input::PlayFailed { id, why });
                self.execute(cmds, ctx);
            }
        }
    }

    /// Records the whole call: `recordings/<call>-stereo.wav` (caller left) and
    /// `recordings/<call>.wav` (mono mix) under the data directory.
    fn start_recording(&mut self, media: &MediaHandle, now: u64) {
        let dir = self.deps.data_dir.join("recordings");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            warn!(error = %e, "cannot create the recordings directory; call not recorded");
            return;
        }
        // The first part of a call is `<call>.wav`; parts started later by the recorder talk
        // option are `<call>-2.wav`, `<call>-3.wav`, ...
        self.recording_parts += 1;
        let base = if self.recording_parts == 1 {
            self.id.0.clone()
        } else {
            format!("{}-{}", self.id, self.recording_parts)
        };
        let stereo = format!("recordings/{base}-stereo.wav");
        let mono = format!("recordings/{base}.wav");
        media.start_recording(
            RECORDING_ID,
            vpbx_media::RecordSpec {
                stereo_path: Some(self.deps.data_dir.join(&stereo)),
                mono_path: Some(self.deps.data_dir.join(&mono)),
            },
        );
        self.note("recording started".into());
        self.recording = Some((now, stereo, mono));
    }

    /// Files the metadata of the recording in progress and of parts still closing (their files
    /// are finished by the media task when the leg closes).
    fn finish_recording(&mut self, end: u64) {
        let closing: Vec<_> = self.recordings_closing.drain(..).collect();
        for (start, stereo, mono, stopped) in closing {
            self.file_recording(start, stereo, mono, stopped);
        }
        if let Some((start, stereo, mono)) = self.recording.take() {
            self.file_recording(start, stereo, mono, end);
        }
    }

    /// Stops the recording in progress; its metadata is filed once its files are complete.
    fn stop_recording(&mut self, now: u64) {
        if let Some((start, stereo, mono)) = self.recording.take() {
            if let Some(m) = &self.media {
                m.stop_recording(RECORDING_ID);
            }
            self.recordings_closing
                .push_back((start, stereo, mono, now));
        }
    }

    fn file_recording(&mut self, start: u64, stereo: String, mono: String, end: u64) {
        self.deps
            .cdrs
            .write_recording(vpbx_store::recordings::RecordingMeta {
                call_id: self.id.0.clone(),
                numa: self.leg_info.numa.clone(),
                numb: self.leg_info.numb.clone(),
                employee: self.employees.first().map(|e| e.0),
                start_unix_ms: start,
                duration_ms: end.saturating_sub(start),
                stereo_path: Some(stereo),
                mono_path: Some(mono),
            });
    }

    /// Makes one of this call's dialogs findable by transfers that name it.
    fn register_dialog(&mut self, sip_call_id: String, ctx: &mut Context<Self>) {
        self.deps.dialogs.insert(sip_call_id.clone(), ctx.address());
        self.dialog_ids.push(sip_call_id);
    }

    /// Adds a step to the call detail.
    fn event(&mut self, what: Event) {
        let at_unix_ms = self.deps.clock.unix_ms();
        self.events.push(CallEvent { at_unix_ms, what });
    }

    /// Adds a step in words to the call detail.
    fn note(&mut self, text: String) {
        self.event(Event::Note(text));
    }

    fn send_leg(&mut self, cmd: LegCommand) {
        if self.leg_open && self.leg_tx.send(cmd).is_err() {
            self.leg_open = false;
        }
    }

    /// Ends the call once: hang up the leg, close media, stop. The CDR is written in `stopped()`.
    fn end(&mut self, by: EndedBy, reason: String, ctx: &mut Context<Self>) {
        if self.outcome.is_some() {
            return;
        }
        let answered = self.answer_unix_ms.is_some();
        let result = match by {
            EndedBy::Failure => CallResult::Failed,
            _ if answered => CallResult::Answered,
            EndedBy::Caller => CallResult::Abandoned,
            _ => match self.last_forward {
                Some(crate::core::forward::ForwardOutcome::Busy) => CallResult::Busy,
                _ => CallResult::NotAnswered,
            },
        };
        let side = match by {
            EndedBy::Caller => HangupSide::Caller,
            EndedBy::Callee => HangupSide::Callee,
            EndedBy::Switch | EndedBy::Failure => HangupSide::Switch,
        };
        info!(result = result.as_str(), %reason, "call ending");
        if side != HangupSide::Caller {
            self.send_leg(LegCommand::Hangup {
                reason: reason.clone(),
            });
        }
        self.leg_open = false;
        self.drop_forwarding(&reason);
        self.outcome = Some((result, side, reason));
        ctx.stop();
    }
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        self.register_dialog(self.leg_info.sip_call_id.clone(), ctx);
        info!(
            numa = %Pii(&self.leg_info.numa),
            numb = %self.leg_info.numb,
            rule = %self.routed.rule,
            "call started"
        );
        if let Some(mut events) = self.leg_events.take() {
            let addr = ctx.address();
            ctx.spawn(
                async move {
                    while let Some(ev) = events.recv().await {
                        addr.do_send(FromLeg(ev));
                    }
                }
                .into_actor(self),
            );
        }
        let engine = self.deps.media.clone();
        ctx.wait(
            async move { engine.open_leg().await }
                .into_actor(self)
                .map(|res, act, ctx| {
                    let _g = act.span.clone().entered();
                    match res {
                        Ok(leg) => {
                            act.media_leg = Some(leg);
                            let cmds = act.run.start();
                            act.execute(cmds, ctx);
                        }
                        Err(e) => {
                            warn!(error = %e, "no media for the call");
                            act.send_leg(LegCommand::Reject {
                                code: 503,
                                reason: format!("media unavailable: {e}"),
                            });
                            act.end(EndedBy::Failure, format!("media unavailable: {e}"), ctx);
                        }
                    }
                }),
        );
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        self.deps.dialogs.remove(&self.dialog_ids, &ctx.address());
        if let Some(partner) = self.joined.take() {
            partner.do_send(forwarding::PartnerEnded);
        }
        let (result, hangup, reason) = self.outcome.take().unwrap_or_else(|| {
            (
                CallResult::Failed,
                HangupSide::Switch,
                "call actor failed; call ended by its supervisor policy".to_string(),
            )
        });
        if self.leg_open {
            // Not ended through `end()`: the actor failed. End the leg cleanly: BYE when
            // answered, a 500 final response when not.
            self.leg_open = false;
            let cmd = if self.answer_unix_ms.is_some() {
                LegCommand::Hangup {
                    reason: reason.clone(),
                }
            } else {
                LegCommand::Reject {
                    code: 500,
                    reason: reason.clone(),
                }
            };
            let _ = self.leg_tx.send(cmd);
        }
        self.drop_forwarding(&reason);
        if let Some(media) = self.media.take() {
            let st = media.stats();
            self.event(Event::Rtp {
                sent: st.packets_sent,
                sent_bytes: st.bytes_sent,
                received: st.packets_received,
                received_bytes: st.bytes_received,
                lost: st.packets_lost,
                late: st.packets_late,
                jitter_ms: st.jitter_ms(),
            });
            // Closing finishes the recording's files before the media task ends.
            media.close();
        }
        let end = self.deps.clock.unix_ms();
        self.finish_recording(end);
        self.finish_voicemail(end);
        self.media_leg = None;
        self.deps.cdrs.write(Cdr {
            call_id: self.id.0.clone(),
            sip_call_id: self.leg_info.sip_call_id.clone(),
            numa: self.leg_info.numa.clone(),
            numb: self.leg_info.numb.clone(),
            start_unix_ms: self.start_unix_ms,
            answer_unix_ms: self.answer_unix_ms,
            end_unix_ms: end,
            result,
            hangup,
            reason: reason.clone(),
            events: std::mem::take(&mut self.events),
        });
        info!(result = result.as_str(), %reason, "call finished");
        self.supervisor.do_send(CallExited {
            call_id: self.id.clone(),
            result,
        });
    }
}

impl Handler<FromLeg> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: FromLeg, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        match msg.0 {
            LegEvent::Confirmed => self.note("answer acknowledged".into()),
            LegEvent::Cancelled => {
                self.leg_open = false;
                self.end(EndedBy::Caller, "caller cancelled".into(), ctx);
            }
            LegEvent::RemoteHangup => {
                self.leg_open = false;
                self.end(EndedBy::Caller, "caller hung up".into(), ctx);
            }
            LegEvent::Failed(why) => {
                self.leg_open = false;
                self.end(EndedBy::Failure, format!("leg failed: {why}"), ctx);
            }
            LegEvent::Ended => self.leg_open = false,
            LegEvent::Dtmf { digit, duration_ms } => {
                self.event(Event::Digit {
                    side: Side::Caller,
                    digit,
                    duration_ms,
                    sip_info: true,
                });
            }
            LegEvent::RemoteMedia { offer } => {
                self.event(Event::MediaMoved {
                    side: Side::Caller,
                    to: format!("{} ({})", offer.remote, offer.direction.as_str()),
                });
                if let Some(media) = &self.media {
                    media.set_remote(offer.remote);
                }
                self.caller_media_changed(&offer);
            }
            LegEvent::Refer {
                target,
                replaces: Some(r),
            } => {
                self.note(format!("caller: attended transfer to {target}"));
                let party = self.talk_media();
                self.join_with(r, party, forwarding::TransferFrom::Caller, ctx);
            }
            LegEvent::Refer {
                target,
                replaces: None,
            } => {
                self.note(format!(
                    "caller: blind transfer to {target} refused (only the answering side may transfer blind)"
                ));
            }
            // Outbound-only events never come from the inbound leg.
            LegEvent::Ringing { .. } | LegEvent::Answered { .. } | LegEvent::Rejected { .. } => {}
        }
    }
}

impl Handler<FromMedia> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: FromMedia, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        let msg = match self.voicemail_event(msg.0, ctx) {
            Some(ev) => FromMedia(ev),
            None => return,
        };
        let input = match msg.0 {
            MediaEvent::PlayDone { id } => Input::PlayDone { id },
            MediaEvent::EchoDone { id } => Input::EchoDone { id },
            MediaEvent::PlayInterrupted { id, digit } => {
                self.note(format!("prompt interrupted by '{digit}'"));
                Input::PlayDone { id }
            }
            MediaEvent::Dtmf { digit, duration_ms } => {
                // No operation collects digits yet (menus arrive with the scenario work): the
                // digit goes into the call detail.
                self.event(Event::Digit {
                    side: Side::Caller,
                    digit,
                    duration_ms,
                    sip_info: false,
                });
                return;
            }
            MediaEvent::Timeout => {
                self.end(EndedBy::Failure, "media timeout".into(), ctx);
                return;
            }
            MediaEvent::RecordingFailed { id, error } => {
                warn!(id, %error, "recording failed");
                return;
            }
            MediaEvent::RecordingDone { id, .. } if id == RECORDING_ID => {
                // A part stopped during the call: its files are complete now.
                if let Some((start, stereo, mono, end)) = self.recordings_closing.pop_front() {
                    self.file_recording(start, stereo, mono, end);
                }
                return;
            }
            MediaEvent::Closed => return,
            other => {
                tracing::debug!(event = ?other, "media event not used by this call");
                return;
            }
        };
        let cmds = self.run.handle(input);
        self.execute(cmds, ctx);
    }
}

impl Handler<Shutdown> for CallActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        if self.answer_unix_ms.is_none() {
            self.send_leg(LegCommand::Reject {
                code: 503,
                reason: "switch shutting down".into(),
            });
        }
        let by = if self.answer_unix_ms.is_some() {
            EndedBy::Switch
        } else {
            EndedBy::Failure
        };
        self.end(by, "switch shutting down".into(), ctx);
    }
}

impl Handler<InjectFault> for CallActor {
    type Result = ();
    fn handle(&mut self, _: InjectFault, _ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        // Deliberate: this is the fault the supervision test injects.
        #[allow(clippy::panic)]
        {
            panic!("injected fault in call {}", self.id);
        }
    }
}
