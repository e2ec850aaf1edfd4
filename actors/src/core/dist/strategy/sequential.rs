//! "Sequential": one phone after another in the listed order, each for its dial timeout (SPEC
//! §4.2; today's sequential forward).
//!
//! Rank 0 first, then listed order; `cap` phones per round (one without a cap), each round for
//! the longest dial timeout of its phones.

use super::{in_turn, ranked, Distribute};
use crate::core::dist::{Ask, Round};

/// One phone after another in the listed order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sequential;

impl Distribute for Sequential {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        in_turn(ask, &ranked(ask))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;

    #[test]
    fn one_after_another_each_for_its_timeout() {
        let mut list = phones(3, 20);
        list[1].timeout_s = 45;
        let out = plain(Sequential.rounds(&ask(&list, &[], 0, None)));
        assert_eq!(out, vec![(vec![0], 20), (vec![1], 45), (vec![2], 20)]);
    }

    #[test]
    fn rank_zero_first_and_cap_phones_per_round() {
        let mut list = phones(5, 20);
        list[0].type_rank = 1;
        list[2].timeout_s = 30;
        let out = plain(Sequential.rounds(&ask(&list, &[], 0, Some(2))));
        assert_eq!(out, vec![(vec![1, 2], 30), (vec![3, 4], 20), (vec![0], 20)]);
    }
}
