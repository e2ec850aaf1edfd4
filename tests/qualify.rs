//! OPTIONS qualify: a registered phone that answers OPTIONS stays reachable; one that goes
//! silent is marked unreachable (shown by the API's registration state) and calls to it are
//! refused at once instead of ringing into the void; answering again brings it back.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

#[actix_rt::test]
async fn silent_phones_become_unreachable_and_calls_skip_them() {
    let mut sw = TestSwitch::builder()
        .settings(|s| s.qualify_interval_s = 1)
        .start()
        .await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;

    // Answering the probes: still reachable after a few rounds.
    for _ in 0..3 {
        let o = anna
            .expect_request("OPTIONS", 3)
            .await
            .expect("an OPTIONS probe");
        anna.respond(&o, 200, "OK", None, None).await;
    }
    let reach = sw.running().registrar.contact_reachable(
        vpbx_store::model::SipLineId(101),
        &format!("sip:101@{}", anna.local),
    );
    assert!(reach);

    // Silent for a while: unreachable.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Drain what piled up without answering.
    while anna.recv(0).await.is_some() {}
    assert!(!sw
        .running()
        .registrar
        .line_reachable(vpbx_store::model::SipLineId(101)));

    // A call to her is refused at once (480), nothing rings.
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    let r = boris.dial("101", 40500).await;
    assert_eq!(r.status(), Some(480), "{}", r.start);

    // She answers again: reachable.
    let o = anna
        .expect_request("OPTIONS", 3)
        .await
        .expect("probes go on");
    anna.respond(&o, 200, "OK", None, None).await;
    let mut back = false;
    for _ in 0..30 {
        if sw
            .running()
            .registrar
            .line_reachable(vpbx_store::model::SipLineId(101))
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "reachable again after answering");
    sw.stop().await;
}
