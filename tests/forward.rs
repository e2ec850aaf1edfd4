//! Calls through the B2BUA: a line dials an extension (407 digest auth, then the callee's
//! registered phone rings and they talk with RTP relayed both ways); a virtual number's forward
//! operation rings a group at once, the first phone to answer wins and the other gets CANCEL;
//! refusals (bad credentials, unknown extension, unregistered target); early media (183 with
//! SDP) from the callee is passed to the unanswered caller.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn with_group_number() -> String {
    demo_company_with(
        "  - id: 20\n    name: Ring Sales at once\n    start: ring\n    operations:\n      ring:\n        action:\n          kind: forward\n          targets: [ { kind: group, id: 1 } ]\n          mode: simultaneous\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        "  - number: \"74957000200\"\n    rules:\n      - id: 20\n        name: Sales\n        scenario: 20\n",
        "",
    )
}

#[actix_rt::test]
async fn a_line_calls_an_extension_and_they_talk_both_ways() {
    let mut sw = TestSwitch::start().await;
    let mut callee = LinePhone::new(sw.sip, "101", P101).await;
    callee.register().await;
    let mut caller = LinePhone::new(sw.sip, "102", P102).await;
    let caller_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_port = caller_rtp.local_addr().unwrap().port();
    let callee_port = callee_rtp.local_addr().unwrap().port();

    let dial = caller.dial("101", caller_port);
    let answer = async {
        let inv = callee
            .expect_request("INVITE", 10)
            .await
            .expect("the callee rings");
        // SIP lines see the caller's extension.
        assert!(
            inv.header("From").unwrap().contains("sip:102@"),
            "{:?}",
            inv.header("From")
        );
        callee.answer(&inv, callee_port).await;
        inv
    };
    let (ok, inv) = tokio::join!(dial, answer);
    assert_eq!(ok.status(), Some(200), "{}", ok.start);

    // Audio relayed both ways through the switch's two legs.
    let to_switch_from_caller = media_addr(&ok.body);
    let to_switch_from_callee = media_addr(&inv.body);
    let (_, heard_by_callee) = tokio::join!(
        send_tone(&caller_rtp, to_switch_from_caller, 1000.0, 50),
        count_loud(&callee_rtp, 1500)
    );
    assert!(
        heard_by_callee >= 20,
        "callee heard {heard_by_callee} loud packets"
    );
    let (_, heard_by_caller) = tokio::join!(
        send_tone(&callee_rtp, to_switch_from_callee, 700.0, 50),
        count_loud(&caller_rtp, 1500)
    );
    assert!(
        heard_by_caller >= 20,
        "caller heard {heard_by_caller} loud packets"
    );

    // The caller hangs up: the callee gets a BYE.
    caller.in_dialog("BYE", "", None).await;
    let bye = callee
        .expect_request("BYE", 5)
        .await
        .expect("BYE to the callee");
    callee.respond(&bye, 200, "OK", None, None).await;
    let s = sw.http;
    assert!(
        eventually(5, || {
            let body = std::thread::spawn(move || {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(http_get(s, "/health")).1
            })
            .join()
            .unwrap();
            body.contains("\"active_calls\":0")
        })
        .await
    );
    sw.stop().await;
}

