//! Ring: 180 to the caller (unanswered) for a while, then `next`.

use super::{next_on, Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{OpName, Ring};

pub(super) fn enter(ctx: &mut Ctx, op: &Ring, out: &mut Vec<Command>) -> OpState {
    let id = ctx.id();
    out.push(Command::Ring { id, ms: op.ms });
    OpState::Waiting(id)
}

pub(super) fn handle(name: &OpName, id: u64, input: Input, out: &mut Vec<Command>) -> Step {
    next_on(name, id, input, out)
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;

    #[test]
    fn ring_waits_unanswered_then_continues() {
        let s = scenario(vec![
            ("r", op(Action::Ring(Ring { ms: 3000 }), Some("p"))),
            ("p", op(Action::Pause(Pause { ms: 10 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        assert_eq!(
            without_traces(run.start()),
            vec![Command::Ring { id: 1, ms: 3000 }]
        );
        assert_eq!(
            without_traces(run.handle(Input::TimerFired { id: 1 })),
            vec![Command::Answer, Command::Silence { id: 2, ms: 10 }]
        );
    }
}
