//! The distribution board: every agent line of the switch, the queues, the pointers and the
//! statistics, in one pure value. It is the one place that claims lines and decides who waits
//! (FIFO and "other callers are waiting in queue" are decided here and nowhere else).
//!
//! Calls are named by a [`CallKey`]; the shell maps it to the call. Contract:
//! - [`Board::plan`]: the rounds a call's distribution rings (a strategy over the candidates
//!   and their facts; the distribution's pointer advances);
//! - [`Board::claim`] before ringing an agent line, [`Board::answered`] when it answers,
//!   [`Board::release`] when the ring or the talk ends (wrap-up starts after a talk);
//! - [`Board::join`] when one full round found nobody and the operation queues;
//!   [`Board::leave`] when a waiting caller goes (answered, timed out, hung up);
//! - [`Board::dispatch`] after every change and when [`Board::poll_timeout`] passes: the queue
//!   heads that can be offered lines now, with those lines claimed for them;
//!   [`Board::offer_ended`] when such an offer was not answered.

use super::line::{Line, Permit, Refusal};
use super::stats::{Sample, Stats};
use super::strategy;
use super::{Ask, Candidate, LineFacts, LineKey, Round};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vpbx_store::model::{CompanyConfig, Phone, ScenarioId, SipLineId, Strategy};

/// A call, as the board knows it.
pub type CallKey = u64;

/// Seconds before a queue whose head's offer went unanswered is offered again when nothing else
/// changed.
pub const OFFER_RETRY: Duration = Duration::from_secs(2);

/// Expected talk time when the lines have no talk in the last 30 days (for the announcement).
pub const DEFAULT_TALK_MS: u64 = 60_000;

/// At most this many callers ahead are named in a [`Place`] (the head ones): a call's events
/// stay small however long the queue.
pub const AHEAD_NAMED: usize = 20;

/// A line a call holds: ringing for it, or talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    line: LineKey,
    talking: bool,
}

/// What a call asks the board to distribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The scenario the call runs (fairness counts within it).
    pub scenario: Option<ScenarioId>,
    /// The distribution's own key (its pointer and percentage counters): the scenario and the
    /// operation, e.g. `3/support`.
    pub anchor: String,
    /// The phones, in listed order.
    pub candidates: Vec<Candidate>,
    /// How they ring.
    pub strategy: Strategy,
    /// At most this many phones at once.
    pub cap: Option<usize>,
    /// A phone in two consecutive rounds keeps ringing ("fastest answer").
    pub widening: bool,
    /// The queue the call joins when a full round finds nobody (`None`: the operation does
    /// not queue).
    pub queue: Option<String>,
}

/// A caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The call.
    pub call: CallKey,
    /// Its place: lower joined earlier, unique across the switch.
    pub seq: u64,
    /// Who (the caller's number), for "callers that were ahead".
    pub caller: String,
    /// When it joined.
    pub joined: Instant,
    /// Its distribution (shared by the callers of one operation).
    pub request: Arc<Request>,
}

/// One queue: the callers waiting for one set of employee numbers, in strict FIFO.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    waiting: VecDeque<Waiting>,
    /// The head while lines ring for it: later callers wait until it is answered or gone.
    offering: Option<CallKey>,
    /// Not before this instant is the head offered again (after an unanswered offer).
    retry_at: Option<Instant>,
}

impl Queue {
    /// The callers, head first.
    pub fn waiting(&self) -> impl Iterator<Item = &Waiting> {
        self.waiting.iter()
    }

    /// The call being offered lines now.
    pub fn offering(&self) -> Option<CallKey> {
        self.offering
    }
}

/// A caller's place in its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The queue's key.
    pub queue: String,
    /// 1 = next.
    pub position: usize,
    /// The callers ahead (their numbers), head first.
    pub ahead: Vec<String>,
    /// Expected wait: the 30-day average talk time on the numbers × position, seconds.
    pub eta_s: u64,
    /// The caller's place number (to rejoin at after a restart of the distributor).
    pub seq: u64,
}

/// Lines offered to a queue head, claimed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The call.
    pub call: CallKey,
    /// The queue.
    pub queue: String,
    /// The phones to ring (each claimed), and how long.
    pub round: Vec<Candidate>,
    /// Seconds they ring.
    pub timeout_s: u32,
}

