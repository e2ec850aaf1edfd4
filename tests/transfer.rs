//! During a talk: hold and resume (re-INVITE sendonly → the other side hears music on hold;
//! sendrecv → the talk resumes), blind transfer (REFER to an extension: 202, NOTIFYs, the
//! transferor is released at once and the caller talks to the target), attended transfer (REFER with
//! Replaces naming the transferor's consultation call: the two remaining parties are joined).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::net::SocketAddr;

fn company() -> String {
    demo_company_with(
        "  - id: 21\n    name: Anna\n    start: ring\n    operations:\n      ring:\n        action:\n          kind: forward\n          targets: [ { kind: employee, id: 1 } ]\n        exits: {}\n",
        "  - number: \"74957000101\"\n    rules:\n      - id: 21\n        name: Anna\n        scenario: 21\n",
        "",
    )
}

/// An anonymous caller rings 74957000101 and Anna (101) answers. Returns the caller (ACKed),
/// its RTP socket and the switch's RTP address for it, Anna's RTP socket and the switch's RTP
/// address for her.
async fn caller_talks_to_anna(
    sw: &TestSwitch,
    anna: &mut LinePhone,
) -> (
    Phone,
    tokio::net::UdpSocket,
    SocketAddr,
    tokio::net::UdpSocket,
    SocketAddr,
) {
    caller_with_allow_talks_to_anna(sw, anna, None).await
}

/// As [`caller_talks_to_anna`], the caller's INVITE listing `allow` in an `Allow` header.
async fn caller_with_allow_talks_to_anna(
    sw: &TestSwitch,
    anna: &mut LinePhone,
    allow: Option<&str>,
) -> (
    Phone,
    tokio::net::UdpSocket,
    SocketAddr,
    tokio::net::UdpSocket,
    SocketAddr,
) {
    let caller_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let anna_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(caller_rtp.local_addr().unwrap().port(), &[0, 101]);
    let mut invite = caller.invite_text("74957000101", &sdp);
    if let Some(allow) = allow {
        invite = invite.replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\nAllow: {allow}\r\n"),
        );
    }
    caller.send(&invite).await;
    let inv = anna.expect_request("INVITE", 10).await.expect("Anna rings");
    anna.answer(&inv, anna_rtp.local_addr().unwrap().port())
        .await;
    let ok = caller.recv_final(10).await.expect("caller answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.to_tag = ok.to_tag();
    caller.ack(true).await;
    let to_caller_side = media_addr(&ok.body);
    let to_anna_side = media_addr(&inv.body);
    (caller, caller_rtp, to_caller_side, anna_rtp, to_anna_side)
}

#[actix_rt::test]
async fn hold_plays_music_to_the_other_side_and_resume_reconnects() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let (_caller, caller_rtp, _, anna_rtp, _) = caller_talks_to_anna(&sw, &mut anna).await;
    let anna_port = anna_rtp.local_addr().unwrap().port();

    // Nothing is said: the caller hears (almost) nothing.
    assert!(count_loud(&caller_rtp, 600).await <= 2);

    // Anna puts the caller on hold.
    let hold = Phone::sdp(anna_port, &[0, 101]).replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    anna.in_dialog("INVITE", "", Some(&hold)).await;
    let ok = anna
        .expect_response("INVITE", 200, 5)
        .await
        .expect("re-INVITE answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert!(ok.body.contains("a=recvonly"), "{}", ok.body);
    anna.ack_in_dialog().await;
    let moh = count_loud(&caller_rtp, 1200).await;
    assert!(
        moh >= 30,
        "the caller hears music on hold ({moh} loud packets)"
    );

    // Resume: the music stops.
    let resume = Phone::sdp(anna_port, &[0, 101]);
    anna.in_dialog("INVITE", "", Some(&resume)).await;
    let ok = anna
        .expect_response("INVITE", 200, 5)
        .await
        .expect("resume answered");
    assert!(ok.body.contains("a=sendrecv"), "{}", ok.body);
    anna.ack_in_dialog().await;
    // The music stops: wait for a quiet window (packets of the music already in flight or in
    // the socket's buffer on a busy machine are read first), bounded.
    let mut windows = 0;
    while count_loud(&caller_rtp, 400).await > 1 {
        windows += 1;
        assert!(windows < 25, "music still playing 10 s after resume");
    }
    sw.stop().await;
}

