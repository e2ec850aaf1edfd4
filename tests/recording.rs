//! A scenario with recording on writes a stereo WAV (caller left, prompts right) and a mono mix
//! under the data directory, and their metadata to the store; the caller's audio is in the left
//! channel and the prompt's in the right (energy checks).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;

use vpbx_media::g711::ulaw_encode;
use vpbx_media::goertzel::{rms, tone_power as goertzel};

#[actix_rt::test]
async fn a_recorded_call_keeps_the_caller_on_the_left() {
    let mut sw = TestSwitch::start().await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut phone = Phone::new(sw.sip).await;
    let ok = phone
        .call("74950000002", rtp.local_addr().unwrap().port())
        .await;
    let media = ok.sdp_media_addr().unwrap();
    // The caller speaks a 500 Hz tone for 4 s while the prompt plays and then the pause runs.
    let mut drain = vec![0u8; 2048];
    for i in 0..200u32 {
        let payload: Vec<u8> = (0..160)
            .map(|n| {
                let t = f64::from(i * 160 + n) / 8000.0;
                ulaw_encode((8000.0 * (2.0 * std::f64::consts::PI * 500.0 * t).sin()) as i16)
            })
            .collect();
        rtp.send_to(&rtp_packet(i as u16, i * 160, 0x5151, &payload), media)
            .await
            .unwrap();
        // Keep our socket's queue short.
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(0), rtp.recv_from(&mut drain)).await
        {
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bye = phone
        .recv(15)
        .await
        .expect("BYE at the end of the scenario");
    assert_eq!(bye.method(), Some("BYE"));
    phone.ok_to(&bye).await;

    let store = sw.running().store.clone();
    assert!(
        eventually(5, || store
            .recent_recordings(5)
            .map(|r| r.len() == 1)
            .unwrap_or(false))
        .await
    );
    let meta = store.recent_recordings(5).unwrap().remove(0);
    assert_eq!(meta.numb, "74950000002");
    assert!(meta.duration_ms >= 4000, "{meta:?}");
    let data = sw.data.path().join("data");
    let stereo = data.join(meta.stereo_path.as_ref().unwrap());
    let mono = data.join(meta.mono_path.as_ref().unwrap());
    // The files are finished by the media task just after the call ends.
    assert!(
        eventually(5, || hound::WavReader::open(&stereo).is_ok()
            && hound::WavReader::open(&mono).is_ok())
        .await
    );
    let mut r = hound::WavReader::open(&stereo).unwrap();
    assert_eq!(r.spec().channels, 2);
    assert_eq!(r.spec().sample_rate, 8000);
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let (l500, r500) = (goertzel(&left, 500.0), goertzel(&right, 500.0));
    assert!(
        l500 > 100.0 * r500.max(1.0),
        "caller tone on the left: {l500} vs right {r500}"
    );
    assert!(
        rms(&right) > 100.0,
        "the spoken prompt is on the right, rms {}",
        rms(&right)
    );
    let mono_samples: Vec<i16> = hound::WavReader::open(&mono)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    assert!(goertzel(&mono_samples, 500.0) > 0.1 * l500);
    sw.stop().await;
}
