//! Segment branch (SPEC §3 op 12): the exit of the first listed segment the caller falls in.
//! The caller is matched to the address book as the personal manager and routing rules match
//! it ([`CompanyConfig::contacts_with_phone`]: a leading `+` ignored on both sides); a number
//! that is no contact's takes `no_segment`, a known contact in none of the listed segments takes
//! `others`. A segment holds a contact when each condition it sets holds (AND): one of its
//! contact groups, one of its tags, the caller's number in one of its regions (from the
//! numbering plan the call started with, as the region branch reads it). When several contacts
//! share the number, a segment holds the caller if it holds any of them. A segment missing from
//! the call's configuration is skipped. Nothing is answered or played; the call's events note
//! the contact and segment found, and why.

use super::{Command, Ctx};
use vpbx_numplan::Region;
use vpbx_store::model::ops::{NO_SEGMENT, OTHERS};
use vpbx_store::model::{CompanyConfig, Contact, Event, OpName, Segment, SegmentBranch};

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &SegmentBranch,
    out: &mut Vec<Command>,
) -> String {
    let (exit, why) = decide(
        &ctx.config,
        &ctx.caller,
        || ctx.registries.region_of(&ctx.caller),
        op,
    );
    out.push(Command::Event(Event::Note(format!("{name}: {why}"))));
    exit
}

/// The exit, and why, for `caller` (`region` is asked at most once, when a segment lists
/// regions).
fn decide(
    cfg: &CompanyConfig,
    caller: &str,
    region: impl FnOnce() -> Option<Region>,
    op: &SegmentBranch,
) -> (String, String) {
    let contacts: Vec<&Contact> = cfg.contacts_with_phone(caller).collect();
    let Some(first) = contacts.first() else {
        return (
            NO_SEGMENT.to_owned(),
            format!("caller {caller} is no contact of the address book"),
        );
    };
    let needs_region = op
        .segments
        .iter()
        .filter_map(|s| cfg.segment(s.segment))
        .any(|s| !s.regions.is_empty());
    let region = if needs_region { region() } else { None };
    for listed in &op.segments {
        let Some(segment) = cfg.segment(listed.segment) else {
            continue;
        };
        for contact in &contacts {
            if let Some(because) = holds(cfg, segment, contact, region.as_ref()) {
                return (
                    listed.exit.clone(),
                    format!(
                        "caller {caller} is {}, in segment '{}' (id {}) ({})",
                        described(contact),
                        segment.name,
                        segment.id,
                        because.join(", ")
                    ),
                );
            }
        }
    }
    let region = match (&region, needs_region) {
        (_, false) => String::new(),
        (Some(r), true) => format!(", region {} {}", r.code, r.name),
        (None, true) => ", region unknown".to_owned(),
    };
    let who = if contacts.len() == 1 {
        described(first)
    } else {
        let all: Vec<String> = contacts.iter().map(|c| described(c)).collect();
        all.join(" and ")
    };
    (
        OTHERS.to_owned(),
        format!("caller {caller} is {who}{region}, in none of the listed segments"),
    )
}

/// `contact 'Ivanov Ivan' (id 3)`.
fn described(c: &Contact) -> String {
    let name = format!("{} {}", c.last_name, c.first_name);
    format!("contact '{}' (id {})", name.trim(), c.id)
}

/// What puts `contact` in `segment` (one reason per condition the segment sets), or `None`
/// when a condition does not hold.
fn holds(
    cfg: &CompanyConfig,
    segment: &Segment,
    contact: &Contact,
    region: Option<&Region>,
) -> Option<Vec<String>> {
    let mut because = Vec::new();
    if !segment.contact_groups.is_empty() {
        let g = segment
            .contact_groups
            .iter()
            .find(|g| contact.groups.contains(g))?;
        let name = cfg
            .contact_groups
            .iter()
            .find(|x| x.id == *g)
            .map_or_else(|| g.to_string(), |x| x.name.clone());
        because.push(format!("contact group {name}"));
    }
    if !segment.tags.is_empty() {
        let t = segment.tags.iter().find(|t| contact.tags.contains(t))?;
        let name = cfg
            .tags
            .iter()
            .find(|x| x.id == *t)
            .map_or_else(|| t.to_string(), |x| x.name.clone());
        because.push(format!("tag {name}"));
    }
    if !segment.regions.is_empty() {
        let r = region?;
        let listed = segment
            .regions
            .iter()
            .find(|x| **x == r.code || **x == r.country)?;
        because.push(if *listed == r.code {
            format!("region {listed}")
        } else {
            format!("region {listed}: {} {}", r.code, r.name)
        });
    }
    Some(because)
}