/// Whether an RTP packet carries audible PCMU/PCMA.
fn loud(pkt: &[u8]) -> bool {
    if pkt.len() <= 12 || pkt[1] & 0x7f > 8 {
        return false;
    }
    let codec = if pkt[1] & 0x7f == 8 {
        vpbx_media::Codec::Pcma
    } else {
        vpbx_media::Codec::Pcmu
    };
    let pcm = codec.decode(&pkt[12..]);
    let energy: f64 = pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len() as f64;
    energy.sqrt() > 500.0
}

/// While one side holds, the other (`caller_rtp`, sending to `to_caller_side`) talks (a tone) and
/// hears music on hold. The window is measured by the music it receives (60 loud packets, each
/// waited for with a generous deadline), not by wall time. Returns the RTP packets the holder's
/// socket (`anna_rtp`) received meanwhile.
async fn holder_receives_during_hold(
    caller_rtp: &tokio::net::UdpSocket,
    to_caller_side: SocketAddr,
    anna_rtp: &tokio::net::UdpSocket,
) -> usize {
    let mut buf = [0u8; 2048];
    let wait = std::time::Duration::from_secs(30);
    // The music reaching the caller shows the switch has acted on the hold: Anna's leg was told
    // to stop sending before the caller's leg was told to play the music.
    loop {
        let got = tokio::time::timeout(wait, caller_rtp.recv_from(&mut buf)).await;
        let (n, _) = got.expect("music on hold reaches the caller").unwrap();
        if loud(&buf[..n]) {
            break;
        }
    }
    // The caller said nothing before, so nothing is owed to Anna; clear her socket anyway.
    while anna_rtp.try_recv_from(&mut buf).is_ok() {}
    let talk = send_tone(caller_rtp, to_caller_side, 900.0, 100);
    let listen = async {
        let mut buf = [0u8; 2048];
        let mut moh = 0;
        while moh < 60 {
            let got = tokio::time::timeout(wait, caller_rtp.recv_from(&mut buf)).await;
            let (n, _) = got.expect("music on hold goes on").unwrap();
            moh += usize::from(loud(&buf[..n]));
        }
    };
    tokio::join!(talk, listen);
    let mut leaked = 0;
    while anna_rtp.try_recv_from(&mut buf).is_ok() {
        leaked += 1;
    }
    leaked
}

