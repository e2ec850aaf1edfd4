//! The phones: raw SIP over one UDP socket ([`SipUdp`]), a caller from outside ([`Phone`]) and
//! a line of the box that registers and authenticates ([`LinePhone`]), plus the SIP message
//! parser they share ([`Msg`]).

use super::digest::digest_answer;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Passwords of the demo company's lines 101 and 102 (`config/demo.yaml`).
pub const P101: &str = "demo-101-Vx7q";
pub const P102: &str = "demo-102-Kp3m";

/// The transport of both phones: one UDP socket speaking raw SIP to the switch, so the tests
/// see exactly what goes on the wire.
pub struct SipUdp {
    pub sock: tokio::net::UdpSocket,
    pub local: SocketAddr,
    /// Where requests go (the switch).
    pub server: SocketAddr,
}

impl SipUdp {
    /// A socket on loopback `port` (0: any free port) talking to `server`.
    pub async fn bind(server: SocketAddr, port: u16) -> SipUdp {
        let sock = tokio::net::UdpSocket::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let local = sock.local_addr().unwrap();
        SipUdp {
            sock,
            local,
            server,
        }
    }

    pub async fn send(&self, text: &str) {
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// Next message within `secs`, or None.
    pub async fn recv(&self, secs: u64) -> Option<Msg> {
        let mut buf = vec![0u8; 65536];
        match tokio::time::timeout(Duration::from_secs(secs), self.sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(Msg::parse(&String::from_utf8_lossy(&buf[..n]))),
            _ => None,
        }
    }
}

impl std::ops::Deref for Phone {
    type Target = SipUdp;
    fn deref(&self) -> &SipUdp {
        &self.udp
    }
}

impl std::ops::DerefMut for Phone {
    fn deref_mut(&mut self) -> &mut SipUdp {
        &mut self.udp
    }
}

impl std::ops::Deref for LinePhone {
    type Target = SipUdp;
    fn deref(&self) -> &SipUdp {
        &self.udp
    }
}

impl std::ops::DerefMut for LinePhone {
    fn deref_mut(&mut self) -> &mut SipUdp {
        &mut self.udp
    }
}

/// One parsed SIP message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Msg {
    pub fn parse(text: &str) -> Msg {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("").to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Msg {
            start,
            headers,
            body: body.to_string(),
        }
    }
    pub fn status(&self) -> Option<u16> {
        if self.start.starts_with("SIP/2.0 ") {
            self.start.split_whitespace().nth(1)?.parse().ok()
        } else {
            None
        }
    }
    pub fn method(&self) -> Option<&str> {
        if self.status().is_none() {
            self.start.split_whitespace().next()
        } else {
            None
        }
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn to_tag(&self) -> Option<String> {
        let to = self.header("To")?;
        to.split(';')
            .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
    }
    /// The RTP address in an SDP body.
    pub fn sdp_media_addr(&self) -> Option<SocketAddr> {
        let ip = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))?
            .trim()
            .to_string();
        let port = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split_whitespace()
            .next()?
            .to_string();
        format!("{ip}:{port}").parse().ok()
    }
}

/// A phone that is not a line of the box (a caller from outside): it places one call without
/// authentication and speaks raw SIP over its [`SipUdp`].
pub struct Phone {
    pub udp: SipUdp,
    pub call_id: String,
    pub from_tag: String,
    pub cseq: u32,
    pub branch_seq: u32,
    pub to_tag: Option<String>,
    pub invite_branch: String,
    pub target: String,
}

impl Phone {
    /// Waits for the switch's BYE (skipping anything else) and answers it.
    pub async fn bye_from_switch(&self) {
        let bye = loop {
            let m = self.recv(60).await.expect("BYE from the switch");
            if m.method() == Some("BYE") {
                break m;
            }
        };
        self.ok_to(&bye).await;
    }

