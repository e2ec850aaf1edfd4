//! `/groups`: groups of employees; the scenarios that use a group; "equalize percents".

use super::crud::{self, id_of, numeric_resource};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde_json::json;
use vpbx_store::integrity::{users_of, EntityRef, UsedBy};
use vpbx_store::model::{Group, GroupId};

numeric_resource!(Group, GroupId);

/// Scenarios that use the group (every operation that names it), from the current snapshot.
async fn scenarios(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id_of::<Group>(&path)?;
    let cfg = state.snapshots.current();
    if cfg.group(id).is_none() {
        return Err(ApiError::NotFound {
            kind: "group",
            id: id.to_string(),
        });
    }
    let mut out: Vec<serde_json::Value> = Vec::new();
    for u in users_of(&cfg, &EntityRef::Group(id)) {
        if let UsedBy::ScenarioOperation {
            scenario,
            name,
            operation,
        } = u
        {
            match out.iter_mut().find(|v| v["id"] == json!(scenario)) {
                Some(v) => {
                    if let Some(ops) = v["operations"].as_array_mut() {
                        ops.push(json!(operation));
                    }
                }
                None => out.push(json!({"id": scenario, "name": name, "operations": [operation]})),
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "items": out })))
}

async fn equalize(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id_of::<Group>(&path)?;
    let percents = state.write(move |s| s.equalize_group_percents(id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "percents": percents })))
}

routes! {
    GET "/groups" => crud::list::<Group>, "List groups (q = name; offset, limit)";
    POST "/groups" => crud::create::<Group>, "Create a group";
    GET "/groups/{id}" => crud::get::<Group>, "Get a group";
    PUT "/groups/{id}" => crud::update::<Group>, "Replace a group";
    DELETE "/groups/{id}" => crud::delete::<Group>, "Delete a group (409 naming every scenario using it)";
    GET "/groups/{id}/scenarios" => scenarios, "Scenarios that use the group";
    POST "/groups/{id}/equalize-percents" => equalize, "Spread 100 % evenly over the group's members";
}
