//! The call's side of distribution (SPEC §4): a forward operation with a strategy asks the
//! distributor for its rounds, every agent line it rings is claimed and released by the shell,
//! and a caller nobody could take in one full round waits in the queue — hearing its position
//! and expected wait after each pass of the ringback — until the queue offers it phones, its
//! maximum wait passes, or it hangs up.

use super::{CallCore, Effect, Input, Ringing, State, Timer};
use crate::core::dist::board::{Place, Request};
use crate::core::dist::{Candidate, LineKey, Round as DistRound};
use crate::core::forward::{ForwardOutcome, Plan, Ring, Ringer, Round, Skip};
use crate::core::scenario;
use std::collections::BTreeMap;
use std::time::Instant;
use vpbx_store::model::{EmployeeId, Event, Prompt, ScenarioId};

/// The agent line behind a dialled party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRing {
    /// The line.
    pub line: LineKey,
    /// Claimed for this call already (a queue's offer): do not claim it again.
    pub claimed: bool,
    /// The distribution it rings for (its pointer and counters).
    pub anchor: String,
    /// The scenario the call runs (fairness counts within it).
    pub scenario: Option<ScenarioId>,
    /// Wrap-up after a talk on it, seconds.
    pub wrap_up_s: u32,
}

/// What a forward operation's distribution carries through ringing and queueing.
#[derive(Debug, Clone)]
pub(super) struct Acd {
    pub(super) anchor: String,
    pub(super) scenario: Option<ScenarioId>,
    pub(super) wrap_up_s: u32,
    /// The request, when the operation queues.
    pub(super) request: Option<Request>,
    /// Announce position and expected wait.
    pub(super) announce: bool,
    /// The key a waiting caller presses to be called back.
    pub(super) callback_key: Option<char>,
    /// When the caller joined the queue.
    pub(super) joined_at: Option<Instant>,
    /// The operation's maximum wait passed.
    pub(super) max_wait_passed: bool,
}

impl Acd {
    pub(super) fn agent(&self, ring: &Ring) -> Option<AgentRing> {
        ring.agent.map(|line| AgentRing {
            line,
            claimed: ring.claimed,
            anchor: self.anchor.clone(),
            scenario: self.scenario,
            wrap_up_s: self.wrap_up_s,
        })
    }
}

/// The settings of the forward operation the caller hears.
#[derive(Debug, Clone)]
pub(super) struct Heard {
    pub(super) ringback: Option<Prompt>,
    pub(super) present_virtual_number: bool,
    pub(super) hint: Option<Prompt>,
}

/// The caller rates the employee after the talk.
#[derive(Debug)]
pub(super) struct Rating {
    op: u64,
    employee: Option<EmployeeId>,
}

/// What the caller hears before rating.
pub const RATING_PROMPT: &str = "Please rate the operator from 1 to 5.";

/// Seconds the caller has to press a key, from the start of the question.
pub const RATING_WAIT_S: u64 = 10;

/// Waiting for the distributor's rounds.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) op: u64,
    pub(super) heard: Heard,
    pub(super) acd: Acd,
    pub(super) candidates: Vec<Candidate>,
    pub(super) skipped: Vec<Skip>,
    pub(super) widening: bool,
    /// A blind transfer to an employee who queues transfers: the transferring party.
    pub(super) transferor: Option<super::Party>,
}

/// Waiting in a queue.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) op: u64,
    pub(super) heard: Heard,
    pub(super) acd: Acd,
    /// How the full round ended (the exit when the queue gives up without a distributor).
    pub(super) outcome: ForwardOutcome,
    /// The caller pressed the callback key; the distributor has not answered yet.
    pub(super) callback_asked: bool,
    /// The join is sent and its answer ([`Input::QueueJoined`]) not yet in.
    pub(super) joining: bool,
    /// An offer that came in before the join's answer (the distributor's news and its reply
    /// travel apart): taken up once the caller's place is known.
    pub(super) early_offer: Option<(Vec<Candidate>, u32)>,
}

