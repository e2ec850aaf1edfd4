//! `CallActor`: one per call, a thin shell around the pure [`CallCore`]. Its handlers turn leg,
//! media and partner events into core inputs with the monotonic time; `call/exec.rs` carries out the
//! core's effects (the only place effects happen); one `run_later` follows the core's next
//! deadline. The actor owns resources only — the caller's leg and media, the outbound parties'
//! legs and media, recordings, the call record being written — and makes no call decisions.
//!
//! Lifecycle: started by the [`CallSupervisor`](crate::call_supervisor::CallSupervisor) on one of
//! the call arbiters → opens its media leg → starts the core → stops when the core says the call
//! is over, or on a failure. `stopped()` always ends the caller's leg (BYE or final response),
//! releases every party, closes media, writes the CDR and reports `CallExited` to the supervisor —
//! also after a panic in a handler, which actix turns into a stop of this actor only.

use crate::cdr::CdrSink;
use crate::clock::Clock;
use crate::core::call::{CallCore, CallInfo, Dialog, Effect, Identity, Input, PartyId, Signal};
use crate::core::routing::Routed;
use crate::leg::{Dialer, Leg, LegCommand, LegEvent, LegInfo, Replaces};
use crate::pii::Pii;
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};
use vpbx_media::{
    BridgeHandle, Direction, MediaEngine, MediaEvent, MediaHandle, MediaLeg, Negotiated,
};
use vpbx_store::model::{
    CallEvent, CallResult, Cdr, CompanyConfig, EmployeeId, Event, HangupSide, Scenario,
};

mod acd;
mod exec;
mod media;
pub mod origin;
mod speech;
mod voicemail;
mod webhook;

/// Our id of a call (unique per box, also used as the tracing span field `call_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub String);

