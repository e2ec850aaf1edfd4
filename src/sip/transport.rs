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

use super::gate::{self, Framing, Verdict};
use super::security::Security;
use rsipstack::sip::SipMessage;
use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transport::channel::ChannelConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportEvent};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// A stream connection with a partial message and no new bytes for this long is closed.
const PARTIAL_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the reader stops, answers still being produced get this long (of quiet) to go out.
const CLOSE_GRACE: Duration = Duration::from_millis(300);
/// A stream connection with no bytes at all for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

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

/// Accepts TCP connections until `cancel`.
pub(super) async fn serve_tcp(
    listener: tokio::net::TcpListener,
    endpoint: Arc<EndpointInner>,
    security: Arc<Security>,
    server: String,
    cancel: CancellationToken,
) {
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
        if !security.admit(peer.ip(), false) {
            continue;
        }
        let conn = TcpConn {
            endpoint: endpoint.clone(),
            security: security.clone(),
            server: server.clone(),
            peer,
            cancel: cancel.child_token(),
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
}

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
        'conn: loop {
            let wait = if buf.iter().all(|b| *b == b'\r' || *b == b'\n') {
                IDLE_TIMEOUT
            } else {
                PARTIAL_MESSAGE_TIMEOUT
            };
            let read = tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = tokio::time::timeout(wait, rd.read(&mut chunk)) => r,
            };
            let n = match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Err(_) => {
                    debug!(src = %peer, "TCP connection timed out");
                    break;
                }
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
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
