//! Scenario operations: one struct each, refusing unknown fields; validation and referential
//! integrity read what each operation answers (`exits()`, `refs()`), so the prompt files of
//! `forward.ringback` and `voicemail.prompt` are checked and counted like an info message's.
#![allow(clippy::unwrap_used)]

use vpbx_store::integrity::{users_of, EntityRef, UsedBy};
use vpbx_store::model::*;
use vpbx_store::validate::{scenario_warnings, validate_config};

fn demo() -> CompanyConfig {
    vpbx_store::parse_document(include_str!("../../config/demo.yaml")).unwrap()
}

fn action(json: &str) -> Result<Action, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// A scenario from YAML operations, added to the demo as scenario 9.
fn with_scenario(start: &str, operations: &str) -> CompanyConfig {
    let mut cfg = demo();
    let sc: Scenario = serde_yaml::from_str(&format!(
        "id: 9\nname: Test\nstart: {start}\noperations:\n{operations}"
    ))
    .unwrap();
    cfg.scenarios.push(sc);
    cfg
}

#[test]
fn every_operation_refuses_unknown_fields() {
    for json in [
        r#"{"kind":"voicemail","max_sec":60}"#,
        r#"{"kind":"info_message","prompt":{"kind":"file","id":1},"loud":true}"#,
        r#"{"kind":"ring","ms":10,"x":1}"#,
        r#"{"kind":"pause","ms":10,"x":1}"#,
        r#"{"kind":"echo","max_s":10,"x":1}"#,
        r#"{"kind":"forward","targets":[],"max_wait":5}"#,
        r#"{"kind":"hang_up","x":1}"#,
        r#"{"kind":"schedule_branch","schedule":1,"x":1}"#,
        r#"{"kind":"list_branch","list":1,"x":1}"#,
        r#"{"kind":"voicemail","prompt":{"kind":"text","text":"hi","speed":2}}"#,
    ] {
        let err = action(json).unwrap_err();
        assert!(err.contains("unknown field"), "{json}: {err}");
    }
    let err = action(r#"{"kind":"voicemail","max_sec":60}"#).unwrap_err();
    assert!(
        err.contains("`max_sec`") && err.contains("`max_s`"),
        "{err}"
    );
    // Known fields, in any order, still read (the tag need not come first).
    let vm = action(r#"{"max_s":60,"kind":"voicemail"}"#).unwrap();
    assert!(matches!(
        vm,
        Action::Voicemail(Voicemail {
            max_s: 60,
            silence_s: 5,
            ..
        })
    ));
    assert_eq!(
        action(r#"{"kind":"hang_up"}"#).unwrap(),
        Action::HangUp(HangUp {})
    );
    // YAML (documents) goes through the same structs.
    let e = serde_yaml::from_str::<Action>("{ kind: echo, max_s: 3, maxs: 4 }").unwrap_err();
    assert!(e.to_string().contains("unknown field `maxs`"), "{e}");
}

#[test]
fn the_serialized_shape_is_the_one_stored_before() {
    // Each operation exactly as the enum of struct variants wrote it (field order included),
    // with the forward settings added since (SPEC §4.2, §4.3) written at their defaults:
    // stored records and exported documents read back and write out unchanged.
    for json in [
        r#"{"kind":"info_message","prompt":{"kind":"file","id":1}}"#,
        r#"{"kind":"info_message","prompt":{"kind":"text","text":"Hi","voice":"en"}}"#,
        r#"{"kind":"ring","ms":3000}"#,
        r#"{"kind":"pause","ms":500}"#,
        r#"{"kind":"echo","max_s":300}"#,
        r#"{"kind":"voicemail","prompt":null,"max_s":120,"silence_s":5,"email":null}"#,
        r#"{"kind":"voicemail","prompt":{"kind":"file","id":2},"max_s":60,"silence_s":0,"email":"a@b.example"}"#,
        r#"{"kind":"forward","targets":[{"kind":"employee","id":1},{"kind":"group","id":1},{"kind":"external","number":"79161234567","timeout_s":null},{"kind":"sip_uri","uri":"a@b.example","timeout_s":30}],"mode":"simultaneous","max_wait_s":40,"ringback":{"kind":"file","id":1},"present_virtual_number":true,"strategy":null,"queue":null,"wrap_up_s":0,"operator_hint":null,"not_answered":null}"#,
        r##"{"kind":"forward","targets":[{"kind":"group","id":1}],"mode":"sequential","max_wait_s":null,"ringback":null,"present_virtual_number":false,"strategy":{"kind":"by_priority","priorities":{"1":1,"2":2},"attempts":2,"attempt_s":15},"queue":{"announce":true,"callback_key":"#"},"wrap_up_s":30,"operator_hint":null,"not_answered":null}"##,
        r#"{"kind":"forward","targets":[{"kind":"group","id":1}],"mode":"sequential","max_wait_s":null,"ringback":null,"present_virtual_number":false,"strategy":{"kind":"strictly_in_turn"},"queue":{"announce":false,"callback_key":null},"wrap_up_s":0,"operator_hint":null,"not_answered":null}"#,
        r#"{"kind":"hang_up"}"#,
        r#"{"kind":"schedule_branch","schedule":1}"#,
        r#"{"kind":"list_branch","list":2,"contact_group":null,"tag":null}"#,
    ] {
        let a = action(json).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), json);
        assert!(
            json.starts_with(&format!(r#"{{"kind":"{}""#, a.kind())),
            "{json}"
        );
    }
}

#[test]
fn exits_and_refs_are_what_each_operation_answers() {
    let fwd = action(
        r#"{"kind":"forward","targets":[{"kind":"external","number":"79161234567"},{"kind":"employee","id":2},{"kind":"group","id":1}],"ringback":{"kind":"file","id":7}}"#,
    )
    .unwrap();
    assert_eq!(fwd.exits(), ["answered", "no_answer", "busy"]);
    let refs: Vec<(String, Ref)> = fwd
        .refs()
        .into_iter()
        .map(|r| (r.field, r.target))
        .collect();
    assert_eq!(
        refs,
        [
            ("targets[1].id".to_owned(), Ref::Employee(EmployeeId(2))),
            ("targets[2].id".to_owned(), Ref::Group(GroupId(1))),
            ("ringback.id".to_owned(), Ref::File(FileId(7))),
        ]
    );
    let vm = action(r#"{"kind":"voicemail","prompt":{"kind":"file","id":3}}"#).unwrap();
    assert_eq!(vm.exits(), ["next"]);
    assert_eq!(vm.refs()[0].field, "prompt.id");
    assert!(action(r#"{"kind":"voicemail"}"#).unwrap().refs().is_empty());
    assert!(action(r#"{"kind":"hang_up"}"#).unwrap().exits().is_empty());
}

#[test]
fn ringback_and_voicemail_prompt_files_must_exist() {
    let cfg = with_scenario(
        "f",
        "  f:\n    action: { kind: forward, targets: [ { kind: employee, id: 1 } ], ringback: { kind: file, id: 42 } }\n    exits: { no_answer: vm, busy: vm, answered: vm }\n  vm:\n    action: { kind: voicemail, prompt: { kind: file, id: 43 } }\n    exits: { next: bye }\n  bye:\n    action: { kind: hang_up }\n",
    );
    let errors = validate_config(&cfg);
    let at = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| (e.rule, e.message.clone()))
    };
    assert_eq!(
        at("scenarios[4].operations.f.action.ringback.id"),
        Some(("ref.file", "file 42 does not exist".into())),
        "{errors:?}"
    );
    assert_eq!(
        at("scenarios[4].operations.vm.action.prompt.id"),
        Some(("ref.file", "file 43 does not exist".into())),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn ringback_and_voicemail_prompt_files_are_in_use() {
    let cfg = with_scenario(
        "f",
        "  f:\n    action: { kind: forward, targets: [ { kind: employee, id: 1 } ], ringback: { kind: file, id: 1 } }\n    exits: { no_answer: vm }\n  vm:\n    action: { kind: voicemail, prompt: { kind: file, id: 1 } }\n",
    );
    let users = users_of(&cfg, &EntityRef::File(FileId(1)));
    let ops: Vec<(ScenarioId, &str)> = users
        .iter()
        .map(|u| match u {
            UsedBy::ScenarioOperation {
                scenario,
                operation,
                ..
            } => (*scenario, operation.0.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ops,
        [
            (ScenarioId(1), "greeting"),
            (ScenarioId(9), "f"),
            (ScenarioId(9), "vm")
        ]
    );
    // The forward's employee is in use by the same operation.
    assert!(users_of(&cfg, &EntityRef::Employee(EmployeeId(1)))
        .iter()
        .any(|u| matches!(
            u,
            UsedBy::ScenarioOperation {
                scenario: ScenarioId(9),
                ..
            }
        )));
}

#[test]
fn graph_errors_name_the_field() {
    let cfg = with_scenario(
        "nowhere",
        "  a:\n    action: { kind: pause, ms: 10 }\n    exits: { next: missing, busy: a }\n  bye:\n    action: { kind: hang_up }\n    exits: { next: a }\n",
    );
    let errors: Vec<(String, &str)> = validate_config(&cfg)
        .into_iter()
        .map(|e| (e.field, e.rule))
        .collect();
    let p = "scenarios[4]";
    for field in [
        format!("{p}.start"),
        format!("{p}.operations.a.exits.next"),
        format!("{p}.operations.a.exits.busy"),
        format!("{p}.operations.bye.exits.next"),
    ] {
        assert!(
            errors.contains(&(field.clone(), "scenario.graph")),
            "{field} in {errors:?}"
        );
    }
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[test]
fn unset_exits_unreachable_operations_and_endless_loops_are_warnings() {
    let cfg = with_scenario(
        "a",
        "  a:\n    action: { kind: forward, targets: [ { kind: employee, id: 1 } ] }\n    exits: { busy: loop1, no_answer: bye, answered: bye }\n  loop1:\n    action: { kind: pause, ms: 10 }\n    exits: { next: loop2 }\n  loop2:\n    action: { kind: ring, ms: 10 }\n    exits: { next: loop1 }\n  bye:\n    action: { kind: hang_up }\n  orphan:\n    action: { kind: echo, max_s: 3 }\n",
    );
    assert_eq!(validate_config(&cfg), vec![], "warnings never refuse");
    let warnings: Vec<(String, &str)> = scenario_warnings(&cfg)
        .into_iter()
        .map(|e| (e.field, e.rule))
        .collect();
    let p = "scenarios[4].operations";
    assert_eq!(
        warnings,
        [
            (format!("{p}.orphan.exits.next"), "scenario.exit_unset"),
            (format!("{p}.orphan"), "scenario.unreachable"),
            (format!("{p}.loop1"), "scenario.loop"),
            (format!("{p}.loop2"), "scenario.loop"),
        ]
    );
    assert!(scenario_warnings(&demo()).is_empty());
}

#[test]
fn branches_name_their_schedule_and_list_which_must_exist_and_are_in_use() {
    let ops = "  hours:\n    action: { kind: schedule_branch, schedule: 7 }\n    exits: { in: vip, out: bye }\n  vip:\n    action: { kind: list_branch, list: 3 }\n    exits: { in_list: bye, not_in_list: bye }\n  bye:\n    action: { kind: hang_up }\n";
    let cfg = with_scenario("hours", ops);
    let errors = validate_config(&cfg);
    let at = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| (e.rule, e.message.clone()))
    };
    let p = format!("scenarios[{}].operations", cfg.scenarios.len() - 1);
    assert_eq!(
        at(&format!("{p}.hours.action.schedule")),
        Some(("ref.schedule", "schedule 7 does not exist".into())),
        "{errors:?}"
    );
    assert_eq!(
        at(&format!("{p}.vip.action.list")),
        Some(("ref.number_list", "number list 3 does not exist".into())),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    // With both defined the scenario is valid, every exit set, and both are in use by it.
    let mut cfg = cfg;
    cfg.schedules
        .push(serde_yaml::from_str("id: 7\nname: Office\ndays: { kind: always }\n").unwrap());
    cfg.number_lists
        .push(serde_yaml::from_str("id: 3\nname: VIP\nentries: ['7916*']\n").unwrap());
    assert!(
        validate_config(&cfg).is_empty(),
        "{:?}",
        validate_config(&cfg)
    );
    assert!(
        scenario_warnings(&cfg).is_empty(),
        "{:?}",
        scenario_warnings(&cfg)
    );
    for what in [
        EntityRef::Schedule(ScheduleId(7)),
        EntityRef::NumberList(NumberListId(3)),
    ] {
        assert!(
            users_of(&cfg, &what)
                .iter()
                .any(|u| matches!(u, UsedBy::ScenarioOperation { scenario, .. } if *scenario == ScenarioId(9))),
            "{what:?}"
        );
    }
}
