//! Receive-side RTP statistics (RFC 3550 A.1 and A.8; pure code).
//!
//! Loss is `expected - received` per sequence epoch as in RFC 3550 A.3 (a new
//! SSRC or a wild sequence jump starts a new epoch; earlier epochs' losses are
//! kept). Packets older than the highest sequence seen (reordered, late or
//! duplicated) are counted as late; they still count as received, so a
//! reordered packet is not lost (and a duplicate can hide a loss).
//! Interarrival jitter follows A.8, in RTP clock units (8 kHz).

/// A forward sequence jump larger than this starts a new epoch.
const MAX_DROPOUT: i32 = 3000;
/// A backward jump larger than this starts a new epoch.
const MAX_MISORDER: i32 = 100;

/// How a packet relates to the sequence seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First packet, or newer than any before.
    InOrder,
    /// Older than (or equal to) the highest sequence number seen.
    Late,
    /// Started a new epoch (new SSRC or a sequence discontinuity).
    Restart,
}

/// Receive statistics of one leg.
#[derive(Debug, Clone, Default)]
pub struct RxStats {
    ssrc: Option<u32>,
    base_ext: i64,
    max_ext: i64,
    received: u64,
    lost_before: u64,
    late: u64,
    jitter: f64,
    last_transit: Option<u32>,
}

impl RxStats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Account one valid RTP packet: `arrival` is the arrival time in RTP
    /// clock units (any origin); `audio` is false for packets whose timestamp
    /// does not follow the sampling clock (telephone-events), which are left
    /// out of the jitter estimate.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        arrival: u32,
        audio: bool,
    ) -> Arrival {
        let kind = match self.ssrc {
            Some(s) if s == ssrc => {
                let max16 = self.max_ext as u16;
                let delta = i32::from(seq.wrapping_sub(max16) as i16);
                if delta > 0 && delta <= MAX_DROPOUT {
                    self.max_ext += i64::from(delta);
                    self.received += 1;
                    Arrival::InOrder
                } else if delta <= 0 && -delta <= MAX_MISORDER {
                    self.late += 1;
                    self.received += 1;
                    Arrival::Late
                } else {
                    self.restart(ssrc, seq);
                    Arrival::Restart
                }
            }
            Some(_) => {
                self.restart(ssrc, seq);
                Arrival::Restart
            }
            None => {
                self.restart(ssrc, seq);
                Arrival::InOrder
            }
        };
        if audio {
            let transit = arrival.wrapping_sub(ts);
            if let (Some(last), false) = (self.last_transit, kind == Arrival::Restart) {
                let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
                self.jitter += (d - self.jitter) / 16.0;
            }
            self.last_transit = Some(transit);
        }
        kind
    }

    fn restart(&mut self, ssrc: u32, seq: u16) {
        self.lost_before += self.epoch_lost();
        self.ssrc = Some(ssrc);
        self.base_ext = i64::from(seq);
        self.max_ext = i64::from(seq);
        self.received = 1;
        self.last_transit = None;
    }

    fn epoch_lost(&self) -> u64 {
        if self.ssrc.is_none() {
            return 0;
        }
        let expected = (self.max_ext - self.base_ext + 1).max(0) as u64;
        expected.saturating_sub(self.received)
    }

    /// Packets lost so far (sequence gaps).
    pub fn lost(&self) -> u64 {
        self.lost_before + self.epoch_lost()
    }

    /// Late, reordered or duplicated packets so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter / 8.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_late_and_wraparound() {
        let mut s = RxStats::new();
        let mut seq = 65530u16;
        let mut ts = 0u32;
        for i in 0..20u32 {
            if i == 5 || i == 6 {
                // lost
            } else {
                assert_eq!(s.on_packet(1, seq, ts, ts, true), Arrival::InOrder);
            }
            seq = seq.wrapping_add(1);
            ts += 160;
        }
        assert_eq!(s.lost(), 2);
        // One of the lost packets arrives late: counted late, no longer lost.
        assert_eq!(s.on_packet(1, 65535, 800, 5000, true), Arrival::Late);
        assert_eq!(s.late(), 1);
        assert_eq!(s.lost(), 1);
        // New SSRC: a new epoch, losses kept.
        assert_eq!(s.on_packet(2, 100, 0, 0, true), Arrival::Restart);
        assert_eq!(s.on_packet(2, 103, 480, 480, true), Arrival::InOrder);
        assert_eq!(s.lost(), 3);
        // A wild jump restarts too.
        assert_eq!(s.on_packet(2, 30_000, 0, 0, true), Arrival::Restart);
        assert_eq!(s.lost(), 3);
    }

    #[test]
    fn jitter_a8() {
        let mut s = RxStats::new();
        // Perfectly paced: zero jitter.
        for i in 0..50u32 {
            s.on_packet(9, i as u16, i * 160, 1000 + i * 160, true);
        }
        assert!(s.jitter_ms() < 0.001);
        // Alternating 0/+80 units of arrival noise: |D| = 80 units = 10 ms.
        for i in 50..400u32 {
            let noise = if i % 2 == 0 { 80 } else { 0 };
            s.on_packet(9, i as u16, i * 160, 1000 + i * 160 + noise, true);
        }
        let j = s.jitter_ms();
        assert!((9.0..=11.0).contains(&j), "{j}");
        // Telephone-events do not disturb jitter.
        s.on_packet(9, 400, 0, 999_999, false);
        assert!((s.jitter_ms() - j).abs() < 1e-9);
    }
}