/// The distributor kept a waiting caller's place as a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackReceipt {
    /// The queue.
    pub queue: String,
    /// The place kept (1 = next).
    pub position: u32,
    /// A callback for the caller's number was waiting already: it keeps its own place.
    pub already: bool,
}

/// What the caller hears after asking for a callback.
pub const CALLBACK_PROMPT: &str =
    "Thank you. We will call you back as soon as an operator is free. Goodbye.";

/// What the caller hears: "You are number 2 in the queue. The expected waiting time is about
/// 3 minutes."
pub fn announcement(place: &Place) -> String {
    let minutes = place.eta_s.div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!(
        "You are number {} in the queue. The expected waiting time is about {minutes} {unit}.",
        place.position
    )
}

impl CallCore {
    /// The distributor's rounds arrived: ringing starts.
    pub(super) fn planned(&mut self, now: Instant, op: u64, rounds: Vec<DistRound>) {
        let State::Distributing(p) = &self.state else {
            return;
        };
        if p.op != op {
            return;
        }
        let State::Distributing(p) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        let p = *p;
        let plan = Plan::from_rounds(&p.candidates, &rounds, p.skipped, p.widening);
        let ringer = Ringer::new(plan, self.next_party);
        self.start_ringing(now, p.op, p.heard, ringer, p.acd, p.transferor);
    }

    /// Ringing state over `ringer`, started.
    pub(super) fn start_ringing(
        &mut self,
        now: Instant,
        op: u64,
        heard: Heard,
        ringer: Ringer,
        acd: Acd,
        transferor: Option<super::Party>,
    ) {
        self.state = State::Ringing(Box::new(Ringing {
            op,
            ringback: heard.ringback,
            present_virtual_number: heard.present_virtual_number,
            ringer,
            parties: BTreeMap::new(),
            early: None,
            transferor,
            acd,
            hint: heard.hint,
        }));
        let actions = match &mut self.state {
            State::Ringing(r) => r.ringer.start(),
            _ => Vec::new(),
        };
        self.ring_actions(now, actions);
    }

    /// One full round found nobody and the operation queues: the caller is answered, hears the
    /// ringback, and joins (or, after an offer nobody took, stays first in line).
    /// Returns false when the operation does not queue (the caller ends the operation).
    pub(super) fn enter_queue(
        &mut self,
        op: u64,
        heard: Heard,
        mut acd: Acd,
        outcome: ForwardOutcome,
    ) -> bool {
        let Some(request) = acd.request.clone() else {
            return false;
        };
        if acd.max_wait_passed {
            return false;
        }
        let prompt = heard.ringback.clone();
        let joining = acd.joined_at.is_none();
        if !joining {
            self.out.push(Effect::OfferEnded);
            self.out.push(Effect::QueuePass {
                announce: None,
                prompt,
            });
        } else {
            self.answer_caller();
            acd.joined_at = self.started;
            self.out.push(Effect::Ringback { prompt });
            self.out.push(Effect::JoinQueue { request });
        }
        self.state = State::Queued(Box::new(Queued {
            op,
            heard,
            acd,
            outcome,
            callback_asked: false,
            joining,
            early_offer: None,
        }));
        true
    }

    /// The caller left the queue for `why` (the call detail says how long it waited).
    pub(super) fn left_queue(&mut self, now: Instant, acd: &Acd, why: &str) {
        let Some(joined) = acd.joined_at else {
            return;
        };
        self.out.push(Effect::LeaveQueue);
        self.event(Event::QueueLeft {
            why: why.into(),
            waited_ms: u64::try_from(now.saturating_duration_since(joined).as_millis())
                .unwrap_or(u64::MAX),
        });
    }

