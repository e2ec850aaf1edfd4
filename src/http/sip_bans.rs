//! `/sip/bans`: the SIP sources the edge has banned (flood or failed authentications), and
//! lifting a ban. Bans live in the running switch's memory (they end with a restart); every
//! lift is a security event in the log naming who lifted it.

use super::{ApiError, HttpState};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::net::IpAddr;

/// Who is lifting a ban, for the security log: the account, how it authenticated, from where.
fn who(req: &HttpRequest) -> String {
    let from = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "?".into());
    match super::auth::principal(req) {
        Ok(p) => {
            let via = match p.via {
                vpbx_store::admin::TokenKind::Session => "session",
                vpbx_store::admin::TokenKind::Api => "api token",
            };
            format!("{} ({via}, from {from})", p.user)
        }
        Err(_) => format!("? (from {from})"),
    }
}

/// The path's address: an IPv4 or IPv6 address (brackets around IPv6 allowed).
fn address(raw: &str) -> Result<IpAddr, ApiError> {
    let trimmed = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    let ip: IpAddr = trimmed.parse().map_err(|_| ApiError::BadRequest {
        field: Some("address".into()),
        message: format!(
            "address must be an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::1), not '{raw}'"
        ),
    })?;
    // An IPv4-mapped IPv6 address is banned as the IPv4 address it carries.
    Ok(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

async fn list(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "items": state.sip_security.bans() }))
}

async fn lift(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ip = address(&path.into_inner())?;
    match state.sip_security.lift(ip, &who(&req)) {
        Some(ban) => Ok(HttpResponse::Ok().json(json!({ "lifted": ban }))),
        None => Err(ApiError::NotFound {
            kind: "ban",
            id: ip.to_string(),
        }),
    }
}

async fn lift_all(state: web::Data<HttpState>, req: HttpRequest) -> HttpResponse {
    let lifted = state.sip_security.lift_all(&who(&req));
    HttpResponse::Ok().json(json!({ "items": lifted }))
}

routes! {
    GET "/sip/bans" => list, "SIP sources banned now (address, reason, since, until, seconds left)";
    DELETE "/sip/bans" => lift_all, "Lift every SIP ban (answers the bans lifted)";
    DELETE "/sip/bans/{address}" => lift, "Lift the ban of one SIP source address (404 if it is not banned)";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_or_refused_naming_the_field() {
        assert_eq!(address("192.0.2.1").ok(), "192.0.2.1".parse().ok());
        assert_eq!(address("[2001:db8::1]").ok(), "2001:db8::1".parse().ok());
        assert_eq!(address("::ffff:192.0.2.1").ok(), "192.0.2.1".parse().ok());
        for bad in [
            "",
            "host.example",
            "192.0.2.1:5060",
            "300.1.1.1",
            "10.0.0.0/8",
        ] {
            match address(bad) {
                Err(ApiError::BadRequest { field, message }) => {
                    assert_eq!(field.as_deref(), Some("address"));
                    assert!(message.contains("IPv4 or IPv6"), "{message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
