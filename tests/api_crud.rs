//! CRUD round trips on the production app, every validation rule family surfacing as 422 with
//! field and rule, 409 naming every user, 404, and the extra actions (reorder, equalize,
//! blacklist, registration state).
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use serde_json::{json, Value};

#[actix_rt::test]
async fn employees_with_generated_sip_lines_and_validation() {
    let (mut sw, api) = api(None).await;

    // Create with a SIP line sent as {kind: sip_line}: the box generates id, login, password.
    let r = api
        .post(
            "/api/v1/employees",
            json!({"first_name": "Vera", "last_name": "Orlova", "extension": "103",
                   "phones": [{"kind": "sip_line"}, {"kind": "sip_line", "lines": 2},
                              {"kind": "external", "number": "79161234567"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let e = r.json.clone();
    let id = e["id"].as_u64().unwrap();
    assert_eq!(id, 3);
    let line = &e["phones"][0];
    assert_eq!(line["login"], "103", "the extension is the login");
    let pw = line["password"].as_str().unwrap();
    assert!(
        pw.len() >= 20 && pw.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{pw}"
    );
    let second = &e["phones"][1];
    assert_ne!(second["login"], "103");
    assert_ne!(second["id"], line["id"]);
    assert_ne!(second["password"], line["password"]);
    // Read back, list, search, paginate.
    let r = api.get(&format!("/api/v1/employees/{id}")).await;
    assert_eq!(r.json, e);
    let r = api.get("/api/v1/employees?q=orlo").await;
    assert_eq!(
        (r.json["total"].as_u64(), r.json["items"][0]["id"].as_u64()),
        (Some(1), Some(id))
    );
    let r = api.get("/api/v1/employees?offset=1&limit=1").await;
    assert_eq!(r.json["total"], 3);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["items"][0]["id"], 2);
    let r = api.get("/api/v1/employees?limit=x").await;
    assert_eq!((r.status, r.json["field"].as_str()), (400, Some("limit")));
    // Update without credentials keeps them.
    let mut upd = e.clone();
    upd["first_name"] = json!("Vera M.");
    upd["phones"][0].as_object_mut().unwrap().remove("password");
    let r = api.put(&format!("/api/v1/employees/{id}"), upd).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["phones"][0]["password"], line["password"]);
    assert_eq!(r.json["first_name"], "Vera M.");
    // The new snapshot is published: the registrar view sees the line at once.
    let lid = line["id"].as_u64().unwrap();
    let r = api.get(&format!("/api/v1/lines/{lid}/registration")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["registered"].as_bool(), r.json["state"].as_str()),
        (Some(false), Some("not registered"))
    );
    assert_eq!(r.json["login"], "103");
    assert_eq!(api.get("/api/v1/lines/9999/registration").await.status, 404);
    // Wrong type: 400 naming the field.
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": 5, "extension": "104"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("last_name")),
        "{}",
        r.text
    );
    let r = api.get("/api/v1/employees/999").await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (404, Some("not_found"))
    );

    // Every validation rule family → 422 with field and rule.
    let emp =
        |ext: &str, phones: Value| json!({"last_name": "Test", "extension": ext, "phones": phones});
    let cases: Vec<(Value, &str, &str)> = vec![
        (emp("188", json!([])), "extension", "extension.no_88"),
        (
            emp("1234", json!([])),
            "extension",
            "extension.fixed_length",
        ),
        (emp("12a", json!([])), "extension", "extension.digits"),
        (emp("012", json!([])), "extension", "extension.no_leading_0"),
        (emp("200", json!([])), "extension", "extension.unique"),
        (emp("101", json!([])), "extension", "extension.unique"),
        (
            emp(
                "104",
                json!([{"kind": "external", "number": "+79161234567"}]),
            ),
            "phones[0].number",
            "international.no_plus",
        ),
        (
            emp("104", json!([{"kind": "external", "number": "12345"}])),
            "phones[0].number",
            "international.length",
        ),
        (
            emp(
                "104",
                json!([{"kind": "external", "number": "79161234567", "lines": 3}]),
            ),
            "phones[0].lines",
            "lines.mobile_max_2",
        ),
        (
            emp(
                "104",
                json!([{"kind": "sip_uri", "uri": "user1@pbx.example.com"}]),
            ),
            "phones[0].uri",
            "sip_uri.user_word",
        ),
        (
            emp(
                "104",
                json!([{"kind": "sip_uri", "uri": "a_b@pbx.example.com:5060"}]),
            ),
            "phones[0].uri",
            "sip_uri.underscore",
        ),
        (
            json!({"last_name": "", "extension": "104"}),
            "last_name",
            "name.required",
        ),
    ];
    for (body, field, rule) in cases {
        let r = api.post("/api/v1/employees", body).await;
        assert_invalid(&r, field, rule);
    }
    // Extensions are unique across employees and groups, from the group side too.
    let r = api
        .post(
            "/api/v1/groups",
            json!({"name": "Support", "extension": "102"}),
        )
        .await;
    assert_invalid(&r, "extension", "extension.unique");
    // Percents must sum to 100.
    let r = api
        .put(
            "/api/v1/groups/1",
            json!({"name": "Sales", "extension": "200", "members": [1, 2],
            "percent_distribution": true, "percents": {"1": 50, "2": 40}}),
        )
        .await;
    assert_invalid(&r, "percents", "percent.sum_100");
    // Schedule intervals.
    let weekly =
        |ivs: Value| json!({"name": "Office", "days": {"kind": "weekly", "week": {"mon": ivs}}});
    let r = api
        .post(
            "/api/v1/schedules",
            weekly(json!([{"start": "18:00", "end": "09:00"}])),
        )
        .await;
    assert_invalid(&r, "mon", "interval.order");
    let r = api
        .post(
            "/api/v1/schedules",
            weekly(json!([{"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "18:00"}])),
        )
        .await;
    assert_invalid(&r, "mon", "interval.overlap");
    let r = api
        .post(
            "/api/v1/schedules",
            weekly(json!([{"start": "25:00", "end": "26:00"}])),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "a malformed time is a 400 naming the field: {}",
        r.text
    );
    assert!(
        r.json["field"].as_str().unwrap().contains("days"),
        "{}",
        r.text
    );
    // Box settings: no fixed length → 6 digits break max_5; mobile-line mode is refused while
    // extensions are not 2XXX.
    let r = api
        .put(
            "/api/v1/settings",
            json!({"company": "Demo Company", "time_zone": "Europe/Moscow",
        "settings": {"extension_length": null, "mobile_line_mode": false}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .post("/api/v1/employees", emp("123456", json!([])))
        .await;
    assert_invalid(&r, "extension", "extension.max_5");
    let r = api
        .put(
            "/api/v1/settings",
            json!({"company": "Demo Company", "time_zone": "Europe/Moscow",
        "settings": {"extension_length": null, "mobile_line_mode": true}}),
        )
        .await;
    assert_invalid(&r, "extension", "extension.mobile_line");
    let r = api
        .put(
            "/api/v1/settings",
            json!({"company": "Demo Company", "time_zone": "Mars/Olympus",
        "settings": {"extension_length": 3, "mobile_line_mode": false}}),
        )
        .await;
    assert_invalid(&r, "time_zone", "settings.time_zone");
    let r = api.get("/api/v1/settings").await;
    assert_eq!(r.json["settings"]["extension_length"], Value::Null);
    // Nothing invalid was stored.
    let r = api.get("/api/v1/employees").await;
    assert_eq!(r.json["total"], 3);
    sw.stop().await;
}

#[actix_rt::test]
async fn in_use_conflicts_name_every_user() {
    let (mut sw, api) = api(None).await;
    // A schedule used by a rule and a group.
    let r = api
        .post(
            "/api/v1/schedules",
            json!({"name": "Always", "days": {"kind": "always"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sch = r.json["id"].as_u64().unwrap();
    let mut rule = api.get("/api/v1/numbers/74951234567/rules/1").await.json;
    rule["schedule"] = json!(sch);
    let r = api.put("/api/v1/numbers/74951234567/rules/1", rule).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut group = api.get("/api/v1/groups/1").await.json;
    group["schedule"] = json!(sch);
    assert_eq!(api.put("/api/v1/groups/1", group).await.status, 200);
    let r = api.delete(&format!("/api/v1/schedules/{sch}")).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (409, Some("in_use")),
        "{}",
        r.text
    );
    let users = r.json["used_by"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{}", r.text);
    assert!(users
        .iter()
        .any(|u| u["kind"] == "rule" && u["number"] == "74951234567" && u["rule"] == 1));
    assert!(users
        .iter()
        .any(|u| u["kind"] == "group" && u["group"] == 1));
    // A scenario used by a rule; an employee used by a group.
    let r = api.delete("/api/v1/scenarios/1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json["used_by"][0]["kind"], "rule");
    let r = api.delete("/api/v1/employees/1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json["used_by"][0]["kind"], "group");
    assert!(
        r.json["message"].as_str().unwrap().contains("Sales"),
        "{}",
        r.text
    );
    // A file played by a scenario.
    let r = api.delete("/api/v1/files/1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json["used_by"][0]["kind"], "scenario_operation");
    // Free the scenario, then it deletes.
    let r = api.delete("/api/v1/numbers/74950000002").await;
    assert_eq!(r.status, 204);
    assert_eq!(api.delete("/api/v1/scenarios/4").await.status, 204);
    assert_eq!(api.get("/api/v1/scenarios/4").await.status, 404);
    // Creating twice: 409 exists.
    let r = api
        .post("/api/v1/tags", json!({"id": 1, "name": "a"}))
        .await;
    assert_eq!(r.status, 201);
    let r = api
        .post("/api/v1/tags", json!({"id": 1, "name": "b"}))
        .await;
    assert_eq!((r.status, r.json["error"].as_str()), (409, Some("exists")));
    // A scenario whose exit leads nowhere: 422 scenario.graph.
    let r = api.post("/api/v1/scenarios", json!({"name": "Broken", "start": "a",
        "operations": {"a": {"action": {"kind": "pause", "ms": 10}, "exits": {"next": "missing"}}}})).await;
    assert_invalid(&r, "operations.a.exits.next", "scenario.graph");
    sw.stop().await;
}

#[actix_rt::test]
async fn rules_groups_and_every_other_entity_round_trip() {
    let (mut sw, api) = api(None).await;
    let n = "/api/v1/numbers/74951234567/rules";
    // Add at the top, then reorder back; a wrong permutation is refused.
    let r = api.post(&format!("{n}?position=0"), json!({"name": "From St Petersburg", "callers": {"kind": "numbers", "masks": ["7812*"]}, "scenario": 2})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_id = r.json["id"].as_u64().unwrap();
    assert_eq!(new_id, 5, "rule ids are unique across numbers");
    let ids = |v: &Value| -> Vec<u64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&api.get(n).await.json), vec![5, 1]);
    let r = api
        .post(&format!("{n}/reorder"), json!({"order": [1, 5]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r.json), vec![1, 5]);
    let r = api
        .post(&format!("{n}/reorder"), json!({"order": [1]}))
        .await;
    assert_invalid(&r, "order", "rules.permutation");
    let r = api.post(n, json!({"name": "bad", "scenario": 99})).await;
    assert_invalid(&r, "scenario", "ref.scenario");
    let r = api
        .post(
            n,
            json!({"name": "bad", "callers": {"kind": "numbers", "masks": ["78a"]}, "scenario": 1}),
        )
        .await;
    assert_invalid(&r, "masks", "mask.format");
    assert_eq!(api.delete(&format!("{n}/{new_id}")).await.status, 204);
    assert_eq!(api.delete(&format!("{n}/{new_id}")).await.status, 404);
    let r = api
        .post("/api/v1/numbers", json!({"number": "+7495"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Groups: equalize percents, scenarios using a group.
    let r = api
        .send(api.req("POST", "/api/v1/groups/1/equalize-percents"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["percents"], json!({"1": 50, "2": 50}));
    assert_eq!(
        api.get("/api/v1/groups/1").await.json["percents"],
        json!({"1": 50, "2": 50})
    );
    let r = api.get("/api/v1/groups/1/scenarios").await;
    assert_eq!((r.status, r.json["items"].clone()), (200, json!([])));
    assert_eq!(api.get("/api/v1/groups/7/scenarios").await.status, 404);

    // Every other entity: create, read, list, replace, delete.
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        (
            "contact-groups",
            json!({"name": "VIP"}),
            "name",
            json!("Key clients"),
        ),
        (
            "tags",
            json!({"name": "wholesale"}),
            "name",
            json!("complained"),
        ),
        (
            "segments",
            json!({"name": "Russia", "regions": ["RU"]}),
            "regions",
            json!(["RU-MOW", "GB"]),
        ),
        (
            "contacts",
            json!({"last_name": "Smirnov", "phones": ["79161234567"]}),
            "organisation",
            json!("Acme"),
        ),
        (
            "number-lists",
            json!({"name": "Partners", "entries": ["7812*"]}),
            "entries",
            json!(["7812*", "7495???????"]),
        ),
        (
            "schedules",
            json!({"name": "Nights", "days": {"kind": "weekly", "week": {"mon": [{"start": "18:00", "end": "24:00"}]}}}),
            "use_production_calendar",
            json!(true),
        ),
        (
            "calendars",
            json!({"year": 2026, "holidays": ["2026-01-01"]}),
            "working_days",
            json!(["2026-01-10"]),
        ),
        (
            "files",
            json!({"name": "Hold music", "path": "prompts/hold.wav"}),
            "kind",
            json!("sound"),
        ),
        (
            "talk-options",
            json!({"keys": "*1", "action": {"kind": "transfer"}}),
            "keys",
            json!("*2"),
        ),
        (
            "scenarios",
            json!({"name": "Bye", "start": "bye", "operations": {"bye": {"action": {"kind": "hang_up"}}}}),
            "record",
            json!(true),
        ),
    ];
    for (path, body, field, value) in cases {
        let r = api.post(&format!("/api/v1/{path}"), body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        let id = if path == "calendars" {
            r.json["year"].to_string()
        } else {
            r.json["id"].to_string()
        };
        let url = format!("/api/v1/{path}/{id}");
        let got = api.get(&url).await;
        assert_eq!(got.json, r.json, "{path}");
        let list = api.get(&format!("/api/v1/{path}")).await;
        assert!(
            list.json["items"].as_array().unwrap().contains(&r.json),
            "{path}"
        );
        let mut changed = r.json.clone();
        changed[field] = value.clone();
        let put = api.put(&url, changed.clone()).await;
        assert_eq!(
            (put.status, put.json.clone()),
            (200, changed.clone()),
            "{path}: {}",
            put.text
        );
        assert_eq!(api.get(&url).await.json[field], value, "{path}");
        assert_eq!(api.delete(&url).await.status, 204, "{path}");
        assert_eq!(api.get(&url).await.status, 404, "{path}");
    }
    // Filters: contacts by contact group, files by kind, lists by kind.
    let g = api
        .post("/api/v1/contact-groups", json!({"name": "VIP"}))
        .await
        .json["id"]
        .clone();
    api.post(
        "/api/v1/contacts",
        json!({"last_name": "A", "phones": ["79160000001"], "groups": [g]}),
    )
    .await;
    api.post(
        "/api/v1/contacts",
        json!({"last_name": "B", "phones": ["79160000002"]}),
    )
    .await;
    let r = api
        .get(&format!("/api/v1/contacts?contact_group={g}"))
        .await;
    assert_eq!(
        (
            r.json["total"].as_u64(),
            r.json["items"][0]["last_name"].as_str()
        ),
        (Some(1), Some("A"))
    );
    let r = api.get("/api/v1/contacts?q=7916000000").await;
    assert_eq!(r.json["total"], 2);
    let r = api.get("/api/v1/files?kind=system").await;
    assert_eq!(r.json["total"], 1);
    // The blacklist: created on first block, entries added and removed.
    assert_eq!(api.get("/api/v1/blacklist").await.status, 404);
    let r = api
        .post("/api/v1/blacklist/entries", json!({"number": "7916*"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["blacklist"].as_bool(), r.json["kind"].as_str()),
        (Some(true), Some("black"))
    );
    let r = api
        .post("/api/v1/blacklist/entries", json!({"number": "7a"}))
        .await;
    assert_invalid(&r, "number", "mask.format");
    let r = api.get("/api/v1/number-lists?kind=black").await;
    assert_eq!(r.json["items"][0]["entries"], json!(["7916*"]));
    assert_eq!(
        api.delete("/api/v1/blacklist/entries/7916*").await.status,
        200
    );
    assert_eq!(
        api.get("/api/v1/blacklist").await.json["entries"],
        json!([])
    );
    // History.
    let r = api.get("/api/v1/calls/recent?limit=5").await;
    assert_eq!((r.status, r.json["items"].is_array()), (200, true));
    let r = api.get("/api/v1/recordings").await;
    assert_eq!((r.status, r.json["items"].is_array()), (200, true));
    sw.stop().await;
}

/// Findings: traversal and absolute prompt paths were accepted; an id near 2^64 made every
/// later create of its kind fail with 409.
#[actix_rt::test]
async fn file_paths_stay_in_the_data_directory_and_ids_in_range() {
    let (mut sw, api) = api(None).await;
    for path in [
        "../../etc/passwd",
        "prompts/../../../etc/shadow",
        "/etc/passwd",
        "/usr/share/sounds/alsa/Front_Center.wav",
        "~/x.wav",
        "prompts\\..\\..\\x.wav",
    ] {
        let r = api
            .post("/api/v1/files", json!({"name": "evil", "path": path}))
            .await;
        assert_invalid(&r, "path", "file.path");
        let r = api
            .put(
                "/api/v1/files/1",
                json!({"id": 1, "name": "evil", "path": path}),
            )
            .await;
        assert_invalid(&r, "path", "file.path");
    }
    let r = api
        .post(
            "/api/v1/files",
            json!({"name": "fine", "path": "prompts/fine.wav"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = api
        .post(
            "/api/v1/tags",
            json!({"id": 18446744073709551615u64, "name": "huge"}),
        )
        .await;
    assert_invalid(&r, "id", "id.range");
    for name in ["after-1", "after-2"] {
        let r = api.post("/api/v1/tags", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    sw.stop().await;
}

/// `POST /numbers` with inline rules without `id`, as docs/api.md shows: the box assigns them.
#[actix_rt::test]
async fn inline_rules_get_ids() {
    let (mut sw, api) = api(None).await;
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": "74957770000", "rules": [
                {"name": "day", "scenario": 1},
                {"name": "night", "scenario": 1}
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ids: Vec<u64> = r.json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| *id > 0) && ids[0] != ids[1], "{ids:?}");
    // Replacing the number keeps given ids and fills the missing one.
    let r = api
        .put(
            "/api/v1/numbers/74957770000",
            json!({"number": "74957770000", "rules": [
                {"id": ids[0], "name": "day", "scenario": 1},
                {"name": "weekend", "scenario": 1}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["rules"][0]["id"].as_u64(), Some(ids[0]));
    let third = r.json["rules"][1]["id"].as_u64().unwrap();
    assert!(third > 0 && third != ids[0], "{}", r.text);
    sw.stop().await;
}

/// A 422 whose errors are exactly `want` (field, rule), with each message containing the
/// given text: the posted entity's own field names, no document paths.
fn assert_errors(r: &Resp, want: &[(&str, &str, &str)]) {
    assert_eq!(r.status, 422, "{}", r.text);
    let got: Vec<(String, String, String)> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["rule"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len(), want.len(), "{}", r.text);
    for (field, rule, text) in want {
        assert!(
            got.iter()
                .any(|(f, r, m)| f == field && r == rule && m.contains(text)),
            "no {rule} at exactly {field} with '{text}' in {got:?}"
        );
    }
}

#[actix_rt::test]
async fn errors_name_the_posted_entitys_own_fields_and_the_holder_of_a_clash() {
    let (mut sw, api) = api(None).await;
    // The demo: Anna Petrova (1, extension 101, SIP line 101), Boris Ivanov (2, 102), group
    // Sales (1, 200).
    let emp = |ext: &str| json!({"first_name": "Vera", "last_name": "Orlova", "extension": ext});

    // Own fields, not `employees[2].extension`.
    let r = api.post("/api/v1/employees", emp("188")).await;
    assert_errors(&r, &[("extension", "extension.no_88", "88")]);
    let mut bad_phone = emp("104");
    bad_phone["phones"] = json!([{"kind": "external", "number": "12345"}]);
    let r = api.post("/api/v1/employees", bad_phone).await;
    assert_errors(&r, &[("phones[0].number", "international.length", "")]);
    let r = api
        .put(
            "/api/v1/employees/2",
            json!({"last_name": "", "extension": "102"}),
        )
        .await;
    assert_errors(&r, &[("last_name", "name.required", "")]);

    // A clash with a group is reported on the posted field, naming the group (POST and PUT;
    // the group comes after every employee in the document, so the store first saw it there).
    let r = api.post("/api/v1/employees", emp("200")).await;
    assert_errors(
        &r,
        &[(
            "extension",
            "extension.unique",
            "extension 200 is already used by group Sales (id 1)",
        )],
    );
    let r = api.put("/api/v1/employees/2", emp("200")).await;
    assert_errors(
        &r,
        &[(
            "extension",
            "extension.unique",
            "extension 200 is already used by group Sales (id 1)",
        )],
    );
    // An employee taking a later employee's extension: named too.
    let r = api.put("/api/v1/employees/1", emp("102")).await;
    assert_errors(
        &r,
        &[(
            "extension",
            "extension.unique",
            "already used by employee Boris Ivanov (id 2)",
        )],
    );
    // A SIP login another employee's line has.
    let mut login = emp("104");
    login["phones"] = json!([{"kind": "sip_line", "login": "101", "password": "secret-secret"}]);
    let r = api.post("/api/v1/employees", login).await;
    assert_errors(
        &r,
        &[(
            "phones[0].login",
            "login.unique",
            "already used by a SIP line of employee Anna Petrova (id 1)",
        )],
    );

    // A group clashing with an employee, POST and PUT.
    let r = api
        .post(
            "/api/v1/groups",
            json!({"name": "Support", "extension": "101"}),
        )
        .await;
    assert_errors(
        &r,
        &[(
            "extension",
            "extension.unique",
            "extension 101 is already used by employee Anna Petrova (id 1)",
        )],
    );
    let r = api
        .put(
            "/api/v1/groups/1",
            json!({"name": "Sales", "extension": "102"}),
        )
        .await;
    assert_errors(
        &r,
        &[(
            "extension",
            "extension.unique",
            "extension 102 is already used by employee Boris Ivanov (id 2)",
        )],
    );

    // Every other kind goes through the same repository path.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/api/v1/contacts",
            json!({"last_name": "X", "phones": ["123"]}),
            "phones[0]",
            "international.length",
        ),
        (
            "/api/v1/tags",
            json!({"name": " "}),
            "name",
            "name.required",
        ),
        (
            "/api/v1/contact-groups",
            json!({"name": ""}),
            "name",
            "name.required",
        ),
        (
            "/api/v1/number-lists",
            json!({"name": "L", "kind": "white", "entries": ["7a"]}),
            "entries[0]",
            "mask.format",
        ),
        (
            "/api/v1/files",
            json!({"name": "f", "kind": "sound", "path": "../x.wav"}),
            "path",
            "file.path",
        ),
        (
            "/api/v1/numbers",
            json!({"number": "74950000099", "rules": [{"name": "r", "scenario": 99}]}),
            "rules[0].scenario",
            "ref.scenario",
        ),
        (
            "/api/v1/numbers/74951234567/rules",
            json!({"name": "r", "scenario": 99}),
            "scenario",
            "ref.scenario",
        ),
        (
            "/api/v1/blacklist/entries",
            json!({"number": "7a"}),
            "number",
            "mask.format",
        ),
    ];
    for (path, body, field, rule) in cases {
        let r = api.post(path, body).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
        let fields: Vec<&str> = r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["rule"] == rule)
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert_eq!(fields, vec![field], "{path}: {}", r.text);
    }
    sw.stop().await;
}
