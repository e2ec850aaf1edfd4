//! Voicemail e-mail (SPEC §3) through the local SMTP sink of the harness
//! (`tests/common/smtp_sink.rs`): a message left → one e-mail with the caller's
//! number in the subject and the WAV attached; a caller gone before the beep → still an
//! e-mail, without attachment; a dead relay → the call ends as usual and the failure is
//! counted once the retries are used up; STARTTLS and implicit TLS to a relay whose
//! self-signed certificate is trusted through `[smtp] ca_file`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::Duration;
use vpbx::settings::{SmtpSettings, SmtpTlsMode};
use vpbx_store::model::Event;

/// A self-signed certificate for `localhost`: the sink's acceptor and the PEM file the
/// switch trusts (`[smtp] ca_file`).
fn localhost_tls(dir: &std::path::Path) -> (tokio_rustls::TlsAcceptor, std::path::PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join("relay.pem");
    let key = dir.join("relay.key");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let config = vpbx::http::tls::server_config(&cert, &key).unwrap();
    (
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
        cert,
    )
}

/// Number 74957000300: voicemail straight away (a short beep, then recording). Number
/// 74957000301: the 2.5 s greeting first, so a caller who hangs up at once leaves no message.
fn company() -> String {
    demo_company_with(
        "  - id: 30\n    name: Voicemail\n    start: vm\n    operations:\n      vm:\n        action: { kind: voicemail, max_s: 20, silence_s: 1, email: \"office@demo.invalid, boss@demo.invalid\" }\n        exits: { next: bye }\n      bye:\n        action: { kind: hang_up }\n\
         \x20 - id: 31\n    name: Voicemail after a greeting\n    start: vm\n    operations:\n      vm:\n        action: { kind: voicemail, prompt: { kind: file, id: 1 }, max_s: 20, silence_s: 1, email: office@demo.invalid }\n        exits: { next: bye }\n      bye:\n        action: { kind: hang_up }\n",
        "  - number: \"74957000300\"\n    rules:\n      - id: 30\n        name: Voicemail\n        scenario: 30\n\
         \x20 - number: \"74957000301\"\n    rules:\n      - id: 31\n        name: Greeting and voicemail\n        scenario: 31\n",
        "",
    )
}

/// Calls 74957000301 and hangs up during the greeting; returns once the BYE is answered.
async fn call_and_hang_up_at_once(sw: &TestSwitch) {
    let mut caller = Phone::new(sw.sip).await;
    caller.call("74957000301", 40700).await;
    caller.bye().await;
    loop {
        let m = caller.recv(10).await.expect("200 to the BYE");
        if m.status() == Some(200) && m.header("CSeq").is_some_and(|c| c.ends_with("BYE")) {
            break;
        }
    }
}

#[actix_rt::test]
async fn a_message_left_is_mailed_with_the_recording_attached() {
    let (sink, mut mails) = smtp_sink(SinkTls::Plain).await;
    let mut sw = TestSwitch::builder()
        .company(&company())
        .settings(move |s| s.smtp = relay(sink.port()))
        .start()
        .await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller
        .call("74957000300", rtp.local_addr().unwrap().port())
        .await;
    let to = ok.sdp_media_addr().unwrap();
    let mut buf = [0u8; 2048];
    tokio::time::timeout(Duration::from_secs(3), rtp.recv_from(&mut buf))
        .await
        .expect("the beep")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    send_tone(&rtp, to, 800.0, 50).await;
    let bye = loop {
        let m = caller.recv(6).await.expect("BYE after the message");
        if m.method() == Some("BYE") {
            break m;
        }
    };
    caller.ok_to(&bye).await;

    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.rcpt, ["office@demo.invalid", "boss@demo.invalid"]);
    let subject = mail.header("Subject").unwrap();
    assert!(subject.contains("79161234567"), "{subject}");
    assert!(subject.contains("Europe/Moscow"), "{subject}");
    assert!(!subject.contains("no message"), "{subject}");
    assert_eq!(mail.header("From"), Some("Voicemail <vpbx@demo.invalid>"));
    let wav = mail.attached_wav();
    assert!(wav.starts_with(b"RIFF"));
    let loud = wav_loud_seconds(&wav);
    assert!(
        loud >= 0.6,
        "the attachment holds the caller's voice ({loud} s)"
    );
    let t = &mail.text;
    assert!(t.contains("Number dialled: 74957000300"), "{t}");
    sw.stop().await;
}