    pub async fn new(server: SocketAddr) -> Phone {
        let n: u64 = rand::random();
        Phone {
            udp: SipUdp::bind(server, 0).await,
            call_id: format!("test-{n:x}@127.0.0.1"),
            from_tag: format!("ft{n:x}"),
            cseq: 1,
            branch_seq: 0,
            to_tag: None,
            invite_branch: String::new(),
            target: String::new(),
        }
    }

    pub fn branch(&mut self) -> String {
        self.branch_seq += 1;
        format!("z9hG4bK-{}-{}", self.from_tag, self.branch_seq)
    }

    /// Waits for a response with a final status (>= 200) or a request, skipping provisionals.
    pub async fn recv_final(&self, secs: u64) -> Option<Msg> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
                .max(1);
            let m = self.recv(left).await?;
            match m.status() {
                Some(c) if c < 200 => continue,
                _ => return Some(m),
            }
        }
    }

    pub fn sdp(rtp_port: u16, payloads: &[u8]) -> String {
        let fmts: Vec<String> = payloads.iter().map(|p| p.to_string()).collect();
        let mut s = format!(
            "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP {}\r\n",
            fmts.join(" ")
        );
        for p in payloads {
            let name = match p {
                0 => "PCMU/8000",
                8 => "PCMA/8000",
                18 => "G729/8000",
                101 => "telephone-event/8000",
                _ => "X/8000",
            };
            s.push_str(&format!("a=rtpmap:{p} {name}\r\n"));
        }
        s
    }

    pub fn invite_text(&mut self, number: &str, sdp: &str) -> String {
        self.target = format!("sip:{number}@{}", self.server);
        self.invite_branch = self.branch();
        format!(
            "INVITE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={br};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {cid}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:79161234567@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            target = self.target,
            local = self.local,
            br = self.invite_branch,
            ft = self.from_tag,
            cid = self.call_id,
            cseq = self.cseq,
            len = sdp.len(),
        )
    }

    pub async fn invite(&mut self, number: &str, sdp: &str) {
        let t = self.invite_text(number, sdp);
        self.send(&t).await;
    }

    fn to_header(&self, number_uri: &str) -> String {
        match &self.to_tag {
            Some(t) => format!("<{number_uri}>;tag={t}"),
            None => format!("<{number_uri}>"),
        }
    }

    /// A request without a body inside this call (ACK, CANCEL, BYE).
    fn bodyless(&self, method: &str, branch: &str, to: &str) -> String {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Tester\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            target = self.target,
            local = self.local,
            ft = self.from_tag,
            cid = self.call_id,
            cseq = self.cseq,
        )
    }

    /// ACK for a 2xx (new branch) or for a non-2xx (the INVITE's branch).
    pub async fn ack(&mut self, for_2xx: bool) {
        let br = if for_2xx {
            self.branch()
        } else {
            self.invite_branch.clone()
        };
        let to = self.to_header(&self.target.clone());
        let t = self.bodyless("ACK", &br, &to);
        self.send(&t).await;
    }

    pub async fn cancel(&mut self) {
        let t = self.bodyless("CANCEL", &self.invite_branch, &format!("<{}>", self.target));
        self.send(&t).await;
    }

    pub async fn bye(&mut self) {
        self.cseq += 1;
        let br = self.branch();
        let to = self.to_header(&self.target.clone());
        let t = self.bodyless("BYE", &br, &to);
        self.send(&t).await;
    }

    /// Hangs up as a UDP phone does: the same BYE is sent again until a final answer comes
    /// (bounded: five sends, two seconds apart), and that answer must be 200. Requests the
    /// switch sends meanwhile (an identity re-INVITE) are left unanswered.
    #[allow(dead_code)] // not every test binary that includes this module hangs up this way
    pub async fn hang_up(&mut self) {
        self.cseq += 1;
        let br = self.branch();
        let to = self.to_header(&self.target.clone());
        let t = self.bodyless("BYE", &br, &to);
        for _ in 0..5 {
            self.send(&t).await;
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let Some(m) = self.recv(1).await else {
                    continue;
                };
                let to_bye = m.header("CSeq").is_some_and(|c| c.ends_with("BYE"));
                if let (Some(status), true) = (m.status(), to_bye) {
                    if status >= 200 {
                        assert_eq!(status, 200, "the switch's answer to the BYE: {}", m.start);
                        return;
                    }
                }
            }
        }
        panic!("no final answer to five BYEs");
    }

    /// Answers an incoming request (e.g. the switch's BYE) with 200 OK.
    pub async fn ok_to(&self, req: &Msg) {
        let mut t = String::from("SIP/2.0 200 OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for (n, v) in &req.headers {
                if n.eq_ignore_ascii_case(name) {
                    t.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
        t.push_str("Content-Length: 0\r\n\r\n");
        self.send(&t).await;
    }

    /// INVITE → provisional(s) → 200 with SDP → ACK. Returns the 200.
    pub async fn call(&mut self, number: &str, rtp_port: u16) -> Msg {
        let sdp = Self::sdp(rtp_port, &[0, 8, 101]);
        self.invite(number, &sdp).await;
        let ok = self.recv_final(5).await.expect("final response to INVITE");
        assert_eq!(ok.status(), Some(200), "INVITE answered with {}", ok.start);
        self.to_tag = ok.to_tag();
        self.ack(true).await;
        ok
    }
}

/// A SIP phone of the box (a line) on its [`SipUdp`]: it registers, places calls with digest
/// auth, and answers the calls the switch sends it.
pub struct LinePhone {
    pub udp: SipUdp,
    pub login: String,
    pub password: String,
    seq: u32,
    /// The dialog of the last call placed or answered: (Call-ID, our tag, their tag,
    /// remote target, our side's From/To as sent).
    pub dialog: Option<LineDialog>,
    /// The BYEs and NOTIFYs that arrived (and were answered 200) while a response was awaited,
    /// in arrival order: [`expect_request`](Self::expect_request) looks here first, so a
    /// test need not guess whether the switch's request or its response to ours comes first.
    early: std::sync::Mutex<std::collections::VecDeque<Msg>>,
}

/// A dialog as a [`LinePhone`] sees it.
#[derive(Debug, Clone)]
pub struct LineDialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Request-URI for in-dialog requests.
    pub target: String,
    /// Our URI (From of our requests) and theirs (To).
    pub local_uri: String,
    pub remote_uri: String,
    pub cseq: u32,
    /// The SDP the other side sent.
    pub remote_sdp: String,
}

