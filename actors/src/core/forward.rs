//! The forward operation as pure logic: which phones ring in which order ([`plan`]), and the
//! ringing itself ([`Ringer`]): a state machine fed with the legs' outcomes and timer firings,
//! returning what the call actor must do. No SIP, no clock: timers are requests to the actor.

use super::dist::candidates::phone_candidate;
use super::dist::{Candidate, LineKey, Round as DistRound};
use super::leg::DialTarget;
use std::collections::BTreeMap;
use vpbx_store::model::{
    CompanyConfig, Employee, Event, Forward, ForwardTarget, LegCause, Phone, PhoneType, RingMode,
    RingOutcome, SipLineId,
};

/// Seconds an external number or SIP URI target rings when its timeout is unset.
pub const DEFAULT_TIMEOUT_S: u32 = 30;

/// One phone to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Where.
    pub target: DialTarget,
    /// The employee the phone belongs to, if any.
    pub employee: Option<vpbx_store::model::EmployeeId>,
    /// For the call detail, e.g. `Ivanov (101)`.
    pub label: String,
    /// Phone type: decides which caller ID is presented (SPEC §5).
    pub kind: PhoneType,
    /// The agent line the phone is (every phone of an employee is one): claimed before it
    /// rings, released after.
    pub agent: Option<LineKey>,
    /// Already claimed for this call (a queue's offer): ring without claiming again.
    pub claimed: bool,
}

/// Phones that ring together, for `timeout_s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The phones.
    pub rings: Vec<Ring>,
    /// Seconds before the round gives up.
    pub timeout_s: u32,
}

/// Why a target of a forward operation rings no phone (SPEC §4.1 availability reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The employee or group was deleted.
    DoesNotExist,
    /// The employee switched calls off.
    CallStatusOff,
    /// The employee has no phones.
    NoPhones,
    /// No member of the group can take calls.
    NoMemberAvailable,
    /// The phone is the calling line itself (a line that dials its own group or extension).
    CallingLine,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::DoesNotExist => "does not exist",
            SkipReason::CallStatusOff => "call status off",
            SkipReason::NoPhones => "has no phones",
            SkipReason::NoMemberAvailable => "no member can take calls",
            SkipReason::CallingLine => "is the caller",
        })
    }
}

/// A target left out of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The employee or group, for the call detail.
    pub target: String,
    /// Why.
    pub why: SkipReason,
}

fn skip(target: String, why: SkipReason) -> Skip {
    Skip { target, why }
}

/// The ringing plan of one forward operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Rounds in order.
    pub rounds: Vec<Round>,
    /// Targets or phones left out, with the reason (for the call detail).
    pub skipped: Vec<Skip>,
    /// A phone in two consecutive rounds keeps ringing across them ("fastest answer" widens
    /// its ring); otherwise every round rings afresh.
    pub widening: bool,
}

/// How an employee is named in the call detail, e.g. `Petrova (101)`.
pub(crate) fn employee_label(e: &Employee) -> String {
    format!("{} ({})", e.last_name, e.extension)
}

/// One phone of an employee as a ring, with its dial timeout (the distribution's candidate).
fn phone_ring(e: &Employee, index: usize, p: &Phone) -> (Ring, u32) {
    let c = phone_candidate(e, index, p);
    (Ring::of(&c), c.timeout_s)
}

/// Expands the targets of `fwd` into rounds of phones.
///
/// Employees with calls switched off are skipped (with the reason). A group rings its members'
/// phones in member order (phones of the "sort by type" type first), `simultaneous_lines` at a
/// time. Under [`RingMode::Simultaneous`] everything rings in one round. A phone reached twice
/// (an employee listed and also in a group) rings once.
pub fn plan(cfg: &CompanyConfig, fwd: &Forward) -> Plan {
    plan_for(cfg, fwd, None)
}

