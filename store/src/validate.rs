//! Validation of the company configuration: the business rules of SPEC §1–§2 as a list of
//! structured errors the API can return as they are (422 with the list).
//!
//! Every error names the field (a JSON-pointer-like path, `employees[2].extension`), a stable
//! machine-readable rule (`extension.no_88`) and a human message. [`validate_config`] checks a
//! whole document; it is what `Store::replace_all`, every repository write and import use. The
//! single-value checks ([`extension_violations`], [`international_violations`],
//! [`sip_uri_violations`], [`mask_violations`], [`intervals_violations`], [`host_violations`],
//! [`ip_or_cidr_violations`]) are public so the API can check one field as the admin types.
//!
//! Decisions (SPEC leaves them open):
//! - International format: digits only, 10–15 of them (E.164 allows up to 15; 10 is the
//!   shortest national-significant number with a country code we accept), no leading `0`, no `+`
//!   (the `+` is implied). Applies to external phones, virtual numbers and contact phones.
//! - SIP URI: `user@host` or `user@host:port`, an optional `sip:` prefix; the user part is digits
//!   ("number") or letters/digits with `.`, `-`, `+` ("letters"), and must not contain `user`
//!   (any case) or `_`; the host is a DNS name or an IPv4 address; the port is 1–65535.
//! - "Mobile line" (SPEC §1.1) is an external phone ([`Phone::External`]): 1 or 2 lines.
//! - Percentage distribution: percents are 0–100; when the group's (or employee's phones')
//!   `percent_distribution` is on they must sum to exactly 100.
//! - Trunks (docs/decisions.md D18): the host is a DNS name or an IP literal (IPv6 without
//!   brackets; all-numeric names must be IPv4); IP-authentication blocks must have their host
//!   bits zero (`10.0.0.1/24` is refused, naming `10.0.0.0/24`); trunk names are compared after
//!   trimming, case-sensitively; DIDs are unique across every trunk.

use crate::model::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// Path of the offending field, e.g. `employees[2].extension`.
    pub field: String,
    /// Stable machine name of the rule, e.g. `extension.no_88`.
    pub rule: &'static str,
    /// What is wrong, for a human.
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// A broken rule of a single value, before it is placed at a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable rule name.
    pub rule: &'static str,
    /// Message.
    pub message: String,
}

fn v(rule: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        rule,
        message: message.into(),
    }
}

/// A parsed extension: valid under the box settings it was parsed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extension(String);

impl Extension {
    /// Parses `s` under `settings` (SPEC §1.1).
    pub fn parse(s: &str, settings: &BoxSettings) -> Result<Extension, Vec<Violation>> {
        let errs = extension_violations(s, settings);
        if errs.is_empty() {
            Ok(Extension(s.to_owned()))
        } else {
            Err(errs)
        }
    }
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Rules of an extension: digits only, ≤ 5 digits, no leading `0`, never `88`, the fixed
/// length N when set, `2XXX`/`2XXXX` in mobile-line mode.
pub fn extension_violations(ext: &str, settings: &BoxSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_digit()) {
        out.push(v(
            "extension.digits",
            format!("extension '{ext}' must be digits only"),
        ));
        return out;
    }
    if ext.len() > 5 {
        out.push(v(
            "extension.max_5",
            format!("extension {ext} has more than 5 digits"),
        ));
    }
    if ext.starts_with('0') {
        out.push(v(
            "extension.no_leading_0",
            format!("extension {ext} starts with 0"),
        ));
    }
    if ext.contains("88") {
        out.push(v(
            "extension.no_88",
            format!("extension {ext} contains 88 (reserved for call pickup)"),
        ));
    }
    if let Some(n) = settings.extension_length {
        if ext.len() != usize::from(n) {
            out.push(v(
                "extension.fixed_length",
                format!("extension {ext} must have exactly {n} digits (box setting)"),
            ));
        }
    }
    if settings.mobile_line_mode && !(ext.starts_with('2') && (4..=5).contains(&ext.len())) {
        out.push(v(
            "extension.mobile_line",
            format!("in mobile-line mode extension {ext} must be 2XXX or 2XXXX"),
        ));
    }
    out
}

