//! The personal-manager operation on a live switch (SPEC §3 op 5): a caller whose number is on an
//! address-book contact with a manager gets that employee's phone; a caller the address book does
//! not know goes on at `forward_failed`. The calls' events say who was found and which exit.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::Value;

const NUMBER: &str = "74957000330";

/// Every test caller presents this number (see `Phone`).
const CALLER: &str = "79161234567";

fn company(contact_phone: &str) -> String {
    demo_company_with(
        "  - id: 33\n    name: Personal manager\n    start: pm\n    operations:\n      pm:\n        action: { kind: personal_manager, timeout_s: 20 }\n        exits: { answered: bye, forward_failed: sorry }\n      sorry:\n        action: { kind: hang_up }\n      bye:\n        action: { kind: hang_up }\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 33\n        name: Clients\n        scenario: 33\n"),
        &format!("contacts:\n  - id: 1\n    last_name: Client\n    first_name: Ivan\n    phones: [ \"{contact_phone}\" ]\n    manager: 2\n"),
    )
}

fn exits(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["what"].get("exit_taken"))
        .map(|x| x["exit"].as_str().unwrap_or("").to_string())
        .collect()
}

#[actix_rt::test]
async fn a_known_caller_gets_their_personal_manager() {
    let (mut sw, api) = api(Some(&company(CALLER))).await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    boris.register().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut caller = Phone::new(sw.sip).await;
    let (ok, _) = tokio::join!(caller.call(NUMBER, port), async {
        let inv = boris
            .expect_request("INVITE", 10)
            .await
            .expect("the manager's phone rings");
        boris.answer(&inv, port).await;
    });
    assert_eq!(ok.status(), Some(200));
    // The manager hangs up: the scenario goes on at `answered` (it hangs up the caller).
    boris.in_dialog("BYE", "", None).await;
    caller.bye_from_switch().await;
    let events = api.finished_call_events(NUMBER).await;
    assert!(
        events.iter().any(|e| e["what"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("personal manager Boris Ivanov (102)"))),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e["what"]["talk"]["employee"] == 2));
    assert_eq!(exits(&events), vec!["answered"]);
    sw.stop().await;
}

#[actix_rt::test]
async fn an_unknown_caller_goes_on_at_forward_failed() {
    let (mut sw, api) = api(Some(&company("79990000000"))).await;
    let mut caller = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(40000, &[0, 8]);
    caller.invite(NUMBER, &sdp).await;
    let last = caller.recv_final(10).await.expect("a final answer");
    assert!(
        last.status().is_some_and(|s| s >= 400) || last.method() == Some("BYE"),
        "{}",
        last.start
    );
    let events = api.finished_call_events(NUMBER).await;
    assert_eq!(exits(&events), vec!["forward_failed"], "{events:#?}");
    assert!(events.iter().any(|e| e["what"]["note"]
        .as_str()
        .is_some_and(|n| n.contains("has no personal manager"))));
    sw.stop().await;
}
