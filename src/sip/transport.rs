//! The edge's own transports: every message passes the [`gate`](super::gate) and the
//! [`Security`] checks before rsipstack sees it.
//!
//! - UDP: [`GateSocket`] is the socket rsipstack's `UdpConnection` reads from; its `recv_from`
//!   hands over only messages that pass, answers rejected ones itself (to the source address) and
//!   drops the rest.
//! - TCP: our own listener frames each connection by Content-Length, gates every message and
//!   hands the good ones to the stack through a `ChannelConnection` registered with the transport
//!   layer; what the stack sends on that connection comes back on a channel and is written to the
//!   socket. A framing error answers 400 when it can and closes only that connection.
//!
//! Every TCP connection holds a file descriptor, so connections are capped ([`TcpLimits`]): in
//! total and per source address (an IPv6 /64 counts as one), both well below the open-file
//! limit, and a refused connection is closed at once; at the total cap the oldest connection
//! without a valid request yet is closed to make room instead ([`ConnTable`]). Each new
//! connection counts as a request of its source in the flood limit. A connection must send a valid request within
//! `first_request_timeout` of opening; after that it lives while valid messages or RFC 5626
//! keep-alives (a CRLFCRLF ping, answered with a CRLF pong) arrive within `idle_timeout`.

use super::gate::{self, Framing, Verdict};
use super::overload::{Admission, Backlog};
use super::security::Security;
use crate::cidr::Cidr;
use crate::settings::SipTcpSettings;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;
use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transport::channel::ChannelConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportEvent};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// A stream connection with a partial message and no new bytes for this long is closed.
const PARTIAL_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the reader stops, answers still being produced get this long (of quiet) to go out.
const CLOSE_GRACE: Duration = Duration::from_millis(300);
/// Open-file limit assumed when it cannot be read.
const ASSUMED_NOFILE: u64 = 1024;
/// Highest derived total of TCP connections (each also costs a task and buffers).
const MAX_DERIVED_TOTAL: usize = 10_000;

/// Connection caps and timeouts of the TCP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLimits {
    /// Most connections at once.
    pub max_total: usize,
    /// Most connections from one source at once (trusted networks exempt).
    pub max_per_source: usize,
    /// A connection with no valid request this long after opening is closed.
    pub first_request_timeout: Duration,
    /// A connection that sent one is closed after this long without a valid message or ping.
    pub idle_timeout: Duration,
    /// Sources exempt from the per-source cap.
    pub trusted: Vec<Cidr>,
}

impl TcpLimits {
    /// The limits of `s` against an open-file limit of `nofile` (None: unknown). A cap left at
    /// 0 is derived: the total is half of what `fd_reserve` leaves (between 4 and 10,000), a
    /// source gets a sixteenth of the total (between 4 and 256).
    pub fn resolve(s: &SipTcpSettings, trusted: &[Cidr], nofile: Option<u64>) -> TcpLimits {
        let nofile = nofile.unwrap_or(ASSUMED_NOFILE);
        let spare = nofile.saturating_sub(u64::from(s.fd_reserve)) / 2;
        let derived = usize::try_from(spare)
            .unwrap_or(usize::MAX)
            .clamp(4, MAX_DERIVED_TOTAL);
        let max_total = match s.max_connections {
            0 => derived,
            n => n as usize,
        };
        let max_per_source = match s.max_connections_per_ip {
            0 => (max_total / 16).clamp(4, 256).min(max_total),
            n => n as usize,
        };
        TcpLimits {
            max_total,
            max_per_source,
            first_request_timeout: Duration::from_secs(s.first_request_timeout_s),
            idle_timeout: Duration::from_secs(s.idle_timeout_s),
            trusted: trusted.to_vec(),
        }
    }
}

/// The source a connection counts against: the address, or its /64 for IPv6 (one subscriber's
/// usual allocation); IPv4-mapped addresses count as IPv4.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapHit {
    /// The total cap.
    Total,
    /// The source's cap.
    PerSource,
}