/// [`plan`] for a call placed by the SIP line `calling_line` (a phone's own call): that line
/// never rings for its own call (skipped with [`SkipReason::CallingLine`]); the employee's other
/// phones and the other members still ring.
pub fn plan_for(cfg: &CompanyConfig, fwd: &Forward, calling_line: Option<SipLineId>) -> Plan {
    let mut out = Plan::default();
    let not_the_caller = |phones: Vec<(Ring, u32)>, skipped: &mut Vec<Skip>| {
        phones
            .into_iter()
            .filter(|(r, _)| match &r.target {
                DialTarget::Line { line, .. } if Some(*line) == calling_line => {
                    skipped.push(skip(r.label.clone(), SkipReason::CallingLine));
                    false
                }
                _ => true,
            })
            .collect::<Vec<_>>()
    };
    let mut seen: Vec<DialTarget> = Vec::new();
    let mut batches: Vec<(Vec<(Ring, u32)>, usize)> = Vec::new();
    let mut push_phones = |phones: Vec<(Ring, u32)>, batch: usize, seen: &mut Vec<DialTarget>| {
        let fresh: Vec<(Ring, u32)> = phones
            .into_iter()
            .filter(|(r, _)| {
                if seen.contains(&r.target) {
                    false
                } else {
                    seen.push(r.target.clone());
                    true
                }
            })
            .collect();
        if !fresh.is_empty() {
            batches.push((fresh, batch.max(1)));
        }
    };
    for t in &fwd.targets {
        match t {
            ForwardTarget::Employee { id } => match cfg.employee(*id) {
                None => out
                    .skipped
                    .push(skip(format!("employee {id}"), SkipReason::DoesNotExist)),
                Some(e) if !e.calls_enabled => out
                    .skipped
                    .push(skip(employee_label(e), SkipReason::CallStatusOff)),
                Some(e) if e.phones.is_empty() => out
                    .skipped
                    .push(skip(employee_label(e), SkipReason::NoPhones)),
                Some(e) => {
                    let phones = e
                        .phones
                        .iter()
                        .enumerate()
                        .map(|(k, p)| phone_ring(e, k, p))
                        .collect();
                    let phones = not_the_caller(phones, &mut out.skipped);
                    push_phones(phones, 1, &mut seen);
                }
            },
            ForwardTarget::Group { id } => match cfg.group(*id) {
                None => out
                    .skipped
                    .push(skip(format!("group {id}"), SkipReason::DoesNotExist)),
                Some(g) => {
                    let mut phones = Vec::new();
                    for m in &g.members {
                        match cfg.employee(*m) {
                            None => {}
                            Some(e) if !e.calls_enabled => out.skipped.push(skip(
                                format!("{} (group {})", employee_label(e), g.name),
                                SkipReason::CallStatusOff,
                            )),
                            Some(e) => phones.extend(
                                e.phones
                                    .iter()
                                    .enumerate()
                                    .map(|(k, p)| phone_ring(e, k, p)),
                            ),
                        }
                    }
                    let mut phones = not_the_caller(phones, &mut out.skipped);
                    if let Some(first) = g.sort_by_type {
                        // Stable: member order is kept within each type.
                        phones.sort_by_key(|(r, _)| r.kind != first);
                    }
                    if phones.is_empty() {
                        out.skipped.push(skip(
                            format!("group {}", g.name),
                            SkipReason::NoMemberAvailable,
                        ));
                    }
                    push_phones(phones, usize::from(g.simultaneous_lines), &mut seen);
                }
            },
            ForwardTarget::External { number, timeout_s } => push_phones(
                vec![(
                    Ring {
                        target: DialTarget::External(number.clone()),
                        employee: None,
                        label: format!("number {number}"),
                        kind: PhoneType::T,
                        agent: None,
                        claimed: false,
                    },
                    timeout_s.unwrap_or(DEFAULT_TIMEOUT_S).max(1),
                )],
                1,
                &mut seen,
            ),
            ForwardTarget::SipUri { uri, timeout_s } => push_phones(
                vec![(
                    Ring {
                        target: DialTarget::Uri(uri.clone()),
                        employee: None,
                        label: format!("sip:{uri}"),
                        kind: PhoneType::S,
                        agent: None,
                        claimed: false,
                    },
                    timeout_s.unwrap_or(DEFAULT_TIMEOUT_S).max(1),
                )],
                1,
                &mut seen,
            ),
        }
    }
    match fwd.mode {
        RingMode::Simultaneous => {
            let all: Vec<(Ring, u32)> = batches.into_iter().flat_map(|(p, _)| p).collect();
            if !all.is_empty() {
                let timeout_s = all
                    .iter()
                    .map(|(_, t)| *t)
                    .max()
                    .unwrap_or(DEFAULT_TIMEOUT_S);
                out.rounds.push(Round {
                    rings: all.into_iter().map(|(r, _)| r).collect(),
                    timeout_s,
                });
            }
        }
        RingMode::Sequential => {
            for (phones, batch) in batches {
                for chunk in phones.chunks(batch) {
                    out.rounds.push(Round {
                        timeout_s: chunk.iter().map(|(_, t)| *t).max().unwrap_or(1),
                        rings: chunk.iter().map(|(r, _)| r.clone()).collect(),
                    });
                }
            }
        }
    }
    out
}