/// Every agent line, queue and counter of the switch.
#[derive(Debug, Clone)]
pub struct Board {
    lines: HashMap<LineKey, Line>,
    /// Lines claimed per call (ringing or talking), to release them when the call goes.
    claims: HashMap<CallKey, Vec<Held>>,
    /// How many waiting callers want each line (a line wanted is held back for the queue).
    wanted: HashMap<LineKey, u32>,
    /// Wrap-ups in progress, by their end (what `poll_timeout` looks through).
    wrap_ups: BTreeSet<(Instant, LineKey)>,
    /// The latest request of each distribution, shared by the callers that wait with it.
    interned: HashMap<String, Arc<Request>>,
    queues: BTreeMap<String, Queue>,
    /// Which queue each waiting call is in.
    waiting_in: HashMap<CallKey, String>,
    stats: Stats,
    turns: HashMap<String, u64>,
    offered_here: HashMap<(String, LineKey), u64>,
    next_seq: u64,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    /// An empty board.
    pub fn new() -> Self {
        Board {
            lines: HashMap::new(),
            claims: HashMap::new(),
            wanted: HashMap::new(),
            wrap_ups: BTreeSet::new(),
            interned: HashMap::new(),
            queues: BTreeMap::new(),
            waiting_in: HashMap::new(),
            stats: Stats::default(),
            turns: HashMap::new(),
            offered_here: HashMap::new(),
            next_seq: 1,
        }
    }

    // ---- lines ----

    /// Brings the lines in line with `cfg`: a line per phone of every employee (line counts,
    /// call status); lines of removed phones go once no call holds them. `registered` tells
    /// which SIP lines have a contact.
    pub fn configure(
        &mut self,
        now: Instant,
        cfg: &CompanyConfig,
        registered: &dyn Fn(SipLineId) -> bool,
    ) {
        let mut wanted = HashSet::new();
        for e in &cfg.employees {
            for (k, p) in e.phones.iter().enumerate() {
                let Ok(phone) = u8::try_from(k) else { continue };
                let key = LineKey {
                    employee: e.id,
                    phone,
                };
                wanted.insert(key);
                let reachable = match p {
                    Phone::SipLine(l) => registered(l.id),
                    _ => true,
                };
                let line = self
                    .lines
                    .entry(key)
                    .or_insert_with(|| Line::new(p.lines(), reachable, now));
                line.set_capacity(p.lines());
                line.set_registered(reachable);
                if !e.calls_enabled {
                    line.set_permit(Permit::CallStatusOff);
                } else if line.state(now) == super::LineState::NotAllowed(Permit::CallStatusOff) {
                    line.set_permit(Permit::Allowed);
                }
            }
        }
        self.lines
            .retain(|k, l| wanted.contains(k) || l.ringing() + l.talking() > 0);
    }

    /// Applies each employee's permission at wall-clock `unix_ms`: call status off, or outside
    /// the employee's activity schedule (in the company's time zone and production calendar).
    pub fn apply_schedules(&mut self, cfg: &CompanyConfig, unix_ms: u64) {
        use crate::core::routing::{box_local_time, is_active};
        use chrono::Datelike;
        let local = box_local_time(cfg, unix_ms);
        for e in &cfg.employees {
            let permit = if !e.calls_enabled {
                Permit::CallStatusOff
            } else {
                match e.schedule.and_then(|id| cfg.schedule(id)) {
                    Some(sch) if !is_active(sch, cfg.calendar(local.year()), local).active => {
                        Permit::OutsideSchedule
                    }
                    _ => Permit::Allowed,
                }
            };
            self.set_permit(e.id, permit);
        }
    }

    /// A SIP line's phones gained or lost their contact.
    pub fn set_registered(&mut self, cfg: &CompanyConfig, sip: SipLineId, registered: bool) {
        for e in &cfg.employees {
            for (k, p) in e.phones.iter().enumerate() {
                if matches!(p, Phone::SipLine(l) if l.id == sip) {
                    if let Ok(phone) = u8::try_from(k) {
                        if let Some(l) = self.lines.get_mut(&LineKey {
                            employee: e.id,
                            phone,
                        }) {
                            l.set_registered(registered);
                        }
                    }
                }
            }
        }
    }

    /// An employee's permission now (schedule, call status): applies to all their lines.
    pub fn set_permit(&mut self, employee: vpbx_store::model::EmployeeId, permit: Permit) {
        for (k, l) in self.lines.iter_mut() {
            if k.employee == employee {
                l.set_permit(permit);
            }
        }
    }

