//! "Authorization (PIN)" (SPEC §3 op 7): answer, play a prompt (optional), collect a code and
//! compare it with the configured ones.
//!
//! Digits are collected until `#`, or until as many digits as the longest configured code, or
//! until `timeout_s` passes without a digit (inter-digit timeout). Exits: `correct`, `incorrect`
//! (after the last of `attempts`), `timeout` (nothing typed within `timeout_s`).

use super::{broken, prompt_ref, Op, RefAt};
use crate::model::Prompt;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

fn pin_timeout_s() -> u32 {
    5
}

fn pin_attempts() -> u32 {
    1
}

/// Every exit a PIN operation can take.
const PIN_EXITS: &[&str] = &["correct", "incorrect", "timeout"];

/// The longest code accepted.
pub const PIN_MAX_DIGITS: usize = 16;

/// Asks for a code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Played before waiting for the code, and again before each new attempt; a digit typed
    /// while it plays cuts it short and counts.
    #[serde(default)]
    pub prompt: Option<Prompt>,
    /// The accepted codes: at least one, each 1–16 digits.
    pub codes: Vec<String>,
    /// Seconds to wait for the first digit after the prompt, and between digits (1–60,
    /// default 5).
    #[serde(default = "pin_timeout_s")]
    pub timeout_s: u32,
    /// Tries before `incorrect` (1–5, default 1): a wrong code before the last one plays the
    /// prompt again.
    #[serde(default = "pin_attempts")]
    pub attempts: u32,
}

impl Pin {
    /// Digits after which the entry ends without `#`: the longest code's length.
    pub fn max_len(&self) -> usize {
        self.codes.iter().map(String::len).max().unwrap_or(0)
    }

    /// Whether `typed` is one of the codes.
    pub fn accepts(&self, typed: &str) -> bool {
        self.codes.iter().any(|c| c == typed)
    }
}

impl Op for Pin {
    fn exits(&self) -> &'static [&'static str] {
        PIN_EXITS
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", self.prompt.as_ref())
            .into_iter()
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if self.codes.is_empty() {
            out.push(broken(
                "codes",
                "pin.codes",
                "at least one code is required",
            ));
        }
        for (i, c) in self.codes.iter().enumerate() {
            if c.is_empty() || c.len() > PIN_MAX_DIGITS || !c.bytes().all(|b| b.is_ascii_digit()) {
                // The message never repeats the code.
                out.push(broken(
                    &format!("codes[{i}]"),
                    "pin.code",
                    "a code must be 1-16 digits 0-9",
                ));
            }
        }
        if !(1..=60).contains(&self.timeout_s) {
            out.push(broken(
                "timeout_s",
                "pin.timeout_s",
                "timeout_s must be 1-60 seconds",
            ));
        }
        if !(1..=5).contains(&self.attempts) {
            out.push(broken("attempts", "pin.attempts", "attempts must be 1-5"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_rules_and_exits() {
        let p: Pin = serde_json::from_str(r#"{"codes": ["1234"]}"#).unwrap();
        assert_eq!((p.timeout_s, p.attempts), (5, 1));
        assert!(p.prompt.is_none());
        assert!(p.violations().is_empty());
        assert_eq!(p.exits(), &["correct", "incorrect", "timeout"]);
        assert_eq!(p.expected_exits(), p.exits());
        assert!(p.accepts("1234") && !p.accepts("123") && !p.accepts(""));
        // Codes are required.
        assert!(serde_json::from_str::<Pin>("{}").is_err());
        assert!(serde_json::from_str::<Pin>(r#"{"codes": ["1"], "pin": "1"}"#).is_err());
        let rules = |p: Pin| {
            p.violations()
                .into_iter()
                .map(|v| (v.field, v.rule))
                .collect::<Vec<_>>()
        };
        let with = |codes: &[&str]| Pin {
            codes: codes.iter().map(|c| c.to_string()).collect(),
            ..p.clone()
        };
        assert_eq!(rules(with(&[])), [("codes".to_string(), "pin.codes")]);
        let long = "1".repeat(17);
        assert_eq!(
            rules(with(&["12", "", "12a4", &long, "1234567890123456"])),
            [
                ("codes[1]".to_string(), "pin.code"),
                ("codes[2]".to_string(), "pin.code"),
                ("codes[3]".to_string(), "pin.code"),
            ]
        );
        assert!(!with(&["12a4"]).violations()[0].message.contains("12a4"));
        assert_eq!(with(&["12", "123456"]).max_len(), 6);
        for bad in [0, 61] {
            let v = Pin {
                timeout_s: bad,
                ..p.clone()
            };
            assert_eq!(rules(v), [("timeout_s".to_string(), "pin.timeout_s")]);
        }
        for bad in [0, 6] {
            let v = Pin {
                attempts: bad,
                ..p.clone()
            };
            assert_eq!(rules(v), [("attempts".to_string(), "pin.attempts")]);
        }
    }
}
