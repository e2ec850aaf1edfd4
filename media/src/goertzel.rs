//! Goertzel single-frequency power measurement (pure code).

/// Sample rate assumed by [`tone_power`] and [`energy`].
const RATE: f64 = 8000.0;

/// The power of `freq` (Hz) in 8 kHz `samples`, as the mean-square amplitude of
/// that component: a full-block sine of amplitude `A` (in i16 units) gives about
/// `A² / 2`, which is what [`energy`] returns for the same block.
pub fn tone_power(samples: &[i16], freq: f64) -> f64 {
    tone_powers(samples, &[coefficient(freq)])[0]
}

/// The Goertzel coefficient of `freq` (Hz) at 8 kHz, for [`tone_powers`].
pub fn coefficient(freq: f64) -> f64 {
    2.0 * (2.0 * std::f64::consts::PI * freq / RATE).cos()
}

/// [`tone_power`] of several frequencies at once, given their [`coefficient`]s: one pass over
/// the samples with the recurrences side by side, so the work is independent across
/// frequencies and vectorizes (the same arithmetic, so the same results as one at a time).
pub fn tone_powers<const N: usize>(samples: &[i16], coeffs: &[f64; N]) -> [f64; N] {
    if samples.is_empty() {
        return [0.0; N];
    }
    let mut s1 = [0.0f64; N];
    let mut s2 = [0.0f64; N];
    for &x in samples {
        let x = f64::from(x);
        for ((a, b), &c) in s1.iter_mut().zip(s2.iter_mut()).zip(coeffs) {
            let s0 = x + c * *a - *b;
            *b = *a;
            *a = s0;
        }
    }
    let n = samples.len() as f64;
    let mut out = [0.0f64; N];
    for (((o, &a), &b), &c) in out.iter_mut().zip(&s1).zip(&s2).zip(coeffs) {
        *o = 2.0 * (a * a + b * b - c * a * b).max(0.0) / (n * n);
    }
    out
}

/// Mean-square amplitude of `samples` (i16 units squared).
pub fn energy(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    sum / samples.len() as f64
}

/// Root-mean-square amplitude of `samples`.
pub fn rms(samples: &[i16]) -> f64 {
    energy(samples).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_power_matches_energy() {
        let s: Vec<i16> = (0..800)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()) as i16
            })
            .collect();
        let e = energy(&s);
        assert!((e - 32_000_000.0).abs() < 400_000.0, "{e}");
        let p = tone_power(&s, 1000.0);
        assert!((p / e - 1.0).abs() < 0.02, "{p} vs {e}");
        assert!(tone_power(&s, 1500.0) < e * 0.001);
        assert!((rms(&s) - 5657.0).abs() < 30.0);
        let freqs = [697.0, 1000.0, 1500.0];
        let together = tone_powers(&s, &freqs.map(coefficient));
        for (f, p) in freqs.iter().zip(together) {
            assert_eq!(p, tone_power(&s, *f), "{f} Hz");
        }
        assert_eq!(tone_powers(&[], &[coefficient(1000.0)]), [0.0]);
        assert_eq!(tone_power(&[], 1000.0), 0.0);
        assert_eq!(energy(&[]), 0.0);
    }
}
