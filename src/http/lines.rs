//! `/lines/{id}/registration`: the registration state of a SIP line as the registrar holds it
//! ("not registered", or each binding: contact, source address, transport, user agent, expiry),
//! with what a phone needs to register (login, servers).

use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde_json::json;
use vpbx_store::model::{Phone, SipLineId};

async fn registration(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let raw = path.into_inner();
    let not_found = || ApiError::NotFound {
        kind: "SIP line",
        id: raw.clone(),
    };
    let id = SipLineId(raw.parse::<u64>().map_err(|_| not_found())?);
    let cfg = state.snapshots.current();
    let (employee, line) = cfg
        .employees
        .iter()
        .find_map(|e| {
            e.phones.iter().find_map(|p| match p {
                Phone::SipLine(l) if l.id == id => Some((e, l)),
                _ => None,
            })
        })
        .ok_or_else(not_found)?;
    let bindings: Vec<_> = state
        .presence
        .line_contacts(id)
        .into_iter()
        .map(|b| {
            json!({
                "contact": b.contact,
                "source": b.source,
                "transport": b.transport,
                "user_agent": b.user_agent,
                "expires_unix_ms": b.expires_unix_ms,
                "reachable": b.reachable,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "line": id,
        "employee": employee.id,
        "login": line.login,
        "servers": state.sip_listeners,
        "registered": !bindings.is_empty(),
        "state": if bindings.is_empty() { "not registered" } else { "registered" },
        "bindings": bindings,
    })))
}

routes! {
    GET "/lines/{id}/registration" => registration, "Registration state of a SIP line";
}