#[actix_rt::test]
async fn a_caller_who_hangs_up_mid_message_gets_the_finished_recording_attached() {
    let (sink, mut mails) = smtp_sink(SinkTls::Plain).await;
    let mut sw = TestSwitch::builder()
        .company(&company())
        .settings(move |s| s.smtp = relay(sink.port()))
        .start()
        .await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sw.sip).await;
    let ok = caller
        .call("74957000300", rtp.local_addr().unwrap().port())
        .await;
    let to = ok.sdp_media_addr().unwrap();
    let mut buf = [0u8; 2048];
    tokio::time::timeout(Duration::from_secs(3), rtp.recv_from(&mut buf))
        .await
        .expect("the beep")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Speaks, then hangs up at once: the call ends while the file is still being written.
    send_tone(&rtp, to, 800.0, 50).await;
    caller.bye().await;
    let mail = next_mail(&mut mails).await;
    let subject = mail.header("Subject").unwrap();
    assert!(!subject.contains("no message"), "{subject}");
    let wav = mail.attached_wav();
    let loud = wav_loud_seconds(&wav);
    assert!(
        loud >= 0.6,
        "the attachment holds the caller's voice ({loud} s)"
    );
    sw.stop().await;
}

#[actix_rt::test]
async fn a_caller_gone_before_the_beep_still_means_an_email_without_attachment() {
    let (sink, mut mails) = smtp_sink(SinkTls::Plain).await;
    let mut sw = TestSwitch::builder()
        .company(&company())
        .settings(move |s| s.smtp = relay(sink.port()))
        .start()
        .await;
    call_and_hang_up_at_once(&sw).await;
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.rcpt, ["office@demo.invalid"]);
    let subject = mail.header("Subject").unwrap();
    assert!(subject.contains("79161234567"), "{subject}");
    assert!(subject.ends_with("(no message)"), "{subject}");
    assert!(!mail.text.contains("audio/wav"), "{}", mail.text);
    assert!(!mail.text.contains("multipart"), "{}", mail.text);
    assert!(
        mail.text
            .contains("the caller hung up before the recording started"),
        "{}",
        mail.text
    );
    sw.stop().await;
}

#[actix_rt::test]
async fn the_relay_over_starttls_and_over_implicit_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (acceptor, ca) = localhost_tls(certs.path());
    for (sink_tls, mode) in [
        (SinkTls::StartTls(acceptor.clone()), SmtpTlsMode::Starttls),
        (SinkTls::Implicit(acceptor), SmtpTlsMode::Tls),
    ] {
        let (sink, mut mails) = smtp_sink(sink_tls).await;
        let ca = ca.clone();
        let mut sw = TestSwitch::builder()
            .company(&company())
            .settings(move |s| {
                s.smtp = SmtpSettings {
                    host: Some("localhost".into()),
                    tls: mode,
                    ca_file: Some(ca),
                    ..relay(sink.port())
                }
            })
            .start()
            .await;
        call_and_hang_up_at_once(&sw).await;
        let mail = next_mail(&mut mails).await;
        let subject = mail.header("Subject").unwrap();
        assert!(subject.contains("79161234567"), "{mode:?}: {subject}");
        sw.stop().await;
    }
}

fn failed_count(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("vpbx_voicemail_emails_total{result=\"failed\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[actix_rt::test]
async fn a_dead_relay_never_holds_up_the_call() {
    // Nothing listens on this port.
    let dead = free_port();
    let mut sw = TestSwitch::builder()
        .company(&company())
        .settings(move |s| s.smtp = relay(dead))
        .start()
        .await;
    let (_, before) = sw.get("/metrics").await;
    let before = failed_count(&before);
    call_and_hang_up_at_once(&sw).await;
    // The call ended and its record says the e-mail was handed over.
    let store = sw.running().store.clone();
    let queued = |store: &vpbx_store::Store| {
        store.recent_cdrs(10).unwrap().iter().any(|c| {
            c.events.iter().any(|e| {
                matches!(&e.what, Event::Note(n) if n.contains("e-mail to office@demo.invalid queued"))
            })
        })
    };
    let mut written = false;
    for _ in 0..100 {
        written = queued(&store);
        if written {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(written, "the call's record notes the e-mail");
    // Both attempts fail; the message is given up and counted.
    let mut after = before;
    for _ in 0..300 {
        let (_, m) = sw.get("/metrics").await;
        after = failed_count(&m);
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after > before, "the failure is counted");
    sw.stop().await;
}
