//! Distribution settings through the API (SPEC §4.2, §4.3; issue #12): a group's strategy of
//! every kind and a forward operation's strategy, queue and wrap-up are stored and read back;
//! each rule is refused with 422 naming the field and the rule; unknown kinds and fields are
//! refused with 400 naming the field; an employee a strategy names cannot be deleted (409
//! naming the group or the scenario operation).
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use serde_json::{json, Value};

/// Every strategy kind with its settings as the API answers them (defaults filled in).
fn every_kind() -> Vec<(Value, Value)> {
    let same = |v: Value| (v.clone(), v);
    vec![
        same(json!({"kind": "longest_idle"})),
        same(json!({"kind": "like_support"})),
        same(json!({"kind": "like_sales"})),
        (
            json!({"kind": "by_priority", "priorities": {"1": 1, "2": 2}}),
            json!({"kind": "by_priority", "priorities": {"1": 1, "2": 2}, "attempts": 1, "attempt_s": 20}),
        ),
        same(
            json!({"kind": "by_priority", "priorities": {"2": 1}, "attempts": 3, "attempt_s": 15}),
        ),
        same(json!({"kind": "strictly_in_turn"})),
        (
            json!({"kind": "fastest_answer"}),
            json!({"kind": "fastest_answer", "start": 5, "add": 1, "every_s": 5}),
        ),
        same(json!({"kind": "fastest_answer", "start": 2, "add": 2, "every_s": 10})),
        same(json!({"kind": "percentage"})),
        same(json!({"kind": "simultaneous"})),
        same(json!({"kind": "sequential"})),
        same(json!({"kind": "even"})),
        (
            json!({"kind": "custom"}),
            json!({"kind": "custom", "simultaneous_lines": 1, "per_phone_timeout_s": null, "order": [], "attempts": 1}),
        ),
        same(
            json!({"kind": "custom", "simultaneous_lines": 2, "per_phone_timeout_s": 12, "order": [2, 1], "attempts": 2}),
        ),
    ]
}

fn group(strategy: Value) -> Value {
    json!({"name": "Support", "members": [1, 2], "strategy": strategy})
}

fn scenario(action: Value) -> Value {
    json!({"name": "Queue", "start": "fwd", "operations": {
        "fwd": {"action": action, "exits": {"no_answer": "bye", "busy": "bye"}},
        "bye": {"action": {"kind": "hang_up"}}
    }})
}

