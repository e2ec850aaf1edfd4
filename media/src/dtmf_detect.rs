//! In-band DTMF detection over 8 kHz PCM (pure code).
//!
//! Used only when the peer did not negotiate telephone-event. The detector
//! measures the eight DTMF frequencies over 20 ms windows advanced every 10 ms
//! and classifies each window. Each 10 ms hop is filtered once (Goertzel, the
//! eight recurrences side by side) into its complex value per frequency; a
//! window's power is the sum of its two hops' values, the earlier one shifted
//! by a hop, which is the whole window's DFT value exactly (up to rounding).
//! A window is a digit when it has:
//!
//! * enough energy, and each of the two tones above an absolute floor;
//! * the strongest row and column tones clearly above the other tones of
//!   their group;
//! * twist within 8 dB (normal, row stronger) / 4 dB (reverse);
//! * the two tones carry most of the window's energy (rejects speech, noise
//!   and single tones such as a 1 kHz beep).
//!
//! A press is reported once, when it ends (two windows without it), if it was
//! seen in at least three consecutive windows (≥ 40 ms of tone); the same digit
//! repeats only after such a gap.

use crate::dtmf::DtmfDigit;
use std::sync::LazyLock;

use crate::goertzel::{coefficient, energy, tone_powers};

/// Row (low-group) frequencies.
pub const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high-group) frequencies.
pub const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad: `KEYPAD[row][col]`.
pub const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (row, column) frequencies of a DTMF character.
pub fn digit_freqs(digit: char) -> Option<(f64, f64)> {
    let d = digit.to_ascii_uppercase();
    for (r, row) in KEYPAD.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == d {
                return Some((ROWS[r], COLS[c]));
            }
        }
    }
    None
}

const WINDOW: usize = 160;
const HOP: usize = 80;
const HOP_MS: u32 = 10;
/// Minimum per-tone power (mean square; a sine of amplitude ~280).
const MIN_TONE_POWER: f64 = 40_000.0;
/// The strongest tone of a group must beat the others of that group by this factor (~6 dB).
const PEAK_RATIO: f64 = 4.0;
/// Row power may exceed column power by at most 8 dB.
const MAX_NORMAL_TWIST: f64 = 6.31;
/// Column power may exceed row power by at most 4 dB.
const MAX_REVERSE_TWIST: f64 = 2.51;
/// Share of the window energy the two tones must carry.
const MIN_TONE_SHARE: f64 = 0.6;
/// Consecutive windows needed for a press.
const MIN_HITS: u32 = 3;
/// Consecutive windows without the digit that end a press.
const END_MISSES: u32 = 2;

/// Per frequency (rows then columns): the Goertzel coefficient `2 cos ω`, `cos ω` and `sin ω`
/// (to turn a block's two last states into its complex value), and `cos`/`sin` of `ω·HOP` (to
/// shift a block's value by one hop). Computed once: the detector runs on every frame a leg
/// without telephone-event receives.
struct Tables {
    coeff: [f64; 8],
    cos: [f64; 8],
    sin: [f64; 8],
    hop_cos: [f64; 8],
    hop_sin: [f64; 8],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut t = Tables {
        coeff: [0.0; 8],
        cos: [0.0; 8],
        sin: [0.0; 8],
        hop_cos: [0.0; 8],
        hop_sin: [0.0; 8],
    };
    for (i, f) in ROWS.iter().chain(&COLS).enumerate() {
        let w = 2.0 * std::f64::consts::PI * f / 8000.0;
        t.coeff[i] = coefficient(*f);
        t.cos[i] = w.cos();
        t.sin[i] = w.sin();
        t.hop_cos[i] = (w * HOP as f64).cos();
        t.hop_sin[i] = (w * HOP as f64).sin();
    }
    t
});

/// What one hop of samples (a half window) contributes to a window: the complex DFT value of
/// each of the eight frequencies, referred to the block's last sample, and the sum of squares.
/// A window is two consecutive blocks, so each sample is filtered once, not twice (windows
/// overlap by half).
#[derive(Debug, Clone, Copy)]
struct Block {
    re: [f64; 8],
    im: [f64; 8],
    energy: i64,
}

impl Block {
    fn of(samples: &[i16]) -> Block {
        let [b] = Block::of_each([samples]);
        b
    }

