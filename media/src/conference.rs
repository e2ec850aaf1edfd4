//! The mixing task: conferences and coach (trainer) sessions.
//!
//! One tokio task per mixer. Participants are legs linked to the mixer (see
//! [`bridge`](crate::bridge)): each leg forwards its received PCM frames, and
//! sends whatever frame the mixer gives it. Every 20 ms the task drains every
//! participant's frames into that participant's [`JitterBuffer`] (a frame for
//! an already-mixed tick is dropped and counted as late), takes one frame per
//! participant, applies [`mix`] with the [`MixMatrix`] built from the roles and
//! sends each participant its own mix (silence when it hears nobody).
//!
//! A participant leaves on [`MixerHandle::leave`], when its leg closes or is
//! linked elsewhere. The mixer ends on [`MixerHandle::close`] or when every
//! handle clone is dropped; its legs then stop relaying and stay open.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TryRecvError, UnboundedReceiver, UnboundedSender};
use tokio::time::MissedTickBehavior;

use crate::error::MediaError;
use crate::jitter::{JitterBuffer, PushOutcome};
use crate::link::{next_link_id, AudioLink, PcmFrame, LINK_CAPACITY};
use crate::mixer::{mix, MixKind, MixMatrix, MixRole};
use crate::session::{Command, MediaEngine, MediaHandle};

/// Samples per mixing tick.
const FRAME: usize = 160;
/// Jitter-buffer priming depth (frames).
const JB_DEPTH: usize = 2;
/// Jitter-buffer capacity (frames).
const JB_MAX: usize = 8;

/// Counters of one mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MixerStats {
    /// Current participants.
    pub participants: usize,
    /// Mixing ticks so far.
    pub ticks: u64,
    /// Frames that arrived for an already-mixed tick (dropped).
    pub late_frames: u64,
}

#[derive(Debug, Default)]
struct StatsInner {
    participants: AtomicUsize,
    ticks: AtomicU64,
    late: AtomicU64,
}

#[derive(Debug)]
enum MixerCmd {
    Join {
        leg_id: u64,
        role: MixRole,
        input: mpsc::Receiver<PcmFrame>,
        output: mpsc::Sender<PcmFrame>,
    },
    Leave {
        leg_id: u64,
    },
    Close,
}

/// Control handle of a mixer. Clones share the task.
#[derive(Debug, Clone)]
pub struct MixerHandle {
    kind: MixKind,
    tx: UnboundedSender<MixerCmd>,
    stats: Arc<StatsInner>,
}

impl MixerHandle {
    /// The mixer's kind.
    pub fn kind(&self) -> MixKind {
        self.kind
    }

    /// Add a started leg with `role` (roles only matter in a coach mixer).
    /// Replaces the leg's bridge or other mixer membership, and its previous
    /// role if it already is in this mixer.
    pub fn join(&self, leg: &MediaHandle, role: MixRole) -> Result<(), MediaError> {
        if leg.is_closed() {
            return Err(MediaError::Bridge("leg already closed".into()));
        }
        if self.tx.is_closed() {
            return Err(MediaError::Bridge("mixer closed".into()));
        }
        let (leg_tx, mixer_rx) = mpsc::channel(LINK_CAPACITY);
        let (mixer_tx, leg_rx) = mpsc::channel(LINK_CAPACITY);
        let _ = self.tx.send(MixerCmd::Join {
            leg_id: leg.leg_id(),
            role,
            input: mixer_rx,
            output: mixer_tx,
        });
        leg.command(Command::Connect(Box::new(AudioLink {
            id: next_link_id(),
            to_peer: leg_tx,
            from_peer: leg_rx,
            own: None,
            peer: None,
        })));
        Ok(())
    }

    /// Remove a leg (it stays open and stops hearing the mix).
    pub fn leave(&self, leg: &MediaHandle) {
        let _ = self.tx.send(MixerCmd::Leave {
            leg_id: leg.leg_id(),
        });
    }

    /// End the mixer; every participant leaves.
    pub fn close(&self) {
        let _ = self.tx.send(MixerCmd::Close);
    }

    /// Current counters.
    pub fn stats(&self) -> MixerStats {
        MixerStats {
            participants: self.stats.participants.load(Ordering::Relaxed),
            ticks: self.stats.ticks.load(Ordering::Relaxed),
            late_frames: self.stats.late.load(Ordering::Relaxed),
        }
    }
}

impl MediaEngine {
    /// Start a mixer task (inside a tokio runtime).
    pub fn mixer(&self, kind: MixKind) -> MixerHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(StatsInner::default());
        tokio::spawn(run(kind, rx, stats.clone()));
        MixerHandle { kind, tx, stats }
    }
}

struct Participant {
    leg_id: u64,
    role: MixRole,
    input: mpsc::Receiver<PcmFrame>,
    output: mpsc::Sender<PcmFrame>,
    jb: JitterBuffer,
}

async fn run(kind: MixKind, mut rx: UnboundedReceiver<MixerCmd>, stats: Arc<StatsInner>) {
    let mut parts: Vec<Participant> = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut ts: u32 = rand::random();
    loop {
        tokio::select! {
            biased;
            cmd = rx.recv() => match cmd {
                None | Some(MixerCmd::Close) => break,
                Some(MixerCmd::Join { leg_id, role, input, output }) => {
                    parts.retain(|p| p.leg_id != leg_id);
                    parts.push(Participant {
                        leg_id,
                        role,
                        input,
                        output,
                        jb: JitterBuffer::new(JB_DEPTH, JB_MAX),
                    });
                }
                Some(MixerCmd::Leave { leg_id }) => parts.retain(|p| p.leg_id != leg_id),
            },
            _ = ticker.tick() => {
                tick(kind, &mut parts, &stats, ts);
                ts = ts.wrapping_add(FRAME as u32);
            }
        }
        stats.participants.store(parts.len(), Ordering::Relaxed);
    }
    stats.participants.store(0, Ordering::Relaxed);
}

fn tick(kind: MixKind, parts: &mut Vec<Participant>, stats: &StatsInner, ts: u32) {
    stats.ticks.fetch_add(1, Ordering::Relaxed);
    // Drain inputs into the jitter buffers; drop participants whose leg went away.
    parts.retain_mut(|p| loop {
        match p.input.try_recv() {
            Ok(f) => {
                if p.jb.push(f.ts, f.samples) == PushOutcome::Late {
                    stats.late.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("vpbx_mixer_frames_late_total").increment(1);
                }
            }
            Err(TryRecvError::Empty) => break true,
            Err(TryRecvError::Disconnected) => break false,
        }
    });
    let frames: Vec<Option<Vec<i16>>> = parts.iter_mut().map(|p| p.jb.pop()).collect();
    let refs: Vec<Option<&[i16]>> = frames.iter().map(|f| f.as_deref()).collect();
    let roles: Vec<MixRole> = parts.iter().map(|p| p.role).collect();
    let matrix = MixMatrix::for_roles(kind, &roles);
    let outs = mix(&refs, &matrix);
    let mut gone = Vec::new();
    for (p, mut out) in parts.iter().zip(outs) {
        out.resize(FRAME, 0);
        match p.output.try_send(PcmFrame { ts, samples: out }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => crate::link::count_full(),
            Err(mpsc::error::TrySendError::Closed(_)) => gone.push(p.leg_id),
        }
    }
    if !gone.is_empty() {
        parts.retain(|p| !gone.contains(&p.leg_id));
    }
}
