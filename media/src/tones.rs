//! Call-progress tones and DTMF tones as [`Prompt`]s (pure code).
//!
//! Cadenced tones return **one period** (tone followed by its pause); play them
//! with `play_sequence(.., PlayOptions { looped: true, .. })` to repeat them.

use std::f64::consts::PI;

use crate::dtmf_detect::digit_freqs;
use crate::prompt::{Prompt, SAMPLE_RATE};

/// Amplitude of a single call-progress tone (about -13 dBm0).
const SINGLE_AMPLITUDE: f64 = 7000.0;
/// Amplitude of each of the two components of a dual tone.
const DUAL_AMPLITUDE: f64 = 5000.0;

fn samples_for(ms: u32) -> usize {
    (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize
}

/// Sum of sines at `freqs`, each with peak `amplitude`, for `ms` milliseconds.
/// A 2 ms raised-cosine ramp at both ends avoids clicks.
pub fn tone(freqs: &[f64], ms: u32, amplitude: f64) -> Vec<i16> {
    let n = samples_for(ms);
    let ramp = samples_for(2).min(n / 2).max(1);
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(SAMPLE_RATE);
            let v: f64 = freqs.iter().map(|f| (2.0 * PI * f * t).sin()).sum();
            let edge = i.min(n - 1 - i);
            let g = if edge < ramp {
                0.5 - 0.5 * (PI * edge as f64 / ramp as f64).cos()
            } else {
                1.0
            };
            (v * amplitude * g).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// A single sine tone of `ms` milliseconds.
pub fn sine(freq: f64, ms: u32, amplitude: f64) -> Prompt {
    Prompt::from_samples_8k(tone(&[freq], ms, amplitude))
}

/// One cadence period: `on_ms` of tone (the sum of `freqs`) then `off_ms` of silence.
pub fn cadence(freqs: &[f64], on_ms: u32, off_ms: u32, amplitude: f64) -> Prompt {
    let mut s = tone(freqs, on_ms, amplitude);
    s.resize(s.len() + samples_for(off_ms), 0);
    Prompt::from_samples_8k(s)
}

/// Russian/European ringback: 425 Hz, 1 s on, 4 s off (one period).
pub fn ringback_eu() -> Prompt {
    cadence(&[425.0], 1000, 4000, SINGLE_AMPLITUDE)
}

/// Russian ringback (same as [`ringback_eu`]).
pub fn ringback_ru() -> Prompt {
    ringback_eu()
}

/// European busy tone: 425 Hz, 0.35 s on, 0.35 s off (one period).
pub fn busy_eu() -> Prompt {
    cadence(&[425.0], 350, 350, SINGLE_AMPLITUDE)
}

/// US ringback: 440 + 480 Hz, 2 s on, 4 s off (one period).
pub fn ringback_us() -> Prompt {
    cadence(&[440.0, 480.0], 2000, 4000, DUAL_AMPLITUDE)
}

/// Music on hold: a soft, slow arpeggio (C–E–G–E, 400 ms each, then a pause), one period of
/// 2 s. Generated, so the box needs no licensed recording; an uploaded file can replace it.
pub fn music_on_hold() -> Prompt {
    let mut s = Vec::new();
    for f in [261.63, 329.63, 392.0, 329.63] {
        s.extend(tone(&[f, f * 2.0], 400, 2500.0));
    }
    s.resize(s.len() + samples_for(400), 0);
    Prompt::from_samples_8k(s)
}

/// The voicemail beep: 1 kHz for 0.25 s.
pub fn beep() -> Prompt {
    sine(1000.0, 250, SINGLE_AMPLITUDE)
}

/// The dual tone of a DTMF digit for `ms` milliseconds; `None` for a non-DTMF character.
pub fn dtmf_tone(digit: char, ms: u32) -> Option<Prompt> {
    let (r, c) = digit_freqs(digit)?;
    Some(Prompt::from_samples_8k(tone(&[r, c], ms, DUAL_AMPLITUDE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{energy, tone_power};

    #[test]
    fn cadences_and_frequencies() {
        let r = ringback_eu();
        assert_eq!(r.duration_ms(), 5000);
        let on = &r.samples()[800..7200];
        assert!(tone_power(on, 425.0) > 0.9 * energy(on));
        assert!(r.samples()[8100..].iter().all(|&s| s == 0));
        assert_eq!(ringback_ru(), r);

        let b = busy_eu();
        assert_eq!(b.duration_ms(), 700);
        assert!(b.samples()[2900..].iter().all(|&s| s == 0));

        let us = ringback_us();
        assert_eq!(us.duration_ms(), 6000);
        let on = &us.samples()[800..15_200];
        let p = tone_power(on, 440.0) + tone_power(on, 480.0);
        assert!(p > 0.9 * energy(on));

        let beep = beep();
        assert_eq!(beep.duration_ms(), 250);
        let s = beep.samples();
        assert!(tone_power(s, 1000.0) > 0.9 * energy(s));
        assert!(s.first().unwrap().abs() < 100, "ramped start");

        let d = dtmf_tone('9', 100).unwrap();
        let s = d.samples();
        assert!(tone_power(s, 852.0) + tone_power(s, 1477.0) > 0.9 * energy(s));
        assert!(dtmf_tone('?', 100).is_none());
        assert!(tone(&[1000.0], 0, 1000.0).is_empty());
        assert_eq!(tone(&[1000.0], 1, 1000.0).len(), 8);
    }
}
