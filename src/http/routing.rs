//! `POST /routing/trace`: which rule answers a call from `caller` to `number` at `time`, why
//! each earlier rule did not, the scenario and its first operation. It runs the same
//! `route()` as live calls, against the snapshot new calls use now.
//!
//! When `number` is not a virtual number and `caller` is a SIP line of the box (its login, or
//! an employee's extension: that employee's first SIP line), the call is a phone's own call and
//! the trace explains the internal dialling with the code the SIP edge runs for it:
//! `routes_by_rules` (the branch), `route_phone` (extension, group, pickup code, external number;
//! outbound policy, trunk, caller ID), `forward::plan_for` (the phones that ring, in rounds, and
//! those left out: the calling line itself, call status off) and the refusal's SIP answer.
//!
//! `time` is RFC 3339 (`2026-11-23T10:00:00+03:00`) or milliseconds since the Unix epoch;
//! left out, it is now.

use super::crud::from_body;
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use vpbx_actors::clock::Clock;
use vpbx_actors::core::dialplan::{classify, Dialled};
use vpbx_actors::core::forward::{plan_for, Ring};
use vpbx_actors::core::leg::DialTarget;
use vpbx_actors::core::routing::phone::route_phone;
use vpbx_actors::core::routing::{route, routes_by_rules, NotRouted, RouteRequest, Skipped};
use vpbx_store::model::{Action, CompanyConfig, Employee, Phone, SipLine};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Trace {
    caller: String,
    number: String,
    #[serde(default)]
    time: Option<Value>,
}

fn parse_time(v: Option<Value>) -> Result<u64, ApiError> {
    let bad = |message: String| ApiError::BadRequest {
        field: Some("time".into()),
        message,
    };
    match v {
        None | Some(Value::Null) => Ok(crate::clock::RealClock.unix_ms()),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(format!("{n} is not milliseconds since the Unix epoch"))),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(&s)
            .map_err(|e| bad(format!("'{s}' is not an RFC 3339 time: {e}")))
            .and_then(|t| {
                // A well-formed time out of range breaks a rule of the value: 422, like the
                // rules the store checks.
                u64::try_from(t.timestamp_millis()).map_err(|_| {
                    ApiError::Invalid(vec![vpbx_store::ValidationError::new(
                        "time",
                        "trace.time_range",
                        format!("'{s}' is before 1970-01-01T00:00:00Z"),
                    )])
                })
            }),
        Some(other) => Err(bad(format!(
            "time must be an RFC 3339 string or milliseconds, not {other}"
        ))),
    }
}

fn skipped_json(s: &[Skipped]) -> Vec<Value> {
    s.iter()
        .map(|s| json!({"rule": s.rule, "name": s.name, "why": s.why}))
        .collect()
}

