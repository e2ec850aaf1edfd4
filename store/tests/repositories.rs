//! Typed repositories: CRUD, pagination, store operations, one-transaction replace, and a
//! seeded model test against BTreeMaps with a Reopen op.
#![allow(clippy::unwrap_used)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::BTreeMap;
use vpbx_store::integrity::UsedBy;
use vpbx_store::model::*;
use vpbx_store::{Page, Rejection, Store};

fn demo() -> CompanyConfig {
    vpbx_store::parse_document(include_str!("../../config/demo.yaml")).unwrap()
}

fn opened() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.replace_all(&demo()).unwrap().unwrap();
    (dir, store)
}

fn employee(id: u64, ext: &str) -> Employee {
    Employee {
        id: EmployeeId(id),
        first_name: "New".into(),
        last_name: format!("Person{id}"),
        email: None,
        extension: ext.into(),
        calls_enabled: true,
        phones: vec![],
        schedule: None,
        rating: false,
        trainer: None,
        trainer_joins_every_call: false,
        transfers_join_queue: false,
        percent_distribution: false,
    }
}

#[test]
fn snapshot_assembles_what_replace_all_wrote() {
    let (dir, store) = opened();
    let mut want = demo();
    // Snapshots list each kind in key order: numbers by their digits.
    want.numbers.sort_by(|a, b| a.number.cmp(&b.number));
    assert_eq!(store.snapshot().unwrap(), want);
    assert_eq!(store.load_config().unwrap(), Some(want.clone()));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.snapshot().unwrap(), want);
    assert_eq!(store.employees().count().unwrap(), 2);
    assert_eq!(
        store
            .numbers()
            .get(&"74950000001".to_string())
            .unwrap()
            .unwrap()
            .rules[0]
            .name,
        "Echo test"
    );
}

#[test]
fn replace_all_is_validated_and_all_or_nothing() {
    let (_dir, store) = opened();
    let before = store.snapshot().unwrap();
    let mut bad = demo();
    bad.company = "Changed".into();
    bad.employees[1].extension = "188".into();
    let Err(Rejection::Invalid(errs)) = store.replace_all(&bad).unwrap() else {
        panic!("expected invalid")
    };
    assert_eq!(errs[0].rule, "extension.no_88");
    assert_eq!(store.snapshot().unwrap(), before);
    // A valid replacement changes every tree at once, including removals.
    let mut next = demo();
    next.company = "Changed".into();
    next.employees.pop();
    next.groups[0].members.pop();
    next.numbers.pop();
    store.replace_all(&next).unwrap().unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.company, "Changed");
    assert_eq!(snap.employees.len(), 1);
    assert_eq!(snap.numbers.len(), demo().numbers.len() - 1);
}

#[test]
fn crud_with_ids_pagination_and_search() {
    let (_dir, store) = opened();
    let repo = store.employees();
    assert_eq!(repo.next_id().unwrap(), Some(EmployeeId(3)));
    let created = repo.create(employee(0, "103")).unwrap().unwrap();
    assert_eq!(created.id, EmployeeId(3));
    assert_eq!(
        repo.create(employee(3, "104")).unwrap(),
        Err(Rejection::Exists {
            kind: "employee",
            id: "3".into()
        })
    );
    let Err(Rejection::Invalid(errs)) = repo.create(employee(0, "101")).unwrap() else {
        panic!("duplicate extension accepted")
    };
    assert_eq!(errs[0].rule, "extension.unique");
    for i in 4..=9 {
        repo.create(employee(0, &format!("1{i}0")))
            .unwrap()
            .unwrap();
    }
    let page = repo
        .list(
            Page {
                offset: 2,
                limit: 3,
            },
            |_| true,
        )
        .unwrap();
    assert_eq!(page.total, 9);
    assert_eq!(
        page.items.iter().map(|e| e.id.0).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    let found = repo.search("PERSON0 NEW 17", Page::default()).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].id, EmployeeId(7));
    let only_new = repo
        .list(Page::default(), |e| e.first_name == "New")
        .unwrap();
    assert_eq!(only_new.total, 7);

    let mut e = repo.get(&EmployeeId(3)).unwrap().unwrap();
    e.email = Some("x@demo.invalid".into());
    repo.update(e.clone()).unwrap().unwrap();
    assert_eq!(repo.get(&EmployeeId(3)).unwrap(), Some(e));
    assert!(matches!(
        repo.update(employee(77, "177")).unwrap(),
        Err(Rejection::NotFound { .. })
    ));
    repo.delete(&EmployeeId(3)).unwrap().unwrap();
    assert_eq!(repo.get(&EmployeeId(3)).unwrap(), None);
}

