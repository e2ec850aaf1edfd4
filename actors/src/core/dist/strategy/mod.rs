//! The strategies of SPEC §4.2, one file each behind one trait: each turns the candidates of a
//! distribution and their facts into ringing [`Round`]s. Pure functions of their input: the
//! same ask always gives the same rounds.
//!
//! Rules every strategy keeps:
//! - candidates of `type_rank` 0 come before those of rank 1 (the group's "sort by type"),
//!   the strategy orders within each rank;
//! - no round rings more than `cap` phones (a cap of 0 counts as 1);
//! - ties keep the listed order (sorts are stable);
//! - no candidates, no rounds; never an empty round; never a timeout of 0 (at least 1 s).

pub mod by_priority;
pub mod custom;
pub mod even;
pub mod fastest_answer;
pub mod like_sales;
pub mod like_support;
pub mod longest_idle;
pub mod percentage;
pub mod sequential;
pub mod simultaneous;
pub mod strictly_in_turn;

pub use by_priority::ByPriority;
pub use custom::Custom;
pub use even::Even;
pub use fastest_answer::FastestAnswer;
pub use like_sales::LikeSales;
pub use like_support::LikeSupport;
pub use longest_idle::LongestIdle;
pub use percentage::Percentage;
pub use sequential::Sequential;
pub use simultaneous::Simultaneous;
pub use strictly_in_turn::StrictlyInTurn;

use super::{Ask, LineFacts, Round};
use vpbx_store::model::Strategy;

/// One strategy.
pub trait Distribute {
    /// The rounds for one call.
    fn rounds(&self, ask: &Ask<'_>) -> Vec<Round>;
}

/// The rounds `strategy` gives for `ask`.
pub fn rounds(strategy: &Strategy, ask: &Ask<'_>) -> Vec<Round> {
    match strategy {
        Strategy::LongestIdle => LongestIdle.rounds(ask),
        Strategy::LikeSupport => LikeSupport.rounds(ask),
        Strategy::LikeSales => LikeSales.rounds(ask),
        Strategy::ByPriority {
            priorities,
            attempts,
            attempt_s,
        } => ByPriority::new(priorities, *attempts, *attempt_s).rounds(ask),
        Strategy::StrictlyInTurn => StrictlyInTurn.rounds(ask),
        Strategy::FastestAnswer {
            start,
            add,
            every_s,
        } => FastestAnswer::new(*start, *add, *every_s).rounds(ask),
        Strategy::Percentage => Percentage.rounds(ask),
        Strategy::Simultaneous => Simultaneous.rounds(ask),
        Strategy::Sequential => Sequential.rounds(ask),
        Strategy::Even => Even.rounds(ask),
        Strategy::Custom {
            simultaneous_lines,
            per_phone_timeout_s,
            order,
            attempts,
        } => Custom::new(*simultaneous_lines, *per_phone_timeout_s, order, *attempts).rounds(ask),
    }
}

/// The facts about candidate `k` (defaults when the ask carries fewer facts than candidates).
pub(crate) fn fact(ask: &Ask<'_>, k: usize) -> LineFacts {
    ask.facts.get(k).copied().unwrap_or_default()
}

/// The candidate indices ordered by `type_rank`, then by `key`; stable, so ties keep the listed
/// order.
pub(crate) fn order_by<K: Ord>(ask: &Ask<'_>, key: impl Fn(usize) -> K) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ask.candidates.len()).collect();
    order.sort_by_key(|&k| (ask.candidates[k].type_rank, key(k)));
    order
}

/// The candidate indices in listed order, rank 0 first.
pub(crate) fn ranked(ask: &Ask<'_>) -> Vec<usize> {
    order_by(ask, |_| ())
}

/// `wanted` phones per round, limited by the cap, at least 1.
pub(crate) fn width(ask: &Ask<'_>, wanted: usize) -> usize {
    ask.cap.map_or(wanted, |cap| wanted.min(cap)).max(1)
}

/// The longest dial timeout among `ring`, at least 1.
pub(crate) fn max_timeout(ask: &Ask<'_>, ring: &[usize]) -> u32 {
    ring.iter()
        .map(|&k| ask.candidates[k].timeout_s)
        .max()
        .unwrap_or(1)
        .max(1)
}

/// `order` cut into consecutive rounds of `size` phones (at least 1), each lasting `timeout_s`
/// when given (at least 1), else the longest dial timeout of its phones.
pub(crate) fn chunked(
    ask: &Ask<'_>,
    order: &[usize],
    size: usize,
    timeout_s: Option<u32>,
) -> Vec<Round> {
    order
        .chunks(size.max(1))
        .map(|ring| Round {
            timeout_s: timeout_s.map_or_else(|| max_timeout(ask, ring), |t| t.max(1)),
            ring: ring.to_vec(),
        })
        .collect()
}

/// The rounds of an ordering strategy: `order` rung `cap` phones at a time (one when no cap),
/// each round for the longest dial timeout of its phones.
pub(crate) fn in_turn(ask: &Ask<'_>, order: &[usize]) -> Vec<Round> {
    chunked(ask, order, ask.cap.unwrap_or(1), None)
}

#[cfg(test)]
pub(crate) use testing::cand;

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the strategies' tests.

