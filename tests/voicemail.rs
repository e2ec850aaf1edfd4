//! The voicemail operation (beep, record until silence after speech, then the scenario goes on)
//! and the recorder talk option (the employee keys `*1` to start and stop recording the talk):
//! the files exist, carry the caller's voice, and their metadata is in the store.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

fn company() -> String {
    demo_company_with(
        "  - id: 30\n    name: Voicemail\n    start: vm\n    operations:\n      vm:\n        action: { kind: voicemail, max_s: 20, silence_s: 1, email: office@demo.invalid }\n        exits: { next: bye }\n      bye:\n        action: { kind: hang_up }\n",
        "  - number: \"74957000300\"\n    rules:\n      - id: 30\n        name: Voicemail\n        scenario: 30\n",
        "talk_options:\n  - id: 1\n    keys: \"*1\"\n    action: { kind: recorder }\n",
    )
}

fn loud_seconds(path: &std::path::Path, channel: usize) -> f64 {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let ch = usize::from(spec.channels);
    let samples: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let frames: Vec<i16> = samples.iter().skip(channel).step_by(ch).copied().collect();
    let loud = frames
        .chunks(160)
        .filter(|c| {
            (c.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / c.len() as f64).sqrt() > 1000.0
        })
        .count();
    loud as f64 * 0.02
}

#[actix_rt::test]
async fn voicemail_records_until_silence_then_the_scenario_goes_on() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller
        .call("74957000300", rtp.local_addr().unwrap().port())
        .await;
    let to = ok.sdp_media_addr().unwrap();
    // The beep comes first, then the caller speaks for a second and falls silent.
    let mut buf = [0u8; 2048];
    tokio::time::timeout(Duration::from_secs(3), rtp.recv_from(&mut buf))
        .await
        .expect("the beep")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    send_tone(&rtp, to, 800.0, 50).await;
    // Silence after speech ends the message; the scenario hangs up.
    let bye = loop {
        let m = caller.recv(6).await.expect("BYE after the message");
        if m.method() == Some("BYE") {
            break m;
        }
    };
    caller.ok_to(&bye).await;
    let store = sw.running().store.clone();
    let mut meta = None;
    for _ in 0..600 {
        meta = store.recent_recordings(10).unwrap().into_iter().find(|r| {
            r.mono_path
                .as_deref()
                .is_some_and(|p| p.starts_with("voicemail/"))
        });
        if meta.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let meta = meta.expect("voicemail metadata stored");
    assert!(meta.stereo_path.is_none());
    let file = sw.data.path().join("data").join(meta.mono_path.unwrap());
    let loud = loud_seconds(&file, 0);
    assert!(
        loud >= 0.6,
        "the message holds the caller's voice ({loud} s)"
    );
    sw.stop().await;
}

#[actix_rt::test]
async fn the_employee_starts_and_stops_recording_with_a_talk_option() {
    let mut sw = TestSwitch::builder().company(&company()).start().await;
    let mut anna = LinePhone::new(sw.sip, "101", P101).await;
    anna.register().await;
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    let boris_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = boris_rtp.local_addr().unwrap().port();
    let (ok, _) = tokio::join!(boris.dial("101", port), async {
        let inv = anna.expect_request("INVITE", 10).await.unwrap();
        anna.answer(&inv, 40600).await;
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    let to = Msg::parse(&format!("X\r\n\r\n{}", ok.body))
        .sdp_media_addr()
        .unwrap();

    let key = |d: char| format!("Signal={d}\r\nDuration=160\r\n");
    for d in ['*', '1'] {
        anna.in_dialog_body("INFO", "", Some(("application/dtmf-relay", &key(d))))
            .await;
        let r = anna.expect_response("INFO", 200, 3).await.unwrap();
        assert_eq!(r.status(), Some(200));
    }
    send_tone(&boris_rtp, to, 600.0, 50).await;
    for d in ['*', '1'] {
        anna.in_dialog_body("INFO", "", Some(("application/dtmf-relay", &key(d))))
            .await;
        anna.expect_response("INFO", 200, 3).await.unwrap();
    }
    let store = sw.running().store.clone();
    let mut meta = None;
    for _ in 0..600 {
        meta = store
            .recent_recordings(10)
            .unwrap()
            .into_iter()
            .find(|r| r.stereo_path.is_some());
        if meta.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let meta = meta.expect("the recorded part is filed when recording stops");
    assert_eq!(meta.employee, Some(1));
    let stereo = sw.data.path().join("data").join(meta.stereo_path.unwrap());
    assert!(eventually(5, || hound::WavReader::open(&stereo).is_ok()).await);
    // Caller (Boris) on the left.
    let loud = loud_seconds(&stereo, 0);
    assert!(
        loud >= 0.6,
        "the caller is heard in the recording ({loud} s)"
    );
    boris.in_dialog("BYE", "", None).await;
    sw.stop().await;
}
