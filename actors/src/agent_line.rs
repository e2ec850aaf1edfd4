//! Agent lines: one `AgentLineActor` per SIP line, under the `LineSupervisor`.
//!
//! A line knows its identity and its registration state (SPEC §4.1): `Offline` until the
//! registrar reports a contact ([`LineRegistration`]), `Available` while one is registered. Policy: a line actor that exits while the line still exists in the configuration
//! is restarted from the current snapshot (its state is rebuilt, never reused); lines removed from
//! the configuration are stopped.

use crate::config_hub::{ConfigChanged, Snapshots};
use crate::stats::LiveStats;
use crate::supervision::{ChildExited, ChildKind};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use vpbx_store::model::{CompanyConfig, EmployeeId, Phone, SipLineId};

/// State of an agent line (SPEC §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    /// Not registered.
    Offline,
    /// Registered and free.
    Available,
}

/// One employee phone line.
pub struct AgentLineActor {
    line: SipLineId,
    employee: EmployeeId,
    state: LineState,
    supervisor: Recipient<LineExited>,
}

impl Actor for AgentLineActor {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.supervisor.do_send(LineExited { line: self.line });
    }
}

/// A line actor stopped.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct LineExited {
    /// Which line.
    pub line: SipLineId,
}

/// Ask a line for its state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "(EmployeeId, LineState)")]
pub struct GetLineState;

impl Handler<GetLineState> for AgentLineActor {
    type Result = MessageResult<GetLineState>;
    fn handle(&mut self, _: GetLineState, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.employee, self.state))
    }
}

/// The registrar's news about a line: it has (or no longer has) a registered contact.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct LineRegistration {
    /// Which line.
    pub line: SipLineId,
    /// Whether at least one contact is registered.
    pub registered: bool,
}

impl Handler<LineRegistration> for AgentLineActor {
    type Result = ();
    fn handle(&mut self, msg: LineRegistration, _: &mut Context<Self>) {
        self.state = if msg.registered {
            LineState::Available
        } else {
            LineState::Offline
        };
    }
}

impl Handler<LineRegistration> for LineSupervisor {
    type Result = ();
    fn handle(&mut self, msg: LineRegistration, _: &mut Context<Self>) {
        if msg.registered {
            self.registered.insert(msg.line);
        } else {
            self.registered.remove(&msg.line);
        }
        if let Some(addr) = self.lines.get(&msg.line) {
            addr.do_send(msg);
        }
    }
}

/// Stop this line actor (used by tests of the restart policy and by removal).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopLine;

impl Handler<StopLine> for AgentLineActor {
    type Result = ();
    fn handle(&mut self, _: StopLine, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Supervisor of the agent lines.
pub struct LineSupervisor {
    snapshots: Snapshots,
    stats: Arc<LiveStats>,
    lines: HashMap<SipLineId, Addr<AgentLineActor>>,
    /// Lines the registrar reported registered; a restarted line actor starts from this.
    registered: std::collections::HashSet<SipLineId>,
    parent: Option<Recipient<ChildExited>>,
}

impl LineSupervisor {
    /// A supervisor that builds its lines from the current snapshot.
    pub fn new(snapshots: Snapshots, stats: Arc<LiveStats>) -> Self {
        LineSupervisor {
            snapshots,
            stats,
            lines: HashMap::new(),
            registered: Default::default(),
            parent: None,
        }
    }

    fn wanted(cfg: &CompanyConfig) -> HashMap<SipLineId, EmployeeId> {
        let mut out = HashMap::new();
        for e in &cfg.employees {
            for p in &e.phones {
                if let Phone::SipLine(l) = p {
                    out.insert(l.id, e.id);
                }
            }
        }
        out
    }

    fn reconcile(&mut self, cfg: &CompanyConfig, ctx: &mut Context<Self>) {
        let wanted = Self::wanted(cfg);
        self.lines.retain(|id, addr| {
            let keep = wanted.contains_key(id);
            if !keep {
                addr.do_send(StopLine);
            }
            keep
        });
        for (line, employee) in wanted {
            let state = if self.registered.contains(&line) {
                LineState::Available
            } else {
                LineState::Offline
            };
            self.lines.entry(line).or_insert_with(|| {
                AgentLineActor {
                    line,
                    employee,
                    state,
                    supervisor: ctx.address().recipient(),
                }
                .start()
            });
        }
    }
}

impl Actor for LineSupervisor {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(p) = &self.parent {
            p.do_send(ChildExited(ChildKind::Lines));
        }
    }
    fn started(&mut self, ctx: &mut Context<Self>) {
        let cfg = self.snapshots.current();
        self.reconcile(&cfg, ctx);
    }
}

impl Handler<ConfigChanged> for LineSupervisor {
    type Result = ();
    fn handle(&mut self, msg: ConfigChanged, ctx: &mut Context<Self>) {
        self.reconcile(&msg.0, ctx);
    }
}

impl Handler<LineExited> for LineSupervisor {
    type Result = ();
    fn handle(&mut self, msg: LineExited, ctx: &mut Context<Self>) {
        // A line we stopped on purpose is already out of the map; any other exit is a failure.
        if self.lines.remove(&msg.line).is_some() {
            self.stats.restarted("agent_line");
            let cfg = self.snapshots.current();
            self.reconcile(&cfg, ctx);
        }
    }
}

/// Addresses of the line actors, by line.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<(SipLineId, Addr<AgentLineActor>)>")]
pub struct ListLines;

impl Handler<ListLines> for LineSupervisor {
    type Result = MessageResult<ListLines>;
    fn handle(&mut self, _: ListLines, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.lines.iter().map(|(k, v)| (*k, v.clone())).collect())
    }
}

impl LineSupervisor {
    /// Reports this actor's exit to `parent` (the switch), which owns the restart policy.
    pub fn with_parent(mut self, parent: Recipient<ChildExited>) -> Self {
        self.parent = Some(parent);
        self
    }
}
