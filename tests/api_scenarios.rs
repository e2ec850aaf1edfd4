//! Scenarios through the API: every operation refuses unknown fields (400 naming the field),
//! the prompt files of `forward.ringback` and `voicemail.prompt` must exist at save (422
//! `ref.file` naming the field) and cannot be deleted while a scenario plays them (409 naming
//! the scenario), and the graph is checked by the store.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use serde_json::json;

#[actix_rt::test]
async fn operations_refuse_unknown_fields_and_prompt_files_are_checked_and_counted() {
    let (mut sw, api) = api(None).await;
    let scenario =
        |ops: serde_json::Value| json!({"name": "Test", "start": "a", "operations": ops});

    // A typo in an operation's settings: 400 naming the field, nothing stored.
    let r = api
        .post(
            "/api/v1/scenarios",
            scenario(json!({"a": {"action": {"kind": "voicemail", "max_sec": 60}}})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("bad_request")),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["field"].as_str(),
        Some("operations.a.action.max_sec"),
        "{}",
        r.text
    );
    let message = r.json["message"].as_str().unwrap();
    assert!(
        message.contains("unknown field `max_sec`") && message.contains("`max_s`"),
        "{message}"
    );
    let r = api.get("/api/v1/scenarios").await;
    assert_eq!(r.json["total"], 4, "nothing stored: {}", r.text);
    // The same location for any entity's unknown field, at the top or nested.
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "T", "extension": "104", "nick": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("nick")),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "T", "extension": "104",
                   "phones": [{"kind": "sip_line", "line": 2}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (400, Some("phones[0].line")),
        "{}",
        r.text
    );

    // Missing prompt files: 422 naming each field.
    let broken = scenario(json!({
        "a": {"action": {"kind": "forward", "targets": [{"kind": "employee", "id": 1}],
                         "ringback": {"kind": "file", "id": 42}},
              "exits": {"no_answer": "vm"}},
        "vm": {"action": {"kind": "voicemail", "prompt": {"kind": "file", "id": 43}}}
    }));
    let r = api.post("/api/v1/scenarios", broken).await;
    assert_invalid(&r, "operations.a.action.ringback.id", "ref.file");
    assert_invalid(&r, "operations.vm.action.prompt.id", "ref.file");

    // A second file, used as ringback and as the voicemail prompt: saved, then in use.
    let r = api
        .post(
            "/api/v1/files",
            json!({"name": "Hold music", "path": "prompts/hold.wav"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let file = r.json["id"].as_u64().unwrap();
    let good = scenario(json!({
        "a": {"action": {"kind": "forward", "targets": [{"kind": "employee", "id": 1}],
                         "ringback": {"kind": "file", "id": file}},
              "exits": {"no_answer": "vm"}},
        "vm": {"action": {"kind": "voicemail", "max_s": 60}}
    }));
    let r = api.post("/api/v1/scenarios", good).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sc = r.json["id"].as_u64().unwrap();
    assert_eq!(r.json["operations"]["vm"]["action"]["max_s"], 60);
    let r = api.delete(&format!("/api/v1/files/{file}")).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (409, Some("in_use")),
        "{}",
        r.text
    );
    assert_eq!(r.json["used_by"][0]["kind"], "scenario_operation");
    assert_eq!(r.json["used_by"][0]["scenario"], sc);
    assert_eq!(r.json["used_by"][0]["operation"], "a");
    // Now the voicemail prompt (ringback dropped): still in use, by operation vm.
    let upd = json!({"name": "Test", "start": "a", "operations": {
        "a": {"action": {"kind": "forward", "targets": [{"kind": "employee", "id": 1}]},
              "exits": {"no_answer": "vm"}},
        "vm": {"action": {"kind": "voicemail", "prompt": {"kind": "file", "id": file}}}
    }});
    let r = api.put(&format!("/api/v1/scenarios/{sc}"), upd).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.delete(&format!("/api/v1/files/{file}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["used_by"][0]["operation"], "vm");
    assert!(
        r.json["message"].as_str().unwrap().contains("scenario"),
        "{}",
        r.text
    );
    // Free it, then the file deletes.
    let r = api.delete(&format!("/api/v1/scenarios/{sc}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api.delete(&format!("/api/v1/files/{file}")).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Graph errors name the field: a missing start, an exit the operation does not have.
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "G", "start": "nope", "operations": {
                "a": {"action": {"kind": "hang_up"}, "exits": {"next": "a"}}}}),
        )
        .await;
    assert_invalid(&r, "start", "scenario.graph");
    assert_invalid(&r, "operations.a.exits.next", "scenario.graph");
    sw.stop().await;
}
