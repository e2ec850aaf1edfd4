//! The mail queue: bounded, one message in flight at a time, bounded retries with backoff.
//!
//! Contract (the shell's loop, after quinn's endpoint): after every input call
//! [`MailQueue::poll_transmit`] until it returns `None`, then arm one timer for
//! [`MailQueue::poll_timeout`]. Inputs are [`MailQueue::push`] (a new message),
//! [`MailQueue::handle_outcome`] (how the attempt in flight went) and the timer firing (just poll
//! again with the time it fired at). The queue never reads a clock.
//!
//! - At most `capacity` messages are held, the one in flight included. A message pushed into a
//!   full queue makes room by dropping the oldest waiting message (SPEC gives no rule; D62 in
//!   `docs/decisions.md`): the newest voicemails are the ones someone still acts on, and the
//!   oldest has already been retried the longest.
//! - A failed attempt is retried after `first_retry`, then twice as long each time up to
//!   `max_retry`, until `attempts` attempts were made; a permanent failure (a 5xx reply) is not
//!   retried.
//! - Messages go out in the order they became due.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Id of a message in the queue (counts up from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailId(pub u64);

/// How often and how fast failed messages are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per message, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further retry.
    pub first_retry: Duration,
    /// Longest wait between two attempts.
    pub max_retry: Duration,
}

impl RetryPolicy {
    /// The wait after the `failed`-th failed attempt (1-based).
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(20);
        self.first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_retry)
    }
}

/// A message handed to the shell to send now.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt<T> {
    /// Which message (report the outcome with it).
    pub id: MailId,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The message.
    pub item: T,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The relay accepted the message.
    Sent,
    /// A failure worth retrying (connection refused, timeout, 4xx reply); why.
    Transient(String),
    /// A failure that retrying cannot fix (5xx reply, an address the relay refuses); why.
    Permanent(String),
}

/// What the queue made of an outcome (or of a push into a full queue): the shell logs and
/// counts it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<T> {
    /// Delivered to the relay after `attempts` attempts.
    Sent {
        /// Attempts made.
        attempts: u32,
        /// The message.
        item: T,
    },
    /// Will be tried again at `at`.
    Retry {
        /// The next attempt's time.
        at: Instant,
        /// Attempts made so far.
        attempts: u32,
        /// Why this one failed.
        why: String,
    },
    /// Given up: permanent failure or attempts exhausted.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        why: String,
        /// The message.
        item: T,
    },
    /// Dropped unsent to make room for a newer message.
    Dropped {
        /// Attempts it had made.
        attempts: u32,
        /// The message.
        item: T,
    },
    /// The outcome named no message in flight (a stale report); nothing changed.
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    id: MailId,
    item: T,
    /// Attempts made so far.
    attempts: u32,
    due: Instant,
}

/// The bounded retry queue.
#[derive(Debug, Clone)]
pub struct MailQueue<T> {
    capacity: usize,
    policy: RetryPolicy,
    /// Waiting messages in arrival order.
    waiting: VecDeque<Entry<T>>,
    in_flight: Option<Entry<T>>,
    next_id: u64,
}

impl<T: Clone> MailQueue<T> {
    /// An empty queue holding at most `capacity` messages (at least 1).
    pub fn new(capacity: usize, mut policy: RetryPolicy) -> Self {
        policy.attempts = policy.attempts.max(1);
        MailQueue {
            capacity: capacity.max(1),
            policy,
            waiting: VecDeque::new(),
            in_flight: None,
            next_id: 1,
        }
    }