    /// A line.
    pub fn line(&self, key: LineKey) -> Option<&Line> {
        self.lines.get(&key)
    }

    /// Every line.
    pub fn lines(&self) -> impl Iterator<Item = (&LineKey, &Line)> {
        self.lines.iter()
    }

    /// The queues, by key.
    pub fn queues(&self) -> impl Iterator<Item = (&String, &Queue)> {
        self.queues.iter().filter(|(_, q)| !q.waiting.is_empty())
    }

    /// The statistics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counts a sample read back from the store at start.
    pub fn restore_sample(&mut self, s: Sample) {
        self.stats.add(s);
    }

    /// A distribution pointer read back from the store.
    pub fn restore_turn(&mut self, anchor: String, turn: u64) {
        self.turns.insert(anchor, turn);
    }

    /// A distribution's pointer (persisted by the shell after [`Board::plan`]).
    pub fn turn(&self, anchor: &str) -> u64 {
        self.turns.get(anchor).copied().unwrap_or(0)
    }

    // ---- planning ----

    fn facts(&self, now: Instant, unix_ms: u64, req: &Request, c: &Candidate) -> LineFacts {
        let (idle_ms, offered_here) = match c.line {
            Some(k) => (
                self.lines.get(&k).map_or(0, |l| l.idle_ms(now)),
                self.offered_here
                    .get(&(req.anchor.clone(), k))
                    .copied()
                    .unwrap_or(0),
            ),
            None => (0, 0),
        };
        let (talk_ms_12h, offers_12h) = match c.employee {
            Some(e) => (
                self.stats.talk_ms_12h(req.scenario, e, unix_ms),
                self.stats.offers_12h(req.scenario, e, unix_ms),
            ),
            None => (0, 0),
        };
        LineFacts {
            idle_ms,
            talk_ms_12h,
            offers_12h,
            offered_here,
        }
    }

    fn rounds_for(
        &self,
        now: Instant,
        unix_ms: u64,
        req: &Request,
        cands: &[Candidate],
    ) -> Vec<Round> {
        let facts: Vec<LineFacts> = cands
            .iter()
            .map(|c| self.facts(now, unix_ms, req, c))
            .collect();
        strategy::rounds(
            &req.strategy,
            &Ask {
                candidates: cands,
                facts: &facts,
                turn: self.turn(&req.anchor),
                cap: req.cap,
            },
        )
    }

    /// The rounds a call's distribution rings now; the distribution's pointer advances.
    pub fn plan(&mut self, now: Instant, unix_ms: u64, req: &Request) -> Vec<Round> {
        let rounds = self.rounds_for(now, unix_ms, req, &req.candidates);
        *self.turns.entry(req.anchor.clone()).or_insert(0) += 1;
        rounds
    }

    // ---- claims ----

    /// Whether `line` is held back for a queue that `call` is not the offered head of.
    fn queue_holds(&self, call: CallKey, line: LineKey) -> bool {
        // A waiting caller rings only the lines its queue offers it (claimed for it).
        !self.waiting_in.contains_key(&call) && self.wanted.get(&line).is_some_and(|n| *n > 0)
    }

    /// Claims `line` for a ring of `call` in the distribution `anchor`.
    pub fn claim(
        &mut self,
        now: Instant,
        unix_ms: u64,
        call: CallKey,
        line: LineKey,
        anchor: &str,
        scenario: Option<ScenarioId>,
    ) -> Result<(), Refusal> {
        if self.queue_holds(call, line) {
            return Err(Refusal::QueueWaiting);
        }
        self.claim_unchecked(now, unix_ms, call, line, anchor, scenario)
    }

    fn claim_unchecked(
        &mut self,
        now: Instant,
        unix_ms: u64,
        call: CallKey,
        line: LineKey,
        anchor: &str,
        scenario: Option<ScenarioId>,
    ) -> Result<(), Refusal> {
        let l = self.lines.get_mut(&line).ok_or(Refusal::Unavailable)?;
        l.claim(now)?;
        self.claims.entry(call).or_default().push(Held {
            line,
            talking: false,
        });
        *self
            .offered_here
            .entry((anchor.to_string(), line))
            .or_insert(0) += 1;
        self.stats.add(Sample {
            at_ms: unix_ms,
            scenario,
            line,
            offered: true,
            talk_ms: 0,
        });
        Ok(())
    }

