//! A phone registered over TCP is called over its own connection (the switch cannot open a new
//! connection to a phone's ephemeral port): it rings, answers, and the talk ends with a BYE
//! on the same connection.
// A test may read the clock: its waits are bounded by deadlines.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;
use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct TcpPhone {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpPhone {
    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    /// The next framed message within `secs`.
    async fn recv(&mut self, secs: u64) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        (n.eq_ignore_ascii_case("content-length") || n == "l")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + len {
                    let msg: Vec<u8> = self.buf.drain(..end + 4 + len).collect();
                    return Some(Msg::parse(&String::from_utf8_lossy(&msg)));
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn respond(req: &Msg, code: u16, reason: &str, extra: &str, body: &str) -> String {
    let mut t = format!("SIP/2.0 {code} {reason}\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (n, v) in &req.headers {
            if n.eq_ignore_ascii_case(name) {
                if name == "To" && !v.contains("tag=") && code > 100 {
                    t.push_str(&format!("To: {v};tag=tcp1\r\n"));
                } else {
                    t.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
    }
    t.push_str(extra);
    t.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    t
}

#[actix_rt::test]
async fn a_phone_registered_over_tcp_is_called_on_its_connection() {
    let mut sw = TestSwitch::start().await;
    let stream = TcpStream::connect(sw.sip).await.unwrap();
    let local = stream.local_addr().unwrap();
    let mut phone = TcpPhone {
        stream,
        buf: Vec::new(),
    };
    let mut auth = String::new();
    for cseq in 1..=2 {
        let reg = format!(
            "REGISTER sip:{srv} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-tcpreg{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:101@{srv}>;tag=tr1\r\nTo: <sip:101@{srv}>\r\nCall-ID: tcp-reg-1\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:101@{local};transport=tcp>\r\nExpires: 300\r\n{auth}Content-Length: 0\r\n\r\n",
            srv = sw.sip
        );
        phone.send(&reg).await;
        let r = phone.recv(5).await.expect("REGISTER answered");
        if r.status() == Some(200) {
            break;
        }
        assert_eq!(r.status(), Some(401), "{}", r.start);
        let ch = r
            .headers
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("WWW-Authenticate") && v.contains("MD5"))
            .map(|(_, v)| v.clone())
            .unwrap();
        auth = format!(
            "Authorization: {}\r\n",
            digest_answer(&ch, "REGISTER", &format!("sip:{}", sw.sip), "101", P101)
        );
    }

    // Boris calls Anna: the INVITE comes down her TCP connection.
    let mut boris = LinePhone::new(sw.sip, "102", P102).await;
    let (ok, _) = tokio::join!(boris.dial("101", 40900), async {
        let inv = loop {
            let m = phone.recv(10).await.expect("INVITE over TCP");
            if m.method() == Some("INVITE") {
                break m;
            }
        };
        let sdp = Phone::sdp(40902, &[0]);
        let contact = format!(
            "Contact: <sip:101@{local};transport=tcp>\r\nContent-Type: application/sdp\r\n"
        );
        phone.send(&respond(&inv, 200, "OK", &contact, &sdp)).await;
        let ack = phone.recv(5).await.expect("ACK over TCP");
        assert_eq!(ack.method(), Some("ACK"), "{}", ack.start);
    });
    assert_eq!(ok.status(), Some(200), "{}", ok.start);
    boris.in_dialog("BYE", "", None).await;
    let bye = phone.recv(5).await.expect("BYE over TCP");
    assert_eq!(bye.method(), Some("BYE"), "{}", bye.start);
    phone.send(&respond(&bye, 200, "OK", "", "")).await;
    sw.stop().await;
}
