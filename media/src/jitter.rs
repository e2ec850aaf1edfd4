//! A small playout buffer for one mixer participant (pure code).
//!
//! Frames are keyed by RTP timestamp. Playout starts once [`JitterBuffer::depth`]
//! frames are buffered and then advances one frame (160 samples) per mixing
//! tick. A frame older than the playout point is late: dropped and counted. A
//! missing frame plays as silence (`None`); after a few consecutive misses
//! with an empty buffer the buffer re-primes. If the buffer overfills (the
//! sender's clock runs fast or a burst arrived) the oldest frames are dropped
//! back to the target depth. A timestamp far away from the playout point
//! (new stream) resynchronises the buffer.

use std::collections::BTreeMap;

/// Samples per frame.
const FRAME: i64 = 160;
/// A timestamp further than this from the playout point starts over (2 s).
const RESYNC: i64 = 16_000;
/// Consecutive misses on an empty buffer after which playout re-primes.
const REPRIME_MISSES: u32 = 5;

/// Result of [`JitterBuffer::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Buffered for playout.
    Accepted,
    /// Older than the playout point: dropped.
    Late,
    /// A frame with this timestamp is already buffered: dropped.
    Duplicate,
}

/// Per-participant jitter buffer.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    frames: BTreeMap<i64, Vec<i16>>,
    last: Option<(u32, i64)>,
    next: Option<i64>,
    depth: usize,
    max: usize,
    misses: u32,
    late: u64,
    dropped: u64,
}

impl JitterBuffer {
    /// A buffer that primes with `depth` frames and holds at most `max` (≥ depth).
    pub fn new(depth: usize, max: usize) -> Self {
        let depth = depth.max(1);
        JitterBuffer {
            frames: BTreeMap::new(),
            last: None,
            next: None,
            depth,
            max: max.max(depth),
            misses: 0,
            late: 0,
            dropped: 0,
        }
    }

    /// The priming depth in frames.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Frames currently buffered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Late frames dropped so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Frames dropped because the buffer overflowed.
    pub fn overflow_dropped(&self) -> u64 {
        self.dropped
    }

    fn extend(&self, ts: u32) -> i64 {
        match self.last {
            None => i64::from(ts),
            Some((lt, le)) => le + i64::from(ts.wrapping_sub(lt) as i32),
        }
    }

    fn resync(&mut self) {
        self.frames.clear();
        self.last = None;
        self.next = None;
        self.misses = 0;
    }

    /// Add a frame with RTP timestamp `ts`.
    pub fn push(&mut self, ts: u32, samples: Vec<i16>) -> PushOutcome {
        let mut ext = self.extend(ts);
        let reference = self.next.or_else(|| self.frames.keys().next().copied());
        if let Some(r) = reference {
            let d = ext - r;
            if d.abs() > RESYNC {
                self.resync();
                ext = i64::from(ts);
            } else if self.next.is_some() && d < 0 {
                self.late += 1;
                return PushOutcome::Late;
            }
        }
        self.last = Some((ts, ext));
        if self.frames.contains_key(&ext) {
            return PushOutcome::Duplicate;
        }
        self.frames.insert(ext, samples);
        if self.frames.len() > self.max {
            while self.frames.len() > self.depth {
                self.frames.pop_first();
                self.dropped += 1;
            }
            if self.next.is_some() {
                self.next = self.frames.keys().next().copied();
            }
        }
        PushOutcome::Accepted
    }

    /// The frame for this tick (`None` = silence).
    pub fn pop(&mut self) -> Option<Vec<i16>> {
        let next = match self.next {
            Some(n) => n,
            None => {
                if self.frames.len() < self.depth {
                    return None;
                }
                let first = *self.frames.keys().next()?;
                self.next = Some(first);
                first
            }
        };
        // Anything before the playout point can no longer play.
        while let Some((&k, _)) = self.frames.first_key_value() {
            if k >= next {
                break;
            }
            self.frames.pop_first();
        }
        let key = self
            .frames
            .range(next..next + FRAME)
            .next()
            .map(|(&k, _)| k);
        self.next = Some(next + FRAME);
        match key.and_then(|k| self.frames.remove(&k)) {
            Some(f) => {
                self.misses = 0;
                Some(f)
            }
            None => {
                self.misses += 1;
                if self.misses >= REPRIME_MISSES && self.frames.is_empty() {
                    self.next = None;
                    self.misses = 0;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: i16) -> Vec<i16> {
        vec![v; 160]
    }

    fn tag(x: Option<Vec<i16>>) -> Option<i16> {
        x.map(|v| v[0])
    }

    #[test]
    fn primes_then_plays_in_order_despite_reordering() {
        let mut jb = JitterBuffer::new(2, 8);
        assert_eq!(jb.push(160, f(2)), PushOutcome::Accepted);
        assert_eq!(jb.pop(), None, "priming");
        assert_eq!(jb.push(0, f(1)), PushOutcome::Accepted);
        assert_eq!(tag(jb.pop()), Some(1));
        assert_eq!(jb.push(320, f(3)), PushOutcome::Accepted);
        assert_eq!(jb.push(320, f(3)), PushOutcome::Duplicate);
        assert_eq!(tag(jb.pop()), Some(2));
        assert_eq!(tag(jb.pop()), Some(3));
        // 480 is missing: silence; it then arrives late.
        assert_eq!(jb.pop(), None);
        assert_eq!(jb.push(480, f(4)), PushOutcome::Late);
        assert_eq!(jb.late(), 1);
        assert_eq!(jb.push(640, f(5)), PushOutcome::Accepted);
        assert_eq!(tag(jb.pop()), Some(5));
    }

    #[test]
    fn overflow_drops_oldest_and_resync_on_jump() {
        let mut jb = JitterBuffer::new(2, 4);
        for i in 0..5u32 {
            jb.push(i * 160, f(i as i16));
        }
        assert_eq!(jb.len(), 2);
        assert_eq!(jb.overflow_dropped(), 3);
        assert_eq!(tag(jb.pop()), Some(3));
        assert_eq!(tag(jb.pop()), Some(4));
        // A new stream far away: resync and prime again.
        jb.push(1_000_000, f(9));
        assert_eq!(jb.pop(), None);
        jb.push(1_000_160, f(10));
        assert_eq!(tag(jb.pop()), Some(9));
        // Timestamp wrap-around.
        let mut jb = JitterBuffer::new(1, 4);
        jb.push(u32::MAX - 159, f(1));
        jb.push(0, f(2));
        assert_eq!(tag(jb.pop()), Some(1));
        assert_eq!(tag(jb.pop()), Some(2));
    }

    #[test]
    fn reprimes_after_a_long_silence() {
        let mut jb = JitterBuffer::new(2, 8);
        jb.push(0, f(1));
        jb.push(160, f(2));
        jb.pop();
        jb.pop();
        for _ in 0..REPRIME_MISSES {
            assert_eq!(jb.pop(), None);
        }
        // The stream comes back 2 s later (within RESYNC): primes again, nothing late.
        jb.push(16_000, f(3));
        assert_eq!(jb.pop(), None);
        jb.push(16_160, f(4));
        assert_eq!(tag(jb.pop()), Some(3));
        assert_eq!(jb.late(), 0);
        // Misaligned timestamps still play.
        jb.push(16_400, f(5));
        assert_eq!(tag(jb.pop()), Some(4));
        assert_eq!(tag(jb.pop()), Some(5));
    }
}
