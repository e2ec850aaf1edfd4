//! RTP packet building for one outgoing stream (pure code: no I/O, no clock).

/// Length of the fixed RTP header we emit (no CSRCs, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// State of one outgoing RTP stream (RFC 3550): SSRC, next sequence number,
/// next timestamp and whether the next packet starts a talkspurt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker_pending: bool,
}

impl RtpSender {
    /// A new stream. The first packet carries the marker bit.
    /// Callers should pick `ssrc`, `seq` and `ts` at random.
    pub fn new(ssrc: u32, seq: u16, ts: u32) -> Self {
        RtpSender {
            ssrc,
            seq,
            ts,
            marker_pending: true,
        }
    }

    /// Build the next packet: a 12-byte version-2 header followed by `payload`.
    ///
    /// Advances the sequence number by one and the timestamp by the number of
    /// payload samples (one byte per sample for G.711, so +160 per 20 ms frame).
    pub fn next_packet(&mut self, pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut pkt = Vec::with_capacity(RTP_HEADER_LEN + payload.len());
        pkt.push(0x80); // V=2, P=0, X=0, CC=0
        pkt.push((u8::from(self.marker_pending) << 7) | (pt & 0x7F));
        pkt.extend_from_slice(&self.seq.to_be_bytes());
        pkt.extend_from_slice(&self.ts.to_be_bytes());
        pkt.extend_from_slice(&self.ssrc.to_be_bytes());
        pkt.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(payload.len() as u32);
        self.marker_pending = false;
        pkt
    }

    /// Build a packet with an explicit timestamp and marker (RFC 4733 events:
    /// every packet of an event carries the event's start timestamp). Advances
    /// the sequence number only; the stream timestamp and pending marker are untouched.
    pub fn next_packet_at(&mut self, pt: u8, payload: &[u8], ts: u32, marker: bool) -> Vec<u8> {
        let mut pkt = Vec::with_capacity(RTP_HEADER_LEN + payload.len());
        pkt.push(0x80);
        pkt.push((u8::from(marker) << 7) | (pt & 0x7F));
        pkt.extend_from_slice(&self.seq.to_be_bytes());
        pkt.extend_from_slice(&ts.to_be_bytes());
        pkt.extend_from_slice(&self.ssrc.to_be_bytes());
        pkt.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        pkt
    }

    /// Account for a gap in sending: advance the timestamp by `samples`
    /// and set the marker on the next packet (start of a new talkspurt).
    pub fn skip(&mut self, samples: u32) {
        self.ts = self.ts.wrapping_add(samples);
        self.marker_pending = true;
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn seq(&self) -> u16 {
        self.seq
    }

    /// Timestamp the next packet will carry.
    pub fn ts(&self) -> u32 {
        self.ts
    }

    /// Whether the next packet will carry the marker bit.
    pub fn marker_pending(&self) -> bool {
        self.marker_pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_rs::RtpReader;

    #[test]
    fn header_fields() {
        let mut s = RtpSender::new(0xDEADBEEF, 1000, 5000);
        let payload = [0xFFu8; 160];
        let p1 = s.next_packet(0, &payload);
        assert_eq!(p1.len(), 172);
        let r = RtpReader::new(&p1).unwrap();
        assert_eq!(r.version(), 2);
        assert!(r.mark());
        assert_eq!(r.payload_type(), 0);
        assert_eq!(u16::from(r.sequence_number()), 1000);
        assert_eq!(r.timestamp(), 5000);
        assert_eq!(r.ssrc(), 0xDEADBEEF);
        assert_eq!(r.payload(), &payload[..]);
        assert_eq!(r.csrc_count(), 0);
        assert!(r.padding().is_none());

        let p2 = s.next_packet(8, &payload);
        let r = RtpReader::new(&p2).unwrap();
        assert!(!r.mark());
        assert_eq!(r.payload_type(), 8);
        assert_eq!(u16::from(r.sequence_number()), 1001);
        assert_eq!(r.timestamp(), 5160);
        assert_eq!(r.ssrc(), 0xDEADBEEF);
    }

    #[test]
    fn wraparound() {
        let mut s = RtpSender::new(1, u16::MAX, u32::MAX - 100);
        let _ = s.next_packet(0, &[0; 160]);
        assert_eq!(s.seq(), 0);
        assert_eq!(s.ts(), 59);
    }

    #[test]
    fn skip_sets_marker_and_advances_ts() {
        let mut s = RtpSender::new(7, 10, 0);
        let _ = s.next_packet(0, &[0; 160]);
        assert!(!s.marker_pending());
        s.skip(800);
        assert!(s.marker_pending());
        let p = s.next_packet(0, &[0; 160]);
        let r = RtpReader::new(&p).unwrap();
        assert!(r.mark());
        assert_eq!(r.timestamp(), 960);
        assert_eq!(u16::from(r.sequence_number()), 11);
        let p = s.next_packet(0, &[0; 80]);
        let r = RtpReader::new(&p).unwrap();
        assert!(!r.mark());
        assert_eq!(r.timestamp(), 1120);
        assert_eq!(s.ts(), 1200);
    }

    #[test]
    fn explicit_timestamp_packets() {
        let mut s = RtpSender::new(7, 10, 500);
        let p = s.next_packet_at(101, &[1, 2, 3, 4], 400, true);
        let r = RtpReader::new(&p).unwrap();
        assert!(r.mark());
        assert_eq!(r.timestamp(), 400);
        assert_eq!(r.payload_type(), 101);
        assert_eq!(s.seq(), 11);
        assert_eq!(s.ts(), 500);
        assert!(s.marker_pending());
    }

    #[test]
    fn pt_is_masked_to_seven_bits() {
        let mut s = RtpSender::new(7, 10, 0);
        let _ = s.next_packet(0, &[]);
        let p = s.next_packet(0xFF, &[]);
        assert_eq!(p[1], 0x7F);
    }
}
