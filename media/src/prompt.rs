//! Audio prompts: 8 kHz mono PCM loaded from WAV files, plus a conversion cache.
//!
//! Loading is plain blocking file I/O and CPU work (decode, mix down, band-limited
//! resampling with rubato's FFT resampler). It does not touch tokio or the clock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::error::MediaError;

/// The telephony sample rate every prompt is stored at.
pub const SAMPLE_RATE: u32 = 8000;

/// A playable prompt: 8 kHz, mono, 16-bit linear samples.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    samples: Vec<i16>,
    /// The switch's own silence (a pause): sent as DTX, see [`Prompt::is_silence`].
    silence: bool,
}

impl Prompt {
    /// Wrap samples that are already 8 kHz mono.
    pub fn from_samples_8k(samples: Vec<i16>) -> Self {
        Prompt {
            samples,
            silence: false,
        }
    }

    /// `ms` milliseconds of digital silence.
    pub fn silence(ms: u32) -> Self {
        let n = (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize;
        Prompt {
            samples: vec![0; n],
            silence: true,
        }
    }

    /// True for [`Prompt::silence`]: the session sends such frames as discontinuous
    /// transmission (the first frame, then one a second), not as 50 packets a second.
    pub fn is_silence(&self) -> bool {
        self.silence
    }

    /// Duration in milliseconds (rounded down).
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE)
    }

    /// The 8 kHz mono samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Load a WAV file and convert it to 8 kHz mono.
    ///
    /// Supports 8/16/24/32-bit integer PCM and 32-bit float, any channel count
    /// (mixed down by averaging) and any sample rate (resampled to 8 kHz with a
    /// band-limited FFT resampler).
    pub fn load_wav(path: &Path) -> Result<Prompt, MediaError> {
        let reader = hound::WavReader::open(path).map_err(|e| match e {
            hound::Error::IoError(io) => MediaError::Io(io),
            other => MediaError::Wav(other.to_string()),
        })?;
        let spec = reader.spec();
        if spec.channels == 0 {
            return Err(MediaError::UnsupportedFormat("zero channels".into()));
        }
        if spec.sample_rate == 0 {
            return Err(MediaError::UnsupportedFormat("zero sample rate".into()));
        }
        let interleaved: Vec<f64> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
                let scale = 1.0 / f64::from(1u32 << (bits - 1));
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| f64::from(v) * scale))
                    .collect::<Result<_, _>>()
                    .map_err(|e| MediaError::Wav(e.to_string()))?
            }
            (hound::SampleFormat::Float, 32) => reader
                .into_samples::<f32>()
                .map(|s| s.map(f64::from))
                .collect::<Result<_, _>>()
                .map_err(|e| MediaError::Wav(e.to_string()))?,
            (fmt, bits) => {
                return Err(MediaError::UnsupportedFormat(format!(
                    "{bits}-bit {fmt:?} samples"
                )))
            }
        };
        let mono = mix_to_mono(&interleaved, usize::from(spec.channels));
        let resampled = resample_to_8k(&mono, spec.sample_rate)?;
        Ok(Prompt::from_samples_8k(to_i16(&resampled)))
    }
}

/// Average interleaved frames down to one channel. A trailing partial frame is dropped.
fn mix_to_mono(interleaved: &[f64], channels: usize) -> Vec<f64> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    let inv = 1.0 / channels as f64;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f64>() * inv)
        .collect()
}

/// Resample mono audio to 8 kHz (no-op when already 8 kHz).
fn resample_to_8k(mono: &[f64], rate: u32) -> Result<Vec<f64>, MediaError> {
    if rate == SAMPLE_RATE || mono.is_empty() {
        return Ok(mono.to_vec());
    }
    let err = |e: &dyn std::fmt::Display| MediaError::Resample(e.to_string());
    let mut resampler = Fft::<f64>::new(
        rate as usize,
        SAMPLE_RATE as usize,
        1024,
        1,
        FixedSync::Input,
    )
    .map_err(|e| err(&e))?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| err(&e))?;
    let out = resampler
        .process_all(&input, mono.len(), None)
        .map_err(|e| err(&e))?;
    Ok(out.take_data())
}

