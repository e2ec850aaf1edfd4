//! The I/O shell: a port pool, and one tokio task per media leg.
//!
//! A leg is opened (port allocated, UDP socket bound) before the SDP answer is
//! built, then started once the remote address and codec are known. The task
//! owns the socket and the outgoing [`RtpSender`]; callers talk to it only
//! through a [`MediaHandle`] (commands) and an event channel ([`MediaEvent`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, MissedTickBehavior};

use crate::error::MediaError;
use crate::g711::Codec;
use crate::packetizer::RtpSender;
use crate::prompt::{Prompt, PromptCache};

/// Samples per 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;
/// Packetisation interval.
const FRAME: Duration = Duration::from_millis(20);
/// A pause in sending longer than this starts a new talkspurt (timestamp jump + marker).
const GAP_THRESHOLD: Duration = Duration::from_millis(60);
/// Receive buffer size; larger datagrams are truncated (and are not G.711 anyway).
const RECV_BUF: usize = 2048;

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
    /// Emit [`MediaEvent::Timeout`] when no RTP arrives for this long. Zero disables it.
    pub inactivity_timeout: Duration,
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
}

impl MediaEngine {
    /// Create an engine; the port pool covers the even ports of `cfg`'s range.
    pub fn new(cfg: MediaConfig) -> Self {
        let pool = PortPool::new(cfg.port_min, cfg.port_max);
        MediaEngine {
            cfg: Arc::new(cfg),
            pool: Arc::new(Mutex::new(pool)),
            prompts: PromptCache::new(),
        }
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
                        socket,
                        guard,
                        local,
                        inactivity_timeout: self.cfg.inactivity_timeout,
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

/// A bound but not yet started leg. Dropping it releases the port.
#[derive(Debug)]
pub struct MediaLeg {
    socket: std::net::UdpSocket,
    guard: PortGuard,
    local: SocketAddr,
    inactivity_timeout: Duration,
}

impl MediaLeg {
    /// The local RTP address (put this in the SDP answer).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Start the leg's task (with `tokio::spawn`; must be called inside a tokio
    /// runtime). RTP goes to `remote` using `codec`; events are reported on `events`.
    pub fn start(
        self,
        remote: SocketAddr,
        codec: Codec,
        telephone_event: Option<u8>,
        events: UnboundedSender<MediaEvent>,
    ) -> MediaHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(StatsInner::default());
        let sender = RtpSender::new(rand::random(), rand::random(), rand::random());
        let task = SessionTask {
            remote,
            codec,
            telephone_event,
            events: events.clone(),
            stats: stats.clone(),
            sender,
            output: Output::Idle,
            last_sent: None,
            resume_pending: false,
            inactivity_timeout: self.inactivity_timeout,
        };
        let exit = TaskExit {
            guard: Some(self.guard),
            events,
        };
        tokio::spawn(run(task, self.socket, rx, exit));
        MediaHandle {
            tx,
            stats,
            local: self.local,
        }
    }
}

// ---------------------------------------------------------------------------
// Handle, events, stats
// ---------------------------------------------------------------------------

/// Events a leg reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The prompt started by `play(id, ..)` has been sent completely.
    PlayDone {
        /// The id passed to [`MediaHandle::play`].
        id: u64,
    },
    /// The echo started by `echo(id, max)` reached its maximum duration.
    EchoDone {
        /// The id passed to [`MediaHandle::echo`].
        id: u64,
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
}

#[derive(Debug, Default)]
struct StatsInner {
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    started: AtomicBool,
}

#[derive(Debug)]
enum Command {
    Play { id: u64, prompt: Arc<Prompt> },
    Echo { id: u64, max: Duration },
    StopOutput,
    SetRemote(SocketAddr),
    Close,
}

/// Control handle of a started leg. Clones share the same task; the task ends
/// on [`close`](MediaHandle::close) or when every clone has been dropped.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    tx: UnboundedSender<Command>,
    stats: Arc<StatsInner>,
    local: SocketAddr,
}

impl MediaHandle {
    fn send(&self, cmd: Command) {
        // The task may already have ended; commands to a closed leg are no-ops.
        let _ = self.tx.send(cmd);
    }

    /// Play a prompt (replacing any current output). `PlayDone { id }` follows the last frame.
    pub fn play(&self, id: u64, prompt: Arc<Prompt>) {
        self.send(Command::Play { id, prompt });
    }

    /// Echo received audio back to the peer for at most `max` (replacing any
    /// current output). `EchoDone { id }` is sent when `max` elapses.
    pub fn echo(&self, id: u64, max: Duration) {
        self.send(Command::Echo { id, max });
    }

    /// Stop playing/echoing. The cancelled output sends no Done event.
    pub fn stop_output(&self) {
        self.send(Command::StopOutput);
    }

    /// Change where RTP is sent (e.g. after a re-INVITE).
    pub fn set_remote(&self, remote: SocketAddr) {
        self.send(Command::SetRemote(remote));
    }

    /// End the task and release the port; `Closed` follows.
    pub fn close(&self) {
        self.send(Command::Close);
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
        prompt: Arc<Prompt>,
        pos: usize,
    },
    Echo {
        id: u64,
        until: Instant,
    },
}

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

