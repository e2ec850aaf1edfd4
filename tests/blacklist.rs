//! A caller on the blacklist is refused before any rule with 403 and a reason, and the blocked
//! call still reaches the call report (a CDR with result `blocked`).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use vpbx_store::model::CallResult;

const COMPANY: &str = r#"
company: Careful Co
time_zone: Europe/Moscow
number_lists:
  - { id: 1, name: Blacklist, kind: black, blacklist: true, entries: ["7916123456?"] }
scenarios:
  - id: 1
    name: Pause
    start: p
    operations:
      p: { action: { kind: pause, ms: 100 } }
numbers:
  - number: "74951112299"
    rules: [ { id: 1, name: always, scenario: 1 } ]
"#;

#[actix_rt::test]
async fn blacklisted_callers_are_refused_and_reported() {
    let mut sw = TestSwitch::builder().company(COMPANY).start().await;
    // The test phone calls as 79161234567, which the blacklist's mask matches.
    let mut phone = Phone::new(sw.sip).await;
    phone.invite("74951112299", &Phone::sdp(40400, &[0])).await;
    let m = phone.recv_final(5).await.unwrap();
    assert_eq!(m.status(), Some(403), "{}", m.start);
    assert!(m.header("Warning").unwrap_or("").contains("blocked"));
    phone.ack(false).await;

    let store = sw.running().store.clone();
    assert!(
        eventually(5, || store
            .recent_cdrs(5)
            .map(|c| c.len() == 1)
            .unwrap_or(false))
        .await
    );
    let cdr = store.recent_cdrs(5).unwrap().remove(0);
    assert_eq!(cdr.result, CallResult::Blocked);
    assert!(cdr.reason.contains("Blacklist"), "{}", cdr.reason);
    assert_eq!(sw.running().stats.active_calls(), 0);
    sw.stop().await;
}
