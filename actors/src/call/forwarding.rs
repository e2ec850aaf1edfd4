//! The forward operation inside a call actor: it executes the pure [`Ringer`]'s actions
//! (outbound legs through the [`Dialer`](crate::leg::Dialer), their media sessions, timers),
//! connects the caller to the leg that answers, passes early media, and handles hold during
//! the talk (music on hold for the party left alone).

use super::{CallActor, FromMedia};
use crate::core::forward::{plan, ForwardOutcome, RingAction, Ringer};
use crate::core::scenario::Input;
use crate::leg::{DialRequest, LegCommand, LegEvent};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};
use vpbx_media::{BridgeHandle, Direction, MediaHandle, MediaLeg, Negotiated, PlayOptions};
use vpbx_store::model::{EmployeeId, Forward, LegCause, PhoneType, Prompt};

/// Media id of the ringback loop played to an answered caller.
const RINGBACK_ID: u64 = u64::MAX - 1;
/// Media id of music on hold.
const HOLD_ID: u64 = u64::MAX - 2;

/// Generations of forward operations (a transfer starts a new one under the same scenario id).
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// One outbound leg of a forward operation.
pub(super) struct OutParty {
    commands: UnboundedSender<LegCommand>,
    /// Until the leg's media starts (early media or answer).
    media_leg: Option<MediaLeg>,
    media: Option<MediaHandle>,
    employee: Option<EmployeeId>,
    label: String,
    /// The party put the call on hold (sendonly/inactive re-INVITE).
    held: bool,
    /// The answered dialog (Call-ID, our tag, theirs), for transfers that name it.
    dialog: Option<(String, String, String)>,
}

impl OutParty {
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

/// The forward operation in progress.
pub(super) struct Forwarding {
    /// Scenario correlation id.
    id: u64,
    /// Distinguishes timers of an older forward operation of the same call.
    generation: u64,
    forward: Forward,
    ringer: Ringer,
    parties: HashMap<u32, OutParty>,
    /// The leg whose early media the caller hears.
    early: Option<u32>,
    /// The leg in the talk.
    talk: Option<u32>,
    bridge: Option<BridgeHandle>,
    /// The caller put the call on hold.
    caller_held: bool,
    /// During a blind transfer: the employee who transferred, kept until the target answers
    /// (then released) or fails (then the caller goes back to them).
    transferor: Option<Transferor>,
}

/// The employee of a blind transfer in progress, with the generation its events carry.
pub(super) struct Transferor {
    generation: u64,
    leg: u32,
    party: OutParty,
}

/// A digit from an outbound party's media.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub(super) struct EmployeeDigit {
    leg: u32,
    digit: char,
}

impl Handler<EmployeeDigit> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: EmployeeDigit, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        if self.forwarding.as_ref().and_then(|f| f.talk) == Some(msg.leg) {
            self.note(format!("employee digit '{}'", msg.digit));
            self.employee_digit(msg.digit, ctx);
        }
    }
}

/// An event of outbound leg `leg`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub(super) struct FromOut {
    generation: u64,
    leg: u32,
    event: LegEvent,
}

impl Handler<FromOut> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: FromOut, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        let current = self.forwarding.as_ref().map(|f| f.generation);
        if current == Some(msg.generation) {
            self.out_event(msg.leg, msg.event, ctx);
            return;
        }
        let transferor = self
            .forwarding
            .as_ref()
            .and_then(|f| f.transferor.as_ref())
            .is_some_and(|t| t.generation == msg.generation && t.leg == msg.leg);
        if transferor {
            self.transferor_event(msg.event);
        }
    }
}

/// Which leg of this call sent the REFER of an attended transfer.
#[derive(Debug, Clone, Copy)]
pub(super) enum TransferFrom {
    /// The employee in the talk.
    Party,
    /// The caller (a phone of the box that called out and now transfers).
    Caller,
}

/// Another call's attended transfer names one of this call's dialogs: the leg of that dialog
/// ends and this call's other party is bridged to `media`. Answers the partner's address.
#[derive(Message)]
#[rtype(result = "Result<Addr<CallActor>, String>")]
pub(super) struct JoinRequest {
    replaces: crate::leg::Replaces,
    partner: Addr<CallActor>,
    media: MediaHandle,
}

