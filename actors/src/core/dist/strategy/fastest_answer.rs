//! "Fastest answer": start with `start` phones at once and add `add` more every `every_s`
//! seconds (SPEC §4.2: 5 phones, then one more every 5 s).
//!
//! The phones in order (rank 0 first, then listed order); round 1 rings the first `start`,
//! each next round the first `add` more (the earlier ones are listed again and keep ringing),
//! each round lasting `every_s`, until every phone rings; that last round lasts the longest
//! dial timeout of its phones.
//!
//! Choices: with a cap, a round rings the `cap` phones added last (a window sliding along the
//! list; the phones that rang longest are dropped to make room), and `start` and `add` are
//! limited to the cap so no phone is skipped. `start`, `add` and `every_s` of 0 count as 1
//! (the settings validation refuses them).

use super::{max_timeout, ranked, width, Distribute};
use crate::core::dist::{Ask, Round};

/// Widening rings: `start` phones, then `add` more every `every_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastestAnswer {
    start: u8,
    add: u8,
    every_s: u32,
}

impl FastestAnswer {
    /// From the settings: phones ringing at first, phones added each step, seconds per step.
    pub fn new(start: u8, add: u8, every_s: u32) -> Self {
        FastestAnswer {
            start,
            add,
            every_s,
        }
    }
}

impl Distribute for FastestAnswer {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let order = ranked(ask);
        let n = order.len();
        let cap = width(ask, n);
        let add = width(ask, usize::from(self.add));
        let mut out = Vec::new();
        let mut end = width(ask, usize::from(self.start)).min(n);
        while end > 0 {
            let ring = &order[end.saturating_sub(cap)..end];
            let last = end == n;
            out.push(Round {
                ring: ring.to_vec(),
                timeout_s: if last {
                    max_timeout(ask, ring)
                } else {
                    self.every_s.max(1)
                },
            });
            if last {
                break;
            }
            end = (end + add).min(n);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, phones, plain};
    use super::*;

    #[test]
    fn starts_with_start_and_widens_by_add() {
        let mut list = phones(5, 20);
        list[1].timeout_s = 40;
        list[0].type_rank = 1;
        let out = plain(FastestAnswer::new(2, 2, 5).rounds(&ask(&list, &[], 0, None)));
        assert_eq!(
            out,
            vec![
                (vec![1, 2], 5),
                (vec![1, 2, 3, 4], 5),
                (vec![1, 2, 3, 4, 0], 40),
            ]
        );
    }

    #[test]
    fn start_past_the_list_is_one_round() {
        let list = phones(3, 20);
        let out = plain(FastestAnswer::new(5, 1, 5).rounds(&ask(&list, &[], 0, None)));
        assert_eq!(out, vec![(vec![0, 1, 2], 20)]);
    }

    #[test]
    fn a_cap_slides_the_window() {
        let mut list = phones(5, 20);
        list[4].timeout_s = 30;
        let out = plain(FastestAnswer::new(3, 4, 7).rounds(&ask(&list, &[], 0, Some(2))));
        assert_eq!(
            out,
            vec![(vec![0, 1], 7), (vec![2, 3], 7), (vec![3, 4], 30),]
        );
    }
}