    /// `line`, claimed by `call`, answered.
    pub fn answered(&mut self, call: CallKey, line: LineKey) {
        let Some(held) = self
            .claims
            .get_mut(&call)
            .and_then(|c| c.iter_mut().find(|h| h.line == line && !h.talking))
        else {
            // Not ringing for this call (a repeated answer): nothing changes.
            return;
        };
        held.talking = true;
        if let Some(l) = self.lines.get_mut(&line) {
            l.answered();
        }
    }

    /// The ring (`talk_ms` `None`) or the talk of `call` on `line` ended; after a talk the
    /// line is in wrap-up for `wrap_up`.
    #[allow(clippy::too_many_arguments)]
    pub fn release(
        &mut self,
        now: Instant,
        unix_ms: u64,
        call: CallKey,
        line: LineKey,
        talk_ms: Option<u64>,
        wrap_up: Duration,
        scenario: Option<ScenarioId>,
    ) {
        let Some(held) = self.claims.get_mut(&call) else {
            return;
        };
        // The claim in the state the shell names ends first (a talk, or a ring).
        let k = held
            .iter()
            .position(|h| h.line == line && h.talking == talk_ms.is_some())
            .or_else(|| held.iter().position(|h| h.line == line));
        let Some(k) = k else {
            return;
        };
        let talked = held.swap_remove(k).talking;
        if held.is_empty() {
            self.claims.remove(&call);
        }
        if let Some(l) = self.lines.get_mut(&line) {
            l.release(now, talked, wrap_up);
            if let Some(until) = l.wrap_up_until(now) {
                self.wrap_ups.insert((until, line));
            }
        }
        if let Some(ms) = talk_ms.filter(|ms| *ms > 0 && talked) {
            self.stats.add(Sample {
                at_ms: unix_ms,
                scenario,
                line,
                offered: false,
                talk_ms: ms,
            });
        }
    }

    /// A claim `call` held before the board was rebuilt (a restart): counted again without
    /// the checks a new claim passes, so a line is never over-committed by the restart itself
    /// (a line already full keeps its calls; the claim is dropped only when the line is gone).
    pub fn restore_claim(
        &mut self,
        now: Instant,
        unix_ms: u64,
        call: CallKey,
        line: LineKey,
        talking: bool,
    ) {
        let _ = unix_ms;
        let Some(l) = self.lines.get_mut(&line) else {
            return;
        };
        if self
            .claims
            .get(&call)
            .is_some_and(|c| c.iter().any(|h| h.line == line))
        {
            return;
        }
        if l.claim(now).is_err() {
            l.force_claim();
        }
        if talking {
            l.answered();
        }
        self.claims
            .entry(call)
            .or_default()
            .push(Held { line, talking });
    }

    /// Lines `call` holds.
    pub fn claims_of(&self, call: CallKey) -> Vec<LineKey> {
        self.claims
            .get(&call)
            .map_or_else(Vec::new, |v| v.iter().map(|h| h.line).collect())
    }

    /// Everything `call` holds is released as it stands (a ring ends unanswered, a talk ends
    /// without wrap-up): the call is gone without saying how.
    pub fn release_all(&mut self, now: Instant, call: CallKey) {
        for h in self.claims.remove(&call).unwrap_or_default() {
            if let Some(l) = self.lines.get_mut(&h.line) {
                l.release(now, h.talking, Duration::ZERO);
            }
        }
    }