/// The call this one is joined with (attended transfer) ended.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct PartnerEnded;

impl Handler<PartnerEnded> for CallActor {
    type Result = ();
    fn handle(&mut self, _: PartnerEnded, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        self.joined = None;
        self.end(
            super::EndedBy::Callee,
            "the other party of the transfer hung up".into(),
            ctx,
        );
    }
}

impl Handler<JoinRequest> for CallActor {
    type Result = Result<Addr<CallActor>, String>;
    fn handle(&mut self, msg: JoinRequest, ctx: &mut Context<Self>) -> Self::Result {
        let _g = self.span.clone().entered();
        let r = &msg.replaces;
        let info = &self.leg_info;
        let caller_matches = r.names(&info.sip_call_id, &info.local_tag, &info.remote_tag);
        let talk = self.forwarding.as_ref().and_then(|f| {
            let leg = f.talk?;
            let p = f.parties.get(&leg)?;
            let (cid, a, b) = p.dialog.as_ref()?;
            r.names(cid, a, b).then(|| (leg, p.media.clone()))
        });
        let far = if caller_matches {
            // The transferring phone is our caller: our employee party stays.
            let Some(party) = self
                .forwarding
                .as_ref()
                .and_then(|f| f.talk.and_then(|l| f.parties.get(&l)))
                .and_then(|p| p.media.clone())
            else {
                return Err("the replaced call has no one to connect".into());
            };
            self.send_leg(LegCommand::Hangup {
                reason: "call transferred".into(),
            });
            self.leg_open = false;
            self.caller_transferred = true;
            party
        } else if let Some((leg, _)) = talk {
            // The transferring phone is our employee party: our caller stays.
            let Some(caller) = self.media.clone() else {
                return Err("the replaced call has no media".into());
            };
            if let Some(f) = self.forwarding.as_mut() {
                if let Some(p) = f.parties.remove(&leg) {
                    p.release("call transferred");
                }
                f.talk = None;
                f.bridge = None;
            }
            self.forwarding = None;
            caller
        } else {
            return Err("no dialog of this call matches Replaces".into());
        };
        if let Err(e) = self.deps.media.bridge(&far, &msg.media) {
            return Err(format!("bridge failed: {e}"));
        }
        self.note("joined with another call (attended transfer)".into());
        self.joined = Some(msg.partner);
        Ok(ctx.address())
    }
}

impl CallActor {
    /// Starts a forward operation.
    pub(super) fn forward(&mut self, id: u64, forward: Forward, ctx: &mut Context<Self>) {
        self.forward_with(id, forward, None, ctx);
    }

    fn forward_with(
        &mut self,
        id: u64,
        forward: Forward,
        transferor: Option<Transferor>,
        ctx: &mut Context<Self>,
    ) {
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let plan = plan(&self.snapshot, &forward);
        let max_wait = forward.max_wait_s;
        self.forwarding = Some(Forwarding {
            id,
            generation,
            ringer: Ringer::new(plan),
            parties: HashMap::new(),
            early: None,
            talk: None,
            bridge: None,
            caller_held: false,
            transferor,
            forward,
        });
        if self.answer_unix_ms.is_some() {
            self.start_ringback(ctx);
        } else {
            self.ring_caller();
        }
        if let Some(s) = max_wait {
            ctx.run_later(Duration::from_secs(u64::from(s)), move |act, ctx| {
                let Some(f) = act.forwarding.as_mut() else {
                    return;
                };
                if f.generation != generation || f.talk.is_some() {
                    return;
                }
                let actions = f.ringer.give_up();
                act.ring_actions(actions, ctx);
            });
        }
        let actions = match self.forwarding.as_mut() {
            Some(f) => f.ringer.start(),
            None => return,
        };
        self.ring_actions(actions, ctx);
    }

