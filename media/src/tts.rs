//! Text-to-speech through the `espeak-ng` command-line program.
//!
//! [`Tts::speak`] runs `espeak-ng -v <voice> -w <tmp.wav> -- <text>` as a
//! subprocess (arguments passed directly, never through a shell; killed after
//! a timeout), loads its 22.05 kHz WAV through [`Prompt::load_wav`] (resampled
//! to 8 kHz) and caches the result in memory and on disk as an 8 kHz WAV named
//! by the FNV-1a 64-bit hash of `voice + "\0" + text`. A missing or failing
//! engine is a [`MediaError::Tts`], never a panic. Voices are espeak-ng names
//! such as `en`, `ru`, `en-us`, `de`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::error::MediaError;
use crate::prompt::{Prompt, SAMPLE_RATE};

/// Default subprocess timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default program name (looked up in `PATH`).
pub const DEFAULT_PROGRAM: &str = "espeak-ng";
/// Longest text accepted (characters).
pub const MAX_TEXT_CHARS: usize = 4000;

/// FNV-1a 64-bit hash (stable across runs and platforms).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The cache key of `text` spoken with `voice`: 16 hex digits.
pub fn cache_key(text: &str, voice: &str) -> String {
    let mut bytes = Vec::with_capacity(voice.len() + 1 + text.len());
    bytes.extend_from_slice(voice.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(text.as_bytes());
    format!("{:016x}", fnv1a64(&bytes))
}

/// A text-to-speech engine with a memory and disk cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tts {
    cache_dir: PathBuf,
    program: PathBuf,
    timeout: Duration,
    memory: Arc<DashMap<String, Arc<Prompt>>>,
}

fn tts_err(msg: impl Into<String>) -> MediaError {
    MediaError::Tts(msg.into())
}

impl Tts {
    /// An engine running `espeak-ng` from `PATH`, caching under `cache_dir`
    /// (created on first use).
    pub fn new(cache_dir: PathBuf) -> Self {
        Tts {
            cache_dir,
            program: PathBuf::from(DEFAULT_PROGRAM),
            timeout: DEFAULT_TIMEOUT,
            memory: Arc::new(DashMap::new()),
        }
    }

    /// Use another program (same command-line interface as espeak-ng).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Use another subprocess timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The on-disk cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Speak `text` with `voice`, from the cache when possible.
    pub async fn speak(&self, text: &str, voice: &str) -> Result<Arc<Prompt>, MediaError> {
        if text.trim().is_empty() {
            return Err(tts_err("empty text"));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(tts_err("text too long"));
        }
        let voice_ok = !voice.is_empty()
            && voice.len() <= 64
            && !voice.starts_with('-')
            && voice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'));
        if !voice_ok {
            return Err(tts_err(format!("invalid voice name {voice:?}")));
        }
        let key = cache_key(text, voice);
        if let Some(p) = self.memory.get(&key) {
            return Ok(p.clone());
        }
        let cached = self.cache_dir.join(format!("{key}.wav"));
        let from_disk = {
            let path = cached.clone();
            tokio::task::spawn_blocking(move || {
                path.is_file()
                    .then(|| Prompt::load_wav(&path).ok())
                    .flatten()
            })
            .await
            .ok()
            .flatten()
        };
        if let Some(p) = from_disk.filter(|p| !p.samples().is_empty()) {
            let p = Arc::new(p);
            self.memory.insert(key, p.clone());
            return Ok(p);
        }

        let dir = self.cache_dir.clone();
        blocking(move || std::fs::create_dir_all(&dir).map_err(MediaError::Io)).await?;
        let tmp = self
            .cache_dir
            .join(format!("{key}.{:08x}.espeak.wav", rand::random::<u32>()));
        let result = self.synthesize(text, voice, &tmp, &cached).await;
        let cleanup = tmp.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(cleanup)).await;
        let p = Arc::new(result?);
        self.memory.insert(key, p.clone());
        Ok(p)
    }

    async fn synthesize(
        &self,
        text: &str,
        voice: &str,
        tmp: &Path,
        cached: &Path,
    ) -> Result<Prompt, MediaError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg("-v")
            .arg(voice)
            .arg("-w")
            .arg(tmp)
            .arg("--")
            .arg(text)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| tts_err(format!("cannot run {}: {e}", self.program.display())))?;
        let out = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| tts_err(format!("{} timed out", self.program.display())))?
            .map_err(|e| tts_err(format!("{}: {e}", self.program.display())))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(tts_err(format!(
                "{} failed ({}): {}",
                self.program.display(),
                out.status,
                stderr.trim()
            )));
        }
        let (tmp, cached) = (tmp.to_path_buf(), cached.to_path_buf());
        blocking(move || {
            let p =
                Prompt::load_wav(&tmp).map_err(|e| tts_err(format!("bad engine output: {e}")))?;
            if p.samples().is_empty() {
                return Err(tts_err("engine produced no audio"));
            }
            if let Err(e) = write_cache(&cached, &p) {
                tracing::warn!(error = %e, path = %cached.display(), "cannot write TTS cache");
            }
            Ok(p)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MediaError> + Send + 'static,
) -> Result<T, MediaError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| tts_err(format!("worker failed: {e}")))?
}