impl Plan {
    /// The plan of a distribution: `rounds` over `candidates` (as the board or a strategy gave
    /// them), with the targets the candidates left out.
    pub fn from_rounds(
        candidates: &[Candidate],
        rounds: &[DistRound],
        skipped: Vec<Skip>,
        widening: bool,
    ) -> Plan {
        let rounds = rounds
            .iter()
            .map(|r| Round {
                rings: r
                    .ring
                    .iter()
                    .filter_map(|k| candidates.get(*k))
                    .map(Ring::of)
                    .collect(),
                timeout_s: r.timeout_s.max(1),
            })
            .filter(|r| !r.rings.is_empty())
            .collect();
        Plan {
            rounds,
            skipped,
            widening,
        }
    }
}

impl Ring {
    /// The ring of a distribution candidate.
    pub fn of(c: &Candidate) -> Ring {
        Ring {
            target: c.target.clone(),
            employee: c.employee,
            label: c.label.clone(),
            kind: c.kind,
            agent: c.line,
            claimed: false,
        }
    }
}

/// How a forward operation ended without a talk, or that it had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// Someone answered and the talk is over (the employee's side hung up first).
    Answered,
    /// Phones rang and nobody answered in time.
    NoAnswer,
    /// Every phone refused (busy, unavailable, not registered) or there was nothing to ring.
    Busy,
}

impl ForwardOutcome {
    /// The operation's exit name.
    pub fn exit(self) -> &'static str {
        match self {
            ForwardOutcome::Answered => "answered",
            ForwardOutcome::NoAnswer => "no_answer",
            ForwardOutcome::Busy => "busy",
        }
    }
}

/// What the call must do for the ringing.
#[derive(Debug, Clone, PartialEq)]
pub enum RingAction {
    /// Start an outbound leg with this number.
    Dial {
        /// Leg number (unique within the call).
        leg: u32,
        /// The phone.
        ring: Ring,
    },
    /// Cancel (or hang up) a leg that stopped ringing without an answer (its round or the
    /// operation timed out, or it answered too late).
    Cancel {
        /// Leg number.
        leg: u32,
    },
    /// Cancel a leg that was ringing when another phone answered the call (its CANCEL says
    /// the call was completed elsewhere).
    Lost {
        /// Leg number.
        leg: u32,
    },
    /// Call [`Ringer::round_timeout`] with `round` after `ms`.
    Timer {
        /// The round.
        round: usize,
        /// Milliseconds.
        ms: u64,
    },
    /// This leg answered: connect the caller to it.
    Connect {
        /// Leg number.
        leg: u32,
    },
    /// Ringing is over without an answer.
    Done(ForwardOutcome),
    /// A step for the call detail.
    Event(Event),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Ringing,
    Failed,
}

/// One leg the ringer started.
#[derive(Debug, Clone)]
struct RingLeg {
    round: usize,
    state: LegState,
    ring: Ring,
}

impl RingLeg {
    fn ended(&self, outcome: RingOutcome, cause: Option<LegCause>, code: Option<u16>) -> Event {
        Event::RingEnded {
            target: self.ring.label.clone(),
            employee: self.ring.employee,
            line: self.ring.line(),
            outcome,
            cause,
            code,
        }
    }
}