/// Rules of a number in international format: digits only, 10–15 digits, no leading `0` or `+`.
pub fn international_violations(n: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    if n.starts_with('+') {
        out.push(v(
            "international.no_plus",
            format!("number {n}: write it without '+'"),
        ));
    }
    let digits = n.trim_start_matches('+');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        out.push(v(
            "international.digits",
            format!("number '{n}' must be digits only"),
        ));
        return out;
    }
    if digits.starts_with('0') {
        out.push(v(
            "international.no_leading_0",
            format!("number {n} starts with 0; use the country code"),
        ));
    }
    if !(10..=15).contains(&digits.len()) {
        out.push(v(
            "international.length",
            format!("number {n} must have 10–15 digits including the country code"),
        ));
    }
    out
}

fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// Rules of a trunk's proxy host: a DNS host name, an IPv4 literal or an IPv6 literal (without
/// brackets). A name made only of digits and dots must be a valid IPv4 address.
pub fn host_violations(host: &str) -> Vec<Violation> {
    if host.trim().is_empty() {
        return vec![v("trunk.host_required", "the carrier's host is required")];
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Vec::new();
    }
    let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if numeric || !valid_host(host) {
        return vec![v(
            "trunk.host",
            format!("'{host}' is not a host name or an IP address"),
        )];
    }
    Vec::new()
}

/// Rules of an address of IP authentication: an IPv4/IPv6 address or a CIDR block with its
/// host bits zero (`10.0.0.0/24`).
pub fn ip_or_cidr_violations(entry: &str) -> Vec<Violation> {
    match IpNet::parse(entry) {
        Ok(_) => Vec::new(),
        Err(message) => vec![v("trunk.address", message)],
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Rules of a SIP URI phone: `number@host`, `number@host:port`, `letters@host`,
/// `letters@host:port`; the user part never contains `user` or `_`.
pub fn sip_uri_violations(uri: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let body = uri.strip_prefix("sip:").unwrap_or(uri);
    let Some((user, hostport)) = body.split_once('@') else {
        out.push(v(
            "sip_uri.format",
            format!("SIP URI '{uri}' must look like user@host or user@host:port"),
        ));
        return out;
    };
    if user.is_empty() || hostport.contains('@') {
        out.push(v(
            "sip_uri.format",
            format!("SIP URI '{uri}' must look like user@host or user@host:port"),
        ));
        return out;
    }
    if user.to_ascii_lowercase().contains("user") {
        out.push(v(
            "sip_uri.user_word",
            format!("SIP URI '{uri}': the user part must not contain the word 'user'"),
        ));
    }
    if user.contains('_') {
        out.push(v(
            "sip_uri.underscore",
            format!("SIP URI '{uri}': the user part must not contain '_'"),
        ));
    }
    if !user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'_'))
    {
        out.push(v(
            "sip_uri.user_chars",
            format!("SIP URI '{uri}': the user part must be a number or letters"),
        ));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if !valid_host(host) {
        out.push(v(
            "sip_uri.host",
            format!("SIP URI '{uri}': '{host}' is not a host name or IPv4 address"),
        ));
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !ok {
            out.push(v(
                "sip_uri.port",
                format!("SIP URI '{uri}': port '{p}' must be 1–65535"),
            ));
        }
    }
    out
}

/// Rules of a number mask: digits, `*` (any run of digits) and `?` (one digit), not empty.
pub fn mask_violations(mask: &str) -> Vec<Violation> {
    let body = mask.strip_prefix('+').unwrap_or(mask);
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'?')
    {
        vec![v(
            "mask.format",
            format!("'{mask}' is not a number mask (digits, '*' and '?')"),
        )]
    } else {
        Vec::new()
    }
}

/// Rules of one day's intervals: each within 00:00–24:00 with start < end, no two overlapping.
/// Returns `(index, violation)` pairs.
pub fn intervals_violations(intervals: &[Interval]) -> Vec<(usize, Violation)> {
    let mut out = Vec::new();
    for (i, iv) in intervals.iter().enumerate() {
        if iv.start > TimeOfDay::END_OF_DAY || iv.end > TimeOfDay::END_OF_DAY {
            out.push((
                i,
                v("interval.range", "interval must lie within 00:00–24:00"),
            ));
        } else if iv.start >= iv.end {
            out.push((
                i,
                v(
                    "interval.order",
                    format!("interval {iv}: start must be before end"),
                ),
            ));
        }
    }
    let mut sorted: Vec<(usize, &Interval)> = intervals
        .iter()
        .enumerate()
        .filter(|(_, iv)| iv.start < iv.end)
        .collect();
    sorted.sort_by_key(|(_, iv)| (iv.start, iv.end));
    for w in sorted.windows(2) {
        let ((_, a), (j, b)) = (w[0], w[1]);
        if b.start < a.end {
            out.push((
                j,
                v(
                    "interval.overlap",
                    format!("interval {b} overlaps {a} on the same day"),
                ),
            ));
        }
    }
    out
}