impl CapHit {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            CapHit::Total => "total",
            CapHit::PerSource => "per_source",
        }
    }
}

/// The id of an open connection.
pub type ConnId = u64;

/// The pure count of open connections per source. When the total cap is reached, the oldest
/// connection that has not yet sent a valid request makes room for the new one (idle floods are
/// pushed out by newcomers, and phones that proved themselves are never pushed out).
#[derive(Debug, Default)]
pub struct ConnTable {
    next_id: ConnId,
    open: HashMap<ConnId, IpAddr>,
    /// Connections without a valid request yet, oldest first.
    unproven: std::collections::BTreeSet<ConnId>,
    per_source: HashMap<IpAddr, usize>,
    /// Sources at their cap whose refusal was already logged.
    capped: HashSet<IpAddr>,
    total_capped: bool,
}

/// A connection let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Its id.
    pub id: ConnId,
    /// A connection pushed out to make room: close it.
    pub evicted: Option<ConnId>,
}

impl ConnTable {
    /// Opens a connection from `ip` if the caps allow; on refusal, the bool says whether this is
    /// the first refusal since the source (or the total) was last under its cap.
    pub fn open(
        &mut self,
        ip: IpAddr,
        limits: &TcpLimits,
        trusted: bool,
    ) -> Result<Opened, (CapHit, bool)> {
        let key = source_key(ip);
        let n = self.per_source.get(&key).copied().unwrap_or(0);
        if !trusted && n >= limits.max_per_source {
            return Err((CapHit::PerSource, self.capped.insert(key)));
        }
        let mut evicted = None;
        if self.open.len() >= limits.max_total {
            let Some(oldest) = self.unproven.first().copied() else {
                let first = !self.total_capped;
                self.total_capped = true;
                return Err((CapHit::Total, first));
            };
            self.close(oldest, limits);
            evicted = Some(oldest);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, key);
        self.unproven.insert(id);
        *self.per_source.entry(key).or_insert(0) += 1;
        Ok(Opened { id, evicted })
    }

    /// Connection `id` sent a valid request: it is no longer pushed out for newcomers.
    pub fn proven(&mut self, id: ConnId) {
        self.unproven.remove(&id);
    }

    /// Connection `id` closed (or was pushed out); closing it again does nothing.
    pub fn close(&mut self, id: ConnId, limits: &TcpLimits) {
        let Some(key) = self.open.remove(&id) else {
            return;
        };
        self.unproven.remove(&id);
        let left = match self.per_source.get_mut(&key) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            self.per_source.remove(&key);
        }
        if left < limits.max_per_source {
            self.capped.remove(&key);
        }
        if self.open.len() < limits.max_total {
            self.total_capped = false;
        }
    }

    /// Connections open now.
    pub fn total(&self) -> usize {
        self.open.len()
    }
}

/// The shared connection count of a listener, with a way to close each connection.
struct Conns {
    state: Mutex<(ConnTable, HashMap<ConnId, CancellationToken>)>,
    limits: TcpLimits,
}

/// An open connection's place in the count, given back on drop.
struct ConnSlot {
    conns: Arc<Conns>,
    id: ConnId,
}

impl Conns {
    fn new(limits: TcpLimits) -> Conns {
        Conns {
            state: Mutex::new((ConnTable::default(), HashMap::new())),
            limits,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut ConnTable, &mut HashMap<ConnId, CancellationToken>) -> T,
    ) -> T {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (table, cancels) = &mut *guard;
        f(table, cancels)
    }

    /// Lets a connection from `ip` in, closed by `cancel` if it is pushed out later.
    fn open(
        self: &Arc<Self>,
        ip: IpAddr,
        cancel: CancellationToken,
    ) -> Result<ConnSlot, (CapHit, bool)> {
        let trusted = crate::cidr::any_contains(&self.limits.trusted, ip);
        let (opened, victim, total) = self.with(|t, cancels| {
            let opened = t.open(ip, &self.limits, trusted)?;
            cancels.insert(opened.id, cancel);
            let victim = opened.evicted.and_then(|v| cancels.remove(&v));
            Ok((opened, victim, t.total()))
        })?;
        if let Some(victim) = victim {
            metrics::counter!("vpbx_sip_tcp_evicted_total").increment(1);
            debug!(src = %ip, "TCP total cap: the oldest connection without a request closed");
            victim.cancel();
        }
        metrics::gauge!("vpbx_sip_tcp_connections").set(total as f64);
        Ok(ConnSlot {
            conns: self.clone(),
            id: opened.id,
        })
    }
}

