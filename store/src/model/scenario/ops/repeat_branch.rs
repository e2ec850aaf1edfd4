//! "Repeat-call branch" (SPEC §3 op 11): exits `first` / `repeat` — whether the caller's number
//! called the box before within `within_h` hours (one hour to ten years), from the call records.
//! Answers nothing, plays nothing.

use super::{broken, Op, RefAt};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

/// The longest look-back: ten years, in hours.
pub const REPEAT_MAX_H: u32 = 87_600;

/// Goes on at `repeat` when the caller called within `within_h` hours, else at `first`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatBranch {
    /// Hours to look back (1–87,600).
    pub within_h: u32,
}

impl Op for RepeatBranch {
    fn exits(&self) -> &'static [&'static str] {
        &["first", "repeat"]
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
    fn violations(&self) -> Vec<ValidationError> {
        if (1..=REPEAT_MAX_H).contains(&self.within_h) {
            Vec::new()
        } else {
            vec![broken(
                "within_h",
                "repeat_branch.within_h",
                format!("within_h is 1 to {REPEAT_MAX_H} hours (ten years)"),
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_and_range() {
        let r: RepeatBranch = serde_json::from_str(r#"{"within_h": 24}"#).unwrap();
        assert_eq!(r.exits(), &["first", "repeat"]);
        assert!(r.violations().is_empty());
        let r: RepeatBranch = serde_json::from_str(r#"{"within_h": 87601}"#).unwrap();
        assert_eq!(r.violations()[0].rule, "repeat_branch.within_h");
    }
}
