//! A call to the demo number: 100 Trying, 200 OK with an SDP answer, the greeting as real RTP
//! (counted and checked header by header), then a BYE from the switch; a CDR is written.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

#[actix_rt::test]
async fn demo_number_plays_the_greeting_then_hangs_up() {
    let mut sw = TestSwitch::start().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut phone = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(rtp.local_addr().unwrap().port(), &[0, 8, 101]);
    phone.invite("74951234567", &sdp).await;

    let first = phone.recv(5).await.expect("a response");
    assert_eq!(first.status(), Some(100), "{}", first.start);
    let ok = phone.recv_final(5).await.expect("200 OK");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
    assert!(ok.body.contains("m=audio "), "{}", ok.body);
    assert!(ok.body.contains("a=rtpmap:0 PCMU/8000"), "{}", ok.body);
    assert!(ok.body.contains("telephone-event/8000"), "{}", ok.body);
    phone.to_tag = ok.to_tag();
    phone.ack(true).await;

    let packets = collect_rtp(&rtp, Duration::from_millis(1500), Duration::from_secs(10)).await;
    let headers: Vec<RtpHeader> = packets.iter().filter_map(|p| rtp_header(p)).collect();
    assert_eq!(headers.len(), packets.len(), "every datagram is RTP");
    assert!(headers.len() >= 50, "got {} RTP packets", headers.len());
    assert!(headers[0].marker, "first packet carries the marker");
    for w in headers.windows(2) {
        assert_eq!(w[1].pt, 0);
        assert_eq!(w[1].ssrc, w[0].ssrc);
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
        assert!(!w[1].marker);
    }
    // 2.5 s of greeting → 125 packets of 20 ms.
    assert!((120..=130).contains(&headers.len()), "{}", headers.len());

    let bye = phone.recv(5).await.expect("BYE from the switch");
    assert_eq!(bye.method(), Some("BYE"), "{}", bye.start);
    phone.ok_to(&bye).await;

    // The CDR reaches the store.
    let store = sw.running().store.clone();
    let mut cdrs = Vec::new();
    for _ in 0..3000 {
        cdrs = store.recent_cdrs(10).unwrap();
        if !cdrs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].result, vpbx_store::model::CallResult::Answered);
    assert_eq!(cdrs[0].hangup, vpbx_store::model::HangupSide::Switch);
    assert_eq!(cdrs[0].numb, "74951234567");
    assert!(cdrs[0].answer_unix_ms.is_some());
    sw.stop().await;
}
