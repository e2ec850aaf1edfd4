//! `/config`: the whole configuration as one YAML document (the format of `config/demo.yaml`).
//! `PUT` validates everything first and applies all or nothing (422 with every error).

use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};

async fn export(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let cfg = state.blocking(|s| s.snapshot()).await?;
    let yaml = vpbx_store::render_document(&cfg)?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(yaml))
}

async fn import(state: web::Data<HttpState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|e| ApiError::BadRequest {
        field: None,
        message: format!("the document is not UTF-8: {e}"),
    })?;
    let cfg = vpbx_store::parse_document(text).map_err(|e| ApiError::BadRequest {
        field: None,
        message: e.to_string(),
    })?;
    state.apply(cfg).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"result": "applied"})))
}

routes! {
    GET "/config" => export, "Export the whole configuration (YAML)";
    PUT "/config" => import, "Import a whole configuration (YAML): validated, all or nothing";
}
