//! Escalation on a live switch (SPEC §3 op 18): the support employee's phone rings and nobody
//! answers; when the escalation's time passes the ring is cancelled and the head of the
//! department's phone rings instead, and the caller talks to them. The call's events tell it.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;

const NUMBER: &str = "74957000340";

fn company() -> String {
    demo_company_with(
        "  - id: 34\n    name: Support with escalation\n    start: guard\n    operations:\n      guard:\n        action: { kind: escalation, after_s: 2 }\n        exits: { next: support, escalated: head }\n      support:\n        action: { kind: forward, targets: [ { kind: employee, id: 1 } ], max_wait_s: 60 }\n        exits: {}\n      head:\n        action: { kind: forward, targets: [ { kind: employee, id: 2 } ] }\n        exits: {}\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 34\n        name: Support\n        scenario: 34\n"),
        "",
    )
}

#[actix_rt::test]
async fn an_unanswered_call_escalates_to_the_head_of_the_department() {
    let (mut sw, api) = api(Some(&company())).await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    boris.register().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut caller = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(port, &[0, 8, 101]);
    caller.invite(NUMBER, &sdp).await;
    // Anna's phone rings and she does not answer (180 only).
    let inv = anna.expect_request("INVITE", 10).await.expect("Anna rings");
    anna.respond(&inv, 180, "Ringing", None, None).await;
    // The escalation cancels her ring and rings Boris, who answers.
    let inv_b = boris
        .expect_request("INVITE", 15)
        .await
        .expect("Boris rings after the escalation");
    let cancel = anna
        .expect_request("CANCEL", 10)
        .await
        .expect("Anna's ring is cancelled");
    anna.respond(&cancel, 200, "OK", None, None).await;
    anna.respond(&inv, 487, "Request Terminated", None, None)
        .await;
    boris.answer(&inv_b, port).await;
    let ok = caller
        .recv_final(10)
        .await
        .expect("the caller is connected");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.to_tag = ok.to_tag();
    caller.ack(true).await;
    caller.bye().await;
    let bye = boris.expect_request("BYE", 10).await.expect("BYE to Boris");
    boris.respond(&bye, 200, "OK", None, None).await;

    let events = api.finished_call_events(NUMBER).await;
    let exits: Vec<&str> = events
        .iter()
        .filter_map(|e| e["what"]["exit_taken"]["exit"].as_str())
        .collect();
    assert_eq!(exits, vec!["next", "escalated"], "{events:#?}");
    assert!(events.iter().any(|e| e["what"]["note"]
        .as_str()
        .is_some_and(|n| n.contains("escalated: no employee answered within 2 s"))));
    assert!(events.iter().any(|e| e["what"]["talk"]["employee"] == 2));
    sw.stop().await;
}
