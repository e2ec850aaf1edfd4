//! "Like sales": the employee offered the fewest calls (unanswered included) in the last 12
//! hours within this scenario rings first (SPEC §4.2).
//!
//! Within each type rank, fewest [`LineFacts::offers_12h`](crate::core::dist::LineFacts) first;
//! `cap` phones per round (one without a cap), each round for the longest dial timeout of its
//! phones. Ties keep the listed order.

use super::{fact, in_turn, order_by, Distribute};
use crate::core::dist::{Ask, Round};

/// The employee offered the fewest calls rings first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LikeSales;

impl Distribute for LikeSales {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        in_turn(ask, &order_by(ask, |k| fact(ask, k).offers_12h))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;
    use crate::core::dist::LineFacts;

    fn offers(n: &[u32]) -> Vec<LineFacts> {
        n.iter()
            .map(|&offers_12h| LineFacts {
                offers_12h,
                ..LineFacts::default()
            })
            .collect()
    }

    #[test]
    fn the_least_offered_rings_first_ties_in_listed_order() {
        let list = phones(4, 15);
        let facts = offers(&[3, 1, 2, 1]);
        let out = plain(LikeSales.rounds(&ask(&list, &facts, 0, None)));
        assert_eq!(
            out,
            vec![(vec![1], 15), (vec![3], 15), (vec![2], 15), (vec![0], 15)]
        );
    }

    #[test]
    fn rank_zero_first_and_cap_phones_per_round() {
        let mut list = phones(5, 15);
        list[1].type_rank = 1;
        list[3].type_rank = 1;
        list[4].timeout_s = 25;
        let facts = offers(&[4, 0, 2, 1, 3]);
        let out = plain(LikeSales.rounds(&ask(&list, &facts, 0, Some(2))));
        assert_eq!(out, vec![(vec![2, 4], 25), (vec![0, 1], 15), (vec![3], 15)]);
    }
}
