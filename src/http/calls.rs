//! `/calls`: call detail records, newest first, filtered and paged (`limit`, `offset`, `cursor`,
//! `from`/`to`, `caller`, `number`, `employee`, `result`) with the total that match;
//! `/calls/recent` is the same list with only `limit`. `/recordings`: recorded conversations,
//! newest first. `?limit=` defaults to 100, at most 1000.
//!
//! `POST /calls` is the call API (SPEC §6.3): the switch dials `to` (an employee's extension or
//! an external number) and, once they answer, connects them to a number, an employee or a
//! scenario (click-to-call; a queue-enabled scenario makes the call wait in the queue like an
//! inbound caller, SPEC §4.3). It answers 202 with the call's id at once; the outcome is in the
//! call's record (`/calls`), like any call's.

use super::crud::MAX_LIMIT;
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;
use vpbx_actors::call::origin::{api_call, Connect};
use vpbx_actors::call_supervisor::StartCall;
use vpbx_store::cdrs::CdrQuery;
use vpbx_store::model::EmployeeId;

/// The body of `POST /calls`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceCall {
    /// Rung first: an employee's extension or an external number.
    to: String,
    /// What `to` is connected to once they answer.
    connect: Connect,
    /// The virtual number presented (default: the company's first).
    #[serde(default)]
    caller_id: Option<String>,
}

async fn place(
    state: web::Data<HttpState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let req: PlaceCall = super::crud::from_body(body.into_inner())?;
    let setup = api_call(
        state.snapshots.current(),
        req.to.trim(),
        &req.connect,
        req.caller_id.as_deref(),
    )
    .map_err(|e| {
        ApiError::Invalid(vec![vpbx_store::ValidationError::new(
            e.field, e.rule, e.message,
        )])
    })?;
    let children = state
        .registry
        .children()
        .ok_or_else(|| ApiError::Unavailable("call supervisor".into()))?;
    let call_id = setup.call_id.0.clone();
    children.calls.do_send(StartCall(setup));
    tracing::info!(call_id = %call_id, to = %req.to, "call placed through the API");
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "call_id": call_id,
        "to": req.to.trim(),
        "connect": req.connect,
    })))
}

fn limit(q: &BTreeMap<String, String>) -> Result<usize, ApiError> {
    match q.get("limit") {
        None => Ok(100),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_LIMIT)
            .ok_or_else(|| ApiError::BadRequest {
                field: Some("limit".into()),
                message: format!("limit must be an integer 0–{MAX_LIMIT}, not '{v}'"),
            }),
    }
}

async fn recent(
    state: web::Data<HttpState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let n = limit(&q)?;
    let items = state.blocking(move |s| s.recent_cdrs(n)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// A time in a query: ms since the epoch, or RFC 3339 (`2026-12-06T10:00:00Z`).
fn time(field: &str, v: &str) -> Result<u64, ApiError> {
    if let Ok(ms) = v.parse::<u64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .ok_or_else(|| ApiError::BadRequest {
            field: Some(field.into()),
            message: format!(
                "{field} must be ms since the epoch or an RFC 3339 time (2026-12-06T10:00:00Z), not '{v}'"
            ),
        })
}

fn cdr_query(q: &BTreeMap<String, String>) -> Result<CdrQuery, ApiError> {
    let bad = |field: &str, rule: &str, v: &str| ApiError::BadRequest {
        field: Some(field.into()),
        message: format!("{field} must be {rule}, not '{v}'"),
    };
    let mut out = CdrQuery {
        limit: limit(q)?,
        ..Default::default()
    };
    for (k, v) in q {
        match k.as_str() {
            "limit" => {}
            "offset" => out.offset = v.parse().map_err(|_| bad(k, "an integer ≥ 0", v))?,
            "cursor" => out.cursor = Some(v.clone()),
            "from" => out.from_unix_ms = Some(time(k, v)?),
            "to" => out.to_unix_ms = Some(time(k, v)?),
            "caller" => out.caller = Some(v.clone()),
            "number" => out.number = Some(v.clone()),
            "employee" => {
                out.employee = Some(EmployeeId(
                    v.parse().map_err(|_| bad(k, "an employee id", v))?,
                ))
            }
            "result" => {
                out.result = Some(
                    serde_json::from_value(serde_json::Value::String(v.clone())).map_err(|_| {
                        bad(
                            k,
                            "one of answered, not_answered, busy, refused, blocked, failed, abandoned",
                            v,
                        )
                    })?,
                )
            }
            other => {
                return Err(ApiError::BadRequest {
                    field: Some(other.into()),
                    message: format!(
                        "unknown parameter '{other}' (limit, offset, cursor, from, to, caller, number, employee, result)"
                    ),
                })
            }
        }
    }
    Ok(out)
}

async fn list(
    state: web::Data<HttpState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let query = cdr_query(&q)?;
    let page = state.blocking(move |s| s.query_cdrs(&query)).await?;
    let page = page.map_err(|e| ApiError::BadRequest {
        field: Some("cursor".into()),
        message: e.to_string(),
    })?;
    Ok(HttpResponse::Ok().json(page))
}

async fn recordings(
    state: web::Data<HttpState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let n = limit(&q)?;
    let items = state.blocking(move |s| s.recent_recordings(n)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

routes! {
    POST "/calls" => place, "Place a call (call API, click-to-call): dial `to`, then connect them to a number, an employee or a scenario; 202 with the call id";
    GET "/calls" => list, "Call detail records, newest first: limit, offset, cursor, from, to (ms or RFC 3339), caller, number, employee, result; with the total";
    GET "/calls/recent" => recent, "Recent call detail records, newest first (limit)";
    GET "/recordings" => recordings, "Recorded conversations, newest first (limit)";
}
