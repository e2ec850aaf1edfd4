//! A clean shutdown sends a BYE to every live call and leaves their CDRs durable in the store.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use vpbx_store::model::{CallResult, HangupSide};

#[actix_rt::test]
async fn shutdown_hangs_up_live_calls_and_flushes() {
    let mut sw = TestSwitch::start().await;
    let mut phone = Phone::new(sw.sip).await;
    phone.call("74950000001", 40100).await;
    assert_eq!(sw.running().stats.active_calls(), 1);
    let store = sw.running().store.clone();

    let answer = async {
        let bye = phone.recv(5).await.expect("BYE on shutdown");
        assert_eq!(bye.method(), Some("BYE"));
        phone.ok_to(&bye).await;
    };
    let ((), ()) = tokio::join!(answer, sw.stop());

    // Shutdown waited for the CDR writer's flush: the CDR is already durable.
    let cdrs = store.recent_cdrs(10).unwrap();
    assert_eq!(cdrs.len(), 1);
    // The echo test had answered: what happened is an answered call; the switch hung up.
    assert_eq!(cdrs[0].result, CallResult::Answered);
    assert_eq!(cdrs[0].hangup, HangupSide::Switch);
    assert_eq!(cdrs[0].reason, "switch shutting down");
}