impl LinePhone {
    /// Answers the next new INVITE the switch sends this phone (a retransmission of the INVITE
    /// it answered last is skipped); returns it.
    pub async fn answer_next(&mut self, rtp_port: u16) -> Msg {
        let answered = self
            .dialog
            .as_ref()
            .map(|d| d.call_id.clone())
            .unwrap_or_default();
        let inv = loop {
            let inv = self
                .expect_request("INVITE", 30)
                .await
                .expect("the phone rings");
            if inv.header("Call-ID") != Some(answered.as_str()) {
                break inv;
            }
        };
        self.answer(&inv, rtp_port).await;
        inv
    }

    pub async fn new(server: SocketAddr, login: &str, password: &str) -> LinePhone {
        Self::bind(server, login, password, 0).await
    }

    /// A phone on a given local port (e.g. a fake carrier the switch's trunk points at).
    pub async fn bind(server: SocketAddr, login: &str, password: &str, port: u16) -> LinePhone {
        LinePhone {
            udp: SipUdp::bind(server, port).await,
            login: login.into(),
            password: password.into(),
            seq: 0,
            dialog: None,
            early: Default::default(),
        }
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// The next request with `method` within `secs`, first among those that arrived while
    /// [`expect_response`](Self::expect_response) waited (other messages are skipped; requests
    /// other than the one wanted are answered 200 so the switch is not left waiting).
    pub async fn expect_request(&self, method: &str, secs: u64) -> Option<Msg> {
        {
            let mut early = self.early.lock().unwrap();
            if let Some(i) = early.iter().position(|m| m.method() == Some(method)) {
                return early.remove(i);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let m = self.recv(left.as_secs().max(1)).await?;
            let current = self.dialog.as_ref().map(|d| d.call_id.as_str());
            match m.method() {
                // A retransmission of the initial INVITE of the dialog in progress (no To tag;
                // a re-INVITE carries ours): already answered.
                Some("INVITE")
                    if current.is_some()
                        && m.header("Call-ID") == current
                        && !m.header("To").unwrap_or("").contains("tag=") => {}
                Some(x) if x == method => return Some(m),
                Some("ACK") | None => {}
                // Another call rings meanwhile: kept for a later `expect_request("INVITE")`.
                Some("INVITE") => self.early.lock().unwrap().push_back(m),
                Some(_) => self.respond(&m, 200, "OK", None, None).await,
            }
        }
    }

    /// The next response whose CSeq method is `method` with a final status (or a specific
    /// provisional when `min` < 200). A BYE or NOTIFY arriving meanwhile is answered 200 and
    /// kept for [`expect_request`](Self::expect_request).
    pub async fn expect_response(&self, method: &str, min: u16, secs: u64) -> Option<Msg> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let m = self.recv(left.as_secs().max(1)).await?;
            if let Some(code) = m.status() {
                let cseq = m.header("CSeq").unwrap_or("");
                if cseq.ends_with(method) && code >= min {
                    return Some(m);
                }
            } else if m.method() == Some("BYE") || m.method() == Some("NOTIFY") {
                self.respond(&m, 200, "OK", None, None).await;
                self.early.lock().unwrap().push_back(m);
            }
        }
    }

