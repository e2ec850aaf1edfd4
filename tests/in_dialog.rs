//! In-dialog requests on an answered call: a DTMF digit in SIP INFO reaches the call once (and
//! an unknown INFO package gets 469); a re-INVITE that moves the caller's media is answered with
//! our SDP and the switch's RTP follows to the new address.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;
use vpbx_store::model::{Event, Side};

async fn in_dialog(phone: &mut Phone, method: &str, content_type: Option<&str>, body: &str) -> Msg {
    phone.cseq += 1;
    let br = phone.branch();
    let mut t = format!(
        "{method} sip:vpbx@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: <{target}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:79161234567@{l}>\r\n",
        srv = phone.server,
        l = phone.local,
        ft = phone.from_tag,
        target = phone.target,
        tt = phone.to_tag.clone().unwrap(),
        cid = phone.call_id,
        cseq = phone.cseq,
    );
    if let Some(ct) = content_type {
        t.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    t.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    phone.send(&t).await;
    phone.recv_final(5).await.expect("a final response")
}

#[actix_rt::test]
async fn info_digits_and_reinvite_media_move() {
    let mut sw = TestSwitch::start().await;
    let rtp_a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut phone = Phone::new(sw.sip).await;
    phone
        .call("74951234567", rtp_a.local_addr().unwrap().port())
        .await;
    // The greeting starts on port A.
    let first = collect_rtp(
        &rtp_a,
        Duration::from_millis(300),
        Duration::from_millis(400),
    )
    .await;
    assert!(!first.is_empty());

    let ok = in_dialog(
        &mut phone,
        "INFO",
        Some("application/dtmf-relay"),
        "Signal=5\r\nDuration=160\r\n",
    )
    .await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let bad = in_dialog(&mut phone, "INFO", Some("application/x-unknown"), "hello").await;
    assert_eq!(bad.status(), Some(469), "{}", bad.start);

    // Move our media to port B.
    let sdp = Phone::sdp(rtp_b.local_addr().unwrap().port(), &[0, 101])
        .replace("o=test 1 1", "o=test 1 2");
    let ok = in_dialog(&mut phone, "INVITE", Some("application/sdp"), &sdp).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert!(ok.body.contains("m=audio "), "{}", ok.body);
    phone.ack(true).await;
    let moved = collect_rtp(&rtp_b, Duration::from_millis(500), Duration::from_secs(3)).await;
    assert!(
        moved.len() > 20,
        "RTP followed the re-INVITE: {} packets on B",
        moved.len()
    );

    let bye = phone.recv(5).await.expect("BYE after the greeting");
    assert_eq!(bye.method(), Some("BYE"));
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
    let digits: Vec<_> = cdr
        .what()
        .filter_map(|e| match e {
            Event::Digit {
                digit,
                duration_ms,
                sip_info: true,
                ..
            } => Some((*digit, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![('5', 160)], "{:?}", cdr.events);
    assert!(
        cdr.what().any(|e| matches!(
            e,
            Event::MediaMoved {
                side: Side::Caller,
                ..
            }
        )),
        "{:?}",
        cdr.events
    );
    sw.stop().await;
}
