//! A call whose peer stops sending RTP ends after the inactivity timeout with the reason
//! "media timeout": the switch sends a BYE and the CDR says why. The call detail carries the
//! session's RTP counters.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use vpbx_store::model::{CallResult, Event};

#[actix_rt::test]
async fn silent_peer_is_hung_up_with_media_timeout() {
    let mut sw = TestSwitch::start_tuned(None, None, 2).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut phone = Phone::new(sw.sip).await;
    let ok = phone
        .call("74950000001", rtp.local_addr().unwrap().port())
        .await;
    let media = ok.sdp_media_addr().unwrap();
    // Three packets, then silence.
    for i in 0..3u16 {
        rtp.send_to(&rtp_packet(i, u32::from(i) * 160, 9, &[0xFF; 160]), media)
            .await
            .unwrap();
    }
    let bye = phone.recv(10).await.expect("BYE after the media timeout");
    assert_eq!(bye.method(), Some("BYE"));
    assert!(
        bye.header("Reason").unwrap_or("").contains("media timeout"),
        "{:?}",
        bye.header("Reason")
    );
    phone.ok_to(&bye).await;
    let store = sw.running().store.clone();
    assert!(
        eventually(5, || store
            .recent_cdrs(5)
            .map(|c| c.len() == 1)
            .unwrap_or(false))
        .await
    );
    let cdr = store.recent_cdrs(5).unwrap().remove(0);
    assert_eq!(cdr.result, CallResult::Failed);
    assert_eq!(cdr.reason, "media timeout");
    let rtp = cdr
        .what()
        .find_map(|e| match e {
            Event::Rtp { received, .. } => Some(*received),
            _ => None,
        })
        .unwrap();
    assert_eq!(rtp, 3, "{:?}", cdr.events);
    sw.stop().await;
}
