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
//! One file per kind of entity. Scenarios (`scenarios.rs`) are checked from what each operation
//! answers about itself (`exits()`, `refs()`, its own `violations()`), graph included: a missing
//! start, an unknown exit or an exit to a missing operation is an error (`scenario.graph`, at
//! `scenarios[i].start` / `scenarios[i].operations.<op>.exits.<exit>`); what only risks losing
//! calls (an unset exit, an unreachable operation, a loop with no way out) is a warning from
//! [`scenario_warnings`], which never refuses a configuration.
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
use std::collections::BTreeMap;

mod address_book;
mod directory;
mod ids;
mod number_lists;
mod numbers;
mod scenarios;
mod schedules;
mod settings;
mod talk;
mod trunks;
mod values;

use address_book::address_book;
use directory::{employees, groups};
use ids::ids;
pub use ids::MAX_ID;
use number_lists::number_lists;
use numbers::numbers;
pub use scenarios::scenario_warnings;
use scenarios::scenarios;
use schedules::{calendars, schedules};
use settings::settings;
use talk::talk_options;
use trunks::trunks;
pub use values::{
    extension_violations, host_violations, international_violations, intervals_violations,
    ip_or_cidr_violations, mask_violations, sip_uri_violations, Extension,
};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// Path of the offending field, e.g. `employees[2].extension`.
    pub field: String,
    /// Stable machine name of the rule, e.g. `extension.no_88`.
    pub rule: &'static str,
    /// What is wrong, for a human.
    pub message: String,
    /// For a clash between two entities (a value that must be unique), the same error seen
    /// from the other party: the error sits on the later of the two in document order, and
    /// [`ValidationError::localize`] moves it to the other one when that is the entity being
    /// written. Not part of the API's JSON.
    #[serde(skip)]
    pub clash: Option<Clash>,
}

/// The other side of a clash: where the first holder of the value is, and the message that
/// names the later one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// Path of the first holder's field.
    pub field: String,
    /// The message as seen from that field.
    pub message: String,
}

impl ValidationError {
    /// A broken rule at `field`.
    pub fn new(
        field: impl Into<String>,
        rule: &'static str,
        message: impl Into<String>,
    ) -> ValidationError {
        ValidationError {
            field: field.into(),
            rule,
            message: message.into(),
            clash: None,
        }
    }

    /// Re-expresses errors of a whole document for a request that wrote one entity at
    /// `prefix` (`employees[2]`, `numbers[0].rules[1]`): a field inside it is named from the
    /// entity itself (`employees[2].phones[0].login` → `phones[0].login`; the entity's own
    /// path becomes `root`, which is empty for a request body), and a clash whose other party
    /// is this entity is reported on this entity's field, naming the holder. Errors about
    /// other entities keep their document paths.
    pub fn localize(
        errors: Vec<ValidationError>,
        prefix: &str,
        root: &str,
    ) -> Vec<ValidationError> {
        let mut out: Vec<ValidationError> = Vec::with_capacity(errors.len());
        for e in errors {
            let moved = if let Some(local) = local_path(&e.field, prefix, root) {
                Some(ValidationError::new(
                    local,
                    e.rule,
                    local_message(&e.message, prefix, root),
                ))
            } else {
                e.clash.as_ref().and_then(|c| {
                    local_path(&c.field, prefix, root).map(|local| {
                        ValidationError::new(local, e.rule, local_message(&c.message, prefix, root))
                    })
                })
            };
            let e = moved.unwrap_or(e);
            if !out
                .iter()
                .any(|x| x.field == e.field && x.rule == e.rule && x.message == e.message)
            {
                out.push(e);
            }
        }
        out
    }
}

/// `field` relative to `prefix`, when it is inside it.
fn local_path(field: &str, prefix: &str, root: &str) -> Option<String> {
    let rest = field.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some(root.to_owned())
    } else if let Some(r) = rest.strip_prefix('.') {
        Some(if root.is_empty() {
            r.to_owned()
        } else {
            format!("{root}.{r}")
        })
    } else if rest.starts_with('[') {
        Some(format!("{root}{rest}"))
    } else {
        None
    }
}

