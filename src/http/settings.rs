//! `/settings`: the box settings record (company name, time zone, extension length,
//! mobile-line mode). Changing the extension length is refused while extensions break it.

use super::crud::from_body;
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde_json::Value;
use vpbx_store::model::CompanySettings;

async fn get(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let s = state.blocking(|s| s.settings()).await?;
    Ok(HttpResponse::Ok().json(s))
}

async fn put(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let s: CompanySettings = from_body(body.into_inner())?;
    let back = s.clone();
    state.write(move |store| store.set_settings(s)).await?;
    Ok(HttpResponse::Ok().json(back))
}

routes! {
    GET "/settings" => get, "Box settings (company, time zone, extension length, mobile-line mode)";
    PUT "/settings" => put, "Replace the box settings";
}
