//! `/trunks`: SIP trunks to carriers — the proxy to reach, how the carrier and the switch trust
//! each other (registration with credentials, or IP authentication), the DIDs delivered on the
//! trunk mapped to virtual numbers, and what the trunk carries out (prefixes, number format,
//! channel limit) — and `/trunks/{id}/status`, the live state: registration with the carrier and
//! calls in progress.

use super::crud::{self, numeric_resource};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use vpbx_store::model::{Trunk, TrunkId};

async fn status(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let raw = path.into_inner();
    let not_found = || ApiError::NotFound {
        kind: "trunk",
        id: raw.clone(),
    };
    let id = TrunkId(raw.parse::<u64>().map_err(|_| not_found())?);
    let cfg = state.snapshots.current();
    let trunk = cfg.trunk(id).ok_or_else(not_found)?;
    let st = state.presence.trunk_status(trunk);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": id,
        "name": trunk.name,
        "enabled": trunk.enabled,
        "registration": st.registration,
        "last_response": st.last_response,
        "channels": st.channels,
        "max_channels": trunk.max_channels,
    })))
}

numeric_resource!(Trunk, TrunkId);

routes! {
    GET "/trunks" => crud::list::<Trunk>, "List SIP trunks (q = name, host; offset, limit)";
    POST "/trunks" => crud::create::<Trunk>, "Create a SIP trunk";
    GET "/trunks/{id}" => crud::get::<Trunk>, "Get a SIP trunk";
    PUT "/trunks/{id}" => crud::update::<Trunk>, "Replace a SIP trunk";
    DELETE "/trunks/{id}" => crud::delete::<Trunk>, "Delete a SIP trunk";
    GET "/trunks/{id}/status" => status, "Live state of a SIP trunk: registration with the carrier (registered, registering, failed, ip, disabled), the carrier's last answer, calls in progress";
}
