//! The OpenAPI document: committed, current, served, and in step with the router — every
//! registered route is documented and every documented route answers (not `no_route`).
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use serde_json::Value;
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
        .replace("{address}", "192.0.2.10")
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

    // A well-formed trace time before 1970 breaks a rule (422), it is not malformed (400); the
    // largest time in milliseconds is traced, not a server error.
    let r = api
        .post(
            "/api/v1/routing/trace",
            json!({"caller": "79161234567", "number": "74951234567", "time": "1969-12-31T23:59:59Z"}),
        )
        .await;
    assert_invalid(&r, "time", "trace.time_range");
    for time in [
        json!(u64::MAX),
        json!(0),
        json!("9999-12-31T23:59:59+14:00"),
    ] {
        let r = api
            .post(
                "/api/v1/routing/trace",
                json!({"caller": "79161234567", "number": "74951234567", "time": time}),
            )
            .await;
        assert_eq!(r.status, 200, "{time}: {}", r.text);
    }

    // A tag is a name: serde would take a variant's index (`"kind": 0`) too.
    let r = api
        .post(
            "/api/v1/talk-options",
            json!({"keys": "*7", "action": {"kind": "save_caller_id", "target": {"kind": 0, "list": 1}}}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("action.target.kind")),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "K", "extension": "152", "phones": [{"kind": 1, "number": "79161234567"}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("phones[0].kind")),
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

/// Where `v` breaks `schema`, for the keywords the document uses (OpenAPI 3.0 schemas; `pattern`
/// and `format` are left to schemathesis, which runs against the live switch in CI).
fn violations(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return violations(doc, &doc["components"]["schemas"][name], v, at, out);
    }
    if v.is_null() && schema["nullable"] == true {
        return;
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let ok = branches
            .iter()
            .filter(|b| {
                let mut o = Vec::new();
                violations(doc, b, v, at, &mut o);
                o.is_empty()
            })
            .count();
        if ok != 1 {
            out.push(format!("{at}: matches {ok} branches of oneOf: {v}"));
        }
    }
    if let Some(branches) = schema["anyOf"].as_array() {
        let ok = branches.iter().any(|b| {
            let mut o = Vec::new();
            violations(doc, b, v, at, &mut o);
            o.is_empty()
        });
        if !ok {
            out.push(format!("{at}: matches no branch of anyOf: {v}"));
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(v) {
            out.push(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        Some(other) => panic!("unknown type {other}"),
    };
    if !type_ok {
        out.push(format!("{at}: {v} is not of type {}", schema["type"]));
        return;
    }
    if let Some(n) = v.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|m| n < m) {
            out.push(format!("{at}: {v} is below {}", schema["minimum"]));
        }
        if schema["maximum"].as_f64().is_some_and(|m| n > m) {
            out.push(format!("{at}: {v} is above {}", schema["maximum"]));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|m| len < m)
            || schema["maxLength"].as_u64().is_some_and(|m| len > m)
        {
            out.push(format!("{at}: length of {v} out of bounds"));
        }
    }
    if let Some(items) = v.as_array() {
        if schema["minItems"]
            .as_u64()
            .is_some_and(|m| (items.len() as u64) < m)
        {
            out.push(format!("{at}: fewer than {} items", schema["minItems"]));
        }
        for (i, item) in items.iter().enumerate() {
            violations(doc, &schema["items"], item, &format!("{at}[{i}]"), out);
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                out.push(format!("{at}: required {r} missing"));
            }
        }
        let pattern_value = schema["patternProperties"]
            .as_object()
            .and_then(|p| p.values().next());
        for (k, x) in obj {
            let sub = format!("{at}.{k}");
            if let Some(s) = schema["properties"].get(k) {
                violations(doc, s, x, &sub, out);
            } else if let Some(s) = pattern_value {
                violations(doc, s, x, &sub, out);
            } else if schema["additionalProperties"] == false {
                out.push(format!("{at}: unknown property {k}"));
            } else if schema["additionalProperties"].is_object() {
                violations(doc, &schema["additionalProperties"], x, &sub, out);
            }
        }
    }
}

