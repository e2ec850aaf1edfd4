//! Error type for the media crate.

/// Errors produced by the media engine, prompt loading and resampling.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Every RTP port in the configured range is in use (or could not be bound).
    #[error("no free RTP ports in the configured range")]
    NoPorts,
    /// An operating-system I/O error (socket bind, file open, ...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The WAV file could not be read or decoded.
    #[error("WAV error: {0}")]
    Wav(String),
    /// Sample-rate conversion failed.
    #[error("resampling error: {0}")]
    Resample(String),
    /// The audio file uses a format this crate does not handle.
    #[error("unsupported audio format: {0}")]
    UnsupportedFormat(String),
    /// Text-to-speech failed (engine missing, timed out, or produced no audio).
    #[error("text-to-speech error: {0}")]
    Tts(String),
    /// Two legs (or a leg and a mixer) could not be linked.
    #[error("bridge error: {0}")]
    Bridge(String),
}
