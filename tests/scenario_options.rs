//! Scenario-level options on a live switch (SPEC §3): the greeting melody answers the caller and
//! plays before the start operation; `present_virtual_number` makes the employee's phone show
//! the virtual number instead of the caller's in the forward operation.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

const NUMBER: &str = "74957000360";

fn company() -> String {
    demo_company_with(
        "  - id: 37\n    name: Options\n    start: ring\n    greeting: { kind: file, id: 1 }\n    present_virtual_number: true\n    operations:\n      ring:\n        action: { kind: forward, targets: [ { kind: employee, id: 1 } ] }\n        exits: {}\n",
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 37\n        name: All\n        scenario: 37\n"),
        "",
    )
}

#[actix_rt::test]
async fn the_greeting_answers_first_and_the_employee_sees_the_virtual_number() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut caller = Phone::new(sw.sip).await;
    // The greeting answers the caller before anyone rings, and is heard.
    let ok = caller.call(NUMBER, port).await;
    assert_eq!(ok.status(), Some(200));
    let heard = count_loud(&rtp, 1500).await;
    assert!(heard >= 10, "the greeting is heard ({heard} loud packets)");
    // Then Anna rings, shown the virtual number, not the caller's.
    let inv = anna
        .expect_request("INVITE", 30)
        .await
        .expect("Anna rings after the greeting");
    let from = inv.header("From").unwrap_or("");
    assert!(from.contains(NUMBER), "{from}");
    assert!(!from.contains("79161234567"), "{from}");
    anna.respond(&inv, 486, "Busy Here", None, None).await;
    caller.bye_from_switch().await;
    sw.stop().await;
}
