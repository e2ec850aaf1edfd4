//! The mailer: voicemail notifications by e-mail (SPEC §3), on a tokio task of its own.
//!
//! Calls hand a [`Notice`] to a [`MailLink`] and go on: the hand-over never waits, whatever the
//! relay does. The task owns the pure [`MailQueue`] (bounded, one message in flight, bounded
//! retries with backoff) and runs its loop: take new notices, start the attempt the queue
//! names, wait for the first of a new notice, the attempt's outcome or the queue's deadline.
//! An attempt reads the recording (waiting briefly for its writer to finish the file), builds
//! the MIME message and sends it through lettre's SMTP transport (rustls, no OpenSSL).
//!
//! Metrics: `vpbx_voicemail_emails_total{result}` (`sent`, `failed` after the last attempt,
//! `dropped` from a full queue or after the mailer stopped, `disabled` when no relay is
//! configured) and the gauge `vpbx_voicemail_email_queue` (messages held).

use crate::clock::Clock;
use crate::core::mail::{MailQueue, Notice, Outcome, RetryPolicy, Verdict};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or a trusted network only).
    None,
    /// Plain connection upgraded with STARTTLS; a relay that does not offer it is an error
    /// (no downgrade).
    Starttls,
    /// TLS from the first byte (SMTPS, "implicit TLS").
    Tls,
}

impl SmtpTls {
    /// The usual port of the mode: 25, 587 (submission) or 465 (submissions).
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// The relay and the queue's limits.
#[derive(Clone)]
pub struct MailerConfig {
    /// Relay host name (also the name its certificate is checked against).
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// User name and password for SMTP AUTH, if the relay wants them.
    pub credentials: Option<(String, String)>,
    /// Certificates (PEM) trusted for the relay besides the system's roots: a private CA or
    /// the relay's own self-signed certificate.
    pub ca_file: Option<PathBuf>,
    /// The `From` address (`vpbx@example.com` or `Voicemail <vpbx@example.com>`).
    pub from: String,
    /// Limit of one SMTP command.
    pub timeout: Duration,
    /// Most messages held; a full queue drops its oldest waiting message.
    pub capacity: usize,
    /// Retries.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for MailerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("ca_file", &self.ca_file)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("capacity", &self.capacity)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Why the mailer could not start.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The `From` address does not parse.
    #[error("smtp.from: {0:?} is not an e-mail address ({1})")]
    From(String, String),
    /// The relay's TLS parameters could not be built.
    #[error("smtp.host: {0}")]
    Relay(String),
    /// The extra certificates could not be read.
    #[error("smtp.ca_file: {0}: {1}")]
    CaFile(String, String),
}

/// What became of a notice handed to [`MailLink::submit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Queued for the relay.
    Queued,
    /// No relay is configured: not sent (logged and counted).
    Disabled,
    /// The notice names no recipient: nothing to send.
    NoRecipient,
    /// The mailer task is gone (the switch is stopping): not sent (logged and counted).
    Stopped,
}

enum Cmd {
    Send(Notice),
    Flush(oneshot::Sender<usize>),
}

/// The calls' handle on the mailer. `Default` is a mailer with no relay: every notice is
/// logged as not sent.
#[derive(Clone, Default)]
pub struct MailLink {
    tx: Option<mpsc::UnboundedSender<Cmd>>,
}