    /// Messages held, the one in flight included.
    pub fn len(&self) -> usize {
        self.waiting.len() + usize::from(self.in_flight.is_some())
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `item`, due at once. When the queue is full the oldest waiting message is dropped
    /// and returned as [`Verdict::Dropped`] (or the new one, when the only message held is the
    /// one in flight and the capacity is 1).
    pub fn push(&mut self, now: Instant, item: T) -> (MailId, Option<Verdict<T>>) {
        let id = MailId(self.next_id);
        self.next_id += 1;
        let mut dropped = None;
        if self.len() >= self.capacity {
            match self.waiting.pop_front() {
                Some(old) => {
                    dropped = Some(Verdict::Dropped {
                        attempts: old.attempts,
                        item: old.item,
                    })
                }
                None => return (id, Some(Verdict::Dropped { attempts: 0, item })),
            }
        }
        self.waiting.push_back(Entry {
            id,
            item,
            attempts: 0,
            due: now,
        });
        (id, dropped)
    }

    /// The next message to send now, if none is in flight and one is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Attempt<T>> {
        if self.in_flight.is_some() {
            return None;
        }
        let (at, _) = self
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, e)| e.due <= now)
            .min_by_key(|(i, e)| (e.due, *i))?;
        let mut entry = self.waiting.remove(at)?;
        entry.attempts += 1;
        let attempt = Attempt {
            id: entry.id,
            attempt: entry.attempts,
            item: entry.item.clone(),
        };
        self.in_flight = Some(entry);
        Some(attempt)
    }

    /// When the next waiting message is due, if none is in flight (the shell then arms one
    /// timer; while a message is in flight its outcome is the next input).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        self.waiting.iter().map(|e| e.due).min()
    }

    /// The outcome of the attempt in flight.
    pub fn handle_outcome(&mut self, now: Instant, id: MailId, outcome: Outcome) -> Verdict<T> {
        let Some(entry) = self.in_flight.take_if(|e| e.id == id) else {
            return Verdict::Unknown;
        };
        match outcome {
            Outcome::Sent => Verdict::Sent {
                attempts: entry.attempts,
                item: entry.item,
            },
            Outcome::Permanent(why) => Verdict::Failed {
                attempts: entry.attempts,
                why,
                item: entry.item,
            },
            Outcome::Transient(why) if entry.attempts >= self.policy.attempts => Verdict::Failed {
                attempts: entry.attempts,
                why,
                item: entry.item,
            },
            Outcome::Transient(why) => {
                let at = now + self.policy.backoff(entry.attempts);
                let attempts = entry.attempts;
                self.waiting.push_back(Entry { due: at, ..entry });
                Verdict::Retry { at, attempts, why }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::test_origin;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(45),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 10,
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(600),
        };
        let waits: Vec<u64> = (1..=7).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(p.backoff(u32::MAX).as_secs(), 600);
    }

    #[test]
    fn one_in_flight_then_the_next_in_order() {
        let t0 = test_origin();
        let mut q = MailQueue::new(10, policy());
        let (a, _) = q.push(t0, "a");
        let (b, _) = q.push(t0, "b");
        let first = q.poll_transmit(t0).unwrap();
        assert_eq!((first.id, first.attempt, first.item), (a, 1, "a"));
        // One at a time: nothing else while "a" is in flight, and no timer.
        assert_eq!(q.poll_transmit(t0), None);
        assert_eq!(q.poll_timeout(), None);
        assert_eq!(
            q.handle_outcome(t0, a, Outcome::Sent),
            Verdict::Sent {
                attempts: 1,
                item: "a"
            }
        );
        assert_eq!(q.poll_transmit(t0).unwrap().id, b);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn transient_failures_retry_with_backoff_then_give_up() {
        let t0 = test_origin();
        let mut q = MailQueue::new(10, policy());
        let (a, _) = q.push(t0, "a");
        q.poll_transmit(t0).unwrap();
        let v = q.handle_outcome(t0, a, Outcome::Transient("refused".into()));
        assert_eq!(
            v,
            Verdict::Retry {
                at: t0 + Duration::from_secs(30),
                attempts: 1,
                why: "refused".into()
            }
        );
        // Not due yet: the timer says when.
        assert_eq!(q.poll_transmit(t0 + Duration::from_secs(29)), None);
        assert_eq!(q.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(q.poll_transmit(t1).unwrap().attempt, 2);
        let v = q.handle_outcome(t1, a, Outcome::Transient("refused".into()));
        // The second retry waits twice as long, capped at 45 s.
        assert!(
            matches!(v, Verdict::Retry { at, attempts: 2, .. } if at == t1 + Duration::from_secs(45))
        );
        let t2 = t1 + Duration::from_secs(45);
        assert_eq!(q.poll_transmit(t2).unwrap().attempt, 3);
        assert_eq!(
            q.handle_outcome(t2, a, Outcome::Transient("timeout".into())),
            Verdict::Failed {
                attempts: 3,
                why: "timeout".into(),
                item: "a"
            }
        );
        assert!(q.is_empty());
        assert_eq!(q.poll_timeout(), None);
    }

    #[test]
    fn a_permanent_failure_is_not_retried() {
        let t0 = test_origin();
        let mut q = MailQueue::new(10, policy());
        let (a, _) = q.push(t0, "a");
        q.poll_transmit(t0).unwrap();
        assert!(matches!(
            q.handle_outcome(t0, a, Outcome::Permanent("550 no such user".into())),
            Verdict::Failed { attempts: 1, .. }
        ));
        assert!(q.is_empty());
    }

    #[test]
    fn a_retried_message_does_not_hold_up_newer_ones() {
        let t0 = test_origin();
        let mut q = MailQueue::new(10, policy());
        let (a, _) = q.push(t0, "a");
        q.poll_transmit(t0).unwrap();
        q.handle_outcome(t0, a, Outcome::Transient("4xx".into()));
        let t1 = t0 + Duration::from_secs(1);
        q.push(t1, "b");
        assert_eq!(q.poll_transmit(t1).unwrap().item, "b");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_waiting_message() {
        let t0 = test_origin();
        let mut q = MailQueue::new(2, policy());
        q.push(t0, "a");
        q.push(t0, "b");
        // "a" goes in flight; "c" makes room by dropping "b", the oldest waiting.
        let a = q.poll_transmit(t0).unwrap().id;
        let (_, dropped) = q.push(t0, "c");
        assert_eq!(
            dropped,
            Some(Verdict::Dropped {
                attempts: 0,
                item: "b"
            })
        );
        assert_eq!(q.len(), 2);
        q.handle_outcome(t0, a, Outcome::Sent);
        assert_eq!(q.poll_transmit(t0).unwrap().item, "c");
        // Capacity 1 with the one message in flight: the new message is the one dropped.
        let mut one = MailQueue::new(1, policy());
        one.push(t0, "x");
        one.poll_transmit(t0).unwrap();
        let (_, dropped) = one.push(t0, "y");
        assert_eq!(
            dropped,
            Some(Verdict::Dropped {
                attempts: 0,
                item: "y"
            })
        );
    }

    #[test]
    fn a_stale_outcome_changes_nothing() {
        let t0 = test_origin();
        let mut q = MailQueue::new(2, policy());
        let (a, _) = q.push(t0, "a");
        assert_eq!(q.handle_outcome(t0, a, Outcome::Sent), Verdict::Unknown);
        q.poll_transmit(t0).unwrap();
        assert_eq!(
            q.handle_outcome(t0, MailId(99), Outcome::Sent),
            Verdict::Unknown
        );
        assert_eq!(q.len(), 1);
    }
}
