//! SIP details phones notice (issue 13, item 5): a busy extension's 486 reaches the caller as
//! 486 with a `Warning` naming it and the call record says `busy`; the phones that lost a fork
//! get a CANCEL saying the call was completed elsewhere (RFC 3326), while a caller's own
//! cancel carries no such reason; `Allow` names every method the switch handles, and each of
//! them is answered; internal calls show the calling employee's name; a line dialling its own
//! group does not ring itself.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use api_support::*;
use common::*;
use serde_json::Value;

/// Polls `GET /api/v1/calls` until a record satisfies `pick` (generous deadline).
async fn record<S, B>(api: &Api<S>, pick: impl Fn(&Value) -> bool) -> Value
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    // Up to about a minute (1200 polls 50 ms apart).
    let mut items = Vec::new();
    for _ in 0..1200 {
        let r = api.get("/api/v1/calls?limit=20").await;
        items = r.json["items"].as_array().cloned().unwrap_or_default();
        if let Some(v) = items.iter().find(|v| pick(v)) {
            return v.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no matching call record: {items:#?}");
}

#[actix_rt::test]
async fn a_busy_extension_is_486_with_a_warning_and_the_record_says_busy() {
    let (mut sw, api) = api(None).await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    let (r, _) = tokio::join!(boris.dial("101", 40800), async {
        let inv = anna.expect_request("INVITE", 30).await.expect("101 rings");
        anna.respond(&inv, 486, "Busy Here", None, Some("busy-a"))
            .await;
    });
    assert_eq!(r.status(), Some(486), "{}", r.start);
    let warning = r.header("Warning").unwrap_or("");
    assert!(
        warning.starts_with("399 ") && warning.contains("Extension 101 is busy"),
        "Warning: {warning:?}"
    );
    let rec = record(&api, |v| v["numb"] == "101").await;
    assert_eq!(rec["result"], "busy", "{rec:#?}");
    sw.stop().await;
}

const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

#[actix_rt::test]
async fn the_device_that_lost_a_fork_gets_cancel_with_completed_elsewhere() {
    let mut sw = TestSwitch::start().await;
    let mut desk = LinePhone::new(sw.sip, "101", P101).await;
    let mut mobile = LinePhone::new(sw.sip, "101", P101).await;
    desk.register().await;
    mobile.register().await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    let (ok, cancel) = tokio::join!(boris.dial("101", 40810), async {
        let inv_desk = desk.expect_request("INVITE", 30).await.expect("desk rings");
        let inv_mobile = mobile
            .expect_request("INVITE", 30)
            .await
            .expect("mobile rings");
        desk.respond(&inv_desk, 180, "Ringing", None, Some("d1"))
            .await;
        mobile.answer(&inv_mobile, 40812).await;
        let cancel = desk
            .expect_request("CANCEL", 30)
            .await
            .expect("desk gets CANCEL");
        desk.respond(&cancel, 200, "OK", None, None).await;
        desk.respond(&inv_desk, 487, "Request Terminated", None, Some("d1"))
            .await;
        cancel
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert_eq!(
        cancel.header("Reason"),
        Some(COMPLETED_ELSEWHERE),
        "{:?}",
        cancel.headers
    );
    boris.in_dialog("BYE", "", None).await;
    let bye = mobile.expect_request("BYE", 30).await.expect("BYE");
    mobile.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

fn with_group_number() -> String {
    demo_company_with(
        "  - id: 20\n    name: Ring Sales at once\n    start: ring\n    operations:\n      ring:\n        action:\n          kind: forward\n          targets: [ { kind: group, id: 1 } ]\n          mode: simultaneous\n        exits: { answered: bye, no_answer: bye, busy: bye }\n      bye:\n        action: { kind: hang_up }\n",
        "  - number: \"74957000200\"\n    rules:\n      - id: 20\n        name: Sales\n        scenario: 20\n",
        "",
    )
}

#[actix_rt::test]
async fn a_group_member_that_lost_gets_completed_elsewhere_but_a_caller_cancel_has_no_such_reason()
{
    let mut sw = TestSwitch::builder()
        .company(&with_group_number())
        .start()
        .await;
    let mut a = LinePhone::new(sw.sip, "101", P101).await;
    let mut b = LinePhone::new(sw.sip, "102", P102).await;
    a.register().await;
    b.register().await;

    // 102 answers: 101's CANCEL says the call was completed elsewhere.
    let mut caller = Phone::new(sw.sip).await;
    caller
        .invite("74957000200", &Phone::sdp(40820, &[0, 101]))
        .await;
    let inv_a = a.expect_request("INVITE", 30).await.expect("101 rings");
    let inv_b = b.expect_request("INVITE", 30).await.expect("102 rings");
    a.respond(&inv_a, 180, "Ringing", None, Some("ga")).await;
    b.answer(&inv_b, 40822).await;
    let ok = caller.recv_final(30).await.expect("caller answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.to_tag = ok.to_tag();
    caller.ack(true).await;
    let cancel = a.expect_request("CANCEL", 30).await.expect("101 CANCEL");
    a.respond(&cancel, 200, "OK", None, None).await;
    a.respond(&inv_a, 487, "Request Terminated", None, Some("ga"))
        .await;
    assert_eq!(
        cancel.header("Reason"),
        Some(COMPLETED_ELSEWHERE),
        "{:?}",
        cancel.headers
    );
    b.in_dialog("BYE", "", None).await;
    let _ = a.expect_request("ACK", 2).await;

    // The caller gives up while both ring: their CANCELs carry no "completed elsewhere".
    let mut caller = Phone::new(sw.sip).await;
    caller
        .invite("74957000200", &Phone::sdp(40824, &[0, 101]))
        .await;
    let inv_a = a.expect_request("INVITE", 30).await.expect("101 rings");
    let inv_b = b.expect_request("INVITE", 30).await.expect("102 rings");
    a.respond(&inv_a, 180, "Ringing", None, Some("ga2")).await;
    b.respond(&inv_b, 180, "Ringing", None, Some("gb2")).await;
    caller.cancel().await;
    for (phone, inv, tag) in [(&a, &inv_a, "ga2"), (&b, &inv_b, "gb2")] {
        let cancel = phone.expect_request("CANCEL", 30).await.expect("CANCEL");
        phone.respond(&cancel, 200, "OK", None, None).await;
        phone
            .respond(inv, 487, "Request Terminated", None, Some(tag))
            .await;
        assert!(
            !cancel.header("Reason").unwrap_or("").contains("cause=200"),
            "{:?}",
            cancel.headers
        );
    }
    sw.stop().await;
}

/// A request inside `phone`'s answered call; returns its final response (a request the switch
/// sends meanwhile is skipped).
async fn in_call(phone: &mut Phone, method: &str, extra: &str, body: Option<(&str, &str)>) -> Msg {
    phone.cseq += 1;
    let br = phone.branch();
    let mut t = format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: <{target}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:79161234567@{l}>\r\n{extra}",
        l = phone.local,
        ft = phone.from_tag,
        target = phone.target,
        tt = phone.to_tag.clone().unwrap(),
        cid = phone.call_id,
        cseq = phone.cseq,
    );
    match body {
        Some((ct, b)) => t.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => t.push_str("Content-Length: 0\r\n\r\n"),
    }
    // Sent again each second without an answer, as a UDP phone does (RFC 3261 Timer E): a
    // request that overtakes the ACK of the call's 200 is not taken yet.
    for _ in 0..60 {
        phone.send(&t).await;
        while let Some(m) = phone.recv(1).await {
            let ours = m.header("CSeq").unwrap_or("").ends_with(method);
            if ours && m.status().is_some_and(|c| c >= 200) {
                return m;
            }
        }
    }
    panic!("no final response to {method}");
}

fn allows_everything(m: &Msg) {
    let allow = m.header("Allow").unwrap_or("");
    for method in [
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "REFER", "INFO", "UPDATE",
    ] {
        assert!(
            allow.split(',').any(|a| a.trim() == method),
            "{method} missing from Allow in {}: {allow:?}",
            m.start
        );
    }
}

#[actix_rt::test]
async fn allow_names_every_method_handled_and_each_is_answered() {
    let mut sw = TestSwitch::start().await;
    // Outside a call: OPTIONS lists everything; INFO, UPDATE and REFER are "no such call".
    let mut probe = Phone::new(sw.sip).await;
    for method in ["OPTIONS", "INFO", "UPDATE", "REFER"] {
        let br = probe.branch();
        probe
            .send(&format!(
                "{method} sip:vpbx@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={br}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: {br}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n",
                srv = sw.sip,
                l = probe.local
            ))
            .await;
        let m = probe.recv_final(30).await.expect("an answer");
        if method == "OPTIONS" {
            assert_eq!(m.status(), Some(200), "{}", m.start);
            allows_everything(&m);
        } else {
            assert_eq!(m.status(), Some(481), "{method}: {}", m.start);
            assert!(m.header("Warning").unwrap_or("").contains("within a call"));
        }
    }

    // Inside a call (the echo test): the 200 to the INVITE lists everything, and so does the
    // answer to OPTIONS; UPDATE, INFO and REFER get real answers; MESSAGE gets 405 with Allow.
    let mut phone = Phone::new(sw.sip).await;
    let ok = phone.call("74950000001", 40830).await;
    allows_everything(&ok);
    let m = in_call(&mut phone, "OPTIONS", "", None).await;
    assert_eq!(m.status(), Some(200), "{}", m.start);
    allows_everything(&m);
    let m = in_call(&mut phone, "UPDATE", "", None).await;
    assert_eq!(m.status(), Some(200), "{}", m.start);
    let m = in_call(
        &mut phone,
        "INFO",
        "",
        Some(("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")),
    )
    .await;
    assert_eq!(m.status(), Some(200), "{}", m.start);
    // A REFER without Refer-To is a bad request, not an unknown method.
    let m = in_call(&mut phone, "REFER", "", None).await;
    assert_eq!(m.status(), Some(400), "{}", m.start);
    let m = in_call(&mut phone, "MESSAGE", "", Some(("text/plain", "hi"))).await;
    assert_eq!(m.status(), Some(405), "{}", m.start);
    allows_everything(&m);
    phone.bye().await;
    sw.stop().await;
}

#[actix_rt::test]
async fn internal_calls_show_the_callers_name_and_a_line_dialling_its_group_is_not_rung() {
    let (mut sw, api) = api(None).await;
    // Anna's line is registered from two devices; she calls her own group (Sales, 200) from
    // the desk: only Boris rings, and sees her name.
    let mut desk = LinePhone::new(sw.sip, "101", P101).await;
    let mut mobile = LinePhone::new(sw.sip, "101", P101).await;
    desk.register().await;
    mobile.register().await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    boris.register().await;
    let (ok, inv) = tokio::join!(desk.dial("200", 40840), async {
        let inv = boris.expect_request("INVITE", 30).await.expect("102 rings");
        boris.answer(&inv, 40842).await;
        inv
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let from = inv.header("From").unwrap_or("");
    assert!(
        from.starts_with("\"Anna Petrova\" <sip:101@"),
        "From: {from:?}"
    );
    desk.in_dialog("BYE", "", None).await;
    let bye = boris.expect_request("BYE", 30).await.expect("BYE");
    boris.respond(&bye, 200, "OK", None, None).await;
    // The call record: one phone rang (Boris's); Anna's line was left out as the caller.
    let rec = record(&api, |v| v["numb"] == "200").await;
    let text = rec.to_string();
    assert!(text.contains("is the caller"), "{rec:#?}");
    assert_eq!(text.matches("\"ring_started\"").count(), 1, "{rec:#?}");
    // Nor did her mobile get an INVITE for it (anything it got is answered and skipped).
    assert!(mobile.expect_request("INVITE", 1).await.is_none());

    // Boris calls Anna directly: both her devices ring, showing his name.
    let (ok, _) = tokio::join!(boris.dial("101", 40844), async {
        let inv_desk = desk.expect_request("INVITE", 30).await.expect("desk rings");
        let inv_mobile = mobile
            .expect_request("INVITE", 30)
            .await
            .expect("mobile rings");
        for inv in [&inv_desk, &inv_mobile] {
            let from = inv.header("From").unwrap_or("");
            assert!(
                from.starts_with("\"Boris Ivanov\" <sip:102@"),
                "From: {from:?}"
            );
        }
        desk.respond(&inv_desk, 486, "Busy Here", None, Some("dd"))
            .await;
        mobile
            .respond(&inv_mobile, 486, "Busy Here", None, Some("mm"))
            .await;
    });
    assert_eq!(ok.status(), Some(486), "{}", ok.start);
    sw.stop().await;
}

#[actix_rt::test]
async fn a_dead_trunk_fails_the_caller_with_408_and_a_warning_after_its_response_timeout() {
    // An IP trunk to a "carrier" socket that reads everything and answers nothing.
    let carrier = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let carrier_port = carrier.local_addr().unwrap().port();
    let company = demo_company_with(
        "",
        "",
        &format!("trunks:\n  - id: 1\n    name: Silent\n    host: 127.0.0.1\n    port: {carrier_port}\n    auth: {{ kind: ip, addresses: [\"127.0.0.1\"] }}\n    response_timeout_s: 2\n"),
    );
    let mut sw = TestSwitch::builder().company(&company).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    let (r, invites) = tokio::join!(anna.dial("79991234567", 40850), async {
        // The INVITE does reach the carrier (and is retransmitted, unanswered).
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            carrier.recv_from(&mut buf),
        )
        .await
        .expect("INVITE to the carrier")
        .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    assert!(invites.starts_with("INVITE sip:79991234567@"), "{invites}");
    assert_eq!(r.status(), Some(408), "{}", r.start);
    let warning = r.header("Warning").unwrap_or("");
    assert!(
        warning.contains("Number 79991234567 could not be reached: the carrier did not answer"),
        "Warning: {warning:?}"
    );
    sw.stop().await;
}