impl MailLink {
    /// Starts the mailer task on the current tokio runtime.
    pub fn start(
        config: MailerConfig,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Result<MailLink, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::From(config.from.clone(), e.to_string())
            })?;
        let transport = transport(&config)?;
        let (tx, rx) = mpsc::unbounded_channel();
        info!(
            relay = %config.host,
            port = config.port,
            tls = ?config.tls,
            from = %config.from,
            "voicemail e-mail through the SMTP relay"
        );
        let task = Task {
            queue: MailQueue::new(config.capacity, config.retry),
            rx,
            transport,
            from,
            data_dir,
            clock,
            flushes: Vec::new(),
        };
        tokio::spawn(task.run());
        Ok(MailLink { tx: Some(tx) })
    }

    /// Whether a relay is configured.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Hands a notice over; never waits.
    pub fn submit(&self, notice: Notice) -> Submitted {
        if notice.to.is_empty() {
            return Submitted::NoRecipient;
        }
        let Some(tx) = &self.tx else {
            warn!(
                call_id = %notice.call_id,
                to = %notice.to.join(", "),
                "voicemail e-mail not sent: no SMTP relay configured (set [smtp] host)"
            );
            count("disabled");
            return Submitted::Disabled;
        };
        match tx.send(Cmd::Send(notice)) {
            Ok(()) => Submitted::Queued,
            Err(mpsc::error::SendError(_)) => {
                warn!("voicemail e-mail not sent: the mailer has stopped");
                count("dropped");
                Submitted::Stopped
            }
        }
    }

    /// Waits until no attempt is in flight and none is due; answers the messages still held
    /// (waiting for a retry). For shutdown, under a timeout of the caller's choice.
    pub async fn flush(&self) -> usize {
        let Some(tx) = &self.tx else {
            return 0;
        };
        let (reply, rx) = oneshot::channel();
        if tx.send(Cmd::Flush(reply)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }
}

fn count(result: &'static str) {
    metrics::counter!("vpbx_voicemail_emails_total", "result" => result).increment(1);
}

/// TLS parameters of the relay: the system's roots, plus `ca_file`'s certificates.
fn tls_parameters(config: &MailerConfig) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| MailError::CaFile(path.display().to_string(), e.to_string()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| MailError::CaFile(path.display().to_string(), e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| MailError::Relay(e.to_string()))
}

fn transport(config: &MailerConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls = match config.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(config)?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters(config)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    if let Some((user, password)) = &config.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// The recording read for the attachment: its bytes, or why it could not be attached.
pub type Recording = Result<Vec<u8>, String>;

/// The MIME message of `notice`: `From`, every recipient in `To`, the subject, `Date` (the
/// time of the attempt), a plain-text body and, when a message was recorded, the WAV as an
/// `audio/wav` attachment (base64). A recording that could not be read is said in the body.
pub fn build_message(
    from: &Mailbox,
    notice: &Notice,
    recording: Option<Recording>,
    date: SystemTime,
) -> Result<Message, String> {
    // One id per voicemail, the same on every attempt: a retry after a reply that was lost
    // is recognisably the same message.
    let message_id = format!(
        "<voicemail.{}.{}@{}>",
        notice
            .call_id
            .replace(|c: char| !c.is_ascii_alphanumeric(), ""),
        notice.at_unix_ms,
        from.email.domain()
    );
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(notice.subject())
        .date(date)
        .message_id(Some(message_id));
    for to in &notice.to {
        let mbox: Mailbox = to
            .parse()
            .map_err(|e| format!("recipient {to:?} is not an e-mail address ({e})"))?;
        builder = builder.to(mbox);
    }
    let mut body = notice.body();
    let wav = match recording {
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(why)) => {
            body.push_str(&format!(
                "\r\nThe recording could not be attached: {why}\r\n"
            ));
            None
        }
        None => None,
    };
    let text = SinglePart::plain(body);
    let message = match (wav, notice.attachment_name()) {
        (Some(bytes), Some(name)) => {
            let wav_type = ContentType::parse("audio/wav").map_err(|e| e.to_string())?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(text)
                    .singlepart(Attachment::new(name).body(bytes, wav_type)),
            )
        }
        _ => builder.singlepart(text),
    };
    message.map_err(|e| e.to_string())
}

/// Whether `bytes` is a WAV file its writer has finished: the RIFF size matches the length
/// (a writer that is still going has the header it started with).
pub fn wav_finished(bytes: &[u8]) -> bool {
    bytes.len() >= 44
        && bytes.starts_with(b"RIFF")
        && bytes
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .is_some_and(|b| u32::from_le_bytes(b) as usize + 8 == bytes.len())
}

