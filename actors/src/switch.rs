//! `Switch`: the root supervisor. It starts `CallSupervisor`, `DistActor`
//! and `ConfigHub`, publishes their addresses in the [`Registry`], and owns the restart policy for
//! them: each child reports its exit from `stopped()` and the switch starts a fresh one (state is
//! rebuilt from the store and the current snapshot, never reused), counting the restart in
//! `vpbx_actor_restarts_total`.

use crate::call::CallDeps;
use crate::call_supervisor::CallSupervisor;
use crate::config_hub::{ConfigHub, Snapshots, Subscribe};
use crate::dist::{DistActor, ReannounceAll};
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
    /// Agent lines and queues.
    pub dist: Addr<DistActor>,
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

impl Switch {
    fn dist(&self, parent: Recipient<ChildExited>, restarted: bool) -> Addr<DistActor> {
        let dist = DistActor::new(
            self.snapshots.clone(),
            self.deps.clock.clone(),
            self.deps.dist.clone(),
            Some(self.store.clone()),
            self.stats.clone(),
        )
        .with_registry(self.registry.clone())
        .with_parent(parent);
        let addr = if restarted { dist.restarted() } else { dist }.start();
        // Calls find the new distributor at once (before it runs `started`).
        self.deps.dist.set(addr.clone());
        addr
    }
}

impl Actor for Switch {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address().recipient();
        let config = ConfigHub::new(self.store.clone(), self.snapshots.clone())
            .with_parent(me.clone())
            .start();
        let dist = self.dist(me.clone(), false);
        config.do_send(Subscribe(dist.clone().recipient()));
        let calls = CallSupervisor::new(
            self.call_arbiters.clone(),
            self.deps.clone(),
            self.stats.clone(),
        )
        .with_parent(me.clone())
        .start();
        self.registry.set(Children {
            calls,
            dist,
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
            ChildKind::Dist => {
                c.dist = self.dist(me, true);
                c.config.do_send(Subscribe(c.dist.clone().recipient()));
                // The live calls tell the new distributor what they hold and where they wait.
                c.calls.do_send(ReannounceAll { to: c.dist.clone() });
                "distributor"
            }
            ChildKind::Config => {
                c.config = ConfigHub::new(self.store.clone(), self.snapshots.clone())
                    .with_parent(me)
                    .start();
                c.config.do_send(Subscribe(c.dist.clone().recipient()));
                "config_hub"
            }
        };
        tracing::warn!(child = label, "supervised child exited; restarted");
        self.stats.restarted(label);
        self.registry.set(c);
    }
}
