//! The I/O shell: a port pool, and one tokio task per media leg.
//!
//! A leg is opened (port allocated, UDP socket bound) before the SDP answer is
//! built, then started once the remote address and codec are known. The task
//! owns the socket and the outgoing [`RtpSender`]; callers talk to it only
//! through a [`MediaHandle`] (commands) and an event channel ([`MediaEvent`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, MissedTickBehavior};

use crate::dtmf::{self, digit_to_event, DtmfDigit, DtmfSendPlan, TelephoneEventReceiver};
use crate::dtmf_detect::DtmfDetector;
use crate::error::MediaError;
use crate::g711::Codec;
use crate::latch::{Latch, LatchVerdict};
use crate::link::{AudioLink, PcmFrame};
use crate::packetizer::RtpSender;
use crate::playlist::{Frame, PlayOptions, Playlist};
use crate::prompt::{Prompt, PromptCache};
use crate::recorder::{RecordSpec, Recording};
use crate::rtp_stats::{Arrival, RxStats};
use crate::sdp::Direction;
use crate::tones;
use crate::transmit::{self, Lent, Tx};
use crate::voicemail::{VoicemailReason, VoicemailRecording, VoicemailSpec};

/// `vpbx_rtp_packets_dropped_total{reason}`: a packet the socket would not take.
pub const DROPPED_SEND_FAILED: &str = "send_failed";
/// `vpbx_rtp_packets_dropped_total{reason}`: a frame the bridged or mixed peer had no room for
/// (its link holds a second of audio).
pub const DROPPED_LINK_FULL: &str = "link_full";

/// Samples per 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;
/// Packetisation interval.
const FRAME: Duration = Duration::from_millis(20);
/// During the switch's own silence one frame goes out a second (decision D72).
const DTX_KEEPALIVE: Duration = Duration::from_secs(1);

/// `base + d`, saturating to a far-future instant instead of overflowing.
fn deadline(base: Instant, d: Duration) -> Instant {
    base.checked_add(d)
        .or_else(|| base.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(base)
}

/// Media engine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Local address RTP sockets bind to (also what goes into SDP answers).
    pub bind_ip: IpAddr,
    /// Lowest port of the RTP range (inclusive).
    pub port_min: u16,
    /// Highest port of the RTP range (inclusive). RTP uses even ports `p` with `p + 1 <= port_max`.
    pub port_max: u16,
    /// Emit [`MediaEvent::Timeout`] when no RTP arrives for this long. Zero
    /// disables it; [`MediaConfig::DEFAULT_INACTIVITY_TIMEOUT`] (60 s) is the
    /// recommended value.
    pub inactivity_timeout: Duration,
}

impl MediaConfig {
    /// The recommended RTP inactivity timeout: 60 s.
    pub const DEFAULT_INACTIVITY_TIMEOUT: Duration = Duration::from_secs(60);
}

// ---------------------------------------------------------------------------
// Port pool
// ---------------------------------------------------------------------------

/// Even RTP ports in the configured range; RTCP (`port + 1`) is reserved implicitly.
#[derive(Debug)]
struct PortPool {
    base: u32,
    used: Vec<bool>,
    cursor: usize,
    in_use: usize,
}

impl PortPool {
    fn new(min: u16, max: u16) -> Self {
        let min = u32::from(min);
        let max = u32::from(max);
        let base = min + (min % 2);
        let count = if base + 1 > max {
            0
        } else {
            ((max - base - 1) / 2 + 1) as usize
        };
        PortPool {
            base,
            used: vec![false; count],
            cursor: 0,
            in_use: 0,
        }
    }

    /// Take the next free port after the cursor (round robin, so a just-released
    /// port is not reused immediately).
    fn acquire(&mut self) -> Option<u16> {
        let n = self.used.len();
        for step in 0..n {
            let idx = (self.cursor + step) % n;
            if let Some(slot) = self.used.get_mut(idx) {
                if !*slot {
                    *slot = true;
                    self.in_use += 1;
                    self.cursor = (idx + 1) % n;
                    return u16::try_from(self.base + 2 * idx as u32).ok();
                }
            }
        }
        None
    }

    fn release(&mut self, port: u16) {
        let Some(off) = u32::from(port).checked_sub(self.base) else {
            return;
        };
        if let Some(slot) = self.used.get_mut((off / 2) as usize) {
            if *slot {
                *slot = false;
                self.in_use -= 1;
            }
        }
    }
}

type SharedPool = Arc<Mutex<PortPool>>;

fn lock(pool: &SharedPool) -> MutexGuard<'_, PortPool> {
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returns its port to the pool when dropped.
#[derive(Debug)]
struct PortGuard {
    pool: SharedPool,
    port: u16,
}

impl PortGuard {
    fn acquire(pool: &SharedPool) -> Option<PortGuard> {
        let port = lock(pool).acquire()?;
        Some(PortGuard {
            pool: pool.clone(),
            port,
        })
    }
}

impl Drop for PortGuard {
    fn drop(&mut self) {
        lock(&self.pool).release(self.port);
    }
}

// ---------------------------------------------------------------------------
// Engine and legs
// ---------------------------------------------------------------------------

/// Shared media engine: configuration, RTP port pool and prompt cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    cfg: Arc<MediaConfig>,
    pool: SharedPool,
    prompts: PromptCache,
    /// Socket-less legs for tests (see [`crate::detached`]).
    detached: Option<crate::detached::MediaLog>,
}

impl MediaEngine {
    /// Create an engine; the port pool covers the even ports of `cfg`'s range.
    pub fn new(cfg: MediaConfig) -> Self {
        let pool = PortPool::new(cfg.port_min, cfg.port_max);
        MediaEngine {
            cfg: Arc::new(cfg),
            pool: Arc::new(Mutex::new(pool)),
            prompts: PromptCache::new(),
            detached: None,
        }
    }

    /// An engine whose legs open no socket (tests of the layers above): every command its legs
    /// get is written to the returned log, and results come back at once (see
    /// [`crate::detached`]). Legs get made-up local ports from `cfg`'s range.
    pub fn detached(cfg: MediaConfig) -> (Self, crate::detached::MediaLog) {
        let log = crate::detached::MediaLog::default();
        let mut engine = MediaEngine::new(cfg);
        engine.detached = Some(log.clone());
        (engine, log)
    }

    /// The engine's configuration.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    /// The shared prompt cache.
    pub fn prompts(&self) -> &PromptCache {
        &self.prompts
    }

    /// Number of RTP ports currently allocated (open legs, started or not).
    pub fn ports_in_use(&self) -> usize {
        lock(&self.pool).in_use
    }

    /// Allocate a port and bind a UDP socket on `bind_ip`.
    ///
    /// Ports whose bind fails with "address in use" are skipped; any other bind
    /// error is returned as [`MediaError::Io`]. [`MediaError::NoPorts`] when the
    /// pool is exhausted.
    pub async fn open_leg(&self) -> Result<MediaLeg, MediaError> {
        if let Some(log) = &self.detached {
            let guard = PortGuard::acquire(&self.pool).ok_or(MediaError::NoPorts)?;
            return Ok(MediaLeg {
                socket: None,
                local: SocketAddr::new(self.cfg.bind_ip, guard.port),
                guard,
                inactivity_timeout: self.cfg.inactivity_timeout,
                detached: Some(log.clone()),
            });
        }
        let attempts = lock(&self.pool).used.len();
        for _ in 0..attempts {
            let Some(guard) = PortGuard::acquire(&self.pool) else {
                break;
            };
            let addr = SocketAddr::new(self.cfg.bind_ip, guard.port);
            match std::net::UdpSocket::bind(addr) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    let local = socket.local_addr()?;
                    return Ok(MediaLeg {
                        socket: Some(socket),
                        guard,
                        local,
                        inactivity_timeout: self.cfg.inactivity_timeout,
                        detached: None,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tracing::debug!(port = guard.port, "RTP port busy, trying next");
                }
                Err(e) => return Err(MediaError::Io(e)),
            }
        }
        Err(MediaError::NoPorts)
    }
}

static NEXT_LEG: AtomicU64 = AtomicU64::new(1);

