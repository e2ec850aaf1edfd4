//! The media engine: one thread, one 5 ms sub-tick loop, each call served every fourth
//! sub-tick; stamped payloads measure loss, holes and echo round trips.

use serde_json::{json, Value};
use std::io::ErrorKind;
use std::net::UdpSocket as StdUdpSocket;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const SUBTICKS: u64 = 4;
pub(crate) const SUBTICK: Duration = Duration::from_millis(5);
pub(crate) const PAYLOAD: usize = 160;
/// Echo round-trip buckets (ms, upper bounds; the last is open). A call's socket is drained
/// 10 ms after its send, so an echo back within 10 ms reads as about 10 ms.
pub(crate) const RTT_EDGES_MS: [u64; 5] = [15, 35, 55, 115, 215];

/// Every payload carries a stamp: a marker byte, the generator's own sequence number and its
/// send time (µs), one bit per sample as the sign of a −31 dBFS µ-law sample (0xD0 = +876,
/// 0x50 = −876), the rest µ-law silence (0xFF). The sign survives what a bridge does to audio
/// (G.711 decode and re-encode, PCMU↔PCMA transcoding), raw bytes would not: µ-law 0x7F comes
/// back as 0xFF.
pub(crate) const STAMP_MARK: u8 = 0xA5;
pub(crate) const STAMP_BITS: usize = 72;
pub(crate) const STAMP_ONE: u8 = 0xD0;
pub(crate) const STAMP_ZERO: u8 = 0x50;

pub(crate) fn write_stamp(payload: &mut [u8], seq: u32, sent_us: u32) {
    let mut bytes = [0u8; STAMP_BITS / 8];
    bytes[0] = STAMP_MARK;
    bytes[1..5].copy_from_slice(&seq.to_be_bytes());
    bytes[5..9].copy_from_slice(&sent_us.to_be_bytes());
    for (i, b) in payload.iter_mut().take(STAMP_BITS).enumerate() {
        let bit = (bytes[i / 8] >> (7 - i % 8)) & 1;
        *b = if bit == 1 { STAMP_ONE } else { STAMP_ZERO };
    }
}

/// (sequence, send time µs) from a returned payload; `None` if the marker is not there.
pub(crate) fn read_stamp(payload: &[u8]) -> Option<(u32, u32)> {
    if payload.len() < STAMP_BITS {
        return None;
    }
    let mut bytes = [0u8; STAMP_BITS / 8];
    for (i, &b) in payload.iter().take(STAMP_BITS).enumerate() {
        // µ-law: the top bit set is a positive sample.
        if b & 0x80 != 0 {
            bytes[i / 8] |= 1 << (7 - i % 8);
        }
    }
    if bytes[0] != STAMP_MARK {
        return None;
    }
    Some((
        u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]),
        u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]),
    ))
}

pub(crate) struct MediaCall {
    pub(crate) id: usize,
    pub(crate) sock: StdUdpSocket,
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) sending: bool,
    pub(crate) sent: u64,
    pub(crate) send_err: u64,
    pub(crate) recv: u64,
    pub(crate) bad: u64,
    pub(crate) out_of_order: u64,
    pub(crate) max_rx_seq: Option<u32>,
    pub(crate) rtt: [u64; 6],
    /// Where this call's returned audio has holes (by the generator's own sequence).
    pub(crate) holes: Holes,
}

/// The holes in one call's returned stream: the first returned packet, the number of gaps,
/// the first and the largest gap as (first missing sequence, packets).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Holes {
    pub(crate) first_rx: Option<u32>,
    pub(crate) gaps: u64,
    pub(crate) first_gap: Option<(u32, u32)>,
    pub(crate) largest_gap: Option<(u32, u32)>,
}

/// A call that lost packets, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallLoss {
    pub(crate) id: usize,
    pub(crate) sent: u64,
    pub(crate) recv: u64,
    pub(crate) last_rx: Option<u32>,
    pub(crate) holes: Holes,
}