/// Write an 8 kHz mono WAV atomically (temp file + rename).
fn write_cache(path: &Path, p: &Prompt) -> Result<(), String> {
    let part = path.with_extension("wav.part");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&part, spec).map_err(|e| e.to_string())?;
    for &s in p.samples() {
        w.write_sample(s).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())?;
    std::fs::rename(&part, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::rms;

    fn have_espeak() -> bool {
        std::process::Command::new(DEFAULT_PROGRAM)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(cache_key("hello", "en").len(), 16);
        assert_ne!(cache_key("hello", "en"), cache_key("hello", "ru"));
        assert_ne!(cache_key("a", "b\0c"), cache_key("c", "b\0a"));
    }

    #[tokio::test]
    async fn speaks_english_and_russian_and_caches() {
        if !have_espeak() {
            // CI installs espeak-ng (Debian package `espeak-ng`); without it
            // there is nothing to test here.
            eprintln!("espeak-ng not installed; skipping");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let tts = Tts::new(dir.path().join("tts"));
        for (text, voice) in [
            ("hello", "en"),
            ("привет", "ru"),
            ("-v starts with a dash", "en"),
        ] {
            let p = tts.speak(text, voice).await.unwrap();
            assert!(p.duration_ms() > 200, "{text}: {} ms", p.duration_ms());
            assert!(rms(p.samples()) > 300.0, "{text}: rms {}", rms(p.samples()));
            let again = tts.speak(text, voice).await.unwrap();
            assert!(Arc::ptr_eq(&p, &again));
            let file = dir
                .path()
                .join("tts")
                .join(format!("{}.wav", cache_key(text, voice)));
            assert!(file.is_file());
            // A fresh engine (no memory cache) reads the disk cache, even without the program.
            let cold = Tts::new(dir.path().join("tts")).with_program("/nonexistent/espeak");
            let from_disk = cold.speak(text, voice).await.unwrap();
            assert_eq!(from_disk.samples().len(), p.samples().len());
        }
        // Only the cache files remain (temp files are removed).
        let names: Vec<String> = std::fs::read_dir(dir.path().join("tts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(matches!(
            tts.speak("x", "zzz").await,
            Err(MediaError::Tts(_))
        ));
    }

    #[tokio::test]
    async fn missing_program_and_bad_input_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let tts = Tts::new(dir.path().to_path_buf()).with_program("/nonexistent/espeak-ng");
        assert!(matches!(
            tts.speak("hello", "en").await,
            Err(MediaError::Tts(_))
        ));
        assert!(matches!(
            tts.speak("  ", "en").await,
            Err(MediaError::Tts(_))
        ));
        assert!(matches!(
            tts.speak("hi", "-x").await,
            Err(MediaError::Tts(_))
        ));
        assert!(matches!(
            tts.speak("hi", "en; rm").await,
            Err(MediaError::Tts(_))
        ));
        // A program that fails.
        let tts = Tts::new(dir.path().to_path_buf()).with_program("false");
        assert!(matches!(
            tts.speak("hello", "en").await,
            Err(MediaError::Tts(_))
        ));
        // A program that hangs is killed after the timeout.
        let script = dir.path().join("hang.sh");
        std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let tts = Tts::new(dir.path().to_path_buf())
            .with_program(&script)
            .with_timeout(Duration::from_millis(200));
        let err = tts.speak("hello", "en").await;
        assert!(matches!(err, Err(MediaError::Tts(_))), "{err:?}");
    }
}
