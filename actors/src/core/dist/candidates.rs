//! The phones a forward operation may ring, in listed order, each with its agent line: what the
//! strategies order and the queue is keyed by.

use super::board::Request;
use super::{Candidate, LineKey};
use crate::core::forward::{Skip, SkipReason, DEFAULT_TIMEOUT_S};
use crate::core::leg::DialTarget;
use vpbx_store::model::{
    CompanyConfig, Employee, EmployeeId, Forward, ForwardTarget, Phone, PhoneType, RingMode,
    ScenarioId, SipLineId, Strategy,
};

/// What a forward operation hands the distributor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Candidates {
    /// The phones, in listed order, each once.
    pub list: Vec<Candidate>,
    /// Targets or phones left out, with the reason.
    pub skipped: Vec<Skip>,
    /// At most this many phones ring at once (the first group target's simultaneous lines).
    pub cap: Option<usize>,
    /// The strategy in force: the operation's, else the group's when the operation rings one
    /// group; `None`: neither sets one (the operation's `mode` decides, without a distributor).
    pub strategy: Option<Strategy>,
}

impl Candidates {
    /// The key of the queue these phones share: the employees' extensions, sorted (e.g.
    /// `101,102`). Empty when no candidate belongs to an employee.
    pub fn queue_key(&self, cfg: &CompanyConfig) -> String {
        let mut ext: Vec<&str> = self
            .list
            .iter()
            .filter_map(|c| c.employee)
            .filter_map(|id| cfg.employee(id))
            .map(|e| e.extension.as_str())
            .collect();
        ext.sort_unstable();
        ext.dedup();
        ext.join(",")
    }

    /// The agent lines among the candidates.
    pub fn lines(&self) -> impl Iterator<Item = LineKey> + '_ {
        self.list.iter().filter_map(|c| c.line)
    }

    /// What a call running forward operation `op` of `scenario` asks the distributor for:
    /// the strategy in force (the operation's `mode` when none is set), and the queue of these
    /// phones when the operation queues.
    pub fn request(
        &self,
        cfg: &CompanyConfig,
        scenario: ScenarioId,
        op: &str,
        fwd: &Forward,
    ) -> Request {
        let strategy = self.strategy.clone().unwrap_or(match fwd.mode {
            RingMode::Sequential => Strategy::Sequential,
            RingMode::Simultaneous => Strategy::Simultaneous,
        });
        let key = self.queue_key(cfg);
        Request {
            scenario: Some(scenario),
            anchor: format!("{scenario}/{op}"),
            candidates: self.list.clone(),
            widening: matches!(strategy, Strategy::FastestAnswer { .. }),
            strategy,
            cap: self.cap,
            queue: fwd.queue.as_ref().filter(|_| !key.is_empty()).map(|_| key),
        }
    }
}

fn label(e: &Employee) -> String {
    crate::core::forward::employee_label(e)
}

/// One phone of an employee as a candidate.
pub fn phone_candidate(e: &Employee, index: usize, p: &Phone) -> Candidate {
    let (target, what) = match p {
        Phone::SipLine(l) => (
            DialTarget::Line {
                line: l.id,
                login: l.login.clone(),
            },
            format!("line {}", l.login),
        ),
        Phone::External { number, .. } => (
            DialTarget::External(number.clone()),
            format!("number {number}"),
        ),
        Phone::SipUri { uri, .. } => (DialTarget::Uri(uri.clone()), format!("sip:{uri}")),
    };
    Candidate {
        line: u8::try_from(index).ok().map(|phone| LineKey {
            employee: e.id,
            phone,
        }),
        employee: Some(e.id),
        target,
        label: format!("{} {what}", label(e)),
        kind: p.phone_type(),
        timeout_s: p.dial_timeout_s().max(1),
        percent: p.percent(),
        type_rank: 0,
    }
}