    fn start_ringback(&mut self, ctx: &mut Context<Self>) {
        let Some(media) = self.media.clone() else {
            return;
        };
        let custom = self
            .forwarding
            .as_ref()
            .and_then(|f| f.forward.ringback.clone());
        let prompt = match custom {
            Some(Prompt::File { id }) => self.snapshot.file(id).and_then(|meta| {
                let path = self.deps.data_dir.join(&meta.path);
                match self.deps.media.prompts().get_or_load(&path) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        warn!(error = %e, "ringback file not playable; tone instead");
                        None
                    }
                }
            }),
            // A text ringback is spoken once per loop; the tone covers the TTS delay.
            Some(Prompt::Text { .. }) | None => None,
        };
        let prompt = prompt.unwrap_or_else(|| Arc::new(vpbx_media::tones::ringback_ru()));
        let _ = ctx;
        media.play_sequence(
            RINGBACK_ID,
            vec![prompt],
            PlayOptions {
                looped: true,
                barge_in: false,
            },
        );
    }

    fn ring_actions(&mut self, actions: Vec<RingAction>, ctx: &mut Context<Self>) {
        for a in actions {
            match a {
                RingAction::Trace(t) => self.note(t),
                RingAction::Dial { leg, ring } => self.dial(leg, ring, ctx),
                RingAction::Cancel { leg } => self.drop_party(leg, "call answered elsewhere"),
                RingAction::Timer { round, ms } => {
                    let Some(generation) = self.forwarding.as_ref().map(|f| f.generation) else {
                        continue;
                    };
                    ctx.run_later(Duration::from_millis(ms), move |act, ctx| {
                        let Some(f) = act.forwarding.as_mut() else {
                            return;
                        };
                        if f.generation != generation {
                            return;
                        }
                        let actions = f.ringer.round_timeout(round);
                        act.ring_actions(actions, ctx);
                    });
                }
                RingAction::Connect { leg } => self.connect(leg, ctx),
                RingAction::Done(outcome) => self.forward_done(outcome, ctx),
            }
        }
    }

    fn dial(&mut self, leg: u32, ring: crate::core::forward::Ring, ctx: &mut Context<Self>) {
        let engine = self.deps.media.clone();
        let generation = match &self.forwarding {
            Some(f) => f.generation,
            None => return,
        };
        ctx.spawn(async move { engine.open_leg().await }.into_actor(self).map(
            move |res, act, ctx| {
                let _g = act.span.clone().entered();
                let Some(f) = act.forwarding.as_mut() else {
                    return;
                };
                if f.generation != generation || f.ringer.label(leg).is_none() {
                    return;
                }
                let media_leg = match res {
                    Ok(m) => m,
                    Err(e) => {
                        let actions = f.ringer.rejected(
                            leg,
                            503,
                            LegCause::Failed,
                            &format!("no media: {e}"),
                        );
                        act.ring_actions(actions, ctx);
                        return;
                    }
                };
                if f.ringer.is_done() {
                    return;
                }
                let local = media_leg.local_addr();
                let offer = vpbx_media::offer(local.ip(), local.port(), act.start_unix_ms, 1);
                // SPEC §5: SIP phones see the caller's number, telephone numbers see the
                // virtual number (presenting a foreign number there is not allowed).
                let caller_id = match ring.kind {
                    PhoneType::S if !f.forward.present_virtual_number => act.leg_info.numa.clone(),
                    _ => act
                        .outbound_caller_id
                        .clone()
                        .unwrap_or_else(|| act.leg_info.numb.clone()),
                };
                let out = act.deps.dialer.dial(DialRequest {
                    call_id: act.id.0.clone(),
                    target: ring.target.clone(),
                    caller_id,
                    caller_name: None,
                    offer_sdp: offer,
                    replaces: None,
                });
                f.parties.insert(
                    leg,
                    OutParty {
                        commands: out.commands,
                        media_leg: Some(media_leg),
                        media: None,
                        employee: ring.employee,
                        label: ring.label.clone(),
                        held: false,
                        dialog: None,
                    },
                );
                let mut events = out.events;
                let addr = ctx.address();
                ctx.spawn(
                    async move {
                        while let Some(event) = events.recv().await {
                            addr.do_send(FromOut {
                                generation,
                                leg,
                                event,
                            });
                        }
                    }
                    .into_actor(act),
                );
            },
        ));
    }

    /// Starts the media of an outbound party towards `remote`.
    fn start_party_media(&mut self, leg: u32, n: &Negotiated, ctx: &mut Context<Self>) {
        let Some(p) = self
            .forwarding
            .as_mut()
            .and_then(|f| f.parties.get_mut(&leg))
        else {
            return;
        };
        if let Some(m) = &p.media {
            m.set_remote(n.remote);
            return;
        }
        let Some(media_leg) = p.media_leg.take() else {
            return;
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        p.media = Some(media_leg.start(n.remote, n.codec, n.telephone_event, tx));
        let addr = ctx.address();
        ctx.spawn(
            async move {
                while let Some(ev) = rx.recv().await {
                    // The party's media events: a timeout ends the call, digits are talk
                    // options.
                    match ev {
                        vpbx_media::MediaEvent::Timeout => addr.do_send(FromMedia(ev)),
                        vpbx_media::MediaEvent::Dtmf { digit, .. } => {
                            addr.do_send(EmployeeDigit { leg, digit })
                        }
                        _ => {}
                    }
                }
            }
            .into_actor(self),
        );
    }

    fn bridge_to(&mut self, leg: u32) {
        let (Some(caller), Some(f)) = (self.media.clone(), self.forwarding.as_mut()) else {
            return;
        };
        let Some(party) = f.parties.get(&leg).and_then(|p| p.media.clone()) else {
            return;
        };
        caller.stop_output();
        match self.deps.media.bridge(&caller, &party) {
            Ok(b) => f.bridge = Some(b),
            Err(e) => warn!(error = %e, "bridge failed"),
        }
    }

    fn out_event(&mut self, leg: u32, event: LegEvent, ctx: &mut Context<Self>) {
        let talk = self.forwarding.as_ref().and_then(|f| f.talk);
        match event {
            LegEvent::Ringing { early } => {
                let label = self.party_label(leg);
                let Some(n) = early else {
                    self.note(format!("{label}: ringing"));
                    self.ring_caller();
                    return;
                };
                self.note(format!("{label}: early media"));
                let first_early = self.forwarding.as_ref().is_some_and(|f| f.early.is_none());
                if !first_early || talk.is_some() {
                    return;
                }
                self.start_party_media(leg, &n, ctx);
                if self.answer_unix_ms.is_none() {
                    // Pass the callee's early media to the caller: 183 with our SDP.
                    let Some(sdp) = self.start_caller_media(ctx) else {
                        return;
                    };
                    self.caller_ringing = true;
                    self.send_leg(LegCommand::Progress { sdp });
                }
                if let Some(f) = self.forwarding.as_mut() {
                    f.early = Some(leg);
                }
                self.bridge_to(leg);
            }
            LegEvent::Answered { answer, by, dialog } => {
                debug!(leg, %by, "outbound leg answered");
                self.register_dialog(dialog.0.clone(), ctx);
                if let Some(p) = self
                    .forwarding
                    .as_mut()
                    .and_then(|f| f.parties.get_mut(&leg))
                {
                    p.dialog = Some(dialog);
                }
                self.start_party_media(leg, &answer, ctx);
                let actions = match self.forwarding.as_mut() {
                    Some(f) => f.ringer.answered(leg),
                    None => return,
                };
                self.ring_actions(actions, ctx);
            }
            LegEvent::Rejected {
                code,
                cause,
                reason,
            } => {
                if let Some(f) = self.forwarding.as_mut() {
                    if let Some(p) = f.parties.remove(&leg) {
                        if let Some(m) = p.media {
                            m.close();
                        }
                    }
                    if f.early == Some(leg) {
                        f.early = None;
                        if let Some(b) = f.bridge.take() {
                            b.unbridge();
                        }
                    }
                    let actions = f.ringer.rejected(leg, code, cause, &reason);
                    if self.answer_unix_ms.is_some() && !actions.is_empty() {
                        self.start_ringback(ctx);
                    }
                    self.ring_actions(actions, ctx);
                }
            }
            LegEvent::RemoteHangup | LegEvent::Failed(_) | LegEvent::Ended => {
                if talk == Some(leg) {
                    let why = match &event {
                        LegEvent::Failed(w) => format!("employee leg failed: {w}"),
                        _ => "employee hung up".to_string(),
                    };
                    self.note(why.clone());
                    self.talk_over(&why, ctx);
                } else if let LegEvent::Failed(w) = event {
                    // A leg that fails before answering is a refusal.
                    self.out_event(
                        leg,
                        LegEvent::Rejected {
                            code: 500,
                            cause: LegCause::Failed,
                            reason: w,
                        },
                        ctx,
                    );
                }
            }
            LegEvent::RemoteMedia { offer } => {
                let held = offer.direction != Direction::SendRecv;
                self.start_party_media(leg, &offer, ctx);
                if talk != Some(leg) {
                    return;
                }
                let was = self
                    .forwarding
                    .as_mut()
                    .and_then(|f| f.parties.get_mut(&leg))
                    .map(|p| std::mem::replace(&mut p.held, held));
                if was == Some(held) {
                    return;
                }
                let label = self.party_label(leg);
                let caller = self.media.clone();
                self.hold_changed(&label, held, caller.as_ref());
            }
            LegEvent::Dtmf { digit, duration_ms } => {
                self.note(format!(
                    "employee digit '{digit}' ({duration_ms} ms, SIP INFO)"
                ));
                if talk == Some(leg) {
                    self.employee_digit(digit, ctx);
                }
            }
            LegEvent::Refer { target, replaces } if talk == Some(leg) => {
                let label = self.party_label(leg);
                match replaces {
                    None => self.blind_transfer(&label, &target, ctx),
                    Some(r) => {
                        self.note(format!("{label}: attended transfer to {target}"));
                        let media = self.media.clone();
                        self.join_with(r, media, TransferFrom::Party, ctx);
                    }
                }
            }
            LegEvent::Refer { .. } => {}
            LegEvent::Confirmed | LegEvent::Cancelled => {}
        }
    }

    /// Music on hold for `listener` while the other side holds; the bridge resumes after.
    fn hold_changed(&mut self, who: &str, held: bool, listener: Option<&MediaHandle>) {
        self.note(format!(
            "{who} {}",
            if held {
                "put the call on hold"
            } else {
                "resumed the call"
            }
        ));
        let Some(listener) = listener else {
            return;
        };
        if held {
            listener.play_sequence(
                HOLD_ID,
                vec![Arc::new(vpbx_media::tones::music_on_hold())],
                PlayOptions {
                    looped: true,
                    barge_in: false,
                },
            );
        } else {
            // Stopping the output resumes the bridge (links resume after a prompt).
            listener.stop_output();
        }
    }

    /// The caller's re-INVITE during a talk: hold or resume from the caller's side.
    pub(super) fn caller_media_changed(&mut self, offer: &Negotiated) {
        let held = offer.direction != Direction::SendRecv;
        let Some(f) = self.forwarding.as_mut() else {
            return;
        };
        let Some(leg) = f.talk else {
            return;
        };
        if f.caller_held == held {
            return;
        }
        f.caller_held = held;
        let party = f.parties.get(&leg).and_then(|p| p.media.clone());
        self.hold_changed("caller", held, party.as_ref());
    }

    /// Media of the party in the talk, if any.
    pub(super) fn talk_media(&self) -> Option<MediaHandle> {
        let f = self.forwarding.as_ref()?;
        f.parties.get(&f.talk?)?.media.clone()
    }

    fn party_label(&self, leg: u32) -> String {
        self.forwarding
            .as_ref()
            .and_then(|f| f.parties.get(&leg))
            .map(|p| p.label.clone())
            .unwrap_or_else(|| format!("leg {leg}"))
    }

    fn connect(&mut self, leg: u32, ctx: &mut Context<Self>) {
        self.answer(ctx);
        let Some(f) = self.forwarding.as_mut() else {
            return;
        };
        f.talk = Some(leg);
        let employee = f.parties.get(&leg).and_then(|p| p.employee);
        if let Some(e) = employee {
            if !self.employees.contains(&e) {
                self.employees.push(e);
            }
        }
        let transferor = f.transferor.take();
        self.note(format!("talk with {}", self.party_label(leg)));
        self.bridge_to(leg);
        if let Some(t) = transferor {
            // The transfer succeeded: the transferring employee is released (the edge sends
            // the REFER's final NOTIFY, then BYE).
            self.note(format!("{}: transfer completed", t.party.label));
            t.party.release("call transferred");
        }
    }

    /// An event of the transferring employee's leg while the transfer rings.
    fn transferor_event(&mut self, event: LegEvent) {
        let Some(f) = self.forwarding.as_mut() else {
            return;
        };
        match event {
            LegEvent::RemoteHangup | LegEvent::Failed(_) | LegEvent::Ended => {
                if let Some(t) = f.transferor.take() {
                    self.note(format!("{}: left during the transfer", t.party.label));
                    if let Some(m) = t.party.media {
                        m.close();
                    }
                }
            }
            LegEvent::RemoteMedia { offer } => {
                if let Some(m) = f.transferor.as_ref().and_then(|t| t.party.media.as_ref()) {
                    m.set_remote(offer.remote);
                }
            }
            _ => {}
        }
    }

    /// Blind transfer by the employee in the talk: the caller hears ringback while `target`
    /// rings in a new run under the same operation; the employee's leg stays up until the target
    /// answers (then the REFER's final NOTIFY 200 and a BYE release it) or fails (then a final
    /// NOTIFY with the failure goes to the employee and the caller is connected back).
    fn blind_transfer(&mut self, who: &str, target: &str, ctx: &mut Context<Self>) {
        use crate::core::dialplan::{classify, Dialled};
        use vpbx_store::model::ForwardTarget;
        let t = match classify(&self.snapshot, target) {
            Dialled::Employee(id, _) => Some(ForwardTarget::Employee { id }),
            Dialled::Group(id, _) => Some(ForwardTarget::Group { id }),
            Dialled::External(number) => Some(ForwardTarget::External {
                number,
                timeout_s: None,
            }),
            Dialled::Unknown => None,
        };
        let Some(t) = t else {
            self.note(format!(
                "{who}: blind transfer to unknown '{target}' ignored"
            ));
            return;
        };
        self.note(format!("{who}: blind transfer to {target}"));
        // Keep the transferring employee aside until the target answers.
        let Some(f) = self.forwarding.as_mut() else {
            return;
        };
        let id = f.id;
        let generation = f.generation;
        let transferor = f.talk.take().and_then(|leg| {
            f.parties.remove(&leg).map(|party| Transferor {
                generation,
                leg,
                party,
            })
        });
        if let Some(b) = f.bridge.take() {
            b.unbridge();
        }
        self.drop_forwarding("call transferred");
        self.start_ringback(ctx);
        self.forward_with(
            id,
            Forward {
                targets: vec![t],
                mode: vpbx_store::model::RingMode::Sequential,
                max_wait_s: None,
                ringback: None,
                present_virtual_number: false,
            },
            transferor,
            ctx,
        );
    }

    /// Attended transfer: the call holding the dialog `r` names takes our remaining party
    /// (`media`); on success the transferring phone's leg here ends.
    pub(super) fn join_with(
        &mut self,
        r: crate::leg::Replaces,
        media: Option<MediaHandle>,
        from: TransferFrom,
        ctx: &mut Context<Self>,
    ) {
        let partner = self.deps.dialogs.get(&r.call_id);
        let (Some(partner), Some(media)) = (partner, media) else {
            self.note("attended transfer failed: the replaced call is not on this box".into());
            return;
        };
        if partner == ctx.address() {
            self.note("attended transfer failed: a call cannot replace itself".into());
            return;
        }
        let me = ctx.address();
        partner
            .send(JoinRequest {
                replaces: r,
                partner: me,
                media,
            })
            .into_actor(self)
            .map(move |res, act, ctx| {
                let _g = act.span.clone().entered();
                match res {
                    Ok(Ok(partner)) => {
                        act.note("attended transfer connected".into());
                        act.joined = Some(partner);
                        match from {
                            TransferFrom::Party => {
                                // The transferring employee's leg ends; the scenario waits
                                // no more for this talk.
                                act.drop_forwarding("call transferred");
                                act.forwarding = None;
                            }
                            TransferFrom::Caller => {
                                act.send_leg(LegCommand::Hangup {
                                    reason: "call transferred".into(),
                                });
                                act.leg_open = false;
                                act.caller_transferred = true;
                            }
                        }
                    }
                    Ok(Err(why)) => act.note(format!("attended transfer failed: {why}")),
                    Err(e) => act.note(format!("attended transfer failed: {e}")),
                }
                let _ = ctx;
            })
            .wait(ctx);
    }

    /// The employee's side of the talk ended: the scenario goes on at the `answered` exit.
    fn talk_over(&mut self, why: &str, ctx: &mut Context<Self>) {
        if self.caller_transferred {
            // The caller's phone transferred this call away: nothing is left to continue.
            self.end(super::EndedBy::Callee, why.into(), ctx);
            return;
        }
        let Some(id) = self.forwarding.as_ref().map(|f| f.id) else {
            return;
        };
        self.drop_forwarding(why);
        let cmds = self.run.handle(Input::ForwardDone {
            id,
            outcome: ForwardOutcome::Answered,
        });
        self.execute(cmds, ctx);
    }

    fn forward_done(&mut self, outcome: ForwardOutcome, ctx: &mut Context<Self>) {
        let Some(id) = self.forwarding.as_ref().map(|f| f.id) else {
            return;
        };
        self.last_forward = Some(outcome);
        if let Some(t) = self.forwarding.as_mut().and_then(|f| f.transferor.take()) {
            // The transfer failed: tell the transferring phone and give the caller back to it.
            let code = match outcome {
                ForwardOutcome::Busy => 486,
                _ => 480,
            };
            let _ = t.party.commands.send(LegCommand::ReferFailed { code });
            self.note(format!(
                "transfer failed ({}); the caller is back with {}",
                outcome.exit(),
                t.party.label
            ));
            let forward = self.forwarding.as_ref().map(|f| f.forward.clone());
            self.drop_forwarding("transfer failed");
            if let Some(m) = &self.media {
                m.stop_output();
            }
            let mut parties = HashMap::new();
            let leg = t.leg;
            parties.insert(leg, t.party);
            self.forwarding = Some(Forwarding {
                id,
                generation: t.generation,
                forward: forward.unwrap_or(Forward {
                    targets: vec![],
                    mode: Default::default(),
                    max_wait_s: None,
                    ringback: None,
                    present_virtual_number: false,
                }),
                ringer: Ringer::new(Default::default()),
                parties,
                early: None,
                talk: Some(leg),
                bridge: None,
                caller_held: false,
                transferor: None,
            });
            self.bridge_to(leg);
            return;
        }
        self.drop_forwarding("forward finished");
        if let Some(m) = &self.media {
            m.stop_output();
        }
        let cmds = self.run.handle(Input::ForwardDone { id, outcome });
        // Defer: `Done` may arrive inside `forward()` itself, before the caller's ringing.
        ctx.run_later(Duration::ZERO, move |act, ctx| act.execute(cmds, ctx));
    }

    fn drop_party(&mut self, leg: u32, why: &str) {
        let Some(f) = self.forwarding.as_mut() else {
            return;
        };
        if let Some(p) = f.parties.remove(&leg) {
            p.release(why);
        }
        if f.early == Some(leg) {
            f.early = None;
            if let Some(b) = f.bridge.take() {
                b.unbridge();
            }
        }
    }

    /// Ends every outbound leg (CANCEL or BYE) and closes their media.
    pub(super) fn drop_forwarding(&mut self, why: &str) {
        let Some(f) = self.forwarding.take() else {
            return;
        };
        if let Some(b) = f.bridge {
            b.unbridge();
        }
        if let Some(t) = f.transferor {
            t.party.release(why);
        }
        for (_, p) in f.parties {
            p.release(why);
        }
    }
}
