//! What a phone of the box dialled (SPEC §5): an employee's extension, a group's extension, a
//! call-pickup code, or an external number — and the one-operation scenario such a call runs.

use std::collections::BTreeMap;
use vpbx_store::model::{
    Action, CompanyConfig, EmployeeId, Forward, ForwardTarget, GroupId, OpName, Operation,
    RingMode, Scenario, ScenarioId,
};

/// Shortest string treated as an external number (extensions have at most 5 digits).
pub const MIN_EXTERNAL_DIGITS: usize = 6;

/// The call-pickup code (SPEC §1.1: no extension contains `88`, it is reserved for pickup):
/// `88` alone picks up a call ringing in the caller's groups, `88` + an extension the call
/// ringing that employee.
pub const PICKUP_CODE: &str = "88";

/// The classification of a dialled string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialled {
    /// An employee's extension.
    Employee(EmployeeId, String),
    /// A group's extension.
    Group(GroupId, String),
    /// The call-pickup code: alone (`None`, a call ringing in the caller's groups) or followed
    /// by an employee's extension (that employee's ringing call).
    Pickup(Option<(EmployeeId, String)>),
    /// An external number (digits, international format; a leading `+` dropped).
    External(String),
    /// Nothing this box knows.
    Unknown,
}

/// Classifies `dialled` against the directory.
pub fn classify(cfg: &CompanyConfig, dialled: &str) -> Dialled {
    if let Some(e) = cfg.employees.iter().find(|e| e.extension == dialled) {
        return Dialled::Employee(e.id, e.extension.clone());
    }
    if let Some(g) = cfg
        .groups
        .iter()
        .find(|g| g.extension.as_deref() == Some(dialled))
    {
        return Dialled::Group(g.id, g.name.clone());
    }
    if let Some(rest) = dialled.strip_prefix(PICKUP_CODE) {
        if rest.is_empty() {
            return Dialled::Pickup(None);
        }
        if let Some(e) = cfg.employees.iter().find(|e| e.extension == rest) {
            return Dialled::Pickup(Some((e.id, e.extension.clone())));
        }
    }
    let digits = dialled.strip_prefix('+').unwrap_or(dialled);
    if digits.len() >= MIN_EXTERNAL_DIGITS
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Dialled::External(digits.to_string());
    }
    Dialled::Unknown
}

/// Where the switch dials `number` when it places a call itself (a queue callback, the call
/// API): an employee's extension rings their first SIP line (else their first phone), a
/// number of 6 to 15 digits goes out through a trunk. `None`: nothing this box can dial.
pub fn dial_target(cfg: &CompanyConfig, number: &str) -> Option<crate::core::leg::DialTarget> {
    use crate::core::leg::DialTarget;
    use vpbx_store::model::Phone;
    match classify(cfg, number) {
        Dialled::Employee(id, _) => {
            let e = cfg.employee(id)?;
            let phone = e
                .phones
                .iter()
                .find(|p| matches!(p, Phone::SipLine(_)))
                .or_else(|| e.phones.first())?;
            Some(match phone {
                Phone::SipLine(l) => DialTarget::Line {
                    line: l.id,
                    login: l.login.clone(),
                },
                Phone::External { number, .. } => DialTarget::External(number.clone()),
                Phone::SipUri { uri, .. } => DialTarget::Uri(uri.clone()),
            })
        }
        Dialled::External(n) => Some(DialTarget::External(n)),
        Dialled::Group(..) | Dialled::Pickup(_) | Dialled::Unknown => None,
    }
}

/// The scenario of a direct call: one forward operation to `target`, the call ends after it.
pub fn direct_scenario(name: String, target: ForwardTarget) -> Scenario {
    let op = OpName("dial".into());
    Scenario {
        id: ScenarioId(0),
        name,
        start: op.clone(),
        operations: BTreeMap::from([(
            op,
            Operation {
                action: Action::Forward(Forward {
                    operator_hint: None,
                    targets: vec![target],
                    mode: RingMode::Sequential,
                    max_wait_s: None,
                    ringback: None,
                    present_virtual_number: false,
                    strategy: None,
                    queue: None,
                    wrap_up_s: 0,
                    not_answered: None,
                }),
                exits: BTreeMap::new(),
            },
        )]),
        record: false,
        greeting: None,
        ringback: None,
        present_virtual_number: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpbx_store::model::{Employee, Group};

    #[test]
    fn extensions_groups_and_numbers() {
        let cfg = CompanyConfig {
            employees: vec![Employee {
                id: EmployeeId(1),
                first_name: String::new(),
                last_name: "A".into(),
                email: None,
                extension: "101".into(),
                calls_enabled: true,
                phones: vec![],
                schedule: None,
                rating: false,
                trainer: None,
                trainer_joins_every_call: false,
                transfers_join_queue: false,
                percent_distribution: false,
            }],
            groups: vec![Group {
                strategy: None,
                id: GroupId(2),
                name: "Sales".into(),
                extension: Some("200".into()),
                members: vec![],
                simultaneous_lines: 1,
                schedule: None,
                sort_by_type: None,
                percent_distribution: false,
                percents: Default::default(),
            }],
            ..Default::default()
        };
        assert_eq!(
            classify(&cfg, "101"),
            Dialled::Employee(EmployeeId(1), "101".into())
        );
        assert_eq!(
            classify(&cfg, "200"),
            Dialled::Group(GroupId(2), "Sales".into())
        );
        assert_eq!(
            classify(&cfg, "+79161234567"),
            Dialled::External("79161234567".into())
        );
        assert_eq!(classify(&cfg, "999"), Dialled::Unknown);
        assert_eq!(classify(&cfg, "88"), Dialled::Pickup(None));
        assert_eq!(
            classify(&cfg, "88101"),
            Dialled::Pickup(Some((EmployeeId(1), "101".into())))
        );
        assert_eq!(classify(&cfg, "88999"), Dialled::Unknown);
        assert_eq!(classify(&cfg, "12ab5678"), Dialled::Unknown);
    }
}