/// Anna re-INVITEs with `direction` and the switch answers `answer`.
async fn anna_sets_direction(anna: &mut LinePhone, anna_port: u16, direction: &str, answer: &str) {
    let sdp = Phone::sdp(anna_port, &[0, 101])
        .replace("t=0 0\r\n", &format!("t=0 0\r\na={direction}\r\n"));
    anna.in_dialog("INVITE", "", Some(&sdp)).await;
    let ok = anna
        .expect_response("INVITE", 200, 10)
        .await
        .expect("re-INVITE answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    assert!(ok.body.contains(&format!("a={answer}")), "{}", ok.body);
    anna.ack_in_dialog().await;
}

#[actix_rt::test]
async fn a_holder_receives_no_rtp_until_it_resumes() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let (mut caller, caller_rtp, to_caller_side, anna_rtp, _) =
        caller_talks_to_anna(&sw, &mut anna).await;
    let anna_port = anna_rtp.local_addr().unwrap().port();

    // Hold with sendonly: the switch answers recvonly and sends Anna nothing.
    anna_sets_direction(&mut anna, anna_port, "sendonly", "recvonly").await;
    let leaked = holder_receives_during_hold(&caller_rtp, to_caller_side, &anna_rtp).await;
    assert_eq!(leaked, 0, "RTP sent to Anna while she held with sendonly");

    // Resume: Anna hears the caller again.
    anna_sets_direction(&mut anna, anna_port, "sendrecv", "sendrecv").await;
    let mut heard = 0;
    for _ in 0..20 {
        let (_, n) = tokio::join!(
            send_tone(&caller_rtp, to_caller_side, 900.0, 50),
            count_loud(&anna_rtp, 1500)
        );
        heard = n;
        if heard >= 20 {
            break;
        }
    }
    assert!(
        heard >= 20,
        "Anna hears the caller after resuming ({heard})"
    );

    // Hold with inactive: inactive both ways.
    anna_sets_direction(&mut anna, anna_port, "inactive", "inactive").await;
    let leaked = holder_receives_during_hold(&caller_rtp, to_caller_side, &anna_rtp).await;
    assert_eq!(leaked, 0, "RTP sent to Anna while she held with inactive");

    caller.bye().await;
    let bye = anna.expect_request("BYE", 10).await.expect("BYE to Anna");
    anna.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

/// The caller re-INVITEs with `direction` (to the switch's Contact, `sip:vpbx@…`); returns the
/// switch's 200 (ACKed).
async fn caller_sets_direction(caller: &mut Phone, rtp_port: u16, direction: &str) -> Msg {
    caller.cseq += 1;
    let br = caller.branch();
    let sdp = Phone::sdp(rtp_port, &[0, 101])
        .replace("o=test 1 1", &format!("o=test 1 {}", caller.cseq))
        .replace("t=0 0\r\n", &format!("t=0 0\r\na={direction}\r\n"));
    let t = format!(
        "INVITE sip:vpbx@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: <{target}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:79161234567@{l}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        target = caller.target,
        srv = caller.server,
        l = caller.local,
        ft = caller.from_tag,
        tt = caller.to_tag.clone().unwrap(),
        cid = caller.call_id,
        cseq = caller.cseq,
        len = sdp.len(),
    );
    caller.send(&t).await;
    let ok = caller.recv_final(10).await.expect("re-INVITE answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    caller.ack(true).await;
    ok
}

#[actix_rt::test]
async fn a_caller_holding_receives_no_rtp() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let (mut caller, caller_rtp, _, anna_rtp, to_anna_side) =
        caller_talks_to_anna(&sw, &mut anna).await;
    let caller_port = caller_rtp.local_addr().unwrap().port();
    // Before the hold the caller hears Anna. (This also keeps the re-INVITE well behind the
    // caller's ACK: rsipstack drops an ACK overtaken by a re-INVITE with a higher CSeq.)
    let mut heard = 0;
    for _ in 0..20 {
        let (_, n) = tokio::join!(
            send_tone(&anna_rtp, to_anna_side, 700.0, 50),
            count_loud(&caller_rtp, 1500)
        );
        heard = n;
        if heard >= 20 {
            break;
        }
    }
    assert!(
        heard >= 20,
        "the caller hears Anna before the hold ({heard})"
    );
    // The caller holds with sendonly: Anna hears music on hold while she talks, and nothing she
    // says reaches the caller.
    let ok = caller_sets_direction(&mut caller, caller_port, "sendonly").await;
    assert!(ok.body.contains("a=recvonly"), "{}", ok.body);
    let leaked = holder_receives_during_hold(&anna_rtp, to_anna_side, &caller_rtp).await;
    assert_eq!(
        leaked, 0,
        "RTP sent to the caller while it held with sendonly"
    );
    caller.bye().await;
    let bye = anna.expect_request("BYE", 10).await.expect("BYE to Anna");
    anna.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

/// The request telling the caller's phone who it talks to after a transfer (RFC 4916 style):
/// `method` (UPDATE or re-INVITE) with a `P-Asserted-Identity` naming `display` and `number`.
/// Answered (a re-INVITE with our SDP, then its ACK awaited). Other requests are answered 200.
async fn expect_identity_update(
    caller: &Phone,
    caller_rtp_port: u16,
    method: &str,
    display: &str,
    number: &str,
) {
    let m = loop {
        let m = caller
            .recv(30)
            .await
            .expect("a request naming the new party");
        match m.method() {
            Some(x) if x == method => break m,
            Some("INVITE") | Some("UPDATE") => panic!("{} instead of {method}", m.start),
            Some(_) => caller.ok_to(&m).await,
            None => {}
        }
    };
    let pai = m
        .header("P-Asserted-Identity")
        .unwrap_or_else(|| panic!("P-Asserted-Identity in {}", m.start));
    assert!(pai.contains(&format!("\"{display}\"")), "{pai}");
    assert!(pai.contains(&format!("<sip:{number}@")), "{pai}");
    if method == "UPDATE" {
        assert!(m.body.is_empty(), "an UPDATE without an offer: {}", m.body);
        caller.ok_to(&m).await;
        return;
    }
    // A re-INVITE offers the switch's SDP unchanged: answer it, the switch ACKs.
    assert!(m.body.contains("m=audio "), "{}", m.body);
    let sdp = Phone::sdp(caller_rtp_port, &[0, 101]);
    let mut t = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (n, v) in &m.headers {
            if n.eq_ignore_ascii_case(name) {
                t.push_str(&format!("{name}: {v}\r\n"));
            }
        }
    }
    t.push_str(&format!(
        "Contact: <sip:79161234567@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        caller.local,
        sdp.len()
    ));
    caller.send(&t).await;
    loop {
        let m = caller.recv(30).await.expect("ACK for the re-INVITE's 200");
        if m.method() == Some("ACK") {
            break;
        }
    }
}

#[actix_rt::test]
async fn blind_transfer_connects_the_caller_to_the_target_and_releases_the_transferor() {
    blind_transfer(None, "INVITE").await;
}

#[actix_rt::test]
async fn blind_transfer_updates_the_identity_of_a_caller_that_allows_update() {
    blind_transfer(Some("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"), "UPDATE").await;
}

/// A blind transfer from Anna to Boris; the caller's phone allows `allow` and learns who it now
/// talks to by `update_method`.
async fn blind_transfer(allow: Option<&str>, update_method: &str) {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    anna.register().await;
    boris.register().await;
    let (mut caller, caller_rtp, to_caller_side, _anna_rtp, _) =
        caller_with_allow_talks_to_anna(&sw, &mut anna, allow).await;

    let refer_to = format!("Refer-To: <sip:102@{}>\r\n", sw.sip);
    anna.in_dialog("REFER", &refer_to, None).await;
    // 202 and a NOTIFY "100 Trying" (in whatever order UDP delivers them).
    let (mut accepted, mut trying) = (false, false);
    while !(accepted && trying) {
        let m = anna.recv(5).await.expect("202 and NOTIFY to Anna");
        match (m.status(), m.method()) {
            (Some(202), _) => accepted = true,
            (_, Some("NOTIFY")) => {
                assert!(m.body.contains("100"), "{}", m.body);
                assert!(m
                    .header("Subscription-State")
                    .unwrap_or("")
                    .contains("active"));
                trying = true;
                anna.respond(&m, 200, "OK", None, None).await;
            }
            (_, Some("BYE")) => panic!("Anna released before the target answered"),
            _ => {}
        }
    }

    // Boris rings; Anna stays on until he answers.
    let boris_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let inv = boris
        .expect_request("INVITE", 10)
        .await
        .expect("Boris rings");
    assert!(inv.header("From").unwrap().contains("79161234567"));
    assert!(
        anna.recv(1).await.is_none(),
        "nothing for Anna while Boris rings"
    );
    boris
        .answer(&inv, boris_rtp.local_addr().unwrap().port())
        .await;
    // Then the final NOTIFY and the BYE release Anna.
    let mut notified_ok = false;
    loop {
        let m = anna.recv(5).await.expect("NOTIFY 200 and BYE to Anna");
        match m.method() {
            Some("NOTIFY") => {
                notified_ok |= m.body.contains("200");
                anna.respond(&m, 200, "OK", None, None).await;
            }
            Some("BYE") => {
                anna.respond(&m, 200, "OK", None, None).await;
                break;
            }
            _ => {}
        }
    }
    assert!(notified_ok, "a NOTIFY with 200 preceded the BYE");

    // The caller's phone is told it talks to Boris now.
    let caller_port = caller_rtp.local_addr().unwrap().port();
    expect_identity_update(&caller, caller_port, update_method, "Boris Ivanov", "102").await;

    // The caller now talks to Boris.
    let (_, heard) = tokio::join!(
        send_tone(&caller_rtp, to_caller_side, 900.0, 50),
        count_loud(&boris_rtp, 1500)
    );
    assert!(heard >= 20, "Boris heard the caller ({heard} loud packets)");
    caller.bye().await;
    let bye = boris.expect_request("BYE", 5).await.expect("BYE to Boris");
    boris.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

#[actix_rt::test]
async fn a_failed_blind_transfer_gives_the_caller_back_to_the_transferor() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let (mut caller, caller_rtp, to_caller_side, anna_rtp, _) =
        caller_talks_to_anna(&sw, &mut anna).await;
    // Boris is not registered: the transfer cannot ring anyone.
    let refer_to = format!("Refer-To: <sip:102@{}>\r\n", sw.sip);
    anna.in_dialog("REFER", &refer_to, None).await;
    let mut failed = false;
    while !failed {
        let m = anna.recv(5).await.expect("NOTIFYs to Anna");
        if m.method() == Some("NOTIFY") {
            anna.respond(&m, 200, "OK", None, None).await;
            failed = m
                .header("Subscription-State")
                .unwrap_or("")
                .contains("terminated");
            if failed {
                assert!(
                    !m.body.contains("200"),
                    "the transfer did not succeed: {}",
                    m.body
                );
            }
        }
        assert_ne!(m.method(), Some("BYE"), "Anna keeps the call");
    }
    // The caller talks to Anna again.
    let (_, heard) = tokio::join!(
        send_tone(&caller_rtp, to_caller_side, 900.0, 50),
        count_loud(&anna_rtp, 1500)
    );
    assert!(
        heard >= 20,
        "Anna hears the caller again ({heard} loud packets)"
    );
    caller.bye().await;
    let bye = anna.expect_request("BYE", 5).await.expect("BYE to Anna");
    anna.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}

#[actix_rt::test]
async fn attended_transfer_joins_the_caller_and_the_consulted_colleague() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    anna.register().await;
    boris.register().await;
    let (caller, caller_rtp, to_caller_side, _anna_rtp, _) =
        caller_talks_to_anna(&sw, &mut anna).await;

    // Anna consults Boris from her phone's second line.
    let mut anna2 = LinePhone::new(sw.sip, "101", P101).await;
    let boris_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let boris_port = boris_rtp.local_addr().unwrap().port();
    let (ok, _inv) = tokio::join!(anna2.dial("102", 40100), async {
        let inv = boris
            .expect_request("INVITE", 10)
            .await
            .expect("Boris rings");
        boris.answer(&inv, boris_port).await;
        inv
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let consult = anna2.dialog.clone().unwrap();

    // Anna transfers the caller to Boris, replacing her consultation call.
    let replaces = format!(
        "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
        consult.call_id.replace('@', "%40"),
        consult.remote_tag,
        consult.local_tag
    );
    let refer_to = format!("Refer-To: <sip:102@{}?Replaces={replaces}>\r\n", sw.sip);
    anna.in_dialog("REFER", &refer_to, None).await;
    let accepted = anna
        .expect_response("REFER", 200, 5)
        .await
        .expect("REFER answered");
    assert_eq!(accepted.status(), Some(202), "{}", accepted.start);

    // Both of Anna's legs are released.
    let bye1 = anna
        .expect_request("BYE", 5)
        .await
        .expect("BYE on the caller's leg");
    anna.respond(&bye1, 200, "OK", None, None).await;
    let bye2 = anna2
        .expect_request("BYE", 5)
        .await
        .expect("BYE on the consultation");
    anna2.respond(&bye2, 200, "OK", None, None).await;

    // The caller and Boris hear each other.
    let (_, heard) = tokio::join!(
        send_tone(&caller_rtp, to_caller_side, 900.0, 50),
        count_loud(&boris_rtp, 1500)
    );
    assert!(heard >= 20, "Boris heard the caller ({heard} loud packets)");

    // Each remaining phone is told who it talks to now: the caller learns it is Boris (a
    // re-INVITE: its INVITE had no Allow), Boris learns the caller's number.
    let caller_port = caller_rtp.local_addr().unwrap().port();
    expect_identity_update(&caller, caller_port, "INVITE", "Boris Ivanov", "102").await;
    let update = boris
        .expect_request("INVITE", 30)
        .await
        .expect("a re-INVITE naming the caller to Boris");
    let pai = update.header("P-Asserted-Identity").unwrap_or("");
    assert!(pai.starts_with("<sip:79161234567@"), "{}", update.start);
    boris
        .respond(
            &update,
            200,
            "OK",
            Some(&Phone::sdp(boris_port, &[0, 101])),
            None,
        )
        .await;
    boris
        .expect_request("ACK", 30)
        .await
        .expect("ACK for Boris's 200");

    // Boris hangs up: the caller is released too.
    boris.in_dialog("BYE", "", None).await;
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
async fn a_blind_transfer_to_an_employee_who_queues_transfers_waits_for_him() {
    // Boris's setting says "join the queue"; his phone is not registered yet.
    let company = company().replacen(
        "    extension: \"102\"\n",
        "    extension: \"102\"\n    transfers_join_queue: true\n",
        1,
    );
    let mut sw = TestSwitch::builder().company(&company).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let (mut caller, _caller_rtp, _, _anna_rtp, _) = caller_talks_to_anna(&sw, &mut anna).await;
    let refer_to = format!("Refer-To: <sip:102@{}>\r\n", sw.sip);
    anna.in_dialog("REFER", &refer_to, None).await;
    // Nobody can take it now: the caller waits in Boris's queue and Anna is released.
    let mut released = false;
    while !released {
        let m = anna.recv(10).await.expect("NOTIFYs, then BYE, to Anna");
        match m.method() {
            Some("NOTIFY") => anna.respond(&m, 200, "OK", None, None).await,
            Some("BYE") => {
                anna.respond(&m, 200, "OK", None, None).await;
                released = true;
            }
            _ => {}
        }
    }
    // Boris registers: his phone rings for the waiting caller; he answers.
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    boris.register().await;
    let inv = boris
        .expect_request("INVITE", 30)
        .await
        .expect("Boris rings for the queued caller");
    let boris_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    boris
        .answer(&inv, boris_rtp.local_addr().unwrap().port())
        .await;
    caller.hang_up().await;
    let bye = boris.expect_request("BYE", 5).await.expect("BYE to Boris");
    boris.respond(&bye, 200, "OK", None, None).await;
    sw.stop().await;
}