#[test]
fn deleting_what_is_used_names_every_user() {
    let (_dir, store) = opened();
    let Err(Rejection::InUse { users, .. }) = store.scenarios().delete(&ScenarioId(1)).unwrap()
    else {
        panic!("scenario in use was deleted")
    };
    assert!(matches!(
        &users[..],
        [UsedBy::Rule {
            rule: RuleId(1),
            ..
        }]
    ));
    let Err(Rejection::InUse { users, .. }) = store.employees().delete(&EmployeeId(1)).unwrap()
    else {
        panic!("group member was deleted")
    };
    assert!(matches!(
        &users[..],
        [UsedBy::Group {
            field: "members",
            ..
        }]
    ));
    let Err(Rejection::InUse { .. }) = store.files().delete(&FileId(1)).unwrap() else {
        panic!("prompt in use was deleted")
    };
    // Unused: fine.
    store
        .delete_rule("74950000000", RuleId(3))
        .unwrap()
        .unwrap();
    store.scenarios().delete(&ScenarioId(3)).unwrap().unwrap();
}

#[test]
fn rules_reorder_and_percents_equalize() {
    let (_dir, store) = opened();
    let rule = |id, name: &str| Rule {
        id: RuleId(id),
        name: name.into(),
        schedule: None,
        callers: CallerFilter::Unknown,
        scenario: ScenarioId(2),
    };
    let n = "74951234567";
    let r = store
        .put_rule(n, rule(0, "unknown"), None)
        .unwrap()
        .unwrap();
    let highest = demo()
        .numbers
        .iter()
        .flat_map(|n| n.rules.iter().map(|r| r.id.0))
        .max()
        .unwrap_or(0);
    assert_eq!(r.id, RuleId(highest + 1));
    store
        .put_rule(n, rule(0, "first"), Some(0))
        .unwrap()
        .unwrap();
    let ids = |s: &Store| -> Vec<u64> {
        s.numbers()
            .get(&n.to_string())
            .unwrap()
            .unwrap()
            .rules
            .iter()
            .map(|r| r.id.0)
            .collect()
    };
    let (a, b) = (highest + 1, highest + 2);
    assert_eq!(ids(&store), [b, 1, a]);
    store
        .reorder_rules(n, &[RuleId(a), RuleId(b), RuleId(1)])
        .unwrap()
        .unwrap();
    assert_eq!(ids(&store), [a, b, 1]);
    let Err(Rejection::Invalid(errs)) = store.reorder_rules(n, &[RuleId(a), RuleId(b)]).unwrap()
    else {
        panic!("partial order accepted")
    };
    assert_eq!(errs[0].rule, "rules.permutation");
    assert!(matches!(
        store.reorder_rules("000", &[]).unwrap(),
        Err(Rejection::NotFound { .. })
    ));

    let p = store.equalize_group_percents(GroupId(1)).unwrap().unwrap();
    assert_eq!(
        p,
        BTreeMap::from([(EmployeeId(1), 50), (EmployeeId(2), 50)])
    );
    let mut g = store.groups().get(&GroupId(1)).unwrap().unwrap();
    assert_eq!(g.percents, p);
    g.percent_distribution = true;
    store.groups().update(g).unwrap().unwrap();
    // Adding a third member breaks the 100 % sum until percents are equalized again.
    store
        .employees()
        .create(employee(3, "103"))
        .unwrap()
        .unwrap();
    let mut g = store.groups().get(&GroupId(1)).unwrap().unwrap();
    g.members.push(EmployeeId(3));
    g.percents.insert(EmployeeId(3), 10);
    assert!(matches!(
        store.groups().update(g.clone()).unwrap(),
        Err(Rejection::Invalid(_))
    ));
    g.percents.insert(EmployeeId(3), 0);
    store.groups().update(g).unwrap().unwrap();
    let p = store.equalize_group_percents(GroupId(1)).unwrap().unwrap();
    assert_eq!(p.values().copied().collect::<Vec<_>>(), [34, 33, 33]);
}

