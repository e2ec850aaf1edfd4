//! Referential integrity: who uses an entity. Deleting (or disabling) an entity that is used
//! fails with the list, which the API returns as 409.
//!
//! A scenario operation uses exactly what it answers in `refs()` (employees, groups, prompt
//! files: an info message's prompt, a forward's ringback, a voicemail's prompt); nothing here
//! knows the operations one by one.
//!
//! Callback rules (SPEC §6.1) are not modelled yet; when they are, they add a [`UsedBy`] variant
//! and a branch in [`users_of`].

use crate::model::*;
use serde::Serialize;

/// An entity that can be referenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum EntityRef {
    /// An employee.
    Employee(EmployeeId),
    /// A group.
    Group(GroupId),
    /// A scenario.
    Scenario(ScenarioId),
    /// A schedule.
    Schedule(ScheduleId),
    /// A number list.
    NumberList(NumberListId),
    /// A contact.
    Contact(ContactId),
    /// A contact group.
    ContactGroup(ContactGroupId),
    /// A tag.
    Tag(TagId),
    /// A segment.
    Segment(SegmentId),
    /// A file.
    File(FileId),
    /// A virtual number (its digits).
    Number(String),
}

impl From<Ref> for EntityRef {
    fn from(r: Ref) -> Self {
        match r {
            Ref::Employee(id) => EntityRef::Employee(id),
            Ref::Group(id) => EntityRef::Group(id),
            Ref::File(id) => EntityRef::File(id),
            Ref::Schedule(id) => EntityRef::Schedule(id),
            Ref::NumberList(id) => EntityRef::NumberList(id),
            Ref::Scenario(id) => EntityRef::Scenario(id),
            Ref::Segment(id) => EntityRef::Segment(id),
            Ref::ContactGroup(id) => EntityRef::ContactGroup(id),
            Ref::Tag(id) => EntityRef::Tag(id),
        }
    }
}

/// One user of an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UsedBy {
    /// A rule of a virtual number.
    Rule {
        /// The number.
        number: String,
        /// The rule.
        rule: RuleId,
        /// Its name.
        name: String,
        /// Which field of the rule (`scenario`, `schedule`, `callers`).
        field: &'static str,
    },
    /// A scenario-level option (its greeting or ringback melody).
    ScenarioOption {
        /// The scenario.
        scenario: ScenarioId,
        /// Its name.
        name: String,
        /// The option (`greeting`, `ringback`).
        field: &'static str,
    },
    /// An operation of a scenario.
    ScenarioOperation {
        /// The scenario.
        scenario: ScenarioId,
        /// Its name.
        name: String,
        /// The operation.
        operation: OpName,
    },
    /// A group (membership, schedule, the employees its strategy names).
    Group {
        /// The group.
        group: GroupId,
        /// Its name.
        name: String,
        /// Which field (`members`, `schedule`, `strategy`).
        field: &'static str,
    },
    /// An employee (trainer, schedule).
    Employee {
        /// The employee.
        employee: EmployeeId,
        /// Last and first name.
        name: String,
        /// Which field (`trainer`, `schedule`).
        field: &'static str,
    },
    /// A contact (groups, tags, personal manager).
    Contact {
        /// The contact.
        contact: ContactId,
        /// Its name.
        name: String,
        /// Which field (`groups`, `tags`, `manager`).
        field: &'static str,
    },
    /// A segment (its contact groups, its tags).
    Segment {
        /// The segment.
        segment: SegmentId,
        /// Its name.
        name: String,
        /// Which field (`contact_groups`, `tags`).
        field: &'static str,
    },
    /// A talk option.
    TalkOption {
        /// The option.
        option: TalkOptionId,
        /// Its keys.
        keys: String,
    },
    /// A SIP trunk (a DID mapping).
    Trunk {
        /// The trunk.
        trunk: TrunkId,
        /// Its name.
        name: String,
        /// Which field (`dids`).
        field: &'static str,
        /// The DID whose mapping uses the number.
        did: String,
    },
    /// A SIP line of an employee (outbound caller id).
    SipLine {
        /// The line.
        line: SipLineId,
        /// Its login.
        login: String,
        /// The employee who owns it.
        employee: EmployeeId,
        /// Which field (`outbound_caller_id`).
        field: &'static str,
    },
}