fn forward(extra: Value) -> Value {
    let mut a = json!({"kind": "forward", "targets": [{"kind": "group", "id": 1}]});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

#[track_caller]
fn assert_bad_request(r: &Resp, field: &str) {
    assert_eq!(
        (r.status, r.json["error"].as_str(), r.json["field"].as_str()),
        (400, Some("bad_request"), Some(field)),
        "{}",
        r.text
    );
}

#[actix_rt::test]
async fn groups_store_every_strategy_kind_and_refuse_broken_ones() {
    let (mut sw, api) = api(None).await;
    // Unset by default, and in the demo's group.
    let r = api.get("/api/v1/groups/1").await;
    assert_eq!(r.json["strategy"], Value::Null, "{}", r.text);

    for (sent, stored) in every_kind() {
        let r = api.post("/api/v1/groups", group(sent.clone())).await;
        assert_eq!(r.status, 201, "{sent}: {}", r.text);
        assert_eq!(r.json["strategy"], stored, "{}", r.text);
        let id = r.json["id"].as_u64().unwrap();
        let r = api.get(&format!("/api/v1/groups/{id}")).await;
        assert_eq!(r.json["strategy"], stored, "read back: {}", r.text);
        let r = api.delete(&format!("/api/v1/groups/{id}")).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    // Replacing a group changes its strategy; null removes it.
    let r = api
        .put(
            "/api/v1/groups/1",
            json!({"name": "Sales", "members": [1, 2], "strategy": {"kind": "even"}}),
        )
        .await;
    assert_eq!(
        (r.status, &r.json["strategy"]),
        (200, &json!({"kind": "even"})),
        "{}",
        r.text
    );
    let r = api
        .put(
            "/api/v1/groups/1",
            json!({"name": "Sales", "members": [1, 2], "strategy": null}),
        )
        .await;
    assert_eq!(
        (r.status, &r.json["strategy"]),
        (200, &Value::Null),
        "{}",
        r.text
    );

    // Each rule, refused with its field and rule, nothing stored.
    let rules = [
        (
            json!({"kind": "by_priority", "priorities": {"1": 0}}),
            "strategy.priorities.1",
            "strategy.priority_positive",
        ),
        (
            json!({"kind": "by_priority", "attempts": 0}),
            "strategy.attempts",
            "strategy.attempts_positive",
        ),
        (
            json!({"kind": "by_priority", "attempt_s": 0}),
            "strategy.attempt_s",
            "strategy.seconds_positive",
        ),
        (
            json!({"kind": "by_priority", "priorities": {"77": 1}}),
            "strategy.priorities.77",
            "ref.employee",
        ),
        (
            json!({"kind": "fastest_answer", "start": 0}),
            "strategy.start",
            "strategy.start_positive",
        ),
        (
            json!({"kind": "fastest_answer", "add": 0}),
            "strategy.add",
            "strategy.add_positive",
        ),
        (
            json!({"kind": "fastest_answer", "every_s": 0}),
            "strategy.every_s",
            "strategy.seconds_positive",
        ),
        (
            json!({"kind": "custom", "simultaneous_lines": 0}),
            "strategy.simultaneous_lines",
            "strategy.lines_positive",
        ),
        (
            json!({"kind": "custom", "per_phone_timeout_s": 0}),
            "strategy.per_phone_timeout_s",
            "strategy.seconds_positive",
        ),
        (
            json!({"kind": "custom", "attempts": 0}),
            "strategy.attempts",
            "strategy.attempts_positive",
        ),
        (
            json!({"kind": "custom", "order": [2, 77]}),
            "strategy.order[1]",
            "ref.employee",
        ),
    ];
    for (strategy, field, rule) in rules {
        let r = api.post("/api/v1/groups", group(strategy)).await;
        assert_invalid(&r, field, rule);
        assert_eq!(r.json["errors"][0]["field"], field, "{}", r.text);
    }
    // An employee who exists but is not in the group.
    let r = api
        .post(
            "/api/v1/groups",
            json!({"name": "Solo", "members": [1], "strategy": {"kind": "custom", "order": [2]}}),
        )
        .await;
    assert_invalid(&r, "strategy.order[0]", "strategy.not_member");

    // Unknown kinds and fields: 400 naming the field.
    let r = api
        .post("/api/v1/groups", group(json!({"kind": "round_robin"})))
        .await;
    assert_bad_request(&r, "strategy.kind");
    assert!(
        r.json["message"].as_str().unwrap().contains("round_robin"),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/api/v1/groups",
            group(json!({"kind": "by_priority", "attempt": 2})),
        )
        .await;
    assert_bad_request(&r, "strategy.attempt");
    let r = api
        .post("/api/v1/groups", group(json!({"kind": "even", "start": 1})))
        .await;
    assert_bad_request(&r, "strategy.start");
    let r = api.get("/api/v1/groups").await;
    assert_eq!(r.json["total"], 1, "nothing stored: {}", r.text);
    sw.stop().await;
}

#[actix_rt::test]
async fn forward_operations_store_strategy_queue_and_wrap_up_and_refuse_broken_ones() {
    let (mut sw, api) = api(None).await;
    let settings = json!({
        "strategy": {"kind": "by_priority", "priorities": {"1": 1, "2": 2}, "attempts": 2, "attempt_s": 15},
        "queue": {"announce": false, "callback_key": "#"},
        "wrap_up_s": 30
    });
    let r = api
        .post("/api/v1/scenarios", scenario(forward(settings.clone())))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_u64().unwrap();
    let r = api.get(&format!("/api/v1/scenarios/{id}")).await;
    let action = &r.json["operations"]["fwd"]["action"];
    for k in ["strategy", "queue", "wrap_up_s"] {
        assert_eq!(action[k], settings[k], "{k}: {}", r.text);
    }
    // Defaults: no strategy, no queue, no wrap-up; a queue without settings announces and
    // offers no callback.
    let r = api
        .post("/api/v1/scenarios", scenario(forward(json!({}))))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let action = &r.json["operations"]["fwd"]["action"];
    assert_eq!(
        (&action["strategy"], &action["queue"], &action["wrap_up_s"]),
        (&Value::Null, &Value::Null, &json!(0)),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/api/v1/scenarios",
            scenario(forward(
                json!({"queue": {}, "strategy": {"kind": "strictly_in_turn"}}),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let action = &r.json["operations"]["fwd"]["action"];
    assert_eq!(
        action["queue"],
        json!({"announce": true, "callback_key": null}),
        "{}",
        r.text
    );
    assert_eq!(
        action["strategy"],
        json!({"kind": "strictly_in_turn"}),
        "{}",
        r.text
    );
    let r = api.get("/api/v1/scenarios").await;
    let total = r.json["total"].clone();

    // Each rule: 422 naming the field inside the operation and the rule.
    let at = "operations.fwd.action.";
    let rules = [
        (
            json!({"strategy": {"kind": "by_priority", "attempts": 0}}),
            "strategy.attempts",
            "strategy.attempts_positive",
        ),
        (
            json!({"strategy": {"kind": "by_priority", "priorities": {"2": 0}}}),
            "strategy.priorities.2",
            "strategy.priority_positive",
        ),
        (
            json!({"strategy": {"kind": "by_priority", "priorities": {"77": 1}}}),
            "strategy.priorities.77",
            "ref.employee",
        ),
        (
            json!({"strategy": {"kind": "fastest_answer", "every_s": 0}}),
            "strategy.every_s",
            "strategy.seconds_positive",
        ),
        (
            json!({"strategy": {"kind": "custom", "order": [77]}}),
            "strategy.order[0]",
            "ref.employee",
        ),
        (
            json!({"strategy": {"kind": "custom", "simultaneous_lines": 0}}),
            "strategy.simultaneous_lines",
            "strategy.lines_positive",
        ),
        (
            json!({"queue": {"callback_key": "x"}}),
            "queue.callback_key",
            "queue.callback_key",
        ),
        (
            json!({"wrap_up_s": 3601}),
            "wrap_up_s",
            "forward.wrap_up_range",
        ),
    ];
    for (extra, field, rule) in rules {
        let r = api
            .post("/api/v1/scenarios", scenario(forward(extra)))
            .await;
        assert_invalid(&r, &format!("{at}{field}"), rule);
        assert_eq!(
            r.json["errors"][0]["field"],
            format!("{at}{field}"),
            "{}",
            r.text
        );
    }
    // Unknown kinds and fields, and values of the wrong shape: 400 naming the field.
    let unreadable = [
        (
            json!({"strategy": {"kind": "round_robin"}}),
            "strategy.kind",
        ),
        (
            json!({"strategy": {"kind": "fastest_answer", "begin": 1}}),
            "strategy.begin",
        ),
        (
            json!({"strategy": {"kind": "longest_idle", "attempts": 1}}),
            "strategy.attempts",
        ),
        (json!({"queue": {"callback": "#"}}), "queue.callback"),
        (json!({"wrap_up": 5}), "wrap_up"),
    ];
    for (extra, field) in unreadable {
        let r = api
            .post("/api/v1/scenarios", scenario(forward(extra)))
            .await;
        assert_bad_request(&r, &format!("{at}{field}"));
    }
    let r = api.get("/api/v1/scenarios").await;
    assert_eq!(r.json["total"], total, "nothing stored: {}", r.text);
    sw.stop().await;
}

#[actix_rt::test]
async fn an_employee_a_strategy_names_cannot_be_deleted() {
    let (mut sw, api) = api(None).await;
    let r = api
        .post(
            "/api/v1/employees",
            json!({"last_name": "Sidorov", "first_name": "Ivan", "extension": "103"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ivan = r.json["id"].as_u64().unwrap();
    let r = api
        .post(
            "/api/v1/groups",
            json!({"name": "Support", "members": [1, ivan],
                   "strategy": {"kind": "by_priority", "priorities": {ivan.to_string(): 1}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let support = r.json["id"].as_u64().unwrap();

    let r = api.delete(&format!("/api/v1/employees/{ivan}")).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (409, Some("in_use")),
        "{}",
        r.text
    );
    let users = r.json["used_by"].as_array().unwrap();
    assert!(
        users
            .iter()
            .any(|u| u["kind"] == "group" && u["group"] == support && u["field"] == "strategy"),
        "{}",
        r.text
    );
    let message = r.json["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("group {support} 'Support' (strategy)")),
        "{message}"
    );

    // Out of the membership but still in the priorities: refused at the group.
    let r = api
        .put(
            &format!("/api/v1/groups/{support}"),
            json!({"name": "Support", "members": [1],
                   "strategy": {"kind": "by_priority", "priorities": {ivan.to_string(): 1}}}),
        )
        .await;
    assert_invalid(
        &r,
        &format!("strategy.priorities.{ivan}"),
        "strategy.not_member",
    );

    // Named by a forward operation's strategy: the scenario operation is named.
    let r = api
        .put(
            &format!("/api/v1/groups/{support}"),
            json!({"name": "Support", "members": [1], "strategy": {"kind": "even"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .post(
            "/api/v1/scenarios",
            scenario(forward(
                json!({"strategy": {"kind": "custom", "order": [ivan]}}),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sc = r.json["id"].as_u64().unwrap();
    let r = api.delete(&format!("/api/v1/employees/{ivan}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.json["used_by"][0]["kind"], "scenario_operation",
        "{}",
        r.text
    );
    assert_eq!(r.json["used_by"][0]["scenario"], sc, "{}", r.text);
    assert_eq!(r.json["used_by"][0]["operation"], "fwd", "{}", r.text);

    // Once nothing names him, he goes.
    let r = api.delete(&format!("/api/v1/scenarios/{sc}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api.delete(&format!("/api/v1/employees/{ivan}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    sw.stop().await;
}
