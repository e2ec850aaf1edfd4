//! "Longest idle": the line idle longest rings first (SPEC §4.2, the default strategy).
//!
//! Within each type rank, largest [`LineFacts::idle_ms`](crate::core::dist::LineFacts) first;
//! `cap` phones per round (one without a cap), each round for the longest dial timeout of its
//! phones. Ties keep the listed order.

use super::{fact, in_turn, order_by, Distribute};
use crate::core::dist::{Ask, Round};
use std::cmp::Reverse;

/// The line idle longest rings first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LongestIdle;

impl Distribute for LongestIdle {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        in_turn(ask, &order_by(ask, |k| Reverse(fact(ask, k).idle_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;
    use crate::core::dist::LineFacts;

    fn idle(ms: &[u64]) -> Vec<LineFacts> {
        ms.iter()
            .map(|&idle_ms| LineFacts {
                idle_ms,
                ..LineFacts::default()
            })
            .collect()
    }

    #[test]
    fn the_longest_idle_rings_first_ties_in_listed_order() {
        let mut list = phones(4, 20);
        list[3].timeout_s = 30;
        let facts = idle(&[5, 9, 5, 9]);
        let out = plain(LongestIdle.rounds(&ask(&list, &facts, 0, None)));
        assert_eq!(
            out,
            vec![(vec![1], 20), (vec![3], 30), (vec![0], 20), (vec![2], 20)]
        );
    }

    #[test]
    fn rank_zero_first_and_cap_phones_per_round() {
        let mut list = phones(4, 20);
        list[1].type_rank = 1;
        list[2].timeout_s = 40;
        let facts = idle(&[1, 100, 2, 3]);
        let out = plain(LongestIdle.rounds(&ask(&list, &facts, 0, Some(2))));
        assert_eq!(out, vec![(vec![3, 2], 40), (vec![0, 1], 20)]);
    }

    #[test]
    fn nothing_to_ring_no_rounds() {
        assert!(LongestIdle.rounds(&ask(&[], &[], 0, None)).is_empty());
    }
}
