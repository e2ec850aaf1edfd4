//! The call as a pure state machine (sans-IO): a [`CallCore`] is fed [`Input`]s with the
//! monotonic time they happened at and returns [`Effect`]s as data. It decides everything a call
//! decides — the scenario walk, ringing with its timers, which early media the caller hears, the
//! caller ID presented, hold and music on hold, blind and attended transfers (with the return to
//! the transferor when a blind transfer fails), talk options and the call's result — and never
//! touches a socket, a clock or a runtime.
//!
//! Contract (str0m/quinn style):
//! - [`CallCore::start`] once, when the caller's media is ready;
//! - [`CallCore::handle`] for every leg, media and partner event, with `now`;
//! - after each of those, ask [`CallCore::poll_timeout`] and call [`CallCore::handle_timeout`]
//!   when that instant passes (a moved or cancelled deadline is simply not due);
//! - execute the returned effects in order; [`Effect::End`] is always the last one.
//!
//! States carry only their own data (`State`): the scenario running alone, ringing parties
//! (with the early-media party), a talk (with holds), and a call joined to another call by an
//! attended transfer. A blind transfer is a ringing state that keeps the transferor aside.

mod acd;
mod talk;
#[cfg(test)]
mod tests;

use super::dialplan::{classify, Dialled};
use super::dist::board::{Place, Request};
use super::dist::candidates::candidates;
use super::dist::{Candidate, LineKey, Round as DistRound};
use super::forward::{plan_for, ForwardOutcome, Ring, RingAction, Ringer};
pub use super::leg::{DialTarget, Dialog, Replaces};
pub use super::routing::phone::CallerLine;
use super::scenario::{self, Command, Ending, ScenarioRun};
use super::timer::TimerTable;
pub use acd::{AgentRing, CallbackReceipt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use talk::TalkKeys;
use vpbx_store::model::{
    CallResult, CompanyConfig, EmployeeId, Event, Forward, ForwardTarget, HangupSide, LegCause,
    PhoneType, Prompt, RingMode, Scenario, Side, TransferKind,
};

/// An outbound party of the call (a ringing phone, the employee in the talk). Unique within a
/// call: a late event of a released party names no party and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyId(pub u32);

impl std::fmt::Display for PartyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "party {}", self.0)
    }
}

/// Whose media an effect is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The caller.
    Caller,
    /// An outbound party.
    Party(PartyId),
}

/// Who a side of a call is, as the other side's phone shows it: (display name, number).
pub type Identity = (String, String);

/// What the call is set up with (plain data from the edge and the routing).
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// Our id of the call (its CDR's id): a CRM webhook sends it as `cdr_id`.
    pub call_id: String,
    /// Caller number.
    pub numa: String,
    /// Dialled number.
    pub numb: String,
    /// The caller's dialog (for attended transfers that name it).
    pub dialog: Dialog,
    /// Number presented on legs to external numbers when the call is a phone's outbound call
    /// (the line's caller ID); `None`: the dialled virtual number (SPEC §5).
    pub outbound_caller_id: Option<String>,
    /// The line that placed the call, when a phone of the box did: it is never rung by its own
    /// call, and its employee's name is shown to the SIP phones the call rings.
    pub caller_line: Option<CallerLine>,
    /// Wall-clock time of [`CallCore::start`], milliseconds since the Unix epoch: the core adds
    /// the monotonic time since then to tell a schedule branch the wall-clock time it is
    /// entered at.
    pub start_unix_ms: u64,
    /// The switch placed the caller's leg itself (a queue callback, the call API): the caller
    /// answered before the call starts, and the scenario begins answered.
    pub originated: bool,
    /// A queue callback: the scenario starts at this forward operation, whose queue the caller
    /// rejoins in the place they kept instead of ringing a round first.
    pub resume_at: Option<String>,
}

/// Something that happened on a leg (the caller's or a party's).
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The peer acknowledged our answer.
    Confirmed,
    /// The caller cancelled before answer.
    Cancelled,
    /// The peer hung up.
    Hangup,
    /// The leg failed (transport, ACK timeout).
    Failed(String),
    /// A DTMF key.
    Dtmf {
        /// The key.
        digit: char,
        /// Duration as signalled.
        duration_ms: u32,
        /// Signalled in SIP INFO (else from the media).
        sip_info: bool,
    },
    /// A re-INVITE moved the peer's media or changed its direction.
    Media {
        /// The peer holds the call (sendonly/inactive).
        held: bool,
        /// Where its media goes now, for the call detail.
        to: String,
    },
    /// The peer asks for a transfer (REFER).
    Refer {
        /// Refer-To user part or URI.
        target: String,
        /// For an attended transfer: the dialog it replaces.
        replaces: Option<Replaces>,
    },
    /// Outbound parties: 180, or 183 with SDP.
    Ringing {
        /// The party sent early media.
        early: bool,
    },
    /// Outbound parties: answered.
    Answered {
        /// Who answered (contact).
        by: String,
        /// The answered dialog.
        dialog: Dialog,
    },
    /// Outbound parties: refused or unreachable.
    Rejected {
        /// Final status.
        code: u16,
        /// What it means.
        cause: LegCause,
    },
    /// The leg's RTP stopped arriving.
    MediaTimeout,
}

