//! "Like support": the employee with the least talk time in the last 12 hours within this
//! scenario rings first (SPEC §4.2).
//!
//! Within each type rank, least [`LineFacts::talk_ms_12h`](crate::core::dist::LineFacts) first;
//! `cap` phones per round (one without a cap), each round for the longest dial timeout of its
//! phones. Ties keep the listed order.

use super::{fact, in_turn, order_by, Distribute};
use crate::core::dist::{Ask, Round};

/// The least-talked employee rings first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LikeSupport;

impl Distribute for LikeSupport {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        in_turn(ask, &order_by(ask, |k| fact(ask, k).talk_ms_12h))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;
    use crate::core::dist::LineFacts;

    fn talk(ms: &[u64]) -> Vec<LineFacts> {
        ms.iter()
            .map(|&talk_ms_12h| LineFacts {
                talk_ms_12h,
                ..LineFacts::default()
            })
            .collect()
    }

    #[test]
    fn the_least_talked_rings_first_ties_in_listed_order() {
        let mut list = phones(4, 20);
        list[2].timeout_s = 0;
        let facts = talk(&[600, 0, 60, 0]);
        let out = plain(LikeSupport.rounds(&ask(&list, &facts, 0, None)));
        assert_eq!(
            out,
            vec![(vec![1], 20), (vec![3], 20), (vec![2], 1), (vec![0], 20)]
        );
    }

    #[test]
    fn rank_zero_first_and_cap_phones_per_round() {
        let mut list = phones(3, 20);
        list[0].type_rank = 1;
        let facts = talk(&[0, 50, 10]);
        let out = plain(LikeSupport.rounds(&ask(&list, &facts, 0, Some(2))));
        assert_eq!(out, vec![(vec![2, 1], 20), (vec![0], 20)]);
    }
}
