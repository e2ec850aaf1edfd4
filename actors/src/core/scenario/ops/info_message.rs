//! Info message: answer, play the prompt once, go on at `next`.

use super::{next_on, Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{InfoMessage, OpName};

pub(super) fn enter(ctx: &mut Ctx, op: &InfoMessage, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    let id = ctx.id();
    out.push(Command::Play {
        id,
        prompt: op.prompt.clone(),
    });
    OpState::Waiting(id)
}

pub(super) fn handle(name: &OpName, id: u64, input: Input, out: &mut Vec<Command>) -> Step {
    next_on(name, id, input, out)
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;

    #[test]
    fn greeting_then_hang_up() {
        let s = scenario(vec![
            (
                "greet",
                op(
                    Action::InfoMessage(InfoMessage {
                        prompt: Prompt::File { id: FileId(1) },
                    }),
                    Some("bye"),
                ),
            ),
            ("bye", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 100);
        assert_eq!(
            without_traces(run.start()),
            vec![
                Command::Answer,
                Command::Play {
                    id: 1,
                    prompt: Prompt::File { id: FileId(1) }
                }
            ]
        );
        // A stale id does nothing.
        assert!(run.handle(Input::PlayDone { id: 7 }).is_empty());
        let out = without_traces(run.handle(Input::PlayDone { id: 1 }));
        assert!(matches!(
            out.as_slice(),
            [Command::Hangup {
                reason: Ending::Finished(_)
            }]
        ));
        assert!(run.is_done());
        assert!(run.handle(Input::PlayDone { id: 1 }).is_empty());
    }

    #[test]
    fn failed_prompt_is_skipped_not_fatal() {
        let s = scenario(vec![
            (
                "a",
                op(
                    Action::InfoMessage(InfoMessage {
                        prompt: Prompt::File { id: FileId(9) },
                    }),
                    Some("e"),
                ),
            ),
            ("e", op(Action::Echo(Echo { max_s: 3 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        run.start();
        let out = without_traces(run.handle(Input::PlayFailed {
            id: 1,
            why: "no such file".into(),
        }));
        assert_eq!(out, vec![Command::Echo { id: 2, max_s: 3 }]);
    }
}

#[cfg(test)]
mod greeting_tests {
    use crate::core::scenario::testkit::*;

    #[test]
    fn the_scenario_greeting_plays_once_answered_before_the_start_operation() {
        let mut s = (*scenario(vec![("p", op(Action::Pause(Pause { ms: 5 }), None))])).clone();
        s.greeting = Some(Prompt::Text {
            text: "Welcome".into(),
            voice: None,
        });
        let mut run = ScenarioRun::new(Arc::new(s), 10);
        let out = without_traces(run.start());
        assert_eq!(out[0], Command::Answer);
        let Command::Play { id, .. } = out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(run.current_op(), None);
        // A failed greeting is skipped like any prompt: the start operation follows.
        let out = run.handle(Input::PlayFailed {
            id,
            why: "no voice".into(),
        });
        assert!(out.contains(&Command::Silence { id: 2, ms: 5 }), "{out:?}");
        assert_eq!(run.current_op(), Some("p"));
    }
}
