//! "Strictly in turn": caller k goes to employee k and only to them (SPEC §4.2).
//!
//! Choices:
//! - the participants are the distinct employees in listed order (by their first phone in the
//!   list); a candidate with no employee (an external number or SIP URI listed in the
//!   operation) is a participant of its own;
//! - call `turn` goes to participant `turn % n`, nobody else;
//! - that participant's phones ring one after another (rank 0 first, then listed order), each
//!   for its own dial timeout; one phone per round whatever the cap.

use super::{order_by, Distribute};
use crate::core::dist::{Ask, Round};
use vpbx_store::model::EmployeeId;

/// One employee per call, in turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrictlyInTurn;

/// Who a candidate belongs to: an employee, or itself when it is nobody's phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Employee(EmployeeId),
    Alone(usize),
}

fn who(ask: &Ask<'_>, k: usize) -> Who {
    ask.candidates[k]
        .employee
        .map_or(Who::Alone(k), Who::Employee)
}

impl Distribute for StrictlyInTurn {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let mut turns: Vec<Who> = Vec::new();
        for k in 0..ask.candidates.len() {
            let w = who(ask, k);
            if !turns.contains(&w) {
                turns.push(w);
            }
        }
        let n = turns.len() as u64;
        let Some(&chosen) = usize::try_from(ask.turn.checked_rem(n).unwrap_or(0))
            .ok()
            .and_then(|i| turns.get(i))
        else {
            return Vec::new();
        };
        order_by(ask, |_| ())
            .into_iter()
            .filter(|&k| who(ask, k) == chosen)
            .map(|k| Round {
                ring: vec![k],
                timeout_s: ask.candidates[k].timeout_s.max(1),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, cand, plain};
    use super::*;
    use crate::core::dist::Candidate;

    fn list() -> Vec<Candidate> {
        let mut list = vec![
            cand(1, Some(7), 20),
            cand(2, Some(5), 25),
            cand(3, Some(7), 30),
            cand(4, None, 15),
            cand(5, Some(7), 0),
        ];
        list[0].type_rank = 1;
        list
    }

    #[test]
    fn call_k_goes_to_employee_k_and_only_them() {
        let list = list();
        let at = |turn| plain(StrictlyInTurn.rounds(&ask(&list, &[], turn, Some(2))));
        // Employee 7: rank 0 phones first, then its rank 1 phone; one phone per round.
        assert_eq!(at(0), vec![(vec![2], 30), (vec![4], 1), (vec![0], 20)]);
        assert_eq!(at(1), vec![(vec![1], 25)]);
        assert_eq!(at(2), vec![(vec![3], 15)]);
        assert_eq!(at(3), at(0));
        assert_eq!(at(7), at(1));
    }

    #[test]
    fn nothing_to_ring_no_rounds() {
        assert!(StrictlyInTurn.rounds(&ask(&[], &[], 3, None)).is_empty());
    }
}