impl CallId {
    /// A fresh random id (16 hex digits) for a call the switch places itself.
    pub fn fresh() -> CallId {
        use std::hash::{BuildHasher, Hasher};
        static PLACED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(PLACED.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        CallId(format!("{:016x}", h.finish()))
    }
}

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
    /// The distributor (agent lines, queues).
    pub dist: crate::dist::DistLink,
    /// Voicemail e-mail (the default has no relay: notices are logged as not sent).
    pub mail: crate::mailer::MailLink,
    /// The store, for what a call looks up (the repeat-call branch's call records).
    pub store: Option<vpbx_store::Store>,
    /// The speech service of voice assistants (`http(s)://...`; none: they take
    /// `not_recognised`).
    pub speech_url: Option<String>,
    /// The numbering-plan registry files region branches read.
    pub numbering: crate::numbering::NumberingLink,
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

/// A routed inbound call, or a call the switch places itself, ready to start.
pub struct CallSetup {
    /// Our id.
    pub call_id: CallId,
    /// The inbound leg ([`Leg::unplaced`] when the switch places it: see `origin`).
    pub leg: Leg,
    /// The routing decision (`None`: the switch placed the call).
    pub routed: Option<Routed>,
    /// The scenario to run (from `snapshot`).
    pub scenario: Arc<Scenario>,
    /// The configuration this call was routed with; it keeps it to the end.
    pub snapshot: Arc<CompanyConfig>,
    /// Number presented on legs to external numbers when the call is a phone's outbound call
    /// (the line's caller ID); `None`: the dialled virtual number (SPEC §5).
    pub outbound_caller_id: Option<String>,
    /// The line that placed the call, when a phone of the box did.
    pub caller_line: Option<crate::core::call::CallerLine>,
    /// The switch places the caller's leg itself (a queue callback, the call API).
    pub origin: Option<origin::Origin>,
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

/// The caller's side: its leg and its media.
struct Caller {
    info: LegInfo,
    commands: UnboundedSender<LegCommand>,
    /// Until the event pump starts.
    events: Option<tokio::sync::mpsc::UnboundedReceiver<LegEvent>>,
    /// Whether the leg still takes commands.
    open: bool,
    /// Until the caller's media starts.
    media_leg: Option<MediaLeg>,
    media: Option<MediaHandle>,
    /// Our SDP answer, once the caller's media is started.
    sdp: Option<String>,
    /// The caller's bridge to a party.
    bridge: Option<BridgeHandle>,
    /// The switch places this leg: until it is dialled (then `placing` says it rings).
    origin: Option<origin::Origin>,
    /// The leg being placed rings (its target).
    placing: Option<crate::core::call::DialTarget>,
    /// The switch placed this leg (an outbound dialog): it is never rung, answered or
    /// rejected, only hung up.
    dialled: bool,
}

/// One outbound party's resources.
struct Party {
    commands: UnboundedSender<LegCommand>,
    /// Until its media starts.
    media_leg: Option<MediaLeg>,
    media: Option<MediaHandle>,
    /// Its latest media description (early media, answer, re-INVITE).
    remote: Option<Negotiated>,
    employee: Option<EmployeeId>,
}

impl Party {
    /// Ends the leg (CANCEL before answer, BYE after; the edge sends a pending REFER's final
    /// NOTIFY first) and closes its media.
    fn release(self, why: &str) {
        let _ = self
            .commands
            .send(LegCommand::Hangup { reason: why.into() });
        if let Some(m) = self.media {
            m.close();
        }
    }
}

impl Party {
    /// Ends a leg that was ringing when another phone answered (its CANCEL says so) and
    /// closes its media.
    fn lose(self) {
        let _ = self.commands.send(LegCommand::CompletedElsewhere);
        if let Some(m) = self.media {
            m.close();
        }
    }
}

/// The call record being written.
struct Record {
    start_unix_ms: u64,
    answer_unix_ms: Option<u64>,
    events: Vec<CallEvent>,
    /// Set when the core ended the call.
    outcome: Option<(CallResult, HangupSide, String)>,
    /// Employees who talked in this call (for the recordings).
    employees: Vec<EmployeeId>,
}

#[derive(Message, Debug)]
#[rtype(result = "()")]
struct FromLeg(LegEvent);

#[derive(Message, Debug)]
#[rtype(result = "()")]
struct FromMedia(MediaEvent);

/// An event of an outbound party's leg or media.
#[derive(Message, Debug)]
#[rtype(result = "()")]
struct FromParty(PartyId, PartyEvent);

#[derive(Debug)]
enum PartyEvent {
    Leg(LegEvent),
    Media(MediaEvent),
}

/// Another call's attended transfer names one of this call's dialogs: the leg of that dialog
/// ends and this call's remaining side is bridged to `media`. Answers this call's address and
/// who its remaining side is (display name, number).
#[derive(Message)]
#[rtype(result = "Result<(Addr<CallActor>, Identity), String>")]
struct JoinRequest {
    replaces: Replaces,
    partner: Addr<CallActor>,
    media: MediaHandle,
    /// Who the requesting call keeps (display name, number), for this call's remaining phone.
    identity: Identity,
}

/// The call this one is joined with (attended transfer) ended.
#[derive(Message)]
#[rtype(result = "()")]
struct PartnerEnded;

/// One call.
pub struct CallActor {
    id: CallId,
    span: tracing::Span,
    deps: CallDeps,
    supervisor: Recipient<CallExited>,
    core: CallCore,
    caller: Caller,
    parties: HashMap<PartyId, Party>,
    /// Parties whose media leg is being opened before dialling.
    dialling: std::collections::HashSet<PartyId>,
    media: media::CallMedia,
    record: Record,
    /// The armed timer: the core's deadline it follows.
    timer: Option<(Instant, SpawnHandle)>,
    /// The call joined with this one by an attended transfer (each ends the other).
    joined: Option<Addr<CallActor>>,
    /// SIP Call-IDs this call registered in the dialog index.
    dialog_ids: Vec<String>,
    /// This call's key at the distributor.
    key: crate::core::dist::board::CallKey,
    /// Agent lines the parties hold.
    agents: HashMap<PartyId, acd::AgentHold>,
    /// The queue the call waits in.
    waiting: Option<acd::Waiting>,
}

impl CallActor {
    /// A call actor for `setup`, reporting its exit to `supervisor`.
    pub fn new(setup: CallSetup, deps: CallDeps, supervisor: Recipient<CallExited>) -> Self {
        let span = tracing::info_span!("call", call_id = %setup.call_id);
        let start_unix_ms = deps.clock.unix_ms();
        let callback = setup.origin.as_ref().and_then(|o| o.callback.clone());
        let key = callback
            .as_ref()
            .map_or_else(|| deps.dist.next_key(), |c| c.key);
        let Leg {
            info,
            commands,
            events,
        } = setup.leg;
        let core = CallCore::new(
            CallInfo {
                call_id: setup.call_id.0.clone(),
                numa: info.numa.clone(),
                numb: info.numb.clone(),
                dialog: Dialog {
                    call_id: info.sip_call_id.clone(),
                    local_tag: info.local_tag.clone(),
                    remote_tag: info.remote_tag.clone(),
                },
                outbound_caller_id: setup.outbound_caller_id,
                caller_line: setup.caller_line,
                start_unix_ms,
                originated: setup.origin.is_some(),
                resume_at: callback.as_ref().map(|c| c.op.clone()),
            },
            setup.scenario,
            setup.snapshot.clone(),
            deps.step_budget,
        )
        .with_registries(deps.numbering.current());
        CallActor {
            media: media::CallMedia::new(setup.snapshot),
            record: Record {
                start_unix_ms,
                answer_unix_ms: None,
                events: match (&setup.routed, &setup.origin) {
                    (Some(r), _) => routing_events(r, start_unix_ms),
                    (None, Some(o)) => o.events(start_unix_ms),
                    (None, None) => Vec::new(),
                },
                outcome: None,
                employees: Vec::new(),
            },
            id: setup.call_id,
            span,
            deps,
            supervisor,
            core,
            caller: Caller {
                info,
                commands,
                events: Some(events),
                open: setup.origin.is_none(),
                media_leg: None,
                media: None,
                sdp: None,
                bridge: None,
                placing: None,
                dialled: setup.origin.is_some(),
                origin: setup.origin,
            },
            parties: HashMap::new(),
            dialling: Default::default(),
            timer: None,
            joined: None,
            dialog_ids: Vec::new(),
            key,
            agents: HashMap::new(),
            waiting: callback.map(|c| acd::Waiting::kept(c.seq, c.request)),
        }
    }