/// An input to the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// From the caller's leg.
    Caller(Signal),
    /// From an outbound party's leg.
    Party(PartyId, Signal),
    /// A result of a scenario command (prompt done, echo done, voicemail done, ...).
    Scenario(scenario::Input),
    /// The effect [`Effect::AnswerCaller`] could not be carried out (no media).
    AnswerFailed(String),
    /// The answer to an [`Effect::Join`]: the other call took over.
    Joined(Result<(), String>),
    /// The call this one is joined with ended.
    PartnerEnded,
    /// The switch is shutting down.
    Shutdown,
    /// The answer to an [`Effect::Distribute`]: the rounds to ring.
    Planned {
        /// The operation's correlation id.
        op: u64,
        /// Rounds over the request's candidates.
        rounds: Vec<DistRound>,
    },
    /// The answer to an [`Effect::JoinQueue`]: the caller's place (`None`: no distributor took
    /// it, the operation ends as if nobody answered).
    QueueJoined(Option<Place>),
    /// The answer to an [`Effect::AskPlace`].
    QueuePlace(Option<Place>),
    /// The queue offers these phones (claimed for this call) to the waiting caller.
    QueueOffer {
        /// The phones.
        round: Vec<Candidate>,
        /// Seconds they ring.
        timeout_s: u32,
    },
    /// A [`Effect::QueuePass`] finished playing.
    QueuePassDone,
    /// The [`Effect::Hint`] finished playing to the party.
    HintDone,
    /// The [`Effect::Say`] finished playing to the caller.
    SayDone,
    /// The distributor's answer to an [`Effect::RequestCallback`]: the place kept, or why not.
    CallbackRegistered(Result<acd::CallbackReceipt, String>),
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// 180 Ringing to the caller.
    RingCaller,
    /// 183 with our SDP to the caller (early media follows).
    ProgressCaller,
    /// Answer the caller (200 with our SDP, media started). On failure feed
    /// [`Input::AnswerFailed`].
    AnswerCaller,
    /// End the caller's leg (BYE) while the call goes on without it (its phone transferred
    /// the call away).
    HangupCaller {
        /// Reason.
        reason: String,
    },
    /// Reject the unanswered caller with a final response.
    RejectCaller {
        /// SIP status.
        code: u16,
        /// Reason.
        reason: String,
    },
    /// A scenario command for the caller's media (play, silence, echo, voicemail).
    Media(Command),
    /// Open media for a new party and dial it with our offer.
    Dial {
        /// The party.
        party: PartyId,
        /// Where.
        target: DialTarget,
        /// Number presented as the caller.
        caller_id: String,
        /// Name presented with it (From display name), if any.
        caller_name: Option<String>,
        /// The agent line it is: claim it first (unless claimed), release it after.
        agent: Option<AgentRing>,
    },
    /// End a party's leg (CANCEL before answer, BYE after) and close its media.
    Release {
        /// The party.
        party: PartyId,
        /// Why (Reason header).
        reason: String,
    },
    /// End a ringing party's leg because another phone answered the call: CANCEL saying the
    /// call was completed elsewhere (RFC 3326), so the phone logs no missed call.
    LoseFork {
        /// The party.
        party: PartyId,
    },
    /// Tell a remaining side's phone who it now talks to (after a transfer): the edge sends an
    /// UPDATE or re-INVITE with the new identity (RFC 4916 style).
    UpdateIdentity {
        /// Whose phone.
        to: Listener,
        /// Display name of the new peer (may be empty).
        display: String,
        /// Its number or extension.
        number: String,
    },
    /// Final NOTIFY of a failed blind transfer to the transferring party (the leg stays up).
    ReferFailed {
        /// The transferring party.
        party: PartyId,
        /// SIP status of the failed attempt.
        code: u16,
    },
    /// Connect the caller's media with the party's (starting the party's media if needed).
    Bridge {
        /// The party.
        party: PartyId,
    },
    /// Undo the caller's bridge.
    Unbridge,
    /// Loop a ringback to the answered caller: the file given, else the ringing tone.
    Ringback {
        /// The operation's ringback prompt.
        prompt: Option<Prompt>,
    },
    /// Music on hold to a side while the other holds.
    MusicOnHold {
        /// Who hears it.
        to: Listener,
    },
    /// Stop what is played to a side (a bridge resumes).
    StopOutput {
        /// Whose output.
        of: Listener,
    },
    /// Attended transfer: the call holding the dialog `replaces` names takes our remaining
    /// side `keep`. Feed the answer back as [`Input::Joined`].
    Join {
        /// The dialog named by the REFER.
        replaces: Replaces,
        /// Our side that the other call gets.
        keep: Listener,
    },
    /// Start recording the call (a new part).
    StartRecording,
    /// Stop the recording in progress.
    StopRecording,
    /// A step for the call detail.
    Event(Event),
    /// Ask the distributor for the rounds of a distribution; feed [`Input::Planned`].
    Distribute {
        /// The operation's correlation id.
        op: u64,
        /// What to distribute.
        request: Request,
    },
    /// Join the queue of the request; feed [`Input::QueueJoined`].
    JoinQueue {
        /// The distribution (its `queue` names the queue).
        request: Request,
    },
    /// Leave the queue (answered, or gone through the operation's timeout).
    LeaveQueue,
    /// The phones the queue offered rang without an answer: the caller stays first in line.
    OfferEnded,
    /// Lines offered while the call no longer waits: give them back.
    DeclineOffer {
        /// The lines.
        lines: Vec<LineKey>,
    },
    /// Ask where the caller waits; feed [`Input::QueuePlace`].
    AskPlace,
    /// Play to the waiting caller the announcement (if any) and one pass of the ringback; feed
    /// [`Input::QueuePassDone`].
    QueuePass {
        /// Spoken first.
        announce: Option<String>,
        /// The operation's ringback (files), else the ringing tone.
        prompt: Option<Prompt>,
    },
    /// A party on an agent line answered and talks now (its line talks).
    AgentTalking {
        /// The party.
        party: PartyId,
    },
    /// Play the operator hint to the party (before the caller is connected); feed
    /// [`Input::HintDone`].
    Hint {
        /// The party.
        party: PartyId,
        /// What to play.
        prompt: Prompt,
    },
    /// The waiting caller asked to be called back: ask the distributor to keep their place
    /// as a callback; feed [`Input::CallbackRegistered`].
    RequestCallback {
        /// The scenario (the callback resumes it).
        scenario: vpbx_store::model::ScenarioId,
        /// The forward operation the caller waits in.
        op: String,
    },
    /// Speak `text` to the caller; feed [`Input::SayDone`].
    Say {
        /// The text.
        text: String,
    },
    /// Send a CRM webhook request and feed its result back as
    /// [`scenario::Input::WebhookDone`] with this id, whatever happens (within the request's
    /// timeout).
    Webhook {
        /// Correlation id.
        id: u64,
        /// What to send.
        request: super::webhook::WebhookRequest,
    },
    /// The call is over: hang up the caller unless it hung up itself (`side`), release every
    /// party, write the record, stop.
    End {
        /// What happened.
        result: CallResult,
        /// Who hung up.
        side: HangupSide,
        /// Why.
        reason: String,
    },
}

/// The call's named deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A scenario wait (the ring operation, a menu waiting for a key).
    Scenario(u64),
    /// The ringing round in progress gives up.
    RingRound,
    /// The forward operation's maximum wait.
    MaxWait,
    /// Talk-option keys typed so far are forgotten.
    TalkKeys,
    /// The caller's rating is no longer waited for.
    Rating,
}

/// A ringing or talking party.
#[derive(Debug, Clone)]
struct Party {
    id: PartyId,
    label: String,
    employee: Option<EmployeeId>,
    /// The number or login dialled to reach it (its identity when it is no employee's).
    number: String,
    /// The answered dialog, for attended transfers that name it.
    dialog: Option<Dialog>,
}

impl Party {
    fn of(id: PartyId, ring: &Ring) -> Party {
        Party {
            id,
            label: ring.label.clone(),
            employee: ring.employee,
            number: match &ring.target {
                DialTarget::Line { login, .. } => login.clone(),
                DialTarget::External(n) => n.clone(),
                DialTarget::Uri(u) => u.split('@').next().unwrap_or(u).to_string(),
            },
            dialog: None,
        }
    }

    /// Display name and number shown to the other side: the employee's name and extension, else
    /// the number dialled.
    fn identity(&self, snapshot: &CompanyConfig) -> Identity {
        match self.employee.and_then(|e| snapshot.employee(e)) {
            Some(e) => (
                format!("{} {}", e.first_name, e.last_name)
                    .trim()
                    .to_string(),
                e.extension.clone(),
            ),
            None => (String::new(), self.number.clone()),
        }
    }
}

