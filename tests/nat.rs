//! A phone behind NAT: its INVITE's Contact names a private address that cannot be reached;
//! the switch's in-dialog requests (here the BYE after the greeting) still reach the address
//! the INVITE really came from.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[actix_rt::test]
async fn the_bye_follows_the_nat_binding_not_the_private_contact() {
    let mut sw = TestSwitch::start().await;
    let mut phone = Phone::new(sw.sip).await;
    let sdp = Phone::sdp(40300, &[0]);
    let invite = phone.invite_text("74951234567", &sdp).replace(
        &format!("Contact: <sip:79161234567@{}>", phone.local),
        "Contact: <sip:79161234567@10.99.0.1:5099>",
    );
    assert!(invite.contains("10.99.0.1"));
    phone.send(&invite).await;
    let ok = phone.recv_final(5).await.expect("answered");
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    phone.to_tag = ok.to_tag();
    phone.ack(true).await;
    // The greeting lasts about 2.5 s, then the switch hangs up.
    let bye = loop {
        let m = phone
            .recv(8)
            .await
            .expect("the switch's BYE reaches the phone");
        if m.method() == Some("BYE") {
            break m;
        }
    };
    phone.ok_to(&bye).await;
    sw.stop().await;
}
