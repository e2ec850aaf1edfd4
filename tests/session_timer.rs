//! Session timers (RFC 4028) when the caller asks for them: too small an interval gets 422 with
//! Min-SE; an accepted one comes back in the 200 with `Require: timer`; refreshes (UPDATE) keep
//! the call up; without refreshes the switch ends the call with a BYE. The tests run with
//! `min_session_expires_s = 2`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

fn with_timer(invite: &str, value: &str) -> String {
    invite.replacen(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\nSession-Expires: {value}\r\nSupported: timer\r\n"),
        1,
    )
}

async fn update(phone: &mut Phone) {
    phone.cseq += 1;
    let br = phone.branch();
    let t = format!(
        "UPDATE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: <{target}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} UPDATE\r\nSession-Expires: 3;refresher=uac\r\nContent-Length: 0\r\n\r\n",
        target = phone.target,
        local = phone.local,
        ft = phone.from_tag,
        tt = phone.to_tag.clone().unwrap(),
        cid = phone.call_id,
        cseq = phone.cseq,
    );
    phone.send(&t).await;
}

#[actix_rt::test]
async fn session_timer_is_negotiated_refreshed_and_enforced() {
    let mut sw = TestSwitch::start().await;

    // Too small: 422 with our minimum.
    let mut p = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(40400, &[0]);
    let inv = with_timer(&p.invite_text("74950000001", &sdp), "1");
    p.send(&inv).await;
    let r = p.recv_final(5).await.unwrap();
    assert_eq!(r.status(), Some(422), "{}", r.start);
    assert_eq!(r.header("Min-SE"), Some("2"));
    p.ack(false).await;

    // Accepted, refreshed twice, then left to expire.
    let mut p = Phone::new(sw.sip).await;
    let inv = with_timer(&p.invite_text("74950000001", &sdp), "3;refresher=uac");
    p.send(&inv).await;
    let ok = p.recv_final(5).await.unwrap();
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert_eq!(ok.header("Session-Expires"), Some("3;refresher=uac"));
    assert!(ok.header("Require").unwrap_or("").contains("timer"));
    p.to_tag = ok.to_tag();
    p.ack(true).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        update(&mut p).await;
        let r = loop {
            let m = p.recv(3).await.expect("UPDATE answered");
            if m.status().is_some() {
                break m;
            }
            assert_ne!(m.method(), Some("BYE"), "the refreshed call must stay up");
        };
        assert_eq!(r.status(), Some(200), "{}", r.start);
    }
    // 3 × 1.2 s of refreshes outlived the 3 s interval.
    // No more refreshes: the switch ends the call.
    let bye = loop {
        let m = p.recv(6).await.expect("BYE after the session expired");
        if m.method() == Some("BYE") {
            break m;
        }
    };
    assert!(
        bye.header("Reason").unwrap_or("").contains("session timer"),
        "{:?}",
        bye.header("Reason")
    );
    p.ok_to(&bye).await;
    sw.stop().await;
}
