//! A digit collector: the one way a core gathers DTMF keys (menus, PIN, extension entry, webhook
//! collection, the queue's callback key, talk options). Pure: time arrives with each call and the
//! collector answers its next deadline through [`DigitCollector::poll_timeout`].
//!
//! Rules: before the first key the first-digit timeout runs; after a key the inter-digit timeout
//! runs. Collection ends with the terminator key (not included), at `max` digits, or when a
//! timeout passes (with whatever was typed, possibly nothing).

use std::time::{Duration, Instant};

/// How digits are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitRules {
    /// Time allowed before the first key (`None`: wait forever).
    pub first_digit: Option<Duration>,
    /// Time allowed between keys (`None`: wait forever).
    pub inter_digit: Option<Duration>,
    /// Collection ends at this many digits (`None`: no limit).
    pub max: Option<usize>,
    /// The key that ends collection (not part of the result).
    pub terminator: Option<char>,
}

/// Why collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The terminator key was pressed.
    Terminator,
    /// `max` digits were typed.
    Max,
    /// No key before the first-digit timeout.
    NoInput,
    /// The inter-digit timeout passed after at least one key.
    Timeout,
}

/// Digits typed and why collection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// The digits, without the terminator.
    pub digits: String,
    /// Why it ended.
    pub how: Completion,
}

/// Collects one entry.
#[derive(Debug, Clone)]
pub struct DigitCollector {
    rules: DigitRules,
    typed: String,
    deadline: Option<Instant>,
}

impl DigitCollector {
    /// Starts collecting at `now`.
    pub fn new(rules: DigitRules, now: Instant) -> Self {
        DigitCollector {
            rules,
            typed: String::new(),
            deadline: rules.first_digit.map(|d| now + d),
        }
    }

    /// What was typed so far.
    pub fn typed(&self) -> &str {
        &self.typed
    }

    /// Forgets what was typed and starts over at `now` (the first-digit timeout runs again).
    pub fn restart(&mut self, now: Instant) {
        self.typed.clear();
        self.deadline = self.rules.first_digit.map(|d| now + d);
    }

    /// A key at `now`. Returns the entry when this key completes it.
    pub fn push(&mut self, now: Instant, digit: char) -> Option<Collected> {
        if self.rules.terminator == Some(digit) {
            return Some(self.complete(Completion::Terminator));
        }
        self.typed.push(digit);
        if self.rules.max.is_some_and(|m| self.typed.len() >= m) {
            return Some(self.complete(Completion::Max));
        }
        self.deadline = self.rules.inter_digit.map(|d| now + d);
        None
    }

    /// When [`DigitCollector::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time passed to `now`: returns the entry when a timeout ended it.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Collected> {
        match self.deadline {
            Some(d) if d <= now => {}
            _ => return None,
        }
        let how = if self.typed.is_empty() {
            Completion::NoInput
        } else {
            Completion::Timeout
        };
        Some(self.complete(how))
    }

    fn complete(&mut self, how: Completion) -> Collected {
        self.deadline = None;
        Collected {
            digits: std::mem::take(&mut self.typed),
            how,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn rules() -> DigitRules {
        DigitRules {
            first_digit: Some(5 * S),
            inter_digit: Some(3 * S),
            max: Some(4),
            terminator: Some('#'),
        }
    }

    #[test]
    fn first_digit_timeout_without_input() {
        let t0 = crate::clock::test_origin();
        let mut c = DigitCollector::new(rules(), t0);
        assert_eq!(c.poll_timeout(), Some(t0 + 5 * S));
        assert_eq!(c.handle_timeout(t0 + 4 * S), None);
        let got = c.handle_timeout(t0 + 5 * S).unwrap();
        assert_eq!(got.how, Completion::NoInput);
        assert_eq!(got.digits, "");
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn inter_digit_timeout_ends_with_what_was_typed() {
        let t0 = crate::clock::test_origin();
        let mut c = DigitCollector::new(rules(), t0);
        assert_eq!(c.push(t0 + S, '1'), None);
        assert_eq!(c.push(t0 + 2 * S, '2'), None);
        assert_eq!(c.poll_timeout(), Some(t0 + 5 * S));
        let got = c.handle_timeout(t0 + 5 * S).unwrap();
        assert_eq!((got.digits.as_str(), got.how), ("12", Completion::Timeout));
    }

    #[test]
    fn terminator_and_max_end_collection() {
        let t0 = crate::clock::test_origin();
        let mut c = DigitCollector::new(rules(), t0);
        c.push(t0, '7');
        let got = c.push(t0, '#').unwrap();
        assert_eq!(
            (got.digits.as_str(), got.how),
            ("7", Completion::Terminator)
        );
        c.restart(t0);
        for d in ['1', '2', '3'] {
            assert_eq!(c.push(t0, d), None);
        }
        let got = c.push(t0, '4').unwrap();
        assert_eq!((got.digits.as_str(), got.how), ("1234", Completion::Max));
    }
}
