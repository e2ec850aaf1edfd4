//! Voicemail e-mail (SPEC §3) through a local SMTP sink written here (a tokio listener that
//! speaks the few commands a client needs): a message left → one e-mail with the caller's
//! number in the subject and the WAV attached; a caller gone before the beep → still an
//! e-mail, without attachment; a dead relay → the call ends as usual and the failure is
//! counted once the retries are used up; STARTTLS and implicit TLS to a relay whose
//! self-signed certificate is trusted through `[smtp] ca_file`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use vpbx::settings::{SmtpSettings, SmtpTlsMode};
use vpbx_store::model::Event;

/// One message the sink accepted.
#[derive(Debug)]
struct Mail {
    rcpt: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, header lines unfolded.
    text: String,
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split("\r\n\r\n").next()?;
        head.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// How the sink secures its connections.
#[derive(Clone)]
enum SinkTls {
    Plain,
    /// TLS from the first byte.
    Implicit(tokio_rustls::TlsAcceptor),
    /// Plain, offering STARTTLS.
    StartTls(tokio_rustls::TlsAcceptor),
}

/// A minimal SMTP server on 127.0.0.1: 220 greeting, EHLO/HELO 250, MAIL/RCPT 250, DATA 354 …
/// `.` 250, QUIT 221, STARTTLS 220 (when offered), anything else (RSET, NOOP) 250. Several
/// messages per connection.
async fn smtp_sink(tls: SinkTls) -> (SocketAddr, mpsc::UnboundedReceiver<Mail>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, tx.clone(), tls.clone()));
        }
    });
    (addr, rx)
}

async fn connection(
    tcp: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<Mail>,
    tls: SinkTls,
) -> Option<()> {
    match tls {
        SinkTls::Plain => {
            session(tcp, &tx, true, false).await?;
        }
        SinkTls::Implicit(acceptor) => {
            let stream = acceptor.accept(tcp).await.ok()?;
            session(stream, &tx, true, false).await?;
        }
        SinkTls::StartTls(acceptor) => {
            if let Ended::StartTls(tcp) = session(tcp, &tx, true, true).await? {
                let stream = acceptor.accept(tcp).await.ok()?;
                session(stream, &tx, false, false).await?;
            }
        }
    }
    Some(())
}

enum Ended<S> {
    Quit,
    StartTls(S),
}

/// One SMTP session on `stream` until QUIT, STARTTLS (the stream is handed back for the
/// handshake) or the end of the connection (`None`).
async fn session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    tx: &mpsc::UnboundedSender<Mail>,
    greet: bool,
    offer_starttls: bool,
) -> Option<Ended<S>> {
    let mut io = BufReader::new(stream);
    if greet {
        io.write_all(b"220 sink ESMTP\r\n").await.ok()?;
    }
    let mut rcpt = Vec::new();
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            if offer_starttls {
                b"250-sink\r\n250 STARTTLS\r\n"
            } else {
                b"250 sink\r\n"
            }
        } else if cmd == "STARTTLS" && offer_starttls {
            io.write_all(b"220 ready for TLS\r\n").await.ok()?;
            io.flush().await.ok()?;
            return Some(Ended::StartTls(io.into_inner()));
        } else if cmd.starts_with("MAIL FROM") {
            rcpt.clear();
            b"250 OK\r\n"
        } else if cmd.starts_with("RCPT TO") {
            let to = line.trim_end().get(8..).unwrap_or("").trim();
            rcpt.push(to.trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if cmd == "DATA" {
            io.write_all(b"354 go ahead\r\n").await.ok()?;
            io.flush().await.ok()?;
            let mut text = String::new();
            loop {
                let mut l = String::new();
                if io.read_line(&mut l).await.ok()? == 0 {
                    return None;
                }
                if l == ".\r\n" {
                    break;
                }
                text.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            let text = text.replace("\r\n ", " ").replace("\r\n\t", " ");
            tx.send(Mail {
                rcpt: std::mem::take(&mut rcpt),
                text,
            })
            .ok()?;
            b"250 queued\r\n"
        } else if cmd == "QUIT" {
            io.write_all(b"221 bye\r\n").await.ok()?;
            io.flush().await.ok()?;
            return Some(Ended::Quit);
        } else {
            b"250 OK\r\n"
        };
        io.write_all(reply).await.ok()?;
        io.flush().await.ok()?;
    }
}

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

/// Decodes the base64 body of a MIME part (line breaks ignored).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | u32::from(*v) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The WAV attached to `mail`, decoded; checks the MIME headers of its part.
fn attached_wav(mail: &Mail) -> Vec<u8> {
    let t = &mail.text;
    assert!(t.contains("Content-Type: multipart/mixed;"), "{t}");
    let part = t
        .split("Content-Type: audio/wav")
        .nth(1)
        .expect("a WAV attachment");
    assert!(
        part.contains("Content-Transfer-Encoding: base64"),
        "{part:.300}"
    );
    let body = part.split("\r\n\r\n").nth(1).unwrap();
    let body = body.split("\r\n--").next().unwrap();
    base64(body)
}

/// Seconds of the WAV louder than speech (20 ms frames).
fn loud_seconds(wav: &[u8]) -> f64 {
    let r = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a complete WAV");
    let samples: Vec<i16> = r.into_samples::<i16>().map(|s| s.unwrap()).collect();
    let loud = samples
        .chunks(160)
        .filter(|c| {
            (c.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / c.len() as f64).sqrt() > 1000.0
        })
        .count();
    loud as f64 * 0.02
}

fn relay(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: Some("127.0.0.1".into()),
        port,
        tls: SmtpTlsMode::None,
        from: "Voicemail <vpbx@demo.invalid>".into(),
        timeout_s: 5,
        attempts: 2,
        retry_s: 1,
        ..Default::default()
    }
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

async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an e-mail reaches the sink")
        .unwrap()
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
    let wav = attached_wav(&mail);
    assert!(wav.starts_with(b"RIFF"));
    let loud = loud_seconds(&wav);
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
    let wav = attached_wav(&mail);
    let loud = loud_seconds(&wav);
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
