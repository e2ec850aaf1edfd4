//! Voicemail recording: the received audio to a mono WAV until the maximum
//! length, or until silence follows speech.
//!
//! [`VoicemailMeter`] is the pure stop rule; the leg feeds it one 20 ms frame
//! per tick (silence when the peer sends nothing) and writes the same frames
//! through the recorder's blocking writer.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::goertzel::rms;
use crate::recorder::{take_frame, DoneFn, WavWriter};

/// Samples in one 20 ms frame.
const FRAME: usize = 160;

/// Ticks without a whole frame received before the missing audio counts as silence: a packet
/// late by network jitter (or by a busy media task) is waited for rather than recorded as a
/// gap of silence in the middle of a word.
const JITTER_TICKS: u32 = 3;

/// The most received audio held for the next ticks (2 s): beyond it the oldest is dropped.
const MAX_QUEUE: usize = FRAME * 100;

/// Parameters of [`MediaHandle::record_voicemail`](crate::MediaHandle::record_voicemail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoicemailSpec {
    /// Maximum length in milliseconds (0 = unlimited).
    pub max_ms: u32,
    /// Stop after this much continuous silence following some speech (0 = never).
    pub silence_ms: u32,
    /// A 20 ms frame whose RMS (16-bit units) is below this is silence.
    pub silence_threshold: u16,
    /// Stop when no speech was heard in this many milliseconds from the start (0 = never): a
    /// caller asked a question who says nothing.
    pub no_speech_ms: u32,
}

impl Default for VoicemailSpec {
    /// Two minutes, 5 s of silence, threshold 500 (about -36 dBFS).
    fn default() -> Self {
        VoicemailSpec {
            max_ms: 120_000,
            silence_ms: 5_000,
            silence_threshold: 500,
            no_speech_ms: 0,
        }
    }
}

/// Why a voicemail recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicemailReason {
    /// `max_ms` reached.
    MaxLength,
    /// `no_speech_ms` passed without speech.
    NoSpeech,
    /// `silence_ms` of silence after speech.
    Silence,
    /// `stop_recording`, another `record_voicemail`, or the leg closed (hang-up).
    Stopped,
}

/// The pure stop rule.
#[derive(Debug, Clone)]
pub struct VoicemailMeter {
    spec: VoicemailSpec,
    samples: u64,
    heard_speech: bool,
    silent_samples: u64,
}

impl VoicemailMeter {
    /// A meter for `spec`.
    pub fn new(spec: VoicemailSpec) -> Self {
        VoicemailMeter {
            spec,
            samples: 0,
            heard_speech: false,
            silent_samples: 0,
        }
    }

    /// Milliseconds measured so far.
    pub fn elapsed_ms(&self) -> u64 {
        self.samples / 8
    }

    /// Whether speech was heard.
    pub fn heard_speech(&self) -> bool {
        self.heard_speech
    }

    /// Account one frame; `Some(reason)` when the recording must stop after it.
    pub fn push(&mut self, frame: &[i16]) -> Option<VoicemailReason> {
        self.samples += frame.len() as u64;
        if rms(frame) >= f64::from(self.spec.silence_threshold) {
            self.heard_speech = true;
            self.silent_samples = 0;
        } else {
            self.silent_samples += frame.len() as u64;
        }
        if self.spec.no_speech_ms > 0
            && !self.heard_speech
            && self.samples >= u64::from(self.spec.no_speech_ms) * 8
        {
            return Some(VoicemailReason::NoSpeech);
        }
        if self.spec.max_ms > 0 && self.samples >= u64::from(self.spec.max_ms) * 8 {
            return Some(VoicemailReason::MaxLength);
        }
        if self.spec.silence_ms > 0
            && self.heard_speech
            && self.silent_samples >= u64::from(self.spec.silence_ms) * 8
        {
            return Some(VoicemailReason::Silence);
        }
        None
    }
}

/// A running voicemail recording on a leg.
pub(crate) struct VoicemailRecording {
    pub id: u64,
    rx: VecDeque<i16>,
    /// Ticks since the last whole frame (up to [`JITTER_TICKS`]).
    late: u32,
    meter: VoicemailMeter,
    writer: WavWriter,
}

impl VoicemailRecording {
    pub(crate) fn start(id: u64, path: PathBuf, spec: VoicemailSpec) -> Self {
        VoicemailRecording {
            id,
            rx: VecDeque::new(),
            late: 0,
            meter: VoicemailMeter::new(spec),
            writer: WavWriter::spawn(None, Some(path)),
        }
    }

    pub(crate) fn push_rx(&mut self, s: &[i16]) {
        self.rx.extend(s.iter().copied());
        if self.rx.len() > MAX_QUEUE {
            let excess = self.rx.len() - MAX_QUEUE;
            self.rx.drain(..excess);
        }
    }

    /// One 20 ms tick; `Some(reason)` when the recording is complete.
    ///
    /// Every whole frame received is recorded, however many (ticks are skipped when the media
    /// task runs late, and the audio must not be lost then); with none, the tick waits up to
    /// [`JITTER_TICKS`] for a late packet before it records a frame of silence (what it has
    /// of a frame, padded), so a caller who sends nothing is still heard as silent.
    pub(crate) fn on_tick(&mut self) -> Option<VoicemailReason> {
        let mut stop = None;
        let mut wrote = false;
        while stop.is_none() && self.rx.len() >= FRAME {
            let f = take_frame(&mut self.rx);
            stop = self.record(f);
            wrote = true;
        }
        if wrote {
            self.late = 0;
        } else if self.late < JITTER_TICKS {
            self.late += 1;
        } else {
            let f = take_frame(&mut self.rx);
            stop = self.record(f);
        }
        stop
    }

