//! Which calls a virtual number's rules cover (SPEC §2): a number connected for the first time
//! gets a default rule — all callers, always, to a simple scenario that forwards to a queue — and
//! the admin is told about numbers some callers or times reach with no rule (those calls are
//! refused).

use crate::model::*;
use crate::repo::{fresh_id, WriteResult};
use crate::Store;
use serde::Serialize;
use std::collections::BTreeMap;

/// The name of the scenario default rules lead to (created on first use).
pub const DEFAULT_SCENARIO: &str = "Default: forward to a queue";

/// The name of a default rule.
pub const DEFAULT_RULE: &str = "All callers, always";

/// A number some calls reach with no rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The number.
    pub number: String,
    /// Which calls no rule takes, in words.
    pub uncovered: String,
}

/// Whether `rule` takes every caller at every time.
fn catch_all(rule: &Rule) -> bool {
    rule.schedule.is_none() && rule.callers == CallerFilter::All
}

/// The PBX numbers of `cfg` that some callers or times reach with no rule.
pub fn gaps(cfg: &CompanyConfig) -> Vec<Gap> {
    cfg.numbers
        .iter()
        .filter(|n| n.kind == NumberKind::Pbx && !n.rules.iter().any(catch_all))
        .map(|n| {
            let all_callers: Vec<String> = n
                .rules
                .iter()
                .filter(|r| r.callers == CallerFilter::All)
                .filter_map(|r| r.schedule)
                .map(|s| {
                    cfg.schedule(s)
                        .map_or_else(|| s.to_string(), |x| format!("'{}'", x.name))
                })
                .collect();
            let uncovered = if n.rules.is_empty() {
                "every call: the number has no rule".to_string()
            } else if all_callers.is_empty() {
                "callers no rule's filter matches: no rule is for all callers".to_string()
            } else {
                format!(
                    "calls outside the schedules {} from callers no other rule matches",
                    all_callers.join(", ")
                )
            };
            Gap {
                number: n.number.clone(),
                uncovered,
            }
        })
        .collect()
}

/// The scenario a default rule leads to: one forward operation over every employee, longest
/// idle first, with the queue (position announced) and at most five minutes of waiting.
fn default_scenario(id: ScenarioId, cfg: &CompanyConfig) -> Scenario {
    let ring = OpName("queue".into());
    let bye = OpName("bye".into());
    Scenario {
        id,
        name: DEFAULT_SCENARIO.into(),
        start: ring.clone(),
        operations: BTreeMap::from([
            (
                ring,
                Operation {
                    action: Action::Forward(Forward {
                        operator_hint: None,
                        targets: cfg
                            .employees
                            .iter()
                            .map(|e| ForwardTarget::Employee { id: e.id })
                            .collect(),
                        mode: RingMode::Sequential,
                        max_wait_s: Some(300),
                        ringback: None,
                        present_virtual_number: false,
                        strategy: Some(Strategy::LongestIdle),
                        queue: Some(QueueSettings::default()),
                        wrap_up_s: 0,
                        not_answered: None,
                    }),
                    exits: BTreeMap::from([
                        ("no_answer".to_string(), bye.clone()),
                        ("busy".to_string(), bye.clone()),
                        ("answered".to_string(), bye.clone()),
                    ]),
                },
            ),
            (
                bye,
                Operation {
                    action: Action::HangUp(HangUp {}),
                    exits: BTreeMap::new(),
                },
            ),
        ]),
        record: false,
        greeting: None,
        ringback: None,
        present_virtual_number: false,
    }
}