    /// Feeds one input to the core and carries out what it asks.
    fn feed(&mut self, input: Input, ctx: &mut Context<Self>) {
        let fx = self.core.handle(self.deps.clock.now(), input);
        self.apply(fx, ctx);
    }

    /// Carries out effects in order (an effect that feeds the core queues the new ones), then
    /// re-arms the one timer if the core's next deadline changed.
    fn apply(&mut self, fx: Vec<Effect>, ctx: &mut Context<Self>) {
        let mut queue: VecDeque<Effect> = fx.into();
        while let Some(effect) = queue.pop_front() {
            if let Some(input) = self.exec(effect, ctx) {
                let now = self.deps.clock.now();
                queue.extend(self.core.handle(now, input));
            }
        }
        self.arm_timer(ctx);
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let next = self.core.poll_timeout().map(|(at, _)| at);
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let Some(at) = next else {
            return;
        };
        let wait = at.saturating_duration_since(self.deps.clock.now());
        let handle = ctx.run_later(wait, move |act, ctx| {
            let _g = act.span.clone().entered();
            act.timer = None;
            // Never earlier than the deadline the timer was armed for.
            let now = act.deps.clock.now().max(at);
            let fx = act.core.handle_timeout(now);
            act.apply(fx, ctx);
        });
        self.timer = Some((at, handle));
    }

    /// Adds a step to the call detail.
    fn event(&mut self, what: Event) {
        let at_unix_ms = self.deps.clock.unix_ms();
        self.record.events.push(CallEvent { at_unix_ms, what });
    }

    /// Adds a step in words to the call detail.
    fn note(&mut self, text: String) {
        self.event(Event::Note(text));
    }

    fn send_leg(&mut self, cmd: LegCommand) {
        let cmd = match cmd {
            // A leg the switch placed was answered before the call started.
            LegCommand::Ring | LegCommand::Answer { .. } | LegCommand::Progress { .. }
                if self.caller.dialled =>
            {
                return;
            }
            LegCommand::Reject { reason, .. } if self.caller.dialled => {
                LegCommand::Hangup { reason }
            }
            cmd => cmd,
        };
        if self.caller.open && self.caller.commands.send(cmd).is_err() {
            self.caller.open = false;
        }
    }

    /// Makes one of this call's dialogs findable by transfers that name it.
    fn register_dialog(&mut self, sip_call_id: String, ctx: &mut Context<Self>) {
        self.deps.dialogs.insert(sip_call_id.clone(), ctx.address());
        self.dialog_ids.push(sip_call_id);
    }

