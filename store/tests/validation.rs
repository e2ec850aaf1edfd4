//! Every validation rule with a failing and a passing case.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use vpbx_store::model::*;
use vpbx_store::validate::*;

fn base() -> CompanyConfig {
    let mut cfg = vpbx_store::parse_document(include_str!("../../config/demo.yaml")).unwrap();
    cfg.schedules.push(Schedule {
        id: ScheduleId(1),
        name: "Office".into(),
        days: ScheduleKind::Weekly {
            week: BTreeMap::from([(
                Weekday::Mon,
                vec![
                    Interval::new(TimeOfDay(9 * 60), TimeOfDay(13 * 60)),
                    Interval::new(TimeOfDay(14 * 60), TimeOfDay(18 * 60)),
                ],
            )]),
        },
        period_start: None,
        period_end: None,
        use_production_calendar: true,
    });
    cfg.calendars.push(ProductionCalendar {
        year: 2026,
        holidays: vec!["2026-01-01".parse().unwrap()],
        working_days: vec!["2026-05-16".parse().unwrap()],
        shortened_days: vec![],
    });
    cfg.contact_groups.push(ContactGroup {
        id: ContactGroupId(1),
        name: "VIP".into(),
    });
    cfg.tags.push(Tag {
        id: TagId(1),
        name: "wholesale".into(),
    });
    cfg.contacts.push(Contact {
        id: ContactId(1),
        last_name: "Client".into(),
        first_name: "Carl".into(),
        email: None,
        phones: vec!["79161112233".into()],
        organisation: Some("Acme".into()),
        groups: vec![ContactGroupId(1)],
        manager: Some(EmployeeId(1)),
        tags: vec![TagId(1)],
    });
    cfg.number_lists.push(NumberList {
        id: NumberListId(1),
        name: "Blocked".into(),
        kind: ListKind::Black,
        blacklist: true,
        entries: vec!["7999*".into(), "7495???0000".into()],
    });
    cfg.talk_options.push(TalkOption {
        id: TalkOptionId(1),
        keys: "*9".into(),
        action: TalkAction::SaveCallerId {
            target: SaveTarget::List {
                list: NumberListId(1),
            },
        },
    });
    cfg.employees[0].phones.push(Phone::External {
        number: "74951234000".into(),
        dial_timeout_s: 20,
        lines: 2,
        percent: 0,
    });
    cfg.employees[0].phones.push(Phone::SipUri {
        uri: "anna@pbx.example.com:5070".into(),
        dial_timeout_s: 20,
        lines: 1,
        percent: 0,
    });
    cfg.employees[0].schedule = Some(ScheduleId(1));
    cfg.employees[1].trainer = Some(EmployeeId(1));
    cfg.employees[1].trainer_joins_every_call = true;
    cfg.numbers[0].rules[0].schedule = Some(ScheduleId(1));
    cfg.trunks.push(Trunk {
        id: TrunkId(1),
        name: "Carrier".into(),
        enabled: true,
        host: "sip.carrier.example".into(),
        port: 5060,
        transport: TrunkTransport::Udp,
        auth: TrunkAuth::Registration {
            username: "acme".into(),
            password: "secret".into(),
            expires_s: 300,
            realm: None,
        },
        dids: vec![DidMapping {
            did: "4951234567".into(),
            number: "74951234567".into(),
        }],
        outbound: true,
        prefixes: vec!["7".into()],
        number_format: NumberFormat::International,
        max_channels: Some(30),
        response_timeout_s: 5,
    });
    cfg.trunks.push(Trunk {
        id: TrunkId(2),
        name: "Backup".into(),
        enabled: true,
        host: "2001:db8::5".into(),
        port: 5080,
        transport: TrunkTransport::Tcp,
        auth: TrunkAuth::Ip {
            addresses: vec!["192.0.2.0/24".into(), "2001:db8::5".into()],
        },
        dids: vec![DidMapping {
            did: "74950000001".into(),
            number: "74950000001".into(),
        }],
        outbound: false,
        prefixes: vec![],
        number_format: NumberFormat::Plus,
        max_channels: None,
        response_timeout_s: 5,
    });
    if let Phone::SipLine(l) = &mut cfg.employees[0].phones[0] {
        l.outbound_caller_id = Some("74951234567".into());
    }
    cfg.numbers[0].rules.push(Rule {
        id: RuleId(10),
        name: "VIP".into(),
        schedule: None,
        callers: CallerFilter::ContactGroups {
            groups: vec![ContactGroupId(1)],
        },
        scenario: ScenarioId(2),
    });
    cfg
}

