//! `/health` and `/metrics` answer with live values.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

#[actix_rt::test]
async fn health_and_metrics_show_live_values() {
    let mut sw = TestSwitch::start().await;
    let (code, body) = sw.get("/health").await;
    assert_eq!(code, 200);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["store_ok"], true);
    assert_eq!(h["active_calls"], 0);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["sip_listeners"].as_array().unwrap().len(), 2);

    // During a call.
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut phone = Phone::new(sw.sip).await;
    let ok = phone
        .call("74950000001", rtp.local_addr().unwrap().port())
        .await;
    let media = ok.sdp_media_addr().unwrap();
    for i in 0..5u16 {
        rtp.send_to(&rtp_packet(i, u32::from(i) * 160, 7, &[0xFF; 160]), media)
            .await
            .unwrap();
    }
    let echoed = collect_rtp(&rtp, Duration::from_millis(300), Duration::from_secs(2)).await;
    assert_eq!(echoed.len(), 5, "the echo test sends our audio back");
    let (_, body) = sw.get("/health").await;
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["active_calls"], 1);
    phone.bye().await;
    assert_eq!(phone.recv_final(5).await.unwrap().status(), Some(200));

    // A benchmark call to completion.
    let mut p2 = Phone::new(sw.sip).await;
    p2.call("74950000000", 40202).await;
    let bye = p2.recv(5).await.expect("BYE after 0.5 s");
    assert_eq!(bye.method(), Some("BYE"));
    p2.ok_to(&bye).await;
    let stats = sw.running().stats.clone();
    assert!(
        eventually(5, || stats.active_calls() == 0
            && stats.finished_calls() >= 2)
        .await
    );

    let (_, body) = sw.get("/health").await;
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["active_calls"], 0);
    assert!(h["finished_calls"].as_u64().unwrap() >= 2);

    let (code, m) = sw.get("/metrics").await;
    assert_eq!(code, 200);
    for needle in [
        "vpbx_active_calls",
        // Both calls were answered (who hung up is in the call record, not in this label).
        "vpbx_calls_finished_total{result=\"answered\"} 2",
        "vpbx_sip_requests_total{direction=\"in\",method=\"INVITE\"}",
        "vpbx_sip_responses_total{direction=\"out\",method=\"INVITE\",code=\"200\"}",
        "vpbx_rtp_packets_sent_total",
        "vpbx_rtp_packets_received_total",
        "vpbx_actor_restarts_total{actor=\"call_supervisor\"}",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    sw.stop().await;
}
