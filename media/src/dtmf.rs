//! DTMF over RTP (RFC 4733 telephone-events) and in SIP INFO bodies (pure code).
//!
//! * [`TelephoneEventReceiver`] turns received telephone-event payloads into
//!   one [`DtmfDigit`] per key press: all packets of one event share an RTP
//!   timestamp, the end bit is usually retransmitted three times, and the end
//!   packets may all be lost (the digit is then reported when the next event
//!   starts).
//! * [`DtmfSendPlan`] produces the payloads to send for one digit: a start
//!   packet (marker), one update per 20 ms and three end packets, all for the
//!   same RTP timestamp.
//! * [`parse_sip_info_dtmf`] reads `application/dtmf-relay` and
//!   `application/dtmf` SIP INFO bodies.

/// Duration assumed for a SIP INFO digit that carries none.
pub const DEFAULT_INFO_DURATION_MS: u32 = 250;
/// RTP clock of telephone-events (same as G.711).
const CLOCK_PER_MS: u32 = 8;
/// Samples per 20 ms update.
const UPDATE_SAMPLES: u32 = 160;
/// How many times the end packet is sent.
pub const END_REPEATS: usize = 3;
/// Longest digit [`DtmfSendPlan`] accepts (the 16-bit duration field holds ~8.19 s).
pub const MAX_SEND_MS: u32 = 8000;

/// One detected key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// `0-9`, `*`, `#` or `A-D`.
    pub digit: char,
    /// How long the key was held, in milliseconds.
    pub duration_ms: u32,
}

/// The DTMF character for an RFC 4733 event code (0–15); other events (flash, ...) are `None`.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => char::from_digit(u32::from(event), 10),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + (event - 12))),
        _ => None,
    }
}

/// The RFC 4733 event code of a DTMF character (lower-case `a-d` accepted).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => digit.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' | 'a'..='d' => Some(digit.to_ascii_uppercase() as u8 - b'A' + 12),
        _ => None,
    }
}

/// A decoded telephone-event payload (the first four bytes; extra bytes are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 for DTMF).
    pub event: u8,
    /// The end bit.
    pub end: bool,
    /// Volume in -dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in RTP clock units (1/8 ms).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parse a payload; `None` when shorter than four bytes.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let b = payload.get(..4)?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The four-byte wire form.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

#[derive(Debug, Clone, Copy)]
struct CurrentEvent {
    ts: u32,
    digit: Option<char>,
    duration: u16,
    ended: bool,
}

impl CurrentEvent {
    fn report(&self) -> Option<DtmfDigit> {
        self.digit.map(|digit| DtmfDigit {
            digit,
            duration_ms: u32::from(self.duration) / CLOCK_PER_MS,
        })
    }
}

/// Deduplicates received telephone-event packets into key presses.
#[derive(Debug, Clone, Default)]
pub struct TelephoneEventReceiver {
    current: Option<CurrentEvent>,
}

impl TelephoneEventReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one telephone-event packet (its RTP timestamp and payload).
    ///
    /// Returns the digits completed by this packet: usually none, one when the
    /// first end packet of an event arrives, and possibly the previous
    /// (unterminated) event as well when a new event starts. Retransmitted end
    /// packets, packets of older events and malformed payloads return nothing.
    pub fn on_packet(&mut self, ts: u32, payload: &[u8]) -> Vec<DtmfDigit> {
        let mut out = Vec::new();
        let Some(ev) = TelephoneEvent::parse(payload) else {
            return out;
        };
        if let Some(cur) = self.current.as_mut() {
            let delta = ts.wrapping_sub(cur.ts) as i32;
            if delta == 0 {
                if !cur.ended {
                    cur.duration = cur.duration.max(ev.duration);
                    if ev.end {
                        cur.ended = true;
                        out.extend(cur.report());
                    }
                }
                return out;
            }
            if delta < 0 {
                // A late packet of an older event.
                return out;
            }
            if !cur.ended {
                out.extend(cur.report());
            }
        }
        let cur = CurrentEvent {
            ts,
            digit: event_to_digit(ev.event),
            duration: ev.duration,
            ended: ev.end,
        };
        if ev.end {
            out.extend(cur.report());
        }
        self.current = Some(cur);
        out
    }

    /// Report an event still in progress (no end seen) and forget it; used when
    /// the stream stops for a long time.
    pub fn flush(&mut self) -> Option<DtmfDigit> {
        let cur = self.current.as_mut()?;
        if cur.ended {
            return None;
        }
        cur.ended = true;
        cur.report()
    }
}

