//! `/agents` and `/queues`: the distributor's live view (SPEC §4.2, §4.3).
//!
//! `/agents` lists every agent line — one per phone of every employee — with its state and
//! counters as the distributor holds them, named from the configuration in force (the
//! employee's name and extension, the phone's kind and login, number or URI); `?employee=` and
//! `?state=` filter it. `/queues` lists the queues that have callers waiting, head first.
//!
//! Both ask the distributor actor through the switch registry and wait at most
//! [`ASK_TIMEOUT`]: with no distributor (the switch not started, or restarting) or no answer in
//! time they answer 503 instead of hanging.

use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use vpbx_actors::dist::{AgentView, ListAgents, ListQueues, QueueView};
use vpbx_store::model::{CompanyConfig, Phone};

/// The longest a handler waits for the distributor.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Every state an agent line can be in, as the distributor names them.
pub const STATES: &[&str] = &[
    "offline",
    "available",
    "ringing",
    "talking",
    "wrap_up",
    "busy",
    "call_status_off",
    "not_allowed_by_schedule",
];

/// The kinds of phone, as the configuration names them.
pub const PHONE_KINDS: &[&str] = &["sip_line", "external", "sip_uri"];

/// What the distributor is called in errors.
const DISTRIBUTOR: &str = "distributor";

/// One agent line as `/agents` answers it: the distributor's view, named from the configuration.
#[derive(Debug, Serialize)]
struct Agent {
    employee: u64,
    /// `first last`; `null` when the employee is no longer configured (deleted just now).
    name: Option<String>,
    extension: Option<String>,
    phone: u8,
    phone_kind: Option<&'static str>,
    /// The SIP line's login, the external number, or the SIP URI.
    phone_target: Option<String>,
    /// The SIP line's id (only for `sip_line` phones).
    sip_line: Option<u64>,
    state: &'static str,
    lines: u8,
    ringing: u8,
    talking: u8,
    wrap_up_left_s: u64,
    idle_s: u64,
}

fn agent(cfg: &CompanyConfig, v: AgentView) -> Agent {
    let employee = cfg.employees.iter().find(|e| e.id.0 == v.employee);
    let phone = employee.and_then(|e| e.phones.get(usize::from(v.phone)));
    let (phone_kind, phone_target, sip_line) = match phone {
        Some(Phone::SipLine(l)) => (Some("sip_line"), Some(l.login.clone()), Some(l.id.0)),
        Some(Phone::External { number, .. }) => (Some("external"), Some(number.clone()), None),
        Some(Phone::SipUri { uri, .. }) => (Some("sip_uri"), Some(uri.clone()), None),
        None => (None, None, None),
    };
    Agent {
        employee: v.employee,
        name: employee.map(|e| {
            format!("{} {}", e.first_name, e.last_name)
                .trim()
                .to_owned()
        }),
        extension: employee.map(|e| e.extension.clone()),
        phone: v.phone,
        phone_kind,
        phone_target,
        sip_line,
        state: v.state,
        lines: v.lines,
        ringing: v.ringing,
        talking: v.talking,
        wrap_up_left_s: v.wrap_up_left_s,
        idle_s: v.idle_s,
    }
}

/// The filters of `/agents`.
#[derive(Debug, Default)]
struct AgentFilter {
    employee: Option<u64>,
    state: Option<&'static str>,
}

fn agent_filter(q: &BTreeMap<String, String>) -> Result<AgentFilter, ApiError> {
    let mut out = AgentFilter::default();
    for (k, v) in q {
        match k.as_str() {
            "employee" => {
                out.employee = Some(v.parse().map_err(|_| ApiError::BadRequest {
                    field: Some("employee".into()),
                    message: format!("employee must be an employee id (an integer ≥ 0), not '{v}'"),
                })?)
            }
            "state" => {
                out.state = Some(STATES.iter().copied().find(|s| s == v).ok_or_else(|| {
                    ApiError::BadRequest {
                        field: Some("state".into()),
                        message: format!("state must be one of {}, not '{v}'", STATES.join(", ")),
                    }
                })?)
            }
            other => {
                return Err(ApiError::BadRequest {
                    field: Some(other.into()),
                    message: format!("unknown parameter '{other}' (employee, state)"),
                })
            }
        }
    }
    Ok(out)
}

/// Asks the distributor, bounded by [`ASK_TIMEOUT`]; 503 without one or without an answer.
async fn ask<M>(state: &HttpState, msg: M) -> Result<M::Result, ApiError>
where
    M: actix::Message + Send + 'static,
    M::Result: Send,
    vpbx_actors::dist::DistActor: actix::Handler<M>,
{
    let children = state
        .registry
        .children()
        .ok_or_else(|| ApiError::Unavailable(DISTRIBUTOR.into()))?;
    match tokio::time::timeout(ASK_TIMEOUT, children.dist.send(msg)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the distributor did not take the request");
            Err(ApiError::Unavailable(DISTRIBUTOR.into()))
        }
        Err(_) => {
            tracing::warn!("the distributor did not answer in time");
            Err(ApiError::Unavailable(DISTRIBUTOR.into()))
        }
    }
}

async fn agents(
    state: web::Data<HttpState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let filter = agent_filter(&q)?;
    let views = ask(&state, ListAgents).await?;
    let cfg = state.snapshots.current();
    let items: Vec<Agent> = views
        .into_iter()
        .filter(|v| filter.employee.is_none_or(|e| v.employee == e))
        .filter(|v| filter.state.is_none_or(|s| v.state == s))
        .map(|v| agent(&cfg, v))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

async fn queues(
    state: web::Data<HttpState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    if let Some(k) = q.keys().next() {
        return Err(ApiError::BadRequest {
            field: Some(k.clone()),
            message: format!("unknown parameter '{k}' (this list takes none)"),
        });
    }
    let items: Vec<QueueView> = ask(&state, ListQueues).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

routes! {
    GET "/agents" => agents, "Live agent lines (one per phone of every employee): state and counters; filters employee, state";
    GET "/queues" => queues, "Live queues: the callers waiting, head first";
}
