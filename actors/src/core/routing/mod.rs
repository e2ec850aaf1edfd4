//! Routing: dialled number → ordered rules → scenario.
//!
//! [`route`] is the single entry point used by live calls and by the routing tracer. It returns
//! the rule that matched and, for every earlier rule, why it did not.

mod mask;

pub use mask::mask_matches;

use vpbx_store::model::{CallerFilter, CompanyConfig, RuleId, ScenarioId};

/// A call to route.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    /// Caller number (A), digits.
    pub numa: &'a str,
    /// Dialled number (B), digits.
    pub numb: &'a str,
    /// Wall time of the call, milliseconds since the Unix epoch (schedules use it).
    pub unix_ms: u64,
}

/// Why one rule was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The rule.
    pub rule: RuleId,
    /// Rule name.
    pub name: String,
    /// Why it did not match.
    pub why: String,
}

/// The routing decision for a call that found its scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The rule that matched.
    pub rule: RuleId,
    /// Its name.
    pub rule_name: String,
    /// The scenario to run.
    pub scenario: ScenarioId,
    /// Earlier rules that did not match, in order.
    pub skipped: Vec<Skipped>,
}

/// Why a call found no scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRouted {
    /// The dialled number is not one of the box's virtual numbers.
    UnknownNumber,
    /// The number exists, but no rule matched this caller at this time.
    NoRuleMatched {
        /// Every rule with the reason it did not match.
        skipped: Vec<Skipped>,
    },
    /// A rule matched but names a scenario that does not exist.
    MissingScenario {
        /// The rule.
        rule: RuleId,
        /// The scenario it names.
        scenario: ScenarioId,
    },
}

impl std::fmt::Display for NotRouted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRouted::UnknownNumber => f.write_str("unknown number"),
            NotRouted::NoRuleMatched { skipped } => {
                write!(f, "no rule matched")?;
                for s in skipped {
                    write!(f, "; rule {} ({}): {}", s.rule, s.name, s.why)?;
                }
                Ok(())
            }
            NotRouted::MissingScenario { rule, scenario } => {
                write!(f, "rule {rule} names missing scenario {scenario}")
            }
        }
    }
}

/// Routes one call against one configuration snapshot.
pub fn route(cfg: &CompanyConfig, req: &RouteRequest<'_>) -> Result<Routed, NotRouted> {
    let number = cfg.number(req.numb).ok_or(NotRouted::UnknownNumber)?;
    let mut skipped = Vec::new();
    for rule in &number.rules {
        if let Some(schedule) = rule.schedule {
            // Schedules arrive with the directory work (issue 5); until then a rule bound to a
            // schedule the box does not know never matches, and says so.
            skipped.push(Skipped {
                rule: rule.id,
                name: rule.name.clone(),
                why: format!("schedule {schedule} is not defined"),
            });
            continue;
        }
        if let Some(why) = caller_mismatch(&rule.callers, req.numa) {
            skipped.push(Skipped {
                rule: rule.id,
                name: rule.name.clone(),
                why,
            });
            continue;
        }
        if cfg.scenario(rule.scenario).is_none() {
            return Err(NotRouted::MissingScenario {
                rule: rule.id,
                scenario: rule.scenario,
            });
        }
        return Ok(Routed {
            rule: rule.id,
            rule_name: rule.name.clone(),
            scenario: rule.scenario,
            skipped,
        });
    }
    Err(NotRouted::NoRuleMatched { skipped })
}

fn caller_mismatch(filter: &CallerFilter, numa: &str) -> Option<String> {
    match filter {
        CallerFilter::All => None,
        CallerFilter::Numbers { masks } => {
            if masks.iter().any(|m| mask_matches(m, numa)) {
                None
            } else {
                Some("caller is not in the rule's number list".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vpbx_store::model::*;

    fn cfg() -> CompanyConfig {
        let scenario = Scenario {
            id: ScenarioId(1),
            name: "s".into(),
            start: OpName("bye".into()),
            operations: BTreeMap::from([(
                OpName("bye".into()),
                Operation {
                    action: Action::HangUp,
                    exits: BTreeMap::new(),
                },
            )]),
        };
        let rule = |id, callers, scenario| Rule {
            id: RuleId(id),
            name: format!("r{id}"),
            schedule: None,
            callers,
            scenario: ScenarioId(scenario),
        };
        CompanyConfig {
            scenarios: vec![scenario],
            numbers: vec![VirtualNumber {
                number: "74951234567".into(),
                kind: NumberKind::Pbx,
                rules: vec![
                    rule(
                        1,
                        CallerFilter::Numbers {
                            masks: vec!["7812*".into()],
                        },
                        1,
                    ),
                    rule(2, CallerFilter::All, 1),
                ],
            }],
            ..Default::default()
        }
    }

    fn req<'a>(numa: &'a str, numb: &'a str) -> RouteRequest<'a> {
        RouteRequest {
            numa,
            numb,
            unix_ms: 0,
        }
    }

    #[test]
    fn first_matching_rule_wins_and_earlier_rules_say_why() {
        let cfg = cfg();
        let r = route(&cfg, &req("78121112233", "74951234567")).unwrap();
        assert_eq!(r.rule, RuleId(1));
        assert!(r.skipped.is_empty());
        let r = route(&cfg, &req("79160000000", "74951234567")).unwrap();
        assert_eq!(r.rule, RuleId(2));
        assert_eq!(r.skipped.len(), 1);
        assert!(r.skipped[0].why.contains("number list"));
    }

    #[test]
    fn unknown_number_and_no_match_are_distinct() {
        let mut cfg = cfg();
        assert_eq!(
            route(&cfg, &req("1", "000")).unwrap_err(),
            NotRouted::UnknownNumber
        );
        cfg.numbers[0].rules.pop();
        let err = route(&cfg, &req("79160000000", "74951234567")).unwrap_err();
        assert!(matches!(err, NotRouted::NoRuleMatched { ref skipped } if skipped.len() == 1));
        assert!(err.to_string().contains("r1"));
    }

    #[test]
    fn missing_scenario_is_reported() {
        let mut cfg = cfg();
        cfg.scenarios.clear();
        assert!(matches!(
            route(&cfg, &req("1", "74951234567")),
            Err(NotRouted::MissingScenario { .. })
        ));
    }
}
