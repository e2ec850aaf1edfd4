//! The directory: employees with their phones and SIP lines, groups.

use super::values::{extension_violations, international_violations, sip_uri_violations};
use super::Sink;
use crate::model::*;
use std::collections::BTreeSet;

pub(super) fn employees(cfg: &CompanyConfig, s: &mut Sink) {
    let ids: BTreeSet<EmployeeId> = cfg.employees.iter().map(|e| e.id).collect();
    let schedule_ids: BTreeSet<ScheduleId> = cfg.schedules.iter().map(|x| x.id).collect();
    s.unique(
        "id.unique",
        "employee id",
        cfg.employees
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, format!("employees[{i}].id"))),
    );
    let mut extensions: Vec<(String, String, String)> = Vec::new();
    let mut logins: Vec<(String, String, String)> = Vec::new();
    let mut line_ids: Vec<(SipLineId, String)> = Vec::new();
    for (i, e) in cfg.employees.iter().enumerate() {
        let p = format!("employees[{i}]");
        s.required(format!("{p}.last_name"), &e.last_name, "last name");
        let field = format!("{p}.extension");
        s.all(&field, extension_violations(&e.extension, &cfg.settings));
        extensions.push((
            e.extension.clone(),
            field,
            format!("by {}", employee_name(e)),
        ));
        if let Some(sch) = e.schedule {
            if !schedule_ids.contains(&sch) {
                s.push(
                    format!("{p}.schedule"),
                    "ref.schedule",
                    format!("schedule {sch} does not exist"),
                );
            }
        }
        if let Some(t) = e.trainer {
            if t == e.id {
                s.push(
                    format!("{p}.trainer"),
                    "trainer.self",
                    "an employee cannot be their own trainer",
                );
            } else if !ids.contains(&t) {
                s.push(
                    format!("{p}.trainer"),
                    "ref.employee",
                    format!("employee {t} does not exist"),
                );
            }
        }
        if e.trainer_joins_every_call && e.trainer.is_none() {
            s.push(
                format!("{p}.trainer_joins_every_call"),
                "trainer.required",
                "'trainer joins every call' needs a trainer",
            );
        }
        let mut sum: u32 = 0;
        for (j, ph) in e.phones.iter().enumerate() {
            let pp = format!("{p}.phones[{j}]");
            if ph.lines() == 0 {
                s.push(
                    format!("{pp}.lines"),
                    "lines.min_1",
                    "a phone takes at least 1 line",
                );
            }
            if ph.percent() > 100 {
                s.push(
                    format!("{pp}.percent"),
                    "percent.range",
                    "a percent is 0–100",
                );
            }
            sum += u32::from(ph.percent());
            match ph {
                Phone::SipLine(l) => {
                    if l.login.is_empty()
                        || !l
                            .login
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
                    {
                        s.push(
                            format!("{pp}.login"),
                            "sip_line.login",
                            "a SIP login is letters, digits, '.', '-' or '_'",
                        );
                    }
                    if l.password.is_empty() {
                        s.push(
                            format!("{pp}.password"),
                            "sip_line.password",
                            "a SIP line needs a password",
                        );
                    }
                    if let Some(n) = &l.outbound_caller_id {
                        if cfg.number(n).is_none() {
                            s.push(
                                format!("{pp}.outbound_caller_id"),
                                "sip_line.caller_id_unknown_number",
                                format!(
                                    "outbound caller id {n} is not a virtual number of the company"
                                ),
                            );
                        }
                    }
                    logins.push((
                        l.login.clone(),
                        format!("{pp}.login"),
                        format!("by a SIP line of {}", employee_name(e)),
                    ));
                    line_ids.push((l.id, format!("{pp}.id")));
                }
                Phone::External { number, lines, .. } => {
                    s.all(&format!("{pp}.number"), international_violations(number));
                    if *lines > 2 {
                        s.push(
                            format!("{pp}.lines"),
                            "lines.mobile_max_2",
                            "a mobile line takes at most 2 lines",
                        );
                    }
                }
                Phone::SipUri { uri, .. } => {
                    s.all(&format!("{pp}.uri"), sip_uri_violations(uri));
                }
            }
        }
        if e.percent_distribution && sum != 100 {
            s.push(
                format!("{p}.phones"),
                "percent.sum_100",
                format!("phone percents sum to {sum}, not 100"),
            );
        }
    }
    for (i, g) in cfg.groups.iter().enumerate() {
        if let Some(x) = &g.extension {
            let field = format!("groups[{i}].extension");
            s.all(&field, extension_violations(x, &cfg.settings));
            extensions.push((x.clone(), field, format!("by {}", group_name(g))));
        }
    }
    s.unique_by("extension.unique", "extension", extensions);
    s.unique_by("login.unique", "SIP login", logins);
    s.unique("id.unique", "SIP line id", line_ids);
}