#[track_caller]
fn assert_fits(doc: &Value, schema: &Value, v: &Value, what: &str) {
    let mut out = Vec::new();
    violations(doc, schema, v, "", &mut out);
    assert!(out.is_empty(), "{what} breaks its schema: {out:#?}\n{v}");
}

/// The document's own examples fit their schemas, and the API's real answers — every GET on the
/// demo, created entities, errors — fit what the document says they are.
#[actix_rt::test]
async fn answers_and_examples_fit_the_documented_schemas() {
    use serde_json::json;
    let doc: Value = serde_json::from_str(vpbx::http::openapi::DOCUMENT).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for (name, s) in schemas {
        if let Some(e) = s.get("example") {
            assert_fits(&doc, s, e, &format!("the example of {name}"));
        }
    }
    let (mut sw, api) = api(None).await;
    // Entities of every kind, so the answers carry every shape.
    let created = [
        (
            "/api/v1/employees",
            json!({"last_name": "Fit", "extension": "160", "phones": [
                {"kind": "sip_line"},
                {"kind": "external", "number": "79161234567"},
                {"kind": "sip_uri", "uri": "fit@pbx.example.com"}]}),
        ),
        ("/api/v1/tags", json!({"name": "fit"})),
        ("/api/v1/contact-groups", json!({"name": "fit"})),
        (
            "/api/v1/schedules",
            json!({"name": "fit", "days": {"kind": "weekly", "week": {"mon": [{"start": "9:00", "end": "18:00"}]}}}),
        ),
        (
            "/api/v1/calendars",
            json!({"year": 2027, "holidays": ["2027-01-01"]}),
        ),
        (
            "/api/v1/number-lists",
            json!({"name": "fit", "entries": ["7916*"]}),
        ),
        (
            "/api/v1/trunks",
            json!({"name": "fit", "host": "192.0.2.1", "auth": {"kind": "ip", "addresses": ["192.0.2.0/24"]}}),
        ),
    ];
    let mut ids = Vec::new();
    for (path, body) in created {
        let r = api.post(path, body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        let op = &doc["paths"][path]["post"];
        assert_fits(
            &doc,
            &op["responses"]["201"]["content"]["application/json"]["schema"],
            &r.json,
            &format!("POST {path}"),
        );
        ids.push((path, r.json["id"].clone()));
    }
    let employee = &ids[0].1;
    let routes: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    for path in routes {
        let Some(op) = doc["paths"][&path].get("get") else {
            continue;
        };
        let concrete = path
            .replace("{id}", &employee.to_string())
            .replace("{number}", "74951234567")
            .replace("{rule}", "1")
            .replace("{year}", "2027");
        let r = api.get(&concrete).await;
        let status = r.status.to_string();
        let mut response = op["responses"][&status].clone();
        if let Some(r) = response["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/responses/");
            response = doc["components"]["responses"][name].clone();
        }
        let content = &response["content"];
        assert!(
            content.is_object(),
            "GET {concrete}: status {status} is not documented"
        );
        if let Some(s) = content.get("application/json") {
            assert_fits(&doc, &s["schema"], &r.json, &format!("GET {concrete}"));
        }
    }
    let r = api
        .post(
            &format!("/api/v1/employees/{employee}/equalize-percents"),
            json!({}),
        )
        .await;
    let s = &doc["paths"]["/api/v1/employees/{id}/equalize-percents"]["post"]["responses"]["200"];
    assert_fits(
        &doc,
        &s["content"]["application/json"]["schema"],
        &r.json,
        "equalize",
    );
    // Errors.
    let error = json!({"$ref": "#/components/schemas/Error"});
    let r = api.get("/api/v1/employees/999999").await;
    assert_fits(&doc, &error, &r.json, "404");
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "", "extension": "0"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_fits(&doc, &error, &r.json, "422");
    let r = api.post("/api/v1/employees", json!({"nick": 1})).await;
    assert_eq!(r.status, 400);
    assert_fits(&doc, &error, &r.json, "400");
    let r = api.delete(&format!("/api/v1/tags/{}", ids[1].1)).await;
    assert_eq!(r.status, 204);
    sw.stop().await;
}