impl std::fmt::Display for UsedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsedBy::Rule {
                number,
                rule,
                name,
                field,
            } => write!(f, "rule {rule} '{name}' on number {number} ({field})"),
            UsedBy::ScenarioOperation {
                scenario,
                name,
                operation,
            } => write!(f, "scenario {scenario} '{name}' operation {operation}"),
            UsedBy::ScenarioOption {
                scenario,
                name,
                field,
            } => write!(f, "scenario {scenario} '{name}' ({field})"),
            UsedBy::Group { group, name, field } => write!(f, "group {group} '{name}' ({field})"),
            UsedBy::Employee {
                employee,
                name,
                field,
            } => write!(f, "employee {employee} '{name}' ({field})"),
            UsedBy::Contact {
                contact,
                name,
                field,
            } => write!(f, "contact {contact} '{name}' ({field})"),
            UsedBy::Segment {
                segment,
                name,
                field,
            } => write!(f, "segment {segment} '{name}' ({field})"),
            UsedBy::TalkOption { option, keys } => write!(f, "talk option {option} '{keys}'"),
            UsedBy::Trunk {
                trunk,
                name,
                field,
                did,
            } => write!(f, "trunk {trunk} '{name}' ({field}: DID {did})"),
            UsedBy::SipLine {
                line,
                login,
                employee,
                field,
            } => write!(
                f,
                "SIP line {line} '{login}' of employee {employee} ({field})"
            ),
        }
    }
}

fn employee_name(e: &Employee) -> String {
    format!("{} {}", e.last_name, e.first_name)
        .trim()
        .to_owned()
}

fn contact_name(c: &Contact) -> String {
    format!("{} {}", c.last_name, c.first_name)
        .trim()
        .to_owned()
}

fn filter_uses(f: &CallerFilter, what: &EntityRef) -> bool {
    match (f, what) {
        (CallerFilter::Contacts { contacts }, EntityRef::Contact(id)) => contacts.contains(id),
        (CallerFilter::ContactGroups { groups }, EntityRef::ContactGroup(id)) => {
            groups.contains(id)
        }
        (CallerFilter::NumberList { list }, EntityRef::NumberList(id)) => list == id,
        _ => false,
    }
}

