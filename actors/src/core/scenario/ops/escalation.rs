//! Escalation (SPEC §3 op 18): arms the run's escalation timer and goes on at `next` at once.
//! The timer belongs to the run, not to this operation: when it fires before an employee
//! answered, [`ScenarioRun`](crate::core::scenario::ScenarioRun) abandons whatever runs then
//! ([`Command::Interrupt`]) and follows this operation's `escalated` exit. A later escalation
//! operation re-arms it; a talk disarms it.

use super::{Command, Ctx};
use vpbx_store::model::{Escalation, Event, OpName};

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &Escalation,
    out: &mut Vec<Command>,
) -> String {
    let id = ctx.id();
    out.push(Command::Timer {
        id,
        ms: op.after_s.saturating_mul(1000),
    });
    out.push(Command::Event(Event::Note(format!(
        "{name}: escalation armed: {} s without an answer by an employee",
        op.after_s
    ))));
    ctx.escalation = Some((id, name.clone(), op.after_s));
    ctx.escalation_depth = ctx.depth;
    "next".into()
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::Escalation;

    fn run() -> ScenarioRun {
        let s = scenario(vec![
            (
                "guard",
                Operation {
                    action: Action::Escalation(Escalation { after_s: 30 }),
                    exits: BTreeMap::from([
                        ("next".to_string(), OpName("wait".into())),
                        ("escalated".to_string(), OpName("head".into())),
                    ]),
                },
            ),
            ("wait", op(Action::Pause(Pause { ms: 60_000 }), None)),
            ("head", op(Action::Pause(Pause { ms: 10 }), None)),
        ]);
        ScenarioRun::new(s, 10)
    }

    fn timer(out: &[Command]) -> u64 {
        out.iter()
            .find_map(|c| match c {
                Command::Timer { id, ms: 30_000 } => Some(*id),
                _ => None,
            })
            .expect("the escalation timer")
    }

    #[test]
    fn the_timer_outlives_the_next_operation_and_interrupts_it() {
        let mut run = run();
        let out = run.start();
        let esc = timer(&out);
        // `next` at once: the pause runs (answered, silence).
        assert!(
            out.contains(&Command::Silence { id: 2, ms: 60_000 }),
            "{out:?}"
        );
        let out = run.handle(Input::TimerFired { id: esc });
        assert_eq!(out.first(), Some(&Command::Interrupt));
        assert!(out.iter().any(|c| matches!(
            c,
            Command::Event(Event::ExitTaken { op, exit }) if op == "guard" && exit == "escalated"
        )));
        assert_eq!(run.current_op(), Some("head"));
        // The abandoned pause's own end is ignored.
        assert!(without_traces(run.handle(Input::PlayDone { id: 2 })).is_empty());
    }

    #[test]
    fn a_talk_disarms_it() {
        let mut run = run();
        let esc = timer(&run.start());
        run.person_answered();
        assert!(run.handle(Input::TimerFired { id: esc }).is_empty());
        assert_eq!(run.current_op(), Some("wait"));
    }
}