/// A bound but not yet started leg. Dropping it releases the port.
#[derive(Debug)]
pub struct MediaLeg {
    /// `None` for a detached leg.
    socket: Option<std::net::UdpSocket>,
    guard: PortGuard,
    local: SocketAddr,
    inactivity_timeout: Duration,
    /// The log of a detached leg.
    detached: Option<crate::detached::MediaLog>,
}

impl MediaLeg {
    /// The local RTP address (put this in the SDP answer).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Start the leg's task (with `tokio::spawn`; must be called inside a tokio
    /// runtime). RTP goes to `remote` (until latching finds the real source)
    /// using `codec`; `telephone_event` is the negotiated RFC 4733 payload type
    /// (`None`: in-band DTMF detection is used instead); events are reported on `events`.
    // The leg's shell: its epoch is the tokio clock the driver loop below runs on.
    #[allow(clippy::disallowed_methods)]
    pub fn start(
        self,
        remote: SocketAddr,
        codec: Codec,
        telephone_event: Option<u8>,
        events: UnboundedSender<MediaEvent>,
    ) -> MediaHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(StatsInner::default());
        let (socket, log) = (self.socket, self.detached);
        let Some(socket) = socket else {
            let port = self.local.port();
            let log = log.unwrap_or_default();
            let guard = self.guard;
            tokio::spawn(async move {
                crate::detached::run(port, log, rx, events).await;
                drop(guard);
            });
            return MediaHandle {
                tx,
                stats,
                local: self.local,
                leg_id: NEXT_LEG.fetch_add(1, Ordering::Relaxed),
            };
        };
        let sender = RtpSender::new(rand::random(), rand::random(), rand::random());
        let task = SessionTask {
            latch: Latch::new(remote),
            telephone_event,
            events: events.clone(),
            stats: stats.clone(),
            tx: Tx {
                sender,
                codec,
                last_sent: None,
                resume_pending: false,
                stats: stats.clone(),
                sent_total: transmit::Batched::new(metrics::counter!(
                    "vpbx_rtp_packets_sent_total"
                )),
                send_failed_total: metrics::counter!(
                    "vpbx_rtp_packets_dropped_total", "reason" => DROPPED_SEND_FAILED
                ),
            },
            lent: false,
            output: Output::Idle,
            in_silence: false,
            dormant: None,
            received_total: transmit::Batched::new(metrics::counter!(
                "vpbx_rtp_packets_received_total"
            )),
            sending: true,
            expect_rx: true,
            inactivity_timeout: self.inactivity_timeout,
            epoch: Instant::now(),
            rx_stats: RxStats::new(),
            reported_lost: 0,
            te_rx: TelephoneEventReceiver::new(),
            last_te: None,
            inband: telephone_event.is_none().then(DtmfDetector::new),
            dtmf_queue: VecDeque::new(),
            dtmf_tx: None,
            link: None,
            link_carry: (Vec::new(), 0),
            recording: None,
            voicemail: None,
            writers: Vec::new(),
        };
        let exit = TaskExit {
            guard: Some(self.guard),
            events,
        };
        tokio::spawn(run(task, socket, rx, exit));
        MediaHandle {
            tx,
            stats,
            local: self.local,
            leg_id: NEXT_LEG.fetch_add(1, Ordering::Relaxed),
        }
    }
}

// ---------------------------------------------------------------------------
// Handle, events, stats
// ---------------------------------------------------------------------------

/// Events a leg reports to its owner.
///
/// Marked `#[non_exhaustive]`: matches need a catch-all arm, so new events do
/// not break callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// The prompt (or sequence) started by `play(id, ..)` / `play_sequence(id, ..)`
    /// has been sent completely.
    PlayDone {
        /// The id passed to [`MediaHandle::play`].
        id: u64,
    },
    /// A barge-in playback was stopped by a DTMF digit (replaces `PlayDone`;
    /// follows the digit's [`MediaEvent::Dtmf`]).
    PlayInterrupted {
        /// The id passed to [`MediaHandle::play_sequence`].
        id: u64,
        /// The digit that interrupted it.
        digit: char,
    },
    /// The echo started by `echo(id, max)` reached its maximum duration.
    EchoDone {
        /// The id passed to [`MediaHandle::echo`].
        id: u64,
    },
    /// A DTMF key press from the peer (RFC 4733, or in-band when telephone-event
    /// was not negotiated), reported once per press when it ends.
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// How long the key was held.
        duration_ms: u32,
    },
    /// A call recording finished (`stop_recording`, a new recording, or the leg closed).
    RecordingDone {
        /// The id passed to [`MediaHandle::start_recording`].
        id: u64,
        /// Recorded length.
        duration_ms: u64,
        /// The files written (stereo first when both were requested).
        paths: Vec<PathBuf>,
    },
    /// A voicemail recording finished; the file is complete.
    VoicemailDone {
        /// The id passed to [`MediaHandle::record_voicemail`].
        id: u64,
        /// Recorded length.
        duration_ms: u64,
        /// Why it ended.
        reason: VoicemailReason,
    },
    /// A recording or voicemail could not be written (the file may be partial or missing).
    RecordingFailed {
        /// The recording's id.
        id: u64,
        /// What went wrong.
        error: String,
    },
    /// No RTP was received for `inactivity_timeout` (reported once per silence period).
    Timeout,
    /// The task ended and its port is back in the pool. Always the last event.
    Closed,
}

/// Counters of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Valid RTP packets received (garbage is not counted).
    pub packets_received: u64,
    /// Bytes sent (whole RTP packets, header included).
    pub bytes_sent: u64,
    /// Bytes received in valid RTP packets (header included).
    pub bytes_received: u64,
    /// Whether the leg's task has started running.
    pub started: bool,
    /// Packets lost, from sequence-number gaps (RFC 3550 A.3).
    pub packets_lost: u64,
    /// Packets that arrived late, out of order or duplicated.
    pub packets_late: u64,
    /// Interarrival jitter (RFC 3550 A.8) in microseconds.
    pub jitter_us: u64,
}

impl SessionStats {
    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_us as f64 / 1000.0
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatsInner {
    pub(crate) packets_sent: AtomicU64,
    packets_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    started: AtomicBool,
    packets_lost: AtomicU64,
    packets_late: AtomicU64,
    jitter_us: AtomicU64,
}

#[derive(Debug)]
pub(crate) enum Command {
    Play {
        id: u64,
        items: Vec<Arc<Prompt>>,
        opts: PlayOptions,
    },
    Echo {
        id: u64,
        max: Duration,
    },
    StopOutput,
    SetRemote(SocketAddr),
    SetDirection(Direction),
    SendDtmf {
        digit: char,
        duration_ms: u32,
    },
    Connect(Box<AudioLink>),
    Disconnect {
        link_id: u64,
    },
    StartRecording {
        id: u64,
        spec: Box<RecordSpec>,
    },
    StopRecording {
        id: u64,
    },
    RecordVoicemail {
        id: u64,
        path: Box<std::path::Path>,
        spec: VoicemailSpec,
    },
    Close,
}

/// Control handle of a started leg. Clones share the same task; the task ends
/// on [`close`](MediaHandle::close) or when every clone has been dropped.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    tx: UnboundedSender<Command>,
    stats: Arc<StatsInner>,
    local: SocketAddr,
    leg_id: u64,
}

impl MediaHandle {
    pub(crate) fn command(&self, cmd: Command) {
        // The task may already have ended; commands to a closed leg are no-ops.
        let _ = self.tx.send(cmd);
    }

    /// A process-unique id of this leg (shared by its clones).
    pub fn leg_id(&self) -> u64 {
        self.leg_id
    }

    /// True once the leg's task has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Play a prompt (replacing any current output). `PlayDone { id }` follows the last frame.
    pub fn play(&self, id: u64, prompt: Arc<Prompt>) {
        self.play_sequence(id, vec![prompt], PlayOptions::default());
    }

    /// Play prompts in order, contiguously (replacing any current output).
    /// `PlayDone { id }` follows the last frame unless `opts.looped` (then it
    /// plays until replaced or stopped); with `opts.barge_in` a received DTMF
    /// digit stops it with `PlayInterrupted { id, digit }` instead.
    pub fn play_sequence(&self, id: u64, prompts: Vec<Arc<Prompt>>, opts: PlayOptions) {
        self.command(Command::Play {
            id,
            items: prompts,
            opts,
        });
    }

