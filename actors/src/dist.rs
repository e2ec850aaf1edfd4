//! `DistActor`: the distributor — the shell around the pure [`Board`] that holds every agent
//! line and every queue of the switch (SPEC §4). Calls ask it for their rounds, claim and
//! release agent lines through it, and wait in its queues; it offers lines to the queue heads
//! as they free up. One actor, so that claims, FIFO order and "other callers are waiting in
//! queue" are decided in one place without races (`docs/decisions.md` D54).
//!
//! Supervision: the switch restarts it when it exits. It rebuilds its lines from the current
//! snapshot and the registrations it shares with the [`DistLink`], its statistics from the
//! store, and asks the live calls to announce their claims and queue places again (in their
//! original order, so FIFO survives).

use crate::clock::Clock;
use crate::config_hub::{ConfigChanged, Snapshots};
use crate::core::call::AgentRing;
use crate::core::dist::board::{Board, CallKey, Offer, Place, Request};
use crate::core::dist::line::Refusal;
use crate::core::dist::stats::Sample;
use crate::core::dist::{Candidate, LineKey, LineState, Round};
use crate::stats::LiveStats;
use crate::supervision::{ChildExited, ChildKind};
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use vpbx_store::model::{ScenarioId, SipLineId};
use vpbx_store::Store;

mod callbacks;
pub use callbacks::{ListCallbacks, RequestCallback};

/// How calls reach the distributor (the live one, across restarts), and what outlives it.
#[derive(Clone, Default)]
pub struct DistLink(Arc<LinkInner>);

#[derive(Default)]
struct LinkInner {
    addr: RwLock<Option<Addr<DistActor>>>,
    /// SIP lines with a registered contact (the registrar's news, kept across restarts).
    registered: Mutex<HashSet<SipLineId>>,
    next_key: AtomicU64,
    /// Queue places, increasing across restarts of the distributor.
    next_seq: AtomicU64,
}

impl DistLink {
    /// The distributor now, if one runs.
    pub fn addr(&self) -> Option<Addr<DistActor>> {
        match self.0.addr.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn set(&self, addr: Addr<DistActor>) {
        match self.0.addr.write() {
            Ok(mut g) => *g = Some(addr),
            Err(p) => *p.into_inner() = Some(addr),
        }
    }

    /// A fresh key for a call.
    pub fn next_key(&self) -> CallKey {
        self.0.next_key.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A fresh queue place number (increasing across restarts of the distributor).
    pub fn next_seq(&self) -> u64 {
        self.0.next_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A place numbered before (a persisted callback): later places come after it.
    pub fn seen_seq(&self, seq: u64) {
        self.0.next_seq.fetch_max(seq, Ordering::Relaxed);
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, HashSet<SipLineId>> {
        self.0.registered.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// News from the distributor to a waiting call.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum QueueNews {
    /// Phones claimed for the caller: ring them.
    Offer {
        /// The phones.
        round: Vec<Candidate>,
        /// Seconds they ring.
        timeout_s: u32,
    },
}

/// What a live call holds at the distributor: its agent lines (and whether each talks) and its
/// place in a queue. A restarted distributor rebuilds itself from these.
#[derive(Clone)]
pub struct Holdings {
    /// The call.
    pub call: CallKey,
    /// Its lines, and whether each talks.
    pub lines: Vec<(AgentRing, bool)>,
    /// Its place: (seq, caller, request), when it waits.
    pub waiting: Option<(u64, String, Request)>,
    /// Where offers go.
    pub news: Recipient<QueueNews>,
}

/// Ask a call what it holds.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<Holdings>")]
pub struct GetHoldings;

/// A restarted distributor will hear from this many calls.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct RestoreExpect(pub usize);

/// One call's holdings (or `None`: it holds nothing or ended meanwhile).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Holding(pub Option<Holdings>);

/// How often employees' activity schedules are applied to their lines.
const SCHEDULE_EVERY: Duration = Duration::from_secs(30);

/// Seconds a restarted distributor waits for the calls' holdings before it distributes anyway.
const RESTORE_WAIT: Duration = Duration::from_secs(5);

/// The rounds of a distribution.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Vec<Round>")]
pub struct Plan {
    /// What to distribute.
    pub request: Request,
}

/// Claim an agent line for a ring of a call.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), Refusal>")]
pub struct Claim {
    /// The call.
    pub call: CallKey,
    /// The line and its distribution.
    pub agent: AgentRing,
}

/// A claimed line answered: it talks.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct AgentAnswered {
    /// The call.
    pub call: CallKey,
    /// The line.
    pub line: LineKey,
}

/// A claimed line is free again (the ring or the talk ended).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct AgentReleased {
    /// The call.
    pub call: CallKey,
    /// The line.
    pub line: LineKey,
    /// How long it talked (`None`: it only rang).
    pub talk_ms: Option<u64>,
    /// Wrap-up after a talk, seconds.
    pub wrap_up_s: u32,
    /// The scenario the call ran.
    pub scenario: Option<ScenarioId>,
}

/// A call joins its queue (or rejoins at `seq` after a restart of the distributor).
#[derive(Message, Clone)]
#[rtype(result = "Option<Place>")]
pub struct Join {
    /// The call.
    pub call: CallKey,
    /// The caller's number.
    pub caller: String,
    /// Its distribution.
    pub request: Request,
    /// Its earlier place, when it rejoins.
    pub seq: Option<u64>,
    /// Where offers go.
    pub news: Recipient<QueueNews>,
}

/// A call leaves its queue.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Leave {
    /// The call.
    pub call: CallKey,
}

/// The lines offered to a waiting call rang without an answer.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct OfferEnded {
    /// The call.
    pub call: CallKey,
}

/// Where a call waits.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<Place>")]
pub struct WhereAmI {
    /// The call.
    pub call: CallKey,
}

/// A call is over: whatever it still holds is released and its place given up.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct CallGone {
    /// The call.
    pub call: CallKey,
}

