//! Live changes and the routing tracer: a rule changed through the API applies to the next
//! call at once while the call in progress keeps its scenario; the tracer (same `route()` as
//! live calls) explains office hours, nights, holidays and caller filters.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::{collect_rtp, rtp_packet, Phone};
use serde_json::json;
use std::time::Duration;

#[actix_rt::test]
async fn rule_change_applies_to_the_next_call_and_spares_the_live_one() {
    let (mut sw, api) = api(None).await;

    // A live call on the echo test (74950000001, rule 2 → scenario 2).
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut live = Phone::new(sw.sip).await;
    let ok = live
        .call("74950000001", rtp.local_addr().unwrap().port())
        .await;
    let media = ok.sdp_media_addr().unwrap();

    // Through the API: the number's rule now runs the benchmark (0.5 s of silence, hang up).
    let mut rule = api.get("/api/v1/numbers/74950000001/rules/2").await.json;
    rule["scenario"] = json!(3);
    let r = api.put("/api/v1/numbers/74950000001/rules/2", rule).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Acknowledged means published: the snapshot new calls use has it already.
    let snap = sw.running().snapshots.current();
    assert_eq!(snap.number("74950000001").unwrap().rules[0].scenario.0, 3);
    let r = api
        .post(
            "/api/v1/routing/trace",
            json!({"caller": "79161234567", "number": "74950000001"}),
        )
        .await;
    assert_eq!(r.json["scenario"]["id"], 3);

    // A new call gets the new scenario: BYE after half a second.
    let mut fresh = Phone::new(sw.sip).await;
    fresh.call("74950000001", 40212).await;
    let bye = fresh
        .recv(5)
        .await
        .expect("the benchmark scenario hangs up");
    assert_eq!(bye.method(), Some("BYE"));
    fresh.ok_to(&bye).await;

    // The live call still echoes: it kept the snapshot it started with.
    for i in 0..5u16 {
        rtp.send_to(&rtp_packet(i, u32::from(i) * 160, 9, &[0x55; 160]), media)
            .await
            .unwrap();
    }
    let echoed = collect_rtp(&rtp, Duration::from_millis(300), Duration::from_secs(2)).await;
    assert_eq!(
        echoed.len(),
        5,
        "the live call is still in its echo scenario"
    );
    live.bye().await;
    assert_eq!(live.recv_final(5).await.unwrap().status(), Some(200));
    sw.stop().await;
}