#[test]
fn settings_are_validated_against_the_directory() {
    let (_dir, store) = opened();
    let mut s = store.settings().unwrap();
    assert_eq!(s.company, "Demo Company");
    s.settings.extension_length = Some(4);
    let Err(Rejection::Invalid(errs)) = store.set_settings(s.clone()).unwrap() else {
        panic!("extension length change accepted while extensions have 3 digits")
    };
    assert!(errs.iter().all(|e| e.rule == "extension.fixed_length"));
    assert_eq!(errs.len(), 3);
    s.settings.extension_length = None;
    s.time_zone = "Europe/Berlin".into();
    store.set_settings(s.clone()).unwrap().unwrap();
    assert_eq!(store.settings().unwrap(), s);
}

#[test]
fn calendars_and_numbers_use_natural_keys() {
    let (_dir, store) = opened();
    for year in [2027, 2025, 2026] {
        store
            .calendars()
            .create(ProductionCalendar {
                year,
                holidays: vec![Date::new(year, 1, 1).unwrap()],
                ..Default::default()
            })
            .unwrap()
            .unwrap();
    }
    let years: Vec<i32> = store
        .calendars()
        .list(Page::default(), |_| true)
        .unwrap()
        .items
        .iter()
        .map(|c| c.year)
        .collect();
    assert_eq!(years, [2025, 2026, 2027]);
    assert_eq!(store.calendars().next_id().unwrap(), None);
    assert!(store
        .numbers()
        .get(&"74951234567".to_string())
        .unwrap()
        .is_some());
}

fn trunk(id: u64, name: &str, did: &str, number: &str) -> Trunk {
    Trunk {
        id: TrunkId(id),
        name: name.into(),
        enabled: true,
        host: "sip.carrier.example".into(),
        port: 5060,
        transport: TrunkTransport::Udp,
        auth: TrunkAuth::Registration {
            username: "acme".into(),
            password: "secret".into(),
            expires_s: 300,
            realm: Some("carrier".into()),
        },
        dids: vec![DidMapping {
            did: did.into(),
            number: number.into(),
        }],
        outbound: true,
        prefixes: vec![],
        number_format: NumberFormat::Plus,
        max_channels: None,
        response_timeout_s: 5,
    }
}

#[test]
fn trunks_are_stored_validated_and_keep_their_numbers() {
    let (dir, store) = opened();
    let repo = store.trunks();
    assert_eq!(repo.next_id().unwrap(), Some(TrunkId(1)));
    let created = repo
        .create(trunk(0, "Carrier", "4951234567", "74951234567"))
        .unwrap()
        .unwrap();
    assert_eq!(created.id, TrunkId(1));
    let Err(Rejection::Invalid(errs)) = repo
        .create(trunk(0, "Backup", "4951234567", "74950000001"))
        .unwrap()
    else {
        panic!("duplicate DID accepted")
    };
    assert_eq!(
        (errs[0].rule, errs[0].field.as_str()),
        ("trunk.did_unique", "dids[0].did")
    );
    repo.create(trunk(0, "Backup", "4950000001", "74950000001"))
        .unwrap()
        .unwrap();
    assert_eq!(repo.search("backup", Page::default()).unwrap().total, 1);

    // A virtual number used by a DID mapping or a line's caller id cannot go.
    let Err(Rejection::InUse { users, .. }) =
        store.numbers().delete(&"74951234567".to_string()).unwrap()
    else {
        panic!("a number a trunk delivers to was deleted")
    };
    assert!(
        matches!(&users[..], [UsedBy::Trunk { trunk: TrunkId(1), did, .. }] if did == "4951234567"),
        "{users:?}"
    );
    let mut e = store.employees().get(&EmployeeId(1)).unwrap().unwrap();
    let Some(Phone::SipLine(l)) = e.phones.first_mut() else {
        panic!("the demo's first phone is a SIP line")
    };
    l.outbound_caller_id = Some("74950000000".into());
    store.employees().update(e).unwrap().unwrap();
    let Err(Rejection::InUse { users, .. }) =
        store.numbers().delete(&"74950000000".to_string()).unwrap()
    else {
        panic!("a line's caller id was deleted")
    };
    assert!(
        matches!(
            &users[..],
            [UsedBy::SipLine {
                field: "outbound_caller_id",
                ..
            }]
        ),
        "{users:?}"
    );

    // Persisted in their own tree, and in the snapshot.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.trunks.len(), 2);
    assert_eq!(snap.trunks[0], created);
    assert_eq!(
        snap.trunk_for_did("4950000001")
            .map(|(t, _)| t.name.as_str()),
        Some("Backup")
    );
    store.trunks().delete(&TrunkId(1)).unwrap().unwrap();
    store
        .numbers()
        .delete(&"74951234567".to_string())
        .unwrap()
        .unwrap();
    assert_eq!(store.trunks().count().unwrap(), 1);
}

