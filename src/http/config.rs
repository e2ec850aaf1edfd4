//! `/config`: the whole configuration as one YAML document (the format of `config/demo.yaml`).
//!
//! `PUT` imports a whole document (docs/decisions.md D32): the body must be a YAML mapping
//! naming the `company` (an empty or partial body is a 400, never "delete everything"); it is
//! parsed off the HTTP workers within size and depth bounds, validated (422 with every error),
//! and planned against the current configuration. `?dry_run=true` answers the plan and writes
//! nothing. An import that deletes entities answers 409 with the plan unless
//! `?confirm_delete=true`. Applied imports answer the plan and the backup file that keeps the
//! configuration they replaced.

use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use vpbx_store::import::{parse_import, ImportOptions, ImportOutcome};

async fn export(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let cfg = state.blocking(|s| s.snapshot()).await?;
    let yaml = web::block(move || vpbx_store::render_document(&cfg))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(yaml))
}

/// Query of `PUT /config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// Validate and plan only.
    #[serde(default)]
    dry_run: bool,
    /// Allow deleting entities.
    #[serde(default)]
    confirm_delete: bool,
}

async fn import(
    state: web::Data<HttpState>,
    query: Result<web::Query<ImportQuery>, actix_web::Error>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let query = query.map_err(|e| ApiError::BadRequest {
        field: None,
        message: format!("query: {e} (expected dry_run and confirm_delete, true or false)"),
    })?;
    let cfg = web::block(move || {
        let text = std::str::from_utf8(&body).map_err(|e| ApiError::BadRequest {
            field: None,
            message: format!("the document is not UTF-8: {e}"),
        })?;
        parse_import(text).map_err(|e| ApiError::BadRequest {
            field: None,
            message: e.to_string(),
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let options = ImportOptions {
        dry_run: query.dry_run,
        confirm_delete: query.confirm_delete,
    };
    match state.import(cfg, options).await? {
        ImportOutcome::Invalid { errors } => Err(ApiError::Invalid(errors)),
        ImportOutcome::NeedsConfirmation { plan } => Ok(HttpResponse::Conflict().json(json!({
            "error": "confirmation_required",
            "message": format!(
                "this import deletes {}; nothing was changed. Check the plan (?dry_run=true) and repeat with ?confirm_delete=true to apply it",
                plan.deletion_summary()
            ),
            "plan": plan,
        }))),
        out @ (ImportOutcome::DryRun { .. } | ImportOutcome::Applied { .. }) => {
            Ok(HttpResponse::Ok().json(out))
        }
    }
}

routes! {
    GET "/config" => export, "Export the whole configuration (YAML)";
    PUT "/config" => import, "Import a whole configuration (YAML): validated, planned (?dry_run=true), deletions only with ?confirm_delete=true, the previous one backed up";
}
