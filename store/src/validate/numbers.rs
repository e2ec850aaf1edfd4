//! Virtual numbers and their rules.

use super::values::{international_violations, mask_violations};
use super::Sink;
use crate::model::*;

pub(super) fn caller_filter_refs(cfg: &CompanyConfig, s: &mut Sink, path: &str, f: &CallerFilter) {
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

pub(super) fn numbers(cfg: &CompanyConfig, s: &mut Sink) {
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