    /// The distributor's answer to the join.
    pub(super) fn queue_joined(&mut self, now: Instant, place: Option<Place>) {
        let State::Queued(q) = &mut self.state else {
            return;
        };
        q.acd.joined_at = Some(now);
        q.joining = false;
        let Some(place) = place else {
            // Nobody keeps a queue: the operation ends as the round did.
            let outcome = q.outcome;
            self.queue_done(now, outcome, "no queue");
            return;
        };
        let early_offer = q.early_offer.take();
        let (announce, prompt) = (q.acd.announce, q.heard.ringback.clone());
        self.event(Event::QueueJoined {
            queue: place.queue.clone(),
            position: u32::try_from(place.position).unwrap_or(u32::MAX),
            ahead: place.ahead.clone(),
            eta_s: place.eta_s,
        });
        if let Some((round, timeout_s)) = early_offer {
            self.queue_offer(now, round, timeout_s);
        } else if announce {
            self.out.push(Effect::QueuePass {
                announce: Some(announcement(&place)),
                prompt,
            });
        }
    }

    /// A pass of the queue's ringback ended: the position is announced again.
    pub(super) fn queue_pass_done(&mut self) {
        match &self.state {
            State::Queued(q) if q.acd.announce => self.out.push(Effect::AskPlace),
            State::Queued(q) => self.out.push(Effect::QueuePass {
                announce: None,
                prompt: q.heard.ringback.clone(),
            }),
            // Phones ring for the waiting caller: the ringback goes on.
            State::Ringing(r) if r.acd.joined_at.is_some() => self.out.push(Effect::Ringback {
                prompt: r.ringback.clone(),
            }),
            _ => {}
        }
    }

    /// The caller's place, to announce.
    pub(super) fn queue_place(&mut self, place: Option<Place>) {
        let State::Queued(q) = &self.state else {
            return;
        };
        let prompt = q.heard.ringback.clone();
        let announce = place.map(|p| {
            self.event(Event::QueueAnnounced {
                position: u32::try_from(p.position).unwrap_or(u32::MAX),
                eta_s: p.eta_s,
            });
            announcement(&p)
        });
        self.out.push(Effect::QueuePass { announce, prompt });
    }

    /// The queue offers phones to the waiting caller: they ring (already claimed).
    pub(super) fn queue_offer(&mut self, now: Instant, round: Vec<Candidate>, timeout_s: u32) {
        if let State::Queued(q) = &mut self.state {
            if q.joining && q.early_offer.is_none() {
                q.early_offer = Some((round, timeout_s));
                return;
            }
        }
        if !matches!(self.state, State::Queued(_)) {
            self.out.push(Effect::DeclineOffer {
                lines: round.iter().filter_map(|c| c.line).collect(),
            });
            return;
        }
        let State::Queued(q) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        let q = *q;
        let rings = round
            .iter()
            .map(|c| Ring {
                claimed: true,
                ..Ring::of(c)
            })
            .collect();
        let plan = Plan {
            rounds: vec![Round {
                rings,
                timeout_s: timeout_s.max(1),
            }],
            skipped: Vec::new(),
            widening: false,
        };
        let ringer = Ringer::new(plan, self.next_party);
        self.start_ringing(now, q.op, q.heard, ringer, q.acd, None);
    }

    /// The operation's maximum wait passed while the caller waited for rounds or in the queue.
    pub(super) fn max_wait_waiting(&mut self, now: Instant) {
        match &mut self.state {
            State::Queued(q) => {
                q.acd.max_wait_passed = true;
                self.queue_done(now, ForwardOutcome::NoAnswer, "max wait");
            }
            State::Distributing(_) => {
                let State::Distributing(p) = std::mem::replace(&mut self.state, State::Scenario)
                else {
                    return;
                };
                self.forward_exit(now, p.op, ForwardOutcome::NoAnswer);
            }
            _ => {}
        }
    }

    /// The caller leaves the queue through the operation's exit for `outcome`.
    fn queue_done(&mut self, now: Instant, outcome: ForwardOutcome, why: &str) {
        let State::Queued(q) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        if let Some((round, _)) = q.early_offer {
            self.out.push(Effect::DeclineOffer {
                lines: round.iter().filter_map(|c| c.line).collect(),
            });
        }
        self.left_queue(now, &q.acd, why);
        self.out.push(Effect::StopOutput {
            of: super::Listener::Caller,
        });
        self.forward_exit(now, q.op, outcome);
    }