/// A message's mentions of paths inside `prefix`, made relative like the fields.
fn local_message(message: &str, prefix: &str, root: &str) -> String {
    let dotted = format!("{prefix}.");
    if root.is_empty() {
        message.replace(&dotted, "")
    } else {
        message.replace(&dotted, &format!("{root}."))
    }
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

pub(crate) fn v(rule: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        rule,
        message: message.into(),
    }
}

/// Collects errors with their paths.
pub(crate) struct Sink(Vec<ValidationError>);

impl Sink {
    pub(crate) fn push(
        &mut self,
        field: impl Into<String>,
        rule: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(ValidationError::new(field, rule, message));
    }
    pub(crate) fn all(&mut self, field: &str, violations: Vec<Violation>) {
        for x in violations {
            self.push(field, x.rule, x.message);
        }
    }
    pub(crate) fn required(&mut self, field: String, value: &str, what: &str) {
        if value.trim().is_empty() {
            self.push(field, "name.required", format!("{what} is required"));
        }
    }
    /// Values that must be unique, each with the path that holds it: every repeat is an
    /// error at the repeat, naming the first holder's path.
    pub(crate) fn unique<K: Ord + std::fmt::Display>(
        &mut self,
        rule: &'static str,
        what: &str,
        items: impl IntoIterator<Item = (K, String)>,
    ) {
        self.unique_by(
            rule,
            what,
            items.into_iter().map(|(k, path)| {
                let holder = format!("at {path}");
                (k, path, holder)
            }),
        );
    }

    /// Like [`Sink::unique`], with how each holder is named in messages (`by group Sales
    /// (id 1)`). The error carries the other side of the clash ([`Clash`]), so a request that
    /// writes the first holder is told on its own field who else has the value.
    pub(crate) fn unique_by<K: Ord + std::fmt::Display>(
        &mut self,
        rule: &'static str,
        what: &str,
        items: impl IntoIterator<Item = (K, String, String)>,
    ) {
        let mut seen: BTreeMap<K, (String, String)> = BTreeMap::new();
        for (k, path, holder) in items {
            if let Some((first, first_holder)) = seen.get(&k) {
                let mut e = ValidationError::new(
                    path,
                    rule,
                    format!("{what} {k} is already used {first_holder}"),
                );
                e.clash = Some(Clash {
                    field: first.clone(),
                    message: format!("{what} {k} is already used {holder}"),
                });
                self.0.push(e);
            } else {
                seen.insert(k, (path, holder));
            }
        }
    }
}

/// Checks the whole configuration; an empty list means valid.
pub fn validate_config(cfg: &CompanyConfig) -> Vec<ValidationError> {
    let mut s = Sink(Vec::new());
    ids(cfg, &mut s);
    for (i, f) in cfg.files.iter().enumerate() {
        s.all(
            &format!("files[{i}].path"),
            crate::files::path_violations(&f.path),
        );
    }
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

#[cfg(test)]
mod localize_tests {
    use super::*;

    #[test]
    fn paths_inside_the_written_entity_lose_its_prefix_and_clashes_move_to_it() {
        let mut clash = ValidationError::new(
            "groups[0].extension",
            "extension.unique",
            "extension 200 is already used by employee Vera (id 11)",
        );
        clash.clash = Some(Clash {
            field: "employees[1].extension".into(),
            message: "extension 200 is already used by group Sales (id 1)".into(),
        });
        let errors = vec![
            ValidationError::new("employees[1].extension", "extension.no_88", "188"),
            ValidationError::new(
                "employees[1].phones[0].login",
                "login.unique",
                "SIP login a is already used at employees[1].phones[1].login",
            ),
            // Another entity whose index starts the same: untouched.
            ValidationError::new("employees[10].extension", "extension.digits", "x"),
            clash,
        ];
        let got = ValidationError::localize(errors, "employees[1]", "");
        let fields: Vec<(&str, &str)> = got
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("extension", "188"),
                (
                    "phones[0].login",
                    "SIP login a is already used at phones[1].login"
                ),
                ("employees[10].extension", "x"),
                (
                    "extension",
                    "extension 200 is already used by group Sales (id 1)"
                ),
            ]
        );
        // A request that names the entity itself (a blacklist entry is the body's `number`).
        let got = ValidationError::localize(
            vec![ValidationError::new(
                "number_lists[0].entries[2]",
                "mask.format",
                "bad",
            )],
            "number_lists[0].entries[2]",
            "number",
        );
        assert_eq!(got[0].field, "number");
    }
}