    fn record(&mut self, f: Vec<i16>) -> Option<VoicemailReason> {
        let stop = self.meter.push(&f);
        self.writer.write(f, Vec::new());
        stop
    }

    pub(crate) fn finish(self, done: DoneFn) -> tokio::task::JoinHandle<()> {
        self.writer.finish(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_on_silence_after_speech_or_max() {
        let spec = VoicemailSpec {
            max_ms: 10_000,
            silence_ms: 1000,
            silence_threshold: 500,
            no_speech_ms: 0,
        };
        let mut m = VoicemailMeter::new(spec);
        let quiet = [100i16; 160];
        let loud: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 3000 } else { -3000 })
            .collect();
        // Leading silence does not stop it (no speech yet).
        for _ in 0..100 {
            assert_eq!(m.push(&quiet), None);
        }
        assert!(!m.heard_speech());
        for _ in 0..10 {
            assert_eq!(m.push(&loud), None);
        }
        for _ in 0..49 {
            assert_eq!(m.push(&quiet), None);
        }
        assert_eq!(m.push(&quiet), Some(VoicemailReason::Silence));
        assert_eq!(m.elapsed_ms(), 3200);

        let mut m = VoicemailMeter::new(VoicemailSpec {
            max_ms: 100,
            silence_ms: 0,
            silence_threshold: 500,
            no_speech_ms: 0,
        });
        for _ in 0..4 {
            assert_eq!(m.push(&loud), None);
        }
        assert_eq!(m.push(&quiet), Some(VoicemailReason::MaxLength));
        let d = VoicemailSpec::default();
        assert_eq!(d.max_ms, 120_000);
    }

    #[test]
    fn a_caller_who_says_nothing_ends_it_early() {
        let spec = VoicemailSpec {
            max_ms: 10_000,
            silence_ms: 800,
            silence_threshold: 500,
            no_speech_ms: 1000,
        };
        let quiet = [100i16; 160];
        let loud: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 3000 } else { -3000 })
            .collect();
        let mut m = VoicemailMeter::new(spec);
        for _ in 0..49 {
            assert_eq!(m.push(&quiet), None);
        }
        assert_eq!(m.push(&quiet), Some(VoicemailReason::NoSpeech));
        // Speech before the limit: the answer is heard out, ended by the silence after it.
        let mut m = VoicemailMeter::new(spec);
        for _ in 0..45 {
            assert_eq!(m.push(&quiet), None);
        }
        for _ in 0..30 {
            assert_eq!(m.push(&loud), None);
        }
        for _ in 0..39 {
            assert_eq!(m.push(&quiet), None);
        }
        assert_eq!(m.push(&quiet), Some(VoicemailReason::Silence));
    }

    /// The recording keeps every frame received: a packet a tick late is waited for (no gap of
    /// silence inside the word), frames that piled up while ticks were skipped are all
    /// recorded, and only a caller who sends nothing for longer is recorded as silence.
    #[tokio::test]
    async fn late_and_bunched_audio_is_recorded_whole() {
        let dir = tempfile::tempdir().unwrap();
        let spec = VoicemailSpec {
            max_ms: 0,
            silence_ms: 0,
            silence_threshold: 500,
            no_speech_ms: 0,
        };
        let mut r = VoicemailRecording::start(1, dir.path().join("a.wav"), spec);
        let loud = [3000i16; FRAME];
        // A frame on time, one a tick late, then nothing for the waiting ticks: nothing counted.
        r.push_rx(&loud);
        assert_eq!(r.on_tick(), None);
        assert_eq!(r.on_tick(), None);
        assert_eq!(r.meter.elapsed_ms(), 20);
        r.push_rx(&loud);
        assert_eq!(r.on_tick(), None);
        assert_eq!(r.meter.elapsed_ms(), 40);
        // Five frames at once (the media task ran late): all of them at the next tick.
        for _ in 0..5 {
            r.push_rx(&loud);
        }
        assert_eq!(r.on_tick(), None);
        assert_eq!(r.meter.elapsed_ms(), 140);
        // Nothing more: after JITTER_TICKS ticks of waiting, each tick records silence, and a
        // half frame is kept until the rest comes (or recorded padded once waiting is over).
        r.push_rx(&loud[..80]);
        for _ in 0..JITTER_TICKS {
            assert_eq!(r.on_tick(), None);
        }
        assert_eq!(r.meter.elapsed_ms(), 140);
        assert_eq!(r.on_tick(), None);
        assert_eq!(r.on_tick(), None);
        assert_eq!(r.meter.elapsed_ms(), 180);
        // A huge burst keeps its newest 2 s.
        for _ in 0..150 {
            r.push_rx(&loud);
        }
        assert_eq!(r.rx.len(), MAX_QUEUE);
        r.on_tick();
        assert_eq!(r.meter.elapsed_ms(), 180 + 2000);
    }
}
