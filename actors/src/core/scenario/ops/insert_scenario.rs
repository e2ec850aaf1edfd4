//! Insert scenario: the run itself switches to the sub-scenario ([`ScenarioRun`]'s frames) — this
//! file holds the interpreter tests of it.
//!
//! [`ScenarioRun`]: crate::core::scenario::ScenarioRun

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{CompanyConfig, InsertScenario, Scenario, ScenarioId};

    fn sub(id: u64, inner: Option<u64>) -> Scenario {
        let mut ops = BTreeMap::new();
        if let Some(i) = inner {
            ops.insert(
                OpName("deeper".into()),
                Operation {
                    action: Action::InsertScenario(InsertScenario {
                        scenario: ScenarioId(i),
                    }),
                    exits: BTreeMap::from([("next".to_string(), OpName("say".into()))]),
                },
            );
        }
        ops.insert(
            OpName("say".into()),
            op(Action::Pause(Pause { ms: 7 }), None),
        );
        Scenario {
            id: ScenarioId(id),
            name: format!("sub {id}"),
            start: OpName(if inner.is_some() { "deeper" } else { "say" }.into()),
            operations: ops,
            record: false,
            greeting: None,
            ringback: None,
            present_virtual_number: false,
        }
    }

    fn main_run(cfg: CompanyConfig, target: u64) -> ScenarioRun {
        let s = scenario(vec![
            (
                "ins",
                Operation {
                    action: Action::InsertScenario(InsertScenario {
                        scenario: ScenarioId(target),
                    }),
                    exits: BTreeMap::from([("next".to_string(), OpName("after".into()))]),
                },
            ),
            ("after", op(Action::Pause(Pause { ms: 9 }), None)),
        ]);
        ScenarioRun::new(s, 50).with_call(Arc::new(cfg), "79001234567")
    }

    #[test]
    fn the_sub_scenario_runs_then_the_call_comes_back_at_next() {
        let cfg = CompanyConfig {
            scenarios: vec![sub(2, None)],
            ..Default::default()
        };
        let mut run = main_run(cfg, 2);
        let out = run.start();
        assert!(out.iter().any(
            |c| matches!(c, Command::Event(Event::ScenarioStarted { name }) if name == "sub 2")
        ));
        let id = out
            .iter()
            .find_map(|c| match c {
                Command::Silence { id, ms: 7 } => Some(*id),
                _ => None,
            })
            .expect("the sub-scenario's pause");
        // Its pause ends; its `next` is unset: back in the main scenario at `next`.
        let out = run.handle(Input::PlayDone { id });
        assert!(
            out.iter()
                .any(|c| matches!(c, Command::Silence { ms: 9, .. })),
            "{out:?}"
        );
        assert_eq!(run.current_op(), Some("after"));
    }

    #[test]
    fn a_missing_scenario_or_endless_nesting_ends_the_call_with_the_reason() {
        let mut run = main_run(CompanyConfig::default(), 5);
        let out = run.start();
        assert!(out.iter().any(|c| matches!(
            c,
            Command::Hangup { reason: Ending::Broken(r) } if r.contains("scenario 5 does not exist")
        )));
        // Scenario 3 inserts itself.
        let cfg = CompanyConfig {
            scenarios: vec![sub(3, Some(3))],
            ..Default::default()
        };
        let mut run = main_run(cfg, 3);
        let out = run.start();
        assert!(
            out.iter().any(|c| matches!(
                c,
                Command::Hangup { reason: Ending::Broken(r) } if r.contains("nested deeper")
            )),
            "{out:?}"
        );
    }
}
