//! Repeat-call branch (SPEC §3 op 11): asks how many calls the caller's number made within the
//! look-back ([`Command::CountCalls`], answered by the shell from the call records as
//! [`Input::CallsCounted`]) and goes on at `repeat` when there was one, else at `first`. The
//! call itself is not counted (its record is written when it ends).

use super::{Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{Event, OpName, RepeatBranch};

pub(super) fn enter(ctx: &mut Ctx, op: &RepeatBranch, out: &mut Vec<Command>) -> OpState {
    let id = ctx.id();
    let back_ms = u64::from(op.within_h) * 3_600_000;
    out.push(Command::CountCalls {
        id,
        caller: ctx.caller.clone(),
        since_unix_ms: ctx.unix_ms.saturating_sub(back_ms),
    });
    OpState::Waiting(id)
}

pub(super) fn handle(
    name: &OpName,
    op: &RepeatBranch,
    id: u64,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    match input {
        Input::CallsCounted { id: i, calls } if i == id => {
            let exit = if calls > 0 { "repeat" } else { "first" };
            out.push(Command::Event(Event::Note(format!(
                "{name}: {calls} earlier call(s) from this number in the last {} h",
                op.within_h
            ))));
            Step::Exit(exit.into())
        }
        _ => Step::Stay,
    }
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::RepeatBranch;

    fn run() -> ScenarioRun {
        let s = scenario(vec![
            (
                "again",
                Operation {
                    action: Action::RepeatBranch(RepeatBranch { within_h: 24 }),
                    exits: BTreeMap::from([
                        ("first".to_string(), OpName("hello".into())),
                        ("repeat".to_string(), OpName("back".into())),
                    ]),
                },
            ),
            ("hello", op(Action::Pause(Pause { ms: 1 }), None)),
            ("back", op(Action::Pause(Pause { ms: 2 }), None)),
        ]);
        ScenarioRun::new(s, 10).with_call(Arc::new(Default::default()), "79161234567")
    }

    #[test]
    fn it_asks_for_the_callers_calls_in_the_window_and_branches_on_the_count() {
        for (calls, exit, next_ms) in [(0, "first", 1), (3, "repeat", 2)] {
            let mut r = run();
            let out = without_traces(r.start_at(100 * 3_600_000));
            assert_eq!(
                out,
                vec![Command::CountCalls {
                    id: 1,
                    caller: "79161234567".into(),
                    since_unix_ms: 76 * 3_600_000
                }]
            );
            let out = r.handle(Input::CallsCounted { id: 1, calls });
            assert!(out.iter().any(|c| matches!(
                c,
                Command::Event(Event::ExitTaken { exit: e, .. }) if e == exit
            )));
            assert!(out
                .iter()
                .any(|c| matches!(c, Command::Silence { ms, .. } if *ms == next_ms)));
        }
    }
}