/// Convert normalised floats to i16 with clamping.
fn to_i16(samples: &[f64]) -> Vec<i16> {
    samples
        .iter()
        .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

type Slot = Arc<Mutex<Option<Arc<Prompt>>>>;

/// A shared cache of converted prompts, keyed by path. Cheap to clone.
///
/// Each file is converted at most once (concurrent first loads of the same path
/// wait for each other); a failed load is not cached and will be retried.
/// Loading blocks the calling thread; async callers should use `spawn_blocking`
/// for prompts not yet cached.
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    entries: Arc<DashMap<PathBuf, Slot>>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Return the cached prompt for `path`, loading and converting it on first use.
    pub fn get_or_load(&self, path: &Path) -> Result<Arc<Prompt>, MediaError> {
        let slot: Slot = self
            .entries
            .entry(path.to_path_buf())
            .or_default()
            .value()
            .clone();
        // The shard lock is released here; only this path's slot stays locked while loading.
        let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(p) = guard.as_ref() {
            return Ok(p.clone());
        }
        let prompt = Arc::new(Prompt::load_wav(path)?);
        *guard = Some(prompt.clone());
        Ok(prompt)
    }

    /// Number of successfully loaded prompts in the cache.
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| {
                e.value()
                    .lock()
                    .map(|g| g.is_some())
                    .unwrap_or_else(|p| p.into_inner().is_some())
            })
            .count()
    }

    /// True when no prompt has been loaded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goertzel_power(samples: &[i16], freq: f64, rate: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / rate;
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        // Normalise to mean-square amplitude: |X|^2 * 2 / N^2 gives A^2/2 for a sine of amplitude A.
        let n = samples.len() as f64;
        2.0 * power / (n * n)
    }

    fn rms(samples: &[i16]) -> f64 {
        let sum: f64 = samples
            .iter()
            .map(|&s| (f64::from(s) / 32768.0).powi(2))
            .sum();
        (sum / samples.len() as f64).sqrt()
    }

    fn write_sine(path: &Path, rate: u32, channels: u16, bits: u16, float: bool, secs: f64) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let n = (f64::from(rate) * secs) as usize;
        for i in 0..n {
            let v = 0.5 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / f64::from(rate)).sin();
            for _ in 0..channels {
                if float {
                    w.write_sample(v as f32).unwrap();
                } else {
                    let max = f64::from((1u32 << (bits - 1)) - 1);
                    w.write_sample((v * max) as i32).unwrap();
                }
            }
        }
        w.finalize().unwrap();
    }

    fn check_sine(p: &Prompt, secs: f64) {
        let expected = secs * 8000.0;
        let len = p.samples().len() as f64;
        assert!(
            (len - expected).abs() <= 8.0,
            "len {len} expected {expected}"
        );
        // Skip edges, measure the middle.
        let mid = &p.samples()[800..p.samples().len() - 800];
        let r = rms(mid);
        assert!((r - 0.5 / 2f64.sqrt()).abs() < 0.03, "rms {r}");
        let p1k = goertzel_power(mid, 1000.0, 8000.0);
        let p2k = goertzel_power(mid, 2500.0, 8000.0);
        assert!((p1k - 0.125).abs() < 0.02, "1 kHz power {p1k}");
        assert!(p2k < 0.001, "2.5 kHz power {p2k}");
    }

    #[test]
    fn load_44k1_stereo_16bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.wav");
        write_sine(&path, 44100, 2, 16, false, 1.0);
        let p = Prompt::load_wav(&path).unwrap();
        check_sine(&p, 1.0);
        assert!((i64::try_from(p.duration_ms()).unwrap() - 1000).abs() <= 1);
    }

    #[test]
    fn load_16k_mono_16bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav");
        write_sine(&path, 16000, 1, 16, false, 0.5);
        check_sine(&Prompt::load_wav(&path).unwrap(), 0.5);
    }

    #[test]
    fn load_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(u32, u16, u16, bool); 6] = [
            (8000, 1, 8, false),
            (8000, 1, 16, false),
            (11025, 2, 24, false),
            (22050, 1, 32, false),
            (48000, 2, 32, true),
            (44100, 1, 8, false),
        ];
        for (i, (rate, ch, bits, float)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("f{i}.wav"));
            write_sine(&path, rate, ch, bits, float, 0.6);
            let p = Prompt::load_wav(&path)
                .unwrap_or_else(|e| panic!("{rate} {ch} {bits} {float}: {e}"));
            check_sine(&p, 0.6);
        }
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Prompt::load_wav(&dir.path().join("missing.wav")),
            Err(MediaError::Io(_))
        ));
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
        assert!(Prompt::load_wav(&junk).is_err());
    }

    #[test]
    fn silence_and_duration() {
        let s = Prompt::silence(1000);
        assert_eq!(s.samples().len(), 8000);
        assert_eq!(s.duration_ms(), 1000);
        assert!(s.samples().iter().all(|&x| x == 0));
        assert_eq!(Prompt::silence(0).duration_ms(), 0);
        assert_eq!(Prompt::from_samples_8k(vec![1; 80]).duration_ms(), 10);
    }

    #[test]
    fn cache_loads_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wav");
        write_sine(&path, 16000, 1, 16, false, 0.2);
        let cache = PromptCache::new();
        assert!(cache.is_empty());
        let a = cache.get_or_load(&path).unwrap();
        // Removing the file proves the second call does not re-read it.
        std::fs::remove_file(&path).unwrap();
        let b = cache.clone().get_or_load(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
        assert!(cache.get_or_load(&dir.path().join("nope.wav")).is_err());
        assert_eq!(cache.len(), 1);
    }
}