impl Ring {
    /// The SIP line rung, if the phone is one.
    pub fn line(&self) -> Option<vpbx_store::model::SipLineId> {
        match &self.target {
            DialTarget::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// The ringing of one forward operation.
#[derive(Debug)]
pub struct Ringer {
    plan: Plan,
    round: usize,
    legs: BTreeMap<u32, RingLeg>,
    next_leg: u32,
    timed_out: bool,
    /// A phone refused because it was busy (486/600), not just offline or unreachable.
    busy_here: bool,
    /// The status of the last leg that failed (a dead trunk's 408, a 5xx).
    failed_code: Option<u16>,
    /// A leg was refused for another reason (offline, unreachable, declined).
    other_refusal: bool,
    done: bool,
}

impl Ringer {
    /// A ringer over `plan` whose legs are numbered from `first_leg` on (leg numbers stay
    /// unique within a call across several ringers, so a late event of an earlier ringer's leg
    /// can never be taken for one of this ringer's).
    pub fn new(plan: Plan, first_leg: u32) -> Self {
        Ringer {
            plan,
            round: 0,
            legs: BTreeMap::new(),
            next_leg: first_leg,
            timed_out: false,
            busy_here: false,
            failed_code: None,
            other_refusal: false,
            done: false,
        }
    }

    /// The number the next leg would get (where a later ringer of the call starts counting).
    pub fn next_leg(&self) -> u32 {
        self.next_leg
    }

    /// The round ringing now.
    pub fn current_round(&self) -> usize {
        self.round
    }

    /// The phone behind a leg.
    pub fn ring(&self, leg: u32) -> Option<&Ring> {
        self.legs.get(&leg).map(|l| &l.ring)
    }

    /// Whether a phone refused as busy (486 or 600): the caller hears busy, not "unavailable".
    pub fn busy_here(&self) -> bool {
        self.busy_here
    }

    /// When every phone that refused failed (a dead trunk, a server error) rather than being
    /// busy or offline: the status to tell the caller (e.g. 408 when the carrier was silent).
    pub fn failed_code(&self) -> Option<u16> {
        if self.busy_here || self.other_refusal {
            None
        } else {
            self.failed_code
        }
    }

    /// Whether the ringing has finished (connected or done).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Starts the first round.
    pub fn start(&mut self) -> Vec<RingAction> {
        let mut out: Vec<RingAction> = self
            .plan
            .skipped
            .iter()
            .map(|s| {
                RingAction::Event(Event::TargetSkipped {
                    target: s.target.clone(),
                    why: s.why.to_string(),
                })
            })
            .collect();
        self.start_round(0, &mut out);
        out
    }

    fn start_round(&mut self, round: usize, out: &mut Vec<RingAction>) {
        self.round = round;
        let Some(r) = self.plan.rounds.get(round) else {
            self.done = true;
            let outcome = if self.timed_out {
                ForwardOutcome::NoAnswer
            } else {
                ForwardOutcome::Busy
            };
            out.push(RingAction::Event(Event::ForwardEnded {
                outcome: outcome.exit().into(),
            }));
            out.push(RingAction::Done(outcome));
            return;
        };
        let rings = r.rings.clone();
        let timeout_s = r.timeout_s;
        for ring in rings {
            if self.plan.widening {
                // Still ringing from the round before: it keeps ringing.
                let kept = self.legs.values_mut().find(|l| {
                    l.state == LegState::Ringing
                        && l.round + 1 == round
                        && l.ring.target == ring.target
                });
                if let Some(l) = kept {
                    l.round = round;
                    continue;
                }
            }
            let leg = self.next_leg;
            self.next_leg += 1;
            out.push(RingAction::Event(Event::RingStarted {
                target: ring.label.clone(),
                employee: ring.employee,
                line: ring.line(),
                timeout_s,
            }));
            self.legs.insert(
                leg,
                RingLeg {
                    round,
                    state: LegState::Ringing,
                    ring: ring.clone(),
                },
            );
            out.push(RingAction::Dial { leg, ring });
        }
        out.push(RingAction::Timer {
            round,
            ms: u64::from(timeout_s) * 1000,
        });
    }

    fn ringing_in_round(&self) -> impl Iterator<Item = u32> + '_ {
        let round = self.round;
        self.legs
            .iter()
            .filter(move |(_, l)| l.round == round && l.state == LegState::Ringing)
            .map(|(n, _)| *n)
    }

    /// A leg refused or failed with `code` for `cause`.
    pub fn rejected(&mut self, leg: u32, code: u16, cause: LegCause) -> Vec<RingAction> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let Some(entry) = self.legs.get_mut(&leg) else {
            return out;
        };
        if entry.state != LegState::Ringing {
            return out;
        }
        entry.state = LegState::Failed;
        // A phone that rang out counts as "no answer"; one that is offline or unreachable never
        // rang, so it counts with the busy ones.
        if matches!(cause, LegCause::NoAnswer | LegCause::Cancelled) {
            self.timed_out = true;
        }
        match cause {
            LegCause::Busy => self.busy_here = true,
            LegCause::Failed => self.failed_code = Some(code),
            LegCause::NoAnswer | LegCause::Cancelled => {}
            _ => self.other_refusal = true,
        }
        out.push(RingAction::Event(entry.ended(
            RingOutcome::Refused,
            Some(cause),
            Some(code),
        )));
        if entry.round == self.round && self.ringing_in_round().next().is_none() {
            let next = self.round + 1;
            self.start_round(next, &mut out);
        }
        out
    }

    /// A leg answered: it wins, every other ringing leg is cancelled.
    pub fn answered(&mut self, leg: u32) -> Vec<RingAction> {
        let mut out = Vec::new();
        let Some(entry) = self.legs.get(&leg) else {
            return vec![RingAction::Cancel { leg }];
        };
        if self.done || entry.state != LegState::Ringing {
            // A late 2xx after the round moved on: that phone lost.
            return vec![RingAction::Cancel { leg }];
        }
        self.done = true;
        out.push(RingAction::Event(entry.ended(
            RingOutcome::Answered,
            None,
            Some(200),
        )));
        let losers: Vec<u32> = self
            .legs
            .iter()
            .filter(|(n, l)| **n != leg && l.state == LegState::Ringing)
            .map(|(n, _)| *n)
            .collect();
        for l in losers {
            if let Some(e) = self.legs.get_mut(&l) {
                e.state = LegState::Failed;
                out.push(RingAction::Event(e.ended(
                    RingOutcome::Cancelled,
                    Some(LegCause::Cancelled),
                    None,
                )));
            }
            out.push(RingAction::Lost { leg: l });
        }
        out.push(RingAction::Connect { leg });
        out
    }

    /// The timer of `round` fired: its ringing legs are cancelled and the next round starts.
    pub fn round_timeout(&mut self, round: usize) -> Vec<RingAction> {
        let mut out = Vec::new();
        if self.done || round != self.round {
            return out;
        }
        let next = self
            .plan
            .rounds
            .get(round + 1)
            .filter(|_| self.plan.widening);
        let ringing: Vec<u32> = self
            .ringing_in_round()
            .filter(|l| {
                // A widening ring keeps the phones the next round lists.
                !next.is_some_and(|n| {
                    self.legs
                        .get(l)
                        .is_some_and(|leg| n.rings.iter().any(|r| r.target == leg.ring.target))
                })
            })
            .collect();
        if !ringing.is_empty() {
            self.timed_out = true;
        }
        for l in ringing {
            if let Some(e) = self.legs.get_mut(&l) {
                e.state = LegState::Failed;
                out.push(RingAction::Event(e.ended(
                    RingOutcome::Cancelled,
                    Some(LegCause::NoAnswer),
                    None,
                )));
            }
            out.push(RingAction::Cancel { leg: l });
        }
        self.start_round(round + 1, &mut out);
        out
    }

    /// Something above the forward (an escalation) takes the call away: every leg still
    /// ringing ends `cancelled` with the cause `cancelled` — the events of the call detail; the
    /// call releases the legs itself.
    pub fn interrupted(&mut self) -> Vec<Event> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        self.legs
            .values_mut()
            .filter(|l| l.state == LegState::Ringing)
            .map(|l| {
                l.state = LegState::Failed;
                l.ended(RingOutcome::Cancelled, Some(LegCause::Cancelled), None)
            })
            .collect()
    }

