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
//! limit, and a refused connection is closed at once. Each new connection counts as a request
//! of its source in the flood limit. A connection must send a valid request within
//! `first_request_timeout` of opening; after that it lives while valid messages or RFC 5626
//! keep-alives (a CRLFCRLF ping, answered with a CRLF pong) arrive within `idle_timeout`.

use super::gate::{self, Framing, Verdict};
use super::security::Security;
use crate::cidr::Cidr;
use crate::settings::SipTcpSettings;
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

/// The pure count of open connections per source.
#[derive(Debug, Default)]
pub struct ConnTable {
    per_source: HashMap<IpAddr, usize>,
    total: usize,
    /// Sources at their cap whose refusal was already logged.
    capped: HashSet<IpAddr>,
    total_capped: bool,
}

impl ConnTable {
    /// Opens a connection from `ip` if the caps allow; on refusal, the bool says whether this is
    /// the first refusal since the source (or the total) was last under its cap.
    pub fn open(
        &mut self,
        ip: IpAddr,
        limits: &TcpLimits,
        trusted: bool,
    ) -> Result<(), (CapHit, bool)> {
        let key = source_key(ip);
        if self.total >= limits.max_total {
            let first = !self.total_capped;
            self.total_capped = true;
            return Err((CapHit::Total, first));
        }
        let n = self.per_source.get(&key).copied().unwrap_or(0);
        if !trusted && n >= limits.max_per_source {
            return Err((CapHit::PerSource, self.capped.insert(key)));
        }
        self.per_source.insert(key, n + 1);
        self.total += 1;
        Ok(())
    }

    /// A connection from `ip` closed.
    pub fn close(&mut self, ip: IpAddr, limits: &TcpLimits) {
        let key = source_key(ip);
        if let Some(n) = self.per_source.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&key);
            }
            if *self.per_source.get(&key).unwrap_or(&0) < limits.max_per_source {
                self.capped.remove(&key);
            }
            self.total = self.total.saturating_sub(1);
        }
        if self.total < limits.max_total {
            self.total_capped = false;
        }
    }

    /// Connections open now.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// The shared connection count of a listener.
struct Conns {
    table: Mutex<ConnTable>,
    limits: TcpLimits,
}

/// An open connection's place in the count, given back on drop.
struct ConnSlot {
    conns: Arc<Conns>,
    ip: IpAddr,
}

impl Conns {
    fn with<T>(&self, f: impl FnOnce(&mut ConnTable) -> T) -> T {
        match self.table.lock() {
            Ok(mut t) => f(&mut t),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, (CapHit, bool)> {
        let trusted = crate::cidr::any_contains(&self.limits.trusted, ip);
        let total = self.with(|t| t.open(ip, &self.limits, trusted).map(|()| t.total()))?;
        metrics::gauge!("vpbx_sip_tcp_connections").set(total as f64);
        Ok(ConnSlot {
            conns: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let limits = &self.conns.limits;
        let total = self.conns.with(|t| {
            t.close(self.ip, limits);
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
}

impl GateSocket {
    pub(super) fn new(
        sock: tokio::net::UdpSocket,
        security: Arc<Security>,
        server: String,
    ) -> GateSocket {
        GateSocket {
            sock,
            buf: tokio::sync::Mutex::new(vec![0u8; 65536]),
            security,
            server,
        }
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
            let verdict = gate::check(data, Framing::Datagram { limit: out.len() });
            if let Verdict::Pass(range) = &verdict {
                let clean = gate::normalize(&data[range.clone()]);
                if clean.len() <= out.len() {
                    out[..clean.len()].copy_from_slice(&clean);
                    return Ok((clean.len(), from));
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
    let conns = Arc::new(Conns {
        table: Mutex::new(ConnTable::default()),
        limits,
    });
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
        let slot = match conns.open(peer.ip()) {
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
            cancel: cancel.child_token(),
            first_request_timeout: conns.limits.first_request_timeout,
            idle_timeout: conns.limits.idle_timeout,
            _slot: slot,
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
    _slot: ConnSlot,
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
        let mut deadline = Instant::now() + self.first_request_timeout;
        let mut last_bytes = Instant::now();
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
            last_bytes = Instant::now();
            buf.extend_from_slice(&chunk[..n]);
            loop {
                if buf.starts_with(PING) {
                    buf.drain(..PING.len());
                    let _ = raw_tx.send(PONG.to_vec());
                    if valid {
                        deadline = Instant::now() + self.idle_timeout;
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
                let verdict = gate::check(&msg, Framing::Stream);
                let Verdict::Pass(r) = &verdict else {
                    if let Some(answer) = refuse(&msg, &verdict, &self.server, peer) {
                        let _ = raw_tx.send(answer);
                    }
                    continue;
                };
                let clean = gate::normalize(&msg[r.clone()]);
                let parsed = SipMessage::try_from(&clean[..])
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        SipConnection::update_msg_received(m, peer, rsipstack::sip::Transport::Tcp)
                            .map_err(|e| e.to_string())
                    });
                match parsed {
                    Ok(m) => {
                        valid = true;
                        deadline = Instant::now() + self.idle_timeout;
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

    #[test]
    fn per_source_and_total_caps() {
        let l = limits(5, 2);
        let mut t = ConnTable::default();
        assert_eq!(t.open(ip("192.0.2.1"), &l, false), Ok(()));
        assert_eq!(t.open(ip("192.0.2.1"), &l, false), Ok(()));
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
        assert_eq!(t.open(ip("192.0.2.2"), &l, false), Ok(()));
        assert_eq!(t.open(ip("10.1.1.1"), &l, true), Ok(()));
        assert_eq!(t.open(ip("10.1.1.1"), &l, true), Ok(()));
        assert_eq!(t.total(), 5);
        assert_eq!(t.open(ip("10.1.1.1"), &l, true), Err((CapHit::Total, true)));
        assert_eq!(
            t.open(ip("192.0.2.3"), &l, false),
            Err((CapHit::Total, false))
        );
        // Closing frees the places.
        t.close(ip("192.0.2.1"), &l);
        assert_eq!(t.total(), 4);
        assert_eq!(t.open(ip("192.0.2.1"), &l, false), Ok(()));
        t.close(ip("192.0.2.1"), &l);
        t.close(ip("192.0.2.1"), &l);
        assert_eq!(t.open(ip("192.0.2.1"), &l, false), Ok(()));
        assert_eq!(t.open(ip("192.0.2.1"), &l, false), Ok(()));
        assert_eq!(
            t.open(ip("192.0.2.1"), &l, false),
            Err((CapHit::Total, true))
        );
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source() {
        let l = limits(100, 2);
        let mut t = ConnTable::default();
        assert_eq!(t.open(ip("2001:db8:1:2::1"), &l, false), Ok(()));
        assert_eq!(t.open(ip("2001:db8:1:2::ffff:1"), &l, false), Ok(()));
        assert!(t.open(ip("2001:db8:1:2:abcd::9"), &l, false).is_err());
        assert_eq!(t.open(ip("2001:db8:1:3::1"), &l, false), Ok(()));
        assert_eq!(source_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
