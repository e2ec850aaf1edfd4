//! Routing: dialled number → ordered rules → scenario.
//!
//! [`route`] is the single entry point used by live calls and by the routing tracer. It returns
//! the rule that matched and, for every earlier rule, why it did not. A rule matches when its
//! schedule is active at the call's time in the box's time zone ([`schedule`]) and its caller
//! filter accepts the caller ([`caller_mismatch`]).

mod mask;
pub mod phone;
pub mod schedule;

pub use mask::mask_matches;
pub use schedule::{day_type, is_active, local_time, Active, CalendarDay};

use chrono::{Datelike, NaiveDateTime};
use phone::PhoneRefused;
use vpbx_store::model::{
    CallEvent, CallResult, CallerFilter, CompanyConfig, Event, RuleId, ScenarioId, ScheduleId,
};

/// A call to route.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    /// Caller number (A), digits.
    pub numa: &'a str,
    /// Dialled number (B), digits.
    pub numb: &'a str,
    /// Wall time of the call, milliseconds since the Unix epoch (schedules use it).
    pub unix_ms: u64,
}

/// Why one rule was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The rule.
    pub rule: RuleId,
    /// Rule name.
    pub name: String,
    /// Why it did not match.
    pub why: String,
}

/// The routing decision for a call that found its scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The rule that matched.
    pub rule: RuleId,
    /// Its name.
    pub rule_name: String,
    /// The scenario to run.
    pub scenario: ScenarioId,
    /// Earlier rules that did not match, in order.
    pub skipped: Vec<Skipped>,
}

/// Why a call found no scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRouted {
    /// The dialled number is not one of the box's virtual numbers.
    UnknownNumber,
    /// The caller matches an entry of the blacklist (SPEC §1.4): refused before any rule.
    Blacklisted {
        /// The list.
        list: String,
        /// The entry (mask) that matched.
        entry: String,
    },
    /// The number exists, but no rule matched this caller at this time.
    NoRuleMatched {
        /// Every rule with the reason it did not match.
        skipped: Vec<Skipped>,
    },
    /// A rule matched but names a scenario that does not exist.
    MissingScenario {
        /// The rule.
        rule: RuleId,
        /// The scenario it names.
        scenario: ScenarioId,
    },
}

impl std::fmt::Display for NotRouted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRouted::UnknownNumber => f.write_str("unknown number"),
            NotRouted::Blacklisted { list, entry } => {
                write!(f, "caller is blacklisted (list '{list}', entry '{entry}')")
            }
            NotRouted::NoRuleMatched { skipped } => {
                write!(f, "no rule matched")?;
                for s in skipped {
                    write!(f, "; rule {} ({}): {}", s.rule, s.name, s.why)?;
                }
                Ok(())
            }
            NotRouted::MissingScenario { rule, scenario } => {
                write!(f, "rule {rule} names missing scenario {scenario}")
            }
        }
    }
}

/// Why the switch refused a call it looked up. Such a call is still a call: it leaves a record
/// with this reason (SPEC §1.4, §2), written by the call supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A call to a virtual number that found no scenario.
    Number(NotRouted),
    /// A phone's own call that the dial plan or the line's policy refuses.
    Phone(PhoneRefused),
}

impl Refused {
    /// The result the call record carries: `blocked` for a blacklisted caller, `failed` for a
    /// rule naming a missing scenario (a broken configuration), `refused` otherwise.
    pub fn result(&self) -> CallResult {
        match self {
            Refused::Number(NotRouted::Blacklisted { .. }) => CallResult::Blocked,
            Refused::Number(NotRouted::MissingScenario { .. }) => CallResult::Failed,
            Refused::Number(_) | Refused::Phone(_) => CallResult::Refused,
        }
    }

    /// The call detail at `at_unix_ms`: each rule passed over with why, then the refusal with
    /// the SIP status `code` the caller got.
    pub fn events(&self, at_unix_ms: u64, code: u16) -> Vec<CallEvent> {
        let skipped = match self {
            Refused::Number(NotRouted::NoRuleMatched { skipped }) => skipped.as_slice(),
            _ => &[],
        };
        skipped
            .iter()
            .map(|s| Event::RuleSkipped {
                rule: s.rule,
                name: s.name.clone(),
                why: s.why.clone(),
            })
            .chain(std::iter::once(Event::Refused {
                code,
                reason: self.to_string(),
            }))
            .map(|what| CallEvent { at_unix_ms, what })
            .collect()
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Number(n) => n.fmt(f),
            Refused::Phone(p) => p.fmt(f),
        }
    }
}

