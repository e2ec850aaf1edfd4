//! Forward: ring the targets and connect the caller to whoever answers (the call core does the
//! ringing); the exit is the outcome's (`answered`, `no_answer`, `busy`). The operator hint of
//! an earlier CRM webhook reply in the call replaces the operation's own. When nobody answered,
//! the operation's `not_answered` action runs first: `end_call` ends the call at once,
//! `create_task` records a call-back task (the `task_created` event) and goes on at the exit.

use super::{Command, Ctx, Ending, Input, OpState, Step};
use crate::core::forward::ForwardOutcome;
use vpbx_store::model::ops::NotAnswered;
use vpbx_store::model::{Event, Forward, OpName};

pub(super) fn enter(ctx: &mut Ctx, op: &Forward, out: &mut Vec<Command>) -> OpState {
    let id = ctx.id();
    let mut forward = op.clone();
    // A CRM webhook's operator hint beats the operation's own (SPEC §3 op 13).
    if let Some(hint) = &ctx.crm_hint {
        forward.operator_hint = Some(hint.clone());
    }
    out.push(Command::Forward { id, forward });
    OpState::Waiting(id)
}

pub(super) fn handle(
    ctx: &mut Ctx,
    name: &OpName,
    op: &Forward,
    id: u64,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    match input {
        Input::ForwardDone { id: i, outcome } if i == id => {
            forward_done(ctx, outcome);
            match (&op.not_answered, outcome) {
                (_, ForwardOutcome::Answered) | (None, _) => {}
                (Some(NotAnswered::EndCall), _) => {
                    return Step::End(Ending::Finished(format!(
                        "{name}: nobody answered ({}), call ended",
                        outcome.exit()
                    )))
                }
                (
                    Some(NotAnswered::CreateTask {
                        employee,
                        group,
                        note,
                    }),
                    _,
                ) => {
                    let assignee = match (employee, group) {
                        (Some(e), _) => format!("employee {e}"),
                        (None, Some(g)) => format!("group {g}"),
                        (None, None) => "the operation's employees".into(),
                    };
                    out.push(Command::Event(Event::TaskCreated {
                        op: name.to_string(),
                        caller: ctx.caller.clone(),
                        assignee,
                        note: note.clone(),
                        why: outcome.exit().into(),
                    }));
                }
            }
            Step::Exit(outcome.exit().into())
        }
        _ => Step::Stay,
    }
}

/// A forward ended with `outcome`: after a talk the caller is answered already.
pub(super) fn forward_done(ctx: &mut Ctx, outcome: crate::core::forward::ForwardOutcome) {
    if outcome == crate::core::forward::ForwardOutcome::Answered {
        ctx.answered = true;
    }
}

#[cfg(test)]
mod tests {
    use crate::core::forward::ForwardOutcome;
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::ops::NotAnswered;