/// A group's percents in a configuration document are keyed by employee id as YAML numbers
/// (as exported) or as strings (as JSON writes every key, and as schemathesis sent them).
#[test]
fn document_percents_take_number_and_string_keys() {
    for key in ["7", "'7'", "\"7\""] {
        let yaml =
            format!("groups:\n- id: 1\n  name: g\n  members: [7]\n  percents:\n    {key}: 100\n");
        let cfg = vpbx_store::parse_document(&yaml).unwrap();
        let percents: Vec<(u64, u8)> = cfg.groups[0]
            .percents
            .iter()
            .map(|(k, v)| (k.0, *v))
            .collect();
        assert_eq!(percents, [(7, 100)], "{key}");
    }
    for key in ["'x'", "'+7'", "-7", "'99999999999999999999'"] {
        let yaml = format!("groups:\n- id: 1\n  name: g\n  percents:\n    {key}: 100\n");
        assert!(vpbx_store::parse_document(&yaml).is_err(), "{key}");
    }
}

/// The section of `docs/api.md` about scenario operation `kind`: from its heading to the next
/// heading of the same or a higher level.
fn api_md_section<'a>(md: &'a str, kind: &str) -> Option<&'a str> {
    let heading = format!("\n### `{kind}`");
    let start = md.find(&heading)? + 1;
    let rest = &md[start..];
    let end = rest[4..]
        .find("\n### ")
        .into_iter()
        .chain(rest[4..].find("\n## "))
        .min()
        .map_or(rest.len(), |e| e + 4);
    Some(&rest[..end])
}

/// The first ```json block of `text`.
fn first_json_block(text: &str) -> Option<Value> {
    let start = text.find("```json\n")? + "```json\n".len();
    let len = text[start..].find("```")?;
    serde_json::from_str(&text[start..start + len]).ok()
}

/// A scenario made of `op` (an operation: action and exits) plus a hang_up for every exit it
/// names, so the graph is whole.
fn scenario_around(name: &str, op: &Value) -> Value {
    let mut operations = serde_json::Map::new();
    operations.insert("op".into(), op.clone());
    for target in op["exits"].as_object().into_iter().flat_map(|e| e.values()) {
        operations.insert(
            target.as_str().unwrap().to_owned(),
            serde_json::json!({"action": {"kind": "hang_up"}}),
        );
    }
    serde_json::json!({"name": name, "start": "op", "operations": operations})
}

