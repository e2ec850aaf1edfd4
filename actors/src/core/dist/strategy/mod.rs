//! The strategies of SPEC §4.2, one file each behind one trait: each turns the candidates of a
//! distribution and their facts into ringing [`Round`]s. Pure functions of their input: the
//! same ask always gives the same rounds.
//!
//! Rules every strategy keeps:
//! - candidates of `type_rank` 0 come before those of rank 1 (the group's "sort by type"),
//!   the strategy orders within each rank;
//! - no round rings more than `cap` phones;
//! - ties keep the listed order (sorts are stable).

use super::{Ask, Round};
use vpbx_store::model::Strategy;

/// One strategy.
pub trait Distribute {
    /// The rounds for one call.
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round>;
}

/// The rounds `strategy` gives for `ask`.
pub fn rounds(strategy: &Strategy, ask: &Ask<'_>) -> Vec<Round> {
    let _ = (strategy, ask);
    Vec::new()
}
