//! "Menu (IVR)" (SPEC §3 op 2): answer, play a prompt (optional) and wait for one key.
//!
//! Exits: one per key `0`-`9`, `*`, `#` (the exit's name is the key), `timeout` (no key within
//! `timeout_s`), `invalid` (a key with no exit of its own) and, with `extension_entry`,
//! `extension` (taken after the call forwarded to the dialled extension ends). `#` with no exit of
//! its own returns to the previous menu when the menu was reached from one.

use super::{broken, prompt_ref, Op, RefAt};
use crate::model::Prompt;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

fn menu_timeout_s() -> u32 {
    5
}

/// The keys a menu has exits for, in the order of [`Menu::exits`].
pub const MENU_KEYS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"];

/// Every exit a menu can take.
const MENU_EXITS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "*",
    "#",
    "timeout",
    "invalid",
    "extension",
];

/// A voice menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// Played before waiting for a key; a key typed while it plays cuts it short.
    #[serde(default)]
    pub prompt: Option<Prompt>,
    /// Seconds to wait for a key after the prompt, and between the digits of an extension
    /// (1–60, default 5).
    #[serde(default = "menu_timeout_s")]
    pub timeout_s: u32,
    /// The caller may dial an employee's or a group's extension instead of a key.
    #[serde(default)]
    pub extension_entry: bool,
}

impl Op for Menu {
    fn exits(&self) -> &'static [&'static str] {
        MENU_EXITS
    }
    fn expected_exits(&self) -> &'static [&'static str] {
        if self.extension_entry {
            &["timeout", "invalid", "extension"]
        } else {
            &["timeout", "invalid"]
        }
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("prompt", self.prompt.as_ref())
            .into_iter()
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        if !(1..=60).contains(&self.timeout_s) {
            out.push(broken(
                "timeout_s",
                "menu.timeout_s",
                "timeout_s must be 1-60 seconds",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_rules_and_exits() {
        let m: Menu = serde_json::from_str("{}").unwrap();
        assert_eq!(m.timeout_s, 5);
        assert!(!m.extension_entry && m.prompt.is_none());
        assert!(m.violations().is_empty());
        for bad in [0, 61] {
            let v = Menu {
                timeout_s: bad,
                ..m.clone()
            }
            .violations();
            assert_eq!(v.len(), 1);
            assert_eq!(
                (v[0].field.as_str(), v[0].rule),
                ("timeout_s", "menu.timeout_s")
            );
        }
        assert!(serde_json::from_str::<Menu>(r#"{"timeout": 3}"#).is_err());
        // Keys, then the named exits; only timeout/invalid (and extension) are expected.
        assert_eq!(&m.exits()[..12], MENU_KEYS);
        assert_eq!(m.expected_exits(), &["timeout", "invalid"]);
        let x = Menu {
            extension_entry: true,
            ..m
        };
        assert!(x.expected_exits().contains(&"extension"));
    }
}
