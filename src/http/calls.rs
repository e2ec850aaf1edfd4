//! `/calls/recent` (call detail records, newest first) and `/recordings` (recorded
//! conversations, newest first); `?limit=` (default 100, at most 1000).

use super::crud::MAX_LIMIT;
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;

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

async fn recordings(
    state: web::Data<HttpState>,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let n = limit(&q)?;
    let items = state.blocking(move |s| s.recent_recordings(n)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

routes! {
    GET "/calls/recent" => recent, "Recent call detail records, newest first (limit)";
    GET "/recordings" => recordings, "Recorded conversations, newest first (limit)";
}