/// Collects errors with their paths.
struct Sink(Vec<ValidationError>);

impl Sink {
    fn push(&mut self, field: impl Into<String>, rule: &'static str, message: impl Into<String>) {
        self.0.push(ValidationError {
            field: field.into(),
            rule,
            message: message.into(),
        });
    }
    fn all(&mut self, field: &str, violations: Vec<Violation>) {
        for x in violations {
            self.push(field, x.rule, x.message);
        }
    }
    fn required(&mut self, field: String, value: &str, what: &str) {
        if value.trim().is_empty() {
            self.push(field, "name.required", format!("{what} is required"));
        }
    }
    fn unique<K: Ord + std::fmt::Display>(
        &mut self,
        rule: &'static str,
        what: &str,
        items: impl IntoIterator<Item = (K, String)>,
    ) {
        let mut seen: BTreeMap<K, String> = BTreeMap::new();
        for (k, path) in items {
            if let Some(first) = seen.get(&k) {
                let msg = format!("{what} {k} is already used at {first}");
                self.push(path, rule, msg);
            } else {
                seen.insert(k, path);
            }
        }
    }
}

/// Checks the whole configuration; an empty list means valid.
pub fn validate_config(cfg: &CompanyConfig) -> Vec<ValidationError> {
    let mut s = Sink(Vec::new());
    settings(cfg, &mut s);
    employees(cfg, &mut s);
    groups(cfg, &mut s);
    address_book(cfg, &mut s);
    number_lists(cfg, &mut s);
    schedules(cfg, &mut s);
    calendars(cfg, &mut s);
    numbers(cfg, &mut s);
    scenarios(cfg, &mut s);
    talk_options(cfg, &mut s);
    trunks(cfg, &mut s);
    s.0
}

fn settings(cfg: &CompanyConfig, s: &mut Sink) {
    if let Some(n) = cfg.settings.extension_length {
        if !(1..=5).contains(&n) {
            s.push(
                "settings.extension_length",
                "settings.extension_length",
                format!("fixed extension length {n} must be 1–5"),
            );
        }
        if cfg.settings.mobile_line_mode && !(4..=5).contains(&n) {
            s.push(
                "settings.extension_length",
                "settings.mobile_line_length",
                format!("mobile-line mode needs 4- or 5-digit extensions, not {n}"),
            );
        }
    }
    if !cfg.time_zone.is_empty() && cfg.time_zone.parse::<chrono_tz::Tz>().is_err() {
        s.push(
            "time_zone",
            "settings.time_zone",
            format!("'{}' is not an IANA time zone", cfg.time_zone),
        );
    }
}

fn employees(cfg: &CompanyConfig, s: &mut Sink) {
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
    let mut extensions: Vec<(String, String)> = Vec::new();
    let mut logins: Vec<(String, String)> = Vec::new();
    let mut line_ids: Vec<(SipLineId, String)> = Vec::new();
    for (i, e) in cfg.employees.iter().enumerate() {
        let p = format!("employees[{i}]");
        s.required(format!("{p}.last_name"), &e.last_name, "last name");
        let field = format!("{p}.extension");
        s.all(&field, extension_violations(&e.extension, &cfg.settings));
        extensions.push((e.extension.clone(), field));
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
                    logins.push((l.login.clone(), format!("{pp}.login")));
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
            extensions.push((x.clone(), field));
        }
    }
    s.unique("extension.unique", "extension", extensions);
    s.unique("login.unique", "SIP login", logins);
    s.unique("id.unique", "SIP line id", line_ids);
}

fn groups(cfg: &CompanyConfig, s: &mut Sink) {
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
    }
}