    /// The operation's overall limit passed: everything ringing is cancelled.
    pub fn give_up(&mut self) -> Vec<RingAction> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        self.done = true;
        let ringing: Vec<u32> = self
            .legs
            .iter()
            .filter(|(_, l)| l.state == LegState::Ringing)
            .map(|(n, _)| *n)
            .collect();
        for l in ringing {
            if let Some(e) = self.legs.get_mut(&l) {
                e.state = LegState::Failed;
                out.push(RingAction::Event(e.ended(
                    RingOutcome::Cancelled,
                    Some(LegCause::NoAnswer),
                    None,
                )));
            }
            out.push(RingAction::Cancel { leg: l });
        }
        out.push(RingAction::Event(Event::ForwardEnded {
            outcome: ForwardOutcome::NoAnswer.exit().into(),
        }));
        out.push(RingAction::Done(ForwardOutcome::NoAnswer));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpbx_store::model::{EmployeeId, Group, GroupId, SipLine, SipLineId};

    fn line(id: u64, login: &str, timeout: u32) -> Phone {
        Phone::SipLine(SipLine {
            id: SipLineId(id),
            login: login.into(),
            password: "x".into(),
            lines: 1,
            dial_timeout_s: timeout,
            percent: 0,
            outbound_caller_id: None,
            outbound_allowed: true,
        })
    }