    /// The blocks of `K` hops of equal length, filtered side by side: each recurrence waits on
    /// its own previous step, so running the hops' recurrences together keeps the processor
    /// busy where one hop alone would wait (a 20 ms frame is two hops).
    fn of_each<const K: usize>(hops: [&[i16]; K]) -> [Block; K] {
        let t = &*TABLES;
        let n = hops.iter().map(|h| h.len()).min().unwrap_or(0);
        let mut s1 = [[0.0f64; 8]; K];
        let mut s2 = [[0.0f64; 8]; K];
        for i in 0..n {
            for ((hop, s1), s2) in hops.iter().zip(s1.iter_mut()).zip(s2.iter_mut()) {
                let x = f64::from(hop[i]);
                for ((a, b), &c) in s1.iter_mut().zip(s2.iter_mut()).zip(&t.coeff) {
                    let s0 = x + c * *a - *b;
                    *b = *a;
                    *a = s0;
                }
            }
        }
        std::array::from_fn(|k| {
            // y = s1 − e^{−jω}·s2: the filter's output at the block's last sample.
            let mut re = [0.0f64; 8];
            let mut im = [0.0f64; 8];
            for i in 0..8 {
                re[i] = s1[k][i] - t.cos[i] * s2[k][i];
                im[i] = t.sin[i] * s2[k][i];
            }
            let energy = hops[k][..n]
                .iter()
                .map(|&x| i64::from(x) * i64::from(x))
                .sum();
            Block { re, im, energy }
        })
    }

    /// The window `earlier` then `self` (each [`HOP`] samples): the mean-square power of each
    /// frequency (as [`crate::goertzel::tone_powers`] gives for the whole window) and of the
    /// whole window. The earlier block's value is shifted by one hop to the window's end.
    fn window_after(&self, earlier: &Block) -> ([f64; 8], f64) {
        let t = &*TABLES;
        let n = (2 * HOP) as f64;
        let mut p = [0.0f64; 8];
        for (i, p) in p.iter_mut().enumerate() {
            let re = self.re[i] + earlier.re[i] * t.hop_cos[i] - earlier.im[i] * t.hop_sin[i];
            let im = self.im[i] + earlier.re[i] * t.hop_sin[i] + earlier.im[i] * t.hop_cos[i];
            *p = 2.0 * (re * re + im * im) / (n * n);
        }
        (p, (earlier.energy + self.energy) as f64 / n)
    }
}

/// Classify one window: the DTMF digit it contains, if any.
pub fn classify(window: &[i16]) -> Option<char> {
    if window.len() != WINDOW {
        // Not the detector's window: measured whole, the same rule.
        let total = energy(window);
        if total < MIN_TONE_POWER {
            return None;
        }
        let t = &*TABLES;
        return decide(&tone_powers(window, &t.coeff), total);
    }
    let (a, b) = window.split_at(HOP);
    let (p, total) = Block::of(b).window_after(&Block::of(a));
    decide(&p, total)
}

/// The digit the eight tone powers `p` (rows then columns) show in a window of mean-square
/// power `total`, if any.
fn decide(p: &[f64; 8], total: f64) -> Option<char> {
    if total < MIN_TONE_POWER {
        return None;
    }
    let rows = [p[0], p[1], p[2], p[3]];
    let cols = [p[4], p[5], p[6], p[7]];
    let (r, pr) = strongest(&rows)?;
    let (c, pc) = strongest(&cols)?;
    if pr < MIN_TONE_POWER || pc < MIN_TONE_POWER {
        return None;
    }
    if pr > pc * MAX_NORMAL_TWIST || pc > pr * MAX_REVERSE_TWIST {
        return None;
    }
    if pr + pc < MIN_TONE_SHARE * total {
        return None;
    }
    KEYPAD.get(r)?.get(c).copied()
}

/// Index and power of the strongest entry, if it beats every other by [`PEAK_RATIO`].
fn strongest(powers: &[f64; 4]) -> Option<(usize, f64)> {
    let (best, &p) = powers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let clear = powers
        .iter()
        .enumerate()
        .all(|(i, &q)| i == best || q * PEAK_RATIO <= p);
    clear.then_some((best, p))
}

#[derive(Debug, Clone, Copy)]
struct Press {
    digit: char,
    hits: u32,
    misses: u32,
}

