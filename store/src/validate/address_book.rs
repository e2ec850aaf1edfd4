//! The address book: contacts, contact groups and tags.

use super::values::international_violations;
use super::Sink;
use crate::model::*;
use std::collections::BTreeSet;

pub(super) fn address_book(cfg: &CompanyConfig, s: &mut Sink) {
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