// ---- model test -------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Model {
    tags: BTreeMap<u64, String>,
    groups: BTreeMap<u64, String>,
    /// contact id → (name, contact group ids)
    contacts: BTreeMap<u64, (String, Vec<u64>)>,
}

fn check(store: &Store, model: &Model) {
    let snap = store.snapshot().unwrap();
    let tags: BTreeMap<u64, String> = snap.tags.iter().map(|t| (t.id.0, t.name.clone())).collect();
    assert_eq!(tags, model.tags);
    let groups: BTreeMap<u64, String> = snap
        .contact_groups
        .iter()
        .map(|g| (g.id.0, g.name.clone()))
        .collect();
    assert_eq!(groups, model.groups);
    let contacts: BTreeMap<u64, (String, Vec<u64>)> = snap
        .contacts
        .iter()
        .map(|c| {
            (
                c.id.0,
                (c.last_name.clone(), c.groups.iter().map(|g| g.0).collect()),
            )
        })
        .collect();
    assert_eq!(contacts, model.contacts);
    // Single gets agree with the snapshot.
    for (id, name) in &model.tags {
        assert_eq!(store.tags().get(&TagId(*id)).unwrap().unwrap().name, *name);
    }
    assert_eq!(store.tags().count().unwrap(), model.tags.len());
}

fn contact(id: u64, name: &str, groups: &[u64]) -> Contact {
    Contact {
        id: ContactId(id),
        last_name: name.into(),
        first_name: String::new(),
        email: None,
        phones: vec![],
        organisation: None,
        groups: groups.iter().map(|g| ContactGroupId(*g)).collect(),
        manager: None,
        tags: vec![],
    }
}