impl CallLoss {
    pub(crate) fn loss(&self) -> u64 {
        self.sent.saturating_sub(self.recv)
    }
    pub(crate) fn json(&self, call_id: Option<&str>) -> Value {
        json!({
            "call": self.id,
            "call_id": call_id,
            "sent": self.sent,
            "back": self.recv,
            "lost": self.loss(),
            "first_back_seq": self.holes.first_rx,
            "last_back_seq": self.last_rx,
            "gaps": self.holes.gaps,
            "first_gap": self.holes.first_gap.map(|(s, n)| json!({"seq": s, "packets": n})),
            "largest_gap": self.holes.largest_gap.map(|(s, n)| json!({"seq": s, "packets": n})),
        })
    }
}

/// Calls with the most loss kept in the totals.
pub(crate) const WORST_CALLS: usize = 5;

/// Inserts `c` into `worst` (sorted by loss, descending) if it belongs there.
pub(crate) fn keep_worst(worst: &mut [CallLoss; WORST_CALLS], c: CallLoss) {
    if c.loss() == 0 {
        return;
    }
    if let Some(pos) = worst.iter().position(|w| c.loss() > w.loss()) {
        for i in (pos + 1..WORST_CALLS).rev() {
            worst[i] = worst[i - 1];
        }
        worst[pos] = c;
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MediaTotals {
    pub(crate) calls: usize,
    pub(crate) sent: u64,
    pub(crate) send_err: u64,
    pub(crate) recv: u64,
    pub(crate) bad: u64,
    pub(crate) out_of_order: u64,
    pub(crate) rtt: [u64; 6],
    pub(crate) calls_with_loss: usize,
    pub(crate) max_loss_one_call: u64,
    pub(crate) worst: [CallLoss; WORST_CALLS],
    /// Sub-ticks that started more than 2 ms late, the worst lateness, and resyncs.
    pub(crate) late_ticks: u64,
    pub(crate) max_tick_late_us: u64,
    pub(crate) resyncs: u64,
    pub(crate) ticks: u64,
    pub(crate) busy: Duration,
}

pub(crate) enum MediaCmd {
    Add(Box<MediaCall>),
    StopSending,
    Snapshot(mpsc::Sender<MediaTotals>),
    Finish(mpsc::Sender<MediaTotals>),
}

impl MediaTotals {
    pub(crate) fn merge(mut self, o: &MediaTotals) -> MediaTotals {
        self.calls += o.calls;
        self.sent += o.sent;
        self.send_err += o.send_err;
        self.recv += o.recv;
        self.bad += o.bad;
        self.out_of_order += o.out_of_order;
        for (a, b) in self.rtt.iter_mut().zip(o.rtt.iter()) {
            *a += b;
        }
        self.calls_with_loss += o.calls_with_loss;
        self.max_loss_one_call = self.max_loss_one_call.max(o.max_loss_one_call);
        for w in o.worst {
            keep_worst(&mut self.worst, w);
        }
        self.late_ticks += o.late_ticks;
        self.max_tick_late_us = self.max_tick_late_us.max(o.max_tick_late_us);
        self.resyncs += o.resyncs;
        self.ticks += o.ticks;
        self.busy += o.busy;
        self
    }
}

/// The pacing threads; call `i` goes to thread `i % n`.
pub(crate) struct Gen {
    pub(crate) txs: Vec<mpsc::Sender<MediaCmd>>,
    pub(crate) handles: Vec<std::thread::JoinHandle<()>>,
}

impl Gen {
    pub(crate) fn start(n: usize) -> Result<Gen, String> {
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        for k in 0..n.max(1) {
            let (tx, rx) = mpsc::channel();
            let h = std::thread::Builder::new()
                .name(format!("rtp-gen-{k}"))
                .spawn(move || media_thread(rx))
                .map_err(|e| e.to_string())?;
            txs.push(tx);
            handles.push(h);
        }
        Ok(Gen { txs, handles })
    }

    pub(crate) fn add(&self, c: MediaCall) {
        let k = c.id % self.txs.len();
        let _ = self.txs[k].send(MediaCmd::Add(Box::new(c)));
    }

    pub(crate) fn stop_sending(&self) {
        for t in &self.txs {
            let _ = t.send(MediaCmd::StopSending);
        }
    }

    pub(crate) fn collect(&self, finish: bool) -> Option<MediaTotals> {
        let mut rxs = Vec::new();
        for t in &self.txs {
            let (tx, rx) = mpsc::channel();
            let cmd = if finish {
                MediaCmd::Finish(tx)
            } else {
                MediaCmd::Snapshot(tx)
            };
            let _ = t.send(cmd);
            rxs.push(rx);
        }
        let mut tot = MediaTotals::default();
        for rx in rxs {
            tot = tot.merge(&rx.recv_timeout(Duration::from_secs(2)).ok()?);
        }
        Some(tot)
    }

    pub(crate) fn finish(self) -> Option<MediaTotals> {
        let t = self.collect(true);
        for h in self.handles {
            let _ = h.join();
        }
        t
    }
}

pub(crate) fn media_thread(rx: mpsc::Receiver<MediaCmd>) {
    let epoch = Instant::now();
    let mut calls: Vec<MediaCall> = Vec::new();
    let mut pkt = [0xFFu8; 12 + PAYLOAD];
    let mut buf = [0u8; 2048];
    let mut tot = MediaTotals::default();
    let mut k: u64 = 0;
    let mut next = Instant::now();
    let totals = |calls: &Vec<MediaCall>, base: &MediaTotals| {
        let mut t = *base;
        t.calls = calls.len();
        for c in calls {
            t.sent += c.sent;
            t.send_err += c.send_err;
            t.recv += c.recv;
            t.bad += c.bad;
            t.out_of_order += c.out_of_order;
            for (a, b) in t.rtt.iter_mut().zip(c.rtt.iter()) {
                *a += b;
            }
            let loss = c.sent.saturating_sub(c.recv);
            if loss > 0 {
                t.calls_with_loss += 1;
                t.max_loss_one_call = t.max_loss_one_call.max(loss);
                keep_worst(
                    &mut t.worst,
                    CallLoss {
                        id: c.id,
                        sent: c.sent,
                        recv: c.recv,
                        last_rx: c.max_rx_seq,
                        holes: c.holes,
                    },
                );
            }
        }
        t
    };
    loop {
        loop {
            match rx.try_recv() {
                Ok(MediaCmd::Add(c)) => calls.push(*c),
                Ok(MediaCmd::StopSending) => calls.iter_mut().for_each(|c| c.sending = false),
                Ok(MediaCmd::Snapshot(reply)) => {
                    let _ = reply.send(totals(&calls, &tot));
                }
                Ok(MediaCmd::Finish(reply)) => {
                    // A last drain of every socket, then report.
                    let now_us = epoch.elapsed().as_micros() as u32;
                    for c in calls.iter_mut() {
                        drain(c, &mut buf, now_us);
                    }
                    let _ = reply.send(totals(&calls, &tot));
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let woke = Instant::now();
        let late = woke.saturating_duration_since(next);
        if late > Duration::from_millis(2) {
            tot.late_ticks += 1;
        }
        tot.max_tick_late_us = tot.max_tick_late_us.max(late.as_micros() as u64);
        tot.ticks += 1;
        let slot = (k % SUBTICKS) as usize;
        let drain_slot = ((k + SUBTICKS / 2) % SUBTICKS) as usize;
        let now_us = epoch.elapsed().as_micros() as u32;
        for c in calls.iter_mut() {
            let s = c.id % SUBTICKS as usize;
            if s == slot && c.sending {
                pkt[0] = 0x80;
                pkt[1] = if c.sent == 0 { 0x80 } else { 0x00 }; // PT 0 (PCMU), marker on the first
                pkt[2..4].copy_from_slice(&c.seq.to_be_bytes());
                pkt[4..8].copy_from_slice(&c.ts.to_be_bytes());
                pkt[8..12].copy_from_slice(&c.ssrc.to_be_bytes());
                // The payload carries our own sequence and send time through echo or bridge.
                write_stamp(&mut pkt[12..], c.sent as u32, now_us);
                match c.sock.send(&pkt) {
                    Ok(_) => c.sent += 1,
                    Err(_) => c.send_err += 1,
                }
                c.seq = c.seq.wrapping_add(1);
                c.ts = c.ts.wrapping_add(PAYLOAD as u32);
            }
            if s == drain_slot {
                drain(c, &mut buf, now_us);
            }
        }
        tot.busy += woke.elapsed();
        k += 1;
        next += SUBTICK;
        if woke.saturating_duration_since(next) > Duration::from_millis(100) {
            next = woke;
            tot.resyncs += 1;
        }
    }
}

pub(crate) fn drain(c: &mut MediaCall, buf: &mut [u8], now_us: u32) {
    for _ in 0..32 {
        match c.sock.recv(buf) {
            Ok(n) => {
                let Ok(r) = rtp_rs::RtpReader::new(&buf[..n]) else {
                    c.bad += 1;
                    continue;
                };
                let p = r.payload();
                if p.len() != PAYLOAD || r.payload_type() != 0 {
                    c.bad += 1;
                    continue;
                }
                let Some((our_seq, sent_us)) = read_stamp(p) else {
                    c.bad += 1;
                    continue;
                };
                c.recv += 1;
                match c.max_rx_seq {
                    Some(m) if our_seq <= m => c.out_of_order += 1,
                    prev => {
                        let expected = prev.map_or(0, |m| m + 1);
                        if prev.is_none() {
                            c.holes.first_rx = Some(our_seq);
                        }
                        if our_seq > expected {
                            let gap = (expected, our_seq - expected);
                            c.holes.gaps += 1;
                            c.holes.first_gap.get_or_insert(gap);
                            if c.holes.largest_gap.is_none_or(|g| gap.1 > g.1) {
                                c.holes.largest_gap = Some(gap);
                            }
                        }
                        c.max_rx_seq = Some(our_seq);
                    }
                }
                let rtt_ms = u64::from(now_us.wrapping_sub(sent_us)) / 1000;
                let b = RTT_EDGES_MS
                    .iter()
                    .position(|&e| rtt_ms <= e)
                    .unwrap_or(RTT_EDGES_MS.len());
                c.rtt[b] += 1;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                // ICMP port unreachable after the switch closed the leg, and the like.
                c.bad += 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip() {
        let mut p = [0xFFu8; PAYLOAD];
        write_stamp(&mut p, 0xDEAD_BEEF, 0x0102_7F80);
        assert_eq!(read_stamp(&p), Some((0xDEAD_BEEF, 0x0102_7F80)));
        assert!(p[..STAMP_BITS]
            .iter()
            .all(|&b| b == STAMP_ONE || b == STAMP_ZERO));
        assert!(p[STAMP_BITS..].iter().all(|&b| b == 0xFF));
        // Silence or any other payload is not a stamp.
        assert_eq!(read_stamp(&[0xFF; PAYLOAD]), None);
        assert_eq!(read_stamp(&[0x7F; PAYLOAD]), None);
        assert_eq!(read_stamp(&p[..10]), None);
    }

    #[test]
    fn stamp_survives_sign_preserving_changes() {
        // What a bridge may do to a µ-law byte: another code of the same sign (re-encoding,
        // PCMU↔PCMA transcoding rounds the magnitude, never the sign of a −31 dBFS sample).
        let mut p = [0xFFu8; PAYLOAD];
        write_stamp(&mut p, 12345, 678_910);
        for b in p.iter_mut().take(STAMP_BITS) {
            *b = if *b & 0x80 != 0 { 0xCF } else { 0x4E };
        }
        assert_eq!(read_stamp(&p), Some((12345, 678_910)));
    }
}