    /// REGISTER with digest auth; panics unless it ends 200.
    pub async fn register(&mut self) {
        let call_id = format!("reg-{}-{}", self.login, self.local.port());
        let mut auth: Option<String> = None;
        for _ in 0..2 {
            let cseq = self.next();
            let mut t = format!(
                "REGISTER sip:{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-r{cseq}-{p};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@{srv}>;tag=rt{p}\r\nTo: <sip:{u}@{srv}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{u}@{l}>\r\nExpires: 300\r\nUser-Agent: vpbx-test-line\r\n",
                srv = self.server,
                l = self.local,
                u = self.login,
                p = self.local.port(),
            );
            if let Some(a) = &auth {
                t.push_str(&format!("Authorization: {a}\r\n"));
            }
            t.push_str("Content-Length: 0\r\n\r\n");
            self.send(&t).await;
            let r = self
                .expect_response("REGISTER", 200, 5)
                .await
                .expect("REGISTER answered");
            match r.status() {
                Some(200) => return,
                Some(401) => {
                    let ch = r
                        .headers
                        .iter()
                        .find(|(n, v)| {
                            n.eq_ignore_ascii_case("WWW-Authenticate") && v.contains("MD5")
                        })
                        .map(|(_, v)| v.clone())
                        .expect("an MD5 challenge");
                    auth = Some(digest_answer(
                        &ch,
                        "REGISTER",
                        &format!("sip:{}", self.server),
                        &self.login,
                        &self.password,
                    ));
                }
                other => panic!("REGISTER answered {other:?}: {}", r.start),
            }
        }
        panic!("REGISTER not accepted");
    }

    fn invite(
        &self,
        dialled: &str,
        call_id: &str,
        tag: &str,
        cseq: u32,
        sdp: &str,
        auth: Option<&str>,
    ) -> String {
        let mut t = format!(
            "INVITE sip:{dialled}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-i{cseq}-{tag};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@{srv}>;tag={tag}\r\nTo: <sip:{dialled}@{srv}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{u}@{l}>\r\nContent-Type: application/sdp\r\n",
            srv = self.server,
            l = self.local,
            u = self.login,
        );
        if let Some(a) = auth {
            t.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        t.push_str(&format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()));
        t
    }

