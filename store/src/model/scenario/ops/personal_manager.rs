//! "Personal manager" (SPEC §3 op 5): ring the caller's personal manager from the address book —
//! the employee set as `manager` on a contact that has the caller's number — and connect them.
//! Exits: `answered` (after the talk), `forward_failed` (no contact, no manager, or the manager
//! did not answer within `timeout_s` or could not be rung).

use super::{broken, prompt_ref, Op, RefAt};
use crate::model::Prompt;
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

fn manager_timeout_s() -> u32 {
    20
}

/// Rings the caller's personal manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalManager {
    /// Seconds the manager's phones ring before `forward_failed` (1–300, default 20).
    #[serde(default = "manager_timeout_s")]
    pub timeout_s: u32,
    /// What the caller hears meanwhile (files in a loop; `null`: the ringing tone).
    #[serde(default)]
    pub ringback: Option<Prompt>,
}

impl Op for PersonalManager {
    fn exits(&self) -> &'static [&'static str] {
        &["answered", "forward_failed"]
    }
    fn refs(&self) -> Vec<RefAt> {
        prompt_ref("ringback", self.ringback.as_ref())
            .into_iter()
            .collect()
    }
    fn violations(&self) -> Vec<ValidationError> {
        if (1..=300).contains(&self.timeout_s) {
            Vec::new()
        } else {
            vec![broken(
                "timeout_s",
                "personal_manager.timeout_s",
                "timeout_s is 1 to 300 seconds",
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_exits_and_ranges() {
        let m: PersonalManager = serde_json::from_str("{}").unwrap();
        assert_eq!(m.timeout_s, 20);
        assert_eq!(m.exits(), &["answered", "forward_failed"]);
        assert!(m.violations().is_empty());
        let m: PersonalManager = serde_json::from_str(r#"{"timeout_s": 0}"#).unwrap();
        assert_eq!(m.violations()[0].rule, "personal_manager.timeout_s");
        assert!(serde_json::from_str::<PersonalManager>(r#"{"x": 1}"#).is_err());
    }
}