/// `mutate` must produce exactly one error with `rule` at `field`.
fn fails(rule: &str, field: &str, mutate: impl FnOnce(&mut CompanyConfig)) {
    let mut cfg = base();
    mutate(&mut cfg);
    let errs = validate_config(&cfg);
    assert!(
        errs.iter().any(|e| e.rule == rule && e.field == field),
        "expected {rule} at {field}, got {errs:#?}"
    );
}

/// `mutate` keeps the configuration valid.
fn passes(mutate: impl FnOnce(&mut CompanyConfig)) {
    let mut cfg = base();
    mutate(&mut cfg);
    let errs = validate_config(&cfg);
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn base_and_demo_are_valid() {
    passes(|_| {});
    let demo = vpbx_store::parse_document(include_str!("../../config/demo.yaml")).unwrap();
    assert_eq!(validate_config(&demo), vec![]);
}

#[test]
fn extension_rules() {
    let free = BoxSettings {
        extension_length: None,
        mobile_line_mode: false,
    };
    let rules = |e: &str, s: &BoxSettings| -> Vec<&'static str> {
        extension_violations(e, s)
            .into_iter()
            .map(|v| v.rule)
            .collect()
    };
    assert_eq!(rules("1a", &free), ["extension.digits"]);
    assert_eq!(rules("", &free), ["extension.digits"]);
    assert_eq!(rules("123456", &free), ["extension.max_5"]);
    assert_eq!(rules("012", &free), ["extension.no_leading_0"]);
    assert_eq!(rules("1889", &free), ["extension.no_88"]);
    assert_eq!(rules("88", &free), ["extension.no_88"]);
    for ok in ["1", "12", "101", "12345", "8", "818"] {
        assert!(rules(ok, &free).is_empty(), "{ok}");
    }
    let three = BoxSettings::default();
    assert_eq!(rules("1234", &three), ["extension.fixed_length"]);
    assert!(rules("123", &three).is_empty());
    let mobile = BoxSettings {
        extension_length: None,
        mobile_line_mode: true,
    };
    assert_eq!(rules("123", &mobile), ["extension.mobile_line"]);
    assert_eq!(rules("3123", &mobile), ["extension.mobile_line"]);
    assert!(rules("2123", &mobile).is_empty());
    assert!(rules("21234", &mobile).is_empty());
    assert!(Extension::parse("2123", &mobile).is_ok());
    assert!(Extension::parse("088", &mobile).is_err());

    fails("extension.no_88", "employees[1].extension", |c| {
        c.employees[1].extension = "188".into()
    });
    fails("extension.fixed_length", "groups[0].extension", |c| {
        c.groups[0].extension = Some("2001".into())
    });
    fails("extension.unique", "groups[0].extension", |c| {
        c.groups[0].extension = Some("101".into())
    });
    fails("extension.unique", "employees[1].extension", |c| {
        c.employees[1].extension = "101".into()
    });
    fails("extension.mobile_line", "employees[0].extension", |c| {
        c.settings = BoxSettings {
            extension_length: None,
            mobile_line_mode: true,
        }
    });
    passes(|c| {
        c.settings = BoxSettings {
            extension_length: Some(4),
            mobile_line_mode: true,
        };
        c.employees[0].extension = "2101".into();
        c.employees[1].extension = "2102".into();
        c.groups[0].extension = Some("2200".into());
    });
}

