//! Scenarios: every operation's references and own rules, and the graph (start, exits), read
//! from what each operation answers ([`Op::exits`], [`Op::refs`], [`Op::violations`]).
//!
//! Errors (the scenario cannot run as written): a missing start, an exit the operation does not
//! have, an exit to a missing operation (rule `scenario.graph`), a dangling reference
//! (`ref.employee`, `ref.group`, `ref.file`, `ref.schedule`, `ref.number_list`, `ref.scenario`, `ref.segment`). Warnings ([`scenario_warnings`]; they never refuse
//! a configuration): an exit left unset (the call ends there), an operation no call can reach,
//! an operation from which no call can ever end (a loop ended only by the step budget).

use super::Sink;
use crate::model::*;
use crate::validate::ValidationError;
use std::collections::{BTreeMap, BTreeSet};

/// Whether the entity or file `r` exists in `cfg`.
fn exists(cfg: &CompanyConfig, r: Ref) -> bool {
    match r {
        Ref::Employee(id) => cfg.employee(id).is_some(),
        Ref::Group(id) => cfg.group(id).is_some(),
        Ref::File(id) => cfg.file(id).is_some(),
        Ref::Schedule(id) => cfg.schedule(id).is_some(),
        Ref::NumberList(id) => cfg.number_list(id).is_some(),
        Ref::Scenario(id) => cfg.scenario(id).is_some(),
        Ref::Segment(id) => cfg.segment(id).is_some(),
        Ref::ContactGroup(id) => cfg.contact_groups.iter().any(|g| g.id == id),
        Ref::Tag(id) => cfg.tags.iter().any(|t| t.id == id),
    }
}

pub(super) fn scenarios(cfg: &CompanyConfig, s: &mut Sink) {
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
        let p = format!("scenarios[{i}]");
        s.required(format!("{p}.name"), &sc.name, "scenario name");
        let graph = |message: String| format!("scenario {} '{}': {message}", sc.id, sc.name);
        if !sc.operations.contains_key(&sc.start) {
            s.push(
                format!("{p}.start"),
                "scenario.graph",
                graph(format!("start operation '{}' does not exist", sc.start)),
            );
        }
        for (field, id) in sc.option_files() {
            if cfg.file(id).is_none() {
                s.push(
                    format!("{p}.{field}.id"),
                    "ref.file",
                    format!("file {id} does not exist"),
                );
            }
        }
        for (name, op) in &sc.operations {
            let at = format!("{p}.operations.{name}");
            let exits = op.action.all_exits();
            for (exit, target) in &op.exits {
                if !exits.contains(&exit.as_str()) {
                    s.push(
                        format!("{at}.exits.{exit}"),
                        "scenario.graph",
                        graph(format!(
                            "{name}: unknown exit '{exit}' (this operation has: {})",
                            if exits.is_empty() {
                                "none".to_owned()
                            } else {
                                exits.join(", ")
                            }
                        )),
                    );
                }
                if !sc.operations.contains_key(target) {
                    s.push(
                        format!("{at}.exits.{exit}"),
                        "scenario.graph",
                        graph(format!(
                            "{name}: exit '{exit}' leads to missing operation '{target}'"
                        )),
                    );
                }
            }
            for r in op.action.refs() {
                if !exists(cfg, r.target) {
                    s.push(
                        format!("{at}.action.{}", r.field),
                        r.target.rule(),
                        format!("{} does not exist", r.target),
                    );
                }
            }
            for e in op.action.op().violations() {
                s.push(format!("{at}.action.{}", e.field), e.rule, e.message);
            }
        }
    }
}

/// Warnings about the scenario graphs of `cfg` (see the module docs): calls can be lost or loop
/// there, but the scenarios can run.
pub fn scenario_warnings(cfg: &CompanyConfig) -> Vec<ValidationError> {
    let mut s = Sink(Vec::new());
    for (i, sc) in cfg.scenarios.iter().enumerate() {
        graph_warnings(&format!("scenarios[{i}]"), sc, &mut s);
    }
    s.0
}

fn graph_warnings(p: &str, sc: &Scenario, s: &mut Sink) {
    for (name, op) in &sc.operations {
        for exit in op.action.expected_exits() {
            if !op.exits.contains_key(exit) {
                s.push(
                    format!("{p}.operations.{name}.exits.{exit}"),
                    "scenario.exit_unset",
                    format!("{name}: exit '{exit}' is not set, calls can be lost here"),
                );
            }
        }
    }
    // Operations a call can reach from the start.
    let next = |name: &OpName| -> Vec<&OpName> {
        sc.operations
            .get(name)
            .map(|op| {
                op.exits
                    .iter()
                    .filter(|(exit, _)| op.action.all_exits().contains(&exit.as_str()))
                    .map(|(_, to)| to)
                    .filter(|to| sc.operations.contains_key(*to))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut reachable: BTreeSet<&OpName> = BTreeSet::new();
    let mut todo: Vec<&OpName> = sc
        .operations
        .get_key_value(&sc.start)
        .map(|(k, _)| k)
        .into_iter()
        .collect();
    while let Some(n) = todo.pop() {
        if reachable.insert(n) {
            todo.extend(next(n));
        }
    }
    for name in sc.operations.keys().filter(|n| !reachable.contains(n)) {
        s.push(
            format!("{p}.operations.{name}"),
            "scenario.unreachable",
            format!("{name}: no call can reach this operation"),
        );
    }
    // Operations from which the call can end: an operation without exits (hang up), or with
    // an exit left unset, ends it; so does every operation with an exit into those.
    let mut callers: BTreeMap<&OpName, Vec<&OpName>> = BTreeMap::new();
    let mut ends: Vec<&OpName> = Vec::new();
    for (name, op) in &sc.operations {
        let exits = op.action.all_exits();
        if exits.is_empty() || exits.iter().any(|e| !op.exits.contains_key(*e)) {
            ends.push(name);
        }
        for to in next(name) {
            callers.entry(to).or_default().push(name);
        }
    }
    let mut can_end: BTreeSet<&OpName> = BTreeSet::new();
    while let Some(n) = ends.pop() {
        if can_end.insert(n) {
            ends.extend(callers.get(n).into_iter().flatten().copied());
        }
    }
    for name in reachable.iter().filter(|n| !can_end.contains(*n)) {
        s.push(
            format!("{p}.operations.{name}"),
            "scenario.loop",
            format!("{name}: every way on loops back; calls here end only when the step budget runs out"),
        );
    }
}
