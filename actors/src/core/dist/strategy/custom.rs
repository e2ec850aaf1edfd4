//! "Custom": simultaneous lines, per-phone timeout, order and attempts, all editable (SPEC
//! §4.2).
//!
//! The employees named in `order` come first, in that order (an employee named twice counts
//! at its first place), then everyone else in listed order; rank 0 before rank 1 as always.
//! Rounds of `simultaneous_lines` phones (limited by the cap), each lasting
//! `per_phone_timeout_s`, or the longest dial timeout of its phones when unset; the whole pass
//! is repeated `attempts` times. Zeros count as 1 (the settings validation refuses them).

use super::{chunked, order_by, width, Distribute};
use crate::core::dist::{Ask, Round};
use vpbx_store::model::EmployeeId;

/// Everything editable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Custom<'a> {
    simultaneous_lines: u8,
    per_phone_timeout_s: Option<u32>,
    order: &'a [EmployeeId],
    attempts: u8,
}

impl<'a> Custom<'a> {
    /// From the settings: phones at once, seconds per round (dial timeouts when `None`),
    /// employees first in this order, passes over the list.
    pub fn new(
        simultaneous_lines: u8,
        per_phone_timeout_s: Option<u32>,
        order: &'a [EmployeeId],
        attempts: u8,
    ) -> Self {
        Custom {
            simultaneous_lines,
            per_phone_timeout_s,
            order,
            attempts,
        }
    }
}

impl Distribute for Custom<'_> {
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round> {
        let place = |k: usize| {
            ask.candidates[k]
                .employee
                .and_then(|e| self.order.iter().position(|&o| o == e))
                .unwrap_or(self.order.len())
        };
        let order = order_by(ask, place);
        let size = width(ask, usize::from(self.simultaneous_lines));
        let pass = chunked(ask, &order, size, self.per_phone_timeout_s);
        let mut out = Vec::with_capacity(pass.len() * usize::from(self.attempts.max(1)));
        for _ in 0..self.attempts.max(1) {
            out.extend(pass.iter().cloned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ask, cand, plain};
    use super::*;

    #[test]
    fn named_employees_first_then_the_rest_repeated_attempts_times() {
        let list = vec![
            cand(1, Some(1), 20),
            cand(2, Some(2), 20),
            cand(3, None, 20),
            cand(4, Some(3), 20),
            cand(5, Some(2), 20),
        ];
        let order = [EmployeeId(3), EmployeeId(2), EmployeeId(3)];
        let out = plain(Custom::new(2, Some(12), &order, 2).rounds(&ask(&list, &[], 0, None)));
        let pass = vec![(vec![3, 1], 12), (vec![4, 0], 12), (vec![2], 12)];
        assert_eq!(out, [pass.clone(), pass].concat());
    }

    #[test]
    fn cap_and_rank_and_dial_timeouts() {
        let mut list = vec![
            cand(1, Some(1), 20),
            cand(2, Some(2), 35),
            cand(3, Some(3), 0),
        ];
        list[1].type_rank = 1;
        let order = [EmployeeId(2)];
        let out = plain(Custom::new(3, None, &order, 1).rounds(&ask(&list, &[], 0, Some(2))));
        assert_eq!(out, vec![(vec![0, 2], 20), (vec![1], 35)]);
    }
}
