//! CANCEL before answer: the INVITE gets 487, the CANCEL 200, and the call ends as cancelled.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

/// A company whose only number rings for 10 s before the greeting (shared with
/// soak/interop_auth.sh).
const RINGING_COMPANY: &str = include_str!("fixtures/ringing_company.yaml");

#[actix_rt::test]
async fn cancel_before_answer_gets_487() {
    let mut sw = TestSwitch::builder().company(RINGING_COMPANY).start().await;
    let mut phone = Phone::new(sw.sip).await;
    phone.invite("74951112233", &Phone::sdp(40010, &[0])).await;
    // 100 Trying, then 180 Ringing from the ring operation.
    let mut saw_180 = false;
    for _ in 0..3 {
        match phone.recv(3).await {
            Some(m) if m.status() == Some(180) => {
                saw_180 = true;
                break;
            }
            Some(m) if m.status() == Some(100) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_180, "180 Ringing before the CANCEL");
    phone.cancel().await;
    let mut got_cancel_ok = false;
    let mut got_487 = false;
    for _ in 0..4 {
        let Some(m) = phone.recv(3).await else { break };
        let cseq = m.header("CSeq").unwrap_or("").to_string();
        match (m.status(), cseq.ends_with("CANCEL")) {
            (Some(200), true) => got_cancel_ok = true,
            (Some(487), false) => got_487 = true,
            _ => {}
        }
        if got_cancel_ok && got_487 {
            break;
        }
    }
    assert!(got_cancel_ok, "CANCEL answered 200");
    assert!(got_487, "INVITE answered 487");
    phone.ack(false).await;

    let store = sw.running().store.clone();
    let mut cdrs = Vec::new();
    for _ in 0..3000 {
        cdrs = store.recent_cdrs(10).unwrap();
        if !cdrs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cdrs[0].result, vpbx_store::model::CallResult::Abandoned);
    assert_eq!(cdrs[0].hangup, vpbx_store::model::HangupSide::Caller);
    let stats = sw.running().stats.clone();
    assert!(eventually(5, || stats.active_calls() == 0).await);
    sw.stop().await;
}