#[test]
fn settings_rules() {
    fails(
        "settings.extension_length",
        "settings.extension_length",
        |c| c.settings.extension_length = Some(6),
    );
    fails(
        "settings.mobile_line_length",
        "settings.extension_length",
        |c| c.settings.mobile_line_mode = true,
    );
    fails("settings.time_zone", "time_zone", |c| {
        c.time_zone = "Europe/Atlantis".into()
    });
    passes(|c| c.time_zone = "Europe/Berlin".into());
    passes(|c| c.time_zone = String::new());
}

#[test]
fn international_number_rules() {
    let rules = |n: &str| -> Vec<&'static str> {
        international_violations(n)
            .into_iter()
            .map(|v| v.rule)
            .collect()
    };
    assert!(rules("74951234567").is_empty());
    assert!(rules("12025551460").is_empty());
    assert!(rules("496912345678901").is_empty()); // 15 digits
    assert_eq!(rules("+74951234567"), ["international.no_plus"]);
    assert_eq!(rules("84951234567"), Vec::<&str>::new()); // trunk-prefix-looking, still 11 digits
    assert_eq!(rules("04951234567"), ["international.no_leading_0"]);
    assert_eq!(rules("749512"), ["international.length"]);
    assert_eq!(rules("7495123456789012"), ["international.length"]);
    assert_eq!(rules("7495-123-45-67"), ["international.digits"]);
    fails(
        "international.length",
        "employees[0].phones[1].number",
        |c| {
            if let Phone::External { number, .. } = &mut c.employees[0].phones[1] {
                *number = "123".into();
            }
        },
    );
    fails("international.no_plus", "contacts[0].phones[0]", |c| {
        c.contacts[0].phones[0] = "+79161112233".into()
    });
    fails("international.no_leading_0", "numbers[0].number", |c| {
        c.numbers[0].number = "04951234567".into()
    });
}

#[test]
fn sip_uri_rules() {
    let rules = |u: &str| -> Vec<&'static str> {
        sip_uri_violations(u).into_iter().map(|v| v.rule).collect()
    };
    for ok in [
        "101@pbx.example.com",
        "101@192.0.2.1:5060",
        "anna@pbx.example.com",
        "anna@pbx.example.com:5070",
        "sip:anna@host",
    ] {
        assert!(rules(ok).is_empty(), "{ok}: {:?}", rules(ok));
    }
    assert_eq!(rules("pbx.example.com"), ["sip_uri.format"]);
    assert_eq!(rules("@host"), ["sip_uri.format"]);
    assert_eq!(rules("a@b@c"), ["sip_uri.format"]);
    assert_eq!(rules("sipUser1@host"), ["sip_uri.user_word"]);
    assert_eq!(rules("USER@host"), ["sip_uri.user_word"]);
    assert_eq!(rules("anna_b@host"), ["sip_uri.underscore"]);
    assert_eq!(rules("an na@host"), ["sip_uri.user_chars"]);
    assert_eq!(rules("anna@-host"), ["sip_uri.host"]);
    assert_eq!(rules("anna@host:0"), ["sip_uri.port"]);
    assert_eq!(rules("anna@host:70000"), ["sip_uri.port"]);
    assert_eq!(rules("anna@host:"), ["sip_uri.port"]);
    fails("sip_uri.underscore", "employees[0].phones[2].uri", |c| {
        if let Phone::SipUri { uri, .. } = &mut c.employees[0].phones[2] {
            *uri = "a_b@host".into();
        }
    });
}

#[test]
fn line_count_rules() {
    fails("lines.min_1", "employees[0].phones[0].lines", |c| {
        if let Phone::SipLine(l) = &mut c.employees[0].phones[0] {
            l.lines = 0;
        }
    });
    fails("lines.mobile_max_2", "employees[0].phones[1].lines", |c| {
        if let Phone::External { lines, .. } = &mut c.employees[0].phones[1] {
            *lines = 3;
        }
    });
    fails("lines.min_1", "groups[0].simultaneous_lines", |c| {
        c.groups[0].simultaneous_lines = 0
    });
    // A mobile line defaults to 1 line in documents.
    let p: Phone = serde_yaml::from_str("{kind: external, number: '74951234000'}").unwrap();
    assert_eq!(p.lines(), 1);
    assert_eq!(p.phone_type(), PhoneType::T);
}

