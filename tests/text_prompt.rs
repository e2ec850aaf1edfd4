//! A text prompt is spoken by text-to-speech (espeak-ng) and arrives as audible RTP; a text the
//! engine cannot speak is skipped with a reason and the call goes on.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

const COMPANY: &str = r#"
company: Talking Co
time_zone: Europe/Moscow
scenarios:
  - id: 1
    name: Speak, then hang up
    start: hello
    operations:
      hello:
        action: { kind: info_message, prompt: { kind: text, text: "Hello, you have reached the demo company.", voice: en } }
        exits: { next: bye }
      bye:
        action: { kind: hang_up }
  - id: 2
    name: Bad voice, then silence
    start: hello
    operations:
      hello:
        action: { kind: info_message, prompt: { kind: text, text: "x", voice: "--bad voice" } }
        exits: { next: pause }
      pause:
        action: { kind: pause, ms: 200 }
numbers:
  - number: "74951110001"
    rules: [ { id: 1, name: always, scenario: 1 } ]
  - number: "74951110002"
    rules: [ { id: 2, name: always, scenario: 2 } ]
"#;

#[actix_rt::test]
async fn a_text_prompt_is_spoken() {
    let mut sw = TestSwitch::start_with(Some(COMPANY)).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut phone = Phone::new(sw.sip).await;
    phone
        .call("74951110001", rtp.local_addr().unwrap().port())
        .await;
    let packets = collect_rtp(&rtp, Duration::from_millis(2500), Duration::from_secs(20)).await;
    // Over a second of speech.
    assert!(packets.len() > 50, "{} packets", packets.len());
    let samples: Vec<i16> = packets
        .iter()
        .flat_map(|p| p[12..].iter().map(|b| vpbx_media::g711::ulaw_decode(*b)))
        .collect();
    let rms = vpbx_media::goertzel::rms(&samples);
    assert!(rms > 300.0, "speech is audible, rms {rms}");
    let bye = phone.recv(5).await.expect("BYE after the prompt");
    assert_eq!(bye.method(), Some("BYE"));
    phone.ok_to(&bye).await;

    // A voice espeak-ng refuses: the prompt is skipped, the call goes on to the pause.
    let mut p2 = Phone::new(sw.sip).await;
    p2.call("74951110002", 40300).await;
    let bye = p2.recv(10).await.expect("BYE after the pause");
    assert_eq!(bye.method(), Some("BYE"));
    p2.ok_to(&bye).await;
    let store = sw.running().store.clone();
    assert!(
        eventually(5, || store
            .recent_cdrs(10)
            .map(|c| c.len() == 2)
            .unwrap_or(false))
        .await
    );
    let cdrs = store.recent_cdrs(10).unwrap();
    let skipped = cdrs.iter().find(|c| c.numb == "74951110002").unwrap();
    assert!(
        skipped.what().any(|e| matches!(
            e,
            vpbx_store::model::Event::PromptFailed { why } if why.contains("text-to-speech")
        )),
        "{:?}",
        skipped.events
    );
    sw.stop().await;
}
