//! A newly connected number gets the default rule (SPEC §2), and the API names the numbers some
//! calls reach with no rule.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use serde_json::json;

#[actix_rt::test]
async fn a_new_number_gets_the_default_rule_and_gaps_are_listed() {
    let (mut sw, api) = api(None).await;
    let r = api.get("/api/v1/routing/coverage").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = r.json["items"].as_array().unwrap().len();

    // Connected without rules: all callers, always, to the default queue scenario.
    let r = api
        .post("/api/v1/numbers", json!({"number": "74957770001"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rule = &r.json["rules"][0];
    assert_eq!(rule["name"], "All callers, always");
    assert_eq!(rule["callers"]["kind"], "all");
    let scenario = api
        .get(&format!("/api/v1/scenarios/{}", rule["scenario"]))
        .await;
    assert_eq!(scenario.json["name"], "Default: forward to a queue");
    assert_eq!(
        scenario.json["operations"]["queue"]["action"]["queue"]["announce"],
        true
    );
    // The switch routes it like any number.
    let t = api
        .post(
            "/api/v1/routing/trace",
            json!({"caller": "79161234567", "number": "74957770001"}),
        )
        .await;
    assert_eq!(
        t.json["scenario"]["name"], "Default: forward to a queue",
        "{}",
        t.text
    );

    // Posted with `rules: []`: no rule, and the coverage names it.
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": "74957770002", "rules": []}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["rules"], json!([]));
    let r = api.get("/api/v1/routing/coverage").await;
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), before + 1, "{}", r.text);
    assert!(items
        .iter()
        .any(|g| g["number"] == "74957770002"
            && g["uncovered"] == "every call: the number has no rule"));
    sw.stop().await;
}
