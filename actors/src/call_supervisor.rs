//! `CallSupervisor`: starts one [`CallActor`] per call on one of the call arbiters (one per core,
//! chosen by a hash of the call id) and receives every call's exit.
//!
//! Policy (written down, Kazoo-style): calls are **never restarted**. A call that exits abnormally
//! has already ended its leg and written its CDR from its own `stopped()`; the supervisor counts
//! the result and forgets the call. On shutdown it asks every live call to end.
//!
//! Calls the SIP edge refuses after looking them up (a blacklisted caller, no rule matched, an
//! unknown number or extension, no trunk, an incoming-only line) never get an actor; the edge
//! hands them here ([`RecordRefusal`]) and the supervisor writes their CDR. CDRs are written only
//! by calls and their supervisor.

use crate::call::{CallActor, CallDeps, CallExited, CallId, CallSetup, InjectFault, Shutdown};
use crate::core::routing::Refused;
use crate::stats::LiveStats;
use crate::supervision::{ChildExited, ChildKind};
use actix::prelude::*;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tracing::warn;
use vpbx_store::model::{CallResult, Cdr, HangupSide};

/// Start a routed call.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartCall(pub CallSetup);

/// Record a call the SIP edge refused after looking it up: one CDR with the reason (and, when
/// no rule matched, every rule passed over), hung up by the switch, counted in
/// `vpbx_calls_finished_total{result}`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RecordRefusal {
    /// Our id for the call.
    pub call_id: CallId,
    /// SIP Call-ID of the INVITE.
    pub sip_call_id: String,
    /// Caller number (A): as sent, or the calling line's extension.
    pub numa: String,
    /// Dialled number (B): the virtual number, or what the phone dialled.
    pub numb: String,
    /// When the INVITE was refused, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The SIP status the caller got.
    pub code: u16,
    /// Why.
    pub refused: Refused,
}

/// End every live call (switch shutdown). Answers with the number of calls asked to end.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "usize")]
pub struct EndAllCalls;

/// The live calls: our id and the SIP Call-ID of the inbound leg.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<(CallId, String)>")]
pub struct ListCalls;

/// Fault injection: make one call's actor panic. Answers whether the call was found.
#[doc(hidden)]
#[derive(Message, Debug, Clone)]
#[rtype(result = "bool")]
pub struct InjectCallFault(pub CallId);

/// Supervisor of all calls.
pub struct CallSupervisor {
    arbiters: Vec<ArbiterHandle>,
    deps: CallDeps,
    stats: Arc<LiveStats>,
    calls: HashMap<CallId, (Addr<CallActor>, String)>,
    parent: Option<Recipient<ChildExited>>,
}

impl CallSupervisor {
    /// A supervisor spreading calls over `arbiters` (must not be empty; falls back to the
    /// current arbiter if it is).
    pub fn new(arbiters: Vec<ArbiterHandle>, deps: CallDeps, stats: Arc<LiveStats>) -> Self {
        CallSupervisor {
            arbiters,
            deps,
            stats,
            calls: HashMap::new(),
            parent: None,
        }
    }

    fn arbiter_for(&self, id: &CallId) -> ArbiterHandle {
        if self.arbiters.is_empty() {
            return Arbiter::current();
        }
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        let i = (h.finish() % self.arbiters.len() as u64) as usize;
        self.arbiters[i].clone()
    }
}

impl Actor for CallSupervisor {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(p) = &self.parent {
            p.do_send(ChildExited(ChildKind::Calls));
        }
    }
}

impl Handler<StartCall> for CallSupervisor {
    type Result = ();
    fn handle(&mut self, msg: StartCall, ctx: &mut Context<Self>) {
        let setup = msg.0;
        let id = setup.call_id.clone();
        let sip_call_id = setup.leg.info.sip_call_id.clone();
        let deps = self.deps.clone();
        let me = ctx.address().recipient();
        let arbiter = self.arbiter_for(&id);
        let addr = CallActor::start_in_arbiter(&arbiter, move |_| CallActor::new(setup, deps, me));
        self.stats.call_started();
        metrics::counter!("vpbx_calls_started_total").increment(1);
        self.calls.insert(id, (addr, sip_call_id));
    }
}

impl Handler<CallExited> for CallSupervisor {
    type Result = ();
    fn handle(&mut self, msg: CallExited, _: &mut Context<Self>) {
        if self.calls.remove(&msg.call_id).is_some() {
            self.stats.call_finished();
        }
        if msg.result == CallResult::Failed {
            warn!(call_id = %msg.call_id, "call ended by failure");
        }
        metrics::counter!("vpbx_calls_finished_total", "result" => msg.result.as_str())
            .increment(1);
    }
}

impl Handler<RecordRefusal> for CallSupervisor {
    type Result = ();
    fn handle(&mut self, msg: RecordRefusal, _: &mut Context<Self>) {
        let result = msg.refused.result();
        self.deps.cdrs.write(Cdr {
            call_id: msg.call_id.0,
            sip_call_id: msg.sip_call_id,
            numa: msg.numa,
            numb: msg.numb,
            start_unix_ms: msg.at_unix_ms,
            answer_unix_ms: None,
            end_unix_ms: msg.at_unix_ms,
            result,
            hangup: HangupSide::Switch,
            reason: msg.refused.to_string(),
            events: msg.refused.events(msg.at_unix_ms, msg.code),
        });
        metrics::counter!("vpbx_calls_finished_total", "result" => result.as_str()).increment(1);
    }
}

impl Handler<EndAllCalls> for CallSupervisor {
    type Result = usize;
    fn handle(&mut self, _: EndAllCalls, _: &mut Context<Self>) -> usize {
        for (addr, _) in self.calls.values() {
            addr.do_send(Shutdown);
        }
        self.calls.len()
    }
}

impl Handler<crate::dist::ReannounceAll> for CallSupervisor {
    type Result = ();
    fn handle(&mut self, _: crate::dist::ReannounceAll, _: &mut Context<Self>) {
        for (addr, _) in self.calls.values() {
            addr.do_send(crate::dist::QueueNews::Reannounce);
        }
    }
}

impl Handler<ListCalls> for CallSupervisor {
    type Result = MessageResult<ListCalls>;
    fn handle(&mut self, _: ListCalls, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.calls
                .iter()
                .map(|(id, (_, sip))| (id.clone(), sip.clone()))
                .collect(),
        )
    }
}

impl Handler<InjectCallFault> for CallSupervisor {
    type Result = bool;
    fn handle(&mut self, msg: InjectCallFault, _: &mut Context<Self>) -> bool {
        match self.calls.get(&msg.0) {
            Some((addr, _)) => {
                addr.do_send(InjectFault);
                true
            }
            None => false,
        }
    }
}

impl CallSupervisor {
    /// Reports this actor's exit to `parent` (the switch), which owns the restart policy.
    pub fn with_parent(mut self, parent: Recipient<ChildExited>) -> Self {
        self.parent = Some(parent);
        self
    }
}