#[test]
fn percent_rules() {
    fails("percent.sum_100", "groups[0].percents", |c| {
        c.groups[0].percent_distribution = true;
        c.groups[0].percents = BTreeMap::from([(EmployeeId(1), 50), (EmployeeId(2), 40)]);
    });
    fails("percent.not_member", "groups[0].percents.9", |c| {
        c.groups[0].percents = BTreeMap::from([(EmployeeId(9), 10)]);
    });
    fails("percent.range", "employees[0].phones[0].percent", |c| {
        c.employees[0].phones[0].set_percent(101)
    });
    fails("percent.sum_100", "employees[0].phones", |c| {
        c.employees[0].percent_distribution = true;
    });
    passes(|c| {
        c.groups[0].percent_distribution = true;
        c.groups[0].percents = BTreeMap::from([(EmployeeId(1), 60), (EmployeeId(2), 40)]);
        c.employees[0].percent_distribution = true;
        for (p, pct) in c.employees[0].phones.iter_mut().zip([34, 33, 33]) {
            p.set_percent(pct);
        }
    });
}

fn week_mut(c: &mut CompanyConfig) -> &mut BTreeMap<Weekday, Vec<Interval>> {
    match &mut c.schedules[0].days {
        ScheduleKind::Weekly { week } => week,
        _ => unreachable!(),
    }
}

#[test]
fn schedule_rules() {
    fails("interval.order", "schedules[0].days.week.mon[1]", |c| {
        week_mut(c).get_mut(&Weekday::Mon).unwrap()[1] =
            Interval::new(TimeOfDay(18 * 60), TimeOfDay(14 * 60));
    });
    fails("interval.range", "schedules[0].days.week.mon[0]", |c| {
        week_mut(c).get_mut(&Weekday::Mon).unwrap()[0].end = TimeOfDay(25 * 60);
    });
    fails("interval.overlap", "schedules[0].days.week.mon[1]", |c| {
        week_mut(c).get_mut(&Weekday::Mon).unwrap()[1].start = TimeOfDay(12 * 60);
    });
    passes(|c| {
        // Touching intervals do not overlap; 24:00 is a valid end.
        week_mut(c).insert(
            Weekday::Fri,
            vec![
                Interval::new(TimeOfDay(0), TimeOfDay(12 * 60)),
                Interval::new(TimeOfDay(12 * 60), TimeOfDay::END_OF_DAY),
            ],
        );
    });
    fails("cycle.min_1", "schedules[0].days.off", |c| {
        c.schedules[0].days = ScheduleKind::Cycle {
            on: 2,
            off: 0,
            start: "2026-01-01".parse().unwrap(),
            intervals: vec![],
        }
    });
    passes(|c| {
        c.schedules[0].days = ScheduleKind::Cycle {
            on: 2,
            off: 2,
            start: "2026-01-01".parse().unwrap(),
            intervals: vec![Interval::new(TimeOfDay(8 * 60), TimeOfDay(20 * 60))],
        }
    });
    fails("days_of_month.range", "schedules[0].days.days[1]", |c| {
        c.schedules[0].days = ScheduleKind::DaysOfMonth {
            days: vec![1, 32],
            intervals: vec![],
        }
    });
    fails("period.order", "schedules[0].period_end", |c| {
        c.schedules[0].period_start = Some("2026-02-01".parse().unwrap());
        c.schedules[0].period_end = Some("2026-01-01".parse().unwrap());
    });
    fails("name.required", "schedules[0].name", |c| {
        c.schedules[0].name = " ".into()
    });
    fails("calendar.conflict", "calendars[0].working_days[0]", |c| {
        c.calendars[0].working_days = vec!["2026-01-01".parse().unwrap()]
    });
    fails("calendar.date_year", "calendars[0].holidays[1]", |c| {
        c.calendars[0].holidays.push("2027-01-01".parse().unwrap())
    });
    fails("calendar.year_unique", "calendars[1].year", |c| {
        let again = c.calendars[0].clone();
        c.calendars.push(again);
    });
}