impl ConnSlot {
    /// The connection sent a valid request.
    fn proven(&self) {
        self.conns.with(|t, _| t.proven(self.id));
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let limits = &self.conns.limits;
        let total = self.conns.with(|t, cancels| {
            t.close(self.id, limits);
            cancels.remove(&self.id);
            t.total()
        });
        metrics::gauge!("vpbx_sip_tcp_connections").set(total as f64);
    }
}

fn to_tag() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// Counts a verdict that does not pass and returns the answer to send, if any.
fn refuse(raw: &[u8], verdict: &Verdict, server: &str, peer: SocketAddr) -> Option<Vec<u8>> {
    match verdict {
        Verdict::Pass(_) => None,
        Verdict::Reject(v) => {
            metrics::counter!("vpbx_sip_violations_total", "kind" => v.label()).increment(1);
            debug!(src = %peer, violation = ?v, "rejected at the gate");
            gate::error_response(raw, v, &to_tag(), server)
        }
        Verdict::Drop(d) => {
            if let gate::Drop::Unanswerable(v) = d {
                metrics::counter!("vpbx_sip_violations_total", "kind" => v.label()).increment(1);
            }
            metrics::counter!("vpbx_sip_dropped_total", "reason" => d.label()).increment(1);
            debug!(src = %peer, reason = ?d, "dropped at the gate");
            None
        }
    }
}

/// The UDP socket rsipstack reads from, with the gate in front.
pub(super) struct GateSocket {
    sock: tokio::net::UdpSocket,
    buf: tokio::sync::Mutex<Vec<u8>>,
    security: Arc<Security>,
    server: String,
    /// What passed up and the stack has not taken yet (early shedding, D73).
    backlog: Arc<Backlog>,
}

impl GateSocket {
    pub(super) fn new(
        sock: tokio::net::UdpSocket,
        security: Arc<Security>,
        server: String,
        backlog: Arc<Backlog>,
    ) -> GateSocket {
        GateSocket {
            sock,
            buf: tokio::sync::Mutex::new(vec![0u8; 65536]),
            security,
            server,
            backlog,
        }
    }

    /// Answers a new INVITE 503 with `Retry-After` while the stack is behind.
    async fn shed(&self, raw: &[u8], from: SocketAddr) {
        let answer = gate::Stateless {
            status: 503,
            phrase: "Service Unavailable",
            extra: vec![format!("Retry-After: {}", super::overload::RETRY_AFTER_S)],
            warning: "overloaded: the SIP stack is behind".into(),
        };
        if let Some(bytes) = answer.to(raw, &to_tag(), &self.server) {
            if let Err(e) = self.sock.send_to(&bytes, from).await {
                debug!(error = %e, dest = %from, "overload answer not sent");
            }
        }
    }
}

/// The stack's side of the [`Backlog`]: every UDP message it takes up from the transport.
pub(super) struct BacklogTaken(pub Arc<Backlog>);

