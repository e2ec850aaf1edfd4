//! A local SMTP sink (a tokio listener that speaks the few commands a client needs) receiving
//! the switch's voicemail e-mails, plain or over TLS, and the readers of what it received.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use vpbx::settings::{SmtpSettings, SmtpTlsMode};

/// One message the sink accepted.
#[derive(Debug)]
pub struct Mail {
    pub rcpt: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, header lines unfolded.
    pub text: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split("\r\n\r\n").next()?;
        head.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The WAV attached, decoded; checks the MIME headers of its part.
    pub fn attached_wav(&self) -> Vec<u8> {
        let t = &self.text;
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
}

/// How the sink secures its connections.
#[derive(Clone)]
pub enum SinkTls {
    Plain,
    /// TLS from the first byte.
    Implicit(tokio_rustls::TlsAcceptor),
    /// Plain, offering STARTTLS.
    StartTls(tokio_rustls::TlsAcceptor),
}

/// A minimal SMTP server on 127.0.0.1: 220 greeting, EHLO/HELO 250, MAIL/RCPT 250, DATA 354 …
/// `.` 250, QUIT 221, STARTTLS 220 (when offered), anything else (RSET, NOOP) 250. Several
/// messages per connection. Returns its address and the messages as they are accepted.
pub async fn smtp_sink(tls: SinkTls) -> (SocketAddr, mpsc::UnboundedReceiver<Mail>) {
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

/// The switch's `[smtp]` settings for a plain sink on 127.0.0.1:`port` (two attempts, a second
/// apart).
pub fn relay(port: u16) -> SmtpSettings {
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

/// The next message the sink accepts (waits up to 30 s).
pub async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an e-mail reaches the sink")
        .unwrap()
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

/// Decodes the base64 body of a MIME part (line breaks ignored).
pub fn base64(text: &str) -> Vec<u8> {
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

/// Seconds of a WAV (mono, 8 kHz) louder than speech, in 20 ms frames.
pub fn wav_loud_seconds(wav: &[u8]) -> f64 {
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
