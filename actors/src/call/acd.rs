//! The call's errands to the distributor: claims before an agent line rings, releases after
//! (with the talk time, so wrap-up and fairness follow), the rounds of a strategy, the queue
//! (join, leave, place, offers), and the queue's announcement between ringback passes.
//! Mechanical: the decisions are the core's and the board's.

use super::CallActor;
use crate::core::call::{AgentRing, DialTarget, Effect, Input, PartyId, Signal};
use crate::core::dist::board::Request;
use crate::core::dist::strategy;
use crate::core::dist::{Ask, LineFacts, LineKey};
use crate::dist::{
    AgentAnswered, AgentReleased, CallGone, Claim, GetHoldings, Holdings, Join, Leave, OfferEnded,
    Plan, QueueNews, RequestCallback, WhereAmI,
};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Instant;
use tracing::warn;
use vpbx_media::PlayOptions;
use vpbx_store::model::Prompt;

/// Media id of one pass of the queue's announcement and ringback.
pub(super) const QUEUE_PASS_ID: u64 = u64::MAX - 3;
/// Media id of the operator hint played to the employee.
pub(super) const HINT_ID: u64 = u64::MAX - 4;
/// Media id of a text spoken to the caller by the call itself (the rating question).
pub(super) const SAY_ID: u64 = u64::MAX - 5;
/// Periods of the ringing tone in one pass when the operation has no ringback file (5 s each).
const TONE_PERIODS: usize = 4;

/// An agent line a party holds.
#[derive(Debug, Clone)]
pub(super) struct AgentHold {
    ring: AgentRing,
    talk_since: Option<Instant>,
}

/// Where the call waits (to rejoin a restarted distributor in the same place).
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    seq: Option<u64>,
    request: Request,
}

impl Waiting {
    /// A place kept for a queue callback before the call rejoins it.
    pub(super) fn kept(seq: u64, request: Request) -> Waiting {
        Waiting {
            seq: Some(seq),
            request,
        }
    }
}

impl CallActor {
    /// Claims the party's agent line (unless claimed for it already), then dials; a refused
    /// claim is the party's refusal, with the line's reason.
    pub(super) fn claim_then_dial(
        &mut self,
        party: PartyId,
        target: DialTarget,
        caller_id: String,
        caller_name: Option<String>,
        agent: Option<AgentRing>,
        ctx: &mut Context<Self>,
    ) {
        let Some(agent) = agent else {
            self.dial(party, target, caller_id, caller_name, ctx);
            return;
        };
        let hold = AgentHold {
            ring: agent.clone(),
            talk_since: None,
        };
        let dist = self.deps.dist.addr();
        if agent.claimed || dist.is_none() {
            self.agents.insert(party, hold);
            self.dial(party, target, caller_id, caller_name, ctx);
            return;
        }
        let Some(dist) = dist else { return };
        self.dialling.insert(party);
        let call = self.key;
        dist.send(Claim { call, agent })
            .into_actor(self)
            .map(move |res, act, ctx| {
                let _g = act.span.clone().entered();
                let wanted = act.dialling.remove(&party);
                match res {
                    Ok(Ok(())) => {
                        act.agents.insert(party, hold);
                        if wanted {
                            act.dial(party, target, caller_id, caller_name, ctx);
                        } else {
                            // Cancelled while the claim was on its way.
                            act.free_agent(party);
                        }
                    }
                    Ok(Err(refusal)) if wanted => {
                        let s = Signal::Rejected {
                            code: refusal.status(),
                            cause: refusal.cause(),
                        };
                        act.feed(Input::Party(party, s), ctx);
                    }
                    Ok(Err(_)) => {}
                    Err(e) if wanted => {
                        // The distributor is restarting: ring without the claim (its
                        // successor hears of it from this call).
                        warn!(error = %e, "distributor unreachable; ringing unclaimed");
                        act.agents.insert(party, hold);
                        act.dial(party, target, caller_id, caller_name, ctx);
                    }
                    Err(_) => {}
                }
            })
            .spawn(ctx);
    }

    /// The party's agent line is free again (ring over, or talk over with its time).
    pub(super) fn free_agent(&mut self, party: PartyId) {
        let Some(hold) = self.agents.remove(&party) else {
            return;
        };
        let now = self.deps.clock.now();
        let talk_ms = hold.talk_since.map(|t| {
            u64::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(u64::MAX)
        });
        if let Some(dist) = self.deps.dist.addr() {
            dist.do_send(AgentReleased {
                call: self.key,
                line: hold.ring.line,
                talk_ms,
                wrap_up_s: hold.ring.wrap_up_s,
                scenario: hold.ring.scenario,
            });
        }
    }