/// Every user of `what` in `cfg`, in document order.
pub fn users_of(cfg: &CompanyConfig, what: &EntityRef) -> Vec<UsedBy> {
    let mut out = Vec::new();
    for n in &cfg.numbers {
        for r in &n.rules {
            let mut hit = |field| {
                out.push(UsedBy::Rule {
                    number: n.number.clone(),
                    rule: r.id,
                    name: r.name.clone(),
                    field,
                })
            };
            if *what == EntityRef::Scenario(r.scenario) {
                hit("scenario");
            }
            if r.schedule.is_some_and(|s| *what == EntityRef::Schedule(s)) {
                hit("schedule");
            }
            if filter_uses(&r.callers, what) {
                hit("callers");
            }
        }
    }
    for s in &cfg.scenarios {
        for (field, id) in s.option_files() {
            if *what == EntityRef::File(id) {
                out.push(UsedBy::ScenarioOption {
                    scenario: s.id,
                    name: s.name.clone(),
                    field,
                });
            }
        }
        for (op_name, op) in &s.operations {
            let uses = op
                .action
                .refs()
                .iter()
                .any(|r| EntityRef::from(r.target) == *what);
            if uses {
                out.push(UsedBy::ScenarioOperation {
                    scenario: s.id,
                    name: s.name.clone(),
                    operation: op_name.clone(),
                });
            }
        }
    }
    for g in &cfg.groups {
        let hit = |field| UsedBy::Group {
            group: g.id,
            name: g.name.clone(),
            field,
        };
        if let EntityRef::Employee(e) = what {
            if g.members.contains(e) {
                out.push(hit("members"));
            }
            let named = g.strategy.as_ref().map(Strategy::employees);
            if named.is_some_and(|n| n.iter().any(|(_, id)| id == e)) {
                out.push(hit("strategy"));
            }
        }
        if g.schedule.is_some_and(|s| *what == EntityRef::Schedule(s)) {
            out.push(hit("schedule"));
        }
    }
    for e in &cfg.employees {
        let hit = |field| UsedBy::Employee {
            employee: e.id,
            name: employee_name(e),
            field,
        };
        if e.trainer.is_some_and(|t| *what == EntityRef::Employee(t)) {
            out.push(hit("trainer"));
        }
        if e.schedule.is_some_and(|s| *what == EntityRef::Schedule(s)) {
            out.push(hit("schedule"));
        }
    }
    for e in &cfg.employees {
        for p in &e.phones {
            if let Phone::SipLine(l) = p {
                let uses = match (&l.outbound_caller_id, what) {
                    (Some(n), EntityRef::Number(x)) => n == x,
                    _ => false,
                };
                if uses {
                    out.push(UsedBy::SipLine {
                        line: l.id,
                        login: l.login.clone(),
                        employee: e.id,
                        field: "outbound_caller_id",
                    });
                }
            }
        }
    }
    for c in &cfg.contacts {
        let hit = |field| UsedBy::Contact {
            contact: c.id,
            name: contact_name(c),
            field,
        };
        match what {
            EntityRef::ContactGroup(g) if c.groups.contains(g) => out.push(hit("groups")),
            EntityRef::Tag(t) if c.tags.contains(t) => out.push(hit("tags")),
            EntityRef::Employee(e) if c.manager == Some(*e) => out.push(hit("manager")),
            _ => {}
        }
    }
    for sg in &cfg.segments {
        let hit = |field| UsedBy::Segment {
            segment: sg.id,
            name: sg.name.clone(),
            field,
        };
        match what {
            EntityRef::ContactGroup(g) if sg.contact_groups.contains(g) => {
                out.push(hit("contact_groups"))
            }
            EntityRef::Tag(t) if sg.tags.contains(t) => out.push(hit("tags")),
            _ => {}
        }
    }
    for t in &cfg.talk_options {
        let uses = match (&t.action, what) {
            (TalkAction::RunScenario { scenario }, EntityRef::Scenario(s)) => scenario == s,
            (TalkAction::Tag { tag: Some(tag) }, EntityRef::Tag(x)) => tag == x,
            (
                TalkAction::SaveCallerId {
                    target: SaveTarget::List { list },
                },
                EntityRef::NumberList(x),
            ) => list == x,
            (
                TalkAction::SaveCallerId {
                    target: SaveTarget::ContactGroup { group },
                },
                EntityRef::ContactGroup(x),
            ) => group == x,
            _ => false,
        };
        if uses {
            out.push(UsedBy::TalkOption {
                option: t.id,
                keys: t.keys.clone(),
            });
        }
    }
    if let EntityRef::Number(number) = what {
        for t in &cfg.trunks {
            for m in t.dids.iter().filter(|m| m.number == *number) {
                out.push(UsedBy::Trunk {
                    trunk: t.id,
                    name: t.name.clone(),
                    field: "dids",
                    did: m.did.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scenario_and_file_users_are_named() {
        let cfg = crate::parse_document(include_str!("../../config/demo.yaml")).unwrap();
        let users = users_of(&cfg, &EntityRef::Scenario(ScenarioId(1)));
        assert_eq!(users.len(), 1);
        assert_eq!(
            users[0].to_string(),
            "rule 1 'All callers, always' on number 74951234567 (scenario)"
        );
        let users = users_of(&cfg, &EntityRef::File(FileId(1)));
        assert!(
            matches!(&users[..], [UsedBy::ScenarioOperation { operation, .. }] if operation.0 == "greeting")
        );
        let users = users_of(&cfg, &EntityRef::Employee(EmployeeId(2)));
        assert!(matches!(
            &users[..],
            [UsedBy::Group {
                field: "members",
                ..
            }]
        ));
        assert!(users_of(&cfg, &EntityRef::Scenario(ScenarioId(99))).is_empty());
    }

    #[test]
    fn schedules_lists_contacts_and_tags_have_users() {
        let mut cfg = crate::parse_document(include_str!("../../config/demo.yaml")).unwrap();
        cfg.numbers[0].rules[0].schedule = Some(ScheduleId(7));
        cfg.numbers[0].rules[0].callers = CallerFilter::NumberList {
            list: NumberListId(3),
        };
        cfg.employees[0].schedule = Some(ScheduleId(7));
        cfg.contacts.push(Contact {
            id: ContactId(1),
            last_name: "Client".into(),
            first_name: String::new(),
            email: None,
            phones: vec![],
            organisation: None,
            groups: vec![ContactGroupId(4)],
            manager: Some(EmployeeId(1)),
            tags: vec![TagId(5)],
        });
        cfg.talk_options.push(TalkOption {
            id: TalkOptionId(1),
            keys: "*9".into(),
            action: TalkAction::SaveCallerId {
                target: SaveTarget::List {
                    list: NumberListId(3),
                },
            },
        });
        assert_eq!(users_of(&cfg, &EntityRef::Schedule(ScheduleId(7))).len(), 2);
        assert_eq!(
            users_of(&cfg, &EntityRef::NumberList(NumberListId(3))).len(),
            2
        );
        assert_eq!(
            users_of(&cfg, &EntityRef::ContactGroup(ContactGroupId(4))).len(),
            1
        );
        assert_eq!(users_of(&cfg, &EntityRef::Tag(TagId(5))).len(), 1);
        // A segment names its contact groups and tags.
        cfg.segments.push(Segment {
            id: SegmentId(2),
            name: "VIP Moscow".into(),
            contact_groups: vec![ContactGroupId(4)],
            tags: vec![TagId(5)],
            regions: vec!["RU-MOW".into()],
        });
        let users = users_of(&cfg, &EntityRef::ContactGroup(ContactGroupId(4)));
        assert_eq!(
            users.last().map(ToString::to_string).as_deref(),
            Some("segment 2 'VIP Moscow' (contact_groups)")
        );
        let users = users_of(&cfg, &EntityRef::Tag(TagId(5)));
        assert_eq!(
            users.last().map(ToString::to_string).as_deref(),
            Some("segment 2 'VIP Moscow' (tags)")
        );
        // Employee 1: group member and personal manager.
        assert_eq!(users_of(&cfg, &EntityRef::Employee(EmployeeId(1))).len(), 2);
    }

    #[test]
    fn virtual_numbers_are_used_by_did_mappings_and_caller_ids() {
        let mut cfg = crate::parse_document(include_str!("../../config/demo.yaml")).unwrap();
        let number = EntityRef::Number("74951234567".into());
        assert!(users_of(&cfg, &number).is_empty());
        cfg.trunks.push(Trunk {
            id: TrunkId(1),
            name: "Carrier".into(),
            enabled: true,
            host: "sip.carrier.example".into(),
            port: 5060,
            transport: TrunkTransport::Udp,
            auth: TrunkAuth::Ip {
                addresses: vec!["192.0.2.0/24".into()],
            },
            dids: vec![
                DidMapping {
                    did: "4951234567".into(),
                    number: "74951234567".into(),
                },
                DidMapping {
                    did: "4950000001".into(),
                    number: "74950000001".into(),
                },
            ],
            outbound: true,
            prefixes: vec![],
            number_format: NumberFormat::International,
            max_channels: None,
            response_timeout_s: 5,
        });
        let Some(Phone::SipLine(line)) = cfg.employees[0].phones.first_mut() else {
            panic!("the demo's first employee has a SIP line first");
        };
        line.outbound_caller_id = Some("74951234567".into());
        let users = users_of(&cfg, &number);
        assert_eq!(users.len(), 2, "{users:?}");
        assert_eq!(
            users[0].to_string(),
            "SIP line 101 '101' of employee 1 (outbound_caller_id)"
        );
        assert_eq!(
            users[1].to_string(),
            "trunk 1 'Carrier' (dids: DID 4951234567)"
        );
        assert_eq!(
            users_of(&cfg, &EntityRef::Number("74950000001".into())).len(),
            1
        );
    }
}
