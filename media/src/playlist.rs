//! A sequence of prompts cut into 20 ms frames, optionally looping (pure code).

use std::sync::Arc;

use crate::prompt::Prompt;

/// Options of [`MediaHandle::play_sequence`](crate::MediaHandle::play_sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayOptions {
    /// Start again from the first prompt after the last one, until stopped
    /// (ringback melody, music on hold). A looped playback never sends `PlayDone`.
    pub looped: bool,
    /// A received DTMF digit stops the playback: `PlayInterrupted { id, digit }`
    /// replaces `PlayDone` (the digit is still reported as `Dtmf`).
    pub barge_in: bool,
}

/// Frame source over a list of prompts. Frames run continuously across prompt
/// boundaries; only the very last frame of a non-looped playlist is padded.
#[derive(Debug, Clone)]
pub struct Playlist {
    items: Vec<Arc<Prompt>>,
    looped: bool,
    index: usize,
    pos: usize,
}

impl Playlist {
    /// A playlist; a looped playlist whose prompts are all empty is treated as not looped.
    pub fn new(items: Vec<Arc<Prompt>>, looped: bool) -> Self {
        let audible = items.iter().any(|p| !p.samples().is_empty());
        Playlist {
            items,
            looped: looped && audible,
            index: 0,
            pos: 0,
        }
    }

    /// True when there is nothing (more) to play.
    pub fn is_finished(&self) -> bool {
        !self.looped
            && self
                .items
                .iter()
                .skip(self.index)
                .enumerate()
                .all(|(k, p)| p.samples().len() <= if k == 0 { self.pos } else { 0 })
    }

    /// How many whole frames of `len` samples from here are the switch's own silence that a
    /// player may leave out at once: inside the current [`Prompt::silence`], never its last
    /// frame (that one is played by [`Playlist::next_frame`], which says when the playlist ends
    /// or the next prompt starts).
    pub fn silent_frames_ahead(&self, len: usize) -> usize {
        match self.items.get(self.index) {
            Some(item) if item.is_silence() && len > 0 => {
                (item.samples().len().saturating_sub(self.pos) / len).saturating_sub(1)
            }
            _ => 0,
        }
    }

    /// Moves past `frames` frames of silence (at most [`Playlist::silent_frames_ahead`])
    /// without producing them.
    pub fn skip_silent_frames(&mut self, frames: usize, len: usize) {
        let frames = frames.min(self.silent_frames_ahead(len));
        self.pos += frames * len;
    }

    /// The next frame of exactly `len` samples, or `None` when finished.
    pub fn next_frame(&mut self, len: usize) -> Option<Frame> {
        if self.is_finished() {
            return None;
        }
        let mut frame = Vec::with_capacity(len);
        let mut silence = true;
        while frame.len() < len {
            let Some(item) = self.items.get(self.index) else {
                if self.looped {
                    self.index = 0;
                    self.pos = 0;
                    continue;
                }
                break;
            };
            let s = item.samples();
            silence &= item.is_silence() || s.len() <= self.pos;
            let want = len - frame.len();
            let end = (self.pos + want).min(s.len());
            frame.extend_from_slice(s.get(self.pos..end).unwrap_or_default());
            self.pos = end;
            if self.pos >= s.len() {
                self.index += 1;
                self.pos = 0;
            }
        }
        frame.resize(len, 0);
        Some(Frame {
            pcm: frame,
            last: self.is_finished(),
            silence,
        })
    }
}

/// One frame of a [`Playlist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The samples (8 kHz mono), exactly the length asked.
    pub pcm: Vec<i16>,
    /// The playlist's last frame.
    pub last: bool,
    /// Every sample is from [`Prompt::silence`] prompts (or the padding after them).
    pub silence: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: i16, n: usize) -> Arc<Prompt> {
        Arc::new(Prompt::from_samples_8k(vec![v; n]))
    }

    #[test]
    fn sequence_is_contiguous_and_padded_at_the_end() {
        let mut pl = Playlist::new(vec![p(1, 100), p(0, 0), p(2, 100)], false);
        let Frame {
            pcm: f1,
            last: last1,
            ..
        } = pl.next_frame(160).unwrap();
        assert!(!last1);
        assert!(f1[..100].iter().all(|&x| x == 1));
        assert!(f1[100..].iter().all(|&x| x == 2));
        let Frame {
            pcm: f2,
            last: last2,
            ..
        } = pl.next_frame(160).unwrap();
        assert!(last2);
        assert!(f2[..40].iter().all(|&x| x == 2));
        assert!(f2[40..].iter().all(|&x| x == 0));
        assert!(pl.next_frame(160).is_none());
    }

    #[test]
    fn looping_and_empty() {
        let mut pl = Playlist::new(vec![p(1, 100), p(2, 100)], true);
        let mut ones = 0;
        for _ in 0..50 {
            let Frame { pcm: f, last, .. } = pl.next_frame(160).unwrap();
            assert!(!last);
            ones += f.iter().filter(|&&x| x == 1).count();
            assert!(f.iter().all(|&x| x == 1 || x == 2));
        }
        assert_eq!(ones, 50 * 80);
        let mut empty = Playlist::new(vec![p(0, 0)], true);
        assert!(empty.is_finished());
        assert!(empty.next_frame(160).is_none());
        assert!(Playlist::new(vec![], false).is_finished());
        let mut exact = Playlist::new(vec![p(3, 320)], false);
        assert!(!exact.next_frame(160).unwrap().last);
        assert!(exact.next_frame(160).unwrap().last);
    }

    #[test]
    fn frames_of_the_switchs_silence_say_so() {
        let quiet = || Arc::new(Prompt::silence(30)); // 240 samples
        let mut pl = Playlist::new(vec![quiet(), p(0, 160), quiet()], false);
        let f = pl.next_frame(160).unwrap();
        assert!(f.silence && f.pcm.iter().all(|&x| x == 0));
        // The rest of the first silence, then the start of a prompt (zeros, but a prompt's).
        assert!(!pl.next_frame(160).unwrap().silence);
        let f = pl.next_frame(160).unwrap();
        assert!(!f.silence);
        // The last silence, padded: still silence, and the last frame.
        let f = pl.next_frame(160).unwrap();
        assert!(f.silence && f.last, "{f:?}");
    }

    #[test]
    fn silence_is_skipped_up_to_its_last_frame() {
        // 500 ms of silence = 25 frames, then a prompt.
        let mut pl = Playlist::new(vec![Arc::new(Prompt::silence(500)), p(7, 160)], false);
        assert_eq!(pl.silent_frames_ahead(160), 24);
        assert!(pl.next_frame(160).unwrap().silence);
        assert_eq!(pl.silent_frames_ahead(160), 23);
        pl.skip_silent_frames(100, 160); // bounded to what is there
        assert_eq!(pl.silent_frames_ahead(160), 0);
        let f = pl.next_frame(160).unwrap();
        assert!(f.silence && !f.last, "the pause's last frame is played");
        let f = pl.next_frame(160).unwrap();
        assert!(!f.silence && f.last && f.pcm.iter().all(|&x| x == 7));
        // A prompt is never skipped, and a trailing silence keeps its last frame.
        let pl = Playlist::new(vec![p(1, 1600)], false);
        assert_eq!(pl.silent_frames_ahead(160), 0);
        let mut pl = Playlist::new(vec![Arc::new(Prompt::silence(100))], false);
        pl.skip_silent_frames(4, 160);
        let f = pl.next_frame(160).unwrap();
        assert!(f.silence && f.last);
    }
}