    /// Echo received audio back to the peer for at most `max` (replacing any
    /// current output). `EchoDone { id }` is sent when `max` elapses.
    pub fn echo(&self, id: u64, max: Duration) {
        self.command(Command::Echo { id, max });
    }

    /// Stop playing/echoing. The cancelled output sends no Done event. A bridge
    /// or mixer link (if any) resumes.
    pub fn stop_output(&self) {
        self.command(Command::StopOutput);
    }

    /// Send a DTMF digit: RFC 4733 packets on the negotiated telephone-event
    /// payload type (start with marker, an update every 20 ms, three end
    /// packets, one RTP timestamp), or the dual tone in-band when none was
    /// negotiated. Digits queue up; audio output pauses while a digit is sent.
    /// Non-DTMF characters are ignored.
    pub fn send_dtmf(&self, digit: char, duration_ms: u32) {
        self.command(Command::SendDtmf { digit, duration_ms });
    }

    /// Change where RTP is sent (e.g. after a re-INVITE); resets RTP latching.
    pub fn set_remote(&self, remote: SocketAddr) {
        self.command(Command::SetRemote(remote));
    }

    /// Our media direction toward the peer, from the last offer/answer (RFC 3264 §6.1): with
    /// `recvonly`/`inactive` (the peer holds with `sendonly`/`inactive`) nothing is sent to it —
    /// prompts, bridged audio and digits are dropped, not queued — and with `sendonly`/`inactive`
    /// no RTP is expected, so the inactivity timeout is suspended. `sendrecv` (the default)
    /// restores both; sending resumes as a new talkspurt (timestamp jump, marker).
    pub fn set_direction(&self, direction: Direction) {
        self.command(Command::SetDirection(direction));
    }

    /// Record this leg: received audio (left) and sent audio (right), see
    /// [`RecordSpec`]. Replaces (finishes) a running recording.
    /// `RecordingDone { id, .. }` follows [`stop_recording`](Self::stop_recording)
    /// or the leg closing.
    pub fn start_recording(&self, id: u64, spec: RecordSpec) {
        self.command(Command::StartRecording {
            id,
            spec: Box::new(spec),
        });
    }

    /// Stop the recording or voicemail recording with this id.
    pub fn stop_recording(&self, id: u64) {
        self.command(Command::StopRecording { id });
    }

    /// Record the received audio to a mono WAV at `path` until `spec.max_ms`,
    /// silence after speech, `stop_recording(id)` or the leg closing;
    /// `VoicemailDone { id, duration_ms, reason }` follows once the file is complete.
    pub fn record_voicemail(&self, id: u64, path: PathBuf, spec: VoicemailSpec) {
        self.command(Command::RecordVoicemail {
            id,
            path: path.into_boxed_path(),
            spec,
        });
    }

    /// End the task and release the port; `Closed` follows.
    pub fn close(&self) {
        self.command(Command::Close);
    }

    /// The local RTP address of this leg.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Current counters.
    pub fn stats(&self) -> SessionStats {
        let s = &self.stats;
        SessionStats {
            packets_sent: s.packets_sent.load(Ordering::Relaxed),
            packets_received: s.packets_received.load(Ordering::Relaxed),
            bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
            bytes_received: s.bytes_received.load(Ordering::Relaxed),
            started: s.started.load(Ordering::Relaxed),
            packets_lost: s.packets_lost.load(Ordering::Relaxed),
            packets_late: s.packets_late.load(Ordering::Relaxed),
            jitter_us: s.jitter_us.load(Ordering::Relaxed),
        }
    }
}

// ---------------------------------------------------------------------------
// The task
// ---------------------------------------------------------------------------

#[derive(Debug)]
enum Output {
    Idle,
    Play {
        id: u64,
        playlist: Playlist,
        barge_in: bool,
    },
    Echo {
        id: u64,
        until: Instant,
    },
}

/// A digit being sent.
#[derive(Debug)]
enum DtmfTx {
    Rfc4733 {
        pt: u8,
        plan: DtmfSendPlan,
        ts: u32,
    },
    Inband {
        samples: Vec<i16>,
        pos: usize,
    },
    /// Inter-digit pause (ticks left).
    Pause(u32),
}

/// Ticks of pause between queued digits.
const INTER_DIGIT_TICKS: u32 = 3;
/// An unterminated received telephone-event is reported after this long without packets.
const TE_FLUSH_AFTER: Duration = Duration::from_secs(1);
/// Most digits queued for sending.
const MAX_DTMF_QUEUE: usize = 64;
/// How long a closing leg waits for its recordings to be finalized.
const WRITER_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs on task exit (normal, runtime shutdown or panic): the socket is already
/// gone, so release the port, update the gauge and report `Closed`.
struct TaskExit {
    guard: Option<PortGuard>,
    events: UnboundedSender<MediaEvent>,
}

impl Drop for TaskExit {
    fn drop(&mut self) {
        drop(self.guard.take());
        let _ = self.events.send(MediaEvent::Closed);
    }
}

/// Decrements the active-sessions gauge when dropped.
struct ActiveGauge;

impl ActiveGauge {
    fn new() -> Self {
        metrics::gauge!("vpbx_media_sessions_active").increment(1.0);
        ActiveGauge
    }
}

impl Drop for ActiveGauge {
    fn drop(&mut self) {
        metrics::gauge!("vpbx_media_sessions_active").decrement(1.0);
    }
}

/// A run of the switch's own silence that is not sent (DTX) waited out with one timer instead
/// of a tick every 20 ms: from the tick at `since`, the next `frames` frames are due to be left
/// out. They are taken from the playlist when the ticker fires again, or as many as have come
/// due when a command arrives first, so a pause lasts what it says whatever happens in it.
#[derive(Debug, Clone, Copy)]
struct Dormant {
    since: Instant,
    frames: usize,
}

struct SessionTask {
    latch: Latch,
    telephone_event: Option<u8>,
    events: UnboundedSender<MediaEvent>,
    stats: Arc<StatsInner>,
    /// The outgoing stream (lent to the bridge while `lent`).
    tx: Tx,
    /// `tx` is lent to the bridge (the link's `own` slot holds the live copy).
    lent: bool,
    output: Output,
    /// The last frame played was the switch's own silence (see `dtx_skips`).
    in_silence: bool,
    /// Frames of our own silence being waited out without a tick each (see `on_tick`).
    dormant: Option<Dormant>,
    /// The process-wide count of packets received, added to in batches.
    received_total: transmit::Batched,
    /// RTP may be sent to the peer (our direction is sendrecv or sendonly).
    sending: bool,
    /// RTP is expected from the peer (our direction is sendrecv or recvonly).
    expect_rx: bool,
    inactivity_timeout: Duration,
    /// Origin of the arrival clock used for jitter.
    epoch: Instant,
    rx_stats: RxStats,
    reported_lost: u64,
    te_rx: TelephoneEventReceiver,
    last_te: Option<Instant>,
    inband: Option<DtmfDetector>,
    dtmf_queue: VecDeque<(char, u32)>,
    dtmf_tx: Option<DtmfTx>,
    link: Option<AudioLink>,
    /// Received audio not yet forwarded to the link: peers with a ptime other than 20 ms send
    /// packets that are cut into 20 ms link frames here (the remainder waits for the next
    /// packet), with the RTP timestamp of its first sample.
    link_carry: (Vec<i16>, u32),
    recording: Option<Recording>,
    voicemail: Option<VoicemailRecording>,
    /// Writers being finalized; awaited before `Closed`.
    writers: Vec<tokio::task::JoinHandle<()>>,
}

/// Receive the next frame of the link, if any (pending forever without one).
async fn link_recv(link: &mut Option<AudioLink>) -> Option<PcmFrame> {
    match link {
        Some(l) => l.from_peer.recv().await,
        None => std::future::pending().await,
    }
}

