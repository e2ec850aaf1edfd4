//! SIP: one UDP socket, dialogs keyed by Call-ID.

use crate::rtp::{Gen, Holes, MediaCall};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

pub(crate) struct Msg<'a> {
    pub(crate) start: &'a str,
    pub(crate) headers: Vec<(&'a str, &'a str)>,
    pub(crate) body: &'a str,
}

impl<'a> Msg<'a> {
    pub(crate) fn parse(text: &'a str) -> Msg<'a> {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim(), v.trim()))
            .collect();
        Msg {
            start,
            headers,
            body,
        }
    }
    pub(crate) fn status(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
    pub(crate) fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
    pub(crate) fn call_id(&self) -> Option<&'a str> {
        self.header("Call-ID").or_else(|| self.header("i"))
    }
    pub(crate) fn cseq_method(&self) -> Option<&'a str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }
    pub(crate) fn to_tag(&self) -> Option<String> {
        self.header("To")
            .or_else(|| self.header("t"))?
            .split(';')
            .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
    }
    pub(crate) fn sdp_media_addr(&self) -> Option<SocketAddr> {
        let ip = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))?
            .trim();
        let port = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split_whitespace()
            .next()?;
        format!("{ip}:{port}").parse().ok()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum St {
    Inviting,
    Established,
    /// Final non-2xx status, or 0 for no final answer in time, or 1 for an unusable SDP.
    Failed(u16),
    ByeSent,
    Closed,
}

pub(crate) struct Dialog {
    pub(crate) call_id: String,
    pub(crate) from_tag: String,
    pub(crate) to_tag: Option<String>,
    pub(crate) invite: String,
    pub(crate) invite_branch: String,
    pub(crate) st: St,
    pub(crate) provisional: bool,
    pub(crate) last_tx: Instant,
    pub(crate) tries: u32,
    pub(crate) bye: String,
    pub(crate) bye_status: Option<u16>,
    pub(crate) remote_bye: bool,
    pub(crate) rtp: Option<StdUdpSocket>,
    pub(crate) answered_at: Option<Instant>,
    pub(crate) invited_at: Instant,
}

pub(crate) struct Sip {
    pub(crate) sock: UdpSocket,
    pub(crate) local: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) number: String,
    pub(crate) dialogs: Vec<Dialog>,
    pub(crate) by_cid: HashMap<String, usize>,
    pub(crate) media: Gen,
    pub(crate) branch_seq: u64,
    pub(crate) next_rtp_port: u16,
    pub(crate) last_retx_check: Instant,
    pub(crate) retransmits: u64,
    pub(crate) stray: u64,
    /// Requests the switch sent to the callers, by method (each answered 200 without a body).
    pub(crate) requests: HashMap<String, u64>,
    pub(crate) setup_ms: Vec<u64>,
}

impl Sip {
    pub(crate) fn branch(&mut self) -> String {
        self.branch_seq += 1;
        format!("z9hG4bK-soak-{}-{}", std::process::id(), self.branch_seq)
    }

    pub(crate) fn bind_rtp(&mut self) -> Result<StdUdpSocket, String> {
        for _ in 0..20000 {
            let port = self.next_rtp_port;
            self.next_rtp_port = if port >= 39999 { 10000 } else { port + 1 };
            if let Ok(s) = StdUdpSocket::bind(("127.0.0.1", port)) {
                s.set_nonblocking(true).map_err(|e| e.to_string())?;
                return Ok(s);
            }
        }
        Err("no free local RTP port".into())
    }

    pub(crate) async fn send(&self, text: &str) {
        // A full socket buffer on loopback is a local problem; retransmission covers it.
        let _ = self.sock.send_to(text.as_bytes(), self.server).await;
    }

    pub(crate) async fn invite(&mut self) -> Result<(), String> {
        let rtp = self.bind_rtp()?;
        let rtp_port = rtp.local_addr().unwrap().port();
        let n: u64 = rand::random();
        let call_id = format!("soak-{n:016x}@127.0.0.1");
        let from_tag = format!("st{n:x}");
        let branch = self.branch();
        let sdp = format!(
            "v=0\r\no=soak 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let text = format!(
            "INVITE sip:{num}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Soak\" <sip:79161234567@127.0.0.1>;tag={from_tag}\r\nTo: <sip:{num}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:79161234567@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            num = self.number,
            srv = self.server,
            local = self.local,
            len = sdp.len(),
        );
        self.send(&text).await;
        let now = Instant::now();
        self.by_cid.insert(call_id.clone(), self.dialogs.len());
        self.dialogs.push(Dialog {
            call_id,
            from_tag,
            to_tag: None,
            invite: text,
            invite_branch: branch,
            st: St::Inviting,
            provisional: false,
            last_tx: now,
            tries: 0,
            bye: String::new(),
            bye_status: None,
            remote_bye: false,
            rtp: Some(rtp),
            answered_at: None,
            invited_at: now,
        });
        Ok(())
    }

    pub(crate) fn in_dialog(&self, i: usize, method: &str, cseq: u32, branch: &str) -> String {
        let d = &self.dialogs[i];
        let to = match &d.to_tag {
            Some(t) => format!("<sip:{}@127.0.0.1>;tag={t}", self.number),
            None => format!("<sip:{}@127.0.0.1>", self.number),
        };
        format!(
            "{method} sip:{num}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Soak\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            num = self.number,
            srv = self.server,
            local = self.local,
            ft = d.from_tag,
            cid = d.call_id,
        )
    }