    /// Ends every party and the caller's bridge.
    fn release_all(&mut self, why: &str) {
        if let Some(b) = self.caller.bridge.take() {
            b.unbridge();
        }
        self.dialling.clear();
        for (_, p) in self.parties.drain() {
            p.release(why);
        }
        self.free_all_agents();
    }
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

fn held(n: &Negotiated) -> bool {
    n.direction != Direction::SendRecv
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        if let Some(origin) = self.caller.origin.take() {
            debug!(numa = %Pii(&self.caller.info.numa), to = %origin.target, "call placed");
            self.place_caller(origin, ctx);
            return;
        }
        self.register_dialog(self.caller.info.sip_call_id.clone(), ctx);
        debug!(
            numa = %Pii(&self.caller.info.numa),
            numb = %self.caller.info.numb,
            "call started"
        );
        if let Some(mut events) = self.caller.events.take() {
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
                            act.caller.media_leg = Some(leg);
                            let fx = act.core.start(act.deps.clock.now());
                            act.apply(fx, ctx);
                        }
                        Err(e) => {
                            warn!(error = %e, "no media for the call");
                            act.send_leg(LegCommand::Reject {
                                code: 503,
                                reason: format!("media unavailable: {e}"),
                            });
                            act.feed(Input::AnswerFailed(format!("media unavailable: {e}")), ctx);
                        }
                    }
                }),
        );
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        self.deps.dialogs.remove(&self.dialog_ids, &ctx.address());
        if let Some(partner) = self.joined.take() {
            partner.do_send(PartnerEnded);
        }
        let (result, hangup, reason) = self.record.outcome.take().unwrap_or_else(|| {
            (
                CallResult::Failed,
                HangupSide::Switch,
                "call actor failed; call ended by its supervisor policy".to_string(),
            )
        });
        if self.caller.open {
            // Not ended by the core: the actor failed. End the leg cleanly: BYE when answered,
            // a 500 final response when not.
            self.caller.open = false;
            let cmd = if self.record.answer_unix_ms.is_some() || self.caller.dialled {
                LegCommand::Hangup {
                    reason: reason.clone(),
                }
            } else {
                LegCommand::Reject {
                    code: 500,
                    reason: reason.clone(),
                }
            };
            let _ = self.caller.commands.send(cmd);
        }
        self.release_all(&reason);
        if let Some(media) = self.caller.media.take() {
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
        self.finish_recordings(end);
        self.finish_voicemail(end);
        self.finish_listening();
        self.caller.media_leg = None;
        self.deps.cdrs.write(Cdr {
            call_id: self.id.0.clone(),
            sip_call_id: self.caller.info.sip_call_id.clone(),
            numa: self.caller.info.numa.clone(),
            numb: self.caller.info.numb.clone(),
            start_unix_ms: self.record.start_unix_ms,
            answer_unix_ms: self.record.answer_unix_ms,
            end_unix_ms: end,
            result,
            hangup,
            reason: reason.clone(),
            events: std::mem::take(&mut self.record.events),
        });
        debug!(result = result.as_str(), %reason, "call finished");
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
        if self.placing_event(&msg.0, ctx) {
            return;
        }
        let signal = match msg.0 {
            LegEvent::Confirmed => Signal::Confirmed,
            LegEvent::Cancelled => {
                self.caller.open = false;
                Signal::Cancelled
            }
            LegEvent::RemoteHangup => {
                self.caller.open = false;
                Signal::Hangup
            }
            LegEvent::Failed(why) => {
                self.caller.open = false;
                Signal::Failed(why)
            }
            LegEvent::Ended => {
                self.caller.open = false;
                return;
            }
            LegEvent::Dtmf { digit, duration_ms } => Signal::Dtmf {
                digit,
                duration_ms,
                sip_info: true,
            },
            LegEvent::RemoteMedia { offer } => {
                if let Some(media) = &self.caller.media {
                    media.set_remote(offer.remote);
                    // Nothing is sent to a caller holding with sendonly/inactive.
                    media.set_direction(offer.direction);
                }
                Signal::Media {
                    held: held(&offer),
                    to: format!("{} ({})", offer.remote, offer.direction.as_str()),
                }
            }
            LegEvent::Refer { target, replaces } => Signal::Refer { target, replaces },
            // Outbound-only events never come from the inbound leg.
            LegEvent::Ringing { .. } | LegEvent::Answered { .. } | LegEvent::Rejected { .. } => {
                return
            }
        };
        self.feed(Input::Caller(signal), ctx);
    }
}

impl Handler<FromMedia> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: FromMedia, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        let Some(ev) = self.voicemail_event(msg.0, ctx) else {
            return;
        };
        let Some(ev) = self.speech_event(ev, ctx) else {
            return;
        };
        use crate::core::scenario::Input as Scenario;
        let input = match ev {
            MediaEvent::PlayDone { id } if id == acd::QUEUE_PASS_ID => Input::QueuePassDone,
            MediaEvent::PlayDone { id } if id == acd::SAY_ID => Input::SayDone,
            MediaEvent::PlayDone { id } => Input::Scenario(Scenario::PlayDone { id }),
            MediaEvent::EchoDone { id } => Input::Scenario(Scenario::EchoDone { id }),
            MediaEvent::PlayInterrupted { id, digit } => {
                self.note(format!("prompt interrupted by '{digit}'"));
                Input::Scenario(Scenario::PlayDone { id })
            }
            MediaEvent::Dtmf { digit, duration_ms } => Input::Caller(Signal::Dtmf {
                digit,
                duration_ms,
                sip_info: false,
            }),
            MediaEvent::Timeout => Input::Caller(Signal::MediaTimeout),
            MediaEvent::RecordingFailed { id, error } => {
                warn!(id, %error, "recording failed");
                return;
            }
            MediaEvent::RecordingDone { id, .. } if id == media::RECORDING_ID => {
                self.recording_closed();
                return;
            }
            MediaEvent::Closed => return,
            other => {
                tracing::debug!(event = ?other, "media event not used by this call");
                return;
            }
        };
        self.feed(input, ctx);
    }
}

