//! SIP trunks through the API: CRUD with defaults, every trunk rule surfacing as 422 with field
//! and rule, 409 when a virtual number a trunk (or a SIP line's caller id) uses is deleted, and
//! trunks in the YAML export and import.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::test::TestRequest;
use api_support::*;
use serde_json::{json, Value};
use vpbx_store::model::{TrunkAuth, TrunkId};

fn registration_trunk() -> Value {
    json!({
        "name": "Carrier",
        "host": "sip.carrier.example",
        "auth": {"kind": "registration", "username": "acme", "password": "s3cret"},
        "dids": [{"did": "4951234567", "number": "74951234567"}]
    })
}

fn ip_trunk() -> Value {
    json!({
        "name": "Backup carrier",
        "host": "192.0.2.10",
        "port": 5080,
        "transport": "tcp",
        "auth": {"kind": "ip", "addresses": ["192.0.2.0/28", "2001:db8::/32"]},
        "dids": [{"did": "74950000001", "number": "74950000001"}],
        "outbound": true,
        "prefixes": ["7495", "7499"],
        "number_format": "plus",
        "max_channels": 30
    })
}

/// `base` with `patch`'s top-level fields replaced.
fn with(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

#[actix_rt::test]
async fn trunks_round_trip_with_defaults_and_validation() {
    let (mut sw, api) = api(None).await;

    // A registration trunk, sent with only what is required: defaults filled in.
    let r = api.post("/api/v1/trunks", registration_trunk()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reg = r.json.clone();
    assert_eq!(
        reg,
        json!({
            "id": 1, "name": "Carrier", "enabled": true, "host": "sip.carrier.example",
            "port": 5060, "transport": "udp",
            "auth": {"kind": "registration", "username": "acme", "password": "s3cret",
                     "expires_s": 300, "realm": null},
            "dids": [{"did": "4951234567", "number": "74951234567"}],
            "outbound": true, "prefixes": [], "number_format": "international",
            "max_channels": null, "response_timeout_s": 5
        })
    );
    // An IP-authenticated trunk with every field.
    let r = api.post("/api/v1/trunks", ip_trunk()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ip = r.json.clone();
    assert_eq!(ip["id"], 2);
    assert_eq!(ip["auth"]["addresses"][1], "2001:db8::/32");
    assert_eq!(
        (&ip["transport"], &ip["number_format"], &ip["max_channels"]),
        (&json!("tcp"), &json!("plus"), &json!(30))
    );
    // The new snapshot is published: the next call sees the trunks.
    let snap = sw.running().snapshots.current();
    let (trunk, mapping) = snap.trunk_for_did("4951234567").unwrap();
    assert_eq!(
        (trunk.id, mapping.number.as_str()),
        (TrunkId(1), "74951234567")
    );
    assert_eq!(
        snap.trunk_for_source("192.0.2.3".parse().unwrap())
            .map(|t| t.id),
        Some(TrunkId(2))
    );

    // List, search, get.
    let r = api.get("/api/v1/trunks").await;
    assert_eq!(r.json["total"], 2);
    assert_eq!(r.json["items"], json!([reg, ip]));
    let r = api.get("/api/v1/trunks?q=backup").await;
    assert_eq!(
        (r.json["total"].as_u64(), r.json["items"][0]["id"].as_u64()),
        (Some(1), Some(2))
    );
    let r = api.get("/api/v1/trunks/1").await;
    assert_eq!(r.json, reg);
    let r = api.get("/api/v1/trunks/99").await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (404, Some("not_found"))
    );

    // Update: the path's id wins.
    let upd = with(
        reg.clone(),
        json!({"id": 7, "name": "Carrier (main)", "port": 5061, "enabled": false,
               "auth": {"kind": "registration", "username": "acme", "password": "n3w",
                        "expires_s": 600, "realm": "carrier.example"}}),
    );
    let r = api.put("/api/v1/trunks/1", upd).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json["id"], &r.json["port"], &r.json["auth"]["realm"]),
        (&json!(1), &json!(5061), &json!("carrier.example"))
    );
    let r = api.get("/api/v1/trunks/1").await;
    assert_eq!(
        (&r.json["name"], &r.json["enabled"]),
        (&json!("Carrier (main)"), &json!(false))
    );

    // Every trunk rule: 422 naming field and rule.
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(ip_trunk(), json!({"name": "P", "port": 0, "dids": []})),
            "port",
            "trunk.port",
        ),
        (
            with(
                registration_trunk(),
                json!({"name": "P", "dids": [],
                       "auth": {"kind": "registration", "username": "acme", "password": ""}}),
            ),
            "auth.password",
            "trunk.password",
        ),
        (
            with(
                registration_trunk(),
                json!({"name": "P", "dids": [],
                       "auth": {"kind": "registration", "username": "", "password": "x",
                                "expires_s": 30}}),
            ),
            "auth.expires_s",
            "trunk.expires",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "auth": {"kind": "ip", "addresses": ["10.0.0.0/24", "10.0.0.0/33"]}}),
            ),
            "auth.addresses[1]",
            "trunk.address",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "auth": {"kind": "ip", "addresses": []}}),
            ),
            "auth.addresses",
            "trunk.addresses_required",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [{"did": "4991112233", "number": "74991112233"}]}),
            ),
            "dids[0].number",
            "trunk.did_unknown_number",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [{"did": "4951234567", "number": "74950000000"}]}),
            ),
            "dids[0].did",
            "trunk.did_unique",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [{"did": "+74950000000", "number": "74950000000"}]}),
            ),
            "dids[0].did",
            "trunk.did_digits",
        ),
        (
            with(ip_trunk(), json!({"dids": []})),
            "name",
            "trunk.name_unique",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "host": "sip:carrier"}),
            ),
            "host",
            "trunk.host",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "prefixes": ["+7"]}),
            ),
            "prefixes[0]",
            "trunk.prefix",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "max_channels": 0}),
            ),
            "max_channels",
            "trunk.max_channels",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "response_timeout_s": 0}),
            ),
            "response_timeout_s",
            "trunk.response_timeout_s",
        ),
        (
            with(
                ip_trunk(),
                json!({"name": "P", "dids": [], "response_timeout_s": 33}),
            ),
            "response_timeout_s",
            "trunk.response_timeout_s",
        ),
    ];
    for (body, field, rule) in cases {
        let r = api.post("/api/v1/trunks", body).await;
        assert_invalid(&r, field, rule);
    }
    // The registration case with an empty user name names both problems.
    let r = api
        .post(
            "/api/v1/trunks",
            with(
                registration_trunk(),
                json!({"name": "P", "dids": [],
                       "auth": {"kind": "registration", "username": "", "password": ""}}),
            ),
        )
        .await;
    assert_invalid(&r, "auth.username", "trunk.username");
    assert_invalid(&r, "auth.password", "trunk.password");
    // Types are checked before rules: 400 naming the field.
    let r = api
        .post(
            "/api/v1/trunks",
            with(ip_trunk(), json!({"name": "P", "port": 70000})),
        )
        .await;
    assert_eq!((r.status, r.json["field"].as_str()), (400, Some("port")));
    let r = api
        .post(
            "/api/v1/trunks",
            with(ip_trunk(), json!({"name": "P", "auth": {"kind": "digest"}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = api
        .post(
            "/api/v1/trunks",
            with(ip_trunk(), json!({"name": "P", "strip_plus": true})),
        )
        .await;
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.text);
    // Nothing of that was stored.
    let r = api.get("/api/v1/trunks").await;
    assert_eq!(r.json["total"], 2);

    // Delete.
    let r = api.delete("/api/v1/trunks/2").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api.get("/api/v1/trunks/2").await;
    assert_eq!(r.status, 404);
    assert!(sw
        .running()
        .snapshots
        .current()
        .trunk_for_did("74950000001")
        .is_none());
    sw.stop().await;
}

#[actix_rt::test]
async fn numbers_used_by_trunks_and_caller_ids_cannot_be_deleted() {
    let (mut sw, api) = api(None).await;
    let r = api.post("/api/v1/trunks", registration_trunk()).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A DID mapping uses 74951234567.
    let r = api.delete("/api/v1/numbers/74951234567").await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (409, Some("in_use")),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["used_by"],
        json!([{"kind": "trunk", "trunk": 1, "name": "Carrier", "field": "dids",
                "did": "4951234567"}])
    );

    // A SIP line presents 74950000000 on its outbound calls.
    let mut anna = api.get("/api/v1/employees/1").await.json;
    assert_eq!(anna["phones"][0]["outbound_caller_id"], Value::Null);
    assert_eq!(anna["phones"][0]["outbound_allowed"], true);
    anna["phones"][0]["outbound_caller_id"] = json!("79161234567");
    let r = api.put("/api/v1/employees/1", anna.clone()).await;
    assert_invalid(
        &r,
        "phones[0].outbound_caller_id",
        "sip_line.caller_id_unknown_number",
    );
    anna["phones"][0]["outbound_caller_id"] = json!("74950000000");
    anna["phones"][0]["outbound_allowed"] = json!(false);
    let r = api.put("/api/v1/employees/1", anna).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            &r.json["phones"][0]["outbound_caller_id"],
            &r.json["phones"][0]["outbound_allowed"]
        ),
        (&json!("74950000000"), &json!(false))
    );
    let r = api.delete("/api/v1/numbers/74950000000").await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.json["used_by"],
        json!([{"kind": "sip_line", "line": 101, "login": "101", "employee": 1,
                "field": "outbound_caller_id"}])
    );

    // Once the trunk is gone its number can go; an unused number always could.
    let r = api.delete("/api/v1/trunks/1").await;
    assert_eq!(r.status, 204);
    let r = api.delete("/api/v1/numbers/74951234567").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api.delete("/api/v1/numbers/74950000001").await;
    assert_eq!(r.status, 204, "{}", r.text);
    sw.stop().await;
}