    use crate::core::dist::{Ask, Candidate, LineFacts, LineKey, Round};
    use crate::core::leg::DialTarget;
    use vpbx_store::model::{EmployeeId, PhoneType, SipLineId};

    /// A phone on SIP line `line` of `employee` (its phone index is the line number), ringing
    /// `timeout_s`, type rank 0, percent 0.
    pub(crate) fn cand(line: u64, employee: Option<u64>, timeout_s: u32) -> Candidate {
        Candidate {
            line: employee.map(|e| LineKey {
                employee: EmployeeId(e),
                phone: u8::try_from(line % 256).unwrap(),
            }),
            employee: employee.map(EmployeeId),
            target: DialTarget::Line {
                line: SipLineId(line),
                login: format!("l{line}"),
            },
            label: format!("line {line}"),
            kind: PhoneType::S,
            timeout_s,
            percent: 0,
            type_rank: 0,
        }
    }

    /// `n` phones, one per employee (line k+1 of employee k+1), each ringing `timeout_s`.
    pub(crate) fn phones(n: u64, timeout_s: u32) -> Vec<Candidate> {
        (1..=n).map(|k| cand(k, Some(k), timeout_s)).collect()
    }

    /// An ask over `candidates` and `facts`.
    pub(crate) fn ask<'a>(
        candidates: &'a [Candidate],
        facts: &'a [LineFacts],
        turn: u64,
        cap: Option<usize>,
    ) -> Ask<'a> {
        Ask {
            candidates,
            facts,
            turn,
            cap,
        }
    }

    /// Rounds as (indices, timeout) pairs, for compact assertions.
    pub(crate) fn plain(rounds: Vec<Round>) -> Vec<(Vec<usize>, u32)> {
        rounds.into_iter().map(|r| (r.ring, r.timeout_s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ask, phones};
    use super::*;
    use crate::core::dist::Candidate;
    use std::collections::BTreeMap;
    use vpbx_store::model::EmployeeId;

    fn every_strategy() -> Vec<Strategy> {
        vec![
            Strategy::LongestIdle,
            Strategy::LikeSupport,
            Strategy::LikeSales,
            Strategy::ByPriority {
                priorities: BTreeMap::from([(EmployeeId(2), 1), (EmployeeId(3), 2)]),
                attempts: 2,
                attempt_s: 15,
            },
            Strategy::StrictlyInTurn,
            Strategy::FastestAnswer {
                start: 2,
                add: 1,
                every_s: 5,
            },
            Strategy::Percentage,
            Strategy::Simultaneous,
            Strategy::Sequential,
            Strategy::Even,
            Strategy::Custom {
                simultaneous_lines: 2,
                per_phone_timeout_s: Some(10),
                order: vec![EmployeeId(4), EmployeeId(1)],
                attempts: 2,
            },
        ]
    }

    fn mixed() -> Vec<Candidate> {
        let mut c = vec![
            cand(1, Some(1), 20),
            cand(2, Some(1), 0),
            cand(3, Some(2), 30),
            cand(4, None, 15),
            cand(5, Some(3), 25),
            cand(6, Some(4), 20),
        ];
        c[1].type_rank = 1;
        c[4].type_rank = 1;
        c[2].percent = 60;
        c[5].percent = 40;
        c
    }

    #[test]
    fn every_strategy_keeps_the_shared_rules() {
        let lists = [Vec::new(), phones(1, 20), phones(5, 0), mixed()];
        let facts: Vec<LineFacts> = (0..6u64)
            .map(|k| LineFacts {
                idle_ms: (k * 7) % 4,
                talk_ms_12h: (k * 5) % 3,
                offers_12h: u32::try_from(k % 2).unwrap(),
                offered_here: k,
            })
            .collect();
        for strategy in every_strategy() {
            for list in &lists {
                for cap in [None, Some(0), Some(1), Some(2), Some(10)] {
                    for turn in [0, 1, 7] {
                        let a = ask(list, &facts[..list.len()], turn, cap);
                        let out = rounds(&strategy, &a);
                        let what = format!("{} cap {cap:?} turn {turn}", strategy.name());
                        if list.is_empty() {
                            assert!(out.is_empty(), "{what}");
                            continue;
                        }
                        assert!(!out.is_empty(), "{what}");
                        for r in &out {
                            assert!(!r.ring.is_empty(), "{what}");
                            assert!(r.ring.len() <= cap.unwrap_or(usize::MAX).max(1), "{what}");
                            assert!(r.ring.iter().all(|&k| k < list.len()), "{what}");
                            assert!(r.timeout_s >= 1, "{what}");
                        }
                        if !matches!(strategy, Strategy::StrictlyInTurn) {
                            for k in 0..list.len() {
                                assert!(out.iter().any(|r| r.ring.contains(&k)), "{what}: {k}");
                            }
                        }
                        assert_eq!(out, rounds(&strategy, &a), "{what}: deterministic");
                    }
                }
            }
        }
    }

    #[test]
    fn the_dispatch_builds_each_strategy_from_its_settings() {
        let list = mixed();
        let a = ask(&list, &[], 4, Some(3));
        let p = BTreeMap::from([(EmployeeId(2), 1), (EmployeeId(3), 2)]);
        let order = [EmployeeId(4), EmployeeId(1)];
        let expected = [
            LongestIdle.rounds(&a),
            LikeSupport.rounds(&a),
            LikeSales.rounds(&a),
            ByPriority::new(&p, 2, 15).rounds(&a),
            StrictlyInTurn.rounds(&a),
            FastestAnswer::new(2, 1, 5).rounds(&a),
            Percentage.rounds(&a),
            Simultaneous.rounds(&a),
            Sequential.rounds(&a),
            Even.rounds(&a),
            Custom::new(2, Some(10), &order, 2).rounds(&a),
        ];
        for (strategy, want) in every_strategy().iter().zip(expected) {
            assert_eq!(rounds(strategy, &a), want, "{}", strategy.name());
        }
    }

    #[test]
    fn the_helpers_order_stably_by_rank_then_key() {
        let mut list = phones(4, 10);
        list[0].type_rank = 1;
        let a = ask(&list, &[], 0, None);
        assert_eq!(ranked(&a), vec![1, 2, 3, 0]);
        assert_eq!(order_by(&a, |k| k % 2), vec![2, 1, 3, 0]);
        assert_eq!(width(&a, 3), 3);
        assert_eq!(width(&ask(&list, &[], 0, Some(2)), 3), 2);
        assert_eq!(width(&ask(&list, &[], 0, Some(0)), 3), 1);
        assert_eq!(fact(&a, 2), LineFacts::default());
    }
}