    /// Every agent line and the queue place go (the call ends).
    pub(super) fn free_all_agents(&mut self) {
        let parties: Vec<PartyId> = self.agents.keys().copied().collect();
        for p in parties {
            self.free_agent(p);
        }
        if let Some(dist) = self.deps.dist.addr() {
            dist.do_send(CallGone { call: self.key });
        }
        self.waiting = None;
    }

    /// Carries out a distribution effect. Returns an input for the core when it is answered at
    /// once (no distributor).
    pub(super) fn exec_acd(&mut self, effect: Effect, ctx: &mut Context<Self>) -> Option<Input> {
        let dist = self.deps.dist.addr();
        match effect {
            Effect::Distribute { op, request } => {
                let Some(dist) = dist else {
                    return Some(Input::Planned {
                        op,
                        rounds: local_rounds(&request),
                    });
                };
                let fallback = local_rounds(&request);
                dist.send(Plan { request })
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        let _g = act.span.clone().entered();
                        let rounds = res.unwrap_or(fallback);
                        act.feed(Input::Planned { op, rounds }, ctx);
                    })
                    .spawn(ctx);
            }
            Effect::JoinQueue { request } => {
                let Some(dist) = dist else {
                    return Some(Input::QueueJoined(None));
                };
                // The place is numbered here, so the call knows it even if the distributor
                // fails before answering (a callback rejoins the place it kept).
                let seq = self
                    .waiting
                    .as_ref()
                    .and_then(|w| w.seq)
                    .unwrap_or_else(|| self.deps.dist.next_seq());
                self.waiting = Some(Waiting {
                    seq: Some(seq),
                    request: request.clone(),
                });
                self.join_queue(dist, request, seq, ctx);
            }
            Effect::LeaveQueue => {
                self.waiting = None;
                if let Some(d) = dist {
                    d.do_send(Leave { call: self.key });
                }
            }
            Effect::OfferEnded => {
                if let Some(d) = dist {
                    d.do_send(OfferEnded { call: self.key });
                }
            }
            Effect::DeclineOffer { lines } => {
                if let Some(d) = dist {
                    for line in lines {
                        d.do_send(released(self.key, line));
                    }
                    d.do_send(OfferEnded { call: self.key });
                }
            }
            Effect::AskPlace => {
                let Some(dist) = dist else {
                    return Some(Input::QueuePlace(None));
                };
                dist.send(WhereAmI { call: self.key })
                    .into_actor(self)
                    .map(|res, act, ctx| {
                        let _g = act.span.clone().entered();
                        act.feed(Input::QueuePlace(res.ok().flatten()), ctx);
                    })
                    .spawn(ctx);
            }
            Effect::QueuePass { announce, prompt } => self.queue_pass(announce, prompt, ctx),
            Effect::RequestCallback { scenario, op } => {
                let Some(dist) = dist else {
                    return Some(Input::CallbackRegistered(Err("no distributor".into())));
                };
                let msg = RequestCallback {
                    call: self.key,
                    caller: self.caller.info.numa.clone(),
                    numb: self.caller.info.numb.clone(),
                    scenario,
                    op,
                };
                dist.send(msg)
                    .into_actor(self)
                    .map(|res, act, ctx| {
                        let _g = act.span.clone().entered();
                        let res = res.unwrap_or_else(|e| Err(e.to_string()));
                        if res.is_ok() {
                            // The place is the callback's now.
                            act.waiting = None;
                        }
                        act.feed(Input::CallbackRegistered(res), ctx);
                    })
                    .spawn(ctx);
            }
            Effect::Hint { party, prompt } => {
                self.start_party_media(party, ctx);
                match self.media_of(crate::core::call::Listener::Party(party)) {
                    Some(m) => self.play_on(m, HINT_ID, prompt, Input::HintDone, ctx),
                    None => return Some(Input::HintDone),
                }
            }
            Effect::Say { text } => match self.caller.media.clone() {
                Some(m) => {
                    let prompt = Prompt::Text { text, voice: None };
                    self.play_on(m, SAY_ID, prompt, Input::SayDone, ctx);
                }
                None => return Some(Input::SayDone),
            },
            Effect::AgentTalking { party } => {
                if let Some(hold) = self.agents.get_mut(&party) {
                    hold.talk_since = Some(self.deps.clock.now());
                    if let Some(d) = dist {
                        d.do_send(AgentAnswered {
                            call: self.key,
                            line: hold.ring.line,
                        });
                    }
                }
            }
            _ => {}
        }
        None
    }

    fn join_queue(
        &mut self,
        dist: Addr<crate::dist::DistActor>,
        request: Request,
        seq: u64,
        ctx: &mut Context<Self>,
    ) {
        let msg = Join {
            call: self.key,
            caller: self.caller.info.numa.clone(),
            request,
            seq: Some(seq),
            news: ctx.address().recipient(),
        };
        dist.send(msg)
            .into_actor(self)
            .map(move |res, act, ctx| {
                let _g = act.span.clone().entered();
                let place = res.ok().flatten();
                act.feed(Input::QueueJoined(place), ctx);
            })
            .spawn(ctx);
    }

    /// The announcement (spoken) and one pass of the ringback, then `QueuePassDone`.
    fn queue_pass(
        &mut self,
        announce: Option<String>,
        prompt: Option<Prompt>,
        ctx: &mut Context<Self>,
    ) {
        let Some(media) = self.caller.media.clone() else {
            return;
        };
        let pass = match prompt {
            Some(Prompt::File { id }) => match self.load_file(id) {
                Ok(p) => vec![p],
                Err(e) => {
                    warn!(error = %e, "ringback file not playable; tone instead");
                    tone_pass()
                }
            },
            _ => tone_pass(),
        };
        let Some(text) = announce else {
            media.play_sequence(QUEUE_PASS_ID, pass, once());
            return;
        };
        let tts = self.deps.tts.clone();
        let voice = self.deps.default_voice.clone();
        ctx.spawn(
            async move { tts.speak(&text, &voice).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    let mut items = Vec::new();
                    match res {
                        Ok(p) => items.push(p),
                        Err(e) => warn!(error = %e, "queue announcement not spoken"),
                    }
                    items.extend(pass);
                    if let Some(m) = &act.caller.media {
                        m.play_sequence(QUEUE_PASS_ID, items, once());
                    }
                }),
        );
    }
}