impl From<NotRouted> for Refused {
    fn from(n: NotRouted) -> Self {
        Refused::Number(n)
    }
}

impl From<PhoneRefused> for Refused {
    fn from(p: PhoneRefused) -> Self {
        Refused::Phone(p)
    }
}

/// The blacklist entry (list name, mask) that `numa` matches, if any. Only lists flagged as
/// the blacklist block calls; other black lists are used by rules and list branches.
fn blacklisted(cfg: &CompanyConfig, numa: &str) -> Option<(String, String)> {
    cfg.number_lists
        .iter()
        .filter(|l| l.blacklist)
        .find_map(|l| {
            l.entries
                .iter()
                .find(|m| mask_matches(m, numa))
                .map(|m| (l.name.clone(), m.clone()))
        })
}

/// Whether a call to `numb` is routed by a virtual number's rules (a call into the company,
/// from whoever sent it) rather than as a phone's own call (a line of the box dialling an
/// extension, a group, a pickup code or an external number, [`phone::route_phone`]). The SIP
/// edge and the routing tracer branch on this.
pub fn routes_by_rules(cfg: &CompanyConfig, numb: &str) -> bool {
    cfg.number(numb).is_some()
}

/// Routes one call against one configuration snapshot: unknown number, then the blacklist,
/// then the number's rules in order.
pub fn route(cfg: &CompanyConfig, req: &RouteRequest<'_>) -> Result<Routed, NotRouted> {
    let number = cfg.number(req.numb).ok_or(NotRouted::UnknownNumber)?;
    if let Some((list, entry)) = blacklisted(cfg, req.numa) {
        return Err(NotRouted::Blacklisted { list, entry });
    }
    let mut skipped = Vec::new();
    let mut local: Option<NaiveDateTime> = None;
    for rule in &number.rules {
        if let Some(schedule) = rule.schedule {
            let now = *local.get_or_insert_with(|| box_local_time(cfg, req.unix_ms));
            if let Some(why) = schedule_mismatch(cfg, schedule, now) {
                skipped.push(Skipped {
                    rule: rule.id,
                    name: rule.name.clone(),
                    why,
                });
                continue;
            }
        }
        if let Some(why) = caller_mismatch(cfg, &rule.callers, req.numa) {
            skipped.push(Skipped {
                rule: rule.id,
                name: rule.name.clone(),
                why,
            });
            continue;
        }
        if cfg.scenario(rule.scenario).is_none() {
            return Err(NotRouted::MissingScenario {
                rule: rule.id,
                scenario: rule.scenario,
            });
        }
        return Ok(Routed {
            rule: rule.id,
            rule_name: rule.name.clone(),
            scenario: rule.scenario,
            skipped,
        });
    }
    Err(NotRouted::NoRuleMatched { skipped })
}

/// The box's local time for a UTC instant; an unknown time zone falls back to UTC
/// (validation refuses such a configuration, so this only guards old data).
pub fn box_local_time(cfg: &CompanyConfig, unix_ms: u64) -> NaiveDateTime {
    local_time(unix_ms, &cfg.time_zone)
        .or_else(|_| local_time(unix_ms, ""))
        .unwrap_or_default()
}

/// Whether schedule `id` is active at a UTC instant in the box's time zone, with the
/// production calendar of that year. `None` if the schedule does not exist. For employees,
/// groups and callback rules as well as rules.
pub fn schedule_active(cfg: &CompanyConfig, id: ScheduleId, unix_ms: u64) -> Option<Active> {
    let sch = cfg.schedule(id)?;
    let local = box_local_time(cfg, unix_ms);
    Some(is_active(sch, cfg.calendar(local.year()), local))
}

fn schedule_mismatch(cfg: &CompanyConfig, id: ScheduleId, local: NaiveDateTime) -> Option<String> {
    let Some(sch) = cfg.schedule(id) else {
        return Some(format!("schedule {id} is not defined"));
    };
    let a = is_active(sch, cfg.calendar(local.year()), local);
    (!a.active).then(|| format!("schedule '{}': {}", sch.name, a.reason))
}