#[test]
fn repositories_match_a_btreemap_model_across_reopens() {
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let mut store = Some(Store::open(dir.path()).unwrap());
        let mut model = Model::default();
        for step in 0..120 {
            let s = store.as_ref().unwrap();
            let id = rng.gen_range(1..8u64);
            let name = format!("n{seed}-{step}");
            match rng.gen_range(0..9) {
                0 => {
                    let r = s
                        .tags()
                        .create(Tag {
                            id: TagId(id),
                            name: name.clone(),
                        })
                        .unwrap();
                    match model.tags.entry(id) {
                        std::collections::btree_map::Entry::Occupied(_) => {
                            assert!(matches!(r, Err(Rejection::Exists { .. })));
                        }
                        std::collections::btree_map::Entry::Vacant(v) => {
                            r.unwrap();
                            v.insert(name);
                        }
                    }
                }
                1 => {
                    let r = s
                        .tags()
                        .update(Tag {
                            id: TagId(id),
                            name: name.clone(),
                        })
                        .unwrap();
                    if let std::collections::btree_map::Entry::Occupied(mut e) =
                        model.tags.entry(id)
                    {
                        r.unwrap();
                        e.insert(name);
                    } else {
                        assert!(matches!(r, Err(Rejection::NotFound { .. })));
                    }
                }
                2 => {
                    let r = s.tags().delete(&TagId(id)).unwrap();
                    assert_eq!(r.is_ok(), model.tags.remove(&id).is_some());
                }
                3 => {
                    let r = s
                        .contact_groups()
                        .create(ContactGroup {
                            id: ContactGroupId(0),
                            name: name.clone(),
                        })
                        .unwrap()
                        .unwrap();
                    let want = model.groups.keys().max().map_or(1, |m| m + 1);
                    assert_eq!(r.id.0, want);
                    model.groups.insert(want, name);
                }
                4 => {
                    let r = s.contact_groups().delete(&ContactGroupId(id)).unwrap();
                    let used = model.contacts.values().any(|(_, g)| g.contains(&id));
                    match (model.groups.contains_key(&id), used) {
                        (false, _) => assert!(matches!(r, Err(Rejection::NotFound { .. }))),
                        (true, true) => assert!(matches!(r, Err(Rejection::InUse { .. }))),
                        (true, false) => {
                            r.unwrap();
                            model.groups.remove(&id);
                        }
                    }
                }
                5 => {
                    let group = rng.gen_range(1..8u64);
                    let r = s.contacts().create(contact(0, &name, &[group])).unwrap();
                    if model.groups.contains_key(&group) {
                        let c = r.unwrap();
                        model.contacts.insert(c.id.0, (name, vec![group]));
                    } else {
                        let Err(Rejection::Invalid(errs)) = r else {
                            panic!("dangling group")
                        };
                        assert_eq!(errs[0].rule, "ref.contact_group");
                    }
                }
                6 => {
                    let r = s.contacts().delete(&ContactId(id)).unwrap();
                    assert_eq!(r.is_ok(), model.contacts.remove(&id).is_some());
                }
                7 => {
                    // Reopen: drop every handle, open again.
                    drop(store.take());
                    store = Some(reopen(dir.path()));
                }
                _ => {
                    // Replace everything from the model's own view (one transaction).
                    let mut cfg = s.snapshot().unwrap();
                    cfg.tags.retain(|t| t.id.0 % 2 == 0);
                    model.tags.retain(|id, _| id % 2 == 0);
                    s.replace_all(&cfg).unwrap().unwrap();
                }
            }
            check(store.as_ref().unwrap(), &model);
        }
    }
}

/// Reopens a store in the same process. sled's background flusher can hold the file lock for a
/// moment after the last handle is dropped, so retry briefly (a restart is a new process and
/// never sees this).
fn reopen(path: &std::path::Path) -> Store {
    let mut last = None;
    for _ in 0..100 {
        match Store::open(path) {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("store did not reopen: {last:?}");
}

#[test]
fn ids_near_2_pow_64_are_refused_and_creates_keep_working() {
    let (_dir, store) = opened();
    for id in [u64::MAX, vpbx_store::validate::MAX_ID + 1] {
        match store.employees().create(employee(id, "150")).unwrap() {
            Err(Rejection::Invalid(errors)) => {
                assert!(
                    errors
                        .iter()
                        .any(|e| e.rule == "id.range" && e.field == "id"),
                    "{errors:?}"
                );
            }
            other => panic!("id {id}: {other:?}"),
        }
    }
    // The largest id in range is accepted, and the next create still gets an id.
    let top = store
        .employees()
        .create(employee(vpbx_store::validate::MAX_ID, "151"))
        .unwrap()
        .unwrap();
    assert_eq!(top.id.0, vpbx_store::validate::MAX_ID);
    let next = store
        .employees()
        .create(employee(0, "152"))
        .unwrap()
        .unwrap();
    assert!(next.id.0 >= 1 && next.id.0 < vpbx_store::validate::MAX_ID);
    let again = store
        .employees()
        .create(employee(0, "153"))
        .unwrap()
        .unwrap();
    assert_ne!(again.id, next.id);
}