/// A forward operation ringing.
#[derive(Debug)]
struct Ringing {
    /// Scenario correlation id of the operation.
    op: u64,
    /// Its ringback setting.
    ringback: Option<Prompt>,
    /// Present the virtual number to SIP phones too.
    present_virtual_number: bool,
    ringer: Ringer,
    parties: BTreeMap<PartyId, Party>,
    /// The party whose early media the caller hears.
    early: Option<PartyId>,
    /// A blind transfer in progress: the transferring party, kept until the target answers.
    transferor: Option<Party>,
    /// The distribution behind the ringing.
    acd: acd::Acd,
    /// The operator hint for the employee who answers.
    hint: Option<Prompt>,
}

/// The caller talks with a party.
#[derive(Debug)]
struct Talk {
    op: u64,
    party: Party,
    party_held: bool,
    caller_held: bool,
    /// An attended transfer asked for: our side the other call is to take.
    joining: Option<Listener>,
    /// The operator hint plays to the party: the caller is connected when it ends.
    hinting: bool,
}

/// Where the call is.
#[derive(Debug)]
enum State {
    /// The scenario runs with no party.
    Scenario,
    /// Waiting for the distributor's rounds.
    Distributing(Box<acd::Pending>),
    /// Parties ring.
    Ringing(Box<Ringing>),
    /// Waiting in a queue.
    Queued(Box<acd::Queued>),
    /// After a talk: the caller rates the employee.
    Rating(acd::Rating),
    /// A talk.
    Talking(Talk),
    /// Joined with another call by an attended transfer; `keep` is our remaining side.
    Joined {
        /// Our remaining party, when the caller left (else the caller remains).
        party: Option<Party>,
    },
    /// Over.
    Ended,
}

/// One call's logic.
#[derive(Debug)]
pub struct CallCore {
    info: CallInfo,
    snapshot: Arc<CompanyConfig>,
    run: ScenarioRun,
    /// The monotonic instant of [`CallCore::start`] (`info.start_unix_ms` on the wall clock).
    started: Option<Instant>,
    /// Record the call from answer on (the scenario's option).
    record: bool,
    state: State,
    timers: TimerTable<Timer>,
    answered: bool,
    caller_ringing: bool,
    recording: bool,
    next_party: u32,
    last_forward: Option<ForwardOutcome>,
    /// Who the last forward operation rang, in words (`Extension 101`), for the `Warning` of
    /// a busy answer.
    last_forward_target: Option<String>,
    /// A phone of the last forward operation answered busy (486/600).
    last_forward_busy_here: bool,
    /// Every phone of the last forward operation failed with this status (e.g. a dead trunk).
    last_forward_failed: Option<u16>,
    /// Talk-option keys of the talk in progress.
    keys: Option<TalkKeys>,
    /// The employee who answered first in this call (whose option decides the rating).
    first_answered: Option<Option<EmployeeId>>,
    /// A queue callback that has not reached its forward operation yet.
    resuming: bool,
    /// The call ends when the text being spoken ends (after a callback request).
    end_after_say: Option<String>,
    /// The scenario's prompts playing now (id → words): played to the end, each becomes a
    /// `prompt_played` event.
    playing: BTreeMap<u64, String>,
    out: Vec<Effect>,
}

impl CallCore {
    /// The numbering-plan registry files the call's region branches read (the shipped data
    /// only by default).
    pub fn with_registries(mut self, registries: Arc<crate::core::numbering::Registries>) -> Self {
        self.run = self.run.with_registries(registries);
        self
    }

    /// A call running `scenario` from `snapshot` (the configuration it keeps to its end).
    pub fn new(
        info: CallInfo,
        scenario: Arc<Scenario>,
        snapshot: Arc<CompanyConfig>,
        step_budget: u32,
    ) -> Self {
        let resuming = info.resume_at.is_some();
        CallCore {
            record: scenario.record,
            run: ScenarioRun::new(scenario, step_budget)
                .with_extensions(Arc::new(extensions(&snapshot)))
                .with_call(Arc::clone(&snapshot), info.numa.clone()),
            started: None,
            info,
            snapshot,
            state: State::Scenario,
            timers: TimerTable::default(),
            answered: false,
            caller_ringing: false,
            recording: false,
            next_party: 1,
            last_forward: None,
            last_forward_target: None,
            last_forward_busy_here: false,
            last_forward_failed: None,
            keys: None,
            first_answered: None,
            resuming,
            end_after_say: None,
            playing: Default::default(),
            out: Vec::new(),
        }
    }

    /// The caller's leg, placed by the switch, answered in `dialog` (before [`CallCore::start`]):
    /// attended transfers may name it from now on.
    pub fn caller_placed(&mut self, dialog: Dialog) {
        self.info.dialog = dialog;
    }

    /// Whether the call is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Whether the caller was answered.
    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// Starts the scenario (the caller's media is ready).
    pub fn start(&mut self, now: Instant) -> Vec<Effect> {
        self.started = Some(now);
        if self.info.originated {
            self.answer_caller();
        }
        let cmds = match self.info.resume_at.clone() {
            Some(op) => self.run.start_from(self.info.start_unix_ms, &op),
            None => self.run.start_at(self.info.start_unix_ms),
        };
        self.scenario_commands(now, cmds);
        self.take()
    }

    /// The wall-clock time at `now`, milliseconds since the Unix epoch.
    fn unix_ms(&self, now: Instant) -> u64 {
        let since = self
            .started
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.info
            .start_unix_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// The next deadline and its reason.
    pub fn poll_timeout(&self) -> Option<(Instant, Timer)> {
        self.timers.poll_timeout()
    }

    /// Time passed to `now`: every due deadline fires, in order.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Effect> {
        while let Some(t) = self.timers.handle_timeout(now) {
            if self.is_ended() {
                break;
            }
            match t {
                Timer::Scenario(id) => {
                    let cmds = self
                        .run
                        .handle_at(self.unix_ms(now), scenario::Input::TimerFired { id });
                    self.scenario_commands(now, cmds);
                }
                Timer::RingRound => {
                    if let State::Ringing(r) = &mut self.state {
                        let round = r.ringer.current_round();
                        let actions = r.ringer.round_timeout(round);
                        self.ring_actions(now, actions);
                    }
                }
                Timer::MaxWait => {
                    if let State::Ringing(r) = &mut self.state {
                        r.acd.max_wait_passed = true;
                        let actions = r.ringer.give_up();
                        self.ring_actions(now, actions);
                    } else {
                        self.max_wait_waiting(now);
                    }
                }
                Timer::TalkKeys => {
                    if let Some(k) = &mut self.keys {
                        k.handle_timeout(now);
                    }
                }
                Timer::Rating => self.rated(now, None),
            }
        }
        self.take()
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        if self.is_ended() {
            return Vec::new();
        }
        match input {
            Input::Caller(s) => self.caller_signal(now, s),
            Input::Party(p, s) => self.party_signal(now, p, s),
            Input::Scenario(i) => {
                match &i {
                    scenario::Input::PlayDone { id } => {
                        if let Some(prompt) = self.playing.remove(id) {
                            self.event(Event::PromptPlayed {
                                prompt,
                                interrupted_by: None,
                            });
                        }
                    }
                    scenario::Input::PlayFailed { id, .. } => {
                        self.playing.remove(id);
                    }
                    _ => {}
                }
                let cmds = self.run.handle_at(self.unix_ms(now), i);
                self.scenario_commands(now, cmds);
            }
            Input::AnswerFailed(why) => self.end(EndedBy::Failure, why),
            Input::Joined(res) => self.joined(res),
            Input::PartnerEnded => self.end(
                EndedBy::Callee,
                "the other party of the transfer hung up".into(),
            ),
            acd @ (Input::Planned { .. }
            | Input::QueueJoined(_)
            | Input::QueuePlace(_)
            | Input::QueueOffer { .. }
            | Input::QueuePassDone
            | Input::HintDone
            | Input::SayDone
            | Input::CallbackRegistered(_)) => self.acd_input(now, acd),
            Input::Shutdown => {
                let by = if self.answered {
                    EndedBy::Switch
                } else {
                    self.out.push(Effect::RejectCaller {
                        code: 503,
                        reason: "switch shutting down".into(),
                    });
                    EndedBy::Failure
                };
                self.end(by, "switch shutting down".into());
            }
        }
        self.take()
    }