async fn trace(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let t: Trace = from_body(body.into_inner())?;
    let unix_ms = parse_time(t.time)?;
    let cfg = state.snapshots.current();
    if !routes_by_rules(&cfg, &t.number) {
        if let Some((employee, line)) = calling_line(&cfg, &t.caller) {
            let body = trace_phone(&cfg, employee, line, &t.number, unix_ms);
            return Ok(HttpResponse::Ok().json(body));
        }
    }
    let req = RouteRequest {
        numa: &t.caller,
        numb: &t.number,
        unix_ms,
    };
    let body = match route(&cfg, &req) {
        Ok(r) => {
            let scenario = cfg.scenario(r.scenario);
            let first = scenario.and_then(|s| {
                s.operations.get(&s.start).map(|op| {
                    let kind = serde_json::to_value(&op.action)
                        .ok()
                        .and_then(|v| v.get("kind").cloned())
                        .unwrap_or(Value::Null);
                    json!({"name": s.start, "kind": kind})
                })
            });
            json!({
                "result": "routed",
                "kind": "rules",
                "time_unix_ms": unix_ms,
                "matched": {"rule": r.rule, "name": r.rule_name},
                "skipped": skipped_json(&r.skipped),
                "scenario": {"id": r.scenario, "name": scenario.map(|s| s.name.clone())},
                "first_operation": first,
            })
        }
        Err(e) => {
            let skipped = match &e {
                NotRouted::NoRuleMatched { skipped } => skipped_json(skipped),
                _ => Vec::new(),
            };
            json!({
                "result": "not_routed",
                "kind": "rules",
                "time_unix_ms": unix_ms,
                "reason": e.to_string(),
                "skipped": skipped,
            })
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

/// The SIP line a trace's `caller` names: a line's login, else an employee's extension (that
/// employee's first SIP line).
fn calling_line<'a>(cfg: &'a CompanyConfig, caller: &str) -> Option<(&'a Employee, &'a SipLine)> {
    cfg.sip_line_by_login(caller).or_else(|| {
        cfg.employees
            .iter()
            .filter(|e| e.extension == caller)
            .find_map(|e| {
                e.phones.iter().find_map(|p| match p {
                    Phone::SipLine(l) => Some((e, l)),
                    _ => None,
                })
            })
    })
}

fn employee_json(e: &Employee) -> Value {
    json!({"id": e.id, "name": format!("{} {}", e.first_name, e.last_name).trim(),
           "extension": e.extension, "calls_enabled": e.calls_enabled})
}

fn ring_json(r: &Ring) -> Value {
    let mut v = json!({"label": r.label, "employee": r.employee});
    match &r.target {
        DialTarget::Line { line, login } => {
            v["kind"] = json!("sip_line");
            v["line"] = json!(line);
            v["login"] = json!(login);
        }
        DialTarget::External(n) => {
            v["kind"] = json!("external");
            v["number"] = json!(n);
        }
        DialTarget::Uri(u) => {
            v["kind"] = json!("sip_uri");
            v["uri"] = json!(u);
        }
    }
    v
}

/// What a dialled string is, as the dial plan classifies it.
fn dialled_json(cfg: &CompanyConfig, dialled: &str) -> Value {
    match classify(cfg, dialled) {
        Dialled::Employee(id, _) => json!({"kind": "extension",
            "employee": cfg.employee(id).map(employee_json)}),
        Dialled::Group(id, _) => json!({"kind": "group", "group": cfg.group(id).map(|g| json!({
            "id": g.id, "name": g.name, "extension": g.extension, "members": g.members,
            "simultaneous_lines": g.simultaneous_lines}))}),
        Dialled::Pickup(target) => json!({"kind": "pickup",
            "employee": target.and_then(|(id, _)| cfg.employee(id)).map(employee_json)}),
        Dialled::External(number) => json!({"kind": "external", "number": number}),
        Dialled::Unknown => json!({"kind": "unknown"}),
    }
}

/// The trace of a phone's own call: the decision the SIP edge takes for an INVITE from `line`.
fn trace_phone(
    cfg: &CompanyConfig,
    employee: &Employee,
    line: &SipLine,
    dialled: &str,
    unix_ms: u64,
) -> Value {
    let caller = json!({"line": line.id, "login": line.login, "employee": employee_json(employee),
                        "outbound_allowed": line.outbound_allowed});
    let what = dialled_json(cfg, dialled);
    match route_phone(cfg, employee, line, dialled) {
        Ok(r) => {
            let fwd =
                r.scenario
                    .operations
                    .get(&r.scenario.start)
                    .and_then(|op| match &op.action {
                        Action::Forward(f) => Some(f),
                        _ => None,
                    });
            let plan = fwd
                .map(|f| plan_for(cfg, f, Some(line.id)))
                .unwrap_or_default();
            let rounds: Vec<Value> = plan
                .rounds
                .iter()
                .map(|round| {
                    json!({"timeout_s": round.timeout_s,
                    "phones": round.rings.iter().map(ring_json).collect::<Vec<_>>()})
                })
                .collect();
            let skipped: Vec<Value> = plan
                .skipped
                .iter()
                .map(|s| json!({"target": s.target, "why": s.why.to_string()}))
                .collect();
            let trunk = r
                .trunk
                .and_then(|id| cfg.trunks.iter().find(|t| t.id == id));
            let number = match &what["number"] {
                Value::String(n) => Some(n.clone()),
                _ => None,
            };
            json!({
                "result": "routed",
                "kind": "internal",
                "time_unix_ms": unix_ms,
                "caller": caller,
                "numa": r.numa,
                "dialled": what,
                "call": r.routed.rule_name,
                "rounds": rounds,
                "skipped": skipped,
                "trunk": trunk.map(|t| json!({"id": t.id, "name": t.name,
                    "request_user": number.as_deref().map(|n| t.format_number(n))})),
                "caller_id": r.outbound_caller_id,
            })
        }
        Err(refused) => {
            let reply = crate::sip::invite::Refusal::Call {
                numa: employee.extension.clone(),
                numb: dialled.to_owned(),
                refused: refused.clone().into(),
            }
            .reply();
            json!({
                "result": "not_routed",
                "kind": "internal",
                "time_unix_ms": unix_ms,
                "caller": caller,
                "dialled": what,
                "reason": refused.to_string(),
                "sip_code": reply.code,
                "skipped": [],
            })
        }
    }
}

/// `GET /routing/coverage`: the virtual numbers some callers or times reach with no rule (their
/// calls are refused), with which calls, in words.
async fn coverage(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let cfg = state.snapshots.current();
    Ok(HttpResponse::Ok().json(json!({ "items": vpbx_store::coverage::gaps(&cfg) })))
}

routes! {
    POST "/routing/trace" => trace, "Trace the routing of a call (caller, number, time)";
    GET "/routing/coverage" => coverage, "Virtual numbers that some callers or times reach with no rule (those calls are refused)";
}