#[test]
fn reference_rules() {
    fails("ref.scenario", "numbers[0].rules[0].scenario", |c| {
        c.numbers[0].rules[0].scenario = ScenarioId(99)
    });
    fails("ref.schedule", "numbers[0].rules[0].schedule", |c| {
        c.numbers[0].rules[0].schedule = Some(ScheduleId(99))
    });
    fails("ref.number_list", "numbers[0].rules[0].callers.list", |c| {
        c.numbers[0].rules[0].callers = CallerFilter::NumberList {
            list: NumberListId(99),
        }
    });
    fails(
        "ref.contact",
        "numbers[0].rules[0].callers.contacts[0]",
        |c| {
            c.numbers[0].rules[0].callers = CallerFilter::Contacts {
                contacts: vec![ContactId(99)],
            }
        },
    );
    fails(
        "ref.contact_group",
        "numbers[0].rules[1].callers.groups[0]",
        |c| {
            c.numbers[0].rules[1].callers = CallerFilter::ContactGroups {
                groups: vec![ContactGroupId(99)],
            }
        },
    );
    fails("ref.schedule", "employees[0].schedule", |c| {
        c.employees[0].schedule = Some(ScheduleId(99))
    });
    fails("ref.employee", "groups[0].members[1]", |c| {
        c.groups[0].members[1] = EmployeeId(99)
    });
    fails("ref.employee", "employees[1].trainer", |c| {
        c.employees[1].trainer = Some(EmployeeId(99))
    });
    fails("trainer.self", "employees[1].trainer", |c| {
        c.employees[1].trainer = Some(EmployeeId(2))
    });
    fails(
        "trainer.required",
        "employees[1].trainer_joins_every_call",
        |c| c.employees[1].trainer = None,
    );
    fails("ref.tag", "contacts[0].tags[0]", |c| {
        c.contacts[0].tags = vec![TagId(9)]
    });
    fails("ref.employee", "contacts[0].manager", |c| {
        c.contacts[0].manager = Some(EmployeeId(9))
    });
    fails(
        "ref.file",
        "scenarios[0].operations.greeting.action.prompt.id",
        |c| c.files.clear(),
    );
    fails(
        "ref.number_list",
        "talk_options[0].action.target.list",
        |c| c.number_lists.clear(),
    );
    fails("mask.format", "numbers[0].rules[0].callers.masks[0]", |c| {
        c.numbers[0].rules[0].callers = CallerFilter::Numbers {
            masks: vec!["7495x".into()],
        }
    });
    fails("mask.format", "number_lists[0].entries[0]", |c| {
        c.number_lists[0].entries[0] = String::new()
    });
}

#[test]
fn uniqueness_rules() {
    fails("id.unique", "employees[1].id", |c| {
        c.employees[1].id = EmployeeId(1)
    });
    fails("id.unique", "numbers[1].rules[0].id", |c| {
        c.numbers[1].rules[0].id = RuleId(1)
    });
    fails("number.unique", "numbers[1].number", |c| {
        c.numbers[1].number = c.numbers[0].number.clone()
    });
    fails("login.unique", "employees[1].phones[0].login", |c| {
        if let Phone::SipLine(l) = &mut c.employees[1].phones[0] {
            l.login = "101".into();
        }
    });
    fails("id.unique", "employees[1].phones[0].id", |c| {
        if let Phone::SipLine(l) = &mut c.employees[1].phones[0] {
            l.id = SipLineId(101);
        }
    });
    fails("id.unique", "scenarios[1].id", |c| {
        c.scenarios[1].id = ScenarioId(1)
    });
    fails("member.unique", "groups[0].members[1]", |c| {
        c.groups[0].members[1] = EmployeeId(1)
    });
    fails("talk.keys_unique", "talk_options[1].keys", |c| {
        let mut t = c.talk_options[0].clone();
        t.id = TalkOptionId(2);
        c.talk_options.push(t);
    });
    fails("talk.keys", "talk_options[0].keys", |c| {
        c.talk_options[0].keys = "*9a".into()
    });
    fails("blacklist.single", "number_lists[1].blacklist", |c| {
        let mut l = c.number_lists[0].clone();
        l.id = NumberListId(2);
        c.number_lists.push(l);
    });
    fails("blacklist.kind", "number_lists[0].kind", |c| {
        c.number_lists[0].kind = ListKind::White
    });
    fails("name.required", "employees[0].last_name", |c| {
        c.employees[0].last_name = String::new()
    });
    fails(
        "sip_line.password",
        "employees[0].phones[0].password",
        |c| {
            if let Phone::SipLine(l) = &mut c.employees[0].phones[0] {
                l.password.clear();
            }
        },
    );
}