    /// Another call's attended transfer names one of our dialogs `r`: our side that its
    /// remaining party must be bridged with, and the effects for our replaced leg.
    ///
    /// `partner` is who the other call keeps (display name, number): the side kept here is told
    /// it talks to them now. Returns the side kept, the effects and who that side is (for the
    /// other call to tell its own side).
    pub fn join_request(
        &mut self,
        r: &Replaces,
        partner: Identity,
    ) -> Result<(Listener, Vec<Effect>, Identity), String> {
        let State::Talking(talk) = &self.state else {
            return Err("no dialog of this call matches Replaces".into());
        };
        let (display, number) = partner;
        if self.info.dialog.is_named_by(r) {
            // The transferring phone is our caller: our party stays, the caller's leg ends.
            let party = talk.party.clone();
            let kept = party.identity(&self.snapshot);
            self.out.push(Effect::HangupCaller {
                reason: "call transferred".into(),
            });
            self.out.push(Effect::UpdateIdentity {
                to: Listener::Party(party.id),
                display,
                number,
            });
            self.out.push(Effect::Event(Event::Note(
                "joined with another call (attended transfer)".into(),
            )));
            let keep = Listener::Party(party.id);
            self.state = State::Joined { party: Some(party) };
            return Ok((keep, self.take(), kept));
        }
        if talk.party.dialog.as_ref().is_some_and(|d| d.is_named_by(r)) {
            // The transferring phone is our party: our caller stays, the party's leg ends.
            let id = talk.party.id;
            self.out.push(Effect::Unbridge);
            self.out.push(Effect::Release {
                party: id,
                reason: "call transferred".into(),
            });
            self.out.push(Effect::UpdateIdentity {
                to: Listener::Caller,
                display,
                number,
            });
            self.out.push(Effect::Event(Event::Note(
                "joined with another call (attended transfer)".into(),
            )));
            self.state = State::Joined { party: None };
            return Ok((Listener::Caller, self.take(), self.caller_identity()));
        }
        Err("no dialog of this call matches Replaces".into())
    }

    /// Who a side of this call is, as the phone of the side it is joined with should show it:
    /// (display name, number). Empty when that side is gone.
    pub fn identity(&self, who: Listener) -> Identity {
        match who {
            Listener::Caller => self.caller_identity(),
            Listener::Party(id) => {
                let party = match &self.state {
                    State::Talking(t) if t.party.id == id => Some(&t.party),
                    State::Joined { party: Some(p) } if p.id == id => Some(p),
                    _ => None,
                };
                party
                    .map(|p| p.identity(&self.snapshot))
                    .unwrap_or_default()
            }
        }
    }

