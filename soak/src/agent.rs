//! The soak "agent" for `vpbx-soak media --mode bridged`: a minimal raw-UDP SIP UAS.
//!
//! Per INVITE it binds an RTP socket, answers `200 OK` at once with an SDP answer pointing at
//! it (PCMU, or PCMA with `--agent-codec pcma`), and echoes every datagram received on that
//! socket back to its source. ACK confirms, BYE gets 200 and closes the socket. RFC 3261 over
//! UDP: a retransmitted INVITE gets the same final response again, the final response is
//! retransmitted (0.5, 1, 2, 4, 4, … s) until the ACK arrives or 32 s pass, a retransmitted BYE
//! gets 200 again for 32 s. CANCEL gets 200 (the INVITE is already answered), OPTIONS/INFO get
//! 200, other methods 501; responses and anything unparseable are counted and dropped.
//!
//! [`Uas`] is the protocol core (no I/O: datagrams in, datagrams out); [`Agent`] runs it on its
//! own thread with a current-thread tokio runtime, one echo task per RTP socket.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// RFC 3261 timers for the retransmission of the final response over UDP.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// 64 × T1: give up waiting for the ACK; forget closed or rejected dialogs.
const TIMER_H: Duration = Duration::from_secs(32);
/// Unusual messages written to the trace log beyond the traced calls.
const ANOMALY_LOG_MAX: usize = 50;
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";

// ---------------------------------------------------------------------------------------------
// Parsing

/// A SIP message, parsed leniently: header lines kept raw and in order (CRLF or bare LF).
#[derive(Debug)]
pub struct SipMsg<'a> {
    pub start: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a str,
}

/// The full, lower-case header name for a compact form (RFC 3261 §7.3.3).
fn canon(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.as_str() {
        "v" => "via".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "i" => "call-id".into(),
        "m" => "contact".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        "k" => "supported".into(),
        _ => n,
    }
}

impl<'a> SipMsg<'a> {
    /// `None` for something that is not a SIP message at all.
    pub fn parse(text: &'a str) -> Option<SipMsg<'a>> {
        let (head, body) = match (text.find("\r\n\r\n"), text.find("\n\n")) {
            (Some(a), Some(b)) if b + 1 < a => (&text[..b], &text[b + 2..]),
            (Some(a), _) => (&text[..a], &text[a + 4..]),
            (None, Some(b)) => (&text[..b], &text[b + 2..]),
            (None, None) => (text, ""),
        };
        let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
        let start = lines.next()?.trim();
        let is_request = start.ends_with("SIP/2.0") && start.split_whitespace().count() == 3;
        let is_response = start.starts_with("SIP/2.0 ");
        if !is_request && !is_response {
            return None;
        }
        let headers: Vec<(&str, &str)> = lines
            .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim(), v.trim()))
            .collect();
        let mut m = SipMsg {
            start,
            headers,
            body,
        };
        // Trust Content-Length when it is shorter than what arrived.
        if let Some(len) = m
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            if len < m.body.len() && m.body.is_char_boundary(len) {
                m.body = &m.body[..len];
            }
        }
        Some(m)
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&'a str> {
        if self.start.starts_with("SIP/2.0 ") {
            return None;
        }
        self.start.split_whitespace().next()
    }

    #[cfg(test)]
    pub fn status(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The first header of that name (full or compact form, any case).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// Every header line of that name, in order.
    pub fn all<'s>(&'s self, name: &str) -> impl Iterator<Item = &'a str> + 's {
        let want = canon(name);
        self.headers
            .iter()
            .filter(move |(n, _)| canon(n) == want)
            .map(|(_, v)| *v)
    }

    pub fn call_id(&self) -> Option<&'a str> {
        self.header("call-id").filter(|c| !c.is_empty())
    }

    pub fn cseq(&self) -> Option<(u32, &'a str)> {
        let mut it = self.header("cseq")?.split_whitespace();
        Some((it.next()?.parse().ok()?, it.next()?))
    }

    pub fn to_tag(&self) -> Option<&'a str> {
        tag_of(self.header("to")?)
    }
}

/// The `tag` parameter of a From/To value (parameters after the `>` of a name-addr).
pub fn tag_of(v: &str) -> Option<&str> {
    let params = match v.rfind('>') {
        Some(i) => &v[i + 1..],
        None => v,
    };
    params
        .split(';')
        .skip(if v.contains('>') { 0 } else { 1 })
        .find_map(|p| {
            let (k, val) = p.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case("tag").then(|| val.trim())
        })
        .filter(|t| !t.is_empty())
}

/// The G.711 codec the agent answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// The audio part of an SDP offer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Offer {
    pub addr: Option<SocketAddr>,
    pub pts: Vec<u8>,
    /// `a=rtpmap:` lines: payload type → encoding name (upper case, e.g. `PCMU/8000`).
    pub rtpmap: Vec<(u8, String)>,
}

impl Offer {
    pub fn parse(sdp: &str) -> Offer {
        let mut o = Offer::default();
        let mut ip: Option<&str> = None;
        let mut port: Option<u16> = None;
        let mut in_audio = false;
        for l in sdp.lines().map(str::trim) {
            if let Some(c) = l.strip_prefix("c=IN IP4 ") {
                // Session-level c= applies unless the audio section has its own.
                if ip.is_none() || in_audio {
                    ip = c.split('/').next().map(str::trim);
                }
            } else if let Some(m) = l.strip_prefix("m=") {
                in_audio = false;
                if o.pts.is_empty() {
                    if let Some(rest) = m.strip_prefix("audio ") {
                        let mut it = rest.split_whitespace();
                        port = it.next().and_then(|p| p.split('/').next()?.parse().ok());
                        let _proto = it.next();
                        o.pts = it.filter_map(|p| p.parse().ok()).collect();
                        in_audio = true;
                    }
                }
            } else if let Some(r) = l.strip_prefix("a=rtpmap:") {
                if in_audio {
                    if let Some((pt, enc)) = r.split_once(' ') {
                        if let Ok(pt) = pt.trim().parse() {
                            o.rtpmap.push((pt, enc.trim().to_ascii_uppercase()));
                        }
                    }
                }
            }
        }
        if let (Some(ip), Some(port)) = (ip, port) {
            o.addr = format!("{ip}:{port}").parse().ok();
        }
        o
    }