impl Press {
    fn report(self) -> Option<DtmfDigit> {
        (self.hits >= MIN_HITS).then_some(DtmfDigit {
            digit: self.digit,
            duration_ms: (self.hits + 1) * HOP_MS,
        })
    }
}

/// Streaming in-band DTMF detector.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    /// Samples of the hop being filled (fewer than [`HOP`]).
    buf: Vec<i16>,
    /// The last complete hop: the first half of the next window.
    last: Option<Block>,
    press: Option<Press>,
}

impl DtmfDetector {
    /// A detector with empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed samples (any chunk size); returns the presses that ended.
    pub fn push(&mut self, samples: &[i16]) -> Vec<DtmfDigit> {
        let mut out = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            if self.buf.is_empty() && rest.len() >= 2 * HOP {
                // Two whole hops (the usual 20 ms frame), filtered together.
                let (one, tail) = rest.split_at(HOP);
                let (two, tail) = tail.split_at(HOP);
                rest = tail;
                for block in Block::of_each([one, two]) {
                    if let Some(earlier) = self.last.replace(block) {
                        let (p, total) = block.window_after(&earlier);
                        out.extend(self.step(decide(&p, total)));
                    }
                }
                continue;
            }
            let block = if self.buf.is_empty() && rest.len() >= HOP {
                // A whole hop straight from the input.
                let (hop, tail) = rest.split_at(HOP);
                rest = tail;
                Block::of(hop)
            } else {
                let take = (HOP - self.buf.len()).min(rest.len());
                let (part, tail) = rest.split_at(take);
                self.buf.extend_from_slice(part);
                rest = tail;
                if self.buf.len() < HOP {
                    break;
                }
                let b = Block::of(&self.buf);
                self.buf.clear();
                b
            };
            if let Some(earlier) = self.last.replace(block) {
                let (p, total) = block.window_after(&earlier);
                out.extend(self.step(decide(&p, total)));
            }
        }
        out
    }

    fn step(&mut self, d: Option<char>) -> Option<DtmfDigit> {
        match (d, self.press.as_mut()) {
            (Some(x), Some(p)) if p.digit == x => {
                p.hits += 1;
                p.misses = 0;
                None
            }
            (Some(x), current) => {
                let ended = current.and_then(|p| p.report());
                self.press = Some(Press {
                    digit: x,
                    hits: 1,
                    misses: 0,
                });
                ended
            }
            (None, Some(p)) => {
                p.misses += 1;
                if p.misses >= END_MISSES {
                    let ended = p.report();
                    self.press = None;
                    ended
                } else {
                    None
                }
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::dtmf_tone;
    use rand::{Rng, SeedableRng};

    fn detect_all(samples: &[i16], chunk: usize) -> Vec<DtmfDigit> {
        let mut d = DtmfDetector::new();
        samples.chunks(chunk).flat_map(|c| d.push(c)).collect()
    }

    fn sil(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    #[test]
    fn two_hops_measure_what_the_whole_window_does() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut windows: Vec<Vec<i16>> = (0..20)
            .map(|_| (0..WINDOW).map(|_| rng.gen_range(-9000..9000)).collect())
            .collect();
        windows.push(dtmf_tone('7', 20).unwrap().samples().to_vec());
        let t = &*TABLES;
        for w in &windows {
            let (a, b) = w.split_at(HOP);
            let (p, total) = Block::of(b).window_after(&Block::of(a));
            let whole = tone_powers(w, &t.coeff);
            for (got, want) in p.iter().zip(whole) {
                assert!(
                    (got - want).abs() <= 1e-9 * want.max(1.0),
                    "{got} vs {want}"
                );
            }
            assert!((total - energy(w)).abs() <= 1e-9 * total);
        }
        assert_eq!(classify(&windows[20]), Some('7'));
        // Two hops filtered side by side give what each gives alone.
        let (a, b) = windows[0].split_at(HOP);
        let [pa, pb] = Block::of_each([a, b]);
        for (x, y) in [(pa, Block::of(a)), (pb, Block::of(b))] {
            assert_eq!((x.re, x.im, x.energy), (y.re, y.im, y.energy));
        }
    }

    #[test]
    fn every_digit_is_detected_once() {
        let digits = "0123456789*#ABCD";
        let mut audio = sil(50);
        for c in digits.chars() {
            audio.extend_from_slice(dtmf_tone(c, 100).unwrap().samples());
            audio.extend(sil(80));
        }
        for chunk in [160, 37, 240] {
            let got = detect_all(&audio, chunk);
            let s: String = got.iter().map(|d| d.digit).collect();
            assert_eq!(s, digits, "chunk {chunk}");
            for d in &got {
                assert!((80..=140).contains(&d.duration_ms), "{d:?}");
            }
        }
    }

    #[test]
    fn repeated_digit_needs_a_gap() {
        let t = dtmf_tone('5', 120).unwrap();
        let mut audio = t.samples().to_vec();
        audio.extend(sil(60));
        audio.extend_from_slice(t.samples());
        audio.extend(sil(60));
        // A 200 ms press with no gap is one digit.
        audio.extend_from_slice(dtmf_tone('5', 200).unwrap().samples());
        audio.extend(sil(60));
        let got = detect_all(&audio, 160);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[2].duration_ms >= 180, "{got:?}");
    }

    #[test]
    fn short_blips_and_low_levels_are_ignored() {
        let mut audio = dtmf_tone('1', 20).unwrap().samples().to_vec();
        audio.extend(sil(100));
        // -50 dB: far below the floor.
        audio.extend(
            dtmf_tone('2', 200)
                .unwrap()
                .samples()
                .iter()
                .map(|&s| s / 300),
        );
        audio.extend(sil(100));
        assert!(detect_all(&audio, 160).is_empty());
    }

    #[test]
    fn twist_limits() {
        let n = 1600;
        let mk = |ra: f64, ca: f64| -> Vec<i16> {
            (0..n)
                .map(|i| {
                    let t = i as f64 / 8000.0;
                    let v = ra * (2.0 * std::f64::consts::PI * 770.0 * t).sin()
                        + ca * (2.0 * std::f64::consts::PI * 1336.0 * t).sin();
                    v as i16
                })
                .collect()
        };
        let mut a = mk(6000.0, 5000.0);
        a.extend(sil(100));
        assert_eq!(detect_all(&a, 160).len(), 1);
        // Column 12 dB weaker than row: rejected.
        let mut a = mk(8000.0, 2000.0);
        a.extend(sil(100));
        assert!(detect_all(&a, 160).is_empty());
    }

    #[test]
    fn no_false_digits_on_noise_speech_or_single_tone() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // 3 s of white noise.
        let noise: Vec<i16> = (0..24_000).map(|_| rng.gen_range(-8000..8000)).collect();
        assert!(detect_all(&noise, 160).is_empty());
        // Speech-like: a gliding fundamental with formant-weighted harmonics
        // and a random amplitude envelope, 5 s.
        let mut speech = Vec::new();
        let mut phase = [0.0f64; 30];
        let mut amp = 0.5;
        for i in 0..40_000 {
            let t = i as f64 / 8000.0;
            let f0 = 110.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            let f1 = 500.0 + 300.0 * (2.0 * std::f64::consts::PI * 1.3 * t).sin();
            let f2 = 1500.0 + 500.0 * (2.0 * std::f64::consts::PI * 0.9 * t).sin();
            if i % 400 == 0 {
                amp = rng.gen_range(0.1..1.0);
            }
            let mut v = 0.0;
            for (h, ph) in phase.iter_mut().enumerate() {
                let fh = f0 * (h + 1) as f64;
                if fh > 3800.0 {
                    break;
                }
                *ph += 2.0 * std::f64::consts::PI * fh / 8000.0;
                let w = (-((fh - f1) / 150.0).powi(2)).exp()
                    + 0.5 * (-((fh - f2) / 200.0).powi(2)).exp()
                    + 0.02;
                v += w * ph.sin();
            }
            speech.push((v * 4000.0 * amp).clamp(-32000.0, 32000.0) as i16);
        }
        assert!(detect_all(&speech, 160).is_empty());
        // A 1 kHz tone (and a 425 Hz ringback tone).
        let tone = crate::tones::sine(1000.0, 3000, 10_000.0);
        assert!(detect_all(tone.samples(), 160).is_empty());
        let tone = crate::tones::sine(425.0, 3000, 10_000.0);
        assert!(detect_all(tone.samples(), 160).is_empty());
        assert_eq!(digit_freqs('x'), None);
        assert_eq!(digit_freqs('d'), Some((941.0, 1633.0)));
    }
}