    /// The caller: an employee's name when the number is their extension, else the number.
    fn caller_identity(&self) -> Identity {
        let numa = &self.info.numa;
        match self
            .snapshot
            .employees
            .iter()
            .find(|e| &e.extension == numa)
        {
            Some(e) => (
                format!("{} {}", e.first_name, e.last_name)
                    .trim()
                    .to_string(),
                numa.clone(),
            ),
            None => (String::new(), numa.clone()),
        }
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    fn event(&mut self, what: Event) {
        self.out.push(Effect::Event(what));
    }

    // ---- the scenario ----

    fn scenario_commands(&mut self, now: Instant, cmds: Vec<Command>) {
        for cmd in cmds {
            if self.is_ended() {
                return;
            }
            match cmd {
                Command::Event(e) => self.event(e),
                Command::Answer => self.answer_caller(),
                Command::Ring { id, ms } => {
                    self.ring_caller();
                    self.timers.set_after(
                        Timer::Scenario(id),
                        now,
                        Duration::from_millis(u64::from(ms)),
                    );
                }
                Command::Timer { id, ms } => self.timers.set_after(
                    Timer::Scenario(id),
                    now,
                    Duration::from_millis(u64::from(ms)),
                ),
                Command::StopPlay { id } => {
                    self.playing.remove(&id);
                    self.out.push(Effect::StopOutput {
                        of: Listener::Caller,
                    })
                }
                Command::Interrupt => self.interrupt(now),
                Command::Forward { id, forward } => self.forward(now, id, forward, None),
                Command::Webhook { id, call } => {
                    let request = call.request(|p| self.webhook_param(p, &call.input));
                    self.out.push(Effect::Webhook { id, request });
                }
                Command::Hangup { reason } => {
                    let by = match reason {
                        Ending::Finished(_) => EndedBy::Switch,
                        Ending::Broken(_) => EndedBy::Failure,
                    };
                    self.end(by, reason.reason().to_string());
                }
                Command::Play { id, prompt } => {
                    self.playing.insert(id, prompt.label());
                    self.out.push(Effect::Media(Command::Play { id, prompt }));
                }
                media @ (Command::CountCalls { .. }
                | Command::Silence { .. }
                | Command::Echo { .. }
                | Command::Listen { .. }
                | Command::Voicemail { .. }) => self.out.push(Effect::Media(media)),
            }
        }
    }

    /// The value of the webhook parameter `name` for this call (SPEC §3 op 13).
    fn webhook_param(&self, name: &str, input: &str) -> String {
        match name {
            "cdr_id" => self.info.call_id.clone(),
            "start_time" => i64::try_from(self.info.start_unix_ms)
                .ok()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            "input_result" => input.to_owned(),
            "numa" => self.info.numa.clone(),
            "numb" => self.info.numb.clone(),
            _ => String::new(),
        }
    }

    fn answer_caller(&mut self) {
        if self.answered {
            return;
        }
        self.answered = true;
        self.out.push(Effect::AnswerCaller);
        self.event(Event::CallerAnswered);
        if self.record && !self.recording {
            self.recording = true;
            self.out.push(Effect::StartRecording);
        }
    }

    /// 180 to the caller, once, while unanswered.
    fn ring_caller(&mut self) {
        if !self.caller_ringing && !self.answered {
            self.caller_ringing = true;
            self.out.push(Effect::RingCaller);
        }
    }

    // ---- ringing ----

    fn forward(&mut self, now: Instant, op: u64, mut forward: Forward, transferor: Option<Party>) {
        // The scenario-level options apply where the operation sets nothing.
        if forward.ringback.is_none() {
            forward.ringback = self.run.ringback().cloned();
        }
        forward.present_virtual_number |= self.run.presents_virtual_number();
        let caller_line = self.info.caller_line.as_ref().map(|c| c.line);
        self.last_forward_target = Some(describe_targets(&self.snapshot, &forward.targets));
        if self.answered {
            self.out.push(Effect::Ringback {
                prompt: forward.ringback.clone(),
            });
        } else {
            self.ring_caller();
        }
        match forward.max_wait_s {
            Some(s) => {
                self.timers
                    .set_after(Timer::MaxWait, now, Duration::from_secs(u64::from(s)))
            }
            None => self.timers.cancel(Timer::MaxWait),
        }
        let scenario = Some(self.run.scenario_id());
        let anchor = format!(
            "{}/{}",
            self.run.scenario_id(),
            self.run.current_op().unwrap_or("")
        );
        let mut acd = acd::Acd {
            anchor,
            scenario,
            wrap_up_s: forward.wrap_up_s,
            request: None,
            announce: forward.queue.as_ref().is_some_and(|q| q.announce),
            // A callback is not asked for again by the caller it calls back.
            callback_key: forward
                .queue
                .as_ref()
                .and_then(|q| q.callback_key)
                .filter(|_| self.info.resume_at.is_none()),
            joined_at: None,
            max_wait_passed: false,
        };
        let heard = acd::Heard {
            ringback: forward.ringback.clone(),
            present_virtual_number: forward.present_virtual_number,
            hint: forward.operator_hint.clone(),
        };
        // The distributor plans when a strategy or a queue is set (the operation's, or the
        // strategy of the one group it rings); otherwise `mode` decides here, as before.
        let group_strategy = match forward.targets.as_slice() {
            [ForwardTarget::Group { id }] => self
                .snapshot
                .group(*id)
                .is_some_and(|g| g.strategy.is_some()),
            _ => false,
        };
        // A transfer is distributed only when it may queue (SPEC §4.3, "join the queue").
        let distributed = if transferor.is_none() {
            forward.strategy.is_some() || forward.queue.is_some() || group_strategy
        } else {
            forward.queue.is_some()
        };
        if distributed {
            let cands = candidates(&self.snapshot, &forward, caller_line);
            let op_name = self.run.current_op().unwrap_or("").to_string();
            let request = cands.request(&self.snapshot, self.run.scenario_id(), &op_name, &forward);
            if request.queue.is_some() {
                acd.request = Some(request.clone());
                if self.resuming {
                    // A queue callback: the caller rejoins the place they kept.
                    self.resuming = false;
                    self.enter_queue(op, heard, acd, ForwardOutcome::NoAnswer);
                    return;
                }
            }
            self.state = State::Distributing(Box::new(acd::Pending {
                op,
                heard,
                acd,
                candidates: cands.list,
                skipped: cands.skipped,
                widening: request.widening,
                transferor,
            }));
            self.out.push(Effect::Distribute { op, request });
            return;
        }
        let ringer = Ringer::new(
            plan_for(&self.snapshot, &forward, caller_line),
            self.next_party,
        );
        self.start_ringing(now, op, heard, ringer, acd, transferor);
    }

    /// Caller ID on a leg (SPEC §5): SIP phones see the caller's number, telephone numbers see
    /// the virtual number (presenting a foreign number there is not allowed), or the line's own
    /// caller ID when the call is a phone's outbound call.
    fn caller_id(&self, kind: PhoneType, present_virtual_number: bool) -> String {
        match kind {
            PhoneType::S if !present_virtual_number => self.info.numa.clone(),
            _ => self
                .info
                .outbound_caller_id
                .clone()
                .unwrap_or_else(|| self.info.numb.clone()),
        }
    }

    fn ring_actions(&mut self, now: Instant, actions: Vec<RingAction>) {
        for a in actions {
            match a {
                RingAction::Event(e) => self.event(e),
                RingAction::Dial { leg, ring } => {
                    let State::Ringing(r) = &self.state else {
                        continue;
                    };
                    let caller_id = self.caller_id(ring.kind, r.present_virtual_number);
                    // SIP phones ringing for a colleague's call show the colleague's name.
                    let caller_name = match (&self.info.caller_line, ring.kind) {
                        (Some(c), PhoneType::S) if !r.present_virtual_number => {
                            Some(c.name.clone()).filter(|n| !n.is_empty())
                        }
                        _ => None,
                    };
                    let party = PartyId(leg);
                    let agent = r.acd.agent(&ring);
                    self.next_party = self.next_party.max(leg + 1);
                    if let State::Ringing(r) = &mut self.state {
                        r.parties.insert(party, Party::of(party, &ring));
                    }
                    self.out.push(Effect::Dial {
                        party,
                        target: ring.target,
                        caller_id,
                        caller_name,
                        agent,
                    });
                }
                RingAction::Cancel { leg } | RingAction::Lost { leg } => {
                    let party = PartyId(leg);
                    if let State::Ringing(r) = &mut self.state {
                        r.parties.remove(&party);
                        if r.early == Some(party) {
                            r.early = None;
                            self.out.push(Effect::Unbridge);
                        }
                    }
                    self.out.push(match a {
                        RingAction::Lost { .. } => Effect::LoseFork { party },
                        _ => Effect::Release {
                            party,
                            reason: "no answer".into(),
                        },
                    });
                }
                RingAction::Timer { ms, .. } => {
                    self.timers
                        .set_after(Timer::RingRound, now, Duration::from_millis(ms))
                }
                RingAction::Connect { leg } => self.connect(now, PartyId(leg)),
                RingAction::Done(outcome) => self.forward_done(now, outcome),
            }
        }
    }

    fn connect(&mut self, now: Instant, id: PartyId) {
        let State::Ringing(mut r) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        self.timers.cancel(Timer::RingRound);
        self.timers.cancel(Timer::MaxWait);
        let Some(party) = r.parties.remove(&id) else {
            return;
        };
        // Every other party was cancelled by the ringer.
        self.left_queue(now, &r.acd, "answered");
        self.run.person_answered();
        self.answer_caller();
        self.out.push(Effect::AgentTalking { party: id });
        if self.first_answered.is_none() {
            self.first_answered = Some(party.employee);
        }
        self.event(Event::Talk {
            with: party.label.clone(),
            employee: party.employee,
        });
        let hint = r.hint.clone().filter(|_| r.transferor.is_none());
        if let Some(prompt) = hint {
            // The employee hears who calls first; the caller hears the ringback meanwhile.
            self.event(Event::HintPlayed {
                to: party.label.clone(),
            });
            self.out.push(Effect::Ringback {
                prompt: r.ringback.clone(),
            });
            self.out.push(Effect::Hint { party: id, prompt });
        } else {
            self.out.push(Effect::StopOutput {
                of: Listener::Caller,
            });
            self.out.push(Effect::Bridge { party: id });
        }
        let hinting = r.hint.is_some() && r.transferor.is_none();
        if let Some(t) = r.transferor.take() {
            // The transfer succeeded: the transferring party is released (the edge sends the
            // REFER's final NOTIFY, then BYE).
            self.event(Event::TransferCompleted {
                kind: TransferKind::Blind,
            });
            self.out.push(Effect::Release {
                party: t.id,
                reason: "call transferred".into(),
            });
            // The caller's phone learns who it talks to now.
            let (display, number) = party.identity(&self.snapshot);
            self.out.push(Effect::UpdateIdentity {
                to: Listener::Caller,
                display,
                number,
            });
        }
        self.keys = None;
        self.timers.cancel(Timer::TalkKeys);
        self.state = State::Talking(Talk {
            op: r.op,
            party,
            party_held: false,
            caller_held: false,
            joining: None,
            hinting,
        });
    }

    /// The scenario's escalation fired: what the running operation does stops (prompts,
    /// ringing phones, the queue place) and the scenario goes on elsewhere. A talk is never
    /// interrupted (a talk disarms the escalation).
    fn interrupt(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Scenario) {
            State::Scenario => {}
            State::Distributing(_) => self.timers.cancel(Timer::MaxWait),
            State::Ringing(mut r) => {
                self.timers.cancel(Timer::RingRound);
                self.timers.cancel(Timer::MaxWait);
                for e in r.ringer.interrupted() {
                    self.event(e);
                }
                for id in r.parties.keys() {
                    self.out.push(Effect::Release {
                        party: *id,
                        reason: "escalated".into(),
                    });
                }
                if r.early.is_some() {
                    self.out.push(Effect::Unbridge);
                }
                self.left_queue(now, &r.acd, "escalated");
            }
            State::Queued(q) => {
                self.timers.cancel(Timer::MaxWait);
                self.left_queue(now, &q.acd, "escalated");
            }
            other => {
                self.state = other;
                return;
            }
        }
        self.out.push(Effect::StopOutput {
            of: Listener::Caller,
        });
    }

