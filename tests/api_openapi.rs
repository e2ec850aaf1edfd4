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

/// What schemathesis found where the switch, not the document, was wrong: each answer now
/// matches the document (soak/schemathesis.sh).
#[actix_rt::test]
async fn findings_of_the_schema_fuzzer_stay_fixed() {
    use serde_json::json;
    let (mut sw, api) = api(None).await;

    // A list filter with a value that no entity can have is a 400 naming it, not an empty list.
    for path in ["/api/v1/files?kind=audio", "/api/v1/number-lists?kind=null"] {
        let r = api.get(path).await;
        assert_eq!(
            (r.status, r.json["field"].as_str()),
            (400, Some("kind")),
            "{path}: {}",
            r.text
        );
    }
    assert_eq!(api.get("/api/v1/files?kind=recording").await.status, 200);
    assert_eq!(api.get("/api/v1/number-lists?kind=black").await.status, 200);

    // A calendar year holds dates only in 1–9999.
    let r = api.post("/api/v1/calendars", json!({"year": 0})).await;
    assert_invalid(&r, "year", "calendar.year");
    let r = api.post("/api/v1/calendars", json!({"year": 10000})).await;
    assert_invalid(&r, "year", "calendar.year");

    // Unknown fields are refused in every variant of a phone and a caller filter, and in the
    // settings (they were silently dropped).
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "Typo", "extension": "150",
                   "phones": [{"kind": "external", "number": "79161234567", "dial_timeout": 30}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("phones[0].dial_timeout")),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "Typo", "extension": "151",
                   "phones": [{"kind": "sip_uri", "uri": "a@b.example", "line": 1}]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = api
        .post(
            "/api/v1/numbers/74951234567/rules",
            json!({"name": "x", "scenario": 1, "callers": {"kind": "numbers", "masks": ["7*"], "mask": "8*"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["field"].as_str().is_some_and(|f| f.contains("mask")),
        "{}",
        r.text
    );
    let mut settings = api.get("/api/v1/settings").await.json;
    settings["timezone"] = json!("Europe/Moscow");
    let r = api.put("/api/v1/settings", settings).await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("timezone")),
        "{}",
        r.text
    );

    // Blocking a number answers 200 with the blacklist (documented so, not 201).
    let r = api
        .post(
            "/api/v1/blacklist/entries",
            json!({"number": "79160000000"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    sw.stop().await;
}