    fn offers(&self, c: Codec) -> bool {
        let by_map = self
            .rtpmap
            .iter()
            .any(|(pt, e)| self.pts.contains(pt) && e.starts_with(&format!("{}/8000", c.name())));
        by_map || self.pts.contains(&c.pt())
    }

    /// The preferred codec if offered, else the other G.711 law, else `None` (488).
    pub fn choose(&self, pref: Codec) -> Option<Codec> {
        let other = match pref {
            Codec::Pcmu => Codec::Pcma,
            Codec::Pcma => Codec::Pcmu,
        };
        [pref, other].into_iter().find(|&c| self.offers(c))
    }
}

/// The SDP answer: one G.711 codec at `port` on 127.0.0.1-style `ip`.
pub fn answer_sdp(ip: &str, port: u16, codec: Codec, session: u64, version: u64) -> String {
    format!(
        "v=0\r\no=agent {session} {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        pt = codec.pt(),
        name = codec.name(),
    )
}

/// The top Via with `received`/`rport` filled in when the request asked for `rport` (RFC 3581).
pub fn fix_top_via(via: &str, from: SocketAddr) -> String {
    let (first, rest) = match via.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (via, None),
    };
    let mut parts: Vec<String> = first.trim().split(';').map(|p| p.to_string()).collect();
    let bare_rport = parts.iter().position(|p| p.trim() == "rport");
    let mut out = first.trim().to_string();
    if let Some(i) = bare_rport {
        parts[i] = format!("rport={}", from.port());
        if !parts
            .iter()
            .any(|p| p.trim().to_ascii_lowercase().starts_with("received="))
        {
            parts.push(format!("received={}", from.ip()));
        }
        out = parts.join(";");
    }
    match rest {
        Some(r) => format!("{out},{r}"),
        None => out,
    }
}

