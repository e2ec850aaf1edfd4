//! The schedule and list branches on a live switch, built only through the API: a call walks
//! an always-open schedule (`in`), a never-open one (`out`), a number list that holds the caller
//! (`in_list`), one that does not (`not_in_list`) and a contact group the caller is a contact of
//! (`in_list`); the call's events (call detail API) show each exit and why. The schedules do not
//! depend on the wall clock.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::json;

#[actix_rt::test]
async fn schedule_and_list_branches_take_their_exits_on_a_live_call() {
    let (mut sw, api) = api(None).await;
    let id = |r: Resp| {
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_u64().unwrap()
    };
    let always = id(api
        .post(
            "/api/v1/schedules",
            json!({"name": "Always open", "days": {"kind": "always"}}),
        )
        .await);
    let never = id(api
        .post(
            "/api/v1/schedules",
            json!({"name": "Never open", "days": {"kind": "weekly", "week": {}}}),
        )
        .await);
    // The test phone calls as 79161234567.
    let vip = id(api
        .post(
            "/api/v1/number-lists",
            json!({"name": "VIP", "entries": ["+7916*"]}),
        )
        .await);
    let partners = id(api
        .post(
            "/api/v1/number-lists",
            json!({"name": "Partners", "entries": ["7812*"]}),
        )
        .await);
    // The caller is a contact of the group "Key clients".
    let clients = id(api
        .post("/api/v1/contact-groups", json!({"name": "Key clients"}))
        .await);
    let r = api
        .post(
            "/api/v1/contacts",
            json!({"last_name": "Ivanov", "phones": ["79161234567"], "groups": [clients]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A reference to a missing schedule or list is refused naming the field.
    let bad = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad", "start": "a", "operations": {
                "a": {"action": {"kind": "schedule_branch", "schedule": 999}, "exits": {"in": "b", "out": "b"}},
                "b": {"action": {"kind": "list_branch", "list": 999}}}}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    for what in [
        "operations.a.action.schedule",
        "ref.schedule",
        "operations.b.action.list",
        "ref.number_list",
    ] {
        assert!(bad.text.contains(what), "{what}: {}", bad.text);
    }

    // Every wrong turn ends at `wrong`; the right path ends with a pause (the call is answered
    // only there, the branches answer nothing) and a hang-up.
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({
                "name": "Branches",
                "start": "open",
                "operations": {
                    "open": {"action": {"kind": "schedule_branch", "schedule": always},
                             "exits": {"in": "closed", "out": "wrong"}},
                    "closed": {"action": {"kind": "schedule_branch", "schedule": never},
                               "exits": {"in": "wrong", "out": "vip"}},
                    "vip": {"action": {"kind": "list_branch", "list": vip},
                            "exits": {"in_list": "partners", "not_in_list": "wrong"}},
                    "partners": {"action": {"kind": "list_branch", "list": partners},
                                 "exits": {"in_list": "wrong", "not_in_list": "clients"}},
                    "clients": {"action": {"kind": "list_branch", "contact_group": clients},
                                "exits": {"in_list": "done", "not_in_list": "wrong"}},
                    "done": {"action": {"kind": "pause", "ms": 300}, "exits": {"next": "bye"}},
                    "wrong": {"action": {"kind": "pause", "ms": 300}, "exits": {"next": "bye"}},
                    "bye": {"action": {"kind": "hang_up"}}
                }
            }),
        )
        .await;
    let scenario = id(r);
    let number = "74957000881";
    let r = api
        .post(
            "/api/v1/numbers",
            json!({"number": number, "rules": [{"name": "branches", "scenario": scenario}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    call_until_hung_up(sw.sip, number).await;

    let events = api.finished_call_events(number).await;
    assert_eq!(
        exits(&events),
        [
            "open->in",
            "closed->out",
            "vip->in_list",
            "partners->not_in_list",
            "clients->in_list",
            "done->next"
        ],
        "{events:#?}"
    );
    let notes = notes(&events);
    let has = |s: &str| notes.iter().any(|n| n.contains(s));
    assert!(has("open: schedule 'Always open': inside ("), "{notes:#?}");
    assert!(
        has("closed: schedule 'Never open': outside ("),
        "{notes:#?}"
    );
    assert!(
        has("vip: caller 79161234567 is in number list 'VIP'"),
        "{notes:#?}"
    );
    assert!(
        has("partners: caller 79161234567: caller is not in number list 'Partners'"),
        "{notes:#?}"
    );
    assert!(
        has("clients: caller 79161234567 is contact 'Ivanov'"),
        "{notes:#?}"
    );
    // Neither or two lists at once are refused; a contact group in use cannot be deleted.
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Two", "start": "a", "operations": {
                "a": {"action": {"kind": "list_branch", "list": vip, "tag": 1}}}}),
        )
        .await;
    assert_invalid(&r, "operations.a.action.list", "list_branch.one_list");
    let r = api
        .delete(&format!("/api/v1/contact-groups/{clients}"))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("clients"), "{}", r.text);
    sw.stop().await;
}
