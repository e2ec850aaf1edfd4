//! Early shedding on a live switch (D73): with room for one call in setup, a call whose
//! scenario waits on a CRM webhook before answering holds that place; the next INVITE gets
//! 503 with `Retry-After` and a reason, and nothing of it is kept. Once the first caller hangs
//! up the place is free and a new call is taken again. `/metrics` counts both.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

const NUMBER: &str = "74957000730";

fn company(crm: &str) -> String {
    demo_company_with(
        &format!("  - id: 73\n    name: Ask the CRM first\n    start: crm\n    operations:\n      crm:\n        action: {{ kind: webhook, url: \"{crm}\", method: GET, timeout_s: 30 }}\n        exits: {{}}\n"),
        &format!("  - number: \"{NUMBER}\"\n    rules:\n      - id: 73\n        name: All\n        scenario: 73\n"),
        "",
    )
}

#[actix_rt::test]
async fn past_its_bound_of_calls_in_setup_the_switch_sheds_new_calls_with_503() {
    // The CRM never answers in the test's time: the first call stays in setup.
    let crm = HttpStub::start(|_| HttpReply::ok("{}").after(Duration::from_secs(120))).await;
    let mut sw = TestSwitch::builder()
        .company(&company(&crm.url("/hold")))
        .settings(|s| s.max_calls_in_setup = 1)
        .start()
        .await;
    assert_eq!(sw.metric("vpbx_sip_overload_refusals_total").await, 0.0);
    let sdp = Phone::sdp(40_000, &[0, 8]);

    let mut first = Phone::new(sw.sip).await;
    first.invite(NUMBER, &sdp).await;
    assert!(
        eventually(20, || crm.count() == 1).await,
        "the first call asks the CRM"
    );
    assert_eq!(sw.metric("vpbx_sip_calls_in_setup").await, 1.0);

    let mut second = Phone::new(sw.sip).await;
    second.invite(NUMBER, &sdp).await;
    let shed = second
        .recv_final(10)
        .await
        .expect("an answer to the second");
    assert_eq!(shed.status(), Some(503), "{}", shed.start);
    assert_eq!(shed.header("Retry-After"), Some("2"));
    let warning = shed.header("Warning").unwrap_or_default();
    assert!(warning.contains("overloaded"), "{warning}");
    second.ack(false).await;
    assert_eq!(sw.metric("vpbx_sip_overload_refusals_total").await, 1.0);
    assert_eq!(crm.count(), 1, "a shed call runs no scenario");

    // The first caller gives up: its place is free, and the next call is taken.
    first.cancel().await;
    let mut finals = Vec::new();
    while finals.len() < 2 {
        let m = first
            .recv_final(10)
            .await
            .expect("the CANCEL's and the INVITE's answers");
        finals.push(m.status());
    }
    assert!(finals.contains(&Some(487)), "{finals:?}");
    first.ack(false).await;
    let mut third = Phone::new(sw.sip).await;
    third.invite(NUMBER, &sdp).await;
    assert!(
        eventually(20, || crm.count() == 2).await,
        "a call after the first ended is taken"
    );
    third.cancel().await;
    assert_eq!(sw.metric("vpbx_sip_overload_refusals_total").await, 1.0);
    sw.stop().await;
}