struct SessionTask {
    remote: SocketAddr,
    codec: Codec,
    telephone_event: Option<u8>,
    events: UnboundedSender<MediaEvent>,
    stats: Arc<StatsInner>,
    sender: RtpSender,
    output: Output,
    /// When the last packet was sent and how many samples it carried.
    last_sent: Option<(Instant, u32)>,
    /// Output just (re)started from idle: the next send checks for a gap.
    resume_pending: bool,
    inactivity_timeout: Duration,
}

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
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register RTP socket with the runtime");
            return;
        }
    };
    task.stats.started.store(true, Ordering::Relaxed);

    let mut ticker = tokio::time::interval(FRAME);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut buf = vec![0u8; RECV_BUF];

    let timeout_enabled = !task.inactivity_timeout.is_zero();
    let mut last_rx = Instant::now();
    let mut timed_out = false;
    let inactivity = tokio::time::sleep_until(deadline(last_rx, task.inactivity_timeout));
    tokio::pin!(inactivity);

    loop {
        let playing = matches!(task.output, Output::Play { .. });
        let echo_until = match task.output {
            Output::Echo { until, .. } => Some(until),
            _ => None,
        };
        // Biased: commands first, then the (rarely ready) timers, then the socket
        // last, so a flood of inbound datagrams cannot starve pacing or control.
        tokio::select! {
            biased;
            cmd = rx.recv() => match cmd {
                None | Some(Command::Close) => break,
                Some(cmd) => task.command(cmd, &mut ticker, Instant::now()),
            },
            _ = ticker.tick(), if playing => task.on_tick(&socket, Instant::now()),
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
            res = socket.recv_from(&mut buf) => match res {
                Ok((n, _from)) => {
                    let now = Instant::now();
                    if task.on_datagram(buf.get(..n).unwrap_or_default(), &socket, now) {
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
    }
    drop(socket);
    drop(gauge);
    drop(exit);
}

impl SessionTask {
    fn command(&mut self, cmd: Command, ticker: &mut tokio::time::Interval, now: Instant) {
        match cmd {
            Command::Play { id, prompt } => {
                if prompt.samples().is_empty() {
                    self.set_idle();
                    let _ = self.events.send(MediaEvent::PlayDone { id });
                    return;
                }
                let was_playing = matches!(self.output, Output::Play { .. });
                if !was_playing {
                    self.resume_pending = true;
                    // First frame now, but never closer than one frame after the last packet.
                    let next = match self.last_sent {
                        Some((at, _)) if now < at + FRAME => at + FRAME,
                        _ => now,
                    };
                    ticker.reset_at(next);
                }
                self.output = Output::Play { id, prompt, pos: 0 };
            }
            Command::Echo { id, max } => {
                if max.is_zero() {
                    self.set_idle();
                    let _ = self.events.send(MediaEvent::EchoDone { id });
                    return;
                }
                if matches!(self.output, Output::Idle) {
                    self.resume_pending = true;
                }
                self.output = Output::Echo {
                    id,
                    until: deadline(now, max),
                };
            }
            Command::StopOutput => self.set_idle(),
            Command::SetRemote(remote) => self.remote = remote,
            Command::Close => {}
        }
    }

    fn set_idle(&mut self) {
        self.output = Output::Idle;
        self.resume_pending = false;
    }

    /// Handle one datagram; returns true when it was valid RTP.
    fn on_datagram(&mut self, data: &[u8], socket: &UdpSocket, now: Instant) -> bool {
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
        metrics::counter!("vpbx_rtp_packets_received_total").increment(1);

        if matches!(self.output, Output::Echo { .. }) {
            let pt = reader.payload_type();
            let payload = reader.payload();
            if payload.is_empty() || Some(pt) == self.telephone_event {
                return true;
            }
            let out = if pt == self.codec.payload_type() {
                payload.to_vec()
            } else if let Some(other) = Codec::from_static_payload_type(pt) {
                self.codec.encode(&other.decode(payload))
            } else {
                // Comfort noise or an unknown payload: nothing to echo.
                return true;
            };
            self.send_payload(&out, socket, now);
        }
        true
    }

    fn on_tick(&mut self, socket: &UdpSocket, now: Instant) {
        let Output::Play { id, prompt, pos } = &mut self.output else {
            return;
        };
        let samples = prompt.samples();
        let start = (*pos).min(samples.len());
        let end = (start + FRAME_SAMPLES).min(samples.len());
        let mut frame = samples.get(start..end).unwrap_or_default().to_vec();
        frame.resize(FRAME_SAMPLES, 0);
        *pos = end;
        let done = (end >= samples.len()).then_some(*id);
        let payload = self.codec.encode(&frame);
        self.send_payload(&payload, socket, now);
        if let Some(id) = done {
            self.set_idle();
            let _ = self.events.send(MediaEvent::PlayDone { id });
        }
    }

    fn finish_echo(&mut self) {
        if let Output::Echo { id, .. } = self.output {
            self.set_idle();
            let _ = self.events.send(MediaEvent::EchoDone { id });
        }
    }

    /// Packetise and send one payload, starting a new talkspurt after a gap.
    fn send_payload(&mut self, payload: &[u8], socket: &UdpSocket, now: Instant) {
        let check_gap = self.resume_pending || matches!(self.output, Output::Echo { .. });
        if let (true, Some((at, last_len))) = (check_gap, self.last_sent) {
            let gap = now.saturating_duration_since(at);
            if gap > GAP_THRESHOLD {
                let gap_samples = gap.as_micros() * 8 / 1000;
                let extra = gap_samples.saturating_sub(u128::from(last_len));
                self.sender.skip(u32::try_from(extra).unwrap_or(u32::MAX));
            }
        }
        self.resume_pending = false;
        let pkt = self.sender.next_packet(self.codec.payload_type(), payload);
        self.last_sent = Some((now, payload.len() as u32));
        match socket.try_send_to(&pkt, self.remote) {
            Ok(n) => {
                self.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                metrics::counter!("vpbx_rtp_packets_sent_total").increment(1);
            }
            Err(e) => {
                tracing::debug!(error = %e, remote = %self.remote, "RTP send failed");
            }
        }
    }
}

#[cfg(test)]
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
