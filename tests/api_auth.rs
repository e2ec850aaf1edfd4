//! Admin auth on the production app: 401 without credentials, session cookie + CSRF, bearer
//! tokens, logout, password change revoking tokens, and login throttling.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::test::{init_service, TestRequest};
use api_support::*;
use serde_json::json;

#[actix_rt::test]
async fn auth_cookie_csrf_bearer_logout_and_lockout() {
    let mut sw = switch(None).await;
    let app = init_service(vpbx::http::app(state(&sw))).await;

    // Open: /health, /metrics, the OpenAPI document and the reference page. Everything under
    // /api/v1 else: 401 JSON.
    for p in ["/health", "/metrics", "/api/v1/openapi.json", "/api/docs"] {
        assert_eq!(
            send(&app, TestRequest::get().uri(p)).await.status,
            200,
            "{p}"
        );
    }
    for (m, p) in [
        ("GET", "/api/v1/employees"),
        ("GET", "/api/v1/config"),
        ("POST", "/api/v1/routing/trace"),
        ("GET", "/api/v1/no-such-route"),
    ] {
        let r = send(&app, req(m, p, "not-a-token")).await;
        assert_eq!(r.status, 401, "{m} {p}");
        assert_eq!(r.json["error"], "unauthorized");
        let r = send(
            &app,
            TestRequest::default().method(m.parse().unwrap()).uri(p),
        )
        .await;
        assert_eq!(r.status, 401, "{m} {p} without credentials");
        assert!(r.headers.contains_key("www-authenticate"));
    }

    // Malformed bodies are 400 JSON naming the problem.
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header(("content-type", "application/json"))
            .set_payload("{\"username\": \"admin\", "),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["error"], "bad_request");
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"username": 7, "password": "x"})),
    )
    .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("username"))
    );

    // Wrong password: 401. Right one: a session cookie (HttpOnly, SameSite=Strict, no Secure
    // without TLS) and a CSRF token.
    let bad = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"username": "admin", "password": "wrong"})),
    )
    .await;
    assert_eq!(bad.status, 401);
    let login = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let session = login.cookie("vpbx_session").unwrap();
    let set = login.set_cookie("vpbx_session").unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Secure"), "{set}");
    let csrf = login.json["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(login.cookie("vpbx_csrf").unwrap(), csrf);
    assert!(!login.set_cookie("vpbx_csrf").unwrap().contains("HttpOnly"));
    let with_cookie = |r: TestRequest| {
        r.cookie(actix_web::cookie::Cookie::new(
            "vpbx_session",
            session.clone(),
        ))
    };

    let r = send(
        &app,
        with_cookie(TestRequest::get().uri("/api/v1/employees")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 2);
    let r = send(&app, with_cookie(TestRequest::get().uri("/api/v1/auth/me"))).await;
    assert_eq!(
        (r.json["user"].as_str(), r.json["via"].as_str()),
        (Some("admin"), Some("session"))
    );
    // Unsafe method with the cookie alone: 403; with a wrong token: 403; with the token: ok.
    let tag = json!({"name": "wholesale"});
    let r = send(
        &app,
        with_cookie(TestRequest::post().uri("/api/v1/tags").set_json(&tag)),
    )
    .await;
    assert_eq!((r.status, r.json["error"].as_str()), (403, Some("csrf")));
    let r = send(
        &app,
        with_cookie(
            TestRequest::post()
                .uri("/api/v1/tags")
                .insert_header(("X-CSRF-Token", "guess"))
                .set_json(&tag),
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        &app,
        with_cookie(
            TestRequest::post()
                .uri("/api/v1/tags")
                .insert_header(("X-CSRF-Token", csrf.as_str()))
                .set_json(&tag),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Bearer tokens: no CSRF needed; only a hash is stored.
    let t = token(&app).await;
    assert!(
        sw.running().store.token(&t).unwrap().is_none(),
        "raw token stored"
    );
    let r = send(
        &app,
        json("POST", "/api/v1/tags", &t, json!({"name": "complained"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(&app, req("GET", "/api/v1/auth/me", &t)).await;
    assert_eq!(r.json["via"], "api");

    // Logout ends the session (and clears the cookie).
    let r = send(
        &app,
        with_cookie(
            TestRequest::post()
                .uri("/api/v1/auth/logout")
                .insert_header(("X-CSRF-Token", csrf.as_str())),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.cookie("vpbx_session").as_deref(), Some(""));
    let r = send(
        &app,
        with_cookie(TestRequest::get().uri("/api/v1/employees")),
    )
    .await;
    assert_eq!(r.status, 401);

    // Changing the password (as `vpbx admin set-password` does) revokes every token.
    vpbx::http::auth::set_admin_password(&sw.running().store, "another password").unwrap();
    assert_eq!(
        send(&app, req("GET", "/api/v1/employees", &t)).await.status,
        401
    );
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    assert!(vpbx::http::auth::set_admin_password(&sw.running().store, "short").is_err());

    // Throttling: 5 failures from one address → 429 with Retry-After, even for the right
    // password; the account is not locked for other addresses (tests/http_edge.rs has the
    // rest).
    let login_from = |ip: &str, user: &str, pw: &str| {
        TestRequest::post()
            .uri("/api/v1/auth/token")
            .peer_addr(format!("{ip}:40000").parse().unwrap())
            .set_json(json!({"username": user, "password": pw}))
    };
    for _ in 0..5 {
        let r = send(&app, login_from("192.0.2.1", "admin", "wrong")).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = send(&app, login_from("192.0.2.1", "admin", PASSWORD)).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(r.json["error"], "locked");
    let r = send(&app, login_from("192.0.2.2", "admin", PASSWORD)).await;
    assert_eq!(r.status, 200, "the account is not locked from elsewhere");
    let r = send(&app, login_from("192.0.2.3", "operator", "x")).await;
    assert_eq!(
        r.status, 401,
        "another address with another name is not throttled"
    );
    // A token issued before the lockout still works (lockout guards logins only).
    let r = send(
        &app,
        req("GET", "/api/v1/employees", &token_before_lock(&sw)),
    )
    .await;
    assert_eq!(r.status, 200);
    sw.stop().await;
}

/// A token minted directly in the store, as an earlier login would have.
fn token_before_lock(sw: &TestSwitch) -> String {
    use sha2::Digest;
    let token = "0123456789abcdef0123456789abcdef";
    let hash: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sw.running()
        .store
        .put_token(
            &hash,
            &vpbx_store::admin::TokenRecord {
                kind: vpbx_store::admin::TokenKind::Api,
                user: "admin".into(),
                created_unix_ms: 0,
                expires_unix_ms: u64::MAX,
                csrf_hash: None,
            },
        )
        .unwrap();
    token.to_owned()
}
