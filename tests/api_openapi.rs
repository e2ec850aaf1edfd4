//! The OpenAPI document: committed, current, served, and in step with the router — every
//! registered route is documented and every documented route answers (not `no_route`).
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use std::collections::BTreeSet;

#[test]
fn committed_document_is_current() {
    let generated = vpbx::http::openapi::render().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/openapi.json");
    if std::env::var_os("VPBX_WRITE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    assert!(
        vpbx::http::openapi::DOCUMENT == generated,
        "src/http/openapi.json is stale: run VPBX_WRITE_OPENAPI=1 cargo test --test api_openapi"
    );
}

fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(vpbx::http::openapi::DOCUMENT).unwrap();
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_is_registered() {
    let registered: BTreeSet<(String, String)> = vpbx::http::api_routes()
        .into_iter()
        .map(|(_, r)| (r.method.to_owned(), format!("/api/v1{}", r.path)))
        .collect();
    let documented = documented();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes not documented: {undocumented:?}"
    );
    assert!(
        missing.is_empty(),
        "documented routes not registered: {missing:?}"
    );
    assert!(registered.len() > 60, "{}", registered.len());
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{number}", "74951234567")
        .replace("{rule}", "1")
        .replace("{year}", "2026")
        .replace("{entry}", "7916")
}

#[actix_rt::test]
async fn every_documented_route_answers_on_the_app() {
    let (mut sw, api) = api(None).await;
    // Served, and the same document.
    let r = api.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, vpbx::http::openapi::DOCUMENT);
    // Sanity: an unknown route is recognisable.
    let r = api.get("/api/v1/no-such-thing").await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (404, Some("no_route"))
    );
    // A route of other methods: 405 naming them (RFC 9110 §15.5.6).
    let r = api.send(api.req("PATCH", "/api/v1/employees")).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    let r = api.send(api.req("POST", "/api/v1/employees/7")).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("DELETE, GET, PUT")
    );

    let mut routes: Vec<(String, String)> = documented().into_iter().collect();
    // Logging out revokes the token: last.
    routes.sort_by_key(|(_, p)| p.ends_with("/auth/logout"));
    for (method, path) in routes {
        let mut rq = api.req(&method, &concrete(&path));
        if method == "POST" || method == "PUT" {
            rq = rq.set_json(serde_json::json!({}));
        }
        let r = api.send(rq).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text);
        assert_ne!(r.json["error"], "no_route", "{method} {path} is not routed");
        assert_ne!(r.status, 401, "{method} {path}: {}", r.text);
        assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.text);
    }
    sw.stop().await;
}
