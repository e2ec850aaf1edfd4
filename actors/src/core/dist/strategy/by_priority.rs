//! "By priority": employees ring by priority, equal priorities together (SPEC §4.2).
//!
//! Choices:
//! - a level is a priority (1 first); an employee missing from `priorities` and a candidate
//!   with no employee are in the lowest level, after every listed priority;
//! - within each type rank the levels go in priority order (rank 0 phones of every level before
//!   rank 1 phones, as in every strategy);
//! - a level rings all its phones together for `attempt_s`, and is tried `attempts` times
//!   (consecutive rounds) before the next level. With a cap the level is split into
//!   consecutive rounds of `cap` phones in listed order, and one attempt is one pass over
//!   them;
//! - `attempts` 0 counts as 1 and `attempt_s` 0 as 1 s (the settings validation refuses both).
//!
//! Each attempt rings afresh: the phones of a level are cancelled when its attempt ends and rung
//! again for the next one (only "fastest answer" keeps phones ringing across rounds).

use super::{chunked, order_by, Distribute};
use crate::core::dist::{Ask, Round};
use std::collections::BTreeMap;
use vpbx_store::model::EmployeeId;

/// Employees by priority, equal priorities together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByPriority<'a> {
    priorities: &'a BTreeMap<EmployeeId, u8>,
    attempts: u8,
    attempt_s: u32,
}

impl<'a> ByPriority<'a> {
    /// From the settings: employee → priority (1 first), attempts per level, seconds per
    /// attempt.
    pub fn new(priorities: &'a BTreeMap<EmployeeId, u8>, attempts: u8, attempt_s: u32) -> Self {
        ByPriority {
            priorities,
            attempts,
            attempt_s,
        }
    }

    /// The level of candidate `k`: its priority, or past every priority when it has none.
    fn level(&self, ask: &Ask<'_>, k: usize) -> u16 {
        ask.candidates[k]
            .employee
            .and_then(|e| self.priorities.get(&e))
            .map_or(u16::from(u8::MAX) + 1, |&p| u16::from(p))
    }
}

impl Distribute for ByPriority<'_> {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let order = order_by(ask, |k| self.level(ask, k));
        let key = |k: usize| (ask.candidates[k].type_rank, self.level(ask, k));
        let size = ask.cap.unwrap_or(order.len());
        let mut out = Vec::new();
        for level in order.chunk_by(|&a, &b| key(a) == key(b)) {
            let pass = chunked(ask, level, size, Some(self.attempt_s));
            for _ in 0..self.attempts.max(1) {
                out.extend(pass.iter().cloned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, cand, plain};
    use super::*;

    fn prio(pairs: &[(u64, u8)]) -> BTreeMap<EmployeeId, u8> {
        pairs.iter().map(|&(e, p)| (EmployeeId(e), p)).collect()
    }

    #[test]
    fn equal_priorities_ring_together_each_level_attempts_times() {
        // Two managers at priority 1 (employee 2 with two phones), the head at 2, employee 4
        // unlisted and an external number last.
        let list = vec![
            cand(1, Some(3), 20),
            cand(2, Some(2), 20),
            cand(3, Some(4), 20),
            cand(4, Some(1), 20),
            cand(5, None, 20),
            cand(6, Some(2), 20),
        ];
        let p = prio(&[(1, 1), (2, 1), (3, 2)]);
        let out = plain(ByPriority::new(&p, 2, 15).rounds(&ask(&list, &[], 0, None)));
        assert_eq!(
            out,
            vec![
                (vec![1, 3, 5], 15),
                (vec![1, 3, 5], 15),
                (vec![0], 15),
                (vec![0], 15),
                (vec![2, 4], 15),
                (vec![2, 4], 15),
            ]
        );
    }

    #[test]
    fn a_cap_splits_each_attempt_and_rank_zero_goes_first() {
        let mut list = vec![
            cand(1, Some(1), 20),
            cand(2, Some(2), 20),
            cand(3, Some(3), 20),
            cand(4, Some(4), 20),
        ];
        list[0].type_rank = 1;
        let p = prio(&[(1, 1), (2, 1), (3, 1), (4, 2)]);
        let out = plain(ByPriority::new(&p, 2, 0).rounds(&ask(&list, &[], 0, Some(1))));
        assert_eq!(
            out,
            vec![
                (vec![1], 1),
                (vec![2], 1),
                (vec![1], 1),
                (vec![2], 1),
                (vec![3], 1),
                (vec![3], 1),
                (vec![0], 1),
                (vec![0], 1),
            ]
        );
    }
}