fn address_book(cfg: &CompanyConfig, s: &mut Sink) {
    let employees: BTreeSet<EmployeeId> = cfg.employees.iter().map(|e| e.id).collect();
    let cgroups: BTreeSet<ContactGroupId> = cfg.contact_groups.iter().map(|g| g.id).collect();
    let tags: BTreeSet<TagId> = cfg.tags.iter().map(|t| t.id).collect();
    s.unique(
        "id.unique",
        "contact id",
        cfg.contacts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, format!("contacts[{i}].id"))),
    );
    s.unique(
        "id.unique",
        "contact group id",
        cfg.contact_groups
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, format!("contact_groups[{i}].id"))),
    );
    s.unique(
        "id.unique",
        "tag id",
        cfg.tags
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, format!("tags[{i}].id"))),
    );
    for (i, g) in cfg.contact_groups.iter().enumerate() {
        s.required(
            format!("contact_groups[{i}].name"),
            &g.name,
            "contact group name",
        );
    }
    for (i, t) in cfg.tags.iter().enumerate() {
        s.required(format!("tags[{i}].name"), &t.name, "tag name");
    }
    for (i, c) in cfg.contacts.iter().enumerate() {
        let p = format!("contacts[{i}]");
        s.required(format!("{p}.last_name"), &c.last_name, "last name");
        for (j, ph) in c.phones.iter().enumerate() {
            s.all(&format!("{p}.phones[{j}]"), international_violations(ph));
        }
        for (j, g) in c.groups.iter().enumerate() {
            if !cgroups.contains(g) {
                s.push(
                    format!("{p}.groups[{j}]"),
                    "ref.contact_group",
                    format!("contact group {g} does not exist"),
                );
            }
        }
        for (j, t) in c.tags.iter().enumerate() {
            if !tags.contains(t) {
                s.push(
                    format!("{p}.tags[{j}]"),
                    "ref.tag",
                    format!("tag {t} does not exist"),
                );
            }
        }
        if let Some(m) = c.manager {
            if !employees.contains(&m) {
                s.push(
                    format!("{p}.manager"),
                    "ref.employee",
                    format!("employee {m} does not exist"),
                );
            }
        }
    }
}

fn number_lists(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "number list id",
        cfg.number_lists
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id, format!("number_lists[{i}].id"))),
    );
    let mut blacklists = 0;
    for (i, l) in cfg.number_lists.iter().enumerate() {
        let p = format!("number_lists[{i}]");
        s.required(format!("{p}.name"), &l.name, "list name");
        for (j, e) in l.entries.iter().enumerate() {
            s.all(&format!("{p}.entries[{j}]"), mask_violations(e));
        }
        if l.blacklist {
            blacklists += 1;
            if blacklists > 1 {
                s.push(
                    format!("{p}.blacklist"),
                    "blacklist.single",
                    "only one list can be the blacklist",
                );
            }
            if l.kind != ListKind::Black {
                s.push(
                    format!("{p}.kind"),
                    "blacklist.kind",
                    "the blacklist must be a black list",
                );
            }
        }
    }
}

fn day_intervals(s: &mut Sink, path: &str, intervals: &[Interval]) {
    for (i, x) in intervals_violations(intervals) {
        s.push(format!("{path}[{i}]"), x.rule, x.message);
    }
}

