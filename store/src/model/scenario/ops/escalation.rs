//! "Escalation" (SPEC §3 op 18, "insurance"): a timer that outlives the operations it covers.
//! Entering it arms the timer and goes on at `next` at once; if no employee has answered the
//! call when `after_s` pass — whatever operation runs then (a menu, ringing, the queue) — that
//! operation is abandoned and the call goes on at `escalated` (e.g. a forward to the head of
//! the department). A talk disarms it.

use super::{broken, Op, RefAt};
use crate::validate::ValidationError;
use serde::{Deserialize, Serialize};

/// Arms the escalation timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Seconds without an answer by an employee before `escalated` (1–3600).
    pub after_s: u32,
}

impl Op for Escalation {
    fn exits(&self) -> &'static [&'static str] {
        &["next", "escalated"]
    }
    fn refs(&self) -> Vec<RefAt> {
        Vec::new()
    }
    fn violations(&self) -> Vec<ValidationError> {
        if (1..=3600).contains(&self.after_s) {
            Vec::new()
        } else {
            vec![broken(
                "after_s",
                "escalation.after_s",
                "after_s is 1 to 3600 seconds",
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_and_ranges() {
        let e: Escalation = serde_json::from_str(r#"{"after_s": 30}"#).unwrap();
        assert_eq!(e.exits(), &["next", "escalated"]);
        assert!(e.violations().is_empty());
        let e: Escalation = serde_json::from_str(r#"{"after_s": 0}"#).unwrap();
        assert_eq!(e.violations()[0].rule, "escalation.after_s");
        assert!(serde_json::from_str::<Escalation>("{}").is_err());
    }
}
