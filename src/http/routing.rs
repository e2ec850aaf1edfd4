//! `POST /routing/trace`: which rule answers a call from `caller` to `number` at `time`, why
//! each earlier rule did not, the scenario and its first operation. It runs the same
//! `route()` as live calls, against the snapshot new calls use now.
//!
//! `time` is RFC 3339 (`2026-11-23T10:00:00+03:00`) or milliseconds since the Unix epoch;
//! left out, it is now.

use super::crud::from_body;
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use vpbx_actors::clock::Clock;
use vpbx_actors::core::routing::{route, NotRouted, RouteRequest, Skipped};

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
                "time_unix_ms": unix_ms,
                "reason": e.to_string(),
                "skipped": skipped,
            })
        }
    };
    Ok(HttpResponse::Ok().json(body))
}

routes! {
    POST "/routing/trace" => trace, "Trace the routing of a call (caller, number, time)";
}