fn schedules(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "schedule id",
        cfg.schedules
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("schedules[{i}].id"))),
    );
    for (i, sch) in cfg.schedules.iter().enumerate() {
        let p = format!("schedules[{i}]");
        s.required(format!("{p}.name"), &sch.name, "schedule name");
        if let (Some(a), Some(b)) = (sch.period_start, sch.period_end) {
            if a > b {
                s.push(
                    format!("{p}.period_end"),
                    "period.order",
                    format!("activity period ends ({b}) before it starts ({a})"),
                );
            }
        }
        let d = format!("{p}.days");
        match &sch.days {
            ScheduleKind::Always => {}
            ScheduleKind::Weekly { week } => {
                for (day, ivs) in week {
                    day_intervals(s, &format!("{d}.week.{}", day.short().to_lowercase()), ivs);
                }
            }
            ScheduleKind::DayTypes {
                working,
                weekend,
                holiday,
            } => {
                day_intervals(s, &format!("{d}.working"), working);
                day_intervals(s, &format!("{d}.weekend"), weekend);
                day_intervals(s, &format!("{d}.holiday"), holiday);
            }
            ScheduleKind::DaysOfMonth { days, intervals } => {
                for (j, n) in days.iter().enumerate() {
                    if !(1..=31).contains(n) {
                        s.push(
                            format!("{d}.days[{j}]"),
                            "days_of_month.range",
                            format!("day {n} is not 1–31"),
                        );
                    }
                }
                day_intervals(s, &format!("{d}.intervals"), intervals);
            }
            ScheduleKind::Cycle {
                on, off, intervals, ..
            } => {
                if *on == 0 {
                    s.push(
                        format!("{d}.on"),
                        "cycle.min_1",
                        "a cycle has at least 1 working day",
                    );
                }
                if *off == 0 {
                    s.push(
                        format!("{d}.off"),
                        "cycle.min_1",
                        "a cycle has at least 1 day off",
                    );
                }
                day_intervals(s, &format!("{d}.intervals"), intervals);
            }
        }
    }
}

fn calendars(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "calendar.year_unique",
        "calendar year",
        cfg.calendars
            .iter()
            .enumerate()
            .map(|(i, c)| (c.year, format!("calendars[{i}].year"))),
    );
    for (i, c) in cfg.calendars.iter().enumerate() {
        let p = format!("calendars[{i}]");
        for (name, dates) in [
            ("holidays", &c.holidays),
            ("working_days", &c.working_days),
            ("shortened_days", &c.shortened_days),
        ] {
            for (j, d) in dates.iter().enumerate() {
                if d.year() != c.year {
                    s.push(
                        format!("{p}.{name}[{j}]"),
                        "calendar.date_year",
                        format!("{d} is not in {}", c.year),
                    );
                }
            }
        }
        for (j, d) in c.working_days.iter().enumerate() {
            if c.holidays.contains(d) {
                s.push(
                    format!("{p}.working_days[{j}]"),
                    "calendar.conflict",
                    format!("{d} is both a holiday and a working day"),
                );
            }
        }
    }
}

fn caller_filter_refs(cfg: &CompanyConfig, s: &mut Sink, path: &str, f: &CallerFilter) {
    match f {
        CallerFilter::All | CallerFilter::Unknown => {}
        CallerFilter::Numbers { masks } => {
            for (k, m) in masks.iter().enumerate() {
                s.all(&format!("{path}.masks[{k}]"), mask_violations(m));
            }
        }
        CallerFilter::Contacts { contacts } => {
            for (k, c) in contacts.iter().enumerate() {
                if !cfg.contacts.iter().any(|x| x.id == *c) {
                    s.push(
                        format!("{path}.contacts[{k}]"),
                        "ref.contact",
                        format!("contact {c} does not exist"),
                    );
                }
            }
        }
        CallerFilter::ContactGroups { groups } => {
            for (k, g) in groups.iter().enumerate() {
                if !cfg.contact_groups.iter().any(|x| x.id == *g) {
                    s.push(
                        format!("{path}.groups[{k}]"),
                        "ref.contact_group",
                        format!("contact group {g} does not exist"),
                    );
                }
            }
        }
        CallerFilter::NumberList { list } => {
            if cfg.number_list(*list).is_none() {
                s.push(
                    format!("{path}.list"),
                    "ref.number_list",
                    format!("number list {list} does not exist"),
                );
            }
        }
    }
}

fn numbers(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "number.unique",
        "virtual number",
        cfg.numbers
            .iter()
            .enumerate()
            .map(|(i, n)| (n.number.clone(), format!("numbers[{i}].number"))),
    );
    let mut rule_ids = Vec::new();
    for (i, n) in cfg.numbers.iter().enumerate() {
        let p = format!("numbers[{i}]");
        s.all(&format!("{p}.number"), international_violations(&n.number));
        for (j, r) in n.rules.iter().enumerate() {
            let rp = format!("{p}.rules[{j}]");
            rule_ids.push((r.id, format!("{rp}.id")));
            if cfg.scenario(r.scenario).is_none() {
                s.push(
                    format!("{rp}.scenario"),
                    "ref.scenario",
                    format!("scenario {} does not exist", r.scenario),
                );
            }
            if let Some(sch) = r.schedule {
                if cfg.schedule(sch).is_none() {
                    s.push(
                        format!("{rp}.schedule"),
                        "ref.schedule",
                        format!("schedule {sch} does not exist"),
                    );
                }
            }
            caller_filter_refs(cfg, s, &format!("{rp}.callers"), &r.callers);
        }
    }
    s.unique("id.unique", "rule id", rule_ids);
}

