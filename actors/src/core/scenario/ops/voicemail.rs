//! Voicemail: answer, prompt and beep, record; then `next`.

use super::{next_on, Command, Ctx, Input, OpState, Step};
use vpbx_store::model::{OpName, Voicemail};

pub(super) fn enter(ctx: &mut Ctx, op: &Voicemail, out: &mut Vec<Command>) -> OpState {
    ctx.answer(out);
    let id = ctx.id();
    out.push(Command::Voicemail {
        id,
        prompt: op.prompt.clone(),
        max_s: op.max_s,
        silence_s: op.silence_s,
        email: op.email.clone(),
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
    fn voicemail_records_then_goes_on() {
        let vm = Voicemail {
            prompt: None,
            max_s: 30,
            silence_s: 2,
            email: Some("a@b.invalid".into()),
        };
        let s = scenario(vec![
            ("vm", op(Action::Voicemail(vm), Some("p"))),
            ("p", op(Action::Pause(Pause { ms: 5 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10);
        let out = without_traces(run.start());
        assert!(matches!(
            out.as_slice(),
            [
                Command::Answer,
                Command::Voicemail {
                    id: 1,
                    max_s: 30,
                    silence_s: 2,
                    ..
                }
            ]
        ));
        assert_eq!(
            without_traces(run.handle(Input::VoicemailDone { id: 1 })),
            vec![Command::Silence { id: 2, ms: 5 }]
        );
    }
}