    #[test]
    fn forward_follows_the_exit_of_its_outcome_and_counts_the_talk_as_answered() {
        let fwd = Forward {
            operator_hint: None,
            queue: None,
            strategy: None,
            wrap_up_s: 0,
            targets: vec![],
            mode: Default::default(),
            max_wait_s: None,
            ringback: None,
            present_virtual_number: false,
            not_answered: None,
        };
        let mut ops = vec![
            (
                "f",
                Operation {
                    action: Action::Forward(fwd.clone()),
                    exits: BTreeMap::from([
                        ("answered".to_string(), OpName("p".into())),
                        ("busy".to_string(), OpName("p".into())),
                    ]),
                },
            ),
            ("p", op(Action::Pause(Pause { ms: 5 }), None)),
        ];
        let mut run = ScenarioRun::new(scenario(ops.clone()), 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Forward {
                id: 1,
                forward: fwd.clone()
            }]
        );
        // After a talk the caller is answered already: no second Answer.
        assert_eq!(
            without_traces(run.handle(Input::ForwardDone {
                id: 1,
                outcome: crate::core::forward::ForwardOutcome::Answered
            })),
            vec![Command::Silence { id: 2, ms: 5 }]
        );
        ops.truncate(2);
        let mut run = ScenarioRun::new(scenario(ops), 10);
        run.start();
        assert_eq!(
            without_traces(run.handle(Input::ForwardDone {
                id: 1,
                outcome: crate::core::forward::ForwardOutcome::Busy
            })),
            vec![Command::Answer, Command::Silence { id: 2, ms: 5 }]
        );
        // no_answer has no exit: the call ends.
        let mut run = ScenarioRun::new(
            scenario(vec![(
                "f",
                Operation {
                    action: Action::Forward(fwd),
                    exits: BTreeMap::new(),
                },
            )]),
            10,
        );
        run.start();
        let out = run.handle(Input::ForwardDone {
            id: 1,
            outcome: crate::core::forward::ForwardOutcome::NoAnswer,
        });
        assert!(matches!(out.last(), Some(Command::Hangup { .. })));
    }

    /// A forward to employee 1 with `not_answered`, its `busy` and `no_answer` exits going on to
    /// a pause; the commands after the forward ends with `outcome`.
    fn after(not_answered: Option<NotAnswered>, outcome: ForwardOutcome) -> Vec<Command> {
        let fwd = Forward {
            operator_hint: None,
            queue: None,
            strategy: None,
            wrap_up_s: 0,
            targets: vec![vpbx_store::model::ForwardTarget::Employee {
                id: vpbx_store::model::EmployeeId(1),
            }],
            mode: Default::default(),
            max_wait_s: None,
            ringback: None,
            present_virtual_number: false,
            not_answered,
        };
        let s = scenario(vec![
            (
                "f",
                Operation {
                    action: Action::Forward(fwd),
                    exits: BTreeMap::from([
                        ("no_answer".to_string(), OpName("p".into())),
                        ("busy".to_string(), OpName("p".into())),
                        ("answered".to_string(), OpName("p".into())),
                    ]),
                },
            ),
            ("p", op(Action::Pause(Pause { ms: 5 }), None)),
        ]);
        let mut run =
            ScenarioRun::new(s, 10).with_call(Arc::new(Default::default()), "79161234567");
        run.start();
        run.handle(Input::ForwardDone { id: 1, outcome })
    }

    #[test]
    fn nobody_answered_creates_a_task_then_takes_the_exit() {
        let task = NotAnswered::CreateTask {
            employee: None,
            group: Some(vpbx_store::model::GroupId(2)),
            note: Some("call back about the order".into()),
        };
        let out = after(Some(task.clone()), ForwardOutcome::NoAnswer);
        assert!(out.contains(&Command::Event(Event::TaskCreated {
            op: "f".into(),
            caller: "79161234567".into(),
            assignee: "group 2".into(),
            note: Some("call back about the order".into()),
            why: "no_answer".into(),
        })));
        assert!(out
            .iter()
            .any(|c| matches!(c, Command::Silence { ms: 5, .. })));
        let out = after(
            Some(NotAnswered::CreateTask {
                employee: None,
                group: None,
                note: None,
            }),
            ForwardOutcome::Busy,
        );
        assert!(out.iter().any(|c| matches!(
            c,
            Command::Event(Event::TaskCreated { assignee, why, .. })
                if assignee == "the operation's employees" && why == "busy"
        )));
        // A talk creates no task.
        let out = after(Some(task), ForwardOutcome::Answered);
        assert!(!out
            .iter()
            .any(|c| matches!(c, Command::Event(Event::TaskCreated { .. }))));
    }

    #[test]
    fn end_call_ends_it_whatever_the_exits_say() {
        let out = after(Some(NotAnswered::EndCall), ForwardOutcome::NoAnswer);
        assert!(out.contains(&Command::Event(Event::ExitTaken {
            op: "f".into(),
            exit: "end_call".into()
        })));
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Finished(r) }) if r.contains("nobody answered (no_answer)")
        ));
        assert!(!out.iter().any(|c| matches!(c, Command::Silence { .. })));
        // After a talk the exit is taken as usual.
        let out = after(Some(NotAnswered::EndCall), ForwardOutcome::Answered);
        assert!(out
            .iter()
            .any(|c| matches!(c, Command::Silence { ms: 5, .. })));
    }
}
