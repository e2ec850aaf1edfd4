//! Talk options (SPEC §5): key sequences the employee types during a talk, matched against the
//! box's options as the keys arrive. Keys typed so far are forgotten after [`INTER_DIGIT`]
//! without a key (the call's `TalkKeys` timer).

use crate::core::digits::{DigitCollector, DigitRules};
use std::time::{Duration, Instant};
use vpbx_store::model::{TalkAction, TalkOption};

/// Time between keys before what was typed is forgotten.
pub const INTER_DIGIT: Duration = Duration::from_secs(3);

/// A matched option.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The keys.
    pub keys: String,
    /// What they do.
    pub action: TalkAction,
}

/// Keys typed so far in a talk, gathered by the shared [`DigitCollector`] (no first-digit
/// timeout, `INTER_DIGIT` (3 s) between keys, no maximum, no terminator: the options decide).
#[derive(Debug, Clone)]
pub struct TalkKeys {
    collector: DigitCollector,
}

impl TalkKeys {
    /// Nothing typed, at `now`.
    pub fn new(now: Instant) -> Self {
        let rules = DigitRules {
            first_digit: None,
            inter_digit: Some(INTER_DIGIT),
            max: None,
            terminator: None,
        };
        TalkKeys {
            collector: DigitCollector::new(rules, now),
        }
    }

    /// Forgets what was typed.
    pub fn clear(&mut self, now: Instant) {
        self.collector.restart(now);
    }

    /// When what was typed is forgotten, if anything is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.collector.poll_timeout()
    }

    /// Time passed to `now`: forgets what was typed once the inter-digit timeout passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.collector.handle_timeout(now).is_some() {
            self.collector.restart(now);
        }
    }

    /// A key at `now`: the option it completes, if any. A key that no option continues starts
    /// over from itself.
    pub fn push(&mut self, now: Instant, options: &[TalkOption], digit: char) -> Option<Hit> {
        let _ = self.collector.push(now, digit);
        let typed = self.collector.typed().to_string();
        if let Some(opt) = options.iter().find(|o| o.keys == typed) {
            self.collector.restart(now);
            return Some(Hit {
                keys: opt.keys.clone(),
                action: opt.action.clone(),
            });
        }
        if !options.iter().any(|o| o.keys.starts_with(&typed)) {
            self.collector.restart(now);
            if typed.len() > 1 {
                return self.push(now, options, digit);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpbx_store::model::TalkOptionId;

    fn opts() -> Vec<TalkOption> {
        vec![TalkOption {
            id: TalkOptionId(1),
            keys: "*5".into(),
            action: TalkAction::Recorder,
        }]
    }

    #[test]
    fn a_sequence_matches_and_a_stray_key_starts_over() {
        let o = opts();
        let t0 = crate::clock::test_origin();
        let mut k = TalkKeys::new(t0);
        assert_eq!(k.poll_timeout(), None, "nothing typed, nothing to forget");
        assert_eq!(k.push(t0, &o, '1'), None);
        assert_eq!(k.poll_timeout(), None, "a stray key is dropped at once");
        assert_eq!(k.push(t0, &o, '*'), None);
        assert_eq!(k.poll_timeout(), Some(t0 + INTER_DIGIT));
        assert_eq!(
            k.push(t0, &o, '*'),
            None,
            "'**' starts over from the second '*'"
        );
        let hit = k.push(t0, &o, '5').unwrap();
        assert_eq!(hit.keys, "*5");
        assert_eq!(k.poll_timeout(), None);
        // A pending '*' is forgotten after the inter-digit timeout.
        k.push(t0, &o, '*');
        k.handle_timeout(t0 + INTER_DIGIT);
        assert_eq!(k.push(t0 + INTER_DIGIT, &o, '5'), None);
    }
}