/// The registrar's news about a SIP line: it has (or no longer has) a registered contact.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct LineRegistration {
    /// Which line.
    pub line: SipLineId,
    /// Whether at least one contact is registered.
    pub registered: bool,
}

/// One agent line as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentView {
    /// The employee.
    pub employee: u64,
    /// Index of the phone in the employee's phones.
    pub phone: u8,
    /// Its state (`available`, `ringing`, `talking`, `wrap_up`, `busy`, `offline`, ...).
    pub state: &'static str,
    /// Line count.
    pub lines: u8,
    /// Calls ringing on it.
    pub ringing: u8,
    /// Talks on it.
    pub talking: u8,
    /// Seconds of wrap-up left.
    pub wrap_up_left_s: u64,
    /// Seconds idle (0 while in use).
    pub idle_s: u64,
}

/// One queue as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueueView {
    /// The queue (the employees' extensions).
    pub key: String,
    /// The waiting callers, head first.
    pub waiting: Vec<WaitingView>,
}

/// One waiting caller as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WaitingView {
    /// The caller's number.
    pub caller: String,
    /// 1 = next.
    pub position: usize,
    /// Seconds waited so far.
    pub waited_s: u64,
    /// Phones ring for this caller now.
    pub offered: bool,
    /// A callback keeps this place: the caller hung up and is called back when it is served.
    pub callback: bool,
}

/// The agent lines, for the API.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<AgentView>")]
pub struct ListAgents;

/// The live queues, for the API.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<QueueView>")]
pub struct ListQueues;

/// Stop the distributor (fault drills and the restart test).
#[doc(hidden)]
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopDist;

/// Asks every live call what it holds, for the restarted distributor `to`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ReannounceAll {
    /// The new distributor.
    pub to: Addr<DistActor>,
}

/// The distributor.
pub struct DistActor {
    board: Board,
    snapshots: Snapshots,
    clock: Arc<dyn Clock>,
    link: DistLink,
    store: Option<Store>,
    stats: Arc<LiveStats>,
    news: HashMap<CallKey, Recipient<QueueNews>>,
    timer: Option<(Instant, SpawnHandle)>,
    parent: Option<Recipient<ChildExited>>,
    /// After a restart: calls still to hear from (`usize::MAX` until the count is known).
    /// Nothing is distributed and no line claimed until they all answered.
    restoring: Option<usize>,
    /// Queue callbacks waiting or being placed, by their key.
    callbacks: HashMap<CallKey, callbacks::Callback>,
    /// Where callbacks are placed (the call supervisor).
    registry: Option<crate::switch::Registry>,
}

