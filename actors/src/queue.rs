//! `QueueSupervisor`: owner of the shared call queues (one `QueueActor` per set of employee
//! numbers, SPEC §4.3). It has no queue actors yet: a forward operation rings its targets
//! directly (`docs/decisions.md` D20), so no call waits in a queue.
//!
//! Policy, once queues exist: a queue actor that fails is restarted and rebuilds its FIFO from the live calls that
//! reference it (they re-announce themselves); waiting callers are never dropped by a restart.

use crate::supervision::{ChildExited, ChildKind};
use actix::prelude::*;

/// Supervisor of the call queues.
#[derive(Default)]
pub struct QueueSupervisor {
    queues: usize,
    parent: Option<Recipient<ChildExited>>,
}

impl Actor for QueueSupervisor {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(p) = &self.parent {
            p.do_send(ChildExited(ChildKind::Queues));
        }
    }
}

/// Number of live queues.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "usize")]
pub struct QueueCount;

impl Handler<QueueCount> for QueueSupervisor {
    type Result = usize;
    fn handle(&mut self, _: QueueCount, _: &mut Context<Self>) -> usize {
        self.queues
    }
}

impl QueueSupervisor {
    /// Reports this actor's exit to `parent` (the switch), which owns the restart policy.
    pub fn with_parent(mut self, parent: Recipient<ChildExited>) -> Self {
        self.parent = Some(parent);
        self
    }
}
