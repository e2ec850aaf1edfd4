//! "Simultaneous": every phone at once (SPEC §4.2; today's simultaneous forward).
//!
//! One round with every phone (rank 0 first, then listed order) for the longest dial timeout;
//! with a cap, consecutive rounds of `cap` phones, each for the longest timeout of its phones.

use super::{chunked, ranked, Distribute};
use crate::core::dist::{Ask, Round};

/// Every phone at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Simultaneous;

impl Distribute for Simultaneous {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let order = ranked(ask);
        chunked(ask, &order, ask.cap.unwrap_or(order.len()), None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;

    #[test]
    fn every_phone_at_once_for_the_longest_timeout() {
        let mut list = phones(3, 20);
        list[1].timeout_s = 45;
        list[2].type_rank = 1;
        list[0].type_rank = 1;
        let out = plain(Simultaneous.rounds(&ask(&list, &[], 0, None)));
        assert_eq!(out, vec![(vec![1, 0, 2], 45)]);
    }

    #[test]
    fn a_cap_splits_into_consecutive_rounds() {
        let mut list = phones(5, 20);
        list[4].timeout_s = 60;
        let out = plain(Simultaneous.rounds(&ask(&list, &[], 0, Some(2))));
        assert_eq!(out, vec![(vec![0, 1], 20), (vec![2, 3], 20), (vec![4], 60)]);
    }
}
