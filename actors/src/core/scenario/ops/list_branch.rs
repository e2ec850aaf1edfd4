//! List branch (SPEC §3 op 9): `in_list` when the caller's number is in the list, else
//! `not_in_list`. A number list is matched exactly as a routing rule's number-list filter
//! matches ([`caller_mismatch`]: masks, a leading `+` ignored on both sides); a contact group or
//! a tag holds the caller when a contact whose phone is the caller's number is in the group or
//! has the tag. Nothing is answered or played. A list, group or tag missing from the call's
//! configuration takes `not_in_list`.

use super::{Command, Ctx};
use crate::core::routing::caller_mismatch;
use vpbx_store::model::{CallerFilter, Event, ListBranch, OpName};

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &ListBranch,
    out: &mut Vec<Command>,
) -> String {
    let caller = &ctx.caller;
    let cfg = &ctx.config;
    let (exit, why) = if let Some(list) = op.list {
        let filter = CallerFilter::NumberList { list };
        match caller_mismatch(cfg, &filter, caller) {
            None => {
                let list = cfg
                    .number_list(list)
                    .map_or_else(|| list.to_string(), |l| l.name.clone());
                (
                    "in_list",
                    format!("caller {caller} is in number list '{list}'"),
                )
            }
            Some(why) => ("not_in_list", format!("caller {caller}: {why}")),
        }
    } else if let Some(group) = op.contact_group {
        let label = cfg
            .contact_groups
            .iter()
            .find(|g| g.id == group)
            .map_or_else(|| group.to_string(), |g| g.name.clone());
        match cfg
            .contacts_with_phone(caller)
            .find(|c| c.groups.contains(&group))
        {
            Some(c) => (
                "in_list",
                format!(
                    "caller {caller} is contact '{}' (id {}) of contact group '{label}'",
                    c.last_name, c.id
                ),
            ),
            None => (
                "not_in_list",
                format!("caller {caller} is no contact of contact group '{label}'"),
            ),
        }
    } else if let Some(tag) = op.tag {
        let label = cfg
            .tags
            .iter()
            .find(|t| t.id == tag)
            .map_or_else(|| tag.to_string(), |t| t.name.clone());
        match cfg
            .contacts_with_phone(caller)
            .find(|c| c.tags.contains(&tag))
        {
            Some(c) => (
                "in_list",
                format!(
                    "caller {caller} is contact '{}' (id {}) tagged '{label}'",
                    c.last_name, c.id
                ),
            ),
            None => (
                "not_in_list",
                format!("caller {caller} is no contact tagged '{label}'"),
            ),
        }
    } else {
        ("not_in_list", "no list named".to_owned())
    };
    out.push(Command::Event(Event::Note(format!("{name}: {why}"))));
    exit.into()
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{
        CompanyConfig, Contact, ContactGroup, ContactGroupId, ContactId, ListKind, NumberList,
        NumberListId, Tag, TagId,
    };

    fn cfg() -> Arc<CompanyConfig> {
        Arc::new(CompanyConfig {
            contacts: vec![Contact {
                id: ContactId(3),
                last_name: "Ivanov".into(),
                first_name: String::new(),
                email: None,
                phones: vec!["+79161234567".into()],
                organisation: None,
                groups: vec![ContactGroupId(4)],
                manager: None,
                tags: vec![TagId(5)],
            }],
            contact_groups: vec![
                ContactGroup {
                    id: ContactGroupId(4),
                    name: "Key clients".into(),
                },
                ContactGroup {
                    id: ContactGroupId(6),
                    name: "Debtors".into(),
                },
            ],
            tags: vec![Tag {
                id: TagId(5),
                name: "wholesale".into(),
            }],
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
        exit_of(ListBranch::number_list(NumberListId(list)), caller)
    }

    fn exit_of(branch: ListBranch, caller: &str) -> (String, String, bool) {
        let s = scenario(vec![
            (
                "vip",
                Operation {
                    action: Action::ListBranch(branch),
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
        let (exit, note) = exit_and_note(&out);
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
    fn contact_groups_and_tags_hold_their_contacts_phones() {
        let group = |id| ListBranch {
            list: None,
            contact_group: Some(ContactGroupId(id)),
            tag: None,
        };
        let tag = |id| ListBranch {
            list: None,
            contact_group: None,
            tag: Some(TagId(id)),
        };
        let (exit, note, _) = exit_of(group(4), "79161234567");
        assert_eq!(exit, "in_list");
        assert!(
            note.contains("is contact 'Ivanov' (id 3) of contact group 'Key clients'"),
            "{note}"
        );
        let (exit, note, _) = exit_of(group(6), "+79161234567");
        assert_eq!(exit, "not_in_list");
        assert!(
            note.contains("no contact of contact group 'Debtors'"),
            "{note}"
        );
        let (exit, note, _) = exit_of(tag(5), "+79161234567");
        assert_eq!(exit, "in_list");
        assert!(note.contains("tagged 'wholesale'"), "{note}");
        // Another number, a missing tag: not in the list.
        assert_eq!(exit_of(tag(5), "79160000000").0, "not_in_list");
        assert_eq!(exit_of(tag(9), "79161234567").0, "not_in_list");
    }

    #[test]
    fn nothing_is_answered_or_played_before_the_exit() {
        let (exit, _, done) = exit_for(1, "79161234567");
        assert_eq!(exit, "in_list");
        assert!(!done);
        let s = scenario(vec![(
            "vip",
            op(
                Action::ListBranch(ListBranch::number_list(NumberListId(1))),
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
