//! "Insert scenario" (SPEC §3: a scenario can be inserted into another): the call runs the
//! other scenario from its start, in place of this operation. When the sub-scenario's path
//! reaches an exit that leads nowhere, the call comes back here and goes on at `next` (unset:
//! the call ends there, as in any scenario); a hang-up inside it ends the call. Sub-scenarios
//! nest at most [`MAX_NESTING`] deep (deeper is a scenario loop and ends the call).

use super::{Op, Ref, RefAt};
use crate::model::ScenarioId;
use serde::{Deserialize, Serialize};

/// How many sub-scenarios may be running inside one another.
pub const MAX_NESTING: usize = 8;

/// Runs another scenario here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertScenario {
    /// The scenario to run (must exist: rule `ref.scenario`).
    pub scenario: ScenarioId,
}

impl Op for InsertScenario {
    fn exits(&self) -> &'static [&'static str] {
        &["next"]
    }
    fn refs(&self) -> Vec<RefAt> {
        vec![RefAt {
            field: "scenario".into(),
            target: Ref::Scenario(self.scenario),
        }]
    }
    /// A sub-scenario that ends its calls itself needs no `next`: no warning for it.
    fn expected_exits(&self) -> &'static [&'static str] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_refs_and_fields() {
        let i: InsertScenario = serde_json::from_str(r#"{"scenario": 4}"#).unwrap();
        assert_eq!(i.exits(), &["next"]);
        assert_eq!(i.refs()[0].target, Ref::Scenario(ScenarioId(4)));
        assert!(serde_json::from_str::<InsertScenario>("{}").is_err());
    }
}