fn put_yaml(t: &str, yaml: &str) -> TestRequest {
    req("PUT", "/api/v1/config", t)
        .insert_header(("content-type", "application/yaml"))
        .set_payload(yaml.to_owned())
}

#[actix_rt::test]
async fn trunks_are_exported_and_imported() {
    let (mut sw, api) = api(None).await;
    for body in [registration_trunk(), ip_trunk()] {
        let r = api.post("/api/v1/trunks", body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let stored = api.get("/api/v1/trunks").await.json["items"].clone();

    let first = api.get("/api/v1/config").await;
    assert_eq!(first.status, 200);
    let doc = vpbx_store::parse_document(&first.text).unwrap();
    assert_eq!(serde_json::to_value(&doc.trunks).unwrap(), stored);
    assert!(first.text.contains("trunks:"), "{}", first.text);
    assert!(first.text.contains("kind: registration"), "{}", first.text);
    assert!(first.text.contains("192.0.2.0/28"), "{}", first.text);

    // Import what was exported: nothing changes, and export → import → export is identical.
    let r = api.send(put_yaml(api.token(), &first.text)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second = api.get("/api/v1/config").await;
    assert_eq!(second.text, first.text);

    // An import without the trunks removes them once confirmed; importing the export brings
    // them back.
    let mut without = doc.clone();
    without.trunks.clear();
    let r = api
        .send(
            req("PUT", "/api/v1/config?confirm_delete=true", api.token())
                .insert_header(("content-type", "application/yaml"))
                .set_payload(vpbx_store::render_document(&without).unwrap()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["plan"]["changes"]["trunks"]["deleted"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(api.get("/api/v1/trunks").await.json["total"], 0);
    let r = api.send(put_yaml(api.token(), &first.text)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.get("/api/v1/trunks").await.json["items"], stored);
    assert!(sw
        .running()
        .snapshots
        .current()
        .trunk_for_did("74950000001")
        .is_some());

    // A document whose trunk maps a DID to a missing number, or with a broken block: 422
    // naming each, and nothing changes.
    let mut bad = doc.clone();
    bad.trunks[0].dids[0].number = "74990000000".into();
    match &mut bad.trunks[1].auth {
        TrunkAuth::Ip { addresses } => addresses[0] = "192.0.2.1/28".into(),
        other => panic!("trunk 2 is IP-authenticated: {other:?}"),
    }
    let r = api
        .send(put_yaml(
            api.token(),
            &vpbx_store::render_document(&bad).unwrap(),
        ))
        .await;
    assert_invalid(&r, "trunks[0].dids[0].number", "trunk.did_unknown_number");
    assert_invalid(&r, "trunks[1].auth.addresses[0]", "trunk.address");
    assert_eq!(api.get("/api/v1/config").await.text, first.text);
    sw.stop().await;
}