    pub(crate) async fn bye(&mut self, i: usize) {
        let br = self.branch();
        let text = self.in_dialog(i, "BYE", 2, &br);
        self.send(&text).await;
        let d = &mut self.dialogs[i];
        d.bye = text;
        d.st = St::ByeSent;
        d.last_tx = Instant::now();
        d.tries = 0;
    }

    pub(crate) async fn handle(&mut self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let m = Msg::parse(&text);
        let Some(&i) = m.call_id().and_then(|c| self.by_cid.get(c)) else {
            self.stray += 1;
            return;
        };
        match m.status() {
            None => {
                // A request from the switch: answer 200 (BYE ends the dialog from its side).
                let method = m.start.split_whitespace().next().unwrap_or("");
                *self.requests.entry(method.to_string()).or_default() += 1;
                if method == "ACK" {
                    return;
                }
                let mut t = String::from("SIP/2.0 200 OK\r\n");
                for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                    for (n, v) in &m.headers {
                        if n.eq_ignore_ascii_case(name) {
                            t.push_str(&format!("{name}: {v}\r\n"));
                        }
                    }
                }
                t.push_str("Content-Length: 0\r\n\r\n");
                self.send(&t).await;
                if method == "BYE" {
                    let d = &mut self.dialogs[i];
                    d.remote_bye = true;
                    d.st = St::Closed;
                }
            }
            Some(code) => match m.cseq_method() {
                Some("INVITE") => self.on_invite_response(i, code, &m).await,
                Some("BYE") if code >= 200 => {
                    let d = &mut self.dialogs[i];
                    d.bye_status = Some(code);
                    d.st = St::Closed;
                }
                _ => {}
            },
        }
    }

    pub(crate) async fn on_invite_response(&mut self, i: usize, code: u16, m: &Msg<'_>) {
        if code < 200 {
            self.dialogs[i].provisional = true;
            return;
        }
        if self.dialogs[i].to_tag.is_none() {
            self.dialogs[i].to_tag = m.to_tag();
        }
        if code >= 300 {
            // ACK for a non-2xx final: the INVITE's branch.
            let br = self.dialogs[i].invite_branch.clone();
            let ack = self.in_dialog(i, "ACK", 1, &br);
            self.send(&ack).await;
            if self.dialogs[i].st == St::Inviting {
                self.dialogs[i].st = St::Failed(code);
            }
            return;
        }
        // 2xx (first or retransmitted): always ACK.
        let br = self.branch();
        let ack = self.in_dialog(i, "ACK", 1, &br);
        self.send(&ack).await;
        match self.dialogs[i].st {
            St::Inviting => {
                let remote = m.sdp_media_addr();
                let d = &mut self.dialogs[i];
                let now = Instant::now();
                d.answered_at = Some(now);
                self.setup_ms
                    .push(now.duration_since(d.invited_at).as_millis() as u64);
                match (remote, d.rtp.take()) {
                    (Some(remote), Some(sock)) if sock.connect(remote).is_ok() => {
                        d.st = St::Established;
                        let call = MediaCall {
                            id: i,
                            sock,
                            ssrc: rand::random(),
                            seq: rand::random(),
                            ts: rand::random(),
                            sending: true,
                            sent: 0,
                            send_err: 0,
                            recv: 0,
                            bad: 0,
                            out_of_order: 0,
                            max_rx_seq: None,
                            rtt: [0; 6],
                            holes: Holes::default(),
                        };
                        self.media.add(call);
                    }
                    _ => {
                        d.st = St::Failed(1);
                        self.bye(i).await;
                    }
                }
            }
            St::Failed(0) => {
                // Answered after we gave up on it: end it.
                self.bye(i).await;
            }
            _ => {}
        }
    }

    /// INVITE (until a provisional) and BYE retransmissions: 0.5, 1, 2, 4 s apart.
    pub(crate) async fn retransmit(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_retx_check) < Duration::from_millis(100) {
            return;
        }
        self.last_retx_check = now;
        let mut resend = Vec::new();
        for (i, d) in self.dialogs.iter_mut().enumerate() {
            let due = (d.st == St::Inviting && !d.provisional) || d.st == St::ByeSent;
            if due
                && d.tries < 4
                && now.duration_since(d.last_tx) >= Duration::from_millis(500 << d.tries)
            {
                d.tries += 1;
                d.last_tx = now;
                resend.push(i);
            }
        }
        for i in resend {
            let d = &self.dialogs[i];
            let text = if d.st == St::Inviting {
                d.invite.clone()
            } else {
                d.bye.clone()
            };
            self.retransmits += 1;
            self.send(&text).await;
        }
    }

    /// Receives and handles SIP for up to `dur`.
    pub(crate) async fn pump(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, self.sock.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => {
                    let data = buf[..n].to_vec();
                    self.handle(&data).await;
                }
                Ok(Err(_)) => {}
                Err(_) => break,
            }
        }
        self.retransmit().await;
    }

    pub(crate) fn count(&self, f: impl Fn(&Dialog) -> bool) -> usize {
        self.dialogs.iter().filter(|d| f(d)).count()
    }
}