#[test]
fn errors_serialize_for_the_api() {
    let mut cfg = base();
    cfg.employees[1].extension = "188".into();
    let json = serde_json::to_value(validate_config(&cfg)).unwrap();
    assert_eq!(json[0]["field"], "employees[1].extension");
    assert_eq!(json[0]["rule"], "extension.no_88");
}

#[test]
fn extended_document_round_trips_through_yaml() {
    let cfg = base();
    let yaml = vpbx_store::render_document(&cfg).unwrap();
    assert!(yaml.contains("09:00"), "{yaml}");
    assert_eq!(vpbx_store::parse_document(&yaml).unwrap(), cfg);
}

fn registration(c: &mut CompanyConfig) -> (&mut String, &mut String, &mut u32) {
    match &mut c.trunks[0].auth {
        TrunkAuth::Registration {
            username,
            password,
            expires_s,
            ..
        } => (username, password, expires_s),
        TrunkAuth::Ip { .. } => panic!("trunk 1 registers"),
    }
}

fn addresses(c: &mut CompanyConfig) -> &mut Vec<String> {
    match &mut c.trunks[1].auth {
        TrunkAuth::Ip { addresses } => addresses,
        TrunkAuth::Registration { .. } => panic!("trunk 2 is IP-authenticated"),
    }
}

