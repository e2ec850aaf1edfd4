//! A sub-scenario on a live switch (SPEC §3): the number's scenario inserts a shared greeting
//! scenario, the call runs it and comes back at `next`; the call's events show both scenarios.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;

const NUMBER: &str = "74957000350";

fn company() -> String {
    demo_company_with(
        "  - id: 35\n    name: Shared greeting\n    start: hello\n    operations:\n      hello:\n        action: { kind: pause, ms: 300 }\n        exits: {}\n  - id: 36\n    name: Main\n    start: ins\n    operations:\n      ins:\n        action: { kind: insert_scenario, scenario: 35 }\n        exits: { next: bye }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 36\n        name: All\n        scenario: 36\n"),
        "",
    )
}

#[actix_rt::test]
async fn the_inserted_scenario_runs_and_the_call_comes_back_at_next() {
    let (mut sw, api) = api(Some(&company())).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller.call(NUMBER, rtp.local_addr().unwrap().port()).await;
    assert_eq!(ok.status(), Some(200));
    caller.bye_from_switch().await;
    let events = api.finished_call_events(NUMBER).await;
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| e["what"]["scenario_started"]["name"].as_str())
        .collect();
    assert_eq!(started, vec!["Main", "Shared greeting"], "{events:#?}");
    assert!(events.iter().any(|e| e["what"]["note"]
        .as_str()
        .is_some_and(|n| n.contains("sub-scenario 'Shared greeting' done, back in 'Main'"))));
    let ops: Vec<&str> = events
        .iter()
        .filter_map(|e| e["what"]["operation_entered"]["op"].as_str())
        .collect();
    assert_eq!(ops, vec!["ins", "hello", "bye"]);
    // The inserted scenario cannot be deleted while it is used.
    let r = api.delete("/api/v1/scenarios/35").await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("ins"), "{}", r.text);
    sw.stop().await;
}
