//! What the switch's children and the switch say to each other about supervision: a child
//! reports its exit with [`ChildExited`] from its `stopped()`, and the switch (`switch.rs`), which
//! owns the restart policy, starts a fresh one. A leaf, so that the children need not import
//! their parent.

use actix::prelude::*;

/// Which child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// The call supervisor.
    Calls,
    /// The distributor (agent lines and queues).
    Dist,
    /// The configuration hub.
    Config,
}

/// Sent by a child of the switch from its `stopped()`.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ChildExited(pub ChildKind);