/// A response to `req`: Via (all, in order), From, To (with `to_tag` added if it has none),
/// Call-ID, CSeq copied; Record-Route copied into a 2xx to INVITE; then `extra` and the body.
pub fn response(
    req: &SipMsg<'_>,
    from: SocketAddr,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    body: Option<(&str, &str)>,
) -> String {
    let mut t = format!("SIP/2.0 {code} {reason}\r\n");
    for (i, v) in req.all("via").enumerate() {
        let v = if i == 0 {
            fix_top_via(v, from)
        } else {
            v.to_string()
        };
        t.push_str(&format!("Via: {v}\r\n"));
    }
    if let Some(f) = req.header("from") {
        t.push_str(&format!("From: {f}\r\n"));
    }
    if let Some(to) = req.header("to") {
        match to_tag {
            Some(tag) if tag_of(to).is_none() => t.push_str(&format!("To: {to};tag={tag}\r\n")),
            _ => t.push_str(&format!("To: {to}\r\n")),
        }
    }
    if let Some(c) = req.call_id() {
        t.push_str(&format!("Call-ID: {c}\r\n"));
    }
    if let Some(c) = req.header("cseq") {
        t.push_str(&format!("CSeq: {c}\r\n"));
    }
    if (200..300).contains(&code) && req.method() == Some("INVITE") {
        for rr in req.all("record-route") {
            t.push_str(&format!("Record-Route: {rr}\r\n"));
        }
    }
    for (n, v) in extra {
        t.push_str(&format!("{n}: {v}\r\n"));
    }
    t.push_str("Server: vpbx-soak-agent\r\n");
    match body {
        Some((ct, b)) => t.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => t.push_str("Content-Length: 0\r\n\r\n"),
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Counters (shared with the run, which reads them while the agent works)

#[derive(Debug, Default)]
pub struct AgentStats {
    pub invites: AtomicU64,
    pub invite_retransmits: AtomicU64,
    pub reinvites: AtomicU64,
    pub answered: AtomicU64,
    pub rejected: AtomicU64,
    pub acks: AtomicU64,
    pub final_retransmits: AtomicU64,
    pub ack_timeouts: AtomicU64,
    pub byes: AtomicU64,
    pub bye_retransmits: AtomicU64,
    pub bye_unknown: AtomicU64,
    pub cancels: AtomicU64,
    pub options_info: AtomicU64,
    pub other_requests: AtomicU64,
    pub responses_ignored: AtomicU64,
    pub malformed: AtomicU64,
    pub active: AtomicU64,
    pub max_active: AtomicU64,
    pub rtp_in: AtomicU64,
    pub rtp_out: AtomicU64,
    pub rtp_send_errors: AtomicU64,
    pub rtp_bind_failures: AtomicU64,
    /// The agent thread's Linux thread id (0 until known), for its CPU time in /proc.
    pub tid: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl AgentStats {
    pub fn active(&self) -> u64 {
        get(&self.active)
    }
    /// `self/task/<tid>` for `proc::proc_sample`, once the thread has started.
    pub fn proc_path(&self) -> Option<String> {
        let tid = get(&self.tid);
        (tid != 0).then(|| format!("self/task/{tid}"))
    }
    pub fn json(&self) -> Value {
        json!({
            "invites": get(&self.invites),
            "invite_retransmits": get(&self.invite_retransmits),
            "reinvites": get(&self.reinvites),
            "answered_200": get(&self.answered),
            "rejected": get(&self.rejected),
            "acks": get(&self.acks),
            "final_retransmits": get(&self.final_retransmits),
            "ack_timeouts": get(&self.ack_timeouts),
            "byes": get(&self.byes),
            "bye_retransmits": get(&self.bye_retransmits),
            "bye_unknown_dialog": get(&self.bye_unknown),
            "cancels": get(&self.cancels),
            "options_info": get(&self.options_info),
            "other_requests": get(&self.other_requests),
            "responses_ignored": get(&self.responses_ignored),
            "malformed": get(&self.malformed),
            "active_dialogs": get(&self.active),
            "max_active_dialogs": get(&self.max_active),
            "rtp_echoed_in": get(&self.rtp_in),
            "rtp_echoed_out": get(&self.rtp_out),
            "rtp_send_errors": get(&self.rtp_send_errors),
            "rtp_bind_failures": get(&self.rtp_bind_failures),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The protocol core

/// What the shell must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    Send(SocketAddr, String),
    /// Close the RTP socket of this Call-ID.
    StopEcho(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DState {
    /// 200 sent, no ACK yet.
    Answered,
    Confirmed,
    /// Final non-2xx sent (kept to answer retransmissions and absorb the ACK).
    Rejected,
    /// BYE answered (kept to answer a retransmitted BYE).
    Closed,
}

struct Dialog {
    to_tag: String,
    invite_cseq: u32,
    final_resp: String,
    dest: SocketAddr,
    state: DState,
    acked: bool,
    sent_at: Instant,
    next_retx: Instant,
    gap: Duration,
    ended_at: Option<Instant>,
    trace: bool,
    sdp_session: u64,
    sdp_version: u64,
    rtp_port: u16,
}

pub struct Uas {
    /// Our address (Contact, SDP).
    addr: SocketAddr,
    codec: Codec,
    stats: Arc<AgentStats>,
    dialogs: HashMap<String, Dialog>,
    tag_seq: u64,
    epoch: Instant,
    trace_left: usize,
    anomalies_left: usize,
    /// Trace lines for the log file; the shell drains it.
    pub log: Vec<String>,
}

impl Uas {
    pub fn new(
        addr: SocketAddr,
        codec: Codec,
        stats: Arc<AgentStats>,
        trace_calls: usize,
        epoch: Instant,
    ) -> Uas {
        Uas {
            addr,
            codec,
            stats,
            dialogs: HashMap::new(),
            tag_seq: 0,
            epoch,
            trace_left: trace_calls,
            anomalies_left: ANOMALY_LOG_MAX,
            log: Vec::new(),
        }
    }

    fn trace(&mut self, now: Instant, what: &str, peer: SocketAddr, text: &str) {
        let t = now.saturating_duration_since(self.epoch).as_secs_f64();
        self.log.push(format!(
            "----- +{t:.3}s {what} {peer}\n{}\n",
            text.trim_end()
        ));
    }

    fn anomaly(&mut self, now: Instant, what: &str, peer: SocketAddr, text: &str) {
        if self.anomalies_left > 0 {
            self.anomalies_left -= 1;
            self.trace(now, what, peer, text);
        }
    }

    fn send(
        &mut self,
        out: &mut Vec<Out>,
        to: SocketAddr,
        text: String,
        trace: bool,
        now: Instant,
    ) {
        if trace {
            self.trace(now, "SENT to", to, &text);
        }
        out.push(Out::Send(to, text));
    }

    /// One datagram from `from`. `alloc(call_id)` binds an RTP socket, starts its echo and
    /// returns the port (`None`: no socket, the INVITE gets 503).
    pub fn handle(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        alloc: &mut dyn FnMut(&str) -> Option<u16>,
    ) -> Vec<Out> {
        let mut out = Vec::new();
        let text = String::from_utf8_lossy(data);
        let Some(m) = SipMsg::parse(&text) else {
            inc(&self.stats.malformed);
            self.anomaly(now, "MALFORMED from", from, &text);
            return out;
        };
        let Some(method) = m.method() else {
            inc(&self.stats.responses_ignored);
            self.anomaly(now, "IGNORED response from", from, &text);
            return out;
        };
        let (Some(cid), Some((cseq, _)), Some(_)) = (m.call_id(), m.cseq(), m.header("via")) else {
            inc(&self.stats.malformed);
            self.anomaly(now, "MALFORMED (no Call-ID/CSeq/Via) from", from, &text);
            return out;
        };
        let traced = match self.dialogs.get(cid) {
            Some(d) => d.trace,
            None if method == "INVITE" && self.trace_left > 0 => {
                self.trace_left -= 1;
                true
            }
            None => false,
        };
        if traced {
            self.trace(now, "RECV from", from, &text);
        }
        match method {
            "INVITE" => self.on_invite(&m, &text, cid, cseq, from, now, traced, alloc, &mut out),
            "ACK" => match self.dialogs.get_mut(cid) {
                Some(d) => {
                    inc(&self.stats.acks);
                    d.acked = true;
                    if d.state == DState::Answered {
                        d.state = DState::Confirmed;
                    }
                }
                None => self.anomaly(now, "ACK for an unknown dialog from", from, &text),
            },
            "BYE" => {
                let state = self.dialogs.get(cid).map(|d| d.state);
                match state {
                    Some(DState::Answered | DState::Confirmed) => {
                        inc(&self.stats.byes);
                        self.stats.active.fetch_sub(1, Ordering::Relaxed);
                        if let Some(d) = self.dialogs.get_mut(cid) {
                            d.state = DState::Closed;
                            d.ended_at = Some(now);
                        }
                        let r = response(&m, from, 200, "OK", None, &[], None);
                        self.send(&mut out, from, r, traced, now);
                        out.push(Out::StopEcho(cid.to_string()));
                    }
                    Some(DState::Closed) => {
                        inc(&self.stats.bye_retransmits);
                        let r = response(&m, from, 200, "OK", None, &[], None);
                        self.send(&mut out, from, r, traced, now);
                    }
                    _ => {
                        inc(&self.stats.bye_unknown);
                        self.anomaly(now, "BYE for an unknown dialog from", from, &text);
                        let r = response(
                            &m,
                            from,
                            481,
                            "Call/Transaction Does Not Exist",
                            None,
                            &[],
                            None,
                        );
                        self.send(&mut out, from, r, !traced, now);
                    }
                }
            }
            "CANCEL" => {
                inc(&self.stats.cancels);
                let tag = self.dialogs.get(cid).map(|d| d.to_tag.clone());
                let r = match &tag {
                    Some(tag) => response(&m, from, 200, "OK", Some(tag), &[], None),
                    None => response(
                        &m,
                        from,
                        481,
                        "Call/Transaction Does Not Exist",
                        None,
                        &[],
                        None,
                    ),
                };
                if !traced {
                    self.anomaly(now, "CANCEL from", from, &text);
                }
                self.send(&mut out, from, r, true, now);
            }
            "OPTIONS" | "INFO" => {
                inc(&self.stats.options_info);
                let tag = format!("ao{}", self.next_tag());
                let r = response(
                    &m,
                    from,
                    200,
                    "OK",
                    Some(&tag),
                    &[("Allow", ALLOW.into())],
                    None,
                );
                self.send(&mut out, from, r, traced, now);
            }
            _ => {
                inc(&self.stats.other_requests);
                if !traced {
                    self.anomaly(now, "UNSUPPORTED request from", from, &text);
                }
                let r = response(
                    &m,
                    from,
                    501,
                    "Not Implemented",
                    None,
                    &[("Allow", ALLOW.into())],
                    None,
                );
                self.send(&mut out, from, r, true, now);
            }
        }
        out
    }

    fn next_tag(&mut self) -> u64 {
        self.tag_seq += 1;
        self.tag_seq
    }

    #[allow(clippy::too_many_arguments)]
    fn on_invite(
        &mut self,
        m: &SipMsg<'_>,
        text: &str,
        cid: &str,
        cseq: u32,
        from: SocketAddr,
        now: Instant,
        traced: bool,
        alloc: &mut dyn FnMut(&str) -> Option<u16>,
        out: &mut Vec<Out>,
    ) {
        if let Some(d) = self.dialogs.get_mut(cid) {
            let retransmission = m.to_tag().is_none() || cseq == d.invite_cseq;
            if retransmission {
                // Same transaction: the same final response again.
                inc(&self.stats.invite_retransmits);
                let r = d.final_resp.clone();
                let dest = d.dest;
                self.send(out, dest, r, traced, now);
                return;
            }
            inc(&self.stats.reinvites);
            if d.state == DState::Closed || d.state == DState::Rejected {
                let r = response(
                    m,
                    from,
                    481,
                    "Call/Transaction Does Not Exist",
                    None,
                    &[],
                    None,
                );
                self.send(out, from, r, true, now);
                return;
            }
            // A re-INVITE: the same media, a new session version (echo goes to the source).
            d.sdp_version += 1;
            let sdp = answer_sdp(
                &self.addr.ip().to_string(),
                d.rtp_port,
                self.codec,
                d.sdp_session,
                d.sdp_version,
            );
            let contact = format!("<sip:agent@{}>", self.addr);
            let r = response(
                m,
                from,
                200,
                "OK",
                None,
                &[("Contact", contact)],
                Some(("application/sdp", &sdp)),
            );
            self.send(out, from, r, true, now);
            return;
        }

        inc(&self.stats.invites);
        let tag = format!("agent{:x}-{}", self.epoch_nanos(now), self.next_tag());
        let offer = Offer::parse(m.body);
        // No offer at all: offer our codec in the 200 (the ACK's answer is not checked).
        let codec = if m.body.trim().is_empty() {
            Some(self.codec)
        } else {
            offer.choose(self.codec)
        };
        let contact = format!("<sip:agent@{}>", self.addr);
        let (state, resp, port, session) = match codec {
            None => {
                let r = response(m, from, 488, "Not Acceptable Here", Some(&tag), &[], None);
                (DState::Rejected, r, 0, 0)
            }
            Some(codec) => match alloc(cid) {
                None => {
                    inc(&self.stats.rtp_bind_failures);
                    let r = response(m, from, 503, "Service Unavailable", Some(&tag), &[], None);
                    (DState::Rejected, r, 0, 0)
                }
                Some(port) => {
                    let session = self.tag_seq;
                    let sdp = answer_sdp(&self.addr.ip().to_string(), port, codec, session, 1);
                    let r = response(
                        m,
                        from,
                        200,
                        "OK",
                        Some(&tag),
                        &[("Contact", contact), ("Allow", ALLOW.into())],
                        Some(("application/sdp", &sdp)),
                    );
                    (DState::Answered, r, port, session)
                }
            },
        };
        if state == DState::Answered {
            inc(&self.stats.answered);
            let a = self.stats.active.fetch_add(1, Ordering::Relaxed) + 1;
            self.stats.max_active.fetch_max(a, Ordering::Relaxed);
        } else {
            inc(&self.stats.rejected);
            if !traced {
                self.anomaly(now, "REJECTED INVITE from", from, text);
            }
        }
        self.send(
            out,
            from,
            resp.clone(),
            traced || state != DState::Answered,
            now,
        );
        self.dialogs.insert(
            cid.to_string(),
            Dialog {
                to_tag: tag,
                invite_cseq: cseq,
                final_resp: resp,
                dest: from,
                state,
                acked: false,
                sent_at: now,
                next_retx: now + T1,
                gap: T1,
                ended_at: if state == DState::Rejected {
                    Some(now)
                } else {
                    None
                },
                trace: traced,
                sdp_session: session,
                sdp_version: 1,
                rtp_port: port,
            },
        );
    }

    fn epoch_nanos(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64 & 0xFFFF_FFFF
    }

    /// Retransmits unacknowledged final responses and forgets finished dialogs.
    pub fn tick(&mut self, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        let mut resend: Vec<(SocketAddr, String, bool)> = Vec::new();
        let mut timeouts = 0;
        self.dialogs.retain(|_, d| {
            if let Some(end) = d.ended_at {
                if now.saturating_duration_since(end) >= TIMER_H {
                    return false;
                }
            }
            let waiting = !d.acked && matches!(d.state, DState::Answered | DState::Rejected);
            if waiting && now >= d.next_retx {
                if now.saturating_duration_since(d.sent_at) >= TIMER_H {
                    // No ACK: stop retransmitting. A 2xx dialog stays up (the switch may
                    // still send media and BYE); a rejection is forgotten later.
                    d.acked = true;
                    timeouts += 1;
                } else {
                    resend.push((d.dest, d.final_resp.clone(), d.trace));
                    d.gap = (d.gap * 2).min(T2);
                    d.next_retx = now + d.gap;
                }
            }
            true
        });
        for _ in 0..timeouts {
            inc(&self.stats.ack_timeouts);
        }
        for (to, text, trace) in resend {
            inc(&self.stats.final_retransmits);
            self.send(&mut out, to, text, trace, now);
        }
        out
    }

    /// Dialogs answered and not ended by a BYE (their RTP sockets are open).
    pub fn open_dialogs(&self) -> usize {
        self.dialogs
            .values()
            .filter(|d| matches!(d.state, DState::Answered | DState::Confirmed))
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// The shell: a thread with its own runtime

pub struct AgentCfg {
    pub addr: SocketAddr,
    pub codec: Codec,
    /// First port tried for RTP sockets (even ports, upwards, busy ones skipped).
    pub rtp_base: u16,
    /// Calls whose SIP messages are all written to the log.
    pub trace_calls: usize,
    pub log: PathBuf,
}

pub struct Agent {
    pub stats: Arc<AgentStats>,
    pub log: PathBuf,
    /// The bound SIP address.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    /// Binds the SIP socket (so a busy address fails here) and starts the agent thread.
    pub fn start(cfg: AgentCfg) -> Result<Agent, String> {
        let sock = std::net::UdpSocket::bind(cfg.addr)
            .map_err(|e| format!("agent: binding {}: {e}", cfg.addr))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = sock.local_addr().map_err(|e| e.to_string())?;
        let file = std::fs::File::create(&cfg.log)
            .map_err(|e| format!("agent log {}: {e}", cfg.log.display()))?;
        let stats = Arc::new(AgentStats::default());
        let log = cfg.log.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("soak-agent".into())
            .spawn(move || {
                // "/proc/thread-self" links to "<pid>/task/<tid>".
                if let Some(tid) = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                {
                    st.tid.store(tid, Ordering::Relaxed);
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(run(sock, addr, cfg, st, file, stop_rx));
            })
            .map_err(|e| e.to_string())?;
        Ok(Agent {
            stats,
            log,
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops the agent (closing every RTP socket) and waits for its thread.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn echo(sock: tokio::net::UdpSocket, stats: Arc<AgentStats>) {
    let mut buf = vec![0u8; 2048];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, src)) => {
                inc(&stats.rtp_in);
                match sock.send_to(&buf[..n], src).await {
                    Ok(_) => inc(&stats.rtp_out),
                    Err(_) => inc(&stats.rtp_send_errors),
                }
            }
            Err(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::Interrupted
                | std::io::ErrorKind::WouldBlock => {}
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn run(
    sock: std::net::UdpSocket,
    addr: SocketAddr,
    cfg: AgentCfg,
    stats: Arc<AgentStats>,
    file: std::fs::File,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(sock) = tokio::net::UdpSocket::from_std(sock) else {
        return;
    };
    let mut log = std::io::BufWriter::new(file);
    let _ = writeln!(
        log,
        "vpbx-soak agent on {addr}: answers {} and echoes RTP; SIP of the first {} calls and \
         up to {ANOMALY_LOG_MAX} unusual messages below",
        cfg.codec.name(),
        cfg.trace_calls
    );
    let mut uas = Uas::new(
        addr,
        cfg.codec,
        stats.clone(),
        cfg.trace_calls,
        Instant::now(),
    );
    let mut echoes: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let span = 20000u16.min(u16::MAX - cfg.rtp_base);
    let mut next_off: u16 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut buf = vec![0u8; 65536];
    loop {
        let outs = tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => uas.tick(Instant::now()),
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let mut alloc = |cid: &str| -> Option<u16> {
                        for _ in 0..span / 2 {
                            let port = cfg.rtp_base + next_off;
                            next_off = (next_off + 2) % span.max(2);
                            let Ok(s) = std::net::UdpSocket::bind((addr.ip(), port)) else {
                                continue;
                            };
                            s.set_nonblocking(true).ok()?;
                            let s = tokio::net::UdpSocket::from_std(s).ok()?;
                            let h = tokio::spawn(echo(s, stats.clone()));
                            if let Some(old) = echoes.insert(cid.to_string(), h) {
                                old.abort();
                            }
                            return Some(port);
                        }
                        None
                    };
                    uas.handle(&buf[..n], from, Instant::now(), &mut alloc)
                }
                Err(_) => Vec::new(),
            },
        };
        for o in outs {
            match o {
                Out::Send(to, text) => {
                    let _ = sock.send_to(text.as_bytes(), to).await;
                }
                Out::StopEcho(cid) => {
                    if let Some(h) = echoes.remove(&cid) {
                        h.abort();
                    }
                }
            }
        }
        if !uas.log.is_empty() {
            for l in uas.log.drain(..) {
                let _ = writeln!(log, "{l}");
            }
            let _ = log.flush();
        }
    }
    let open = uas.open_dialogs();
    let _ = writeln!(log, "agent stopped; {open} dialogs still open");
    let _ = log.flush();
    for (_, h) in echoes {
        h.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWITCH: &str = "127.0.0.1:5060";

    fn switch() -> SocketAddr {
        SWITCH.parse().unwrap()
    }

    fn agent_addr() -> SocketAddr {
        "127.0.0.1:25099".parse().unwrap()
    }

    /// An INVITE as the switch's forward sends it: PCMU, PCMA, telephone-event.
    fn invite(cid: &str, branch: &str) -> String {
        let sdp = "v=0\r\no=vpbx 1 1 IN IP4 127.0.0.1\r\ns=vpbx\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 40002 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
                   a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
        format!(
            "INVITE sip:agent@127.0.0.1:25099 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:79161234567@127.0.0.1>;tag=sw1\r\n\
             To: <sip:agent@127.0.0.1:25099>\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:vpbx@127.0.0.1:5060>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    fn in_dialog(method: &str, cid: &str, to_tag: &str, cseq: u32, branch: &str) -> String {
        format!(
            "{method} sip:agent@127.0.0.1:25099 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
             From: <sip:79161234567@127.0.0.1>;tag=sw1\r\n\
             To: <sip:agent@127.0.0.1:25099>;tag={to_tag}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    struct Fixture {
        uas: Uas,
        stats: Arc<AgentStats>,
        t0: Instant,
        next_port: u16,
        fail_alloc: bool,
    }

    impl Fixture {
        fn new() -> Fixture {
            let stats = Arc::new(AgentStats::default());
            let t0 = Instant::now();
            Fixture {
                uas: Uas::new(agent_addr(), Codec::Pcmu, stats.clone(), 1, t0),
                stats,
                t0,
                next_port: 30000,
                fail_alloc: false,
            }
        }
        fn at(&mut self, ms: u64, text: &str) -> Vec<Out> {
            let mut port = self.next_port;
            let fail = self.fail_alloc;
            let mut alloc = |_: &str| {
                if fail {
                    return None;
                }
                port += 2;
                Some(port - 2)
            };
            let out = self.uas.handle(
                text.as_bytes(),
                switch(),
                self.t0 + Duration::from_millis(ms),
                &mut alloc,
            );
            self.next_port = port;
            out
        }
        fn tick(&mut self, ms: u64) -> Vec<Out> {
            self.uas.tick(self.t0 + Duration::from_millis(ms))
        }
    }

    fn sent(out: &[Out]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(to, t) => {
                    assert_eq!(*to, switch());
                    Some(t.clone())
                }
                Out::StopEcho(_) => None,
            })
            .collect()
    }

    fn one(out: &[Out]) -> String {
        let s = sent(out);
        assert_eq!(s.len(), 1, "{out:?}");
        s[0].clone()
    }

    #[test]
    fn parses_crlf_lf_and_compact_forms() {
        let t =
            "BYE sip:a@b SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\ni: abc\nt: <sip:a@b>;tag=x1\n\
                 f: <sip:c@d>;tag=y\nCSeq: 7 BYE\nl: 0\n\n";
        let m = SipMsg::parse(t).unwrap();
        assert_eq!(m.method(), Some("BYE"));
        assert_eq!(m.call_id(), Some("abc"));
        assert_eq!(m.cseq(), Some((7, "BYE")));
        assert_eq!(m.to_tag(), Some("x1"));
        assert_eq!(m.header("Via"), Some("SIP/2.0/UDP h;branch=z9hG4bK1"));

        let r = SipMsg::parse("SIP/2.0 180 Ringing\r\nCall-ID: q\r\n\r\n").unwrap();
        assert_eq!(r.status(), Some(180));
        assert_eq!(r.method(), None);

        assert!(SipMsg::parse("").is_none());
        assert!(SipMsg::parse("\u{0}\u{1}garbage").is_none());
        assert!(SipMsg::parse("HELLO\r\n\r\n").is_none());

        // Content-Length shorter than the datagram: the body stops there.
        let m = SipMsg::parse("INFO sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!(m.body, "abc");
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of("<sip:a@b;tag=no>;tag=yes"), Some("yes"));
        assert_eq!(tag_of("<sip:a@b;tag=no>"), None);
        assert_eq!(tag_of("sip:a@b;tag=t1"), Some("t1"));
        assert_eq!(tag_of("\"A;B\" <sip:a@b> ; TAG = t2"), Some("t2"));
        assert_eq!(tag_of("<sip:a@b>;tag="), None);
    }

    #[test]
    fn offer_and_codec_choice() {
        let inv = invite("c1", "z9hG4bKa");
        let m = SipMsg::parse(&inv).unwrap();
        let o = Offer::parse(m.body);
        assert_eq!(o.addr, Some("127.0.0.1:40002".parse().unwrap()));
        assert_eq!(o.pts, vec![0, 8, 101]);
        assert_eq!(o.choose(Codec::Pcmu), Some(Codec::Pcmu));
        assert_eq!(o.choose(Codec::Pcma), Some(Codec::Pcma));

        let only_a = Offer::parse("c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\n");
        assert_eq!(only_a.choose(Codec::Pcmu), Some(Codec::Pcma));
        let g729 = Offer::parse("c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n");
        assert_eq!(g729.choose(Codec::Pcmu), None);
        // Dynamic payload type named PCMU in an rtpmap.
        let dynamic = Offer::parse(
            "c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 pcmu/8000\r\n",
        );
        assert_eq!(dynamic.choose(Codec::Pcmu), Some(Codec::Pcmu));
        // Media-level c= wins over the session one.
        let two =
            Offer::parse("c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n");
        assert_eq!(two.addr, Some("10.0.0.2:4000".parse().unwrap()));
    }

    #[test]
    fn via_rport() {
        let from: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        assert_eq!(
            fix_top_via("SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport", from),
            "SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport=5070;received=127.0.0.1"
        );
        assert_eq!(
            fix_top_via(
                "SIP/2.0/UDP h;branch=b;rport, SIP/2.0/UDP p;branch=c;rport",
                from
            ),
            "SIP/2.0/UDP h;branch=b;rport=5070;received=127.0.0.1, SIP/2.0/UDP p;branch=c;rport"
        );
        assert_eq!(
            fix_top_via("SIP/2.0/UDP h;branch=b", from),
            "SIP/2.0/UDP h;branch=b"
        );
    }

    #[test]
    fn response_copies_headers() {
        let req = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP p1;branch=b1\r\nVia: SIP/2.0/UDP p2;branch=b2\r\n\
                   Record-Route: <sip:r1;lr>\r\nFrom: <sip:x@y>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n\
                   CSeq: 5 INVITE\r\n\r\n";
        let m = SipMsg::parse(req).unwrap();
        let r = response(
            &m,
            switch(),
            200,
            "OK",
            Some("t9"),
            &[],
            Some(("application/sdp", "v=0\r\n")),
        );
        let p = SipMsg::parse(&r).unwrap();
        assert_eq!(p.status(), Some(200));
        assert_eq!(
            p.all("via").collect::<Vec<_>>(),
            vec!["SIP/2.0/UDP p1;branch=b1", "SIP/2.0/UDP p2;branch=b2"]
        );
        assert_eq!(p.to_tag(), Some("t9"));
        assert_eq!(p.header("record-route"), Some("<sip:r1;lr>"));
        assert_eq!(p.cseq(), Some((5, "INVITE")));
        assert_eq!(p.header("content-length"), Some("5"));
        assert_eq!(p.body, "v=0\r\n");
        // Not a 2xx to INVITE: no Record-Route; an existing To tag is kept.
        let r = response(&m, switch(), 486, "Busy Here", Some("t9"), &[], None);
        assert!(!r.contains("Record-Route"));
        let bye = in_dialog("BYE", "c", "mine", 2, "z9hG4bKb");
        let r = response(
            &SipMsg::parse(&bye).unwrap(),
            switch(),
            200,
            "OK",
            Some("other"),
            &[],
            None,
        );
        assert_eq!(SipMsg::parse(&r).unwrap().to_tag(), Some("mine"));
    }

    #[test]
    fn invite_ack_bye() {
        let mut f = Fixture::new();
        let out = f.at(0, &invite("call-1", "z9hG4bK1"));
        let ok = one(&out);
        let m = SipMsg::parse(&ok).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.header("contact"), Some("<sip:agent@127.0.0.1:25099>"));
        assert_eq!(m.header("content-type"), Some("application/sdp"));
        assert!(m
            .header("via")
            .unwrap()
            .ends_with(";rport=5060;received=127.0.0.1"));
        let tag = m.to_tag().unwrap().to_string();
        let ans = Offer::parse(m.body);
        assert_eq!(ans.addr, Some("127.0.0.1:30000".parse().unwrap()));
        assert_eq!(ans.pts, vec![0]);
        assert_eq!(get(&f.stats.active), 1);

        // A retransmitted INVITE: the very same 200 again, no second RTP socket.
        let again = one(&f.at(300, &invite("call-1", "z9hG4bK1")));
        assert_eq!(again, ok);
        assert_eq!(f.next_port, 30002);
        assert_eq!(get(&f.stats.invite_retransmits), 1);

        // No ACK yet: the 200 goes again after T1, then after 2 T1.
        assert!(f.tick(400).is_empty());
        assert_eq!(one(&f.tick(500)), ok);
        assert!(f.tick(1400).is_empty());
        assert_eq!(one(&f.tick(1500)), ok);

        // ACK: no more retransmissions.
        assert!(f
            .at(1600, &in_dialog("ACK", "call-1", &tag, 1, "z9hG4bK2"))
            .is_empty());
        assert!(f.tick(10_000).is_empty());
        assert_eq!(get(&f.stats.acks), 1);

        // The switch's BYE: 200 and the RTP socket closes.
        let bye = in_dialog("BYE", "call-1", &tag, 2, "z9hG4bK3");
        let out = f.at(20_000, &bye);
        assert!(out.contains(&Out::StopEcho("call-1".into())));
        let r = one(&out);
        assert!(r.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(r.contains("CSeq: 2 BYE\r\n"));
        assert_eq!(get(&f.stats.active), 0);
        assert_eq!(f.uas.open_dialogs(), 0);
        // Retransmitted BYE: 200 again; after 32 s the dialog is forgotten and a BYE gets 481.
        assert!(one(&f.at(20_500, &bye)).starts_with("SIP/2.0 200 OK"));
        assert_eq!(get(&f.stats.bye_retransmits), 1);
        assert!(f.tick(52_100).is_empty());
        assert!(one(&f.at(52_200, &bye)).starts_with("SIP/2.0 481"));
        assert_eq!(get(&f.stats.byes), 1);
    }

    #[test]
    fn no_ack_gives_up_after_32_s() {
        let mut f = Fixture::new();
        f.at(0, &invite("c", "z9hG4bK1"));
        let mut n = 0;
        for ms in (0..40_000).step_by(50) {
            n += sent(&f.tick(ms)).len();
        }
        // 0.5, 1.5, 3.5, 7.5, 11.5, … 31.5 s.
        assert_eq!(n, 10);
        assert_eq!(get(&f.stats.ack_timeouts), 1);
        // The dialog stays up for the switch's BYE.
        assert_eq!(f.uas.open_dialogs(), 1);
    }

    #[test]
    fn rejections() {
        let mut f = Fixture::new();
        let g729 = invite("c1", "z9hG4bK1")
            .replace("RTP/AVP 0 8 101", "RTP/AVP 18")
            .replace("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n", "");
        let r = one(&f.at(0, &g729));
        assert!(r.starts_with("SIP/2.0 488 "), "{r}");
        assert!(SipMsg::parse(&r).unwrap().to_tag().is_some());
        // Retransmitted until ACKed, then forgotten after 32 s.
        assert_eq!(one(&f.tick(500)), r);
        let tag = SipMsg::parse(&r).unwrap().to_tag().unwrap().to_string();
        f.at(600, &in_dialog("ACK", "c1", &tag, 1, "z9hG4bK1"));
        assert!(f.tick(5_000).is_empty());

        f.fail_alloc = true;
        let r = one(&f.at(0, &invite("c2", "z9hG4bK2")));
        assert!(r.starts_with("SIP/2.0 503 "), "{r}");
        assert_eq!(get(&f.stats.rejected), 2);
        assert_eq!(get(&f.stats.active), 0);
    }

    #[test]
    fn other_requests_and_garbage() {
        let mut f = Fixture::new();
        let r = one(&f.at(0, &in_dialog("OPTIONS", "o", "x", 1, "z9hG4bKo")));
        assert!(r.starts_with("SIP/2.0 200 OK") && r.contains("Allow: "));
        let r = one(&f.at(0, &in_dialog("SUBSCRIBE", "s", "x", 1, "z9hG4bKs")));
        assert!(r.starts_with("SIP/2.0 501 "));
        let r = one(&f.at(0, &in_dialog("BYE", "nobody", "x", 1, "z9hG4bKn")));
        assert!(r.starts_with("SIP/2.0 481 "));

        // CANCEL after the 200: 200 for the CANCEL with our To tag.
        let ok = one(&f.at(0, &invite("c", "z9hG4bK1")));
        let tag = SipMsg::parse(&ok).unwrap().to_tag().unwrap().to_string();
        let cancel = invite("c", "z9hG4bK1")
            .replace("INVITE sip", "CANCEL sip")
            .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
        let r = one(&f.at(10, &cancel));
        assert!(r.starts_with("SIP/2.0 200 OK"));
        assert_eq!(SipMsg::parse(&r).unwrap().to_tag(), Some(tag.as_str()));

        // A re-INVITE (our tag, new CSeq): 200 with the same port, a new version.
        let reinv = invite("c", "z9hG4bK9")
            .replace(
                "To: <sip:agent@127.0.0.1:25099>",
                &format!("To: <sip:agent@127.0.0.1:25099>;tag={tag}"),
            )
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
        let r = one(&f.at(20, &reinv));
        let m = SipMsg::parse(&r).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.cseq(), Some((2, "INVITE")));
        assert!(m.body.contains("m=audio 30000 ") && m.body.contains(" 2 IN IP4"));
        assert_eq!(get(&f.stats.reinvites), 1);

        // Nothing answers garbage, responses, or requests without Call-ID/CSeq/Via.
        assert!(f.at(0, "\u{1}\u{2} not sip").is_empty());
        assert!(f
            .at(0, "SIP/2.0 200 OK\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n")
            .is_empty());
        assert!(f
            .at(0, "BYE sip:a@b SIP/2.0\r\nCall-ID: c\r\n\r\n")
            .is_empty());
        assert_eq!(get(&f.stats.malformed), 2);
        assert_eq!(get(&f.stats.responses_ignored), 1);
        let mut alloc = |_: &str| Some(1);
        let raw = f
            .uas
            .handle(&[0xff, 0xfe, 0x00, 0x80], switch(), f.t0, &mut alloc);
        assert!(raw.is_empty());
        assert_eq!(get(&f.stats.malformed), 3);
    }

    #[test]
    fn trace_log_covers_the_first_calls() {
        let mut f = Fixture::new();
        f.at(0, &invite("first", "z9hG4bK1"));
        f.at(0, &invite("second", "z9hG4bK2"));
        let log = f.uas.log.join("\n");
        assert!(log.contains("Call-ID: first"));
        assert!(!log.contains("Call-ID: second"));
        assert!(log.contains("RECV from 127.0.0.1:5060") && log.contains("SENT to 127.0.0.1:5060"));
    }

    /// The real agent over loopback: INVITE → 200 → ACK, RTP echoed to its source, BYE → 200.
    #[test]
    fn agent_over_loopback() {
        use std::net::UdpSocket;
        let log =
            std::env::temp_dir().join(format!("vpbx-soak-agent-test-{}.log", std::process::id()));
        let mut ag = Agent::start(AgentCfg {
            addr: "127.0.0.1:0".parse().unwrap(),
            codec: Codec::Pcmu,
            rtp_base: 47000,
            trace_calls: 1,
            log: log.clone(),
        })
        .unwrap();
        let sw = UdpSocket::bind("127.0.0.1:0").unwrap();
        sw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let recv = |s: &UdpSocket| {
            let mut b = [0u8; 4096];
            let (n, from) = s.recv_from(&mut b).unwrap();
            (String::from_utf8_lossy(&b[..n]).into_owned(), from)
        };
        sw.send_to(invite("loop-1", "z9hG4bKl1").as_bytes(), ag.addr)
            .unwrap();
        let (ok, from) = recv(&sw);
        assert_eq!(from, ag.addr);
        let m = SipMsg::parse(&ok).unwrap();
        assert_eq!(m.status(), Some(200), "{ok}");
        let tag = m.to_tag().unwrap().to_string();
        let rtp_at = Offer::parse(m.body).addr.unwrap();
        sw.send_to(
            in_dialog("ACK", "loop-1", &tag, 1, "z9hG4bKl2").as_bytes(),
            ag.addr,
        )
        .unwrap();

        let media = UdpSocket::bind("127.0.0.1:0").unwrap();
        media
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut pkt = [0xFFu8; 172];
        pkt[0] = 0x80;
        for i in 0..5u8 {
            pkt[3] = i;
            media.send_to(&pkt, rtp_at).unwrap();
            let mut b = [0u8; 2048];
            let (n, src) = media.recv_from(&mut b).unwrap();
            assert_eq!((n, src, b[3]), (172, rtp_at, i));
        }

        sw.send_to(
            in_dialog("BYE", "loop-1", &tag, 2, "z9hG4bKl3").as_bytes(),
            ag.addr,
        )
        .unwrap();
        let (r, _) = recv(&sw);
        assert!(
            r.starts_with("SIP/2.0 200 OK") && r.contains("CSeq: 2 BYE"),
            "{r}"
        );
        // The RTP socket is closed once the BYE is handled.
        let deadline = Instant::now() + Duration::from_secs(3);
        while std::net::UdpSocket::bind(rtp_at).is_err() {
            assert!(Instant::now() < deadline, "RTP socket still open after BYE");
            std::thread::sleep(Duration::from_millis(10));
        }
        ag.stop();
        assert_eq!(get(&ag.stats.rtp_out), 5);
        assert_eq!(
            (get(&ag.stats.acks), get(&ag.stats.byes), ag.stats.active()),
            (1, 1, 0)
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("Call-ID: loop-1") && text.contains("SIP/2.0 200 OK"));
        let _ = std::fs::remove_file(&log);
    }
}
