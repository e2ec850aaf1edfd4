//! The address book: contacts, contact groups, tags and segments.

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
    segments(cfg, &cgroups, &tags, s);
}

/// Segments: a name, existing contact groups and tags, regions the numbering plan knows, and
/// at least one condition (`segment.empty`).
fn segments(
    cfg: &CompanyConfig,
    cgroups: &BTreeSet<ContactGroupId>,
    tags: &BTreeSet<TagId>,
    s: &mut Sink,
) {
    s.unique(
        "id.unique",
        "segment id",
        cfg.segments
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("segments[{i}].id"))),
    );
    for (i, sg) in cfg.segments.iter().enumerate() {
        let p = format!("segments[{i}]");
        s.required(format!("{p}.name"), &sg.name, "segment name");
        if sg.is_empty() {
            s.push(
                p.clone(),
                "segment.empty",
                "a segment needs at least one condition: contact_groups, tags or regions",
            );
        }
        for (j, g) in sg.contact_groups.iter().enumerate() {
            if !cgroups.contains(g) {
                s.push(
                    format!("{p}.contact_groups[{j}]"),
                    "ref.contact_group",
                    format!("contact group {g} does not exist"),
                );
            }
        }
        for (j, t) in sg.tags.iter().enumerate() {
            if !tags.contains(t) {
                s.push(
                    format!("{p}.tags[{j}]"),
                    "ref.tag",
                    format!("tag {t} does not exist"),
                );
            }
        }
        for (j, code) in sg.regions.iter().enumerate() {
            if !ops::region_known(code) {
                s.push(
                    format!("{p}.regions[{j}]"),
                    "segment.region",
                    format!(
                        "unknown region {code:?}: an ISO 3166-2 code of a Russian federal \
                         subject (RU-MOW) or an ISO 3166-1 alpha-2 country code (GB)"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::*;
    use crate::validate::validate_config;

    fn rules(cfg: &CompanyConfig) -> Vec<(String, &'static str)> {
        validate_config(cfg)
            .into_iter()
            .map(|e| (e.field, e.rule))
            .collect()
    }

    #[test]
    fn segments_name_existing_groups_tags_and_known_regions() {
        let mut cfg = CompanyConfig {
            contact_groups: vec![ContactGroup {
                id: ContactGroupId(1),
                name: "VIP".into(),
            }],
            tags: vec![Tag {
                id: TagId(2),
                name: "wholesale".into(),
            }],
            ..Default::default()
        };
        let segment = |id, groups: &[u64], tags: &[u64], regions: &[&str]| Segment {
            id: SegmentId(id),
            name: format!("S{id}"),
            contact_groups: groups.iter().map(|g| ContactGroupId(*g)).collect(),
            tags: tags.iter().map(|t| TagId(*t)).collect(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
        };
        cfg.segments = vec![
            segment(1, &[1], &[], &["RU-MOW", "GB"]),
            segment(2, &[], &[2], &[]),
            segment(3, &[], &[], &["RU"]),
        ];
        assert_eq!(rules(&cfg), []);
        cfg.segments = vec![
            segment(1, &[7], &[8], &["RU-XXX", "ru"]),
            segment(2, &[], &[], &[]),
            segment(2, &[1], &[], &[]),
        ];
        cfg.segments[1].name = " ".into();
        assert_eq!(
            rules(&cfg),
            [
                ("segments[2].id".to_string(), "id.unique"),
                (
                    "segments[0].contact_groups[0]".to_string(),
                    "ref.contact_group"
                ),
                ("segments[0].tags[0]".to_string(), "ref.tag"),
                ("segments[0].regions[0]".to_string(), "segment.region"),
                ("segments[0].regions[1]".to_string(), "segment.region"),
                ("segments[1].name".to_string(), "name.required"),
                ("segments[1]".to_string(), "segment.empty"),
            ]
        );
    }
}