const THIRTY_DAYS_MS: u64 = 30 * 24 * 60 * 60 * 1000;

impl DistActor {
    /// A distributor over the current snapshot, persisting statistics to `store`.
    pub fn new(
        snapshots: Snapshots,
        clock: Arc<dyn Clock>,
        link: DistLink,
        store: Option<Store>,
        stats: Arc<LiveStats>,
    ) -> Self {
        DistActor {
            board: Board::new(),
            snapshots,
            clock,
            link,
            store,
            stats,
            news: HashMap::new(),
            timer: None,
            parent: None,
            restoring: None,
            callbacks: HashMap::new(),
            registry: None,
        }
    }

    /// Places queue callbacks through the call supervisor of `registry`.
    pub fn with_registry(mut self, registry: crate::switch::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// A distributor that replaces a failed one: it waits for the live calls' holdings.
    pub fn restarted(mut self) -> Self {
        self.restoring = Some(usize::MAX);
        self
    }

    fn restored(&mut self, ctx: &mut Context<Self>) {
        if self.restoring.take().is_some() {
            tracing::info!("distributor restored from the live calls");
            self.pump(ctx);
        }
    }

    /// Reports this actor's exit to `parent` (the switch), which owns the restart policy.
    pub fn with_parent(mut self, parent: Recipient<ChildExited>) -> Self {
        self.parent = Some(parent);
        self
    }

    fn configure(&mut self) {
        let cfg = self.snapshots.current();
        let registered = self.link.registered().clone();
        self.board
            .configure(self.clock.now(), &cfg, &|l| registered.contains(&l));
        self.board.apply_schedules(&cfg, self.clock.unix_ms());
    }

    fn persist(&self, s: Sample) {
        let Some(store) = &self.store else { return };
        let sample = vpbx_store::model::DistSample {
            at_unix_ms: s.at_ms,
            scenario: s.scenario,
            employee: s.line.employee,
            phone: s.line.phone,
            offered: s.offered,
            talk_ms: s.talk_ms,
        };
        if let Err(e) = store.add_dist_sample(&sample) {
            tracing::warn!(error = %e, "distribution statistics not stored");
        }
    }

    fn persist_turn(&self, anchor: &str) {
        let Some(store) = &self.store else { return };
        if let Err(e) = store.set_dist_turn(anchor, self.board.turn(anchor)) {
            tracing::warn!(error = %e, "distribution pointer not stored");
        }
    }

    fn restore(&mut self) {
        let Some(store) = &self.store else { return };
        let since = self.clock.unix_ms().saturating_sub(THIRTY_DAYS_MS);
        match store.dist_samples_since(since) {
            Ok(samples) => {
                for s in samples {
                    self.board.restore_sample(Sample {
                        at_ms: s.at_unix_ms,
                        scenario: s.scenario,
                        line: LineKey {
                            employee: s.employee,
                            phone: s.phone,
                        },
                        offered: s.offered,
                        talk_ms: s.talk_ms,
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "distribution statistics not read"),
        }
        if let Err(e) = store.prune_dist_samples(since) {
            tracing::warn!(error = %e, "old distribution statistics not pruned");
        }
    }

    /// Offers lines to the queue heads that can take them, and re-arms the timer.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.restoring.is_some() {
            return;
        }
        let now = self.clock.now();
        let unix_ms = self.clock.unix_ms();
        let offers = self.board.dispatch(now, unix_ms);
        for Offer {
            call,
            queue: _,
            round,
            timeout_s,
        } in offers
        {
            if self.offer_callback(call, &round, timeout_s) {
                continue;
            }
            for c in &round {
                if let Some(line) = c.line {
                    self.persist(Sample {
                        at_ms: unix_ms,
                        scenario: None,
                        line,
                        offered: true,
                        talk_ms: 0,
                    });
                }
            }
            let delivered = self.news.get(&call).is_some_and(|r| {
                r.try_send(QueueNews::Offer {
                    round: round.clone(),
                    timeout_s,
                })
                .is_ok()
            });
            if !delivered {
                // The call is gone: its place and the lines claimed for it go too.
                self.gone(call);
            }
        }
        self.arm(ctx);
    }

    fn gone(&mut self, call: CallKey) {
        let now = self.clock.now();
        self.callback_done(call);
        self.board.leave(call);
        self.news.remove(&call);
        self.board.release_all(now, call);
    }

    fn arm(&mut self, ctx: &mut Context<Self>) {
        self.board.prune(self.clock.now());
        let waiting: usize = self.board.queues().map(|(_, q)| q.waiting().count()).sum();
        self.stats.set_queued(waiting);
        let now = self.clock.now();
        let next = self.board.poll_timeout(now);
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let Some(at) = next else { return };
        let wait = at.saturating_duration_since(now);
        let h = ctx.run_later(wait, |act, ctx| {
            act.timer = None;
            act.pump(ctx);
        });
        self.timer = Some((at, h));
    }
}

impl Actor for DistActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.restore();
        self.configure();
        self.restore_callbacks();
        self.link.set(ctx.address());
        if self.restoring.is_some() {
            ctx.run_later(RESTORE_WAIT, |act, ctx| act.restored(ctx));
        }
        // Activity schedules change lines' permission at minute boundaries.
        ctx.run_interval(SCHEDULE_EVERY, |act, ctx| {
            let cfg = act.snapshots.current();
            act.board.apply_schedules(&cfg, act.clock.unix_ms());
            act.pump(ctx);
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(p) = &self.parent {
            p.do_send(ChildExited(ChildKind::Dist));
        }
    }
}

impl Handler<ConfigChanged> for DistActor {
    type Result = ();
    fn handle(&mut self, _: ConfigChanged, ctx: &mut Context<Self>) {
        self.configure();
        self.pump(ctx);
    }
}

impl Handler<LineRegistration> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: LineRegistration, ctx: &mut Context<Self>) {
        {
            let mut reg = self.link.registered();
            if msg.registered {
                reg.insert(msg.line);
            } else {
                reg.remove(&msg.line);
            }
        }
        let cfg = self.snapshots.current();
        self.board.set_registered(&cfg, msg.line, msg.registered);
        self.pump(ctx);
    }
}

