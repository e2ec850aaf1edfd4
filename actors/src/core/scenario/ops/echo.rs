//! Echo test: answer and echo the caller's audio back, then `next`.

use super::{next_on, Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{Echo, OpName};

pub(super) fn enter(ctx: &mut Ctx, op: &Echo, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    let id = ctx.id();
    out.push(Command::Echo {
        id,
        max_s: op.max_s,
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
    fn echo_answers_then_goes_on_when_done() {
        let s = scenario(vec![
            ("e", op(Action::Echo(Echo { max_s: 9 }), Some("bye"))),
            ("bye", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Answer, Command::Echo { id: 1, max_s: 9 }]
        );
        assert!(matches!(
            without_traces(run.handle(Input::EchoDone { id: 1 })).as_slice(),
            [Command::Hangup { .. }]
        ));
    }
}
