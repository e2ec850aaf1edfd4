//! "Schedule branch" (SPEC §3 op 8): exits `in` / `out` depending on whether the call's time,
//! when it enters the operation, is inside an activity schedule (the company's time zone and
//! production calendar, the same evaluation as routing rules). Answers nothing, plays nothing.

use super::{Op, Ref, RefAt};
use crate::model::ScheduleId;
use serde::{Deserialize, Serialize};

/// Go on at `in` inside the schedule, at `out` outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBranch {
    /// The activity schedule (must exist: rule `ref.schedule`).
    pub schedule: ScheduleId,
}

impl Op for ScheduleBranch {
    fn exits(&self) -> &'static [&'static str] {
        &["in", "out"]
    }
    fn refs(&self) -> Vec<RefAt> {
        vec![RefAt {
            field: "schedule".into(),
            target: Ref::Schedule(self.schedule),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_refs_and_fields() {
        let b: ScheduleBranch = serde_json::from_str(r#"{"schedule": 3}"#).unwrap();
        assert_eq!(b.exits(), &["in", "out"]);
        assert_eq!(b.refs()[0].field, "schedule");
        assert_eq!(b.refs()[0].target, Ref::Schedule(ScheduleId(3)));
        assert!(serde_json::from_str::<ScheduleBranch>("{}").is_err());
        assert!(serde_json::from_str::<ScheduleBranch>(r#"{"schedule": 3, "x": 1}"#).is_err());
    }
}