impl Handler<Plan> for DistActor {
    type Result = MessageResult<Plan>;
    fn handle(&mut self, msg: Plan, _: &mut Context<Self>) -> Self::Result {
        let rounds = self
            .board
            .plan(self.clock.now(), self.clock.unix_ms(), &msg.request);
        self.persist_turn(&msg.request.anchor);
        MessageResult(rounds)
    }
}

impl Handler<Claim> for DistActor {
    type Result = Result<(), Refusal>;
    fn handle(&mut self, msg: Claim, _: &mut Context<Self>) -> Self::Result {
        if self.restoring.is_some() {
            // What the lines carry is not known yet: no line is committed twice.
            return Err(Refusal::Busy);
        }
        let unix_ms = self.clock.unix_ms();
        let a = &msg.agent;
        self.board.claim(
            self.clock.now(),
            unix_ms,
            msg.call,
            a.line,
            &a.anchor,
            a.scenario,
        )?;
        self.persist(Sample {
            at_ms: unix_ms,
            scenario: a.scenario,
            line: a.line,
            offered: true,
            talk_ms: 0,
        });
        Ok(())
    }
}

impl Handler<AgentAnswered> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: AgentAnswered, _: &mut Context<Self>) {
        self.board.answered(msg.call, msg.line);
    }
}

impl Handler<AgentReleased> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: AgentReleased, ctx: &mut Context<Self>) {
        let unix_ms = self.clock.unix_ms();
        self.board.release(
            self.clock.now(),
            unix_ms,
            msg.call,
            msg.line,
            msg.talk_ms,
            Duration::from_secs(u64::from(msg.wrap_up_s)),
            msg.scenario,
        );
        if let Some(ms) = msg.talk_ms.filter(|ms| *ms > 0) {
            self.persist(Sample {
                at_ms: unix_ms,
                scenario: msg.scenario,
                line: msg.line,
                offered: false,
                talk_ms: ms,
            });
        }
        self.pump(ctx);
    }
}

