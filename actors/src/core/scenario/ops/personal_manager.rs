//! Personal manager (SPEC §3 op 5): the employee set as `manager` on the address-book contact
//! that has the caller's number rings (the call core rings their phones as a forward to that
//! employee would, for at most `timeout_s`); `answered` after the talk, `forward_failed` when
//! there is no such contact or manager, or the manager did not answer. The call detail says
//! which contact and manager were found, or why none.

use super::{forward::forward_done, Command, Ctx, Input, OpState, Step};
use crate::core::forward::ForwardOutcome;
use vpbx_store::model::{Event, Forward, ForwardTarget, OpName, PersonalManager, RingMode};

/// What entering the operation decided: ring the manager, or fail at once.
pub(super) enum Entered {
    Ring(OpState),
    Failed,
}

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &PersonalManager,
    out: &mut Vec<Command>,
) -> Entered {
    let found = ctx
        .config
        .contacts_with_phone(&ctx.caller)
        .find_map(|c| c.manager.map(|m| (c, m)));
    let Some((contact, manager)) = found else {
        out.push(Command::Event(Event::Note(format!(
            "{name}: caller {} has no personal manager in the address book",
            ctx.caller
        ))));
        return Entered::Failed;
    };
    let Some(employee) = ctx.config.employee(manager) else {
        out.push(Command::Event(Event::Note(format!(
            "{name}: the personal manager of contact {} (employee {manager}) no longer exists",
            contact.id
        ))));
        return Entered::Failed;
    };
    out.push(Command::Event(Event::Note(format!(
        "{name}: contact {} {} → personal manager {} {} ({})",
        contact.first_name,
        contact.last_name,
        employee.first_name,
        employee.last_name,
        employee.extension
    ))));
    let id = ctx.id();
    out.push(Command::Forward {
        id,
        forward: Forward {
            operator_hint: None,
            targets: vec![ForwardTarget::Employee { id: manager }],
            mode: RingMode::Sequential,
            max_wait_s: Some(op.timeout_s),
            ringback: op.ringback.clone(),
            present_virtual_number: false,
            strategy: None,
            queue: None,
            wrap_up_s: 0,
            not_answered: None,
        },
    });
    Entered::Ring(OpState::Waiting(id))
}

pub(super) fn handle(ctx: &mut Ctx, id: u64, input: Input) -> Step {
    match input {
        Input::ForwardDone { id: i, outcome } if i == id => {
            forward_done(ctx, outcome);
            Step::Exit(
                if outcome == ForwardOutcome::Answered {
                    "answered"
                } else {
                    "forward_failed"
                }
                .into(),
            )
        }
        _ => Step::Stay,
    }
}

#[cfg(test)]
mod tests {
    use crate::core::forward::ForwardOutcome;
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{
        CompanyConfig, Contact, ContactId, Employee, EmployeeId, PersonalManager,
    };

    fn cfg(manager: Option<u64>) -> Arc<CompanyConfig> {
        Arc::new(CompanyConfig {
            employees: vec![Employee {
                id: EmployeeId(7),
                first_name: "Olga".into(),
                last_name: "Smirnova".into(),
                email: None,
                extension: "107".into(),
                calls_enabled: true,
                phones: vec![],
                schedule: None,
                rating: false,
                trainer: None,
                trainer_joins_every_call: false,
                percent_distribution: false,
                transfers_join_queue: false,
            }],
            contacts: vec![Contact {
                id: ContactId(3),
                last_name: "Client".into(),
                first_name: "Ivan".into(),
                email: None,
                phones: vec!["+79161234567".into()],
                organisation: None,
                groups: vec![],
                manager: manager.map(EmployeeId),
                tags: vec![],
            }],
            ..Default::default()
        })
    }

    fn started(manager: Option<u64>, caller: &str) -> (ScenarioRun, Vec<Command>) {
        let s = scenario(vec![
            (
                "pm",
                Operation {
                    action: Action::PersonalManager(PersonalManager {
                        timeout_s: 15,
                        ringback: None,
                    }),
                    exits: BTreeMap::from([
                        ("answered".to_string(), OpName("bye".into())),
                        ("forward_failed".to_string(), OpName("vm".into())),
                    ]),
                },
            ),
            ("vm", op(Action::Pause(Pause { ms: 10 }), None)),
            ("bye", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10).with_call(cfg(manager), caller);
        let out = run.start();
        (run, out)
    }

    fn exit(out: &[Command]) -> Option<String> {
        out.iter().find_map(|c| match c {
            Command::Event(Event::ExitTaken { exit, .. }) => Some(exit.clone()),
            _ => None,
        })
    }

    #[test]
    fn the_managers_phones_ring_for_the_timeout_and_the_talk_exits_answered() {
        let (mut run, out) = started(Some(7), "79161234567");
        let fwd = out
            .iter()
            .find_map(|c| match c {
                Command::Forward { id, forward } => Some((*id, forward.clone())),
                _ => None,
            })
            .expect("the manager rings");
        assert_eq!(
            fwd.1.targets,
            vec![ForwardTarget::Employee { id: EmployeeId(7) }]
        );
        assert_eq!(fwd.1.max_wait_s, Some(15));
        let out = run.handle(Input::ForwardDone {
            id: fwd.0,
            outcome: ForwardOutcome::Answered,
        });
        assert_eq!(exit(&out).as_deref(), Some("answered"));
    }

    #[test]
    fn no_answer_no_manager_or_an_unknown_caller_take_forward_failed() {
        let (mut run, out) = started(Some(7), "+79161234567");
        let id = out
            .iter()
            .find_map(|c| match c {
                Command::Forward { id, .. } => Some(*id),
                _ => None,
            })
            .unwrap();
        let out = run.handle(Input::ForwardDone {
            id,
            outcome: ForwardOutcome::NoAnswer,
        });
        assert_eq!(exit(&out).as_deref(), Some("forward_failed"));
        for (manager, caller) in [
            (None, "79161234567"),
            (Some(7), "79990000000"),
            (Some(9), "79161234567"),
        ] {
            let (_, out) = started(manager, caller);
            assert_eq!(
                exit(&out).as_deref(),
                Some("forward_failed"),
                "{manager:?} {caller}"
            );
            assert!(!out.iter().any(|c| matches!(c, Command::Forward { .. })));
        }
    }
}
