//! Call recording: stereo (caller left, leg output right) and mono-mix WAV files.
//!
//! The leg task only queues samples; a dedicated blocking writer (tokio
//! `spawn_blocking`, fed by a std channel) owns the `hound` writers, so disk
//! I/O never blocks the leg. Every 20 ms tick the leg moves one frame from each
//! direction's queue to the writer (a direction with nothing queued is written
//! as silence), which keeps both channels aligned on the leg's clock; when ticks
//! came late (a starved media task) and whole frames wait, they are all written
//! at once, so a busy machine delays a recording but does not cut audio out of it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use crate::prompt::SAMPLE_RATE;

/// Samples per tick.
const FRAME: usize = 160;
/// Most samples a direction may queue before the oldest are dropped (2 s: only a leg whose
/// ticks stopped for that long loses audio).
const MAX_QUEUE: usize = FRAME * 100;
/// Whole frames waiting beyond which a tick writes them all (60 ms: more than packet jitter).
const CATCH_UP_FRAMES: usize = 3;

/// Where [`MediaHandle::start_recording`](crate::MediaHandle::start_recording) writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordSpec {
    /// Stereo 8 kHz 16-bit WAV: left = audio received from the peer (the
    /// caller), right = audio the leg sends (the employee, prompts).
    pub stereo_path: Option<PathBuf>,
    /// Mono 8 kHz 16-bit WAV with both directions mixed.
    pub mono_path: Option<PathBuf>,
}

/// What a finished writer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteSummary {
    pub duration_ms: u64,
    pub paths: Vec<PathBuf>,
}

pub(crate) type DoneFn = Box<dyn FnOnce(Result<WriteSummary, String>) + Send>;

pub(crate) enum WriterMsg {
    Chunk { left: Vec<i16>, right: Vec<i16> },
    Finish(DoneFn),
}

/// The leg-side end of a blocking WAV writer.
pub(crate) struct WavWriter {
    tx: std_mpsc::Sender<WriterMsg>,
    join: tokio::task::JoinHandle<()>,
}

type Hound = hound::WavWriter<BufWriter<File>>;

fn create(path: &PathBuf, channels: u16) -> Result<Hound, String> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_loop(stereo: Option<PathBuf>, mono: Option<PathBuf>, rx: std_mpsc::Receiver<WriterMsg>) {
    let opened = (|| -> Result<(Option<Hound>, Option<Hound>), String> {
        let s = stereo.as_ref().map(|p| create(p, 2)).transpose()?;
        let m = mono.as_ref().map(|p| create(p, 1)).transpose()?;
        Ok((s, m))
    })();
    let mut failure = opened.as_ref().err().cloned();
    let (mut s, mut m) = opened.unwrap_or((None, None));
    let mut frames: u64 = 0;
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Chunk { left, right } => {
                if failure.is_some() {
                    continue;
                }
                let n = left.len().max(right.len());
                frames += n as u64;
                let res = (|| -> Result<(), hound::Error> {
                    for i in 0..n {
                        let l = left.get(i).copied().unwrap_or(0);
                        let r = right.get(i).copied().unwrap_or(0);
                        if let Some(w) = s.as_mut() {
                            w.write_sample(l)?;
                            w.write_sample(r)?;
                        }
                        if let Some(w) = m.as_mut() {
                            w.write_sample(l.saturating_add(r))?;
                        }
                    }
                    Ok(())
                })();
                if let Err(e) = res {
                    failure = Some(e.to_string());
                }
            }
            WriterMsg::Finish(done) => {
                let mut result = match failure.take() {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
                for w in [s.take(), m.take()].into_iter().flatten() {
                    if let Err(e) = w.finalize() {
                        result = result.and(Err(e.to_string()));
                    }
                }
                let paths = [stereo, mono].into_iter().flatten().collect();
                done(result.map(|()| WriteSummary {
                    duration_ms: frames * 1000 / u64::from(SAMPLE_RATE),
                    paths,
                }));
                return;
            }
        }
    }
    // The leg vanished without finishing: close the files as they are.
    for w in [s, m].into_iter().flatten() {
        let _ = w.finalize();
    }
}

impl WavWriter {
    /// Start a writer (inside a tokio runtime). With no path at all the writer
    /// writes nothing and reports a zero-length recording.
    pub(crate) fn spawn(stereo: Option<PathBuf>, mono: Option<PathBuf>) -> WavWriter {
        let (tx, rx) = std_mpsc::channel();
        let join = tokio::task::spawn_blocking(move || write_loop(stereo, mono, rx));
        WavWriter { tx, join }
    }

    /// Queue one chunk (never blocks).
    pub(crate) fn write(&self, left: Vec<i16>, right: Vec<i16>) {
        let _ = self.tx.send(WriterMsg::Chunk { left, right });
    }

    /// Finalize; `done` runs on the writer thread once the files are closed.
    pub(crate) fn finish(self, done: DoneFn) -> tokio::task::JoinHandle<()> {
        let _ = self.tx.send(WriterMsg::Finish(done));
        self.join
    }
}

/// Take exactly one frame from a queue, padding with silence.
pub(crate) fn take_frame(q: &mut VecDeque<i16>) -> Vec<i16> {
    let n = q.len().min(FRAME);
    let mut f: Vec<i16> = q.drain(..n).collect();
    f.resize(FRAME, 0);
    f
}

