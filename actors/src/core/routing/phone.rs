//! Routing of a phone's own call (SPEC §5): a line of the box dialled an employee's extension, a
//! group's extension, the call-pickup code or an external number. This decides what the dialled string is (through
//! [`dialplan::classify`]), whether the line may make the call (outbound policy, a trunk that
//! serves the number), the number presented outside (the caller-ID choice), and the
//! one-operation scenario the call runs.

use super::Routed;
use crate::core::dialplan::{self, Dialled};
use vpbx_store::model::{
    pick_outbound, CompanyConfig, Employee, ForwardTarget, RuleId, Scenario, ScenarioId, SipLine,
    SipLineId, TrunkId,
};

/// Seconds an external number rings on a phone's direct call.
pub const EXTERNAL_RING_S: u32 = 60;

/// A phone's call that may go ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneRoute {
    /// The caller number the call carries: the employee's extension.
    pub numa: String,
    /// The routing decision (no rule: rule 0, named after the call).
    pub routed: Routed,
    /// The call's scenario: one forward operation to the dialled target.
    pub scenario: Scenario,
    /// The number presented on the leg to an external number; `None` for internal calls.
    pub outbound_caller_id: Option<String>,
    /// The calling line and its employee's name.
    pub caller_line: CallerLine,
    /// The trunk an external number is called through ([`pick_outbound`], which the ringing
    /// of the leg asks again when it dials); `None` for internal calls.
    pub trunk: Option<TrunkId>,
}

/// The caller of a phone's own call: which line of the box placed it and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerLine {
    /// The line (it is not rung by the call it placed, e.g. when it dials its own group).
    pub line: SipLineId,
    /// The employee's name, shown by the phones an internal call rings (`Anna Petrova`).
    pub name: String,
}

/// Why a phone's call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneRefused {
    /// The dialled string is no extension, group or external number.
    UnknownExtension,
    /// The line is incoming-only (`outbound_allowed: false`) and dialled an external number.
    OutboundNotAllowed,
    /// No enabled outbound trunk serves the external number.
    NoTrunk,
    /// The call-pickup code: recognised, but picking up a ringing call is not supported yet.
    PickupUnsupported,
}

impl std::fmt::Display for PhoneRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PhoneRefused::UnknownExtension => "unknown extension or number",
            PhoneRefused::OutboundNotAllowed => "outbound calls are not allowed for this line",
            PhoneRefused::NoTrunk => "no trunk serves this number",
            PhoneRefused::PickupUnsupported => "call pickup (88) is not supported yet",
        })
    }
}

/// Routes the call `line` of `employee` makes to `dialled`.
pub fn route_phone(
    cfg: &CompanyConfig,
    employee: &Employee,
    line: &SipLine,
    dialled: &str,
) -> Result<PhoneRoute, PhoneRefused> {
    let mut outbound_caller_id = None;
    let mut trunk = None;
    let (target, label) = match dialplan::classify(cfg, dialled) {
        Dialled::Employee(id, ext) => (ForwardTarget::Employee { id }, format!("extension {ext}")),
        Dialled::Group(id, name) => (ForwardTarget::Group { id }, format!("group {name}")),
        Dialled::External(number) => {
            if !line.outbound_allowed {
                return Err(PhoneRefused::OutboundNotAllowed);
            }
            let Some(t) = pick_outbound(&cfg.trunks, &number) else {
                return Err(PhoneRefused::NoTrunk);
            };
            trunk = Some(t.id);
            outbound_caller_id = Some(outbound_caller_id_of(cfg, employee, line));
            let label = format!("external number {number}");
            let target = ForwardTarget::External {
                number,
                timeout_s: Some(EXTERNAL_RING_S),
            };
            (target, label)
        }
        Dialled::Pickup(_) => return Err(PhoneRefused::PickupUnsupported),
        Dialled::Unknown => return Err(PhoneRefused::UnknownExtension),
    };
    let name = format!("call from {} to {label}", line.login);
    Ok(PhoneRoute {
        numa: employee.extension.clone(),
        routed: Routed {
            rule: RuleId(0),
            rule_name: name.clone(),
            scenario: ScenarioId(0),
            skipped: Vec::new(),
        },
        scenario: dialplan::direct_scenario(name, target),
        outbound_caller_id,
        caller_line: CallerLine {
            line: line.id,
            name: format!("{} {}", employee.first_name, employee.last_name)
                .trim()
                .to_string(),
        },
        trunk,
    })
}

