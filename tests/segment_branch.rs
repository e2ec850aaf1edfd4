//! The segment branch on a live switch, built only through the API: contact groups, a tag, two
//! segments (VIP callers from Russia; wholesale clients) and a scenario that branches on them.
//! The test phone always calls as 79161234567, a mobile number that the shipped numbering plan
//! places in Russia (`RU`); the address book is changed between calls (each to its own virtual
//! number) to reach every exit: `no_segment` (no contact has the number), the VIP segment
//! (contact group + region; listed first, it wins over the tag the contact also has), the
//! wholesale segment (the tag alone) and `others` (a known contact in neither). The segment API
//! refuses a missing contact group or tag, an unknown region and a segment with no condition;
//! a segment a scenario uses, and a contact group or tag a segment uses, cannot be deleted.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::json;

#[actix_rt::test]
async fn the_segment_branch_takes_every_exit_on_live_calls() {
    let (mut sw, api) = api(None).await;
    let id = |r: Resp| {
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_u64().unwrap()
    };
    let vip = id(api
        .post("/api/v1/contact-groups", json!({"name": "VIP"}))
        .await);
    let key = id(api
        .post("/api/v1/contact-groups", json!({"name": "Key clients"}))
        .await);
    let wholesale = id(api.post("/api/v1/tags", json!({"name": "wholesale"})).await);

    // Refusals: a missing contact group or tag, an unknown region, no condition at all.
    let r = api
        .post(
            "/api/v1/segments",
            json!({"name": "Bad", "contact_groups": [vip, 999], "tags": [998]}),
        )
        .await;
    assert_invalid(&r, "contact_groups[1]", "ref.contact_group");
    assert_invalid(&r, "tags[0]", "ref.tag");
    let r = api
        .post(
            "/api/v1/segments",
            json!({"name": "Bad", "regions": ["RU-MOW", "RU-ZZZ"]}),
        )
        .await;
    assert_invalid(&r, "regions[1]", "segment.region");
    let r = api
        .post(
            "/api/v1/segments",
            json!({"name": "Everyone", "contact_groups": [], "tags": [], "regions": []}),
        )
        .await;
    assert_invalid(&r, "", "segment.empty");
    // The error is about the segment as a whole: the body itself, field "".
    assert_eq!(
        r.json["errors"],
        json!([{"field": "", "rule": "segment.empty",
                "message": "a segment needs at least one condition: contact_groups, tags or regions"}])
    );
    let r = api
        .post("/api/v1/segments", json!({"name": "", "regions": ["GB"]}))
        .await;
    assert_invalid(&r, "name", "name.required");
    let r = api
        .post("/api/v1/segments", json!({"name": "X", "region": ["GB"]}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(api.get("/api/v1/segments").await.json["total"], 0);

    let vip_russia = id(api
        .post(
            "/api/v1/segments",
            json!({"name": "VIP Russia", "contact_groups": [vip], "regions": ["RU"]}),
        )
        .await);
    let r = api
        .post(
            "/api/v1/segments",
            json!({"name": "Wholesale", "tags": [wholesale]}),
        )
        .await;
    assert_eq!(
        r.json,
        json!({"id": r.json["id"], "name": "Wholesale", "contact_groups": [], "tags": [wholesale], "regions": []})
    );
    let ws = id(r);

    // A scenario naming a missing segment, a reserved exit or a segment twice is refused.
    let r = api
        .post(
            "/api/v1/scenarios",
            json!({"name": "Bad", "start": "s", "operations": {
                "s": {"action": {"kind": "segment_branch", "segments": [
                    {"exit": "a", "segment": 999}, {"exit": "others", "segment": ws},
                    {"exit": "b", "segment": ws}]}}}}),
        )
        .await;
    assert_invalid(&r, "operations.s.action.segments[0].segment", "ref.segment");
    assert_invalid(
        &r,
        "operations.s.action.segments[1].exit",
        "segment_branch.exit",
    );
    assert_invalid(
        &r,
        "operations.s.action.segments[2].segment",
        "segment_branch.segment",
    );

    let scenario = id(api
        .post(
            "/api/v1/scenarios",
            json!({
                "name": "Segments",
                "start": "seg",
                "operations": {
                    "seg": {"action": {"kind": "segment_branch", "segments": [
                                {"exit": "vip", "segment": vip_russia},
                                {"exit": "wholesale", "segment": ws}]},
                            "exits": {"vip": "v", "wholesale": "w", "others": "o", "no_segment": "n"}},
                    "v": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "w": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "o": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "n": {"action": {"kind": "pause", "ms": 100}, "exits": {"next": "bye"}},
                    "bye": {"action": {"kind": "hang_up"}}
                }
            }),
        )
        .await);
    let numbers = ["74957000911", "74957000912", "74957000913", "74957000914"];
    for number in numbers {
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "rules": [{"name": "segments", "scenario": scenario}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    // No contact has the number: no_segment.
    call_until_hung_up(sw.sip, numbers[0]).await;
    let events = api.finished_call_events(numbers[0]).await;
    assert_eq!(
        exits(&events),
        ["seg->no_segment", "n->next"],
        "{events:#?}"
    );
    assert!(
        notes(&events)
            .iter()
            .any(|n| n == "seg: caller 79161234567 is no contact of the address book"),
        "{events:#?}"
    );

    // A VIP from Russia who is also wholesale: the VIP segment is listed first.
    let contact = id(api
        .post(
            "/api/v1/contacts",
            json!({"last_name": "Ivanov", "first_name": "Ivan", "phones": ["79161234567"],
                   "groups": [vip], "tags": [wholesale]}),
        )
        .await);
    call_until_hung_up(sw.sip, numbers[1]).await;
    let events = api.finished_call_events(numbers[1]).await;
    assert_eq!(exits(&events), ["seg->vip", "v->next"], "{events:#?}");
    let expected = format!(
        "seg: caller 79161234567 is contact 'Ivanov Ivan' (id {contact}), in segment \
         'VIP Russia' (id {vip_russia}) (contact group VIP, region RU)"
    );
    assert!(notes(&events).contains(&expected), "{events:#?}");

    // Only the tag left: the wholesale segment.
    let url = format!("/api/v1/contacts/{contact}");
    let r = api
        .put(
            &url,
            json!({"last_name": "Ivanov", "first_name": "Ivan", "phones": ["79161234567"],
                   "groups": [key], "tags": [wholesale]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    call_until_hung_up(sw.sip, numbers[2]).await;
    let events = api.finished_call_events(numbers[2]).await;
    assert_eq!(exits(&events), ["seg->wholesale", "w->next"], "{events:#?}");
    assert!(
        notes(&events)
            .iter()
            .any(|n| n.contains("in segment 'Wholesale'") && n.contains("(tag wholesale)")),
        "{events:#?}"
    );

    // Known, but in neither segment: others.
    let r = api
        .put(
            &url,
            json!({"last_name": "Ivanov", "first_name": "Ivan", "phones": ["79161234567"],
                   "groups": [key]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    call_until_hung_up(sw.sip, numbers[3]).await;
    let events = api.finished_call_events(numbers[3]).await;
    assert_eq!(exits(&events), ["seg->others", "o->next"], "{events:#?}");
    let expected = format!(
        "seg: caller 79161234567 is contact 'Ivanov Ivan' (id {contact}), region RU Russia, in \
         none of the listed segments"
    );
    assert!(notes(&events).contains(&expected), "{events:#?}");

    // What is used cannot be deleted: the segments (by the scenario), the contact group and the
    // tag (by the segments); each 409 names its user.
    let r = api.delete(&format!("/api/v1/segments/{vip_russia}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.json["used_by"][0]["kind"], "scenario_operation",
        "{}",
        r.text
    );
    assert!(r.text.contains("'Segments' operation seg"), "{}", r.text);
    let r = api.delete(&format!("/api/v1/contact-groups/{vip}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.json["used_by"],
        json!([{"kind": "segment", "segment": vip_russia, "name": "VIP Russia", "field": "contact_groups"}]),
        "{}",
        r.text
    );
    let r = api.delete(&format!("/api/v1/tags/{wholesale}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.text.contains(&format!("segment {ws} 'Wholesale' (tags)")),
        "{}",
        r.text
    );
    // A contact group no segment names still goes.
    let r = api.delete(&format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api.delete(&format!("/api/v1/contact-groups/{key}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    sw.stop().await;
}
