//! A call actor that fails ends only its own call: its leg gets a BYE, its resources are
//! released, a CDR says it failed — and a concurrent call on the same arbiter goes on echoing.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;
use vpbx_actors::call_supervisor::{InjectCallFault, ListCalls};
use vpbx_store::model::{CallResult, HangupSide};

async fn echo_round(
    phone_rtp: &tokio::net::UdpSocket,
    to: std::net::SocketAddr,
    seq0: u16,
) -> usize {
    for i in 0..10u16 {
        let p = rtp_packet(seq0 + i, u32::from(seq0 + i) * 160, 0xABCD, &[0x55; 160]);
        phone_rtp.send_to(&p, to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    collect_rtp(
        phone_rtp,
        Duration::from_millis(500),
        Duration::from_secs(3),
    )
    .await
    .iter()
    .filter(|p| p.len() == 172 && p[12..].iter().all(|b| *b == 0x55))
    .count()
}

#[actix_rt::test]
async fn a_failing_call_does_not_disturb_another() {
    // One call arbiter: both calls share it, the harder case for isolation.
    let mut sw = TestSwitch::start_full(None, Some(1)).await;
    let rtp_a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut a = Phone::new(sw.sip).await;
    let mut b = Phone::new(sw.sip).await;
    let ok_a = a
        .call("74950000001", rtp_a.local_addr().unwrap().port())
        .await;
    let ok_b = b
        .call("74950000001", rtp_b.local_addr().unwrap().port())
        .await;
    let media_a = ok_a.sdp_media_addr().unwrap();
    let media_b = ok_b.sdp_media_addr().unwrap();

    // Both echo.
    assert!(echo_round(&rtp_a, media_a, 1).await >= 8);
    assert!(echo_round(&rtp_b, media_b, 1).await >= 8);
    let ports_before = sw.running().media.ports_in_use();
    assert_eq!(ports_before, 2);

    // Inject a panic into call A's actor.
    let calls = sw.running().registry.children().unwrap().calls;
    let list = calls.send(ListCalls).await.unwrap();
    assert_eq!(list.len(), 2);
    let (id_a, _) = list
        .iter()
        .find(|(_, sip)| *sip == a.call_id)
        .unwrap()
        .clone();
    assert!(calls.send(InjectCallFault(id_a)).await.unwrap());

    // A gets a BYE from the switch.
    let bye = a.recv(5).await.expect("BYE for the failed call");
    assert_eq!(bye.method(), Some("BYE"), "{}", bye.start);
    assert!(bye.header("Reason").is_some());
    a.ok_to(&bye).await;

    // B is untouched: still echoing, still listed.
    assert!(echo_round(&rtp_b, media_b, 100).await >= 8);
    let list = calls.send(ListCalls).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].1, b.call_id);
    // A's RTP port went back to the pool.
    let media = sw.running().media.clone();
    assert!(eventually(5, || media.ports_in_use() == 1).await);

    // B ends normally.
    b.bye().await;
    let ok = b.recv_final(5).await.unwrap();
    assert_eq!(ok.status(), Some(200));

    let store = sw.running().store.clone();
    let mut cdrs = Vec::new();
    for _ in 0..100 {
        cdrs = store.recent_cdrs(10).unwrap();
        if cdrs.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let result_of = |sip: &str| cdrs.iter().find(|c| c.sip_call_id == sip).map(|c| c.result);
    assert_eq!(result_of(&a.call_id), Some(CallResult::Failed));
    assert_eq!(result_of(&b.call_id), Some(CallResult::Answered));
    let hangup_of = |sip: &str| cdrs.iter().find(|c| c.sip_call_id == sip).map(|c| c.hangup);
    assert_eq!(hangup_of(&b.call_id), Some(HangupSide::Caller));
    let stats = sw.running().stats.clone();
    assert!(eventually(5, || stats.active_calls() == 0).await);
    sw.stop().await;
}
