//! A trunk to a (fake) carrier: the switch registers with digest credentials and /metrics shows
//! the registration; a line's call to an external number goes out through the trunk with the
//! company's caller ID and answers the carrier's 407; a call the carrier delivers to a DID
//! reaches the mapped virtual number.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn company(carrier_port: u16) -> String {
    let demo = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/demo.yaml"),
    )
    .unwrap();
    // Line 102 presents the main number on outbound calls.
    let demo = demo.replacen(
        &format!("        password: {P102}\n"),
        &format!("        password: {P102}\n        outbound_caller_id: \"74951234567\"\n"),
        1,
    );
    format!(
        "{demo}trunks:\n  - id: 1\n    name: Carrier\n    host: 127.0.0.1\n    port: {carrier_port}\n    auth: {{ kind: registration, username: vpbx-trunk, password: trunk-secret, expires_s: 60 }}\n    dids: [ {{ did: \"4951112233\", number: \"74951234567\" }} ]\n"
    )
}

#[actix_rt::test]
async fn trunk_registers_carries_outbound_calls_and_delivers_dids() {
    let carrier_port = free_port();
    let mut sw = TestSwitch::builder()
        .company(&company(carrier_port))
        .start()
        .await;
    let carrier = LinePhone::bind(sw.sip, "carrier", "", carrier_port).await;

    // Registration with a 401 challenge.
    let reg = carrier
        .expect_request("REGISTER", 10)
        .await
        .expect("REGISTER to the carrier");
    assert!(
        reg.start.contains(&format!("127.0.0.1:{carrier_port}")),
        "{}",
        reg.start
    );
    let mut t = String::new();
    carrier_challenge(&carrier, &reg, 401, "WWW-Authenticate", &mut t).await;
    let reg2 = carrier
        .expect_request("REGISTER", 5)
        .await
        .expect("REGISTER with credentials");
    let auth = reg2.header("Authorization").unwrap_or("");
    assert!(auth.contains("username=\"vpbx-trunk\""), "{auth}");
    assert!(auth.contains("realm=\"carrier\""), "{auth}");
    carrier.respond(&reg2, 200, "OK", None, None).await;
    // The registration shows in /metrics (and `GET /api/v1/trunks/1/status`).
    let mut registered = false;
    for _ in 0..600 {
        let (_, m) = http_get(sw.http, "/metrics").await;
        if m.contains("vpbx_trunk_registered{trunk=\"Carrier\"} 1") {
            registered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(registered, "the trunk is registered");

    // Line 102 calls out: through the trunk, with the line's caller ID.
    let mut line = LinePhone::new(sw.sip, "102", P102).await;
    let dial = line.dial("79991234567", 40200);
    let carrier_side = async {
        let inv = carrier
            .expect_request("INVITE", 10)
            .await
            .expect("INVITE to the carrier");
        assert!(
            inv.start
                .starts_with(&format!("INVITE sip:79991234567@127.0.0.1:{carrier_port}")),
            "{}",
            inv.start
        );
        assert!(
            inv.header("From").unwrap().contains("sip:74951234567@"),
            "{:?}",
            inv.header("From")
        );
        let mut t = String::new();
        carrier_challenge(&carrier, &inv, 407, "Proxy-Authenticate", &mut t).await;
        let inv2 = loop {
            let m = carrier
                .expect_request("INVITE", 5)
                .await
                .expect("INVITE with credentials");
            if m.header("Proxy-Authorization").is_some() {
                break m;
            }
        };
        assert!(inv2
            .header("Proxy-Authorization")
            .unwrap()
            .contains("vpbx-trunk"));
        let sdp = Phone::sdp(40202, &[8, 101]);
        carrier
            .respond(&inv2, 200, "OK", Some(&sdp), Some("carrier-tag"))
            .await;
        carrier
            .expect_request("ACK", 5)
            .await
            .expect("ACK from the switch");
        inv2
    };
    let (ok, _) = tokio::join!(dial, carrier_side);
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    line.in_dialog("BYE", "", None).await;
    let bye = carrier
        .expect_request("BYE", 5)
        .await
        .expect("BYE to the carrier");
    carrier.respond(&bye, 200, "OK", None, None).await;

    // The carrier delivers a DID: the mapped virtual number answers (greeting).
    let mut from_carrier = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(40204, &[0]);
    from_carrier.invite("4951112233", &sdp).await;
    let ok = from_carrier
        .recv_final(5)
        .await
        .expect("the DID call is answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    from_carrier.to_tag = ok.to_tag();
    from_carrier.ack(true).await;
    sw.stop().await;
}

/// Answers `req` with a digest challenge (realm `carrier`) in header `name`; ACKs are skipped.
async fn carrier_challenge(c: &LinePhone, req: &Msg, code: u16, name: &str, _t: &mut String) {
    let mut t = format!("SIP/2.0 {code} Unauthorized\r\n");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (n, v) in &req.headers {
            if n.eq_ignore_ascii_case(h) {
                if h == "To" && !v.contains("tag=") {
                    t.push_str(&format!("To: {v};tag=ch1\r\n"));
                } else {
                    t.push_str(&format!("{h}: {v}\r\n"));
                }
            }
        }
    }
    t.push_str(&format!(
        "{name}: Digest realm=\"carrier\", nonce=\"n0nce\", algorithm=MD5\r\nContent-Length: 0\r\n\r\n"
    ));
    c.send(&t).await;
}