    fn forward_done(&mut self, now: Instant, outcome: ForwardOutcome) {
        let State::Ringing(mut r) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        self.timers.cancel(Timer::RingRound);
        self.timers.cancel(Timer::MaxWait);
        self.last_forward = Some(outcome);
        self.last_forward_busy_here = r.ringer.busy_here();
        self.last_forward_failed = r.ringer.failed_code();
        for id in r.parties.keys() {
            self.out.push(Effect::Release {
                party: *id,
                reason: "forward finished".into(),
            });
        }
        if r.early.is_some() {
            self.out.push(Effect::Unbridge);
        }
        if r.transferor.is_none() || r.acd.request.is_some() {
            let heard = acd::Heard {
                ringback: r.ringback.clone(),
                present_virtual_number: r.present_virtual_number,
                hint: r.hint.clone(),
            };
            if self.enter_queue(r.op, heard, r.acd.clone(), outcome) {
                if let Some(t) = r.transferor.take() {
                    // The transfer is done: the caller waits in the target's queue.
                    self.event(Event::TransferCompleted {
                        kind: TransferKind::Blind,
                    });
                    self.out.push(Effect::Release {
                        party: t.id,
                        reason: "call transferred to the queue".into(),
                    });
                }
                return;
            }
            if r.acd.max_wait_passed {
                self.left_queue(now, &r.acd, "max wait");
            }
        }
        if let Some(t) = r.transferor.take() {
            // The transfer failed: tell the transferring phone and give the caller back to it.
            let code = match outcome {
                ForwardOutcome::Busy => 486,
                _ => 480,
            };
            self.out.push(Effect::ReferFailed { party: t.id, code });
            self.event(Event::TransferFailed {
                kind: TransferKind::Blind,
                why: format!("{}; the caller is back with {}", outcome.exit(), t.label),
            });
            self.out.push(Effect::StopOutput {
                of: Listener::Caller,
            });
            self.out.push(Effect::Bridge { party: t.id });
            self.state = State::Talking(Talk {
                op: r.op,
                party: t,
                party_held: false,
                caller_held: false,
                joining: None,
                hinting: false,
            });
            return;
        }
        if self.answered {
            self.out.push(Effect::StopOutput {
                of: Listener::Caller,
            });
        }
        let at = self.unix_ms(now);
        let cmds = self
            .run
            .handle_at(at, scenario::Input::ForwardDone { id: r.op, outcome });
        self.scenario_commands(now, cmds);
    }

    // ---- signals ----

    fn caller_signal(&mut self, now: Instant, s: Signal) {
        match s {
            Signal::Confirmed => {}
            Signal::Cancelled => self.end(EndedBy::Caller, "caller cancelled".into()),
            Signal::Hangup => self.end(EndedBy::Caller, "caller hung up".into()),
            Signal::Failed(why) => self.end(EndedBy::Failure, format!("leg failed: {why}")),
            Signal::MediaTimeout => self.end(EndedBy::Failure, "media timeout".into()),
            Signal::Dtmf {
                digit,
                duration_ms,
                sip_info,
            } => {
                // A PIN's digits stay out of the call's events (its `pin_input` counts them).
                if !(matches!(self.state, State::Scenario) && self.run.hides_digits()) {
                    self.event(Event::Digit {
                        side: Side::Caller,
                        digit,
                        duration_ms,
                        sip_info,
                    });
                }
                if let State::Queued(q) = &mut self.state {
                    if q.acd.callback_key == Some(digit) && !q.callback_asked {
                        q.callback_asked = true;
                        self.out.push(Effect::RequestCallback {
                            scenario: self.run.scenario_id(),
                            op: self.run.current_op().unwrap_or_default().to_string(),
                        });
                    }
                    return;
                }
                if matches!(self.state, State::Rating(_)) {
                    let score = digit.to_digit(10).and_then(|d| u8::try_from(d).ok());
                    if let Some(score) = score.filter(|s| (1..=5).contains(s)) {
                        self.rated(now, Some(score));
                    }
                    return;
                }
                // Keys reach the scenario while it runs alone (menus); in a talk they are
                // the talk options' (see `talk_signal`).
                if matches!(self.state, State::Scenario) {
                    let cmds = self
                        .run
                        .handle_at(self.unix_ms(now), scenario::Input::Digit { digit });
                    self.scenario_commands(now, cmds);
                }
            }
            Signal::Media { held, to } => {
                self.event(Event::MediaMoved {
                    side: Side::Caller,
                    to,
                });
                if let State::Talking(t) = &mut self.state {
                    if t.caller_held != held {
                        t.caller_held = held;
                        let party = t.party.id;
                        self.hold(Side::Caller, held, Listener::Party(party));
                    }
                }
            }
            Signal::Refer {
                target,
                replaces: Some(r),
            } => {
                self.event(Event::TransferRequested {
                    by: "caller".into(),
                    kind: TransferKind::Attended,
                    target,
                });
                match &self.state {
                    State::Talking(t) => {
                        let keep = Listener::Party(t.party.id);
                        if let State::Talking(t) = &mut self.state {
                            t.joining = Some(keep);
                        }
                        self.out.push(Effect::Join { replaces: r, keep });
                    }
                    _ => self.event(Event::TransferFailed {
                        kind: TransferKind::Attended,
                        why: "the caller is not in a talk".into(),
                    }),
                }
            }
            Signal::Refer {
                target,
                replaces: None,
            } => self.event(Event::TransferFailed {
                kind: TransferKind::Blind,
                why: format!(
                    "caller asked for {target}: only the answering side may transfer blind"
                ),
            }),
            // Outbound-only signals never come from the inbound leg.
            Signal::Ringing { .. } | Signal::Answered { .. } | Signal::Rejected { .. } => {}
        }
    }