fn scenarios(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "scenario id",
        cfg.scenarios
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("scenarios[{i}].id"))),
    );
    s.unique(
        "id.unique",
        "file id",
        cfg.files
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("files[{i}].id"))),
    );
    for (i, sc) in cfg.scenarios.iter().enumerate() {
        s.required(format!("scenarios[{i}].name"), &sc.name, "scenario name");
        for (name, op) in &sc.operations {
            if let Action::InfoMessage {
                prompt: Prompt::File { id },
            } = &op.action
            {
                if cfg.file(*id).is_none() {
                    s.push(
                        format!("scenarios[{i}].operations.{name}.action.prompt.id"),
                        "ref.file",
                        format!("file {id} does not exist"),
                    );
                }
            }
            if let Action::Voicemail {
                max_s, silence_s, ..
            } = &op.action
            {
                if !(1..=600).contains(max_s) {
                    s.push(
                        format!("scenarios[{i}].operations.{name}.action.max_s"),
                        "voicemail.max_s",
                        "max_s must be 1-600 seconds",
                    );
                }
                if *silence_s > 60 {
                    s.push(
                        format!("scenarios[{i}].operations.{name}.action.silence_s"),
                        "voicemail.silence_s",
                        "silence_s must be 0-60 seconds",
                    );
                }
            }
            if let Action::Forward(f) = &op.action {
                forward_targets(
                    cfg,
                    s,
                    &format!("scenarios[{i}].operations.{name}.action"),
                    f,
                );
            }
        }
    }
}

fn forward_targets(cfg: &CompanyConfig, s: &mut Sink, at: &str, f: &crate::model::Forward) {
    use crate::model::ForwardTarget;
    if f.targets.is_empty() {
        s.push(
            format!("{at}.targets"),
            "forward.targets_required",
            "a forward operation needs at least one target",
        );
    }
    if f.max_wait_s == Some(0) {
        s.push(
            format!("{at}.max_wait_s"),
            "forward.max_wait_positive",
            "max_wait_s must be at least 1 second when set",
        );
    }
    for (k, t) in f.targets.iter().enumerate() {
        let field = format!("{at}.targets[{k}]");
        match t {
            ForwardTarget::Employee { id } if cfg.employee(*id).is_none() => s.push(
                format!("{field}.id"),
                "ref.employee",
                format!("employee {id} does not exist"),
            ),
            ForwardTarget::Group { id } if cfg.group(*id).is_none() => s.push(
                format!("{field}.id"),
                "ref.group",
                format!("group {id} does not exist"),
            ),
            ForwardTarget::External { number, .. }
                if number.is_empty()
                    || number.len() > 15
                    || !number.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.push(
                    format!("{field}.number"),
                    "forward.external_digits",
                    "an external number is 1-15 digits in international format, without +",
                )
            }
            ForwardTarget::SipUri { uri, .. }
                if !uri.contains('@') || uri.starts_with('@') || uri.ends_with('@') =>
            {
                s.push(
                    format!("{field}.uri"),
                    "forward.sip_uri",
                    "a SIP URI target is user@host or user@host:port",
                )
            }
            _ => {}
        }
    }
}