    fn employee(id: u64, ext: &str, phones: Vec<Phone>) -> Employee {
        Employee {
            id: EmployeeId(id),
            first_name: String::new(),
            last_name: format!("E{id}"),
            email: None,
            extension: ext.into(),
            calls_enabled: true,
            phones,
            schedule: None,
            rating: false,
            trainer: None,
            trainer_joins_every_call: false,
            transfers_join_queue: false,
            percent_distribution: false,
        }
    }

    fn cfg() -> CompanyConfig {
        let mut off = employee(3, "103", vec![line(3, "103", 20)]);
        off.calls_enabled = false;
        CompanyConfig {
            employees: vec![
                employee(
                    1,
                    "101",
                    vec![
                        line(1, "101", 15),
                        Phone::External {
                            number: "79990000001".into(),
                            dial_timeout_s: 25,
                            lines: 1,
                            percent: 0,
                        },
                    ],
                ),
                employee(2, "102", vec![line(2, "102", 20)]),
                off,
            ],
            groups: vec![Group {
                strategy: None,
                id: GroupId(1),
                name: "Sales".into(),
                extension: Some("200".into()),
                members: vec![EmployeeId(1), EmployeeId(2), EmployeeId(3)],
                simultaneous_lines: 2,
                schedule: None,
                sort_by_type: None,
                percent_distribution: false,
                percents: Default::default(),
            }],
            ..Default::default()
        }
    }

    fn fwd(targets: Vec<ForwardTarget>, mode: RingMode) -> Forward {
        Forward {
            operator_hint: None,
            queue: None,
            strategy: None,
            wrap_up_s: 0,
            targets,
            mode,
            max_wait_s: None,
            ringback: None,
            present_virtual_number: false,
            not_answered: None,
        }
    }

