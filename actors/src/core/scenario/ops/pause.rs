//! Pause: answer and send silence for a while, then `next`.

use super::{next_on, Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{OpName, Pause};

pub(super) fn enter(ctx: &mut Ctx, op: &Pause, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    let id = ctx.id();
    out.push(Command::Silence { id, ms: op.ms });
    OpState::Waiting(id)
}

pub(super) fn handle(name: &OpName, id: u64, input: Input, out: &mut Vec<Command>) -> Step {
    next_on(name, id, input, out)
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;

    #[test]
    fn answer_is_issued_once_and_pause_then_missing_exit_ends() {
        let s = scenario(vec![
            ("a", op(Action::Pause(Pause { ms: 500 }), Some("b"))),
            ("b", op(Action::Pause(Pause { ms: 10 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 100);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Answer, Command::Silence { id: 1, ms: 500 }]
        );
        assert_eq!(
            without_traces(run.handle(Input::PlayDone { id: 1 })),
            vec![Command::Silence { id: 2, ms: 10 }]
        );
        let out = run.handle(Input::PlayDone { id: 2 });
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Finished(r) }) if r.contains("leads nowhere")
        ));
    }
}
