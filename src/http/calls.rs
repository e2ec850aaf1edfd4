//! `/calls`: call detail records, newest first, filtered and paged (`limit`, `offset`, `cursor`,
//! `from`/`to`, `caller`, `number`, `employee`, `result`) with the total that match;
//! `/calls/recent` is the same list with only `limit`. `/recordings`: recorded conversations,
//! newest first. `?limit=` defaults to 100, at most 1000.

use super::crud::MAX_LIMIT;
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;
use vpbx_store::cdrs::CdrQuery;
use vpbx_store::model::EmployeeId;

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
    GET "/calls" => list, "Call detail records, newest first: limit, offset, cursor, from, to (ms or RFC 3339), caller, number, employee, result; with the total";
    GET "/calls/recent" => recent, "Recent call detail records, newest first (limit)";
    GET "/recordings" => recordings, "Recorded conversations, newest first (limit)";
}