impl Store {
    /// Connects a virtual number (`POST /numbers`). With `default_rule` (the request named no
    /// rules), a PBX number without rules gets the default rule — all callers, always — to the
    /// scenario [`DEFAULT_SCENARIO`], created on first use over the employees there are then
    /// (without employees, the number gets no rule and [`gaps`] reports it).
    pub fn connect_number(
        &self,
        mut number: VirtualNumber,
        default_rule: bool,
    ) -> WriteResult<VirtualNumber> {
        self.modify_scoped(
            |cfg| {
                if cfg.numbers.iter().any(|n| n.number == number.number) {
                    return Err(crate::repo::Rejection::Exists {
                        kind: "virtual number",
                        id: number.number.clone(),
                    });
                }
                if default_rule
                    && number.kind == NumberKind::Pbx
                    && number.rules.is_empty()
                    && !cfg.employees.is_empty()
                {
                    let scenario = match cfg.scenarios.iter().find(|s| s.name == DEFAULT_SCENARIO) {
                        Some(s) => s.id,
                        None => {
                            let id = ScenarioId(fresh_id(cfg.scenarios.iter().map(|s| s.id.0)));
                            let s = default_scenario(id, cfg);
                            let at = cfg.scenarios.partition_point(|x| x.id < id);
                            cfg.scenarios.insert(at, s);
                            id
                        }
                    };
                    let used = cfg
                        .numbers
                        .iter()
                        .flat_map(|n| n.rules.iter().map(|r| r.id.0));
                    number.rules.push(Rule {
                        id: RuleId(fresh_id(used)),
                        name: DEFAULT_RULE.into(),
                        schedule: None,
                        callers: CallerFilter::All,
                        scenario,
                    });
                }
                crate::repo::Entity::complete(&mut number, cfg);
                let at = cfg.numbers.partition_point(|n| n.number < number.number);
                cfg.numbers.insert(at, number.clone());
                Ok(number)
            },
            |cfg, n| {
                cfg.numbers
                    .iter()
                    .position(|x| x.number == n.number)
                    .map(|i| (format!("numbers[{i}]"), String::new()))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_demo() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cfg = crate::parse_document(include_str!("../../config/demo.yaml")).unwrap();
        store.replace_all(&cfg).unwrap().unwrap();
        (dir, store)
    }

    #[test]
    fn a_new_number_without_rules_gets_the_default_rule_and_scenario_once() {
        let (_d, store) = store_with_demo();
        let n = store
            .connect_number(
                VirtualNumber {
                    number: "74957770001".into(),
                    kind: NumberKind::Pbx,
                    rules: vec![],
                },
                true,
            )
            .unwrap()
            .unwrap();
        assert_eq!(n.rules.len(), 1);
        assert_eq!(n.rules[0].name, DEFAULT_RULE);
        assert_eq!(n.rules[0].callers, CallerFilter::All);
        let cfg = store.snapshot().unwrap();
        let s = cfg.scenario(n.rules[0].scenario).unwrap();
        assert_eq!(s.name, DEFAULT_SCENARIO);
        assert!(crate::validate_config(&cfg).is_empty());
        // A second number reuses the scenario.
        let m = store
            .connect_number(
                VirtualNumber {
                    number: "74957770002".into(),
                    kind: NumberKind::Pbx,
                    rules: vec![],
                },
                true,
            )
            .unwrap()
            .unwrap();
        assert_eq!(m.rules[0].scenario, n.rules[0].scenario);
        assert_eq!(
            store
                .snapshot()
                .unwrap()
                .scenarios
                .iter()
                .filter(|s| s.name == DEFAULT_SCENARIO)
                .count(),
            1
        );
    }

    #[test]
    fn gaps_name_numbers_without_a_catch_all_rule() {
        let mut cfg = crate::parse_document(include_str!("../../config/demo.yaml")).unwrap();
        assert!(gaps(&cfg).iter().all(|g| g.number != "74951234567"));
        cfg.numbers[0].rules[0].schedule = Some(ScheduleId(1));
        let g = gaps(&cfg);
        assert!(
            g.iter()
                .any(|g| g.number == cfg.numbers[0].number && g.uncovered.contains("outside")),
            "{g:?}"
        );
        cfg.numbers[0].rules.clear();
        assert!(gaps(&cfg)
            .iter()
            .any(|g| g.uncovered == "every call: the number has no rule"));
    }
}