/// Why `filter` does not accept caller `numa` (`None`: it does). Numbers are compared without a
/// leading `+`; a caller is "known" when a contact has the number among its phones.
pub fn caller_mismatch(cfg: &CompanyConfig, filter: &CallerFilter, numa: &str) -> Option<String> {
    let numa = numa.trim_start_matches('+');
    let strip = |m: &str| m.trim_start_matches('+').to_owned();
    match filter {
        CallerFilter::All => None,
        CallerFilter::Numbers { masks } => {
            if masks.iter().any(|m| mask_matches(&strip(m), numa)) {
                None
            } else {
                Some("caller is not in the rule's number list".into())
            }
        }
        CallerFilter::Contacts { contacts } => {
            if cfg
                .contacts_with_phone(numa)
                .any(|c| contacts.contains(&c.id))
            {
                None
            } else {
                Some("caller is not one of the rule's contacts".into())
            }
        }
        CallerFilter::ContactGroups { groups } => {
            if cfg
                .contacts_with_phone(numa)
                .any(|c| c.groups.iter().any(|g| groups.contains(g)))
            {
                None
            } else {
                let names: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        cfg.contact_groups
                            .iter()
                            .find(|x| x.id == *g)
                            .map_or_else(|| g.to_string(), |x| format!("'{}'", x.name))
                    })
                    .collect();
                Some(format!(
                    "caller is not in contact group {}",
                    names.join(", ")
                ))
            }
        }
        CallerFilter::Unknown => {
            if cfg.contacts_with_phone(numa).next().is_none() {
                None
            } else {
                Some("caller is in the address book (rule is for unknown numbers)".into())
            }
        }
        CallerFilter::NumberList { list } => match cfg.number_list(*list) {
            None => Some(format!("number list {list} is not defined")),
            Some(l) => {
                if l.entries.iter().any(|m| mask_matches(&strip(m), numa)) {
                    None
                } else {
                    Some(format!("caller is not in number list '{}'", l.name))
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vpbx_store::model::*;

    fn cfg() -> CompanyConfig {
        let scenario = Scenario {
            id: ScenarioId(1),
            name: "s".into(),
            start: OpName("bye".into()),
            operations: BTreeMap::from([(
                OpName("bye".into()),
                Operation {
                    action: Action::HangUp(HangUp {}),
                    exits: BTreeMap::new(),
                },
            )]),
            record: false,
            greeting: None,
            ringback: None,
            present_virtual_number: false,
        };
        let rule = |id, callers, scenario| Rule {
            id: RuleId(id),
            name: format!("r{id}"),
            schedule: None,
            callers,
            scenario: ScenarioId(scenario),
        };
        CompanyConfig {
            scenarios: vec![scenario],
            numbers: vec![VirtualNumber {
                number: "74951234567".into(),
                kind: NumberKind::Pbx,
                rules: vec![
                    rule(
                        1,
                        CallerFilter::Numbers {
                            masks: vec!["7812*".into()],
                        },
                        1,
                    ),
                    rule(2, CallerFilter::All, 1),
                ],
            }],
            ..Default::default()
        }
    }

    fn req<'a>(numa: &'a str, numb: &'a str) -> RouteRequest<'a> {
        RouteRequest {
            numa,
            numb,
            unix_ms: 0,
        }
    }

    #[test]
    fn the_blacklist_refuses_before_any_rule_and_other_lists_do_not() {
        let mut cfg = cfg();
        let list = |id, blacklist, entries: &[&str]| NumberList {
            id: NumberListId(id),
            name: format!("list{id}"),
            kind: ListKind::Black,
            blacklist,
            entries: entries.iter().map(|e| e.to_string()).collect(),
        };
        cfg.number_lists = vec![list(1, false, &["7916*"]), list(2, true, &["7903???????"])];
        // A black list that is not *the* blacklist blocks nothing by itself.
        assert!(route(&cfg, &req("79161234567", "74951234567")).is_ok());
        let err = route(&cfg, &req("79031234567", "74951234567")).unwrap_err();
        assert_eq!(
            err,
            NotRouted::Blacklisted {
                list: "list2".into(),
                entry: "7903???????".into()
            }
        );
        assert!(err.to_string().contains("blacklisted"));
        // Unknown numbers are still unknown, whoever calls.
        assert_eq!(
            route(&cfg, &req("79031234567", "000")).unwrap_err(),
            NotRouted::UnknownNumber
        );
    }

    #[test]
    fn first_matching_rule_wins_and_earlier_rules_say_why() {
        let cfg = cfg();
        let r = route(&cfg, &req("78121112233", "74951234567")).unwrap();
        assert_eq!(r.rule, RuleId(1));
        assert!(r.skipped.is_empty());
        let r = route(&cfg, &req("79160000000", "74951234567")).unwrap();
        assert_eq!(r.rule, RuleId(2));
        assert_eq!(r.skipped.len(), 1);
        assert!(r.skipped[0].why.contains("number list"));
    }

    #[test]
    fn unknown_number_and_no_match_are_distinct() {
        let mut cfg = cfg();
        assert_eq!(
            route(&cfg, &req("1", "000")).unwrap_err(),
            NotRouted::UnknownNumber
        );
        cfg.numbers[0].rules.pop();
        let err = route(&cfg, &req("79160000000", "74951234567")).unwrap_err();
        assert!(matches!(err, NotRouted::NoRuleMatched { ref skipped } if skipped.len() == 1));
        assert!(err.to_string().contains("r1"));
    }

    fn office_schedule() -> Schedule {
        let mut week = BTreeMap::new();
        for wd in &Weekday::ALL[..5] {
            week.insert(
                *wd,
                vec![Interval::new(
                    "09:00".parse().unwrap(),
                    "18:00".parse().unwrap(),
                )],
            );
        }
        Schedule {
            id: ScheduleId(5),
            name: "Office".into(),
            days: ScheduleKind::Weekly { week },
            period_start: None,
            period_end: None,
            use_production_calendar: true,
        }
    }

    fn at_utc(s: &str) -> u64 {
        let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        u64::try_from(t.and_utc().timestamp_millis()).unwrap()
    }

    #[test]
    fn rule_schedules_use_the_box_time_zone_and_calendar() {
        let mut cfg = cfg();
        cfg.time_zone = "Europe/Moscow".into();
        cfg.schedules.push(office_schedule());
        cfg.calendars.push(ProductionCalendar {
            year: 2026,
            holidays: vec!["2026-01-01".parse().unwrap()],
            ..Default::default()
        });
        cfg.numbers[0].rules[0] = Rule {
            id: RuleId(1),
            name: "office hours".into(),
            schedule: Some(ScheduleId(5)),
            callers: CallerFilter::All,
            scenario: ScenarioId(1),
        };
        let at = |numa, utc: &str| RouteRequest {
            numa,
            numb: "74951234567",
            unix_ms: at_utc(utc),
        };
        // Monday 2026-03-02 06:30 UTC = 09:30 Moscow.
        let r = route(&cfg, &at("79160000000", "2026-03-02 06:30")).unwrap();
        assert_eq!(r.rule, RuleId(1));
        // 05:30 UTC = 08:30 Moscow: the office rule is skipped, the catch-all takes it.
        let r = route(&cfg, &at("79160000000", "2026-03-02 05:30")).unwrap();
        assert_eq!(r.rule, RuleId(2));
        assert_eq!(
            r.skipped[0].why,
            "schedule 'Office': outside Mon 09:00–18:00"
        );
        // New Year's Day is a holiday even though it is a Thursday.
        let r = route(&cfg, &at("79160000000", "2026-01-01 08:00")).unwrap();
        assert_eq!(
            r.skipped[0].why,
            "schedule 'Office': holiday 2026-01-01 per production calendar"
        );
        // A schedule that does not exist never matches and says so.
        cfg.numbers[0].rules[0].schedule = Some(ScheduleId(9));
        let r = route(&cfg, &at("79160000000", "2026-03-02 06:30")).unwrap();
        assert_eq!(r.skipped[0].why, "schedule 9 is not defined");
    }

    fn with_address_book(mut cfg: CompanyConfig) -> CompanyConfig {
        cfg.contact_groups.push(ContactGroup {
            id: ContactGroupId(1),
            name: "VIP".into(),
        });
        cfg.contacts.push(Contact {
            id: ContactId(10),
            last_name: "Client".into(),
            first_name: String::new(),
            email: None,
            phones: vec!["79161112233".into()],
            organisation: None,
            groups: vec![ContactGroupId(1)],
            manager: None,
            tags: vec![],
        });
        cfg.contacts.push(Contact {
            id: ContactId(11),
            last_name: "Other".into(),
            first_name: String::new(),
            email: None,
            phones: vec!["79164445566".into()],
            organisation: None,
            groups: vec![],
            manager: None,
            tags: vec![],
        });
        cfg.number_lists.push(NumberList {
            id: NumberListId(3),
            name: "Regions".into(),
            kind: ListKind::White,
            blacklist: false,
            entries: vec!["7812*".into(), "7343???????".into()],
        });
        cfg
    }

    #[test]
    fn caller_filters_for_contacts_groups_unknown_and_lists() {
        let cfg = with_address_book(cfg());
        let known_vip = "79161112233";
        let known = "+79164445566";
        let stranger = "79990000000";
        let check = |f: CallerFilter, numa: &str| caller_mismatch(&cfg, &f, numa);
        let contacts = CallerFilter::Contacts {
            contacts: vec![ContactId(10)],
        };
        assert_eq!(check(contacts.clone(), known_vip), None);
        assert!(check(contacts, known).is_some());
        let groups = CallerFilter::ContactGroups {
            groups: vec![ContactGroupId(1)],
        };
        assert_eq!(check(groups.clone(), known_vip), None);
        assert_eq!(
            check(groups, stranger).unwrap(),
            "caller is not in contact group 'VIP'"
        );
        assert_eq!(check(CallerFilter::Unknown, stranger), None);
        assert!(check(CallerFilter::Unknown, known).is_some());
        let list = CallerFilter::NumberList {
            list: NumberListId(3),
        };
        assert_eq!(check(list.clone(), "78120000000"), None);
        assert_eq!(check(list.clone(), "73431234567"), None);
        assert_eq!(
            check(list, "734312345678").unwrap(),
            "caller is not in number list 'Regions'"
        );
        assert!(check(
            CallerFilter::NumberList {
                list: NumberListId(99)
            },
            "1"
        )
        .unwrap()
        .contains("not defined"));
    }

    #[test]
    fn rule_order_decides_between_overlapping_filters() {
        // "Other cities" above "unknown numbers": an unknown caller from another city takes
        // the first (SPEC §2 example); swapping the order changes the winner.
        let mut cfg = with_address_book(cfg());
        let rule = |id, callers| Rule {
            id: RuleId(id),
            name: format!("r{id}"),
            schedule: None,
            callers,
            scenario: ScenarioId(1),
        };
        cfg.numbers[0].rules = vec![
            rule(
                7,
                CallerFilter::NumberList {
                    list: NumberListId(3),
                },
            ),
            rule(8, CallerFilter::Unknown),
        ];
        let unknown_spb = req("78125550000", "74951234567");
        assert_eq!(route(&cfg, &unknown_spb).unwrap().rule, RuleId(7));
        cfg.numbers[0].rules.reverse();
        assert_eq!(route(&cfg, &unknown_spb).unwrap().rule, RuleId(8));
        // A known Moscow caller matches neither; both say why.
        let err = route(&cfg, &req("79164445566", "74951234567")).unwrap_err();
        let NotRouted::NoRuleMatched { skipped } = err else {
            panic!("expected no match")
        };
        assert_eq!(skipped.len(), 2);
        assert!(skipped[0].why.contains("address book"));
        assert!(skipped[1].why.contains("Regions"));
    }

    #[test]
    fn missing_scenario_is_reported() {
        let mut cfg = cfg();
        cfg.scenarios.clear();
        assert!(matches!(
            route(&cfg, &req("1", "74951234567")),
            Err(NotRouted::MissingScenario { .. })
        ));
    }

    #[test]
    fn refused_calls_carry_their_result_and_the_rules_skipped() {
        let blocked = Refused::from(NotRouted::Blacklisted {
            list: "Blacklist".into(),
            entry: "7916*".into(),
        });
        assert_eq!(blocked.result(), CallResult::Blocked);
        assert!(blocked.to_string().contains("Blacklist"));
        let unmatched = Refused::from(NotRouted::NoRuleMatched {
            skipped: vec![Skipped {
                rule: RuleId(3),
                name: "office hours".into(),
                why: "schedule 'Work': closed".into(),
            }],
        });
        assert_eq!(unmatched.result(), CallResult::Refused);
        let events = unmatched.events(7, 480);
        assert!(events.iter().all(|e| e.at_unix_ms == 7));
        assert_eq!(
            events.into_iter().map(|e| e.what).collect::<Vec<_>>(),
            vec![
                Event::RuleSkipped {
                    rule: RuleId(3),
                    name: "office hours".into(),
                    why: "schedule 'Work': closed".into(),
                },
                Event::Refused {
                    code: 480,
                    reason: unmatched.to_string(),
                },
            ]
        );
        let broken = Refused::from(NotRouted::MissingScenario {
            rule: RuleId(1),
            scenario: ScenarioId(9),
        });
        assert_eq!(broken.result(), CallResult::Failed);
        let phone = Refused::from(PhoneRefused::NoTrunk);
        assert_eq!(phone.result(), CallResult::Refused);
        assert_eq!(
            phone.events(1, 403)[0].what,
            Event::Refused {
                code: 403,
                reason: "no trunk serves this number".into(),
            }
        );
    }
}