/// The candidates of `fwd` for a call placed by `calling_line` (never rung for its own call).
///
/// Employees with calls switched off and phones of the calling line are skipped with the
/// reason; a phone reached twice rings once. A group's members come in member order, and
/// the phones not of the group's "sort by type" type get rank 1.
pub fn candidates(
    cfg: &CompanyConfig,
    fwd: &Forward,
    calling_line: Option<SipLineId>,
) -> Candidates {
    let mut out = Candidates {
        strategy: fwd.strategy.clone(),
        ..Candidates::default()
    };
    let mut group_strategies = Vec::new();
    let push = |c: Candidate, out: &mut Candidates| {
        if matches!(&c.target, DialTarget::Line { line, .. } if Some(*line) == calling_line) {
            out.skipped.push(Skip {
                target: c.label,
                why: SkipReason::CallingLine,
            });
        } else if !out.list.iter().any(|x| x.target == c.target) {
            out.list.push(c);
        }
    };
    let employee_phones = |e: &Employee| -> Vec<Candidate> {
        e.phones
            .iter()
            .enumerate()
            .map(|(k, p)| phone_candidate(e, k, p))
            .collect()
    };
    for t in &fwd.targets {
        match t {
            ForwardTarget::Employee { id } => match cfg.employee(*id) {
                None => out
                    .skipped
                    .push(skip(format!("employee {id}"), SkipReason::DoesNotExist)),
                Some(e) if !e.calls_enabled => {
                    out.skipped.push(skip(label(e), SkipReason::CallStatusOff))
                }
                Some(e) if e.phones.is_empty() => {
                    out.skipped.push(skip(label(e), SkipReason::NoPhones))
                }
                Some(e) => {
                    for c in employee_phones(e) {
                        push(c, &mut out);
                    }
                }
            },
            ForwardTarget::Group { id } => match cfg.group(*id) {
                None => out
                    .skipped
                    .push(skip(format!("group {id}"), SkipReason::DoesNotExist)),
                Some(g) => {
                    group_strategies.push(g.strategy.clone());
                    if out.cap.is_none() {
                        out.cap = Some(usize::from(g.simultaneous_lines.max(1)));
                    }
                    let before = out.list.len();
                    for m in &g.members {
                        match cfg.employee(*m) {
                            None => {}
                            Some(e) if !e.calls_enabled => out.skipped.push(skip(
                                format!("{} (group {})", label(e), g.name),
                                SkipReason::CallStatusOff,
                            )),
                            Some(e) => {
                                for mut c in employee_phones(e) {
                                    if let Some(first) = g.sort_by_type {
                                        c.type_rank = u8::from(c.kind != first);
                                    }
                                    if let Some(p) = g.percents.get(&e.id) {
                                        if g.percent_distribution {
                                            c.percent = *p;
                                        }
                                    }
                                    push(c, &mut out);
                                }
                            }
                        }
                    }
                    if out.list.len() == before {
                        out.skipped.push(skip(
                            format!("group {}", g.name),
                            SkipReason::NoMemberAvailable,
                        ));
                    }
                }
            },
            ForwardTarget::External { number, timeout_s } => push(
                Candidate {
                    line: None,
                    employee: None,
                    target: DialTarget::External(number.clone()),
                    label: format!("number {number}"),
                    kind: PhoneType::T,
                    timeout_s: timeout_s.unwrap_or(DEFAULT_TIMEOUT_S).max(1),
                    percent: 0,
                    type_rank: 0,
                },
                &mut out,
            ),
            ForwardTarget::SipUri { uri, timeout_s } => push(
                Candidate {
                    line: None,
                    employee: None,
                    target: DialTarget::Uri(uri.clone()),
                    label: format!("sip:{uri}"),
                    kind: PhoneType::S,
                    timeout_s: timeout_s.unwrap_or(DEFAULT_TIMEOUT_S).max(1),
                    percent: 0,
                    type_rank: 0,
                },
                &mut out,
            ),
        }
    }
    if out.strategy.is_none() && fwd.targets.len() == 1 {
        out.strategy = group_strategies.into_iter().next().flatten();
    }
    // Sort by type is stable: member order is kept within each rank.
    out.list.sort_by_key(|c| c.type_rank);
    out
}

fn skip(target: String, why: SkipReason) -> Skip {
    Skip { target, why }
}

/// The employees behind a set of candidates, once each, in listed order.
pub fn employees(list: &[Candidate]) -> Vec<EmployeeId> {
    let mut out: Vec<EmployeeId> = Vec::new();
    for e in list.iter().filter_map(|c| c.employee) {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}