    /// The forward operation `op` ends with `outcome`.
    pub(super) fn forward_exit(&mut self, now: Instant, op: u64, outcome: ForwardOutcome) {
        self.timers.cancel(Timer::MaxWait);
        self.last_forward = Some(outcome);
        self.event(Event::ForwardEnded {
            outcome: outcome.exit().into(),
        });
        let at = self.unix_ms(now);
        let cmds = self
            .run
            .handle_at(at, scenario::Input::ForwardDone { id: op, outcome });
        self.scenario_commands(now, cmds);
    }

    /// The operator hint ended: the caller is connected.
    fn hint_done(&mut self) {
        let State::Talking(t) = &mut self.state else {
            return;
        };
        if !t.hinting {
            return;
        }
        t.hinting = false;
        let party = t.party.id;
        self.out.push(Effect::StopOutput {
            of: super::Listener::Caller,
        });
        self.out.push(Effect::Bridge { party });
    }

    /// After a talk the employee ended: when the first employee who answered asks for ratings,
    /// the caller is asked to rate `last` (the one who talked last). Returns whether it asks.
    pub(super) fn ask_rating(&mut self, now: Instant, op: u64, last: Option<EmployeeId>) -> bool {
        let asks = self
            .first_answered
            .flatten()
            .and_then(|e| self.snapshot.employee(e))
            .is_some_and(|e| e.rating);
        if !asks {
            return false;
        }
        self.state = State::Rating(Rating { op, employee: last });
        self.out.push(Effect::Say {
            text: RATING_PROMPT.into(),
        });
        self.timers.set_after(
            Timer::Rating,
            now,
            std::time::Duration::from_secs(RATING_WAIT_S),
        );
        true
    }

    /// The caller's rating (`None`: no valid key in time); the scenario goes on at the
    /// `answered` exit.
    pub(super) fn rated(&mut self, now: Instant, score: Option<u8>) {
        let State::Rating(r) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        self.timers.cancel(Timer::Rating);
        self.event(Event::Rated {
            employee: r.employee,
            score,
        });
        self.out.push(Effect::StopOutput {
            of: super::Listener::Caller,
        });
        let at = self.unix_ms(now);
        let cmds = self.run.handle_at(
            at,
            scenario::Input::ForwardDone {
                id: r.op,
                outcome: ForwardOutcome::Answered,
            },
        );
        self.scenario_commands(now, cmds);
    }

    /// The distributor's answer to the callback key: the caller hears that they will be called
    /// back and the call ends (their place waits without them); or they keep waiting.
    fn callback_registered(&mut self, now: Instant, res: Result<CallbackReceipt, String>) {
        let State::Queued(q) = &mut self.state else {
            return;
        };
        q.callback_asked = false;
        let receipt = match res {
            Ok(r) => r,
            Err(why) => {
                self.event(Event::Note(format!("callback not registered: {why}")));
                return;
            }
        };
        let State::Queued(q) = std::mem::replace(&mut self.state, State::Scenario) else {
            return;
        };
        self.timers.cancel(Timer::MaxWait);
        self.event(Event::CallbackRequested {
            queue: receipt.queue,
            position: receipt.position,
            already: receipt.already,
        });
        self.left_queue(now, &q.acd, "callback requested");
        self.out.push(Effect::StopOutput {
            of: super::Listener::Caller,
        });
        self.out.push(Effect::Say {
            text: CALLBACK_PROMPT.into(),
        });
        self.end_after_say = Some("callback requested".into());
    }

    /// Feeds the distribution inputs.
    pub(super) fn acd_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Planned { op, rounds } => self.planned(now, op, rounds),
            Input::QueueJoined(place) => self.queue_joined(now, place),
            Input::QueuePlace(place) => self.queue_place(place),
            Input::QueueOffer { round, timeout_s } => self.queue_offer(now, round, timeout_s),
            Input::QueuePassDone => self.queue_pass_done(),
            Input::HintDone => self.hint_done(),
            Input::SayDone => {
                if let Some(why) = self.end_after_say.take() {
                    self.end(super::EndedBy::Switch, why);
                }
            }
            Input::CallbackRegistered(res) => self.callback_registered(now, res),
            _ => {}
        }
    }
}
