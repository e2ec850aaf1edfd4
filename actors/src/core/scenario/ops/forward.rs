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
    use crate::core::scenario::testkit::*;

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
}