    fn party_signal(&mut self, now: Instant, id: PartyId, s: Signal) {
        match &self.state {
            State::Ringing(r) if r.parties.contains_key(&id) => self.ringing_signal(now, id, s),
            State::Ringing(r) if r.transferor.as_ref().is_some_and(|t| t.id == id) => {
                self.transferor_signal(id, s)
            }
            State::Talking(t) if t.party.id == id => self.talk_signal(now, s),
            State::Joined { party: Some(p) } if p.id == id => match s {
                Signal::Hangup | Signal::Failed(_) | Signal::MediaTimeout => {
                    self.end(EndedBy::Callee, "employee hung up".into())
                }
                _ => {}
            },
            _ => {
                if let Signal::Answered { .. } = s {
                    // A late answer of a party no longer wanted: it lost.
                    self.out.push(Effect::Release {
                        party: id,
                        reason: "call answered elsewhere".into(),
                    });
                }
            }
        }
    }

    fn ringing_signal(&mut self, now: Instant, id: PartyId, s: Signal) {
        let State::Ringing(r) = &mut self.state else {
            return;
        };
        let label = r
            .parties
            .get(&id)
            .map(|p| p.label.clone())
            .unwrap_or_default();
        match s {
            Signal::Ringing { early: false } => self.ring_caller(),
            Signal::Ringing { early: true } => {
                self.event(Event::EarlyMedia { from: label });
                let State::Ringing(r) = &mut self.state else {
                    return;
                };
                // The first party with early media is the one the caller hears.
                if r.early.is_some() {
                    return;
                }
                r.early = Some(id);
                if !self.answered {
                    self.caller_ringing = true;
                    self.out.push(Effect::ProgressCaller);
                }
                self.out.push(Effect::StopOutput {
                    of: Listener::Caller,
                });
                self.out.push(Effect::Bridge { party: id });
            }
            Signal::Answered { dialog, .. } => {
                if let Some(p) = r.parties.get_mut(&id) {
                    p.dialog = Some(dialog);
                }
                let actions = r.ringer.answered(id.0);
                self.ring_actions(now, actions);
            }
            Signal::Rejected { code, cause } => {
                r.parties.remove(&id);
                if r.early == Some(id) {
                    r.early = None;
                    self.out.push(Effect::Unbridge);
                }
                let actions = r.ringer.rejected(id.0, code, cause);
                if self.answered && !actions.is_empty() {
                    let prompt = r.ringback.clone();
                    self.out.push(Effect::Ringback { prompt });
                }
                self.out.push(Effect::Release {
                    party: id,
                    reason: "refused".into(),
                });
                self.ring_actions(now, actions);
            }
            Signal::Failed(_) | Signal::Hangup | Signal::MediaTimeout => {
                // A leg that fails before answering is a refusal.
                self.ringing_signal(
                    now,
                    id,
                    Signal::Rejected {
                        code: 500,
                        cause: LegCause::Failed,
                    },
                )
            }
            Signal::Dtmf { .. }
            | Signal::Media { .. }
            | Signal::Refer { .. }
            | Signal::Confirmed
            | Signal::Cancelled => {}
        }
    }

    /// The transferring party while a blind transfer rings.
    fn transferor_signal(&mut self, id: PartyId, s: Signal) {
        if let Signal::Hangup | Signal::Failed(_) = s {
            if let State::Ringing(r) = &mut self.state {
                if let Some(t) = r.transferor.take() {
                    self.out.push(Effect::Event(Event::Note(format!(
                        "{}: left during the transfer",
                        t.label
                    ))));
                    self.out.push(Effect::Release {
                        party: id,
                        reason: "left".into(),
                    });
                }
            }
        }
    }

    fn talk_signal(&mut self, now: Instant, s: Signal) {
        let State::Talking(t) = &mut self.state else {
            return;
        };
        match s {
            Signal::Hangup => self.talk_over(now, "employee hung up".into()),
            Signal::Failed(why) => self.talk_over(now, format!("employee leg failed: {why}")),
            Signal::MediaTimeout => self.end(EndedBy::Failure, "media timeout".into()),
            Signal::Media { held, to } => {
                let changed = t.party_held != held;
                t.party_held = held;
                self.event(Event::MediaMoved {
                    side: Side::Callee,
                    to,
                });
                if changed {
                    self.hold(Side::Callee, held, Listener::Caller);
                }
            }
            Signal::Dtmf {
                digit,
                duration_ms,
                sip_info,
            } => {
                self.event(Event::Digit {
                    side: Side::Callee,
                    digit,
                    duration_ms,
                    sip_info,
                });
                self.talk_key(now, digit);
            }
            Signal::Refer {
                target,
                replaces: None,
            } => self.blind_transfer(now, target),
            Signal::Refer {
                target,
                replaces: Some(r),
            } => {
                t.joining = Some(Listener::Caller);
                let by = t.party.label.clone();
                self.event(Event::TransferRequested {
                    by,
                    kind: TransferKind::Attended,
                    target,
                });
                self.out.push(Effect::Join {
                    replaces: r,
                    keep: Listener::Caller,
                });
            }
            Signal::Confirmed
            | Signal::Cancelled
            | Signal::Ringing { .. }
            | Signal::Answered { .. }
            | Signal::Rejected { .. } => {}
        }
    }

    /// Music on hold for `listener` while `side` holds; the bridge resumes after.
    fn hold(&mut self, side: Side, held: bool, listener: Listener) {
        self.event(Event::Hold { side, held });
        self.out.push(if held {
            Effect::MusicOnHold { to: listener }
        } else {
            Effect::StopOutput { of: listener }
        });
    }

    /// The talk ended on the party's side: the scenario goes on at the `answered` exit.
    fn talk_over(&mut self, now: Instant, why: String) {
        let State::Talking(t) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        self.event(Event::TalkEnded { side: Side::Callee });
        self.out.push(Effect::Unbridge);
        self.out.push(Effect::Release {
            party: t.party.id,
            reason: why,
        });
        if self.ask_rating(now, t.op, t.party.employee) {
            return;
        }
        let cmds = self.run.handle_at(
            self.unix_ms(now),
            scenario::Input::ForwardDone {
                id: t.op,
                outcome: ForwardOutcome::Answered,
            },
        );
        self.scenario_commands(now, cmds);
    }

    // ---- transfers and talk options ----