    fn ack(&self, to: &str, call_id: &str, tag: &str, cseq: u32, branch: &str) -> String {
        format!(
            "ACK sip:{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@{srv}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            srv = self.server,
            l = self.local,
            u = self.login,
        )
    }

    /// Dials `dialled` with digest auth (407 → answered); returns the final response to the
    /// authenticated INVITE (ACKed; the dialog is kept when it is a 2xx).
    pub async fn dial(&mut self, dialled: &str, rtp_port: u16) -> Msg {
        let n = self.next();
        let call_id = format!("call-{}-{}-{n}", self.login, self.local.port());
        let tag = format!("lt{}", self.next());
        let sdp = Phone::sdp(rtp_port, &[0, 8, 101]);
        let cseq = self.next();
        self.send(&self.invite(dialled, &call_id, &tag, cseq, &sdp, None))
            .await;
        let r = self
            .expect_response("INVITE", 200, 5)
            .await
            .expect("first INVITE answered");
        let to = r.header("To").unwrap_or("").to_string();
        self.send(&self.ack(&to, &call_id, &tag, cseq, &format!("z9hG4bK-i{cseq}-{tag}")))
            .await;
        if r.status() != Some(407) {
            return r;
        }
        let ch = r
            .headers
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("Proxy-Authenticate") && v.contains("MD5"))
            .map(|(_, v)| v.clone())
            .expect("an MD5 proxy challenge");
        let uri = format!("sip:{dialled}@{}", self.server);
        let auth = digest_answer(&ch, "INVITE", &uri, &self.login, &self.password);
        let cseq = self.next();
        self.send(&self.invite(dialled, &call_id, &tag, cseq, &sdp, Some(&auth)))
            .await;
        let r = self
            .expect_response("INVITE", 200, 30)
            .await
            .expect("authenticated INVITE answered");
        let to = r.header("To").unwrap_or("").to_string();
        if r.status() == Some(200) {
            let target = r
                .header("Contact")
                .and_then(|c| c.split('<').nth(1))
                .and_then(|c| c.split('>').next())
                .unwrap_or("")
                .to_string();
            self.send(&self.ack(&to, &call_id, &tag, cseq, &format!("z9hG4bK-a{cseq}-{tag}")))
                .await;
            self.dialog = Some(LineDialog {
                call_id,
                local_tag: tag,
                remote_tag: r.to_tag().unwrap_or_default(),
                target,
                local_uri: format!("sip:{}@{}", self.login, self.server),
                remote_uri: format!("sip:{dialled}@{}", self.server),
                cseq,
                remote_sdp: r.body.clone(),
            });
        } else {
            self.send(&self.ack(&to, &call_id, &tag, cseq, &format!("z9hG4bK-i{cseq}-{tag}")))
                .await;
        }
        r
    }

    /// Answers a request (copies the transaction headers; adds our tag to To when given).
    pub async fn respond(
        &self,
        req: &Msg,
        code: u16,
        reason: &str,
        sdp: Option<&str>,
        tag: Option<&str>,
    ) {
        let mut t = format!("SIP/2.0 {code} {reason}\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for (n, v) in &req.headers {
                if n.eq_ignore_ascii_case(name) {
                    if name == "To" && !v.contains("tag=") {
                        if let Some(tag) = tag {
                            t.push_str(&format!("To: {v};tag={tag}\r\n"));
                            continue;
                        }
                    }
                    t.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
        t.push_str(&format!("Contact: <sip:{}@{}>\r\n", self.login, self.local));
        match sdp {
            Some(s) => t.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{s}",
                s.len()
            )),
            None => t.push_str("Content-Length: 0\r\n\r\n"),
        }
        self.send(&t).await;
    }

    /// Answers an INVITE from the switch: 180, then 200 with SDP on `rtp_port`; waits for the
    /// ACK. Keeps the dialog.
    pub async fn answer(&mut self, invite: &Msg, rtp_port: u16) {
        let tag = format!("at{}", self.next());
        self.respond(invite, 180, "Ringing", None, Some(&tag)).await;
        let sdp = Phone::sdp(rtp_port, &[0, 101]);
        self.respond(invite, 200, "OK", Some(&sdp), Some(&tag))
            .await;
        let from = invite.header("From").unwrap_or("");
        let remote_tag = from
            .split(';')
            .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
            .unwrap_or_default();
        let target = invite
            .header("Contact")
            .and_then(|c| c.split('<').nth(1))
            .and_then(|c| c.split('>').next())
            .unwrap_or("")
            .to_string();
        let remote_uri = from
            .split('<')
            .nth(1)
            .and_then(|c| c.split('>').next())
            .unwrap_or("")
            .to_string();
        self.dialog = Some(LineDialog {
            call_id: invite.header("Call-ID").unwrap_or("").to_string(),
            local_tag: tag,
            remote_tag,
            target,
            local_uri: format!("sip:{}@{}", self.login, self.server),
            remote_uri,
            cseq: 100,
            remote_sdp: invite.body.clone(),
        });
        self.expect_request("ACK", 5)
            .await
            .expect("ACK for our 200");
    }

    /// Sends an in-dialog request (`BYE`, `REFER`, re-`INVITE`) with extra headers and an SDP.
    pub async fn in_dialog(&mut self, method: &str, extra: &str, sdp: Option<&str>) {
        self.in_dialog_body(method, extra, sdp.map(|s| ("application/sdp", s)))
            .await
    }

    /// Sends an in-dialog request with extra headers and an optional (content type, body).
    pub async fn in_dialog_body(&mut self, method: &str, extra: &str, body: Option<(&str, &str)>) {
        let d = self.dialog.as_mut().expect("a dialog");
        d.cseq += 1;
        let mut t = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-d{cseq}-{tag};rport\r\nMax-Forwards: 70\r\nFrom: <{lu}>;tag={tag}\r\nTo: <{ru}>;tag={rt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{u}@{l}>\r\n{extra}",
            target = d.target,
            l = self.udp.local,
            tag = d.local_tag,
            lu = d.local_uri,
            ru = d.remote_uri,
            rt = d.remote_tag,
            cid = d.call_id,
            cseq = d.cseq,
            u = self.login,
        );
        match body {
            Some((ct, b)) => t.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => t.push_str("Content-Length: 0\r\n\r\n"),
        }
        let text = t;
        self.send(&text).await;
    }

    /// ACK for a 2xx to our re-INVITE.
    pub async fn ack_in_dialog(&mut self) {
        let d = self.dialog.as_ref().expect("a dialog");
        let t = format!(
            "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bK-ack{cseq}-{tag};rport\r\nMax-Forwards: 70\r\nFrom: <{lu}>;tag={tag}\r\nTo: <{ru}>;tag={rt}\r\nCall-ID: {cid}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            target = d.target,
            l = self.local,
            tag = d.local_tag,
            lu = d.local_uri,
            ru = d.remote_uri,
            rt = d.remote_tag,
            cid = d.call_id,
            cseq = d.cseq,
        );
        self.send(&t).await;
    }
}

/// Calls `number` from a fresh test phone and answers the BYE the switch ends the call with
/// (a scenario that hangs up by itself).
pub async fn call_until_hung_up(sip: SocketAddr, number: &str) {
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut caller = Phone::new(sip).await;
    caller.call(number, rtp.local_addr().unwrap().port()).await;
    loop {
        let m = caller.recv(60).await.expect("BYE from the switch");
        if m.method() == Some("BYE") {
            caller.ok_to(&m).await;
            break;
        }
    }
}