#[test]
fn trunk_rules() {
    fails("name.required", "trunks[0].name", |c| {
        c.trunks[0].name = " ".into()
    });
    fails("trunk.name_unique", "trunks[1].name", |c| {
        c.trunks[1].name = "Carrier ".into()
    });
    fails("id.unique", "trunks[1].id", |c| c.trunks[1].id = TrunkId(1));
    fails("trunk.host_required", "trunks[0].host", |c| {
        c.trunks[0].host = String::new()
    });
    for bad in [
        "sip:carrier.example",
        "carrier.example:5060",
        "999.1.1.1",
        "[2001:db8::1]",
        "-a.example",
    ] {
        fails("trunk.host", "trunks[0].host", |c| {
            c.trunks[0].host = bad.into()
        });
    }
    for good in ["192.0.2.1", "::1", "carrier", "sip-1.carrier.example"] {
        passes(|c| c.trunks[0].host = good.into());
    }
    fails("trunk.port", "trunks[0].port", |c| c.trunks[0].port = 0);
    passes(|c| c.trunks[0].port = 65535);
    fails("trunk.username", "trunks[0].auth.username", |c| {
        registration(c).0.clear()
    });
    fails("trunk.password", "trunks[0].auth.password", |c| {
        registration(c).1.clear()
    });
    fails("trunk.expires", "trunks[0].auth.expires_s", |c| {
        *registration(c).2 = 59
    });
    fails("trunk.expires", "trunks[0].auth.expires_s", |c| {
        *registration(c).2 = 3601
    });
    passes(|c| *registration(c).2 = 3600);
    fails(
        "trunk.addresses_required",
        "trunks[1].auth.addresses",
        |c| addresses(c).clear(),
    );
    for bad in ["10.0.0.0/33", "10.0.0.1/24", "carrier.example", "10.0.0.0/"] {
        fails("trunk.address", "trunks[1].auth.addresses[1]", |c| {
            addresses(c)[1] = bad.into()
        });
    }
    passes(|c| addresses(c).push("0.0.0.0/0".into()));
    fails("trunk.did_digits", "trunks[0].dids[0].did", |c| {
        c.trunks[0].dids[0].did = "+74951234567".into()
    });
    fails("trunk.did_digits", "trunks[0].dids[0].did", |c| {
        c.trunks[0].dids[0].did = "1".repeat(21)
    });
    fails("trunk.did_digits", "trunks[0].dids[0].did", |c| {
        c.trunks[0].dids[0].did = String::new()
    });
    fails("trunk.did_unique", "trunks[1].dids[0].did", |c| {
        c.trunks[1].dids[0].did = "4951234567".into()
    });
    fails("trunk.did_unique", "trunks[0].dids[1].did", |c| {
        let again = c.trunks[0].dids[0].clone();
        c.trunks[0].dids.push(again);
    });
    fails(
        "trunk.did_unknown_number",
        "trunks[0].dids[0].number",
        |c| c.trunks[0].dids[0].number = "74990000000".into(),
    );
    fails("trunk.prefix", "trunks[0].prefixes[0]", |c| {
        c.trunks[0].prefixes[0] = "+7".into()
    });
    fails("trunk.prefix", "trunks[0].prefixes[0]", |c| {
        c.trunks[0].prefixes[0] = String::new()
    });
    fails("trunk.max_channels", "trunks[0].max_channels", |c| {
        c.trunks[0].max_channels = Some(0)
    });
    passes(|c| c.trunks[0].max_channels = Some(1));
    fails(
        "trunk.response_timeout_s",
        "trunks[0].response_timeout_s",
        |c| c.trunks[0].response_timeout_s = 0,
    );
    fails(
        "trunk.response_timeout_s",
        "trunks[0].response_timeout_s",
        |c| c.trunks[0].response_timeout_s = 33,
    );
    passes(|c| c.trunks[0].response_timeout_s = 32);
}

#[test]
fn sip_line_caller_id_names_a_virtual_number() {
    fails(
        "sip_line.caller_id_unknown_number",
        "employees[0].phones[0].outbound_caller_id",
        |c| {
            if let Phone::SipLine(l) = &mut c.employees[0].phones[0] {
                l.outbound_caller_id = Some("79161234567".into());
            }
        },
    );
    passes(|c| {
        if let Phone::SipLine(l) = &mut c.employees[0].phones[0] {
            l.outbound_caller_id = None;
            l.outbound_allowed = false;
        }
    });
}

#[test]
fn trunk_lookups() {
    let cfg = base();
    let (t, m) = cfg.trunk_for_did("4951234567").unwrap();
    assert_eq!((t.id, m.number.as_str()), (TrunkId(1), "74951234567"));
    assert_eq!(cfg.trunk_for_did("+74950000001").unwrap().0.id, TrunkId(2));
    assert!(cfg.trunk_for_did("74951234567").is_none());
    assert_eq!(cfg.trunk(TrunkId(2)).unwrap().name, "Backup");
    assert!(cfg.trunk(TrunkId(3)).is_none());
    let src = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(
        cfg.trunk_for_source(src("192.0.2.77")).unwrap().id,
        TrunkId(2)
    );
    assert!(cfg.trunk_for_source(src("198.51.100.1")).is_none());
}

#[test]
fn documents_without_trunks_or_caller_ids_still_load() {
    // What an older export looks like: no `trunks`, SIP lines without the outbound fields.
    let demo = vpbx_store::parse_document(include_str!("../../config/demo.yaml")).unwrap();
    assert!(demo.trunks.is_empty());
    let Phone::SipLine(l) = &demo.employees[0].phones[0] else {
        panic!("the demo's first phone is a SIP line")
    };
    assert_eq!(
        (l.outbound_caller_id.as_deref(), l.outbound_allowed),
        (None, true)
    );
}