#[actix_rt::test]
async fn a_group_rings_at_once_the_first_answer_wins_and_the_other_is_cancelled() {
    let mut sw = TestSwitch::builder()
        .company(&with_group_number())
        .start()
        .await;
    let mut a = LinePhone::new(sw.sip, "101", P101).await;
    let mut b = LinePhone::new(sw.sip, "102", P102).await;
    a.register().await;
    b.register().await;
    let mut caller = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(40000, &[8, 101]);
    caller.invite("74957000200", &sdp).await;

    let inv_a = a.expect_request("INVITE", 10).await.expect("101 rings");
    let inv_b = b.expect_request("INVITE", 10).await.expect("102 rings");
    // A virtual-number call shows the caller's number to SIP phones.
    assert!(inv_b.header("From").unwrap().contains("79161234567"));
    a.respond(&inv_a, 180, "Ringing", None, Some("ring-a"))
        .await;
    b.answer(&inv_b, 40002).await;

    let ok = caller.recv_final(10).await.expect("caller answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    // PCMA offered by the caller, PCMU by the agent: the switch transcodes.
    assert!(ok.body.contains("PCMA"), "{}", ok.body);
    caller.to_tag = ok.to_tag();
    caller.ack(true).await;

    let cancel = a
        .expect_request("CANCEL", 5)
        .await
        .expect("the loser gets CANCEL");
    a.respond(&cancel, 200, "OK", None, None).await;
    a.respond(&inv_a, 487, "Request Terminated", None, Some("ring-a"))
        .await;

    // The agent hangs up: the scenario's `answered` exit hangs the caller up.
    b.in_dialog("BYE", "", None).await;
    let bye = loop {
        let m = caller.recv(5).await.expect("BYE to the caller");
        if m.method() == Some("BYE") {
            break m;
        }
    };
    caller.ok_to(&bye).await;
    sw.stop().await;
}

#[actix_rt::test]
async fn refusals_bad_credentials_unknown_extension_unregistered_callee() {
    let mut sw = TestSwitch::start().await;
    let mut wrong = LinePhone::new(sw.sip, "102", "not-the-password").await;
    let r = wrong.dial("101", 40010).await;
    assert_eq!(r.status(), Some(403), "{}", r.start);

    let mut caller = LinePhone::new(sw.sip, "102", P102).await;
    let r = caller.dial("999", 40012).await;
    assert_eq!(r.status(), Some(404), "{}", r.start);
    assert!(r.header("Warning").unwrap_or("").contains("unknown"));

    // 101 is not registered: nothing rings, the call is refused.
    let r = caller.dial("101", 40014).await;
    assert_eq!(r.status(), Some(480), "{}", r.start);

    // No trunk: an external number is refused with the reason.
    let r = caller.dial("79991234567", 40016).await;
    assert_eq!(r.status(), Some(403), "{}", r.start);
    assert!(r.header("Warning").unwrap_or("").contains("trunk"));
    sw.stop().await;
}

#[actix_rt::test]
async fn early_media_from_the_callee_reaches_the_unanswered_caller() {
    let mut sw = TestSwitch::builder()
        .company(&with_group_number())
        .start()
        .await;
    let mut a = LinePhone::new(sw.sip, "101", P101).await;
    a.register().await;
    let a_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(caller_rtp.local_addr().unwrap().port(), &[0, 101]);
    caller.invite("74957000200", &sdp).await;

    // 101 answers with 183 and early media (an announcement, a ringback of its own).
    let inv = a.expect_request("INVITE", 10).await.expect("101 rings");
    let early_sdp = Phone::sdp(a_rtp.local_addr().unwrap().port(), &[0, 101]);
    a.respond(
        &inv,
        183,
        "Session Progress",
        Some(&early_sdp),
        Some("early-a"),
    )
    .await;
    let progress = loop {
        let m = caller.recv(5).await.expect("183 to the caller");
        if m.status() == Some(183) {
            break m;
        }
        assert!(m.status().is_none_or(|c| c < 200), "{}", m.start);
    };
    assert!(progress.body.contains("m=audio"), "183 carries our SDP");
    let to_switch = media_addr(&inv.body);
    let (_, heard) = tokio::join!(
        send_tone(&a_rtp, to_switch, 500.0, 50),
        count_loud(&caller_rtp, 1500)
    );
    assert!(
        heard >= 20,
        "the caller hears the early media ({heard} loud packets)"
    );

    // Then 101 answers for real.
    let sdp_ok = Phone::sdp(a_rtp.local_addr().unwrap().port(), &[0, 101]);
    a.respond(&inv, 200, "OK", Some(&sdp_ok), Some("early-a"))
        .await;
    let ok = caller.recv_final(5).await.expect("answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.to_tag = ok.to_tag();
    caller.ack(true).await;
    caller.bye().await;
    sw.stop().await;
}

/// The demo switch with Anna's line registered from two devices, and Boris's line to call her.
async fn line_with_two_devices() -> (TestSwitch, LinePhone, LinePhone, LinePhone) {
    let sw = TestSwitch::start().await;
    let mut desk = LinePhone::new(sw.sip, "101", P101).await;
    let mut mobile = LinePhone::new(sw.sip, "101", P101).await;
    desk.register().await;
    mobile.register().await;
    let caller = LinePhone::new(sw.sip, "102", P102).await;
    (sw, desk, mobile, caller)
}

#[actix_rt::test]
async fn a_line_with_two_registered_devices_rings_both_and_the_loser_is_cancelled() {
    let (mut sw, desk, mut mobile, mut caller) = line_with_two_devices().await;
    let (ok, _) = tokio::join!(caller.dial("101", 40700), async {
        let inv_desk = desk.expect_request("INVITE", 10).await.expect("desk rings");
        let inv_mobile = mobile
            .expect_request("INVITE", 10)
            .await
            .expect("mobile rings");
        assert_ne!(inv_desk.header("Call-ID"), inv_mobile.header("Call-ID"));
        // A CANCEL may only follow a provisional response (RFC 3261 §9.1).
        desk.respond(&inv_desk, 180, "Ringing", None, Some("d1"))
            .await;
        mobile.answer(&inv_mobile, 40702).await;
        let cancel = desk
            .expect_request("CANCEL", 5)
            .await
            .expect("desk gets CANCEL");
        desk.respond(&cancel, 200, "OK", None, None).await;
        desk.respond(&inv_desk, 487, "Request Terminated", None, Some("d1"))
            .await;
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.in_dialog("BYE", "", None).await;
    let bye = mobile
        .expect_request("BYE", 5)
        .await
        .expect("BYE to the mobile");
    mobile.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

#[actix_rt::test]
async fn a_loser_that_never_answers_its_cancel_does_not_hold_up_the_winner() {
    let (mut sw, desk, mut mobile, mut caller) = line_with_two_devices().await;
    let (ok, _) = tokio::join!(caller.dial("101", 40710), async {
        let inv_desk = desk.expect_request("INVITE", 10).await.expect("desk rings");
        let inv_mobile = mobile
            .expect_request("INVITE", 10)
            .await
            .expect("mobile rings");
        desk.respond(&inv_desk, 180, "Ringing", None, Some("d1"))
            .await;
        mobile.answer(&inv_mobile, 40712).await;
        // The desk gets its CANCEL and stays silent (no 200, no 487).
        desk.expect_request("CANCEL", 10)
            .await
            .expect("desk gets CANCEL");
    });
    // The caller talks to the mobile all the same: its 200 did not wait for the desk.
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.in_dialog("BYE", "", None).await;
    let bye = mobile
        .expect_request("BYE", 10)
        .await
        .expect("BYE to the mobile");
    mobile.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

#[actix_rt::test]
async fn a_sip_uri_target_is_called_directly() {
    // A phone elsewhere, not registered here: the forward operation dials its URI.
    let far = LinePhone::bind("127.0.0.1:9".parse().unwrap(), "far", "", 0).await;
    let port = far.local.port();
    let y = demo_company_with(
        &format!("  - id: 22\n    name: Far office\n    start: ring\n    operations:\n      ring:\n        action:\n          kind: forward\n          targets: [ {{ kind: sip_uri, uri: \"office@127.0.0.1:{port}\", timeout_s: 10 }} ]\n        exits: {{}}\n"),
        "  - number: \"74957000222\"\n    rules:\n      - id: 22\n        name: Far\n        scenario: 22\n",
        "",
    );
    let mut sw = TestSwitch::builder().company(&y).start().await;
    let mut far = far;
    far.server = sw.sip;
    let mut caller = Phone::new(sw.sip).await;
    caller.invite("74957000222", &Phone::sdp(40800, &[0])).await;
    let inv = far
        .expect_request("INVITE", 10)
        .await
        .expect("the URI is called");
    assert!(
        inv.start
            .starts_with(&format!("INVITE sip:office@127.0.0.1:{port}")),
        "{}",
        inv.start
    );
    far.answer(&inv, 40802).await;
    let ok = caller.recv_final(5).await.expect("answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.to_tag = ok.to_tag();
    caller.ack(true).await;
    caller.bye().await;
    let bye = far
        .expect_request("BYE", 5)
        .await
        .expect("BYE to the far phone");
    far.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

#[actix_rt::test]
async fn a_line_dialling_its_own_group_rings_the_others_not_itself() {
    let mut sw = TestSwitch::start().await;
    // Line 101 is registered from one device and calls from another; 102 is registered too.
    let mut own = LinePhone::new(sw.sip, "101", P101).await;
    own.register().await;
    let mut b = LinePhone::new(sw.sip, "102", P102).await;
    b.register().await;
    let mut caller = LinePhone::new(sw.sip, "101", P101).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port();

    // Sales (200) = Anna (101) and Boris (102), both at once.
    let dial = caller.dial("200", port);
    let answer = async {
        let inv = b.expect_request("INVITE", 30).await.expect("102 rings");
        b.answer(&inv, 40010).await;
    };
    let (ok, ()) = tokio::join!(dial, answer);
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.in_dialog("BYE", "", None).await;
    let bye = b.expect_request("BYE", 30).await.expect("BYE to 102");
    b.respond(&bye, 200, "OK", None, None).await;

    // The call record says who rang and who was left out.
    let store = sw.running().store.clone();
    let mut cdrs = Vec::new();
    for _ in 0..3000 {
        cdrs = store.recent_cdrs(10).unwrap();
        if !cdrs.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let cdr = cdrs.first().expect("a call record");
    let rang: Vec<&str> = cdr
        .events
        .iter()
        .filter_map(|e| match &e.what {
            vpbx_store::model::Event::RingStarted { target, .. } => Some(target.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rang, vec!["Ivanov (102) line 102"], "{cdr:?}");
    assert!(
        cdr.events.iter().any(|e| matches!(&e.what,
            vpbx_store::model::Event::TargetSkipped { target, why }
                if target == "Petrova (101) line 101" && why == "is the caller")),
        "{cdr:?}"
    );
    sw.stop().await;
}