/// One packet of an outgoing telephone-event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// The payload (4 bytes).
    pub payload: [u8; 4],
    /// Marker bit (first packet of the event only).
    pub marker: bool,
}

/// The packets to send for one digit, one per 20 ms tick:
/// `ceil(duration / 20 ms)` updates (the first with the marker) and then
/// [`END_REPEATS`] end packets, all with the same RTP timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfSendPlan {
    event: u8,
    total: u16,
    sent: usize,
    updates: usize,
}

/// Volume put in outgoing events (-10 dBm0).
const SEND_VOLUME: u8 = 10;

impl DtmfSendPlan {
    /// `None` for a character that is not a DTMF digit. The duration is clamped
    /// to 20 ms ..= [`MAX_SEND_MS`].
    pub fn new(digit: char, duration_ms: u32) -> Option<DtmfSendPlan> {
        let event = digit_to_event(digit)?;
        let ms = duration_ms.clamp(20, MAX_SEND_MS);
        let total = u16::try_from(ms * CLOCK_PER_MS).unwrap_or(u16::MAX);
        let updates = u32::from(total).div_ceil(UPDATE_SAMPLES) as usize;
        Some(DtmfSendPlan {
            event,
            total,
            sent: 0,
            updates,
        })
    }

    /// Total event duration in RTP clock units.
    pub fn duration_samples(&self) -> u32 {
        u32::from(self.total)
    }

    /// Number of packets sent so far.
    pub fn packets_sent(&self) -> usize {
        self.sent
    }

    /// The next packet, or `None` when the plan is complete.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<EventPacket> {
        let k = self.sent;
        if k >= self.updates + END_REPEATS {
            return None;
        }
        self.sent += 1;
        let (duration, end) = if k < self.updates {
            let d = (k as u32 + 1) * UPDATE_SAMPLES;
            (d.min(u32::from(self.total)), false)
        } else {
            (u32::from(self.total), true)
        };
        let ev = TelephoneEvent {
            event: self.event,
            end,
            volume: SEND_VOLUME,
            duration: u16::try_from(duration).unwrap_or(u16::MAX),
        };
        Some(EventPacket {
            payload: ev.to_bytes(),
            marker: k == 0,
        })
    }
}

/// Parse a SIP INFO DTMF body.
///
/// * `application/dtmf-relay`: `Signal=5\r\nDuration=160` (keys case-insensitive,
///   any line ending; `Signal=10`/`11` mean `*`/`#`; missing duration →
///   [`DEFAULT_INFO_DURATION_MS`]).
/// * `application/dtmf`: the body is the digit (`5`, or an event code `0-15`).
///
/// Content-type parameters and case are ignored. Returns `(digit, duration_ms)`.
pub fn parse_sip_info_dtmf(content_type: &str, body: &str) -> Option<(char, u32)> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/dtmf-relay" => {
            let mut signal = None;
            let mut duration = None;
            for line in body.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                match k.as_str() {
                    "signal" => signal = parse_signal(v),
                    "duration" => duration = v.parse::<u32>().ok(),
                    _ => {}
                }
            }
            Some((signal?, duration.unwrap_or(DEFAULT_INFO_DURATION_MS)))
        }
        "application/dtmf" => Some((parse_signal(body.trim())?, DEFAULT_INFO_DURATION_MS)),
        _ => None,
    }
}