// The I/O shell around `SessionTask`: it reads the tokio clock once per input and hands `now`
// to the task, which never reads a clock itself.
#[allow(clippy::disallowed_methods)]
async fn run(
    mut task: SessionTask,
    std_socket: std::net::UdpSocket,
    mut rx: UnboundedReceiver<Command>,
    exit: TaskExit,
) {
    // Locals drop before parameters, so on every exit path (even unwinding) the
    // socket closes before `exit` releases the port and reports `Closed`.
    let gauge = ActiveGauge::new();
    let socket = match UdpSocket::from_std(std_socket) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot register RTP socket with the runtime");
            return;
        }
    };
    task.stats.started.store(true, Ordering::Relaxed);

    let mut ticker = tokio::time::interval(FRAME);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let timeout_configured = !task.inactivity_timeout.is_zero();
    let mut last_rx = Instant::now();
    let mut timed_out = false;
    let inactivity = tokio::time::sleep_until(deadline(last_rx, task.inactivity_timeout));
    tokio::pin!(inactivity);

    loop {
        let ticking = task.needs_tick();
        let echo_until = match task.output {
            Output::Echo { until, .. } => Some(until),
            _ => None,
        };
        // While the stream is lent the peer sends our frames itself and queues none (the
        // channel was emptied when it was lent): the link is not polled.
        let linked = task.link.is_some() && !task.lent;
        // A peer that holds with `sendonly`/`inactive` toward us sends nothing: no timeout then.
        let timeout_enabled = timeout_configured && task.expect_rx;
        // Biased: commands first, then the (rarely ready) timers, then link
        // frames and the socket last, so a flood of inbound datagrams cannot
        // starve pacing or control.
        tokio::select! {
            biased;
            cmd = rx.recv() => match cmd {
                None | Some(Command::Close) => break,
                Some(cmd) => {
                    task.take_back();
                    let now = Instant::now();
                    if let Some(resume) = task.wake(now) {
                        ticker.reset_at(resume);
                    }
                    let expected = task.expect_rx;
                    task.command(cmd, &mut ticker, now);
                    if task.expect_rx && !expected {
                        // Media resumes: the silence of the hold does not count.
                        last_rx = now;
                        timed_out = false;
                        inactivity.as_mut().reset(deadline(now, task.inactivity_timeout));
                    }
                }
            },
            _ = ticker.tick(), if ticking => {
                task.take_back();
                let now = Instant::now();
                // The ticker fired when the run ended: its next tick is already one frame on.
                let _ = task.wake(now);
                if let Some(next) = task.on_tick(&socket, now) {
                    ticker.reset_at(next);
                }
            }
            _ = tokio::time::sleep_until(echo_until.unwrap_or_else(Instant::now)), if echo_until.is_some() => {
                task.finish_echo();
            }
            _ = &mut inactivity, if timeout_enabled && !timed_out => {
                let due = deadline(last_rx, task.inactivity_timeout);
                if Instant::now() >= due {
                    timed_out = true;
                    let _ = task.events.send(MediaEvent::Timeout);
                } else {
                    inactivity.as_mut().reset(due);
                }
            }
            frame = link_recv(&mut task.link), if linked => match frame {
                Some(f) => {
                    // A frame sent before the stream was lent, or while it was not.
                    task.take_back();
                    task.on_link_frame(f, &socket, Instant::now());
                }
                None => task.unlink(),
            },
            res = crate::rx::recv_batch(&socket) => match res {
                Ok(batch) => {
                    let now = Instant::now();
                    let mut heard = false;
                    let target = task.latch.target();
                    crate::rx::with_datagrams(&batch, |data, from| {
                        heard |= task.on_datagram(data, from, &socket, now);
                    });
                    if task.latch.target() != target {
                        // The peer moved: the lent stream's address is out of date.
                        task.take_back();
                    }
                    if heard {
                        last_rx = now;
                        if timed_out {
                            timed_out = false;
                            inactivity.as_mut().reset(deadline(now, task.inactivity_timeout));
                        }
                    }
                }
                Err(e) => match e.kind() {
                    std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock => {}
                    _ => {
                        tracing::warn!(error = %e, "RTP receive error");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            },
        }
        if !task.lent && task.may_lend() {
            task.lend_if_relaying(&socket, Instant::now());
        }
    }
    // The bridge gives the socket back before it closes.
    task.unlink();
    task.tx.sent_total.flush();
    task.received_total.flush();
    drop(socket);
    // A hang-up ends recordings; wait (bounded) for the files so that their
    // Done events precede `Closed`.
    task.finish_recording(None);
    task.finish_voicemail(None, VoicemailReason::Stopped);
    let writers = std::mem::take(&mut task.writers);
    let _ = tokio::time::timeout(WRITER_FLUSH_TIMEOUT, async {
        for w in writers {
            let _ = w.await;
        }
    })
    .await;
    metrics::histogram!("vpbx_rtp_jitter_ms").record(task.rx_stats.jitter_ms());
    drop(gauge);
    drop(exit);
}

impl SessionTask {
    fn needs_tick(&self) -> bool {
        matches!(self.output, Output::Play { .. })
            || self.dtmf_tx.is_some()
            || self.recording.is_some()
            || self.voicemail.is_some()
    }

    fn command(&mut self, cmd: Command, ticker: &mut tokio::time::Interval, now: Instant) {
        match cmd {
            Command::Play { id, items, opts } => {
                let playlist = Playlist::new(items, opts.looped);
                if playlist.is_finished() {
                    self.set_idle();
                    let _ = self.events.send(MediaEvent::PlayDone { id });
                    return;
                }
                let was_ticking = self.needs_tick();
                if !matches!(self.output, Output::Play { .. }) {
                    self.tx.resume_pending = true;
                }
                if !was_ticking {
                    // First frame now, but never closer than one frame after the last packet.
                    let next = match self.tx.last_sent {
                        Some((at, _)) if now < at + FRAME => at + FRAME,
                        _ => now,
                    };
                    ticker.reset_at(next);
                }
                self.output = Output::Play {
                    id,
                    playlist,
                    barge_in: opts.barge_in,
                };
            }
            Command::Echo { id, max } => {
                if max.is_zero() {
                    self.set_idle();
                    let _ = self.events.send(MediaEvent::EchoDone { id });
                    return;
                }
                if matches!(self.output, Output::Idle) {
                    self.tx.resume_pending = true;
                }
                self.output = Output::Echo {
                    id,
                    until: deadline(now, max),
                };
            }
            Command::StopOutput => self.set_idle(),
            Command::SetRemote(remote) => self.latch.reset(remote),
            Command::SetDirection(d) => {
                let sending = matches!(d, Direction::SendRecv | Direction::SendOnly);
                if sending && !self.sending {
                    // The first packet after the hold starts a new talkspurt.
                    self.tx.resume_pending = true;
                }
                self.sending = sending;
                self.expect_rx = matches!(d, Direction::SendRecv | Direction::RecvOnly);
            }
            Command::SendDtmf { digit, duration_ms } => {
                if digit_to_event(digit).is_none() || self.dtmf_queue.len() >= MAX_DTMF_QUEUE {
                    return;
                }
                let was_ticking = self.needs_tick();
                self.dtmf_queue.push_back((digit, duration_ms));
                if self.dtmf_tx.is_none() {
                    self.start_next_digit(now);
                    if !was_ticking {
                        ticker.reset_at(now);
                    }
                }
            }
            Command::Connect(link) => {
                if matches!(self.output, Output::Idle) {
                    self.tx.resume_pending = true;
                }
                self.link = Some(*link);
                self.link_carry.0.clear();
            }
            Command::Disconnect { link_id } => {
                if self.link.as_ref().is_some_and(|l| l.id == link_id) {
                    self.link = None;
                }
            }
            Command::StartRecording { id, spec } => {
                let was_ticking = self.needs_tick();
                self.finish_recording(None);
                self.recording = Some(Recording::start(id, *spec));
                if !was_ticking {
                    ticker.reset_at(now + FRAME);
                }
            }
            Command::StopRecording { id } => {
                self.finish_recording(Some(id));
                self.finish_voicemail(Some(id), VoicemailReason::Stopped);
            }
            Command::RecordVoicemail { id, path, spec } => {
                let was_ticking = self.needs_tick();
                self.finish_voicemail(None, VoicemailReason::Stopped);
                self.voicemail = Some(VoicemailRecording::start(id, path.into_path_buf(), spec));
                if !was_ticking {
                    ticker.reset_at(now + FRAME);
                }
            }
            Command::Close => {}
        }
    }

    fn set_idle(&mut self) {
        self.output = Output::Idle;
        // A link resumes after a prompt/echo: check for a timestamp gap then.
        self.tx.resume_pending = self.link.is_some();
    }

    /// Finish the running recording (only if its id matches, when given).
    fn finish_recording(&mut self, only: Option<u64>) {
        if only.is_some_and(|id| self.recording.as_ref().is_some_and(|r| r.id != id)) {
            return;
        }
        let Some(rec) = self.recording.take() else {
            return;
        };
        let id = rec.id;
        let events = self.events.clone();
        let join = rec.finish(Box::new(move |res| {
            let ev = match res {
                Ok(s) => MediaEvent::RecordingDone {
                    id,
                    duration_ms: s.duration_ms,
                    paths: s.paths,
                },
                Err(error) => MediaEvent::RecordingFailed { id, error },
            };
            let _ = events.send(ev);
        }));
        self.push_writer(join);
    }

    /// Finish the running voicemail recording (only if its id matches, when given).
    fn finish_voicemail(&mut self, only: Option<u64>, reason: VoicemailReason) {
        if only.is_some_and(|id| self.voicemail.as_ref().is_some_and(|r| r.id != id)) {
            return;
        }
        let Some(vm) = self.voicemail.take() else {
            return;
        };
        let id = vm.id;
        let events = self.events.clone();
        let join = vm.finish(Box::new(move |res| {
            let ev = match res {
                Ok(s) => MediaEvent::VoicemailDone {
                    id,
                    duration_ms: s.duration_ms,
                    reason,
                },
                Err(error) => MediaEvent::RecordingFailed { id, error },
            };
            let _ = events.send(ev);
        }));
        self.push_writer(join);
    }

    fn push_writer(&mut self, join: tokio::task::JoinHandle<()>) {
        self.writers.retain(|w| !w.is_finished());
        self.writers.push(join);
    }

    fn start_next_digit(&mut self, now: Instant) {
        let Some((digit, duration_ms)) = self.dtmf_queue.pop_front() else {
            self.dtmf_tx = None;
            return;
        };
        self.dtmf_tx = match self.telephone_event {
            Some(pt) => DtmfSendPlan::new(digit, duration_ms).map(|plan| {
                self.tx.sync_ts(now);
                DtmfTx::Rfc4733 {
                    pt,
                    plan,
                    ts: self.tx.sender.ts(),
                }
            }),
            None => tones::dtmf_tone(digit, duration_ms.clamp(40, dtmf::MAX_SEND_MS)).map(|p| {
                DtmfTx::Inband {
                    samples: p.samples().to_vec(),
                    pos: 0,
                }
            }),
        };
        if self.dtmf_tx.is_none() {
            self.start_next_digit(now);
        }
    }

    /// Send one tick of the current digit.
    fn dtmf_tick(&mut self, socket: &UdpSocket, now: Instant) {
        let Some(tx) = self.dtmf_tx.as_mut() else {
            return;
        };
        match tx {
            DtmfTx::Rfc4733 { pt, plan, ts } => {
                let (pt, ts) = (*pt, *ts);
                if let Some(p) = plan.next() {
                    let pkt = self.tx.sender.next_packet_at(pt, &p.payload, ts, p.marker);
                    self.transmit_on(&pkt, socket);
                    self.tx.last_sent = Some((now, 0));
                    return;
                }
                // The event occupied `packets × 20 ms` of the timeline.
                let span = plan.packets_sent() as u32 * FRAME_SAMPLES as u32;
                let elapsed = self.tx.sender.ts().wrapping_sub(ts);
                self.tx.sender.skip(span.saturating_sub(elapsed));
                self.dtmf_tx = Some(DtmfTx::Pause(INTER_DIGIT_TICKS));
            }
            DtmfTx::Inband { samples, pos } => {
                if *pos < samples.len() {
                    let end = (*pos + FRAME_SAMPLES).min(samples.len());
                    let mut frame = samples.get(*pos..end).unwrap_or_default().to_vec();
                    *pos = end;
                    frame.resize(FRAME_SAMPLES, 0);
                    self.send_pcm(&frame, socket, now);
                    return;
                }
                self.dtmf_tx = Some(DtmfTx::Pause(INTER_DIGIT_TICKS));
            }
            DtmfTx::Pause(n) => {
                if *n > 0 {
                    *n -= 1;
                    return;
                }
                self.start_next_digit(now);
                if self.dtmf_tx.is_some() {
                    self.dtmf_tick(socket, now);
                }
            }
        }
    }

    fn emit_dtmf(&mut self, d: DtmfDigit) {
        let _ = self.events.send(MediaEvent::Dtmf {
            digit: d.digit,
            duration_ms: d.duration_ms,
        });
        if let Output::Play {
            id, barge_in: true, ..
        } = self.output
        {
            self.set_idle();
            let _ = self
                .events
                .send(MediaEvent::PlayInterrupted { id, digit: d.digit });
        }
    }

    /// Handle one datagram; returns true when it was valid RTP from the peer.
    fn on_datagram(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        socket: &UdpSocket,
        now: Instant,
    ) -> bool {
        let reader = match rtp_rs::RtpReader::new(data) {
            Ok(r) => r,
            Err(_) => {
                metrics::counter!("vpbx_rtp_packets_invalid_total").increment(1);
                return false;
            }
        };
        self.stats.packets_received.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_received
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.received_total.add_one();
        if self.latch.on_packet(from) == LatchVerdict::Ignore {
            return false;
        }

        let pt = reader.payload_type();
        let payload = reader.payload();
        let is_te = Some(pt) == self.telephone_event;
        self.account_rx(&reader, is_te, now);

        if is_te {
            self.last_te = Some(now);
            for d in self.te_rx.on_packet(reader.timestamp(), payload) {
                self.emit_dtmf(d);
            }
            return true;
        }
        if self
            .last_te
            .is_some_and(|at| now.saturating_duration_since(at) > TE_FLUSH_AFTER)
        {
            self.last_te = None;
            if let Some(d) = self.te_rx.flush() {
                self.emit_dtmf(d);
            }
        }
        if payload.is_empty() {
            return true;
        }
        let Some(their_codec) = Codec::from_static_payload_type(pt) else {
            // Comfort noise or an unknown payload: nothing to do.
            return true;
        };
        let pcm = their_codec.decode(payload);

        if matches!(self.output, Output::Echo { .. }) && self.dtmf_tx.is_none() {
            let out = if their_codec == self.tx.codec {
                payload.to_vec()
            } else {
                self.tx.codec.encode(&pcm)
            };
            if let Some(rec) = self.recording.as_mut() {
                rec.push_tx(&pcm);
            }
            self.send_payload(&out, socket, now);
        }
        if let Some(link) = self.link.as_ref() {
            let (carry, carry_ts) = &mut self.link_carry;
            if carry.is_empty() {
                *carry_ts = reader.timestamp();
            }
            carry.extend_from_slice(&pcm);
            let mut closed = false;
            let mut used = 0;
            // The peer's stream, when it is lent: the frame goes out of the peer's socket now.
            let mut direct = link.peer.as_ref().map(transmit::lock);
            while carry.len() - used >= FRAME_SAMPLES {
                let samples = &carry[used..used + FRAME_SAMPLES];
                let frame_ts = *carry_ts;
                used += FRAME_SAMPLES;
                *carry_ts = carry_ts.wrapping_add(FRAME_SAMPLES as u32);
                if let Some(lent) = direct.as_mut().and_then(|g| g.as_mut()) {
                    lent.send_pcm(samples, now);
                    continue;
                }
                let frame = PcmFrame {
                    ts: frame_ts,
                    samples: samples.to_vec(),
                };
                match link.to_peer.try_send(frame) {
                    Ok(()) => {}
                    // The other side is a second of audio behind: this frame is lost.
                    Err(mpsc::error::TrySendError::Full(_)) => crate::link::count_full(),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        closed = true;
                        break;
                    }
                }
            }
            drop(direct);
            carry.drain(..used);
            if closed {
                carry.clear();
                self.unlink();
            }
        }
        if let Some(rec) = self.recording.as_mut() {
            rec.push_rx(&pcm);
        }
        if let Some(vm) = self.voicemail.as_mut() {
            vm.push_rx(&pcm);
        }
        if let Some(det) = self.inband.as_mut() {
            for d in det.push(&pcm) {
                self.emit_dtmf(d);
            }
        }
        true
    }

    /// Sequence/loss/jitter accounting for an accepted packet.
    fn account_rx(&mut self, reader: &rtp_rs::RtpReader<'_>, is_te: bool, now: Instant) {
        let arrival_us = now.saturating_duration_since(self.epoch).as_micros();
        let arrival = (arrival_us * 8 / 1000) as u32;
        let kind = self.rx_stats.on_packet(
            reader.ssrc(),
            u16::from(reader.sequence_number()),
            reader.timestamp(),
            arrival,
            !is_te,
        );
        if kind == Arrival::Late {
            self.stats.packets_late.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("vpbx_rtp_packets_late_total").increment(1);
        }
        let lost = self.rx_stats.lost();
        if lost > self.reported_lost {
            metrics::counter!("vpbx_rtp_packets_lost_total").increment(lost - self.reported_lost);
            self.reported_lost = lost;
        }
        self.stats.packets_lost.store(lost, Ordering::Relaxed);
        let jitter_us = (self.rx_stats.jitter_ms() * 1000.0) as u64;
        self.stats.jitter_us.store(jitter_us, Ordering::Relaxed);
    }

    fn on_link_frame(&mut self, frame: PcmFrame, socket: &UdpSocket, now: Instant) {
        if matches!(self.output, Output::Idle) && self.dtmf_tx.is_none() {
            self.send_pcm(&frame.samples, socket, now);
        }
    }

    /// Ends a dormant run of silence (see [`Dormant`]): the frames that have come due by `now`
    /// are left out of the playlist; returns when the next frame is due, for the ticker to
    /// resume then (a command came before the run's end).
    fn wake(&mut self, now: Instant) -> Option<Instant> {
        let d = self.dormant.take()?;
        let due = (now.saturating_duration_since(d.since).as_nanos() / FRAME.as_nanos()) as usize;
        let frames = due.min(d.frames);
        if let Output::Play { playlist, .. } = &mut self.output {
            playlist.skip_silent_frames(frames, FRAME_SAMPLES);
        }
        Some(d.since + FRAME * (frames as u32 + 1))
    }

    /// Plays one frame; returns when the next tick is due if that is not one frame from now:
    /// after a frame of silence left out (DTX), the rest of that silence up to the next
    /// keep-alive is waited out with one timer (`Dormant`), unless a recording or voicemail
    /// needs every frame.
    fn on_tick(&mut self, socket: &UdpSocket, now: Instant) -> Option<Instant> {
        let mut next = None;
        if self.dtmf_tx.is_some() {
            self.dtmf_tick(socket, now);
        } else if let Output::Play {
            id, playlist: pl, ..
        } = &mut self.output
        {
            let id = *id;
            let frame = pl.next_frame(FRAME_SAMPLES);
            let ahead = pl.silent_frames_ahead(FRAME_SAMPLES);
            match frame {
                Some(Frame {
                    pcm, last, silence, ..
                }) => {
                    if silence && self.dtx_skips(now) {
                        self.skip_pcm(&pcm);
                        let every_frame = self.recording.is_some() || self.voicemail.is_some();
                        let until_keepalive = self.tx.last_sent.map_or(0, |(at, _)| {
                            let left = (at + DTX_KEEPALIVE).saturating_duration_since(now);
                            ((left.as_nanos() / FRAME.as_nanos()) as usize).saturating_sub(1)
                        });
                        let frames = ahead.min(until_keepalive);
                        if !every_frame && !last && frames > 0 {
                            self.dormant = Some(Dormant { since: now, frames });
                            next = Some(now + FRAME * (frames as u32 + 1));
                        }
                    } else {
                        self.in_silence = silence;
                        self.send_pcm(&pcm, socket, now);
                    }
                    if last {
                        self.set_idle();
                        let _ = self.events.send(MediaEvent::PlayDone { id });
                    }
                }
                None => {
                    self.set_idle();
                    let _ = self.events.send(MediaEvent::PlayDone { id });
                }
            }
        }
        if let Some(rec) = self.recording.as_mut() {
            rec.on_tick();
        }
        let vm_done = self.voicemail.as_mut().and_then(|vm| vm.on_tick());
        if let Some(reason) = vm_done {
            self.finish_voicemail(None, reason);
        }
        next
    }

    fn finish_echo(&mut self) {
        if let Output::Echo { id, .. } = self.output {
            self.set_idle();
            let _ = self.events.send(MediaEvent::EchoDone { id });
        }
    }

    /// Whether a frame of the switch's own silence is left out (discontinuous transmission,
    /// RFC 3551 §4.1, decision D72): the first frame of a silence goes out (the far end learns
    /// our address and that the call is up), then one frame a second (NAT bindings and RTP
    /// inactivity timers stay alive); the frames between are not sent. The timestamp still
    /// advances, and the next packet sent starts a talkspurt (marker bit).
    fn dtx_skips(&self, now: Instant) -> bool {
        self.in_silence
            && self
                .tx
                .last_sent
                .is_some_and(|(at, _)| now.saturating_duration_since(at) < DTX_KEEPALIVE)
    }

    /// A frame of our own audio that is not sent: recorded; the next packet sent carries the
    /// timestamp of its time and starts a talkspurt (`sync_ts`).
    fn skip_pcm(&mut self, pcm: &[i16]) {
        if let Some(rec) = self.recording.as_mut() {
            rec.push_tx(pcm);
        }
        self.tx.resume_pending = true;
    }

    /// Encode and send one frame of our own audio (recorded as the leg's output).
    fn send_pcm(&mut self, pcm: &[i16], socket: &UdpSocket, now: Instant) {
        if !self.sending {
            return;
        }
        if let Some(rec) = self.recording.as_mut() {
            rec.push_tx(pcm);
        }
        let payload = self.tx.codec.encode(pcm);
        self.send_payload(&payload, socket, now);
    }

    /// Packetise and send one payload, starting a new talkspurt after a gap.
    fn send_payload(&mut self, payload: &[u8], socket: &UdpSocket, now: Instant) {
        if !self.sending {
            return;
        }
        let check_gap = !matches!(self.output, Output::Play { .. });
        let remote = self.latch.target();
        self.tx
            .send_payload(payload, socket, remote, now, check_gap);
    }

    fn transmit_on(&mut self, pkt: &[u8], socket: &UdpSocket) {
        if !self.sending {
            return;
        }
        self.tx.transmit(pkt, socket, self.latch.target());
    }

    /// Whether the leg only relays its bridge, so the other leg may send for it (see
    /// [`crate::transmit`]).
    fn may_lend(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.own.is_some())
            && matches!(self.output, Output::Idle)
            && self.dtmf_tx.is_none()
            && self.recording.is_none()
            && self.voicemail.is_none()
            && self.dormant.is_none()
            && self.sending
    }

    /// Lends the stream to the bridge when the leg only relays and has not lent it yet. The
    /// frames the peer queued before are sent first, under the slot's lock: the peer queues
    /// only while holding that lock and finding the slot empty, so once the stream is lent
    /// nothing is left in the channel and the link need not be polled.
    fn lend_if_relaying(&mut self, socket: &Arc<UdpSocket>, now: Instant) {
        if self.lent || !self.may_lend() {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Some(own) = link.own.clone() else {
            return;
        };
        let mut slot = transmit::lock(&own);
        let mut lent = Lent {
            tx: self.tx.clone(),
            socket: socket.clone(),
            remote: self.latch.target(),
        };
        while let Ok(frame) = link.from_peer.try_recv() {
            lent.send_pcm(&frame.samples, now);
        }
        *slot = Some(lent);
        self.lent = true;
    }

    /// Takes the stream back from the bridge before the leg sends or changes it itself.
    fn take_back(&mut self) {
        if !self.lent {
            return;
        }
        self.lent = false;
        if let Some(own) = self.link.as_ref().and_then(|l| l.own.as_ref()) {
            transmit::take_back(own, &mut self.tx);
        }
    }

    /// Leaves the bridge (the stream taken back first).
    fn unlink(&mut self) {
        self.take_back();
        self.link = None;
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests time what the legs send and bound their waits
mod tests {
    use super::*;
    use rtp_rs::RtpReader;
    use std::net::Ipv4Addr;
    use tokio::time::timeout;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn engine(port_min: u16, port_max: u16, inactivity: Duration) -> MediaEngine {
        MediaEngine::new(MediaConfig {
            bind_ip: LOCALHOST,
            port_min,
            port_max,
            inactivity_timeout: inactivity,
        })
    }

    async fn next_event(rx: &mut UnboundedReceiver<MediaEvent>) -> MediaEvent {
        timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("event timeout")
            .expect("event channel closed")
    }

    /// Wait until `f` holds, polling every 10 ms for up to 3 s.
    async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        for _ in 0..300 {
            if f() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        f()
    }

    async fn recv_rtp(sock: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = timeout(Duration::from_secs(3), sock.recv_from(&mut buf))
            .await
            .expect("rtp timeout")
            .unwrap();
        buf.truncate(n);
        buf
    }

    fn tone(ms: u32) -> Arc<Prompt> {
        let n = ms as usize * 8;
        let samples = (0..n)
            .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI / 8.0).sin() * 8000.0) as i16)
            .collect();
        Arc::new(Prompt::from_samples_8k(samples))
    }

    #[test]
    fn port_pool_layout() {
        let mut p = PortPool::new(10001, 10008);
        // Even ports with room for RTCP: 10002, 10004, 10006 (10008 + 1 is out of range).
        assert_eq!(p.used.len(), 3);
        assert_eq!(p.acquire(), Some(10002));
        assert_eq!(p.acquire(), Some(10004));
        p.release(10002);
        // Round robin: the just-released port is not handed out first.
        assert_eq!(p.acquire(), Some(10006));
        assert_eq!(p.acquire(), Some(10002));
        assert_eq!(p.acquire(), None);
        assert_eq!(p.in_use, 3);
        p.release(10002);
        p.release(10002);
        p.release(1);
        p.release(60000);
        assert_eq!(p.in_use, 2);
        assert_eq!(PortPool::new(10, 10).used.len(), 0);
        assert_eq!(PortPool::new(65534, 65535).used.len(), 1);
        assert_eq!(PortPool::new(65535, 65535).used.len(), 0);
    }

    #[tokio::test]
    async fn play_one_second_between_two_legs() {
        let eng = engine(47000, 47019, Duration::from_secs(10));
        let a = eng.open_leg().await.unwrap();
        let b = eng.open_leg().await.unwrap();
        assert_eq!(eng.ports_in_use(), 2);
        let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
        assert_eq!(a_addr.ip(), LOCALHOST);
        assert_eq!(a_addr.port() % 2, 0);
        let (ea_tx, mut ea_rx) = mpsc::unbounded_channel();
        let (eb_tx, mut eb_rx) = mpsc::unbounded_channel();
        let ha = a.start(b_addr, Codec::Pcmu, Some(101), ea_tx);
        let hb = b.start(a_addr, Codec::Pcmu, Some(101), eb_tx);

        let t0 = Instant::now();
        ha.play(7, tone(1000));
        assert_eq!(next_event(&mut ea_rx).await, MediaEvent::PlayDone { id: 7 });
        let elapsed = t0.elapsed();
        assert!(
            elapsed >= Duration::from_millis(900),
            "too fast: {elapsed:?}"
        );
        assert_eq!(ha.stats().packets_sent, 50);
        assert_eq!(ha.stats().bytes_sent, 50 * 172);
        assert!(wait_for(|| hb.stats().packets_received >= 50).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sb = hb.stats();
        assert!((45..=55).contains(&sb.packets_received), "{sb:?}");
        assert!(sb.started);
        assert_eq!(sb.packets_sent, 0, "idle leg must not send");

        // B→A direction works as well.
        hb.play(8, tone(100));
        assert_eq!(next_event(&mut eb_rx).await, MediaEvent::PlayDone { id: 8 });
        assert!(wait_for(|| ha.stats().packets_received == 5).await);

        ha.close();
        assert_eq!(next_event(&mut ea_rx).await, MediaEvent::Closed);
        drop(hb); // dropping the last handle ends the task too
        assert_eq!(next_event(&mut eb_rx).await, MediaEvent::Closed);
        assert_eq!(eng.ports_in_use(), 0);
    }

    #[tokio::test]
    async fn rtp_headers_on_the_wire() {
        let eng = engine(47020, 47039, Duration::from_secs(10));
        let leg = eng.open_leg().await.unwrap();
        let rx_sock = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h = leg.start(rx_sock.local_addr().unwrap(), Codec::Pcma, None, tx);

        // 190 ms → 10 frames, the last one padded with silence.
        h.play(1, tone(190));
        let mut pkts = Vec::new();
        for _ in 0..10 {
            pkts.push(recv_rtp(&rx_sock).await);
        }
        assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
        let first = RtpReader::new(&pkts[0]).unwrap();
        let (ssrc, seq0, ts0) = (
            first.ssrc(),
            u16::from(first.sequence_number()),
            first.timestamp(),
        );
        for (i, p) in pkts.iter().enumerate() {
            let r = RtpReader::new(p).unwrap();
            assert_eq!(r.version(), 2);
            assert_eq!(r.payload_type(), 8);
            assert_eq!(r.ssrc(), ssrc);
            assert_eq!(u16::from(r.sequence_number()), seq0.wrapping_add(i as u16));
            assert_eq!(r.timestamp(), ts0.wrapping_add(160 * i as u32));
            assert_eq!(r.mark(), i == 0, "marker on packet {i}");
            assert_eq!(r.payload().len(), 160);
        }
        let last = RtpReader::new(&pkts[9]).unwrap();
        assert!(last.payload()[80..].iter().all(|&b| b == 0xD5));

        // A new talkspurt after a pause: marker set, seq continues, ts jumps by the pause.
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.play(2, tone(40));
        let p = recv_rtp(&rx_sock).await;
        let r = RtpReader::new(&p).unwrap();
        assert!(r.mark());
        assert_eq!(r.ssrc(), ssrc);
        assert_eq!(u16::from(r.sequence_number()), seq0.wrapping_add(10));
        let jump = r.timestamp().wrapping_sub(ts0.wrapping_add(1600));
        assert!(jump >= 300 * 8 - 160, "ts jump {jump}");
        assert!(jump < 60_000, "ts jump {jump}");
        let p = recv_rtp(&rx_sock).await;
        let r2 = RtpReader::new(&p).unwrap();
        assert!(!r2.mark());
        assert_eq!(r2.timestamp(), r.timestamp().wrapping_add(160));
        assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 2 });

        // stop_output cancels a long prompt without PlayDone.
        h.play(3, tone(10_000));
        let _ = recv_rtp(&rx_sock).await;
        h.stop_output();
        h.close();
        assert_eq!(next_event(&mut ev).await, MediaEvent::Closed);
        assert!(h.stats().packets_sent < 20);
    }

    #[tokio::test]
    async fn echo_returns_payloads() {
        let eng = engine(47040, 47059, Duration::from_secs(10));
        let leg = eng.open_leg().await.unwrap();
        let leg_addr = leg.local_addr();
        let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h = leg.start(peer.local_addr().unwrap(), Codec::Pcmu, Some(101), tx);
        h.echo(9, Duration::from_secs(30));

        let mut ours = RtpSender::new(0x1234_5678, 100, 1000);
        let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i.wrapping_mul(7); 160]).collect();
        let mut echoed = Vec::new();
        for p in &payloads {
            let pkt = ours.next_packet(0, p);
            peer.send_to(&pkt, leg_addr).await.unwrap();
            echoed.push(recv_rtp(&peer).await);
        }
        let first = RtpReader::new(&echoed[0]).unwrap();
        assert_ne!(first.ssrc(), 0x1234_5678);
        assert!(first.mark());
        let seq0 = u16::from(first.sequence_number());
        for (i, (pkt, sent)) in echoed.iter().zip(&payloads).enumerate() {
            let r = RtpReader::new(pkt).unwrap();
            assert_eq!(r.payload(), &sent[..]);
            assert_eq!(r.payload_type(), 0);
            assert_eq!(r.ssrc(), first.ssrc());
            assert_eq!(u16::from(r.sequence_number()), seq0.wrapping_add(i as u16));
            assert_eq!(r.mark(), i == 0);
        }

        // A PCMA packet is transcoded to the leg's PCMU.
        let alaw = Codec::Pcma.encode(&[1000; 160]);
        peer.send_to(&ours.next_packet(8, &alaw), leg_addr)
            .await
            .unwrap();
        let r_pkt = recv_rtp(&peer).await;
        let r = RtpReader::new(&r_pkt).unwrap();
        assert_eq!(r.payload_type(), 0);
        assert_eq!(
            r.payload(),
            &Codec::Pcmu.encode(&Codec::Pcma.decode(&alaw))[..]
        );

        // telephone-event packets are not echoed; the next audio packet is.
        peer.send_to(&ours.next_packet(101, &[1, 0x0A, 0, 160]), leg_addr)
            .await
            .unwrap();
        peer.send_to(&ours.next_packet(0, &[0x55; 160]), leg_addr)
            .await
            .unwrap();
        let r_pkt = recv_rtp(&peer).await;
        assert_eq!(RtpReader::new(&r_pkt).unwrap().payload(), &[0x55; 160][..]);
        assert!(wait_for(|| h.stats().packets_received == 23).await);

        // Echo ends by itself after `max`.
        h.echo(10, Duration::from_millis(100));
        assert_eq!(next_event(&mut ev).await, MediaEvent::EchoDone { id: 10 });
        peer.send_to(&ours.next_packet(0, &[0x11; 160]), leg_addr)
            .await
            .unwrap();
        assert!(wait_for(|| h.stats().packets_received == 24).await);
        assert_eq!(h.stats().packets_sent, 22);
        h.close();
        assert_eq!(next_event(&mut ev).await, MediaEvent::Closed);
    }

    #[tokio::test]
    async fn port_pool_exhaustion_and_release() {
        let eng = engine(47100, 47105, Duration::from_secs(10));
        let l1 = eng.open_leg().await.unwrap();
        let l2 = eng.open_leg().await.unwrap();
        let l3 = eng.open_leg().await.unwrap();
        assert_eq!(eng.ports_in_use(), 3);
        assert!(matches!(eng.open_leg().await, Err(MediaError::NoPorts)));

        // Dropping an unstarted leg releases its port.
        drop(l2);
        assert_eq!(eng.ports_in_use(), 2);
        let l2 = eng.open_leg().await.unwrap();
        assert!(matches!(eng.open_leg().await, Err(MediaError::NoPorts)));

        // Closing a started leg releases its port (and the socket: it can be rebound).
        let port1 = l1.local_addr();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h1 = l1.start(l3.local_addr(), Codec::Pcmu, None, tx);
        h1.close();
        assert_eq!(next_event(&mut ev).await, MediaEvent::Closed);
        assert_eq!(eng.ports_in_use(), 2);
        let l4 = eng.open_leg().await.unwrap();
        assert_eq!(l4.local_addr(), port1);
        assert_eq!(eng.ports_in_use(), 3);
        drop((l2, l3, l4));
        assert_eq!(eng.ports_in_use(), 0);

        // Commands to a closed leg are harmless.
        h1.play(1, tone(20));
        h1.close();
        assert_eq!(h1.stats().packets_sent, 0);
    }

    #[tokio::test]
    async fn busy_port_is_skipped() {
        let blocker = std::net::UdpSocket::bind((LOCALHOST, 47120)).unwrap();
        let eng = engine(47120, 47123, Duration::from_secs(10));
        let leg = eng.open_leg().await.unwrap();
        assert_eq!(leg.local_addr().port(), 47122);
        assert!(matches!(eng.open_leg().await, Err(MediaError::NoPorts)));
        drop(blocker);
    }

    #[tokio::test]
    async fn garbage_does_not_kill_the_session() {
        let eng = engine(47140, 47159, Duration::from_secs(10));
        let leg = eng.open_leg().await.unwrap();
        let leg_addr = leg.local_addr();
        let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h = leg.start(peer.local_addr().unwrap(), Codec::Pcmu, None, tx);
        h.echo(1, Duration::from_secs(30));

        let mut truncated_csrc = vec![0x8Fu8, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        truncated_csrc.extend_from_slice(&[0; 8]);
        let garbage: Vec<Vec<u8>> = vec![
            vec![],
            vec![1, 2, 3, 4, 5],
            vec![0u8; 12],                                  // version 0
            vec![0xFF; 200],                                // version 3
            truncated_csrc,                                 // 15 CSRCs announced, 2 present
            vec![0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0], // padding length 0
            b"INVITE sip:x SIP/2.0\r\n\r\n".to_vec(),
        ];
        for g in &garbage {
            peer.send_to(g, leg_addr).await.unwrap();
        }
        let mut ours = RtpSender::new(5, 5, 5);
        for _ in 0..3 {
            peer.send_to(&ours.next_packet(0, &[0x42; 160]), leg_addr)
                .await
                .unwrap();
            let back = recv_rtp(&peer).await;
            assert_eq!(RtpReader::new(&back).unwrap().payload(), &[0x42; 160][..]);
        }
        assert_eq!(h.stats().packets_received, 3);
        assert_eq!(h.stats().bytes_received, 3 * 172);

        // Still fully alive: play works and completes.
        h.play(2, tone(60));
        assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 2 });
        h.close();
        assert_eq!(next_event(&mut ev).await, MediaEvent::Closed);
    }

    #[tokio::test]
    async fn inactivity_timeout_fires_and_rearms() {
        let eng = engine(47160, 47179, Duration::from_millis(150));
        let leg = eng.open_leg().await.unwrap();
        let leg_addr = leg.local_addr();
        let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h = leg.start(peer.local_addr().unwrap(), Codec::Pcmu, None, tx);
        assert_eq!(next_event(&mut ev).await, MediaEvent::Timeout);
        // Only once per silence period.
        assert!(timeout(Duration::from_millis(300), ev.recv())
            .await
            .is_err());
        // RTP resumes → re-armed → fires again after the next silence.
        let mut ours = RtpSender::new(5, 5, 5);
        peer.send_to(&ours.next_packet(0, &[0xFF; 160]), leg_addr)
            .await
            .unwrap();
        assert!(wait_for(|| h.stats().packets_received == 1).await);
        assert_eq!(next_event(&mut ev).await, MediaEvent::Timeout);
        h.close();
        assert_eq!(next_event(&mut ev).await, MediaEvent::Closed);
    }

    #[tokio::test]
    async fn a_holding_peer_gets_nothing_and_is_not_timed_out() {
        let eng = engine(47200, 47219, Duration::from_millis(150));
        let leg = eng.open_leg().await.unwrap();
        let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h = leg.start(peer.local_addr().unwrap(), Codec::Pcmu, None, tx);
        // The peer holds with `inactive`: a prompt plays out unsent, and its silence is no timeout.
        h.set_direction(Direction::Inactive);
        h.play(1, tone(400));
        assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
        assert_eq!(h.stats().packets_sent, 0);
        // Resumed: RTP flows again and the silence is watched again.
        h.set_direction(Direction::SendRecv);
        h.play(2, tone(100));
        let first = recv_rtp(&peer).await;
        assert!(RtpReader::new(&first).unwrap().mark(), "a new talkspurt");
        let mut seen = Vec::new();
        while !seen.contains(&MediaEvent::Timeout) {
            seen.push(next_event(&mut ev).await);
        }
        h.close();
    }

    #[tokio::test]
    async fn empty_prompt_and_zero_echo_complete_immediately() {
        let eng = engine(47180, 47199, Duration::ZERO);
        let leg = eng.open_leg().await.unwrap();
        let (tx, mut ev) = mpsc::unbounded_channel();
        let h = leg.start("127.0.0.1:9".parse().unwrap(), Codec::Pcmu, None, tx);
        h.play(1, Arc::new(Prompt::silence(0)));
        assert_eq!(next_event(&mut ev).await, MediaEvent::PlayDone { id: 1 });
        h.echo(2, Duration::ZERO);
        assert_eq!(next_event(&mut ev).await, MediaEvent::EchoDone { id: 2 });
        // Absurd durations saturate instead of overflowing.
        h.echo(3, Duration::MAX);
        h.stop_output();
        h.close();
        assert_eq!(next_event(&mut ev).await, MediaEvent::Closed);
        assert_eq!(h.stats().packets_sent, 0);
    }
}