fn talk_options(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "talk option id",
        cfg.talk_options
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("talk_options[{i}].id"))),
    );
    s.unique(
        "talk.keys_unique",
        "key sequence",
        cfg.talk_options
            .iter()
            .enumerate()
            .map(|(i, x)| (x.keys.clone(), format!("talk_options[{i}].keys"))),
    );
    for (i, t) in cfg.talk_options.iter().enumerate() {
        let p = format!("talk_options[{i}]");
        let keys_ok = (1..=4).contains(&t.keys.len())
            && t.keys
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !keys_ok {
            s.push(
                format!("{p}.keys"),
                "talk.keys",
                format!("'{}' is not 1–4 DTMF keys (0–9, *, #)", t.keys),
            );
        }
        let a = format!("{p}.action");
        match &t.action {
            TalkAction::RunScenario { scenario } if cfg.scenario(*scenario).is_none() => s.push(
                format!("{a}.scenario"),
                "ref.scenario",
                format!("scenario {scenario} does not exist"),
            ),
            TalkAction::Tag { tag: Some(tag) } if !cfg.tags.iter().any(|x| x.id == *tag) => s.push(
                format!("{a}.tag"),
                "ref.tag",
                format!("tag {tag} does not exist"),
            ),
            TalkAction::SaveCallerId {
                target: SaveTarget::List { list },
            } if cfg.number_list(*list).is_none() => s.push(
                format!("{a}.target.list"),
                "ref.number_list",
                format!("number list {list} does not exist"),
            ),
            TalkAction::SaveCallerId {
                target: SaveTarget::ContactGroup { group },
            } if !cfg.contact_groups.iter().any(|x| x.id == *group) => s.push(
                format!("{a}.target.group"),
                "ref.contact_group",
                format!("contact group {group} does not exist"),
            ),
            _ => {}
        }
    }
}

fn trunks(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "trunk id",
        cfg.trunks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, format!("trunks[{i}].id"))),
    );
    s.unique(
        "trunk.name_unique",
        "trunk name",
        cfg.trunks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.name.trim().is_empty())
            .map(|(i, t)| (t.name.trim().to_owned(), format!("trunks[{i}].name"))),
    );
    let mut dids: Vec<(String, String)> = Vec::new();
    for (i, t) in cfg.trunks.iter().enumerate() {
        let p = format!("trunks[{i}]");
        s.required(format!("{p}.name"), &t.name, "trunk name");
        s.all(&format!("{p}.host"), host_violations(&t.host));
        if t.port == 0 {
            s.push(
                format!("{p}.port"),
                "trunk.port",
                "the carrier's port must be 1–65535",
            );
        }
        let a = format!("{p}.auth");
        match &t.auth {
            TrunkAuth::Registration {
                username,
                password,
                expires_s,
                ..
            } => {
                if username.trim().is_empty() {
                    s.push(
                        format!("{a}.username"),
                        "trunk.username",
                        "registration needs the user name the carrier gave",
                    );
                }
                if password.is_empty() {
                    s.push(
                        format!("{a}.password"),
                        "trunk.password",
                        "registration needs the password the carrier gave",
                    );
                }
                if !(60..=3600).contains(expires_s) {
                    s.push(
                        format!("{a}.expires_s"),
                        "trunk.expires",
                        format!("registration expiry {expires_s} s must be 60–3600"),
                    );
                }
            }
            TrunkAuth::Ip { addresses } => {
                if addresses.is_empty() {
                    s.push(
                        format!("{a}.addresses"),
                        "trunk.addresses_required",
                        "IP authentication needs at least one address or block",
                    );
                }
                for (j, x) in addresses.iter().enumerate() {
                    s.all(&format!("{a}.addresses[{j}]"), ip_or_cidr_violations(x));
                }
            }
        }
        for (j, m) in t.dids.iter().enumerate() {
            let d = format!("{p}.dids[{j}]");
            if !all_digits(&m.did) || m.did.len() > 20 {
                s.push(
                    format!("{d}.did"),
                    "trunk.did_digits",
                    format!("DID '{}' must be 1–20 digits", m.did),
                );
            }
            dids.push((m.did.clone(), format!("{d}.did")));
            if cfg.number(&m.number).is_none() {
                s.push(
                    format!("{d}.number"),
                    "trunk.did_unknown_number",
                    format!(
                        "DID {} maps to {}, which is not a virtual number of the company",
                        m.did, m.number
                    ),
                );
            }
        }
        for (j, x) in t.prefixes.iter().enumerate() {
            if !all_digits(x) {
                s.push(
                    format!("{p}.prefixes[{j}]"),
                    "trunk.prefix",
                    format!("outbound prefix '{x}' must be digits"),
                );
            }
        }
        if t.max_channels == Some(0) {
            s.push(
                format!("{p}.max_channels"),
                "trunk.max_channels",
                "a trunk carries at least 1 call (leave max_channels out for no limit)",
            );
        }
    }
    s.unique("trunk.did_unique", "DID", dids);
}