fn parse_signal(v: &str) -> Option<char> {
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => digit_to_event(c).and_then(event_to_digit),
        _ => v.parse::<u8>().ok().and_then(event_to_digit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn codes_round_trip() {
        for (i, c) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(c));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
        let ev = TelephoneEvent::parse(&[5, 0x8A, 0x03, 0x20, 0xFF]).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.to_bytes(), [5, 0x8A, 0x03, 0x20]);
    }

    #[test]
    fn one_digit_despite_retransmitted_end() {
        let mut r = TelephoneEventReceiver::new();
        assert!(r.on_packet(1000, &pkt(5, false, 0)).is_empty());
        assert!(r.on_packet(1000, &pkt(5, false, 160)).is_empty());
        assert!(r.on_packet(1000, &pkt(5, false, 320)).is_empty());
        let d = r.on_packet(1000, &pkt(5, true, 800));
        assert_eq!(
            d,
            vec![DtmfDigit {
                digit: '5',
                duration_ms: 100
            }]
        );
        assert!(r.on_packet(1000, &pkt(5, true, 800)).is_empty());
        assert!(r.on_packet(1000, &pkt(5, true, 800)).is_empty());
        // Same digit again: new timestamp → new press.
        assert!(r.on_packet(3000, &pkt(5, false, 160)).is_empty());
        assert_eq!(r.on_packet(3000, &pkt(5, true, 480)).len(), 1);
        // A stray late packet of the first event is ignored.
        assert!(r.on_packet(1000, &pkt(5, true, 800)).is_empty());
        assert_eq!(r.flush(), None);
    }

    #[test]
    fn lost_end_is_reported_when_next_event_starts() {
        let mut r = TelephoneEventReceiver::new();
        assert!(r.on_packet(u32::MAX - 10, &pkt(1, false, 160)).is_empty());
        assert!(r.on_packet(u32::MAX - 10, &pkt(1, false, 480)).is_empty());
        // New event after timestamp wrap-around; the first one is reported.
        let d = r.on_packet(500, &pkt(11, true, 400));
        assert_eq!(
            d,
            vec![
                DtmfDigit {
                    digit: '1',
                    duration_ms: 60
                },
                DtmfDigit {
                    digit: '#',
                    duration_ms: 50
                }
            ]
        );
        assert!(r.on_packet(900, &pkt(2, false, 0)).is_empty());
        assert_eq!(r.flush().map(|d| d.digit), Some('2'));
        assert_eq!(r.flush(), None);
        // Garbage and non-DTMF events produce nothing.
        assert!(r.on_packet(1200, &[1, 2]).is_empty());
        assert!(r.on_packet(1300, &pkt(16, true, 800)).is_empty());
    }

    #[test]
    fn send_plan_packets() {
        let mut p = DtmfSendPlan::new('#', 100).unwrap();
        assert_eq!(p.duration_samples(), 800);
        let pkts: Vec<EventPacket> = std::iter::from_fn(|| p.next()).collect();
        assert_eq!(pkts.len(), 5 + 3);
        for (i, e) in pkts.iter().enumerate() {
            let ev = TelephoneEvent::parse(&e.payload).unwrap();
            assert_eq!(ev.event, 11);
            assert_eq!(e.marker, i == 0);
            assert_eq!(ev.end, i >= 5);
            let expected = if i < 5 { (i as u16 + 1) * 160 } else { 800 };
            assert_eq!(ev.duration, expected);
        }
        assert_eq!(p.next(), None);
        // Odd durations: the last update is capped at the total.
        let mut p = DtmfSendPlan::new('1', 50).unwrap();
        let pkts: Vec<EventPacket> = std::iter::from_fn(|| p.next()).collect();
        assert_eq!(pkts.len(), 3 + 3);
        assert_eq!(
            TelephoneEvent::parse(&pkts[2].payload).unwrap().duration,
            400
        );
        assert!(DtmfSendPlan::new('x', 100).is_none());
        assert_eq!(
            DtmfSendPlan::new('1', u32::MAX).unwrap().duration_samples(),
            64000
        );
    }

    #[test]
    fn sip_info_bodies() {
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            Some(('5', 160))
        );
        assert_eq!(
            parse_sip_info_dtmf(
                "Application/DTMF-Relay; charset=utf-8",
                "signal = #\nduration= 250"
            ),
            Some(('#', 250))
        );
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf-relay", "Signal=10"),
            Some(('*', DEFAULT_INFO_DURATION_MS))
        );
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf", " 7\r\n"),
            Some(('7', DEFAULT_INFO_DURATION_MS))
        );
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf", "11"),
            Some(('#', 250))
        );
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf", "d"),
            Some(('D', 250))
        );
        assert_eq!(parse_sip_info_dtmf("application/dtmf", "x"), None);
        assert_eq!(parse_sip_info_dtmf("application/dtmf", ""), None);
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf-relay", "Duration=1"),
            None
        );
        assert_eq!(parse_sip_info_dtmf("text/plain", "5"), None);
        assert_eq!(
            parse_sip_info_dtmf("application/dtmf-relay", "Signal=5\nDuration=abc"),
            Some(('5', 250))
        );
    }
}
