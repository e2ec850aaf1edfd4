//! `/scenarios`: operation graphs. Writes also check the graph (start and exits lead to
//! existing operations) and refuse new errors with 422 (`scenario.graph`).

use super::crud::{self, id_of, numeric_resource, with_id};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde_json::Value;
use vpbx_actors::config_hub::modify_checked;
use vpbx_store::model::{Scenario, ScenarioId};
use vpbx_store::Rejection;

numeric_resource!(Scenario, ScenarioId);

async fn create(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut sc: Scenario = with_id::<Scenario>(body.into_inner(), None)?;
    let stored = state
        .write(move |s| {
            modify_checked(s, |cfg| {
                if sc.id.0 == 0 {
                    sc.id = ScenarioId(cfg.scenarios.iter().map(|x| x.id.0).max().unwrap_or(0) + 1);
                }
                if cfg.scenario(sc.id).is_some() {
                    return Err(Rejection::Exists {
                        kind: "scenario",
                        id: sc.id.to_string(),
                    });
                }
                let at = cfg.scenarios.partition_point(|x| x.id < sc.id);
                cfg.scenarios.insert(at, sc.clone());
                Ok(sc)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(stored))
}

async fn update(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id_of::<Scenario>(&path)?;
    let sc: Scenario = with_id::<Scenario>(body.into_inner(), Some(&id))?;
    let stored = state
        .write(move |s| {
            modify_checked(s, |cfg| {
                let slot = cfg
                    .scenarios
                    .iter_mut()
                    .find(|x| x.id == sc.id)
                    .ok_or_else(|| Rejection::NotFound {
                        kind: "scenario",
                        id: sc.id.to_string(),
                    })?;
                *slot = sc.clone();
                Ok(sc)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(stored))
}

routes! {
    GET "/scenarios" => crud::list::<Scenario>, "List scenarios (q = name; offset, limit)";
    POST "/scenarios" => create, "Create a scenario";
    GET "/scenarios/{id}" => crud::get::<Scenario>, "Get a scenario";
    PUT "/scenarios/{id}" => update, "Replace a scenario";
    DELETE "/scenarios/{id}" => crud::delete::<Scenario>, "Delete a scenario (409 naming every rule and talk option using it)";
}
