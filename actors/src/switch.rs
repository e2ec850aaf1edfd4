//! `Switch`: the root supervisor. It starts `CallSupervisor`, `LineSupervisor`, `QueueSupervisor`
//! and `ConfigHub`, publishes their addresses in the [`Registry`], and owns the restart policy for
//! them: each child reports its exit from `stopped()` and the switch starts a fresh one (state is
//! rebuilt from the store and the current snapshot, never reused), counting the restart in
//! `vpbx_actor_restarts_total`.

use crate::agent_line::LineSupervisor;
use crate::call::CallDeps;
use crate::call_supervisor::CallSupervisor;
use crate::config_hub::{ConfigHub, Snapshots, Subscribe};
use crate::queue::QueueSupervisor;
use crate::stats::LiveStats;
use crate::supervision::{ChildExited, ChildKind};
use actix::prelude::*;
use std::sync::{Arc, RwLock};
use vpbx_store::Store;

/// Addresses of the switch's children, for the edges (SIP, HTTP). Always the live ones.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<Option<Children>>>,
}

/// The switch's children.
#[derive(Clone)]
pub struct Children {
    /// Calls.
    pub calls: Addr<CallSupervisor>,
    /// Agent lines.
    pub lines: Addr<LineSupervisor>,
    /// Queues.
    pub queues: Addr<QueueSupervisor>,
    /// Configuration writer.
    pub config: Addr<ConfigHub>,
}

impl Registry {
    /// The current children (None before the switch has started).
    pub fn children(&self) -> Option<Children> {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, c: Children) {
        match self.inner.write() {
            Ok(mut g) => *g = Some(c),
            Err(p) => *p.into_inner() = Some(c),
        }
    }
}

/// The root supervisor.
pub struct Switch {
    store: Store,
    snapshots: Snapshots,
    stats: Arc<LiveStats>,
    registry: Registry,
    deps: CallDeps,
    call_arbiters: Vec<ArbiterHandle>,
}

impl Switch {
    /// A switch over these parts. `call_arbiters` carry the calls (one per core).
    pub fn new(
        store: Store,
        snapshots: Snapshots,
        stats: Arc<LiveStats>,
        registry: Registry,
        deps: CallDeps,
        call_arbiters: Vec<ArbiterHandle>,
    ) -> Self {
        Switch {
            store,
            snapshots,
            stats,
            registry,
            deps,
            call_arbiters,
        }
    }
}

impl Actor for Switch {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address().recipient();
        let config = ConfigHub::new(self.store.clone(), self.snapshots.clone())
            .with_parent(me.clone())
            .start();
        let lines = LineSupervisor::new(self.snapshots.clone(), self.stats.clone())
            .with_parent(me.clone())
            .start();
        config.do_send(Subscribe(lines.clone().recipient()));
        let calls = CallSupervisor::new(
            self.call_arbiters.clone(),
            self.deps.clone(),
            self.stats.clone(),
        )
        .with_parent(me.clone())
        .start();
        let queues = QueueSupervisor::default().with_parent(me).start();
        self.registry.set(Children {
            calls,
            lines,
            queues,
            config,
        });
    }
}

impl Handler<ChildExited> for Switch {
    type Result = ();
    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        let Some(mut c) = self.registry.children() else {
            return;
        };
        let me = ctx.address().recipient();
        let label = match msg.0 {
            ChildKind::Calls => {
                c.calls = CallSupervisor::new(
                    self.call_arbiters.clone(),
                    self.deps.clone(),
                    self.stats.clone(),
                )
                .with_parent(me)
                .start();
                "call_supervisor"
            }
            ChildKind::Lines => {
                c.lines = LineSupervisor::new(self.snapshots.clone(), self.stats.clone())
                    .with_parent(me)
                    .start();
                c.config.do_send(Subscribe(c.lines.clone().recipient()));
                "line_supervisor"
            }
            ChildKind::Queues => {
                c.queues = QueueSupervisor::default().with_parent(me).start();
                "queue_supervisor"
            }
            ChildKind::Config => {
                c.config = ConfigHub::new(self.store.clone(), self.snapshots.clone())
                    .with_parent(me)
                    .start();
                c.config.do_send(Subscribe(c.lines.clone().recipient()));
                "config_hub"
            }
        };
        tracing::warn!(child = label, "supervised child exited; restarted");
        self.stats.restarted(label);
        self.registry.set(c);
    }
}
