//! A leg's outgoing RTP stream, and lending it across a bridge.
//!
//! [`Tx`] is what sending a packet needs and changes: the stream's SSRC, sequence and timestamp
//! ([`RtpSender`]), the codec, when the last packet went out (for timestamp gaps) and the
//! counters. A leg's task owns its `Tx`.
//!
//! Across a two-leg bridge, a leg that only relays (no prompt, echo, DTMF, recording or hold
//! of its own) **lends** its `Tx`, with its socket and its peer's address, to the bridge: the
//! other leg's task then encodes and sends each frame it receives straight out of this leg's
//! socket, so a relayed packet wakes one task instead of two and crosses no channel. The
//! lending leg takes its `Tx` back ([`take_back`]) before it does anything that sends or
//! changes the stream (a command, a tick, a frame that still came through the channel, its
//! end), and lends it again once it is back to relaying. Either way one owner sends at a time,
//! so the stream stays one sequence of packets.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::g711::Codec;
use crate::packetizer::RtpSender;
use crate::session::StatsInner;

/// A pause in sending longer than this starts a new talkspurt (timestamp jump + marker).
const GAP_THRESHOLD: Duration = Duration::from_millis(60);

/// A leg's outgoing stream (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Tx {
    pub sender: RtpSender,
    pub codec: Codec,
    /// When the last packet was sent and how many samples it carried.
    pub last_sent: Option<(Instant, u32)>,
    /// Output just (re)started from idle: the next send checks for a gap.
    pub resume_pending: bool,
    pub stats: Arc<StatsInner>,
    /// The process-wide count of packets sent, added to in batches.
    pub sent_total: Batched,
    /// Packets the socket refused (its send buffer full, or an error): dropped, and counted.
    pub send_failed_total: metrics::Counter,
}

impl Tx {
    /// After a pause in sending, advance the timestamp by the pause and mark a new talkspurt.
    pub fn sync_ts(&mut self, now: Instant) {
        if let Some((at, last_len)) = self.last_sent {
            let gap = now.saturating_duration_since(at);
            if gap > GAP_THRESHOLD {
                let gap_samples = gap.as_micros() * 8 / 1000;
                let extra = gap_samples.saturating_sub(u128::from(last_len));
                self.sender.skip(u32::try_from(extra).unwrap_or(u32::MAX));
            }
        }
    }

    /// Packetise and send one payload to `remote`; `check_gap`: a pause before it starts a
    /// new talkspurt (not between the frames of a prompt, which are paced exactly).
    pub fn send_payload(
        &mut self,
        payload: &[u8],
        socket: &UdpSocket,
        remote: SocketAddr,
        now: Instant,
        check_gap: bool,
    ) {
        if check_gap || self.resume_pending {
            self.sync_ts(now);
        }
        self.resume_pending = false;
        let pkt = self.sender.next_packet(self.codec.payload_type(), payload);
        self.last_sent = Some((now, payload.len() as u32));
        self.transmit(&pkt, socket, remote);
    }

    /// Sends one finished packet to `remote`, counting it.
    pub fn transmit(&mut self, pkt: &[u8], socket: &UdpSocket, remote: SocketAddr) {
        match socket.try_send_to(pkt, remote) {
            Ok(n) => {
                self.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                self.sent_total.add_one();
            }
            Err(e) => {
                self.send_failed_total.increment(1);
                tracing::debug!(error = %e, %remote, "RTP send failed");
            }
        }
    }
}

/// Packets counted by a leg and added to a process-wide counter every [`Batched::EVERY`]: the
/// counter is one atomic shared by every leg on every thread, and adding to it per packet made
/// the two cores fight over its cache line (3 % of the switch's CPU at 1,000 bridged legs).
/// `/metrics` lags by fewer than `EVERY` packets per leg; the rest is added when the leg ends
/// ([`Batched::flush`]). A copy (a lent [`Tx`]) carries the count; only the copy in use flushes.
#[derive(Debug, Clone)]
pub(crate) struct Batched {
    counter: metrics::Counter,
    pending: u64,
}

impl Batched {
    const EVERY: u64 = 16;

    pub fn new(counter: metrics::Counter) -> Batched {
        Batched {
            counter,
            pending: 0,
        }
    }

    pub fn add_one(&mut self) {
        self.pending += 1;
        if self.pending >= Self::EVERY {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.pending > 0 {
            self.counter.increment(self.pending);
            self.pending = 0;
        }
    }
}

/// A [`Tx`] lent to a bridge, with what sending on the lender's behalf needs.
#[derive(Debug)]
pub(crate) struct Lent {
    pub tx: Tx,
    pub socket: Arc<UdpSocket>,
    pub remote: SocketAddr,
}

impl Lent {
    /// Sends one frame of relayed audio in the lender's codec.
    pub fn send_pcm(&mut self, pcm: &[i16], now: Instant) {
        let payload = self.tx.codec.encode(pcm);
        self.tx
            .send_payload(&payload, &self.socket, self.remote, now, true);
    }
}

/// Where a leg lends its [`Tx`] to the leg it is bridged to: empty while the lender sends for
/// itself.
pub(crate) type TxSlot = Arc<Mutex<Option<Lent>>>;

/// An empty slot.
pub(crate) fn slot() -> TxSlot {
    Arc::new(Mutex::new(None))
}

pub(crate) fn lock(slot: &TxSlot) -> MutexGuard<'_, Option<Lent>> {
    // A panic while a frame was being sent leaves a stream that is still whole.
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// The lender's side: takes its `Tx` back from `slot` into `tx` if it is lent (the borrower's
/// sends advanced it).
pub(crate) fn take_back(slot: &TxSlot, tx: &mut Tx) {
    if let Some(lent) = lock(slot).take() {
        *tx = lent.tx;
    }
}