/// Every operation kind the switch accepts (the model's own list, [`Action::KINDS`]) is in the
/// OpenAPI document — one schema per kind in every shape, behind a discriminator on `kind`,
/// with its exits and an example — and has a section in docs/api.md with a table naming every
/// field and exit and a JSON example; and every one of those examples is accepted by the API
/// inside a minimal scenario (201), and read back with its kind.
#[actix_rt::test]
async fn every_operation_kind_is_documented_with_an_example_the_api_accepts() {
    use serde_json::json;
    use vpbx_store::model::Action;
    let doc: Value = serde_json::from_str(vpbx::http::openapi::DOCUMENT).unwrap();
    let md = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let schemas = &doc["components"]["schemas"];
    let action_of = |scenario: &str| {
        schemas[scenario]["properties"]["operations"]["additionalProperties"]["properties"]
            ["action"]
            .clone()
    };
    assert!(Action::KINDS.len() >= 7, "{:?}", Action::KINDS);
    let (mut sw, api) = api(None).await;
    let mut examples: Vec<(String, Value)> = Vec::new();
    for kind in Action::KINDS {
        // The document: a component per shape, reached through the discriminator.
        for scenario in ["Scenario", "ScenarioInput"] {
            let action = action_of(scenario);
            assert_eq!(
                action["discriminator"]["propertyName"], "kind",
                "{scenario}"
            );
            let target = action["discriminator"]["mapping"][*kind]
                .as_str()
                .unwrap_or_else(|| panic!("{scenario}: no mapping for operation {kind}"));
            assert!(
                action["oneOf"]
                    .as_array()
                    .unwrap()
                    .contains(&json!({"$ref": target})),
                "{scenario}: {kind} is not among the oneOf"
            );
            let name = target.trim_start_matches("#/components/schemas/");
            let s = &schemas[name];
            assert_eq!(s["properties"]["kind"]["enum"], json!([kind]), "{name}");
            assert_eq!(s["title"], json!(kind), "{name}");
            assert!(
                s["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("Exits:")),
                "{name}"
            );
            let example = s["example"].clone();
            assert_eq!(example["kind"], json!(kind), "the example of {name}");
            let exits: Vec<String> = serde_json::from_value::<Action>(example.clone())
                .unwrap()
                .exits()
                .iter()
                .map(|e| (*e).to_owned())
                .collect();
            assert_eq!(s["x-exits"], json!(exits), "{name}");
            // Every field is described; every optional one says its default.
            let required: Vec<&Value> = s["required"].as_array().unwrap().iter().collect();
            for (field, f) in s["properties"].as_object().unwrap() {
                if field != "kind" {
                    assert!(
                        f["description"].is_string(),
                        "{name}.{field} has no description"
                    );
                }
                if scenario == "ScenarioInput" && !required.contains(&&json!(field)) {
                    assert!(f.get("default").is_some(), "{name}.{field} has no default");
                }
            }
            examples.push((format!("{name} example"), json!({"action": example, "exits": exits.iter().map(|e| (e.clone(), json!(format!("after_{e}")))).collect::<serde_json::Map<_, _>>()})));
        }
        // docs/api.md: a section with a row per field and exit, and an example.
        let section = api_md_section(&md, kind)
            .unwrap_or_else(|| panic!("docs/api.md has no section \"### `{kind}`\""));
        let input = action_of("ScenarioInput")["discriminator"]["mapping"][*kind]
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/")
            .to_owned();
        for field in schemas[&input]["properties"].as_object().unwrap().keys() {
            if field != "kind" {
                assert!(
                    section.contains(&format!("| `{field}` |")),
                    "docs/api.md, operation {kind}: no row for field {field}"
                );
            }
        }
        for exit in schemas[&input]["x-exits"].as_array().unwrap() {
            let exit = exit.as_str().unwrap();
            assert!(
                section.contains(&format!("`{exit}`")),
                "docs/api.md, operation {kind}: exit {exit} is not named"
            );
        }
        let example = first_json_block(section)
            .unwrap_or_else(|| panic!("docs/api.md, operation {kind}: no ```json example"));
        assert_eq!(
            example["action"]["kind"],
            json!(kind),
            "docs/api.md example of {kind}"
        );
        examples.push((format!("docs/api.md example of {kind}"), example));
    }
    // Each example is accepted by the switch as written, and read back with its kind (the
    // schedule, the number list and the segments the branch examples name exist).
    let r = api
        .post(
            "/api/v1/schedules",
            json!({"name": "Office", "days": {"kind": "always"}}),
        )
        .await;
    assert_eq!((r.status, &r.json["id"]), (201, &json!(1)), "{}", r.text);
    let r = api
        .post(
            "/api/v1/number-lists",
            json!({"name": "VIP", "entries": ["7916*"]}),
        )
        .await;
    assert_eq!((r.status, &r.json["id"]), (201, &json!(1)), "{}", r.text);
    // The segments the segment branch examples name.
    for (path, body) in [
        ("contact-groups", json!({"name": "VIP"})),
        ("tags", json!({"name": "wholesale"})),
        (
            "segments",
            json!({"name": "VIP Moscow", "contact_groups": [1], "regions": ["RU-MOW"]}),
        ),
        ("segments", json!({"name": "Wholesale", "tags": [1]})),
    ] {
        let r = api.post(&format!("/api/v1/{path}"), body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
    }
    for (what, op) in examples {
        let r = api
            .post("/api/v1/scenarios", scenario_around(&what, &op))
            .await;
        assert_eq!(r.status, 201, "{what}: {}", r.text);
        let got = api
            .get(&format!("/api/v1/scenarios/{}", r.json["id"]))
            .await;
        assert_eq!(
            got.json["operations"]["op"]["action"]["kind"], op["action"]["kind"],
            "{what}: {}",
            got.text
        );
    }
    sw.stop().await;
}

/// The OpenAPI document is readable without a token or a session (it holds no secrets), and
/// says so (`security: []`); the rest of the API still needs one.
#[actix_rt::test]
async fn openapi_document_is_readable_without_a_token() {
    let (mut sw, api) = api(None).await;
    let r = send(
        api.app(),
        actix_web::test::TestRequest::get().uri("/api/v1/openapi.json"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.json["openapi"], "3.0.3");
    assert_eq!(
        r.json["paths"]["/api/v1/openapi.json"]["get"]["security"],
        serde_json::json!([])
    );
    let r = send(
        api.app(),
        actix_web::test::TestRequest::get().uri("/api/v1/employees"),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    sw.stop().await;
}

/// `src` and `href` values of an HTML page.
fn urls_in(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=", "href=", "spec-url=", "action=", "url("] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let quote = rest.chars().next().unwrap_or(' ');
            let value: String = if quote == '"' || quote == '\'' {
                rest[1..].chars().take_while(|c| *c != quote).collect()
            } else {
                rest.chars()
                    .take_while(|c| !c.is_whitespace() && *c != '>' && *c != ')')
                    .collect()
            };
            out.push(value);
        }
    }
    out
}

/// The browsable reference: `GET /api/docs` without a login is an HTML page that loads only
/// this switch's URLs (Redoc from the binary, the document), under a policy that allows no
/// other origin; the bundle is JavaScript, cached for long (its path names its version); both
/// keep the other security headers.
#[actix_rt::test]
async fn api_reference_page_is_served_offline_without_a_token() {
    let (mut sw, api) = api(None).await;
    let page = send(
        api.app(),
        actix_web::test::TestRequest::get().uri("/api/docs"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let h = |r: &Resp, name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        h(&page, "content-type").starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert!(
        page.text
            .contains("<redoc spec-url=\"/api/v1/openapi.json\""),
        "{}",
        page.text
    );
    let urls = urls_in(&page.text);
    assert!(urls.len() >= 2, "{urls:?}");
    for u in &urls {
        assert!(
            u.starts_with('/') && !u.starts_with("//"),
            "the page refers to a non-local URL {u}"
        );
    }
    let csp = h(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("http") && !csp.contains("unsafe-eval") && !csp.contains('*'),
        "{csp}"
    );
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert_eq!(h(&page, "x-frame-options"), "DENY");
    assert_eq!(h(&page, "x-content-type-options"), "nosniff");
    // Every script the page loads is served, as JavaScript, cacheable for long.
    let scripts: Vec<&String> = urls.iter().filter(|u| u.ends_with(".js")).collect();
    assert!(!scripts.is_empty(), "{urls:?}");
    for s in scripts {
        let r = send(api.app(), actix_web::test::TestRequest::get().uri(s)).await;
        assert_eq!(r.status, 200, "{s}");
        assert!(
            h(&r, "content-type").starts_with("text/javascript"),
            "{s}: {:?}",
            r.headers
        );
        assert!(r.text.len() > 100_000 && r.text.contains("Redoc"), "{s}");
        let cache = h(&r, "cache-control");
        assert!(
            cache.contains("max-age=31536000") && cache.contains("immutable"),
            "{cache}"
        );
        assert_eq!(h(&r, "x-content-type-options"), "nosniff");
    }
    // The document the page reads is there for it, without a login.
    let doc = send(
        api.app(),
        actix_web::test::TestRequest::get().uri("/api/v1/openapi.json"),
    )
    .await;
    assert_eq!(doc.status, 200);
    // Answers of the API keep the strict policy and no-store.
    let r = api.get("/api/v1/employees").await;
    assert_eq!(h(&r, "content-security-policy"), vpbx::http::CSP);
    assert_eq!(h(&r, "cache-control"), "no-store");
    sw.stop().await;
}