/// Append to a bounded queue, dropping the oldest samples beyond [`MAX_QUEUE`].
pub(crate) fn push_bounded(q: &mut VecDeque<i16>, samples: &[i16]) {
    q.extend(samples.iter().copied());
    if q.len() > MAX_QUEUE {
        let excess = q.len() - MAX_QUEUE;
        q.drain(..excess);
    }
}

/// A running call recording on a leg.
pub(crate) struct Recording {
    pub id: u64,
    rx: VecDeque<i16>,
    tx: VecDeque<i16>,
    writer: WavWriter,
}

impl Recording {
    pub(crate) fn start(id: u64, spec: RecordSpec) -> Recording {
        Recording {
            id,
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            writer: WavWriter::spawn(spec.stereo_path, spec.mono_path),
        }
    }

    /// Audio received from the peer.
    pub(crate) fn push_rx(&mut self, s: &[i16]) {
        push_bounded(&mut self.rx, s);
    }

    /// Audio the leg sent.
    pub(crate) fn push_tx(&mut self, s: &[i16]) {
        push_bounded(&mut self.tx, s);
    }

    /// One 20 ms tick: hand one aligned stereo frame to the writer. When more than
    /// [`CATCH_UP_FRAMES`] whole frames wait in a direction (ticks came late), the frames beyond
    /// one go too, so the backlog never grows into the drop limit; the jitter of packets around
    /// a tick stays under that and keeps its one frame a tick.
    pub(crate) fn on_tick(&mut self) {
        let waiting = self.rx.len().max(self.tx.len()) / FRAME;
        let frames = if waiting > CATCH_UP_FRAMES {
            waiting
        } else {
            1
        };
        for _ in 0..frames {
            let l = take_frame(&mut self.rx);
            let r = take_frame(&mut self.tx);
            self.writer.write(l, r);
        }
    }

    pub(crate) fn finish(self, done: DoneFn) -> tokio::task::JoinHandle<()> {
        self.writer.finish(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_bounded_and_frames_padded() {
        let mut q = VecDeque::new();
        push_bounded(&mut q, &[1; 100]);
        assert_eq!(take_frame(&mut q).iter().filter(|&&x| x == 1).count(), 100);
        push_bounded(&mut q, &vec![2; MAX_QUEUE + 50]);
        assert_eq!(q.len(), MAX_QUEUE);
        assert_eq!(take_frame(&mut q), vec![2; FRAME]);
    }

    #[tokio::test]
    async fn late_ticks_write_the_backlog_instead_of_dropping_it() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("s.wav");
        let mut rec = Recording::start(
            1,
            RecordSpec {
                stereo_path: Some(st.clone()),
                mono_path: None,
            },
        );
        // One packet's jitter: one frame a tick, the early frame waits.
        rec.push_rx(&[7; FRAME * 2]);
        rec.on_tick();
        assert_eq!(rec.rx.len(), FRAME);
        rec.on_tick();
        // A second of audio arrives while no tick ran: nothing is dropped, and the next tick
        // writes it all.
        for _ in 0..50 {
            rec.push_rx(&[9; FRAME]);
        }
        assert_eq!(rec.rx.len(), FRAME * 50);
        rec.on_tick();
        assert!(rec.rx.is_empty());
        let (tx, rx) = tokio::sync::oneshot::channel();
        rec.finish(Box::new(move |r| {
            let _ = tx.send(r);
        }))
        .await
        .unwrap();
        rx.await.unwrap().unwrap();
        let r = hound::WavReader::open(&st).unwrap();
        let left: Vec<i16> = r
            .into_samples::<i16>()
            .map(|s| s.unwrap())
            .step_by(2)
            .collect();
        assert_eq!(left.len(), FRAME * 52);
        assert_eq!(left.iter().filter(|&&x| x == 9).count(), FRAME * 50);
    }

    #[tokio::test]
    async fn writer_writes_stereo_and_mono() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("s.wav");
        let mo = dir.path().join("m.wav");
        let w = WavWriter::spawn(Some(st.clone()), Some(mo.clone()));
        for _ in 0..50 {
            w.write(vec![100; 160], vec![-30; 160]);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        w.finish(Box::new(move |r| {
            let _ = tx.send(r);
        }))
        .await
        .unwrap();
        let summary = rx.await.unwrap().unwrap();
        assert_eq!(summary.duration_ms, 1000);
        assert_eq!(summary.paths, vec![st.clone(), mo.clone()]);
        let r = hound::WavReader::open(&st).unwrap();
        assert_eq!(r.spec().channels, 2);
        assert_eq!(r.spec().sample_rate, 8000);
        let s: Vec<i16> = r.into_samples().map(|x| x.unwrap()).collect();
        assert_eq!(s.len(), 16_000);
        assert_eq!(&s[..4], &[100, -30, 100, -30]);
        let m: Vec<i16> = hound::WavReader::open(&mo)
            .unwrap()
            .into_samples()
            .map(|x| x.unwrap())
            .collect();
        assert_eq!(m, vec![70; 8000]);
    }

    #[tokio::test]
    async fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("no/such/dir/x.wav");
        let w = WavWriter::spawn(Some(bad), None);
        w.write(vec![1; 160], vec![]);
        let (tx, rx) = tokio::sync::oneshot::channel();
        w.finish(Box::new(move |r| {
            let _ = tx.send(r);
        }))
        .await
        .unwrap();
        assert!(rx.await.unwrap().is_err());
    }
}