    fn want(&mut self, request: &Request, add: bool) {
        for line in request.candidates.iter().filter_map(|c| c.line) {
            let n = self.wanted.entry(line).or_insert(0);
            if add {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.wanted.remove(&line);
                }
            }
        }
    }

    // ---- queues ----

    /// `call` joins the queue of its request (at the end), or rejoins at `seq` when it had a
    /// place before (a restarted board hears it again from the call).
    pub fn join(
        &mut self,
        now: Instant,
        unix_ms: u64,
        call: CallKey,
        caller: String,
        request: Request,
        seq: Option<u64>,
    ) -> Option<Place> {
        let key = request.queue.clone()?;
        if let Some(old) = self.waiting_in.get(&call) {
            return self.place(unix_ms, call, &old.clone());
        }
        let seq = seq.unwrap_or(self.next_seq);
        self.next_seq = self.next_seq.max(seq + 1);
        let request = match self.interned.get(&request.anchor) {
            Some(r) if **r == request => Arc::clone(r),
            _ => {
                let r = Arc::new(request);
                self.interned.insert(r.anchor.clone(), Arc::clone(&r));
                r
            }
        };
        self.want(&request, true);
        let q = self.queues.entry(key.clone()).or_default();
        let at = if q.waiting.back().is_none_or(|w| w.seq < seq) {
            q.waiting.len()
        } else {
            q.waiting
                .iter()
                .position(|w| w.seq > seq)
                .unwrap_or(q.waiting.len())
        };
        q.waiting.insert(
            at,
            Waiting {
                call,
                seq,
                caller,
                joined: now,
                request,
            },
        );
        self.waiting_in.insert(call, key.clone());
        self.place(unix_ms, call, &key)
    }

    /// Where `call` waits now.
    pub fn place_of(&self, unix_ms: u64, call: CallKey) -> Option<Place> {
        let key = self.waiting_in.get(&call)?;
        self.place(unix_ms, call, key)
    }

    fn place(&self, unix_ms: u64, call: CallKey, key: &str) -> Option<Place> {
        let q = self.queues.get(key)?;
        let k = q.waiting.iter().position(|w| w.call == call)?;
        let position = k + 1;
        let avg = self
            .stats
            .average_talk_ms(
                q.waiting[k]
                    .request
                    .candidates
                    .iter()
                    .filter_map(|c| c.line),
                unix_ms,
            )
            .unwrap_or(DEFAULT_TALK_MS);
        Some(Place {
            queue: key.to_string(),
            position,
            ahead: q
                .waiting
                .iter()
                .take(k.min(AHEAD_NAMED))
                .map(|w| w.caller.clone())
                .collect(),
            eta_s: (avg * position as u64).div_ceil(1000),
            seq: q.waiting[k].seq,
        })
    }

    /// `call`, rejoined after a restart while lines rang for it, is the head being offered
    /// lines (so it is not offered others on top).
    pub fn restore_offering(&mut self, call: CallKey) {
        let Some(key) = self.waiting_in.get(&call) else {
            return;
        };
        if let Some(q) = self.queues.get_mut(key) {
            if q.waiting.front().map(|w| w.call) == Some(call) {
                q.offering = Some(call);
            }
        }
    }

    /// The sequence number of `call`'s place, if it waits.
    pub fn seq_of(&self, call: CallKey) -> Option<u64> {
        let key = self.waiting_in.get(&call)?;
        self.queues
            .get(key)?
            .waiting
            .iter()
            .find(|w| w.call == call)
            .map(|w| w.seq)
    }

    /// The waiting entry of `call`.
    pub fn waiting_of(&self, call: CallKey) -> Option<&Waiting> {
        let key = self.waiting_in.get(&call)?;
        self.queues
            .get(key)?
            .waiting
            .iter()
            .find(|w| w.call == call)
    }

    /// Whether lines are offered to `call` now (it heads its queue and phones ring for it).
    pub fn is_offered(&self, call: CallKey) -> bool {
        self.waiting_in
            .get(&call)
            .and_then(|k| self.queues.get(k))
            .is_some_and(|q| q.offering == Some(call))
    }

    /// The place of `call` passes to `to` (a callback keeps the place of the caller who asked
    /// for it): same queue, same place, same wait. Nothing when `call` does not wait or `to`
    /// waits already. Lines claimed by `call` stay its own.
    pub fn rekey(&mut self, call: CallKey, to: CallKey) -> bool {
        if self.waiting_in.contains_key(&to) {
            return false;
        }
        let Some(key) = self.waiting_in.remove(&call) else {
            return false;
        };
        if let Some(q) = self.queues.get_mut(&key) {
            if let Some(w) = q.waiting.iter_mut().find(|w| w.call == call) {
                w.call = to;
            }
            if q.offering == Some(call) {
                q.offering = None;
            }
        }
        self.waiting_in.insert(to, key);
        true
    }

    /// `call` leaves its queue (answered, timed out, hung up). Its claims stay until released.
    pub fn leave(&mut self, call: CallKey) {
        let Some(key) = self.waiting_in.remove(&call) else {
            return;
        };
        let Some(q) = self.queues.get_mut(&key) else {
            return;
        };
        let mut gone = None;
        q.waiting.retain(|w| {
            if w.call == call {
                gone = Some(Arc::clone(&w.request));
                false
            } else {
                true
            }
        });
        if q.offering == Some(call) {
            q.offering = None;
            q.retry_at = None;
        }
        if q.waiting.is_empty() {
            self.queues.remove(&key);
            if self.queues.is_empty() {
                self.interned.clear();
            }
        }
        if let Some(r) = gone {
            self.want(&r, false);
        }
    }

    /// The lines offered to the head `call` rang without an answer: the head stays first and is
    /// offered again at the next change, or after [`OFFER_RETRY`].
    pub fn offer_ended(&mut self, now: Instant, call: CallKey) {
        let Some(key) = self.waiting_in.get(&call) else {
            return;
        };
        if let Some(q) = self.queues.get_mut(key) {
            if q.offering == Some(call) {
                q.offering = None;
                q.retry_at = Some(now + OFFER_RETRY);
            }
        }
    }

    /// The heads of the queues that can be offered lines now, each with its lines claimed.
    pub fn dispatch(&mut self, now: Instant, unix_ms: u64) -> Vec<Offer> {
        let mut out = Vec::new();
        let keys: Vec<String> = self.queues.keys().cloned().collect();
        for key in keys {
            let Some(q) = self.queues.get_mut(&key) else {
                continue;
            };
            if q.offering.is_some() || q.retry_at.is_some_and(|t| t > now) {
                continue;
            }
            // A retry that is due is used now; what follows decides the next one.
            q.retry_at = None;
            let Some(head) = q.waiting.front().cloned() else {
                continue;
            };
            let free: Vec<Candidate> = head
                .request
                .candidates
                .iter()
                .filter(|c| {
                    c.line
                        .and_then(|l| self.lines.get(&l))
                        .is_some_and(|l| l.can_take(now).is_ok())
                })
                .cloned()
                .collect();
            let Some(first) = self
                .rounds_for(now, unix_ms, &head.request, &free)
                .into_iter()
                .next()
            else {
                continue;
            };
            *self.turns.entry(head.request.anchor.clone()).or_insert(0) += 1;
            let mut round = Vec::new();
            for k in first.ring {
                let Some(c) = free.get(k) else { continue };
                let Some(line) = c.line else { continue };
                if self
                    .claim_unchecked(
                        now,
                        unix_ms,
                        head.call,
                        line,
                        &head.request.anchor,
                        head.request.scenario,
                    )
                    .is_ok()
                {
                    round.push(c.clone());
                }
            }
            if round.is_empty() {
                continue;
            }
            if let Some(q) = self.queues.get_mut(&key) {
                q.offering = Some(head.call);
                q.retry_at = None;
            }
            out.push(Offer {
                call: head.call,
                queue: key,
                round,
                timeout_s: first.timeout_s,
            });
        }
        out
    }

    /// The next instant [`Board::dispatch`] may find something new without any other input:
    /// a wrap-up ending on a line some waiting caller wants, or a retry.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let retry = self
            .queues
            .values()
            .filter(|q| !q.waiting.is_empty() && q.offering.is_none())
            .filter_map(|q| q.retry_at)
            .filter(|t| *t > now)
            .min();
        let wrap_up = self
            .wrap_ups
            .range((now, LineKey::MIN)..)
            .find(|(t, l)| *t > now && self.wanted.contains_key(l))
            .map(|(t, _)| *t);
        match (retry, wrap_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets wrap-ups that ended by `now` (the shell calls it from time to time).
    pub fn prune(&mut self, now: Instant) {
        while self.wrap_ups.first().is_some_and(|(t, _)| *t <= now) {
            self.wrap_ups.pop_first();
        }
    }

    /// Checks the board's invariants (tests and the simulation call it after every step).
    pub fn check(&self, now: Instant) -> Result<(), String> {
        let mut held: HashMap<LineKey, usize> = HashMap::new();
        let mut talking: HashMap<LineKey, usize> = HashMap::new();
        for claims in self.claims.values() {
            for h in claims {
                *held.entry(h.line).or_insert(0) += 1;
                if h.talking {
                    *talking.entry(h.line).or_insert(0) += 1;
                }
            }
        }
        for (k, l) in &self.lines {
            let used = usize::from(l.ringing()) + usize::from(l.talking());
            if used > usize::from(l.capacity()) {
                return Err(format!(
                    "{k} carries {used} calls over its {} lines",
                    l.capacity()
                ));
            }
            if used != held.get(k).copied().unwrap_or(0) {
                return Err(format!("{k}: {used} in use but {:?} claims", held.get(k)));
            }
            if usize::from(l.talking()) != talking.get(k).copied().unwrap_or(0) {
                return Err(format!(
                    "{k}: {} talking but {:?} talking claims",
                    l.talking(),
                    talking.get(k)
                ));
            }
        }
        for (key, q) in &self.queues {
            if q.waiting
                .iter()
                .zip(q.waiting.iter().skip(1))
                .any(|(a, b)| a.seq >= b.seq)
            {
                return Err(format!("queue {key} is out of order"));
            }
            if let Some(c) = q.offering {
                if q.waiting.front().map(|w| w.call) != Some(c) {
                    return Err(format!(
                        "queue {key} offers lines to a caller not at its head"
                    ));
                }
            }
        }
        let _ = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpbx_store::model::{
        Employee, EmployeeId, Schedule, ScheduleId, ScheduleKind, SipLine, SipLineId,
    };

    fn cfg(schedule: Option<ScheduleId>, calls_enabled: bool) -> CompanyConfig {
        CompanyConfig {
            employees: vec![Employee {
                id: EmployeeId(1),
                first_name: String::new(),
                last_name: "A".into(),
                email: None,
                extension: "101".into(),
                calls_enabled,
                phones: vec![Phone::SipLine(SipLine {
                    id: SipLineId(1),
                    login: "101".into(),
                    password: "x".into(),
                    lines: 1,
                    dial_timeout_s: 20,
                    percent: 0,
                    outbound_caller_id: None,
                    outbound_allowed: true,
                })],
                schedule,
                rating: false,
                trainer: None,
                trainer_joins_every_call: false,
                transfers_join_queue: false,
                percent_distribution: false,
            }],
            schedules: vec![Schedule {
                id: ScheduleId(1),
                name: "Never".into(),
                days: ScheduleKind::Weekly {
                    week: Default::default(),
                },
                period_start: None,
                period_end: None,
                use_production_calendar: false,
            }],
            ..Default::default()
        }
    }

    const LINE: LineKey = LineKey {
        employee: EmployeeId(1),
        phone: 0,
    };

    #[test]
    fn a_line_outside_its_employees_schedule_or_with_calls_off_is_not_rung() {
        let now = crate::clock::test_origin();
        let unix = 1_780_000_000_000;
        let mut b = Board::new();
        let c = cfg(Some(ScheduleId(1)), true);
        b.configure(now, &c, &|_| true);
        b.apply_schedules(&c, unix);
        assert_eq!(
            b.claim(now, unix, 1, LINE, "a", None),
            Err(Refusal::NotAllowedBySchedule)
        );
        let c = cfg(None, false);
        b.configure(now, &c, &|_| true);
        b.apply_schedules(&c, unix);
        assert_eq!(
            b.claim(now, unix, 1, LINE, "a", None),
            Err(Refusal::CallStatusOff)
        );
        let c = cfg(None, true);
        b.configure(now, &c, &|_| true);
        b.apply_schedules(&c, unix);
        assert_eq!(b.claim(now, unix, 1, LINE, "a", None), Ok(()));
    }

    #[test]
    fn a_head_rejoined_while_its_offer_rings_is_not_offered_again() {
        let now = crate::clock::test_origin();
        let unix = 1_780_000_000_000;
        let mut b = Board::new();
        let c = cfg(None, true);
        b.configure(now, &c, &|_| true);
        let cand = super::super::candidates::phone_candidate(
            &c.employees[0],
            0,
            &c.employees[0].phones[0],
        );
        let request = Request {
            scenario: None,
            anchor: "1/q".into(),
            candidates: vec![cand],
            strategy: vpbx_store::model::Strategy::Sequential,
            cap: None,
            widening: false,
            queue: Some("101".into()),
        };
        // The line rang for call 7 before the restart: it holds the claim and its place.
        b.restore_claim(now, unix, 7, LINE, false);
        b.join(now, unix, 7, "a".into(), request, Some(3)).unwrap();
        b.restore_offering(7);
        assert!(b.dispatch(now, unix).is_empty());
        b.check(now).unwrap();
    }
}
