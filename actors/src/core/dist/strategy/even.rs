//! "Even": one phone after another, each call starting one phone further along the list (SPEC
//! §4.2).
//!
//! Like [`Sequential`](super::Sequential), with the list rotated left by `turn`: call `turn`
//! starts at phone `turn % n`. The rotation is done within each type rank (rank 0 rotated by
//! `turn % n0`, rank 1 by `turn % n1`, rank 0 still first), so "sort by type" still holds.
//! `cap` phones per round (one without a cap), each round for the longest dial timeout of its
//! phones.

use super::{in_turn, ranked, Distribute};
use crate::core::dist::{Ask, Round};

/// Sequential, starting one phone further along the list each call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Even;

impl Distribute for Even {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let order = ranked(ask);
        let zeros = order
            .iter()
            .take_while(|&&k| ask.candidates[k].type_rank == 0)
            .count();
        let (first, rest) = order.split_at(zeros);
        let rotated: Vec<usize> = [first, rest]
            .into_iter()
            .flat_map(|part| rotate(part, ask.turn))
            .collect();
        in_turn(ask, &rotated)
    }
}

/// `part` rotated left by `turn % len`.
fn rotate(part: &[usize], turn: u64) -> Vec<usize> {
    let len = part.len();
    if len == 0 {
        return Vec::new();
    }
    let by = usize::try_from(turn % len as u64).unwrap_or(0);
    part[by..].iter().chain(&part[..by]).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;

    fn firsts(list: &[crate::core::dist::Candidate], turn: u64) -> Vec<usize> {
        Even.rounds(&ask(list, &[], turn, None))
            .into_iter()
            .map(|r| r.ring[0])
            .collect()
    }

    #[test]
    fn each_call_starts_one_phone_further() {
        let mut list = phones(3, 20);
        list[2].timeout_s = 30;
        assert_eq!(firsts(&list, 0), vec![0, 1, 2]);
        assert_eq!(firsts(&list, 1), vec![1, 2, 0]);
        assert_eq!(firsts(&list, 2), vec![2, 0, 1]);
        assert_eq!(firsts(&list, 3), vec![0, 1, 2]);
        let out = plain(Even.rounds(&ask(&list, &[], 5, None)));
        assert_eq!(out, vec![(vec![2], 30), (vec![0], 20), (vec![1], 20)]);
    }

    #[test]
    fn rotation_within_each_rank_and_cap_phones_per_round() {
        let mut list = phones(5, 20);
        list[1].type_rank = 1;
        list[3].type_rank = 1;
        // Rank 0: 0, 2, 4 rotated by 4 % 3 = 1; rank 1: 1, 3 rotated by 4 % 2 = 0.
        assert_eq!(firsts(&list, 4), vec![2, 4, 0, 1, 3]);
        let out = plain(Even.rounds(&ask(&list, &[], 1, Some(2))));
        assert_eq!(out, vec![(vec![2, 4], 20), (vec![0, 3], 20), (vec![1], 20)]);
    }
}
