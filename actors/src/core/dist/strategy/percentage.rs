//! "Percentage": each phone gets its percent share of the calls (SPEC §4.2), by a deterministic
//! ratio, no randomness.
//!
//! With `T` the calls this distribution offered to the candidates so far (the sum of their
//! [`LineFacts::offered_here`](crate::core::dist::LineFacts)) and `P` the sum of their
//! percents, a phone's deficit is `percent × (T + 1) − P × offered_here`: how far the phone is
//! below its share once this call is counted (scaled by `P`). With percents summing to 100 this
//! is `percent × (T + 1) − 100 × offered_here`; dividing by the actual sum keeps the ratio right
//! when the available phones' percents do not add up to 100.
//!
//! Within each type rank: phones with percent 0 last, the others largest deficit first (ties
//! keep the listed order); `cap` phones per round (one without a cap), each round for the
//! longest dial timeout of its phones.

use super::{fact, in_turn, order_by, Distribute};
use crate::core::dist::{Ask, Round};
use std::cmp::Reverse;

/// The phone furthest below its percent share rings first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentage;

impl Distribute for Percentage {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let n = ask.candidates.len();
        let total: i128 = (0..n).map(|k| i128::from(fact(ask, k).offered_here)).sum();
        let shares: i128 = ask.candidates.iter().map(|c| i128::from(c.percent)).sum();
        let order = order_by(ask, |k| {
            let percent = i128::from(ask.candidates[k].percent);
            let deficit = percent * (total + 1) - shares * i128::from(fact(ask, k).offered_here);
            (percent == 0, Reverse(deficit))
        });
        in_turn(ask, &order)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;
    use crate::core::dist::{Candidate, LineFacts};

    fn with_percents(percents: &[u8]) -> Vec<Candidate> {
        let mut list = phones(percents.len() as u64, 20);
        for (c, p) in list.iter_mut().zip(percents) {
            c.percent = *p;
        }
        list
    }

    fn offered(n: &[u64]) -> Vec<LineFacts> {
        n.iter()
            .map(|&offered_here| LineFacts {
                offered_here,
                ..LineFacts::default()
            })
            .collect()
    }

    #[test]
    fn furthest_below_share_first_zero_percent_last() {
        let list = with_percents(&[0, 70, 30]);
        // T = 10: deficits 70*11 - 100*7 = 70 and 30*11 - 100*2 = 130.
        let facts = offered(&[1, 7, 2]);
        let out = plain(Percentage.rounds(&ask(&list, &facts, 0, None)));
        assert_eq!(out, vec![(vec![2], 20), (vec![1], 20), (vec![0], 20)]);
    }

    #[test]
    fn ties_keep_the_listed_order() {
        let list = with_percents(&[50, 50]);
        let out = plain(Percentage.rounds(&ask(&list, &offered(&[0, 0]), 0, None)));
        assert_eq!(out, vec![(vec![0], 20), (vec![1], 20)]);
    }

    #[test]
    fn repeated_calls_follow_the_shares() {
        // 30% and 10% of the available phones: 3 calls to 1 over time.
        let list = with_percents(&[30, 10]);
        let mut counts = [0u64, 0];
        for _ in 0..40 {
            let facts = offered(&counts);
            let first = Percentage.rounds(&ask(&list, &facts, 0, None))[0].ring[0];
            counts[first] += 1;
        }
        assert_eq!(counts, [30, 10]);
    }

    #[test]
    fn rank_zero_first_and_cap_phones_per_round() {
        let mut list = with_percents(&[10, 40, 40, 10]);
        list[1].type_rank = 1;
        list[3].timeout_s = 35;
        let out = plain(Percentage.rounds(&ask(&list, &offered(&[0; 4]), 0, Some(2))));
        assert_eq!(out, vec![(vec![2, 0], 20), (vec![3, 1], 35)]);
    }
}