pub(super) fn groups(cfg: &CompanyConfig, s: &mut Sink) {
    let employees: BTreeSet<EmployeeId> = cfg.employees.iter().map(|e| e.id).collect();
    let schedule_ids: BTreeSet<ScheduleId> = cfg.schedules.iter().map(|x| x.id).collect();
    s.unique(
        "id.unique",
        "group id",
        cfg.groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id, format!("groups[{i}].id"))),
    );
    for (i, g) in cfg.groups.iter().enumerate() {
        let p = format!("groups[{i}]");
        s.required(format!("{p}.name"), &g.name, "group name");
        if g.simultaneous_lines == 0 {
            s.push(
                format!("{p}.simultaneous_lines"),
                "lines.min_1",
                "at least 1 phone rings at once",
            );
        }
        for (j, m) in g.members.iter().enumerate() {
            if !employees.contains(m) {
                s.push(
                    format!("{p}.members[{j}]"),
                    "ref.employee",
                    format!("employee {m} does not exist"),
                );
            }
        }
        s.unique(
            "member.unique",
            "member",
            g.members
                .iter()
                .enumerate()
                .map(|(j, m)| (*m, format!("{p}.members[{j}]"))),
        );
        if let Some(sch) = g.schedule {
            if !schedule_ids.contains(&sch) {
                s.push(
                    format!("{p}.schedule"),
                    "ref.schedule",
                    format!("schedule {sch} does not exist"),
                );
            }
        }
        let mut sum: u32 = 0;
        for (m, pct) in &g.percents {
            if !g.members.contains(m) {
                s.push(
                    format!("{p}.percents.{m}"),
                    "percent.not_member",
                    format!("employee {m} is not a member of the group"),
                );
            }
            if *pct > 100 {
                s.push(
                    format!("{p}.percents.{m}"),
                    "percent.range",
                    "a percent is 0–100",
                );
            }
            sum += u32::from(*pct);
        }
        if g.percent_distribution && sum != 100 {
            s.push(
                format!("{p}.percents"),
                "percent.sum_100",
                format!("member percents sum to {sum}, not 100"),
            );
        }
        if let Some(st) = &g.strategy {
            group_strategy(&p, g, st, &employees, s);
        }
    }
}

/// A group's strategy: its own rules, and the employees it names must exist and be members
/// (like `percents`, a setting for someone outside the group would never apply).
fn group_strategy(
    p: &str,
    g: &Group,
    st: &Strategy,
    employees: &BTreeSet<EmployeeId>,
    s: &mut Sink,
) {
    for e in st.violations() {
        s.push(format!("{p}.strategy.{}", e.field), e.rule, e.message);
    }
    for (field, id) in st.employees() {
        let field = format!("{p}.strategy.{field}");
        if !employees.contains(&id) {
            s.push(
                field,
                "ref.employee",
                format!("employee {id} does not exist"),
            );
        } else if !g.members.contains(&id) {
            s.push(
                field,
                "strategy.not_member",
                format!("employee {id} is not a member of the group"),
            );
        }
    }
}

/// How a clash names an employee: `employee Anna Petrova (id 1)`.
fn employee_name(e: &Employee) -> String {
    let name = format!("{} {}", e.first_name, e.last_name);
    match name.trim() {
        "" => format!("employee {}", e.id),
        n => format!("employee {n} (id {})", e.id),
    }
}

/// How a clash names a group: `group Sales (id 1)`.
fn group_name(g: &Group) -> String {
    match g.name.trim() {
        "" => format!("group {}", g.id),
        n => format!("group {n} (id {})", g.id),
    }
}