#[async_trait::async_trait]
impl rsipstack::transaction::endpoint::TransportEventInspector for BacklogTaken {
    async fn handle(&self, event: TransportEvent) -> Option<TransportEvent> {
        if let TransportEvent::Incoming(msg, _, from) = &event {
            if matches!(from.r#type, Some(rsipstack::sip::Transport::Udp)) {
                let start = match msg {
                    SipMessage::Request(r) => r.method.to_string(),
                    SipMessage::Response(r) => r.status_code.code().to_string(),
                };
                if let (Ok(call_id), Ok(cseq)) = (msg.call_id_header(), msg.cseq_header()) {
                    self.0.taken(super::overload::message_key(
                        &start,
                        call_id.value(),
                        cseq.value(),
                    ));
                }
            }
        }
        Some(event)
    }
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for GateSocket {
    async fn recv_from(&self, out: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        let mut raw = self.buf.lock().await;
        loop {
            let (n, from) = self.sock.recv_from(&mut raw).await?;
            let data = &raw[..n];
            if !self.security.admit(from.ip(), !data.starts_with(b"SIP/")) {
                continue;
            }
            let (verdict, clean) = gate::screen(data, Framing::Datagram { limit: out.len() });
            if let Some(clean) = clean {
                if clean.len() <= out.len() {
                    match self.backlog.admit(&clean) {
                        Admission::Pass => {
                            out[..clean.len()].copy_from_slice(&clean);
                            return Ok((clean.len(), from));
                        }
                        Admission::DropRetransmission => continue,
                        Admission::Refuse => {
                            self.shed(&clean, from).await;
                            continue;
                        }
                    }
                }
                let v = gate::SipViolation::TooLarge(clean.len());
                if let Some(answer) = refuse(data, &Verdict::Reject(v), &self.server, from) {
                    let _ = self.sock.send_to(&answer, from).await;
                }
                continue;
            }
            if let Some(answer) = refuse(data, &verdict, &self.server, from) {
                if let Err(e) = self.sock.send_to(&answer, from).await {
                    debug!(error = %e, dest = %from, "gate answer not sent");
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.sock.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.sock.local_addr()?)
    }
}

/// Accepts TCP connections until `cancel`, within `limits`.
pub(super) async fn serve_tcp(
    listener: tokio::net::TcpListener,
    endpoint: Arc<EndpointInner>,
    security: Arc<Security>,
    server: String,
    limits: TcpLimits,
    cancel: CancellationToken,
) {
    for reason in ["total", "per_source", "banned"] {
        metrics::counter!("vpbx_sip_tcp_refused_total", "reason" => reason).increment(0);
    }
    metrics::gauge!("vpbx_sip_tcp_connections").set(0.0);
    metrics::counter!("vpbx_sip_tcp_evicted_total").increment(0);
    let conns = Arc::new(Conns::new(limits));
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                debug!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // A new connection is a request in the flood count of its source.
        if !security.admit(peer.ip(), true) {
            metrics::counter!("vpbx_sip_tcp_refused_total", "reason" => "banned").increment(1);
            continue;
        }
        let conn_cancel = cancel.child_token();
        let slot = match conns.open(peer.ip(), conn_cancel.clone()) {
            Ok(slot) => slot,
            Err((hit, first)) => {
                metrics::counter!("vpbx_sip_tcp_refused_total", "reason" => hit.label())
                    .increment(1);
                if first {
                    warn!(
                        security = "tcp_cap",
                        source = %peer.ip(),
                        cap = hit.label(),
                        max_total = conns.limits.max_total,
                        max_per_source = conns.limits.max_per_source,
                        "SIP TCP connection cap reached; closing new connections"
                    );
                }
                drop(stream);
                continue;
            }
        };
        let conn = TcpConn {
            endpoint: endpoint.clone(),
            security: security.clone(),
            server: server.clone(),
            peer,
            cancel: conn_cancel,
            first_request_timeout: conns.limits.first_request_timeout,
            idle_timeout: conns.limits.idle_timeout,
            slot,
        };
        tokio::spawn(conn.run(stream));
    }
}

struct TcpConn {
    endpoint: Arc<EndpointInner>,
    security: Arc<Security>,
    server: String,
    peer: SocketAddr,
    cancel: CancellationToken,
    first_request_timeout: Duration,
    idle_timeout: Duration,
    /// Held for the connection's life.
    slot: ConnSlot,
}

/// The monotonic clock (through `crate::clock`) as a tokio timer instant.
fn now() -> Instant {
    Instant::from_std(crate::clock::monotonic_now())
}

/// RFC 5626 §3.5.1: a double CRLF on a stream is a keep-alive ping, answered with one CRLF.
const PING: &[u8] = b"\r\n\r\n";
const PONG: &[u8] = b"\r\n";

impl TcpConn {
    async fn run(self, stream: tokio::net::TcpStream) {
        let peer = self.peer;
        let (mut rd, mut wr) = stream.into_split();
        let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<TransportEvent>();
        let (raw_tx, mut raw_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let addr = SipAddr {
            r#type: Some(rsipstack::sip::Transport::Tcp),
            addr: peer.into(),
        };
        let channel = match ChannelConnection::create_connection(
            in_rx,
            out_tx,
            addr.clone(),
            // Its own token: the stack cancels it when it retires the connection, which must
            // not cut the writer's grace period short.
            Some(self.cancel.child_token()),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "cannot create the TCP channel");
                return;
            }
        };
        let connection = SipConnection::Channel(channel);
        self.endpoint
            .transport_layer
            .add_connection(connection.clone());

        // Writer: what the stack sends, and the gate's own answers. Once the reader is done
        // (EOF, framing error, timeout) it keeps writing until the stack has been quiet for
        // `CLOSE_GRACE`, so answers to the messages already handed over still go out.
        let writer_cancel = self.cancel.clone();
        let reader_done = CancellationToken::new();
        let writer_done = reader_done.clone();
        let writer = tokio::spawn(async move {
            loop {
                let quiet = async {
                    writer_done.cancelled().await;
                    tokio::time::sleep(CLOSE_GRACE).await;
                };
                let bytes = tokio::select! {
                    _ = writer_cancel.cancelled() => break,
                    _ = quiet => break,
                    ev = out_rx.recv() => match ev {
                        Some(TransportEvent::Incoming(msg, _, _)) => msg.to_bytes(),
                        Some(_) => continue,
                        None => break,
                    },
                    raw = raw_rx.recv() => match raw {
                        Some(r) => r,
                        None if writer_done.is_cancelled() => {
                            tokio::time::sleep(CLOSE_GRACE).await;
                            break;
                        }
                        None => break,
                    },
                };
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });

        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 8192];
        // Until the first valid message the deadline is fixed from the opening; after it, each
        // valid message or ping moves it on by `idle_timeout`.
        let mut valid = false;
        let mut deadline = now() + self.first_request_timeout;
        let mut last_bytes = now();
        'conn: loop {
            let partial = !buf.iter().all(|b| *b == b'\r' || *b == b'\n');
            let until = if partial {
                let stalled = last_bytes + PARTIAL_MESSAGE_TIMEOUT;
                if valid {
                    stalled
                } else {
                    stalled.min(deadline)
                }
            } else {
                deadline
            };
            let read = tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = tokio::time::timeout_at(until, rd.read(&mut chunk)) => r,
            };
            let n = match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Err(_) => {
                    metrics::counter!("vpbx_sip_tcp_timeouts_total", "valid" => if valid { "yes" } else { "no" })
                        .increment(1);
                    debug!(src = %peer, valid, "TCP connection timed out");
                    break;
                }
                Ok(Ok(n)) => n,
            };
            last_bytes = now();
            buf.extend_from_slice(&chunk[..n]);
            loop {
                if buf.starts_with(PING) {
                    buf.drain(..PING.len());
                    let _ = raw_tx.send(PONG.to_vec());
                    if valid {
                        deadline = now() + self.idle_timeout;
                    }
                    continue;
                }
                let (range, used) = match gate::frame(&buf) {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(v) => {
                        // Framing is lost: answer if the head allows it, then close.
                        metrics::counter!("vpbx_sip_violations_total", "kind" => v.label())
                            .increment(1);
                        debug!(src = %peer, violation = ?v, "TCP framing error; closing");
                        if let Some(answer) =
                            gate::error_response(&buf, &v, &to_tag(), &self.server)
                        {
                            let _ = raw_tx.send(answer);
                        }
                        break 'conn;
                    }
                };
                let msg = buf[range].to_vec();
                buf.drain(..used);
                if !self.security.admit(peer.ip(), !msg.starts_with(b"SIP/")) {
                    continue;
                }
                let (verdict, clean) = gate::screen(&msg, Framing::Stream);
                let Some(clean) = clean else {
                    if let Some(answer) = refuse(&msg, &verdict, &self.server, peer) {
                        let _ = raw_tx.send(answer);
                    }
                    continue;
                };
                let parsed = SipMessage::try_from(&clean[..])
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        SipConnection::update_msg_received(m, peer, rsipstack::sip::Transport::Tcp)
                            .map_err(|e| e.to_string())
                    });
                match parsed {
                    Ok(m) => {
                        if !valid {
                            self.slot.proven();
                        }
                        valid = true;
                        deadline = now() + self.idle_timeout;
                        let ev = TransportEvent::Incoming(m, connection.clone(), addr.clone());
                        if in_tx.send(ev).is_err() {
                            break 'conn;
                        }
                    }
                    Err(e) => {
                        metrics::counter!("vpbx_sip_dropped_total", "reason" => "unparsed")
                            .increment(1);
                        debug!(src = %peer, error = %e, "stack could not parse a gated message");
                    }
                }
            }
        }
        drop(in_tx);
        reader_done.cancel();
        let _ = writer.await;
        drop(raw_tx);
        self.cancel.cancel();
        self.endpoint.transport_layer.remove_connection(&connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> TcpLimits {
        TcpLimits {
            max_total: total,
            max_per_source: per,
            first_request_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(300),
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_derive_from_the_open_file_limit() {
        let d = SipTcpSettings::default();
        // 1,024 descriptors, 512 reserved: 256 connections, 16 per source.
        let l = TcpLimits::resolve(&d, &[], Some(1024));
        assert_eq!((l.max_total, l.max_per_source), (256, 16));
        assert!(l.max_total + d.fd_reserve as usize <= 1024);
        // A large limit: the total is bounded, a source gets at most 256.
        let l = TcpLimits::resolve(&d, &[], Some(1 << 20));
        assert_eq!((l.max_total, l.max_per_source), (10_000, 256));
        // A tiny limit still leaves a few.
        let l = TcpLimits::resolve(&d, &[], Some(100));
        assert_eq!((l.max_total, l.max_per_source), (4, 4));
        // Unknown: as 1,024.
        assert_eq!(TcpLimits::resolve(&d, &[], None).max_total, 256);
        // Explicit settings win.
        let s = SipTcpSettings {
            max_connections: 50,
            max_connections_per_ip: 3,
            ..d
        };
        let l = TcpLimits::resolve(&s, &[], Some(1024));
        assert_eq!((l.max_total, l.max_per_source), (50, 3));
    }

    /// Opens and returns the id, or panics.
    fn let_in(t: &mut ConnTable, ip_s: &str, l: &TcpLimits, trusted: bool) -> ConnId {
        let o = t.open(ip(ip_s), l, trusted).unwrap();
        assert_eq!(o.evicted, None);
        o.id
    }

    #[test]
    fn per_source_and_total_caps() {
        let l = limits(5, 2);
        let mut t = ConnTable::default();
        let a1 = let_in(&mut t, "192.0.2.1", &l, false);
        let a2 = let_in(&mut t, "192.0.2.1", &l, false);
        assert_eq!(
            t.open(ip("192.0.2.1"), &l, false),
            Err((CapHit::PerSource, true))
        );
        // Logged once while capped.
        assert_eq!(
            t.open(ip("192.0.2.1"), &l, false),
            Err((CapHit::PerSource, false))
        );
        // Other sources go on; trusted ones are not capped per source.
        let b = let_in(&mut t, "192.0.2.2", &l, false);
        let c1 = let_in(&mut t, "10.1.1.1", &l, true);
        let c2 = let_in(&mut t, "10.1.1.1", &l, true);
        assert_eq!(t.total(), 5);
        // All proven: the total cap refuses.
        for id in [a1, a2, b, c1, c2] {
            t.proven(id);
        }
        assert_eq!(t.open(ip("10.1.1.1"), &l, true), Err((CapHit::Total, true)));
        assert_eq!(
            t.open(ip("192.0.2.3"), &l, false),
            Err((CapHit::Total, false))
        );
        // Closing frees the places (twice is harmless).
        t.close(a1, &l);
        t.close(a1, &l);
        assert_eq!(t.total(), 4);
        let a3 = let_in(&mut t, "192.0.2.1", &l, false);
        t.close(a2, &l);
        t.close(a3, &l);
        let_in(&mut t, "192.0.2.1", &l, false);
        let_in(&mut t, "192.0.2.1", &l, false);
        assert_eq!(t.total(), 5);
    }

    #[test]
    fn at_the_total_cap_the_oldest_unproven_connection_makes_room() {
        let l = limits(3, 10);
        let mut t = ConnTable::default();
        let phone = let_in(&mut t, "192.0.2.9", &l, false);
        t.proven(phone);
        let idle1 = let_in(&mut t, "192.0.2.1", &l, false);
        let idle2 = let_in(&mut t, "192.0.2.2", &l, false);
        let o = t.open(ip("192.0.2.3"), &l, false).unwrap();
        assert_eq!(o.evicted, Some(idle1));
        t.close(idle1, &l);
        assert_eq!(t.total(), 3);
        let o2 = t.open(ip("192.0.2.4"), &l, false).unwrap();
        assert_eq!(o2.evicted, Some(idle2));
        // The proven phone is never pushed out.
        t.proven(o.id);
        t.proven(o2.id);
        assert_eq!(
            t.open(ip("192.0.2.5"), &l, false),
            Err((CapHit::Total, true))
        );
        assert!(t.open.contains_key(&phone));
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source() {
        let l = limits(100, 2);
        let mut t = ConnTable::default();
        let_in(&mut t, "2001:db8:1:2::1", &l, false);
        let_in(&mut t, "2001:db8:1:2::ffff:1", &l, false);
        assert!(t.open(ip("2001:db8:1:2:abcd::9"), &l, false).is_err());
        let_in(&mut t, "2001:db8:1:3::1", &l, false);
        assert_eq!(source_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}

#[cfg(test)]
mod backlog_key_tests {
    use super::*;

    /// The stack's side computes, from its own parse, the key the gate computed from the bytes.
    #[test]
    fn the_gate_and_the_stack_agree_on_every_messages_key() {
        let messages: [&[u8]; 4] = [
            b"INVITE sip:74950000000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:74950000000@127.0.0.1>\r\nCall-ID: c1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5071>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-2;received=127.0.0.1\r\nFrom: <sip:vpbx@127.0.0.1>;tag=us\r\nTo: <sip:101@127.0.0.1>;tag=them\r\nCall-ID: out-7\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n",
            b"BYE sip:vpbx@127.0.0.1:5060 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-3\r\nf: <sip:a@127.0.0.1>;tag=1\r\nt: <sip:74950000000@127.0.0.1>;tag=us\r\ni: c1@127.0.0.1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            b"INFO sip:vpbx@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-4\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:74950000000@127.0.0.1>;tag=us\r\nCall-ID: c1@127.0.0.1\r\nCSeq: 3 INFO\r\nMax-Forwards: 70\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\nSignal=1\r\n",
        ];
        for raw in messages {
            let clean = gate::normalize(raw);
            let gate_key = super::super::overload::message_id(&clean).unwrap().key();
            let msg = SipMessage::try_from(clean.as_slice()).unwrap();
            let start = match &msg {
                SipMessage::Request(r) => r.method.to_string(),
                SipMessage::Response(r) => r.status_code.code().to_string(),
            };
            let call_id = msg.call_id_header().unwrap().value().to_string();
            let cseq = msg.cseq_header().unwrap().value().to_string();
            let stack_key = super::super::overload::message_key(&start, &call_id, &cseq);
            assert_eq!(gate_key, stack_key, "{}", String::from_utf8_lossy(&clean));
        }
    }
}
