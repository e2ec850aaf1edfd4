//! The region branch on a live switch, built only through the API: the test phone calls as
//! +7 916 123-45-67, a mobile (DEF) number. With the shipped numbering plan alone it is only
//! known as Russia; once the admin loads a registry file that places 916 in Moscow, the next
//! call takes the Moscow exit. The registry API refuses a broken file naming the line, keeps
//! the loaded ones, looks numbers up and removes a file.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::json;

const REGISTRY: &str = "\u{feff}Код;От;До;Емкость;Оператор;Регион\n\
    916;0000000;4999999;5000000;ПАО \"Мобильные ТелеСистемы\";г. Москва и Московская область\n\
    916;5000000;9999999;5000000;ПАО \"Мобильные ТелеСистемы\";г. Москва и Московская область\n\
    917;2000000;2999999;1000000;ПАО \"Мобильные ТелеСистемы\";Республика Татарстан (Татарстан)\n";

#[actix_rt::test]
async fn the_region_branch_follows_the_loaded_registry() {
    let (mut sw, api) = api(None).await;
    let put_csv = |name: &str, body: &str| {
        api.req("PUT", &format!("/api/v1/numbering/registry/{name}"))
            .insert_header(("Content-Type", "text/csv"))
            .set_payload(body.as_bytes().to_vec())
    };

    // A region the plan does not know, and a region under two exits, are refused.
    let bad = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad", "start": "a", "operations": {
                "a": {"action": {"kind": "region_branch",
                                 "regions": {"x": ["RU-ZZZ"], "y": ["GB"], "z": ["GB"]}}}}}),
        )
        .await;
    assert_invalid(
        &bad,
        "operations.a.action.regions.x[0]",
        "region_branch.code",
    );
    assert_invalid(
        &bad,
        "operations.a.action.regions.z[0]",
        "region_branch.code",
    );

    let r = api
        .post(
            "/api/v1/scenarios",
            json!({
                "name": "Regions",
                "start": "where",
                "operations": {
                    "where": {"action": {"kind": "region_branch",
                                         "regions": {"moscow": ["RU-MOW", "RU-MOS"], "russia": ["RU"]}},
                              "exits": {"moscow": "m", "russia": "r", "other_regions": "o"}},
                    "m": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "r": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "o": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "bye": {"action": {"kind": "hang_up"}}
                }
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let scenario = r.json["id"].as_u64().unwrap();
    for number in ["74957000901", "74957000902"] {
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "rules": [{"name": "regions", "scenario": scenario}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    // The shipped plan alone: a mobile number is Russia.
    call_until_hung_up(sw.sip, "74957000901").await;
    let events = api.finished_call_events("74957000901").await;
    assert_eq!(exits(&events), ["where->russia", "r->next"], "{events:#?}");
    let r = api
        .get("/api/v1/numbering/lookup?number=%2B79161234567")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["region"]["code"], "RU");
    assert_eq!(r.json["region"]["source"], "country_code");
    let r = api
        .get("/api/v1/numbering/lookup?number=8%28495%29123-45-67")
        .await;
    assert_eq!(r.json["region"]["code"], "RU-MOW", "{}", r.text);
    assert_eq!(r.json["region"]["source"], "abc_prefix");
    let r = api.get("/api/v1/numbering/lookup?numbr=1").await;
    assert_eq!(r.status, 400, "{}", r.text);
    // The length limit counts characters, as the published schema does: 32 of
    // them in any script is a (regionless) number, 33 is refused.
    let wide = "%D0%AF".repeat(32);
    let r = api
        .get(&format!("/api/v1/numbering/lookup?number={wide}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["region"].is_null(), "{}", r.text);
    let r = api
        .get(&format!("/api/v1/numbering/lookup?number={wide}1"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // A broken file is refused whole, naming the line and the column.
    let broken = format!("{REGISTRY}918;0500000;0400000;1;X;г. Москва\n");
    let r = api.send(put_csv("DEF-9xx", &broken)).await;
    assert_invalid(&r, "body.До", "numbering.registry");
    assert!(r.text.contains("line 5"), "{}", r.text);
    let r = api.send(put_csv("bad%20name", REGISTRY)).await;
    assert_invalid(&r, "name", "numbering.name");
    assert_eq!(
        api.get("/api/v1/numbering/registry").await.json["items"],
        json!([])
    );

    // The file loads: merged ranges, the report, the lookup.
    let r = api.send(put_csv("DEF-9xx", REGISTRY)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["ranges"], 2, "{}", r.text);
    assert_eq!(r.json["report"]["rows"], 3);
    assert_eq!(r.json["report"]["per_region"]["RU-TA"], 1);
    let list = api.get("/api/v1/numbering/registry").await;
    assert_eq!(list.json["items"][0]["name"], "DEF-9xx", "{}", list.text);
    let r = api
        .get("/api/v1/numbering/lookup?number=%2B79161234567")
        .await;
    assert_eq!(r.json["region"]["code"], "RU-MOW", "{}", r.text);
    assert_eq!(r.json["region"]["source"], "registry");

    // The next call takes the Moscow exit.
    call_until_hung_up(sw.sip, "74957000902").await;
    let events = api.finished_call_events("74957000902").await;
    assert_eq!(exits(&events), ["where->moscow", "m->next"], "{events:#?}");
    let notes: Vec<&str> = find(&events, "note")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("where: caller") && n.contains("RU-MOW")),
        "{notes:#?}"
    );

    // Removed: gone from the list and the lookups; a second removal is a 404.
    assert_eq!(
        api.delete("/api/v1/numbering/registry/DEF-9xx")
            .await
            .status,
        204
    );
    assert_eq!(
        api.delete("/api/v1/numbering/registry/DEF-9xx")
            .await
            .status,
        404
    );
    let r = api
        .get("/api/v1/numbering/lookup?number=%2B79161234567")
        .await;
    assert_eq!(r.json["region"]["code"], "RU");
    sw.stop().await;
}