/// Reads the recording, waiting up to about five seconds for its writer to finish it (a
/// caller who hangs up mid-message ends the call before the file is closed).
async fn read_recording(data_dir: PathBuf, rel: String) -> Recording {
    let path = vpbx_store::files::confine(&data_dir, &rel).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for _ in 0..25 {
        let p = path.clone();
        match tokio::task::spawn_blocking(move || std::fs::read(p)).await {
            Ok(Ok(bytes)) if wav_finished(&bytes) => return Ok(bytes),
            Ok(Ok(_)) => last = "the recording was not finished".into(),
            Ok(Err(e)) => last = format!("{rel}: {e}"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

type Sending = Pin<Box<dyn Future<Output = (crate::core::mail::MailId, Outcome)> + Send>>;

struct Task {
    queue: MailQueue<Notice>,
    rx: mpsc::UnboundedReceiver<Cmd>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    flushes: Vec<oneshot::Sender<usize>>,
}

impl Task {
    async fn run(mut self) {
        let mut sending: Option<Sending> = None;
        loop {
            let now = self.clock.now();
            if sending.is_none() {
                if let Some(a) = self.queue.poll_transmit(now) {
                    sending = Some(self.attempt(a.id, a.attempt, a.item));
                }
            }
            metrics::gauge!("vpbx_voicemail_email_queue").set(self.queue.len() as f64);
            let deadline = match sending {
                Some(_) => None,
                None => self.queue.poll_timeout(),
            };
            if sending.is_none() && !self.flushes.is_empty() {
                let held = self.queue.len();
                for f in self.flushes.drain(..) {
                    let _ = f.send(held);
                }
            }
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(Cmd::Send(notice)) => self.push(notice),
                    Some(Cmd::Flush(reply)) => self.flushes.push(reply),
                    // Every link is gone: the switch has stopped.
                    None => break,
                },
                (id, outcome) = in_flight(sending.as_mut()) => {
                    sending = None;
                    let now = self.clock.now();
                    let verdict = self.queue.handle_outcome(now, id, outcome);
                    self.report(verdict, now);
                }
                () = wait_until(deadline) => {}
            }
        }
        let held = self.queue.len();
        if held > 0 {
            warn!(
                messages = held,
                "mailer stopped with voicemail e-mails unsent"
            );
        }
    }

    fn push(&mut self, notice: Notice) {
        let (_, dropped) = self.queue.push(self.clock.now(), notice);
        if let Some(v) = dropped {
            self.report(v, self.clock.now());
        }
    }

    fn attempt(&self, id: crate::core::mail::MailId, attempt: u32, notice: Notice) -> Sending {
        let transport = self.transport.clone();
        let from = self.from.clone();
        let data_dir = self.data_dir.clone();
        let date = UNIX_EPOCH + Duration::from_millis(self.clock.unix_ms());
        Box::pin(async move {
            let recording = match notice.recording() {
                Some(rel) => Some(read_recording(data_dir, rel.to_owned()).await),
                None => None,
            };
            let message = match build_message(&from, &notice, recording, date) {
                Ok(m) => m,
                Err(why) => return (id, Outcome::Permanent(why)),
            };
            let outcome = match transport.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
                Err(e) => Outcome::Transient(e.to_string()),
            };
            if let Outcome::Transient(why) = &outcome {
                warn!(call_id = %notice.call_id, attempt, error = %why, "voicemail e-mail attempt failed");
            }
            (id, outcome)
        })
    }

    fn report(&self, verdict: Verdict<Notice>, now: std::time::Instant) {
        match verdict {
            Verdict::Sent { attempts, item } => {
                info!(call_id = %item.call_id, attempts, "voicemail e-mail sent");
                count("sent");
            }
            Verdict::Retry { at, attempts, why } => {
                info!(
                    attempts,
                    retry_in_s = at.saturating_duration_since(now).as_secs(),
                    error = %why,
                    "voicemail e-mail will be retried"
                );
            }
            Verdict::Failed {
                attempts,
                why,
                item,
            } => {
                warn!(call_id = %item.call_id, attempts, error = %why, "voicemail e-mail failed; giving up");
                count("failed");
            }
            Verdict::Dropped { attempts, item } => {
                warn!(
                    call_id = %item.call_id,
                    attempts,
                    "voicemail e-mail dropped: the mail queue is full"
                );
                count("dropped");
            }
            Verdict::Unknown => {}
        }
    }
}

/// The attempt in flight, or never.
async fn in_flight(sending: Option<&mut Sending>) -> (crate::core::mail::MailId, Outcome) {
    match sending {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`, or forever.
async fn wait_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mail::NoticeOutcome;

    fn notice(outcome: NoticeOutcome) -> Notice {
        Notice {
            call_id: "00ab".into(),
            to: vec!["office@demo.invalid".into(), "boss@demo.invalid".into()],
            caller: "79161234567".into(),
            dialled: "74957000300".into(),
            at_unix_ms: 1_796_616_090_000,
            time_zone: "Europe/Moscow".into(),
            outcome,
        }
    }

    /// The message as sent, header lines unfolded.
    fn text(m: &Message) -> String {
        String::from_utf8(m.formatted())
            .unwrap()
            .replace("\r\n ", " ")
    }

    fn wav(samples: usize) -> Vec<u8> {
        let data = (samples * 2) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&16000u32.to_le_bytes());
        b.extend_from_slice(&[2, 0, 16, 0]);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data.to_le_bytes());
        b.resize(44 + samples * 2, 7);
        b
    }

    #[test]
    fn a_message_with_the_recording_attached() {
        let from: Mailbox = "Voicemail <vpbx@demo.invalid>".parse().unwrap();
        let n = notice(NoticeOutcome::Recorded {
            path: "voicemail/00ab.wav".into(),
            duration_ms: 2000,
        });
        let date = UNIX_EPOCH + Duration::from_millis(n.at_unix_ms);
        let m = build_message(&from, &n, Some(Ok(wav(16000))), date).unwrap();
        let t = text(&m);
        assert!(
            t.contains("Subject: Voicemail from 79161234567, 2026-12-07 07:01 Europe/Moscow\r\n"),
            "{t}"
        );
        assert!(t.contains("From: Voicemail <vpbx@demo.invalid>\r\n"), "{t}");
        assert!(
            t.contains("To: office@demo.invalid, boss@demo.invalid\r\n"),
            "{t}"
        );
        assert!(
            t.contains("Date: Mon, 07 Dec 2026 04:01:30 +0000\r\n"),
            "{t}"
        );
        assert!(t.contains("Content-Type: multipart/mixed;"), "{t}");
        assert!(t.contains("Content-Type: audio/wav\r\n"), "{t}");
        assert!(
            t.contains(
                "Content-Disposition: attachment; filename=\"voicemail-79161234567-00ab.wav\""
            ),
            "{t}"
        );
        assert!(t.contains("Content-Transfer-Encoding: base64\r\n"), "{t}");
        assert!(t.contains("Call id: 00ab"), "{t}");
        assert!(
            t.contains("Message-ID: <voicemail.00ab.1796616090000@demo.invalid>\r\n"),
            "{t}"
        );
        assert_eq!(m.envelope().to().len(), 2);
    }

    #[test]
    fn no_message_no_attachment() {
        let from: Mailbox = "vpbx@demo.invalid".parse().unwrap();
        let n = notice(NoticeOutcome::NoMessage);
        let m = build_message(&from, &n, None, UNIX_EPOCH).unwrap();
        let t = text(&m);
        assert!(t.contains("(no message)\r\n"), "{t}");
        assert!(!t.contains("multipart"), "{t}");
        assert!(!t.contains("audio/wav"), "{t}");
        assert!(
            t.contains("the caller hung up before the recording started"),
            "{t}"
        );
    }

    #[test]
    fn an_unreadable_recording_is_said_in_the_body() {
        let from: Mailbox = "vpbx@demo.invalid".parse().unwrap();
        let n = notice(NoticeOutcome::Recorded {
            path: "voicemail/00ab.wav".into(),
            duration_ms: 2000,
        });
        let m = build_message(&from, &n, Some(Err("gone".into())), UNIX_EPOCH).unwrap();
        let t = text(&m);
        assert!(
            t.contains("The recording could not be attached: gone"),
            "{t}"
        );
        assert!(!t.contains("audio/wav"), "{t}");
    }

    #[test]
    fn a_bad_recipient_is_a_permanent_error() {
        let from: Mailbox = "vpbx@demo.invalid".parse().unwrap();
        let mut n = notice(NoticeOutcome::NoMessage);
        n.to = vec!["not an address".into()];
        let e = build_message(&from, &n, None, UNIX_EPOCH).unwrap_err();
        assert!(e.contains("not an address"), "{e}");
    }

    #[test]
    fn only_a_finished_wav_is_attached() {
        let done = wav(100);
        assert!(wav_finished(&done));
        let mut growing = done.clone();
        growing.extend_from_slice(&[0; 320]);
        assert!(!wav_finished(&growing));
        assert!(!wav_finished(&done[..20]));
        assert!(!wav_finished(b""));
    }

    fn config(tls: SmtpTls) -> MailerConfig {
        MailerConfig {
            host: "mail.demo.invalid".into(),
            port: tls.default_port(),
            tls,
            credentials: Some(("pbx".into(), "secret".into())),
            ca_file: None,
            from: "vpbx@demo.invalid".into(),
            timeout: Duration::from_secs(5),
            capacity: 10,
            retry: RetryPolicy {
                attempts: 2,
                first_retry: Duration::from_secs(1),
                max_retry: Duration::from_secs(2),
            },
        }
    }

    struct NoClock;
    impl Clock for NoClock {
        fn unix_ms(&self) -> u64 {
            0
        }
        fn now(&self) -> std::time::Instant {
            crate::clock::test_origin()
        }
    }

    #[test]
    fn a_from_that_does_not_parse_stops_the_start() {
        let bad = MailerConfig {
            from: "voicemail at the office".into(),
            ..config(SmtpTls::None)
        };
        let e = MailLink::start(bad, PathBuf::from("."), Arc::new(NoClock))
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("smtp.from:"), "{e}");
    }

    /// (Inside a runtime: the connection pool spawns its janitor task.)
    #[actix_rt::test]
    async fn every_tls_mode_builds_its_transport() {
        for tls in [SmtpTls::None, SmtpTls::Starttls, SmtpTls::Tls] {
            let config = config(tls);
            assert!(transport(&config).is_ok(), "{tls:?}");
            assert!(!format!("{config:?}").contains("secret"));
            let missing = MailerConfig {
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..config
            };
            match (tls, transport(&missing)) {
                (SmtpTls::None, r) => assert!(r.is_ok()),
                (_, Err(e)) => assert!(e.to_string().contains("smtp.ca_file"), "{e}"),
                (_, Ok(_)) => panic!("{tls:?}: a missing ca_file is an error"),
            }
        }
    }

    #[test]
    fn without_a_relay_nothing_is_queued() {
        let link = MailLink::default();
        assert!(!link.enabled());
        assert_eq!(
            link.submit(notice(NoticeOutcome::NoMessage)),
            Submitted::Disabled
        );
        let mut none = notice(NoticeOutcome::NoMessage);
        none.to.clear();
        assert_eq!(link.submit(none), Submitted::NoRecipient);
    }
}
