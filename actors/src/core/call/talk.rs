//! Talk options (SPEC §5): key sequences the employee types during a talk, matched against the
//! box's options as the keys arrive. Keys typed so far are forgotten after [`INTER_DIGIT`]
//! without a key (the call's `TalkKeys` timer).

use std::time::Duration;
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

/// Keys typed so far in a talk.
#[derive(Debug, Default, Clone)]
pub struct TalkKeys {
    typed: String,
}

impl TalkKeys {
    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.typed.is_empty()
    }

    /// Forgets what was typed.
    pub fn clear(&mut self) {
        self.typed.clear();
    }

    /// A key: the option it completes, if any. A key that no option continues starts over
    /// from itself.
    pub fn push(&mut self, options: &[TalkOption], digit: char) -> Option<Hit> {
        self.typed.push(digit);
        if let Some(opt) = options.iter().find(|o| o.keys == self.typed) {
            self.typed.clear();
            return Some(Hit {
                keys: opt.keys.clone(),
                action: opt.action.clone(),
            });
        }
        if !options.iter().any(|o| o.keys.starts_with(&self.typed)) {
            let restart = self.typed.len() > 1;
            self.typed.clear();
            if restart {
                return self.push(options, digit);
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
        let mut k = TalkKeys::default();
        assert_eq!(k.push(&o, '1'), None);
        assert!(k.is_empty());
        assert_eq!(k.push(&o, '*'), None);
        assert_eq!(
            k.push(&o, '*'),
            None,
            "'**' starts over from the second '*'"
        );
        let hit = k.push(&o, '5').unwrap();
        assert_eq!(hit.keys, "*5");
        assert!(k.is_empty());
    }
}
