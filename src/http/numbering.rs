//! `/numbering`: the numbering plan region branches read (SPEC §3 op 10). The plan ships in the
//! binary (country calling codes, Russian ABC prefixes); the admin adds the regulator's
//! registry files of number ranges (CSV `Код;От;До;Емкость;Оператор;Регион`, UTF-8 or
//! Windows-1251, up to [`REGISTRY_LIMIT`] bytes each), one per name (`ABC-3xx`, `DEF-9xx`).
//! A loaded file is stored (it survives a restart) and used by the calls that start after the
//! answer; `lookup` shows what a number resolves to.

use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use futures::StreamExt;
use serde_json::json;
use std::collections::BTreeMap;
use vpbx_actors::core::numbering::Registries;
use vpbx_numplan::{ImportError, RangeTable};
use vpbx_store::numbering::NumberingFile;
use vpbx_store::validate::ValidationError;

/// The largest registry file accepted (the regulator's biggest, DEF-9xx, is about 20 MB).
pub const REGISTRY_LIMIT: usize = 64 * 1024 * 1024;

/// A registry file's name: 1-32 of letters, digits, `-`, `_`, `.`.
fn file_name(raw: String) -> Result<String, ApiError> {
    let ok = (1..=32).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::Invalid(vec![ValidationError::new(
            "name",
            "numbering.name",
            "a registry file's name is 1-32 characters: letters, digits, -, _, .",
        )]))
    }
}

/// The 422 of a file the importer refused: the field is the CSV's column (or `body`), the
/// message names the line.
fn refused(e: &ImportError) -> ApiError {
    let field = match e {
        ImportError::Field { field, .. } => format!("body.{}", field.trim_matches('\'')),
        ImportError::Reversed { .. } => "body.До".into(),
        _ => "body".into(),
    };
    ApiError::Invalid(vec![ValidationError::new(
        field,
        "numbering.registry",
        e.to_string(),
    )])
}

/// Makes the stored files the ones new calls read.
fn publish(state: &HttpState, files: Vec<(String, NumberingFile)>) {
    state.numbering.replace(Registries::new(
        files.into_iter().map(|(n, f)| (n, f.table)).collect(),
    ));
}

fn summary(name: &str, f: &NumberingFile) -> serde_json::Value {
    json!({
        "name": name,
        "ranges": f.table.len(),
        "loaded_unix_ms": f.loaded_unix_ms,
        "report": f.report,
    })
}

async fn list(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let files = state.blocking(|s| s.numbering_files()).await?;
    let items: Vec<_> = files.iter().map(|(n, f)| summary(n, f)).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn put(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = file_name(path.into_inner())?;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            field: Some("body".into()),
            message: format!("the body could not be read: {e}"),
        })?;
        if bytes.len() + chunk.len() > REGISTRY_LIMIT {
            return Err(ApiError::BadRequest {
                field: Some("body".into()),
                message: format!("a registry file is at most {REGISTRY_LIMIT} bytes"),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    let loaded_unix_ms = vpbx_actors::clock::Clock::unix_ms(&crate::clock::RealClock);
    // Importing a big file is CPU work: off the HTTP worker.
    let imported = web::block(move || RangeTable::import_bytes(&bytes))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (table, report) = imported.map_err(|e| refused(&e))?;
    let file = NumberingFile {
        table,
        report,
        loaded_unix_ms,
    };
    let answer = summary(&name, &file);
    let files = state
        .blocking(move |s| {
            s.put_numbering_file(&name, &file)?;
            s.numbering_files()
        })
        .await?;
    publish(&state, files);
    Ok(HttpResponse::Ok().json(answer))
}

async fn delete(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = file_name(path.into_inner())?;
    let key = name.clone();
    let (was, files) = state
        .blocking(move |s| Ok((s.delete_numbering_file(&key)?, s.numbering_files()?)))
        .await?;
    if !was {
        return Err(ApiError::NotFound {
            kind: "registry file",
            id: name,
        });
    }
    publish(&state, files);
    Ok(HttpResponse::NoContent().finish())
}

async fn lookup(
    state: web::Data<HttpState>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut query = query.into_inner();
    if let Some(other) = query.keys().find(|k| *k != "number") {
        return Err(ApiError::BadRequest {
            field: Some(other.clone()),
            message: format!("unknown query parameter {other} (only number)"),
        });
    }
    let number = query.remove("number").unwrap_or_default();
    if number.is_empty() || number.chars().count() > 32 {
        return Err(ApiError::BadRequest {
            field: Some("number".into()),
            message: "number must be 1-32 characters".into(),
        });
    }
    let region = state.numbering.current().region_of(&number);
    Ok(HttpResponse::Ok().json(json!({
        "number": number,
        "normalised": vpbx_numplan::normalise_number(&number),
        "region": region,
    })))
}

routes! {
    GET "/numbering/registry" => list, "The loaded registry files of number ranges (name, ranges, load time, import report)";
    PUT "/numbering/registry/{name}" => put, "Load (or replace) a registry file of number ranges: the regulator's CSV (Код;От;До;Емкость;Оператор;Регион) as the body, UTF-8 or Windows-1251; new calls use it at once";
    DELETE "/numbering/registry/{name}" => delete, "Remove a loaded registry file (404 if there is none by that name)";
    GET "/numbering/lookup" => lookup, "The region of a number as region branches see it (number): subject or country, and where it was found (registry, abc_prefix, country_code)";
}