/// The number a line presents on its calls to external numbers (SPEC §5): the line's own
/// outbound caller ID, else the company's first virtual number, else the employee's extension.
pub fn outbound_caller_id_of(cfg: &CompanyConfig, employee: &Employee, line: &SipLine) -> String {
    line.outbound_caller_id
        .clone()
        .or_else(|| cfg.numbers.first().map(|n| n.number.clone()))
        .unwrap_or_else(|| employee.extension.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpbx_store::model::{
        Action, EmployeeId, Group, GroupId, NumberFormat, Phone, SipLineId, Trunk, TrunkAuth,
        TrunkId, TrunkTransport, VirtualNumber,
    };

    fn line(caller_id: Option<&str>, outbound_allowed: bool) -> SipLine {
        SipLine {
            id: SipLineId(11),
            login: "101".into(),
            password: "secret-101".into(),
            lines: 1,
            dial_timeout_s: 20,
            percent: 0,
            outbound_caller_id: caller_id.map(str::to_string),
            outbound_allowed,
        }
    }

    fn employee(id: u64, extension: &str) -> Employee {
        Employee {
            id: EmployeeId(id),
            first_name: String::new(),
            last_name: format!("E{id}"),
            email: None,
            extension: extension.into(),
            calls_enabled: true,
            phones: vec![Phone::SipLine(line(None, true))],
            schedule: None,
            rating: false,
            trainer: None,
            trainer_joins_every_call: false,
            transfers_join_queue: false,
            percent_distribution: false,
        }
    }

    fn trunk(prefixes: &[&str]) -> Trunk {
        Trunk {
            id: TrunkId(1),
            name: "Carrier".into(),
            enabled: true,
            host: "192.0.2.1".into(),
            port: 5060,
            transport: TrunkTransport::Udp,
            auth: TrunkAuth::Ip {
                addresses: vec!["192.0.2.1".into()],
            },
            dids: vec![],
            outbound: true,
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            number_format: NumberFormat::International,
            max_channels: None,
            response_timeout_s: 5,
        }
    }

    fn number(digits: &str) -> VirtualNumber {
        VirtualNumber {
            number: digits.into(),
            kind: Default::default(),
            rules: vec![],
        }
    }

    fn company() -> CompanyConfig {
        CompanyConfig {
            employees: vec![employee(1, "101"), employee(2, "102")],
            groups: vec![Group {
                strategy: None,
                id: GroupId(5),
                name: "Sales".into(),
                extension: Some("200".into()),
                members: vec![EmployeeId(1), EmployeeId(2)],
                simultaneous_lines: 1,
                schedule: None,
                sort_by_type: None,
                percent_distribution: false,
                percents: Default::default(),
            }],
            numbers: vec![number("74951234567"), number("74950000000")],
            trunks: vec![trunk(&["7"])],
            ..Default::default()
        }
    }

    fn target(r: &PhoneRoute) -> &ForwardTarget {
        let op = &r.scenario.operations[&r.scenario.start];
        match &op.action {
            Action::Forward(f) => &f.targets[0],
            other => panic!("not a forward: {other:?}"),
        }
    }

    #[test]
    fn an_extension_rings_the_employee_with_the_callers_extension() {
        let cfg = company();
        let r = route_phone(&cfg, &cfg.employees[0], &line(None, true), "102").unwrap();
        assert_eq!(target(&r), &ForwardTarget::Employee { id: EmployeeId(2) });
        assert_eq!(r.numa, "101");
        assert_eq!(r.outbound_caller_id, None);
        assert_eq!(r.routed.rule_name, "call from 101 to extension 102");
        assert_eq!(r.scenario.name, r.routed.rule_name);
    }

    #[test]
    fn a_group_extension_rings_the_group() {
        let cfg = company();
        let r = route_phone(&cfg, &cfg.employees[0], &line(None, true), "200").unwrap();
        assert_eq!(target(&r), &ForwardTarget::Group { id: GroupId(5) });
        assert_eq!(r.routed.rule_name, "call from 101 to group Sales");
    }

    #[test]
    fn an_external_number_goes_out_with_the_lines_caller_id() {
        let cfg = company();
        let r = route_phone(
            &cfg,
            &cfg.employees[0],
            &line(Some("74950000000"), true),
            "+79161234567",
        )
        .unwrap();
        assert_eq!(
            target(&r),
            &ForwardTarget::External {
                number: "79161234567".into(),
                timeout_s: Some(EXTERNAL_RING_S)
            }
        );
        assert_eq!(r.outbound_caller_id.as_deref(), Some("74950000000"));
        assert_eq!(r.numa, "101");
    }

    #[test]
    fn caller_id_falls_back_to_the_first_number_then_the_extension() {
        let mut cfg = company();
        let anna = cfg.employees[0].clone();
        assert_eq!(
            outbound_caller_id_of(&cfg, &anna, &line(Some("74950000000"), true)),
            "74950000000"
        );
        assert_eq!(
            outbound_caller_id_of(&cfg, &anna, &line(None, true)),
            "74951234567"
        );
        cfg.numbers.clear();
        assert_eq!(outbound_caller_id_of(&cfg, &anna, &line(None, true)), "101");
    }

    #[test]
    fn outbound_policy_refuses_incoming_only_lines_and_numbers_no_trunk_serves() {
        let cfg = company();
        let anna = &cfg.employees[0];
        assert_eq!(
            route_phone(&cfg, anna, &line(None, false), "79161234567"),
            Err(PhoneRefused::OutboundNotAllowed)
        );
        // The only trunk carries numbers starting with 7.
        assert_eq!(
            route_phone(&cfg, anna, &line(None, true), "12025550100"),
            Err(PhoneRefused::NoTrunk)
        );
        // An incoming-only line still calls its colleagues.
        assert!(route_phone(&cfg, anna, &line(None, false), "102").is_ok());
        let mut no_trunks = cfg.clone();
        no_trunks.trunks.clear();
        assert_eq!(
            route_phone(&no_trunks, anna, &line(None, true), "79161234567"),
            Err(PhoneRefused::NoTrunk)
        );
    }

    #[test]
    fn the_pickup_code_is_recognised_and_refused_until_pickup_exists() {
        let cfg = company();
        let anna = &cfg.employees[0];
        for code in ["88", "88102"] {
            assert_eq!(
                route_phone(&cfg, anna, &line(None, true), code),
                Err(PhoneRefused::PickupUnsupported)
            );
        }
        assert_eq!(
            route_phone(&cfg, anna, &line(None, true), "88999"),
            Err(PhoneRefused::UnknownExtension)
        );
    }

    #[test]
    fn an_external_call_names_the_trunk_it_leaves_by() {
        let mut cfg = company();
        let mut longer = trunk(&["7916"]);
        longer.id = TrunkId(2);
        cfg.trunks.push(longer);
        let anna = cfg.employees[0].clone();
        let r = route_phone(&cfg, &anna, &line(None, true), "79161234567").unwrap();
        assert_eq!(r.trunk, Some(TrunkId(2)), "the longest prefix wins");
        let r = route_phone(&cfg, &anna, &line(None, true), "74991234567").unwrap();
        assert_eq!(r.trunk, Some(TrunkId(1)));
        let r = route_phone(&cfg, &anna, &line(None, true), "102").unwrap();
        assert_eq!(r.trunk, None);
    }

    #[test]
    fn an_unknown_extension_is_refused() {
        let cfg = company();
        assert_eq!(
            route_phone(&cfg, &cfg.employees[0], &line(None, true), "999"),
            Err(PhoneRefused::UnknownExtension)
        );
        assert_eq!(
            PhoneRefused::UnknownExtension.to_string(),
            "unknown extension or number"
        );
    }
}