impl Handler<FromParty> for CallActor {
    type Result = ();
    fn handle(&mut self, FromParty(id, ev): FromParty, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        let Some(party) = self.parties.get_mut(&id) else {
            // Released: whatever it says no longer matters.
            return;
        };
        let signal = match ev {
            PartyEvent::Media(MediaEvent::Timeout) => Signal::MediaTimeout,
            PartyEvent::Media(MediaEvent::Dtmf { digit, duration_ms }) => Signal::Dtmf {
                digit,
                duration_ms,
                sip_info: false,
            },
            PartyEvent::Media(MediaEvent::PlayDone { id }) if id == acd::HINT_ID => {
                self.feed(Input::HintDone, ctx);
                return;
            }
            PartyEvent::Media(_) => return,
            PartyEvent::Leg(ev) => match ev {
                LegEvent::Ringing { early } => {
                    let is_early = early.is_some();
                    if early.is_some() {
                        party.remote = early;
                    }
                    Signal::Ringing { early: is_early }
                }
                LegEvent::Answered { answer, by, dialog } => {
                    if let Some(m) = &party.media {
                        m.set_remote(answer.remote);
                    }
                    party.remote = Some(*answer);
                    let employee = party.employee;
                    self.register_dialog(dialog.call_id.clone(), ctx);
                    if let Some(e) = employee {
                        if !self.record.employees.contains(&e) {
                            self.record.employees.push(e);
                        }
                    }
                    Signal::Answered {
                        by,
                        dialog: *dialog,
                    }
                }
                LegEvent::Rejected {
                    code,
                    cause,
                    reason,
                } => {
                    tracing::debug!(%id, code, %reason, "party refused");
                    Signal::Rejected { code, cause }
                }
                LegEvent::RemoteHangup | LegEvent::Ended => Signal::Hangup,
                LegEvent::Failed(why) => Signal::Failed(why),
                LegEvent::RemoteMedia { offer } => {
                    if let Some(m) = &party.media {
                        m.set_remote(offer.remote);
                        // Nothing is sent to a party holding with sendonly/inactive.
                        m.set_direction(offer.direction);
                    }
                    let s = Signal::Media {
                        held: held(&offer),
                        to: format!("{} ({})", offer.remote, offer.direction.as_str()),
                    };
                    party.remote = Some(offer);
                    s
                }
                LegEvent::Dtmf { digit, duration_ms } => Signal::Dtmf {
                    digit,
                    duration_ms,
                    sip_info: true,
                },
                LegEvent::Refer { target, replaces } => Signal::Refer { target, replaces },
                LegEvent::Confirmed | LegEvent::Cancelled => return,
            },
        };
        self.feed(Input::Party(id, signal), ctx);
    }
}

impl Handler<JoinRequest> for CallActor {
    type Result = Result<(Addr<CallActor>, Identity), String>;
    fn handle(&mut self, msg: JoinRequest, ctx: &mut Context<Self>) -> Self::Result {
        let _g = self.span.clone().entered();
        let (keep, fx, kept) = self.core.join_request(&msg.replaces, msg.identity)?;
        let far = self.media_of(keep);
        self.apply(fx, ctx);
        let Some(far) = far else {
            return Err("the replaced call has no media".into());
        };
        if let Err(e) = self.deps.media.bridge(&far, &msg.media) {
            return Err(format!("bridge failed: {e}"));
        }
        self.joined = Some(msg.partner);
        Ok((ctx.address(), kept))
    }
}

impl Handler<PartnerEnded> for CallActor {
    type Result = ();
    fn handle(&mut self, _: PartnerEnded, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        self.joined = None;
        self.feed(Input::PartnerEnded, ctx);
    }
}

impl Handler<Shutdown> for CallActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        self.feed(Input::Shutdown, ctx);
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