impl CallActor {
    /// Plays `prompt` on `media` as `id`; when it cannot be played, `failed` is fed at once.
    fn play_on(
        &mut self,
        media: vpbx_media::MediaHandle,
        id: u64,
        prompt: Prompt,
        failed: Input,
        ctx: &mut Context<Self>,
    ) {
        match prompt {
            Prompt::File { id: file } => match self.load_file(file) {
                Ok(p) => media.play(id, p),
                Err(e) => {
                    warn!(error = %e, "prompt not playable; skipped");
                    self.feed(failed, ctx);
                }
            },
            Prompt::Text { text, voice } => {
                let tts = self.deps.tts.clone();
                let voice = voice.unwrap_or_else(|| self.deps.default_voice.clone());
                ctx.spawn(
                    async move { tts.speak(&text, &voice).await }
                        .into_actor(self)
                        .map(move |res, act, ctx| match res {
                            Ok(p) => media.play(id, p),
                            Err(e) => {
                                warn!(error = %e, "text-to-speech failed; prompt skipped");
                                act.feed(failed, ctx);
                            }
                        }),
                );
            }
        }
    }
}

fn tone_pass() -> Vec<Arc<vpbx_media::Prompt>> {
    let tone = Arc::new(vpbx_media::tones::ringback_ru());
    vec![tone; TONE_PERIODS]
}

fn once() -> PlayOptions {
    PlayOptions {
        looped: false,
        barge_in: false,
    }
}

fn released(call: u64, line: LineKey) -> AgentReleased {
    AgentReleased {
        call,
        line,
        talk_ms: None,
        wrap_up_s: 0,
        scenario: None,
    }
}

/// The rounds of a request without a distributor (no facts, no pointer).
fn local_rounds(request: &Request) -> Vec<crate::core::dist::Round> {
    let facts = vec![LineFacts::default(); request.candidates.len()];
    strategy::rounds(
        &request.strategy,
        &Ask {
            candidates: &request.candidates,
            facts: &facts,
            turn: 0,
            cap: request.cap,
        },
    )
}

impl Handler<GetHoldings> for CallActor {
    type Result = Option<Holdings>;
    fn handle(&mut self, _: GetHoldings, ctx: &mut Context<Self>) -> Option<Holdings> {
        let lines: Vec<_> = self
            .agents
            .values()
            .map(|h| (h.ring.clone(), h.talk_since.is_some()))
            .collect();
        let caller = self.caller.info.numa.clone();
        let waiting = self
            .waiting
            .clone()
            .and_then(|w| w.seq.map(|seq| (seq, caller, w.request)));
        if lines.is_empty() && waiting.is_none() {
            return None;
        }
        Some(Holdings {
            call: self.key,
            lines,
            waiting,
            news: ctx.address().recipient(),
        })
    }
}

impl Handler<QueueNews> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: QueueNews, ctx: &mut Context<Self>) {
        let _g = self.span.clone().entered();
        match msg {
            QueueNews::Offer { round, timeout_s } => {
                self.feed(Input::QueueOffer { round, timeout_s }, ctx)
            }
        }
    }
}