#[actix_rt::test]
async fn tracer_explains_schedules_holidays_and_caller_filters() {
    let (mut sw, api) = api(None).await;

    // Office hours Mon–Fri 09:00–13:00, 14:00–18:00 with the production calendar; 2026 has
    // 4 November as a holiday and Saturday 21 November as a transferred working day.
    let day = json!([{"start": "09:00", "end": "13:00"}, {"start": "14:00", "end": "18:00"}]);
    let r = api.post("/api/v1/schedules", json!({"name": "Office hours", "use_production_calendar": true,
        "days": {"kind": "weekly", "week": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let office = r.json["id"].clone();
    let r = api
        .post(
            "/api/v1/calendars",
            json!({"year": 2026, "holidays": ["2026-11-04"], "working_days": ["2026-11-21"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let vip = api
        .post("/api/v1/contact-groups", json!({"name": "VIP"}))
        .await
        .json["id"]
        .clone();
    let r = api
        .post(
            "/api/v1/contacts",
            json!({"last_name": "Big", "phones": ["79990000001"], "groups": [vip]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Rules of 74951234567: VIP callers → echo (2); office hours → greeting (1); else → night (3).
    let number = json!({"number": "74951234567", "rules": [
        {"id": 1, "name": "VIP", "callers": {"kind": "contact_groups", "groups": [vip]}, "scenario": 2},
        {"id": 10, "name": "Office hours", "schedule": office, "scenario": 1},
        {"id": 11, "name": "Night", "scenario": 3},
    ]});
    let r = api.put("/api/v1/numbers/74951234567", number).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let trace = |caller: &str, time: serde_json::Value| {
        api.req("POST", "/api/v1/routing/trace")
            .set_json(json!({"caller": caller, "number": "74951234567", "time": time}))
    };
    // Monday 23 November 2026, 10:00 Moscow: office hours.
    let r = api
        .send(trace("79161234567", json!("2026-11-23T10:00:00+03:00")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["result"], "routed");
    assert_eq!(
        r.json["matched"],
        json!({"rule": 10, "name": "Office hours"})
    );
    assert_eq!(
        r.json["scenario"],
        json!({"id": 1, "name": "Greeting, then hang up"})
    );
    assert_eq!(
        r.json["first_operation"],
        json!({"name": "greeting", "kind": "info_message"})
    );
    assert_eq!(r.json["skipped"][0]["rule"], 1);
    assert!(
        r.json["skipped"][0]["why"]
            .as_str()
            .unwrap()
            .contains("VIP"),
        "{}",
        r.text
    );
    // The same instant in unix milliseconds and in another offset.
    let r2 = api
        .send(trace("79161234567", json!(1_795_417_200_000u64)))
        .await;
    assert_eq!(r2.json["matched"], r.json["matched"]);
    let r3 = api
        .send(trace("79161234567", json!("2026-11-23T07:00:00Z")))
        .await;
    assert_eq!(r3.json["matched"]["rule"], 10);
    // Lunch break and night: the office rule is skipped with the schedule's reason.
    for time in ["2026-11-23T13:30:00+03:00", "2026-11-23T20:00:00+03:00"] {
        let r = api.send(trace("79161234567", json!(time))).await;
        assert_eq!(r.json["matched"]["rule"], 11, "{time}: {}", r.text);
        let why = r.json["skipped"][1]["why"].as_str().unwrap();
        assert!(
            why.contains("Office hours") && why.contains("outside"),
            "{why}"
        );
        assert_eq!(r.json["first_operation"]["kind"], "pause");
    }
    // A holiday on a Wednesday at 10:00: night rule, the calendar says why.
    let r = api
        .send(trace("79161234567", json!("2026-11-04T10:00:00+03:00")))
        .await;
    assert_eq!(r.json["matched"]["rule"], 11);
    assert!(
        r.json["skipped"][1]["why"]
            .as_str()
            .unwrap()
            .contains("holiday"),
        "{}",
        r.text
    );
    // The transferred working Saturday: office hours.
    let r = api
        .send(trace("79161234567", json!("2026-11-21T10:00:00+03:00")))
        .await;
    assert_eq!(r.json["matched"]["rule"], 10, "{}", r.text);
    // An ordinary Sunday: night.
    let r = api
        .send(trace("79161234567", json!("2026-11-22T10:00:00+03:00")))
        .await;
    assert_eq!(r.json["matched"]["rule"], 11);
    // A VIP caller wins at any time.
    let r = api
        .send(trace("79990000001", json!("2026-11-22T03:00:00+03:00")))
        .await;
    assert_eq!(r.json["matched"]["rule"], 1);
    assert_eq!(r.json["skipped"], json!([]));
    // Without a catch-all: not routed, with every reason.
    let r = api.delete("/api/v1/numbers/74951234567/rules/11").await;
    assert_eq!(r.status, 204);
    let r = api
        .send(trace("79161234567", json!("2026-11-23T20:00:00+03:00")))
        .await;
    assert_eq!(r.json["result"], "not_routed", "{}", r.text);
    assert_eq!(r.json["skipped"].as_array().unwrap().len(), 2);
    assert!(r.json["reason"]
        .as_str()
        .unwrap()
        .contains("no rule matched"));
    let r = api
        .post(
            "/api/v1/routing/trace",
            json!({"caller": "1", "number": "70000000000"}),
        )
        .await;
    assert_eq!(
        (r.json["result"].as_str(), r.json["reason"].as_str()),
        (Some("not_routed"), Some("unknown number"))
    );
    // Bad times name the field.
    let r = api.send(trace("79161234567", json!("next monday"))).await;
    assert_eq!((r.status, r.json["field"].as_str()), (400, Some("time")));
    sw.stop().await;
}

#[actix_rt::test]
async fn tracer_explains_a_lines_internal_dialling() {
    let (mut sw, api) = api(None).await;
    let trace = |caller: &str, number: &str| {
        api.req("POST", "/api/v1/routing/trace")
            .set_json(json!({"caller": caller, "number": number}))
    };
    let logins = |phones: &serde_json::Value| -> Vec<String> {
        phones
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["login"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // Anna's line (login 101) dials Boris's extension: his devices ring, no trunk, no caller id.
    let r = api.send(trace("101", "102")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["result"].as_str(), r.json["kind"].as_str()),
        (Some("routed"), Some("internal")),
        "{}",
        r.text
    );
    assert_eq!(r.json["caller"]["login"], "101");
    assert_eq!(r.json["caller"]["employee"]["id"], 1);
    assert_eq!(r.json["numa"], "101");
    assert_eq!(r.json["dialled"]["kind"], "extension");
    assert_eq!(r.json["dialled"]["employee"]["name"], "Boris Ivanov");
    assert_eq!(logins(&r.json["rounds"][0]["phones"]), vec!["102"]);
    assert_eq!(r.json["rounds"][0]["timeout_s"], 20);
    assert_eq!(
        (&r.json["trunk"], &r.json["caller_id"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );

    // The group Sales (200): its members ring, but not the calling line itself.
    let r = api.send(trace("101", "200")).await;
    assert_eq!(r.json["result"], "routed", "{}", r.text);
    assert_eq!(r.json["dialled"]["kind"], "group");
    assert_eq!(r.json["dialled"]["group"]["name"], "Sales");
    assert_eq!(r.json["dialled"]["group"]["members"], json!([1, 2]));
    let rung: Vec<String> = r.json["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|round| logins(&round["phones"]))
        .collect();
    assert_eq!(rung, vec!["102"], "{}", r.text);
    assert_eq!(
        r.json["skipped"],
        json!([{"target": "Petrova (101) line 101", "why": "is the caller"}])
    );

    // The caller named by an employee's extension: that employee's first SIP line.
    let r = api
        .post(
            "/api/v1/employees",
            json!({"first_name": "Vera", "last_name": "Orlova", "extension": "104",
                   "phones": [{"kind": "sip_line", "login": "vera", "password": "vera-secret-123"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api.send(trace("104", "101")).await;
    assert_eq!(r.json["caller"]["login"], "vera", "{}", r.text);
    assert_eq!(r.json["numa"], "104");
    assert_eq!(logins(&r.json["rounds"][0]["phones"]), vec!["101"]);

    // The pickup code: recognised, and refused as the switch refuses it.
    let r = api.send(trace("101", "88")).await;
    assert_eq!(
        (
            r.json["result"].as_str(),
            r.json["dialled"]["kind"].as_str()
        ),
        (Some("not_routed"), Some("pickup")),
        "{}",
        r.text
    );
    assert_eq!(r.json["sip_code"], 501);
    assert!(r.json["reason"].as_str().unwrap().contains("pickup"));
    let r = api.send(trace("101", "88102")).await;
    assert_eq!(r.json["dialled"]["employee"]["id"], 2, "{}", r.text);

    // An unknown extension: 404 with the reason.
    let r = api.send(trace("101", "999")).await;
    assert_eq!(
        (
            r.json["result"].as_str(),
            r.json["dialled"]["kind"].as_str(),
            r.json["reason"].as_str(),
            r.json["sip_code"].as_u64()
        ),
        (
            Some("not_routed"),
            Some("unknown"),
            Some("unknown extension or number"),
            Some(404)
        ),
        "{}",
        r.text
    );

    // An external number: no trunk yet, refused (403); with a trunk for 7…, which trunk, the
    // number as the trunk sends it, and the caller id presented.
    let r = api.send(trace("101", "+79161234567")).await;
    assert_eq!(
        (
            r.json["result"].as_str(),
            r.json["reason"].as_str(),
            r.json["sip_code"].as_u64()
        ),
        (
            Some("not_routed"),
            Some("no trunk serves this number"),
            Some(403)
        ),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/api/v1/trunks",
            json!({"name": "Carrier", "host": "192.0.2.10", "prefixes": ["7"],
                   "number_format": "plus",
                   "auth": {"kind": "ip", "addresses": ["192.0.2.10"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first_number = api.get("/api/v1/numbers").await.json["items"][0]["number"].clone();
    let r = api.send(trace("101", "+79161234567")).await;
    assert_eq!(r.json["result"], "routed", "{}", r.text);
    assert_eq!(
        r.json["dialled"],
        json!({"kind": "external", "number": "79161234567"})
    );
    assert_eq!(
        r.json["trunk"],
        json!({"id": 1, "name": "Carrier", "request_user": "+79161234567"})
    );
    assert_eq!(r.json["caller_id"], first_number);
    assert_eq!(r.json["rounds"][0]["phones"][0]["kind"], "external");
    // A number the trunk does not serve.
    let r = api.send(trace("101", "12025550100")).await;
    assert_eq!(
        r.json["reason"], "no trunk serves this number",
        "{}",
        r.text
    );
    // An incoming-only line may not call out: refused, still calls colleagues.
    let mut anna = api.get("/api/v1/employees/1").await.json;
    anna["phones"][0]["outbound_allowed"] = json!(false);
    assert_eq!(api.put("/api/v1/employees/1", anna).await.status, 200);
    let r = api.send(trace("101", "79161234567")).await;
    assert_eq!(
        (r.json["reason"].as_str(), r.json["sip_code"].as_u64()),
        (
            Some("outbound calls are not allowed for this line"),
            Some(403)
        ),
        "{}",
        r.text
    );
    assert_eq!(api.send(trace("101", "102")).await.json["result"], "routed");

    // A caller that is no line, to a number that is not a virtual number: as before.
    let r = api.send(trace("79161234567", "102")).await;
    assert_eq!(
        (
            r.json["result"].as_str(),
            r.json["kind"].as_str(),
            r.json["reason"].as_str()
        ),
        (Some("not_routed"), Some("rules"), Some("unknown number")),
        "{}",
        r.text
    );
    sw.stop().await;
}