#[cfg(test)]
mod tests {
    use crate::core::numbering::Registries;
    use crate::core::scenario::testkit::*;
    use vpbx_numplan::RangeTable;
    use vpbx_store::model::{
        CompanyConfig, Contact, ContactGroup, ContactGroupId, ContactId, Segment, SegmentBranch,
        SegmentId, Tag, TagId,
    };

    fn contact(id: u64, last_name: &str, phone: &str, groups: &[u64], tags: &[u64]) -> Contact {
        Contact {
            id: ContactId(id),
            last_name: last_name.into(),
            first_name: String::new(),
            email: None,
            phones: vec![phone.into()],
            organisation: None,
            groups: groups.iter().map(|g| ContactGroupId(*g)).collect(),
            manager: None,
            tags: tags.iter().map(|t| TagId(*t)).collect(),
        }
    }

    fn segment(id: u64, name: &str, groups: &[u64], tags: &[u64], regions: &[&str]) -> Segment {
        Segment {
            id: SegmentId(id),
            name: name.into(),
            contact_groups: groups.iter().map(|g| ContactGroupId(*g)).collect(),
            tags: tags.iter().map(|t| TagId(*t)).collect(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// VIP (group 1), Key clients (group 2); wholesale (tag 5). Segments: 3 VIP Moscow (VIP +
    /// RU-MOW), 4 Wholesale (tag), 6 Russia VIP (VIP + RU), 7 Key clients (group 2).
    fn cfg(contacts: Vec<Contact>) -> Arc<CompanyConfig> {
        Arc::new(CompanyConfig {
            contact_groups: vec![
                ContactGroup {
                    id: ContactGroupId(1),
                    name: "VIP".into(),
                },
                ContactGroup {
                    id: ContactGroupId(2),
                    name: "Key clients".into(),
                },
            ],
            tags: vec![Tag {
                id: TagId(5),
                name: "wholesale".into(),
            }],
            segments: vec![
                segment(3, "VIP Moscow", &[1], &[], &["RU-MOW"]),
                segment(4, "Wholesale", &[], &[5], &[]),
                segment(6, "Russia VIP", &[1], &[], &["RU"]),
                segment(7, "Key clients", &[2], &[], &[]),
            ],
            contacts,
            ..Default::default()
        })
    }

    /// The exit taken and the note.
    fn run(
        cfg: Arc<CompanyConfig>,
        caller: &str,
        listed: &str,
        registries: Registries,
    ) -> (String, String) {
        let branch: SegmentBranch = serde_json::from_str(listed).unwrap();
        let s = scenario(vec![
            (
                "seg",
                Operation {
                    action: Action::SegmentBranch(branch),
                    exits: BTreeMap::from([
                        ("vip_moscow".to_string(), OpName("a".into())),
                        ("wholesale".to_string(), OpName("b".into())),
                        ("vip".to_string(), OpName("a".into())),
                        ("others".to_string(), OpName("c".into())),
                        ("no_segment".to_string(), OpName("d".into())),
                    ]),
                },
            ),
            ("a", op(Action::Pause(Pause { ms: 1 }), None)),
            ("b", op(Action::Pause(Pause { ms: 2 }), None)),
            ("c", op(Action::Pause(Pause { ms: 3 }), None)),
            ("d", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10)
            .with_call(cfg, caller)
            .with_registries(Arc::new(registries));
        let out = run.start();
        let (exit, note) = exit_and_note(&out);
        // Nothing answered or played before the exit: the next operation's answer (a pause) or
        // hang-up comes first.
        let first = without_traces(out).into_iter().next();
        assert!(
            matches!(first, Some(Command::Answer) | Some(Command::Hangup { .. })),
            "{first:?}"
        );
        (exit, note)
    }

    const VIP_THEN_WHOLESALE: &str = r#"{"segments": [{"exit": "vip_moscow", "segment": 3},
                                                      {"exit": "wholesale", "segment": 4}]}"#;

    fn moscow_registry() -> Registries {
        let def = RangeTable::import(
            "Код;От;До;Емкость;Оператор;Регион\n916;0000000;9999999;10000000;МТС;г. Москва\n",
        )
        .unwrap()
        .0;
        Registries::new(vec![("DEF".into(), def)])
    }

    #[test]
    fn a_contact_group_and_a_region_both_hold() {
        let vip = cfg(vec![contact(9, "Ivanov", "79161234567", &[1], &[])]);
        let (exit, note) = run(
            vip.clone(),
            "+79161234567",
            VIP_THEN_WHOLESALE,
            moscow_registry(),
        );
        assert_eq!(exit, "vip_moscow");
        assert_eq!(
            note,
            "seg: caller +79161234567 is contact 'Ivanov' (id 9), in segment 'VIP Moscow' (id 3) \
             (contact group VIP, region RU-MOW)"
        );
        // Without the registry the mobile number is only known as Russia: not RU-MOW, so the
        // VIP is in no listed segment.
        let (exit, note) = run(
            vip.clone(),
            "79161234567",
            VIP_THEN_WHOLESALE,
            Registries::default(),
        );
        assert_eq!(exit, "others");
        assert!(
            note.ends_with("region RU Russia, in none of the listed segments"),
            "{note}"
        );
        // A country code holds every number of the country.
        let (exit, note) = run(
            vip,
            "79161234567",
            r#"{"segments": [{"exit": "vip", "segment": 6}]}"#,
            moscow_registry(),
        );
        assert_eq!(exit, "vip");
        assert!(
            note.contains("(contact group VIP, region RU: RU-MOW Moscow)"),
            "{note}"
        );
    }

    #[test]
    fn a_tag_holds_and_the_first_listed_segment_wins() {
        // In both segments: the order of the list decides.
        let both = cfg(vec![contact(9, "Ivanov", "74951234567", &[1], &[5])]);
        let (exit, note) = run(
            both.clone(),
            "74951234567",
            VIP_THEN_WHOLESALE,
            Registries::default(),
        );
        assert_eq!(exit, "vip_moscow", "{note}");
        let (exit, note) = run(
            both,
            "74951234567",
            r#"{"segments": [{"exit": "wholesale", "segment": 4}, {"exit": "vip_moscow", "segment": 3}]}"#,
            Registries::default(),
        );
        assert_eq!(exit, "wholesale");
        assert!(
            note.ends_with("in segment 'Wholesale' (id 4) (tag wholesale)"),
            "{note}"
        );
        // Only the tag: the second segment.
        let tagged = cfg(vec![contact(9, "Ivanov", "74951234567", &[], &[5])]);
        assert_eq!(
            run(
                tagged,
                "74951234567",
                VIP_THEN_WHOLESALE,
                Registries::default()
            )
            .0,
            "wholesale"
        );
    }

    #[test]
    fn conditions_combine_with_and() {
        // VIP, but a St Petersburg number: the group holds, the region does not.
        let spb = cfg(vec![contact(9, "Ivanov", "78121234567", &[1], &[])]);
        let (exit, note) = run(
            spb,
            "78121234567",
            VIP_THEN_WHOLESALE,
            Registries::default(),
        );
        assert_eq!(exit, "others");
        assert!(note.contains("region RU-SPE"), "{note}");
        // A Moscow number, not a VIP.
        let plain = cfg(vec![contact(9, "Ivanov", "74951234567", &[2], &[])]);
        let (exit, note) = run(
            plain,
            "74951234567",
            VIP_THEN_WHOLESALE,
            Registries::default(),
        );
        assert_eq!(exit, "others");
        assert_eq!(
            note,
            "seg: caller 74951234567 is contact 'Ivanov' (id 9), region RU-MOW Moscow, in none of \
             the listed segments"
        );
    }

    #[test]
    fn an_unknown_caller_takes_no_segment() {
        let c = cfg(vec![contact(9, "Ivanov", "74951234567", &[1], &[5])]);
        for caller in ["74951234568", "anonymous", ""] {
            let (exit, note) = run(c.clone(), caller, VIP_THEN_WHOLESALE, Registries::default());
            assert_eq!(exit, "no_segment", "{caller}");
            assert!(
                note.ends_with("is no contact of the address book"),
                "{note}"
            );
        }
        // A known contact with no group, tag or region in common is `others`, not `no_segment`.
        let bare = cfg(vec![contact(9, "Ivanov", "+74951234568", &[], &[])]);
        let (exit, note) = run(
            bare,
            "74951234568",
            r#"{"segments": [{"exit": "vip", "segment": 7}]}"#,
            Registries::default(),
        );
        assert_eq!(exit, "others");
        // No segment lists a region: the note does not name one.
        assert!(
            note.ends_with("(id 9), in none of the listed segments"),
            "{note}"
        );
    }

    #[test]
    fn any_contact_with_the_number_counts_and_missing_segments_are_skipped() {
        let shared = cfg(vec![
            contact(9, "Ivanov", "74951234567", &[], &[]),
            contact(10, "Petrov", "+74951234567", &[2], &[]),
        ]);
        let (exit, note) = run(
            shared.clone(),
            "74951234567",
            r#"{"segments": [{"exit": "wholesale", "segment": 99}, {"exit": "vip", "segment": 7}]}"#,
            Registries::default(),
        );
        assert_eq!(exit, "vip");
        assert!(
            note.contains("contact 'Petrov' (id 10), in segment 'Key clients'"),
            "{note}"
        );
        let (exit, note) = run(
            shared,
            "74951234567",
            VIP_THEN_WHOLESALE,
            Registries::default(),
        );
        assert_eq!(exit, "others");
        assert!(
            note.contains("contact 'Ivanov' (id 9) and contact 'Petrov' (id 10)"),
            "{note}"
        );
    }
}