impl Handler<Join> for DistActor {
    type Result = Option<Place>;
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) -> Self::Result {
        self.news.insert(msg.call, msg.news);
        let place = self.board.join(
            self.clock.now(),
            self.clock.unix_ms(),
            msg.call,
            msg.caller,
            msg.request,
            Some(msg.seq.unwrap_or_else(|| self.link.next_seq())),
        );
        self.rejoined(msg.call);
        self.pump(ctx);
        // The pump may have offered lines already: the place is as of the join.
        place
    }
}

impl Handler<Leave> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        self.callback_done(msg.call);
        self.board.leave(msg.call);
        self.news.remove(&msg.call);
        self.pump(ctx);
    }
}

impl Handler<OfferEnded> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: OfferEnded, ctx: &mut Context<Self>) {
        self.board.offer_ended(self.clock.now(), msg.call);
        self.pump(ctx);
    }
}

impl Handler<WhereAmI> for DistActor {
    type Result = Option<Place>;
    fn handle(&mut self, msg: WhereAmI, _: &mut Context<Self>) -> Self::Result {
        self.board.place_of(self.clock.unix_ms(), msg.call)
    }
}

impl Handler<CallGone> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: CallGone, ctx: &mut Context<Self>) {
        self.gone(msg.call);
        self.pump(ctx);
    }
}

impl Handler<RestoreExpect> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: RestoreExpect, ctx: &mut Context<Self>) {
        if self.restoring.is_some() {
            self.restoring = Some(msg.0);
            if msg.0 == 0 {
                self.restored(ctx);
            }
        }
    }
}

impl Handler<Holding> for DistActor {
    type Result = ();
    fn handle(&mut self, msg: Holding, ctx: &mut Context<Self>) {
        if let Some(h) = msg.0 {
            let now = self.clock.now();
            let unix_ms = self.clock.unix_ms();
            for (a, talking) in &h.lines {
                self.board
                    .restore_claim(now, unix_ms, h.call, a.line, *talking);
            }
            if let Some((seq, caller, request)) = h.waiting {
                self.adopt_callback(h.call, seq);
                self.news.insert(h.call, h.news);
                self.board
                    .join(now, unix_ms, h.call, caller, request, Some(seq));
                if h.lines.iter().any(|(_, talking)| !talking) {
                    // Lines offered before the restart still ring for it.
                    self.board.restore_offering(h.call);
                }
            }
        }
        if let Some(left) = self.restoring {
            let left = left.saturating_sub(1);
            self.restoring = Some(left);
            if left == 0 {
                self.restored(ctx);
            }
        }
    }
}

impl Handler<ListAgents> for DistActor {
    type Result = MessageResult<ListAgents>;
    fn handle(&mut self, _: ListAgents, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        let mut out: Vec<AgentView> = self
            .board
            .lines()
            .map(|(k, l)| AgentView {
                employee: k.employee.0,
                phone: k.phone,
                state: l.state(now).as_str(),
                lines: l.capacity(),
                ringing: l.ringing(),
                talking: l.talking(),
                wrap_up_left_s: l
                    .wrap_up_until(now)
                    .map_or(0, |t| t.saturating_duration_since(now).as_secs()),
                idle_s: l.idle_ms(now) / 1000,
            })
            .collect();
        out.sort_by_key(|a| (a.employee, a.phone));
        MessageResult(out)
    }
}

impl Handler<ListQueues> for DistActor {
    type Result = MessageResult<ListQueues>;
    fn handle(&mut self, _: ListQueues, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now();
        MessageResult(
            self.board
                .queues()
                .map(|(key, q)| QueueView {
                    key: key.clone(),
                    waiting: q
                        .waiting()
                        .enumerate()
                        .map(|(k, w)| WaitingView {
                            caller: w.caller.clone(),
                            position: k + 1,
                            waited_s: now.saturating_duration_since(w.joined).as_secs(),
                            offered: q.offering() == Some(w.call),
                            callback: self.callbacks.contains_key(&w.call),
                        })
                        .collect(),
                })
                .collect(),
        )
    }
}

impl Handler<StopDist> for DistActor {
    type Result = ();
    fn handle(&mut self, _: StopDist, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Whether a line state lets a call ring (for tests of the shell).
pub fn takes_calls(s: LineState) -> bool {
    matches!(
        s,
        LineState::Available | LineState::Ringing | LineState::Talking
    )
}