    #[test]
    fn employee_phones_ring_in_order_with_their_timeouts() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Employee { id: EmployeeId(1) }],
                RingMode::Sequential,
            ),
        );
        assert_eq!(p.rounds.len(), 2);
        assert_eq!(p.rounds[0].timeout_s, 15);
        assert!(matches!(
            p.rounds[0].rings[0].target,
            DialTarget::Line { .. }
        ));
        assert_eq!(p.rounds[1].timeout_s, 25);
        assert_eq!(
            p.rounds[1].rings[0].target,
            DialTarget::External("79990000001".into())
        );
    }

    #[test]
    fn the_calling_line_never_rings_for_its_own_call() {
        let group = fwd(
            vec![ForwardTarget::Group { id: GroupId(1) }],
            RingMode::Sequential,
        );
        let p = plan_for(&cfg(), &group, Some(SipLineId(1)));
        let rung: Vec<&DialTarget> = p
            .rounds
            .iter()
            .flat_map(|r| r.rings.iter().map(|x| &x.target))
            .collect();
        assert!(
            !rung
                .iter()
                .any(|t| matches!(t, DialTarget::Line { line, .. } if *line == SipLineId(1))),
            "{rung:?}"
        );
        // The caller's mobile and the other member still ring.
        assert!(rung.contains(&&DialTarget::External("79990000001".into())));
        assert!(rung
            .iter()
            .any(|t| matches!(t, DialTarget::Line { line, .. } if *line == SipLineId(2))));
        assert!(p
            .skipped
            .iter()
            .any(|s| s.why == SkipReason::CallingLine && s.target.contains("line 101")));
        // Without a calling line (a call from outside) every phone rings.
        assert_eq!(plan(&cfg(), &group), plan_for(&cfg(), &group, None));
        assert!(plan(&cfg(), &group)
            .skipped
            .iter()
            .all(|s| s.why != SkipReason::CallingLine));
    }

    #[test]
    fn group_batches_by_simultaneous_lines_and_skips_call_status_off() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Group { id: GroupId(1) }],
                RingMode::Sequential,
            ),
        );
        // 101 line + 101 mobile together, then 102 alone; 103 skipped.
        assert_eq!(p.rounds.len(), 2);
        assert_eq!(p.rounds[0].rings.len(), 2);
        assert_eq!(p.rounds[0].timeout_s, 25);
        assert_eq!(p.rounds[1].rings.len(), 1);
        assert!(p.skipped.iter().any(|s| s.why == SkipReason::CallStatusOff));
    }

    #[test]
    fn simultaneous_rings_everything_once() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![
                    ForwardTarget::Employee { id: EmployeeId(2) },
                    ForwardTarget::Group { id: GroupId(1) },
                ],
                RingMode::Simultaneous,
            ),
        );
        assert_eq!(p.rounds.len(), 1);
        // 102 only once although listed twice.
        assert_eq!(p.rounds[0].rings.len(), 3);
    }

    fn dials(actions: &[RingAction]) -> Vec<u32> {
        actions
            .iter()
            .filter_map(|a| match a {
                RingAction::Dial { leg, .. } => Some(*leg),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn first_answer_wins_and_losers_are_cancelled() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Group { id: GroupId(1) }],
                RingMode::Simultaneous,
            ),
        );
        let mut r = Ringer::new(p, 1);
        let started = r.start();
        assert_eq!(dials(&started), vec![1, 2, 3]);
        let out = r.answered(2);
        assert!(out.contains(&RingAction::Lost { leg: 1 }));
        assert!(out.contains(&RingAction::Lost { leg: 3 }));
        assert_eq!(out.last(), Some(&RingAction::Connect { leg: 2 }));
        // A late answer loses.
        assert_eq!(r.answered(1), vec![RingAction::Cancel { leg: 1 }]);
    }

    #[test]
    fn timeouts_move_to_the_next_round_then_no_answer() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Employee { id: EmployeeId(1) }],
                RingMode::Sequential,
            ),
        );
        let mut r = Ringer::new(p, 1);
        r.start();
        // A stale round's timer does nothing.
        assert!(r.round_timeout(5).is_empty());
        let out = r.round_timeout(0);
        assert!(out.contains(&RingAction::Cancel { leg: 1 }));
        assert_eq!(dials(&out), vec![2]);
        let out = r.round_timeout(1);
        assert_eq!(
            out.last(),
            Some(&RingAction::Done(ForwardOutcome::NoAnswer))
        );
    }

    #[test]
    fn all_busy_is_busy_and_nothing_to_ring_is_busy() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Employee { id: EmployeeId(2) }],
                RingMode::Sequential,
            ),
        );
        let mut r = Ringer::new(p, 1);
        r.start();
        let out = r.rejected(1, 486, LegCause::Busy);
        assert_eq!(out.last(), Some(&RingAction::Done(ForwardOutcome::Busy)));

        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Employee { id: EmployeeId(3) }],
                RingMode::Sequential,
            ),
        );
        let out = Ringer::new(p, 1).start();
        assert_eq!(out.last(), Some(&RingAction::Done(ForwardOutcome::Busy)));
    }

    #[test]
    fn give_up_cancels_what_rings() {
        let p = plan(
            &cfg(),
            &fwd(
                vec![ForwardTarget::Group { id: GroupId(1) }],
                RingMode::Sequential,
            ),
        );
        let mut r = Ringer::new(p, 1);
        r.start();
        let out = r.give_up();
        assert!(out.contains(&RingAction::Cancel { leg: 1 }));
        assert!(out.contains(&RingAction::Cancel { leg: 2 }));
        assert_eq!(
            out.last(),
            Some(&RingAction::Done(ForwardOutcome::NoAnswer))
        );
        assert!(r.is_done());
    }
}
