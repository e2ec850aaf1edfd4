//! List branch (SPEC §3 op 9): `in_list` when the caller's number is in the number list, else
//! `not_in_list`. Matched exactly as a routing rule's number-list filter matches
//! ([`caller_mismatch`]: masks, a leading `+` ignored on both sides); nothing is answered or
//! played. A list missing from the call's configuration takes `not_in_list`.

use super::{Command, Ctx};
use crate::core::routing::caller_mismatch;
use vpbx_store::model::{CallerFilter, Event, ListBranch, OpName};

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &ListBranch,
    out: &mut Vec<Command>,
) -> String {
    let filter = CallerFilter::NumberList { list: op.list };
    let (exit, why) = match caller_mismatch(&ctx.config, &filter, &ctx.caller) {
        None => {
            let list = ctx
                .config
                .number_list(op.list)
                .map_or_else(|| op.list.to_string(), |l| l.name.clone());
            (
                "in_list",
                format!("caller {} is in number list '{list}'", ctx.caller),
            )
        }
        Some(why) => ("not_in_list", format!("caller {}: {why}", ctx.caller)),
    };
    out.push(Command::Event(Event::Note(format!("{name}: {why}"))));
    exit.into()
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{CompanyConfig, ListKind, NumberList, NumberListId};

    fn cfg() -> Arc<CompanyConfig> {
        Arc::new(CompanyConfig {
            number_lists: vec![NumberList {
                id: NumberListId(1),
                name: "VIP".into(),
                kind: ListKind::White,
                blacklist: false,
                entries: vec!["+79161234567".into(), "7812*".into()],
            }],
            ..Default::default()
        })
    }

    fn exit_for(list: u64, caller: &str) -> (String, String, bool) {
        let s = scenario(vec![
            (
                "vip",
                Operation {
                    action: Action::ListBranch(ListBranch {
                        list: NumberListId(list),
                    }),
                    exits: BTreeMap::from([
                        ("in_list".to_string(), OpName("hi".into())),
                        ("not_in_list".to_string(), OpName("bye".into())),
                    ]),
                },
            ),
            ("hi", op(Action::Pause(Pause { ms: 10 }), None)),
            ("bye", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10).with_call(cfg(), caller);
        let out = run.start();
        let exit = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::ExitTaken { exit, .. }) => Some(exit.clone()),
                _ => None,
            })
            .unwrap();
        let note = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::Note(n)) => Some(n.clone()),
                _ => None,
            })
            .unwrap();
        (exit, note, run.is_done())
    }

    #[test]
    fn the_caller_is_matched_like_a_rule_matches_it() {
        // `+` ignored on either side; masks.
        for caller in ["79161234567", "+79161234567", "78125550000"] {
            let (exit, note, _) = exit_for(1, caller);
            assert_eq!(exit, "in_list", "{caller}");
            assert!(note.contains("is in number list 'VIP'"), "{note}");
        }
        let (exit, note, done) = exit_for(1, "79161234568");
        assert_eq!(exit, "not_in_list");
        assert!(note.contains("not in number list 'VIP'"), "{note}");
        assert!(done, "not_in_list goes straight to the hang-up");
        // A list missing from the configuration: not in it.
        assert_eq!(exit_for(7, "79161234567").0, "not_in_list");
    }

    #[test]
    fn nothing_is_answered_or_played_before_the_exit() {
        let (exit, _, done) = exit_for(1, "79161234567");
        assert_eq!(exit, "in_list");
        assert!(!done);
        let s = scenario(vec![(
            "vip",
            op(
                Action::ListBranch(ListBranch {
                    list: NumberListId(1),
                }),
                None,
            ),
        )]);
        let mut run = ScenarioRun::new(s, 10).with_call(cfg(), "1");
        let out = without_traces(run.start());
        // Only the end of the call: the unset exit leads nowhere.
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            matches!(&out[0], Command::Hangup { reason: Ending::Finished(r) } if r.contains("not_in_list"))
        );
    }
}