    /// Blind transfer by the party in the talk: the caller hears ringback while `target` rings
    /// under the same operation; the party's leg stays up until the target answers (then the
    /// REFER's final NOTIFY 200 and a BYE release it) or fails (then a final NOTIFY with the
    /// failure goes to the party and the caller is connected back to it).
    fn blind_transfer(&mut self, now: Instant, target: String) {
        let State::Talking(t) = &self.state else {
            return;
        };
        let by = t.party.label.clone();
        let to = match classify(&self.snapshot, &target) {
            Dialled::Employee(id, _) => ForwardTarget::Employee { id },
            Dialled::Group(id, _) => ForwardTarget::Group { id },
            Dialled::External(number) => ForwardTarget::External {
                number,
                timeout_s: None,
            },
            Dialled::Pickup(_) | Dialled::Unknown => {
                self.event(Event::TransferFailed {
                    kind: TransferKind::Blind,
                    why: format!("{by}: unknown target '{target}' ignored"),
                });
                return;
            }
        };
        self.event(Event::TransferRequested {
            by,
            kind: TransferKind::Blind,
            target,
        });
        let State::Talking(t) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        self.out.push(Effect::Unbridge);
        // An employee whose setting says "join the queue" keeps the caller in their queue when
        // they cannot take the call (SPEC §4.3); otherwise a failed transfer goes back.
        let joins_queue = matches!(to, ForwardTarget::Employee { id }
            if self.snapshot.employee(id).is_some_and(|e| e.transfers_join_queue));
        let forward = Forward {
            operator_hint: None,
            targets: vec![to],
            mode: RingMode::Sequential,
            max_wait_s: None,
            ringback: None,
            present_virtual_number: false,
            strategy: None,
            queue: joins_queue.then(vpbx_store::model::QueueSettings::default),
            wrap_up_s: 0,
            not_answered: None,
        };
        self.forward(now, t.op, forward, Some(t.party));
    }

    fn talk_key(&mut self, now: Instant, digit: char) {
        let options = &self.snapshot.talk_options;
        let keys = self.keys.get_or_insert_with(|| TalkKeys::new(now));
        let hit = keys.push(now, options, digit);
        // The collector's deadline is the call's TalkKeys timer.
        match keys.poll_timeout() {
            Some(at) => self.timers.set(Timer::TalkKeys, at),
            None => self.timers.cancel(Timer::TalkKeys),
        }
        let Some(hit) = hit else {
            return;
        };
        match hit.action {
            vpbx_store::model::TalkAction::Recorder => {
                let action = if self.recording {
                    self.out.push(Effect::StopRecording);
                    "recording stopped"
                } else {
                    self.out.push(Effect::StartRecording);
                    "recording started"
                };
                self.recording = !self.recording;
                self.event(Event::TalkOption {
                    keys: hit.keys,
                    action: action.into(),
                });
            }
            vpbx_store::model::TalkAction::Tag { tag } => {
                let employee = match &self.state {
                    State::Talking(t) => t.party.employee,
                    _ => None,
                };
                self.event(Event::TalkOption {
                    keys: hit.keys,
                    action: "call tagged".into(),
                });
                self.event(Event::Tagged { tag, employee });
            }
            other => self.event(Event::TalkOption {
                keys: hit.keys,
                action: format!("{other:?} is not available during calls yet"),
            }),
        }
    }

    /// The other call answered our [`Effect::Join`].
    fn joined(&mut self, res: Result<(), String>) {
        let State::Talking(t) = &mut self.state else {
            return;
        };
        let party = t.party.clone();
        let joining = t.joining.take();
        match res {
            Err(why) => self.event(Event::TransferFailed {
                kind: TransferKind::Attended,
                why,
            }),
            Ok(()) => {
                self.event(Event::TransferCompleted {
                    kind: TransferKind::Attended,
                });
                if joining == Some(Listener::Caller) {
                    // Our party transferred: its leg ends, the caller talks with the other call.
                    self.state = State::Joined { party: None };
                    self.out.push(Effect::Unbridge);
                    self.out.push(Effect::Release {
                        party: party.id,
                        reason: "call transferred".into(),
                    });
                } else {
                    // Our caller's phone transferred: its leg ends, our party talks on.
                    self.state = State::Joined { party: Some(party) };
                    self.out.push(Effect::HangupCaller {
                        reason: "call transferred".into(),
                    });
                }
            }
        }
    }

    // ---- the end ----

    fn end(&mut self, by: EndedBy, reason: String) {
        if self.is_ended() {
            return;
        }
        let result = match by {
            EndedBy::Failure => CallResult::Failed,
            _ if self.answered => CallResult::Answered,
            EndedBy::Caller => CallResult::Abandoned,
            _ => match self.last_forward {
                Some(ForwardOutcome::Busy) => CallResult::Busy,
                _ => CallResult::NotAnswered,
            },
        };
        if result == CallResult::Busy && by == EndedBy::Switch {
            // The caller learns whether the phones were busy (486, not a generic 480) or
            // could not be reached, and who.
            let who = self
                .last_forward_target
                .as_deref()
                .unwrap_or("Everyone called");
            self.out.push(if self.last_forward_busy_here {
                Effect::RejectCaller {
                    code: 486,
                    reason: format!("{who} is busy"),
                }
            } else if let Some(code) = self.last_forward_failed {
                let why = if code == 408 {
                    "the carrier did not answer"
                } else {
                    "the call failed"
                };
                Effect::RejectCaller {
                    code: if code == 408 { 408 } else { 503 },
                    reason: format!("{who} could not be reached: {why}"),
                }
            } else {
                Effect::RejectCaller {
                    code: 480,
                    reason: format!("{who} is not available"),
                }
            });
        }
        let side = match by {
            EndedBy::Caller => HangupSide::Caller,
            EndedBy::Callee => HangupSide::Callee,
            EndedBy::Switch | EndedBy::Failure => HangupSide::Switch,
        };
        self.timers.clear();
        self.state = State::Ended;
        self.event(Event::HangUp {
            side,
            cause: reason.clone(),
        });
        self.out.push(Effect::End {
            result,
            side,
            reason,
        });
    }
}

/// The targets of a forward operation in words, e.g. `Extension 101`, `Group Sales (200)`.
/// The extensions a menu's extension entry reaches: employees' and groups' (SPEC §1).
fn extensions(cfg: &CompanyConfig) -> scenario::Extensions {
    let mut out = scenario::Extensions::new();
    for e in &cfg.employees {
        out.insert(e.extension.clone(), ForwardTarget::Employee { id: e.id });
    }
    for g in &cfg.groups {
        if let Some(x) = &g.extension {
            out.insert(x.clone(), ForwardTarget::Group { id: g.id });
        }
    }
    out
}

fn describe_targets(cfg: &CompanyConfig, targets: &[ForwardTarget]) -> String {
    let [target] = targets else {
        return "Everyone called".into();
    };
    match target {
        ForwardTarget::Employee { id } => match cfg.employees.iter().find(|e| e.id == *id) {
            Some(e) => format!("Extension {}", e.extension),
            None => "The employee called".into(),
        },
        ForwardTarget::Group { id } => match cfg.groups.iter().find(|g| g.id == *id) {
            Some(g) => match &g.extension {
                Some(ext) => format!("Group {} ({ext})", g.name),
                None => format!("Group {}", g.name),
            },
            None => "The group called".into(),
        },
        ForwardTarget::External { number, .. } => format!("Number {number}"),
        ForwardTarget::SipUri { uri, .. } => format!("sip:{uri}"),
    }
}

/// Who ended a call: with whether it was answered, decides its result and hang-up side.
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
