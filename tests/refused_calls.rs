//! Calls the switch refuses after looking them up are still calls: a number no rule matches
//! (480), a phone dialling an unknown extension (404) or an external number no trunk serves
//! (403) each leave a call record with the reason in `GET /api/v1/calls/recent`, and `/metrics`
//! counts them by result. Authentication challenges are not calls and leave no record.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::Value;

/// Number 74951112299 takes only Moscow callers; the test phone calls as 79161234567.
fn company() -> String {
    demo_company_with(
        "",
        "  - number: \"74951112299\"\n    rules:\n      - { id: 90, name: Moscow callers only, callers: { kind: numbers, masks: [\"7495*\"] }, scenario: 3 }\n",
        "",
    )
}

/// The value of `vpbx_calls_finished_total{result="<result>"}` in a `/metrics` page.
fn finished(metrics: &str, result: &str) -> u64 {
    let series = format!("vpbx_calls_finished_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

#[actix_rt::test]
async fn refused_calls_leave_a_record_with_their_reason_and_are_counted() {
    let (mut sw, api) = api(Some(&company())).await;
    let (_, before) = sw.get("/metrics").await;

    // A number whose only rule does not take this caller: 480 with the rule that was skipped.
    let mut phone = Phone::new(sw.sip).await;
    phone.invite("74951112299", &Phone::sdp(40600, &[0])).await;
    let m = phone.recv_final(5).await.unwrap();
    phone.ack(false).await;
    assert_eq!(m.status(), Some(480), "{}", m.start);
    assert!(m
        .header("Warning")
        .unwrap_or("")
        .contains("Moscow callers only"));

    // A line dials an extension that does not exist (after its 407 challenge), then an
    // external number: the demo company has no trunk.
    let mut line = LinePhone::new(sw.sip, "102", P102).await;
    let m = line.dial("999", 40602).await;
    assert_eq!(m.status(), Some(404), "{}", m.start);
    let m = line.dial("79160000001", 40604).await;
    assert_eq!(m.status(), Some(403), "{}", m.start);
    assert!(m.header("Warning").unwrap_or("").contains("no trunk"));

    // Three records; the two challenges of the line's dials left none.
    let mut items: Vec<Value> = Vec::new();
    for _ in 0..500 {
        let r = api.get("/api/v1/calls/recent?limit=10").await;
        items = r.json["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(items.len(), 3, "{items:#?}");
    let by_numb = |numb: &str| -> &Value {
        items
            .iter()
            .find(|c| c["numb"] == numb)
            .unwrap_or_else(|| panic!("no record for {numb}: {items:#?}"))
    };
    let unmatched = by_numb("74951112299");
    assert_eq!(unmatched["result"], "refused");
    assert_eq!(unmatched["hangup"], "switch");
    assert_eq!(unmatched["numa"], "79161234567");
    assert!(unmatched["reason"]
        .as_str()
        .unwrap()
        .contains("no rule matched"));
    // The call detail: the rule passed over with why, then the refusal with its status.
    let events = unmatched["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(
        events[0]["what"]["rule_skipped"]["name"],
        "Moscow callers only"
    );
    assert_eq!(events[1]["what"]["refused"]["code"], 480);
    let unknown = by_numb("999");
    assert_eq!(unknown["result"], "refused");
    assert_eq!(unknown["numa"], "102");
    assert_eq!(unknown["reason"], "unknown extension or number");
    let no_trunk = by_numb("79160000001");
    assert_eq!(no_trunk["numa"], "102");
    assert_eq!(no_trunk["reason"], "no trunk serves this number");
    assert_eq!(no_trunk["events"][0]["what"]["refused"]["code"], 403);

    let (_, after) = sw.get("/metrics").await;
    assert_eq!(
        finished(&after, "refused") - finished(&before, "refused"),
        3,
        "{after}"
    );
    assert_eq!(sw.running().stats.active_calls(), 0);
    sw.stop().await;
}
