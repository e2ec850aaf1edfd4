//! `vpbx-soak`: bounded load runs against a live vpbx.
//!
//! `vpbx-soak media` places N calls over raw UDP SIP, streams G.711 (PCMU, 20 ms, 172-byte
//! packets) on every call from a single pacing thread, holds them, and reports the switch's CPU
//! and memory per media leg and its own RTP loss/late counters from `/metrics`.
//!
//! `--mode echo` (default) calls the echo-test number: one media leg per call in the switch.
//! `--mode bridged` calls a number whose scenario forwards to a SIP URI served by this tool's own
//! agent ([`agent`]), which answers and echoes RTP: two media legs and a bridge per call.
//!
//! It is a measuring tool, not a library: unwraps on impossible states and clock reads are fine.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]
#![recursion_limit = "256"]

mod agent;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

#[derive(Parser)]
#[command(name = "vpbx-soak", about = "Bounded load runs against a live vpbx")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Concurrent calls with PCMU flowing both ways (echo test, or bridged to an echoing agent).
    Media(MediaArgs),
}

/// What each call exercises in the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The echo-test scenario: one RTP session per call, the switch echoes.
    Echo,
    /// A `forward` scenario to the tool's own agent (B2BUA): two RTP sessions per call,
    /// audio relayed both ways; the agent echoes, so the caller's audio comes back through
    /// both bridge directions.
    Bridged,
}

impl Mode {
    fn legs_per_call(self) -> usize {
        match self {
            Mode::Echo => 1,
            Mode::Bridged => 2,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Mode::Echo => "echo",
            Mode::Bridged => "bridged",
        }
    }
}

/// The number of the bridged benchmark in the company the tool writes for `--mode bridged`.
const BRIDGE_NUMBER: &str = "74950000009";

#[derive(Args, Clone, Debug)]
struct MediaArgs {
    /// echo: calls to the echo test; bridged: calls forwarded to the tool's agent (2 legs each).
    #[arg(long, value_enum, default_value_t = Mode::Echo)]
    mode: Mode,
    /// The switch binary to start (ignored with --attach-*).
    #[arg(long, default_value = "target/release/vpbx")]
    switch_bin: PathBuf,
    /// Concurrent calls to place.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// New calls per second during the ramp (BYEs go at twice this rate).
    #[arg(long, default_value_t = 200.0)]
    ramp_per_sec: f64,
    /// Seconds to hold all calls once established.
    #[arg(long, default_value_t = 30)]
    hold_secs: u64,
    /// The number to call (default: 74950000001, the demo echo test; with --mode bridged
    /// 74950000009 in the company the tool writes).
    #[arg(long)]
    number: Option<String>,
    /// SIP address for the started switch (default: a free loopback port).
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// HTTP address for the started switch (default: a free loopback port).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Lowest RTP port of the started switch.
    #[arg(long, default_value_t = 40000)]
    switch_rtp_min: u16,
    /// Highest RTP port of the started switch.
    #[arg(long, default_value_t = 59999)]
    switch_rtp_max: u16,
    /// Use a running switch at this SIP address instead of starting one.
    #[arg(long, requires = "attach_http")]
    attach_sip: Option<SocketAddr>,
    /// HTTP address of the running switch.
    #[arg(long, requires = "attach_sip")]
    attach_http: Option<SocketAddr>,
    /// Process id of the running switch (for CPU and RSS; without it they are not reported).
    #[arg(long, requires = "attach_sip")]
    attach_pid: Option<u32>,
    /// First local port tried for the generator's RTP sockets (kept out of the switch's range).
    #[arg(long, default_value_t = 20000)]
    local_rtp_base: u16,
    /// Settings file for the started switch (default: none, so a fresh data dir loads the demo
    /// company; with --mode bridged a written one whose company forwards to the agent).
    #[arg(long)]
    switch_config: Option<PathBuf>,
    /// Extra argument for the started switch (repeatable), e.g. `--switch-arg=--pike-requests=0`
    /// once the per-source SIP rate limit exists (every call here comes from one address).
    #[arg(long, allow_hyphen_values = true)]
    switch_arg: Vec<String>,
    /// RTP pacing threads in the generator (calls are spread over them).
    #[arg(long, default_value_t = 1)]
    gen_threads: usize,
    /// Start the switch in its own session (`setsid`), so the kernel's autogroup scheduler
    /// shares the CPU between it and the generator as between separate services.
    #[arg(long)]
    setsid: bool,
    /// Keep the started switch's data directory and log.
    #[arg(long)]
    keep_data: bool,
    /// --mode bridged: the agent's SIP address (UDP); the switch forwards to agent@this.
    #[arg(long, default_value = "127.0.0.1:25099")]
    agent_addr: SocketAddr,
    /// --mode bridged: the codec the agent answers with (pcma makes the switch transcode).
    #[arg(long, value_enum, default_value_t = agent::Codec::Pcmu)]
    agent_codec: agent::Codec,
    /// --mode bridged: first local port tried for the agent's RTP sockets.
    #[arg(long, default_value_t = 30000)]
    agent_rtp_base: u16,
    /// --mode bridged: calls whose SIP messages the agent writes to its log in full.
    #[arg(long, default_value_t = 3)]
    agent_trace_calls: usize,
    /// --mode bridged: the agent's log (default: a vpbx-soak-agent-*.log in the temp dir, kept
    /// when a call failed or with --keep-data).
    #[arg(long)]
    agent_log: Option<PathBuf>,
    /// Target: media legs established.
    #[arg(long, default_value_t = 1000)]
    target_legs: usize,
    /// Target: lost + late packets by the switch's counters, percent (strictly below).
    #[arg(long, default_value_t = 0.5)]
    target_loss_pct: f64,
    /// Target: RSS growth per leg, KB.
    #[arg(long, default_value_t = 150.0)]
    target_kb_per_leg: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Media(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            match rt.block_on(media(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vpbx-soak: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

#[derive(Clone, Copy, Debug)]
struct ProcSample {
    at: Instant,
    /// utime + stime, in clock ticks.
    ticks: u64,
    rss_kb: u64,
    hwm_kb: u64,
}

fn proc_sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        at: Instant::now(),
        ticks: utime + stime,
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
    })
}

/// Machine-wide (busy, total) jiffies from the first line of /proc/stat.
fn machine_jiffies() -> Option<(u64, u64)> {
    let t = std::fs::read_to_string("/proc/stat").ok()?;
    let line = t.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU percent of one core between two samples.
fn cpu_pct(a: &ProcSample, b: &ProcSample, tck: f64) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    (b.ticks.saturating_sub(a.ticks)) as f64 / tck / wall * 100.0
}

// ---------------------------------------------------------------------------------------------
// HTTP (plain HTTP/1.0 GET; every call bounded)

async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if code != 200 {
            return Err(format!("GET {path}: HTTP {code}"));
        }
        Ok(text
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default())
    };
    tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .map_err(|_| format!("GET {path}: timeout"))?
}

async fn active_calls(http: SocketAddr) -> Option<i64> {
    let body = http_get(http, "/health").await.ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v.get("active_calls")?.as_i64()
}

#[derive(Clone, Copy, Debug, Default)]
struct RtpCounters {
    received: f64,
    sent: f64,
    lost: f64,
    late: f64,
    invalid: f64,
}

impl RtpCounters {
    fn delta(&self, before: &RtpCounters) -> RtpCounters {
        RtpCounters {
            received: self.received - before.received,
            sent: self.sent - before.sent,
            lost: self.lost - before.lost,
            late: self.late - before.late,
            invalid: self.invalid - before.invalid,
        }
    }
    /// (lost %, late %) of the packets the switch should have received.
    fn pcts(&self) -> (f64, f64) {
        let expected = self.received + self.lost;
        if expected <= 0.0 {
            return (0.0, 0.0);
        }
        (self.lost / expected * 100.0, self.late / expected * 100.0)
    }
    fn json(&self) -> Value {
        let (lost, late) = self.pcts();
        json!({
            "received": self.received, "sent": self.sent, "lost": self.lost,
            "late": self.late, "invalid": self.invalid,
            "lost_pct": lost, "late_pct": late, "lost_late_pct": lost + late,
        })
    }
}

/// Sums every series of `name` in Prometheus text (absent counters are 0).
fn prom_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            l.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

async fn rtp_counters(http: SocketAddr) -> Result<RtpCounters, String> {
    let t = http_get(http, "/metrics").await?;
    Ok(RtpCounters {
        received: prom_value(&t, "vpbx_rtp_packets_received_total"),
        sent: prom_value(&t, "vpbx_rtp_packets_sent_total"),
        lost: prom_value(&t, "vpbx_rtp_packets_lost_total"),
        late: prom_value(&t, "vpbx_rtp_packets_late_total"),
        invalid: prom_value(&t, "vpbx_rtp_packets_invalid_total"),
    })
}

// ---------------------------------------------------------------------------------------------
// The switch process

impl MediaArgs {
    fn number(&self) -> String {
        self.number.clone().unwrap_or_else(|| {
            match self.mode {
                Mode::Echo => "74950000001",
                Mode::Bridged => BRIDGE_NUMBER,
            }
            .to_string()
        })
    }
}

/// The company of `--mode bridged`: `number` runs a `forward` to `agent@<agent>`.
fn bridge_company(agent: SocketAddr, number: &str) -> String {
    format!(
        r#"# Written by vpbx-soak media --mode bridged: one number forwarded to the soak agent.
company: Soak bridge
time_zone: Europe/Moscow
scenarios:
  - id: 9
    name: Bridge to the soak agent
    start: dial
    operations:
      dial:
        action:
          kind: forward
          targets:
            - {{ kind: sip_uri, uri: "agent@{agent}", timeout_s: 10 }}
        exits: {{}}
numbers:
  - number: "{number}"
    rules:
      - id: 9
        name: Bridged benchmark
        scenario: 9
"#
    )
}

/// Writes `<dir>/bridge/vpbx.toml` (only `demo = "company.yaml"`: a fresh data dir loads it) and
/// the company; returns the TOML's path.
fn write_bridge_config(
    dir: &std::path::Path,
    agent: SocketAddr,
    number: &str,
) -> Result<PathBuf, String> {
    let d = dir.join("bridge");
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    let toml = d.join("vpbx.toml");
    std::fs::write(
        &toml,
        "# vpbx-soak media --mode bridged: the company below is loaded into the empty data dir.\n\
         demo = \"company.yaml\"\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(d.join("company.yaml"), bridge_company(agent, number))
        .map_err(|e| e.to_string())?;
    Ok(toml)
}

fn free_port() -> u16 {
    loop {
        let udp = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Switch {
    child: Option<Child>,
    pid: Option<u32>,
    sip: SocketAddr,
    http: SocketAddr,
    dir: Option<PathBuf>,
    log: Option<PathBuf>,
}

impl Switch {
    fn start(a: &MediaArgs) -> Result<Switch, String> {
        let dir = std::env::temp_dir().join(format!(
            "vpbx-soak-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let sip = a
            .sip
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let http = a
            .http
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let log = dir.join("switch.log");
        let logf = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let config = match (&a.switch_config, a.mode) {
            (Some(c), _) => c.clone(),
            (None, Mode::Echo) => PathBuf::from("/nonexistent.toml"),
            (None, Mode::Bridged) => write_bridge_config(&dir, a.agent_addr, &a.number())?,
        };
        let mut cmd = if a.setsid {
            let mut c = Command::new("setsid");
            c.arg(&a.switch_bin);
            c
        } else {
            Command::new(&a.switch_bin)
        };
        let child = cmd
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--sip-addr")
            .arg(sip.to_string())
            .arg("--http-addr")
            .arg(http.to_string())
            .arg("--rtp-port-min")
            .arg(a.switch_rtp_min.to_string())
            .arg("--rtp-port-max")
            .arg(a.switch_rtp_max.to_string())
            // Every call of this load comes from 127.0.0.1: the per-source flood ban would
            // (rightly) ban it. `--switch-arg` can override.
            .args(["--pike-requests", "0", "--auth-fail-max", "0"])
            .args(&a.switch_arg)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", a.switch_bin.display()))?;
        let pid = child.id();
        Ok(Switch {
            child: Some(child),
            pid: Some(pid),
            sip,
            http,
            dir: Some(dir),
            log: Some(log),
        })
    }

    fn pid_str(&self) -> Option<String> {
        self.pid.map(|p| p.to_string())
    }

    /// SIGTERM, up to 5 s for a clean exit, then SIGKILL. Returns the exit status text.
    fn stop(&mut self) -> Option<String> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(format!("{st}"));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Some("killed after 5 s (no exit on SIGTERM)".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let t = std::fs::read_to_string(log).unwrap_or_default();
        let v: Vec<&str> = t.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    fn cleanup(&self, keep: bool) {
        if let Some(d) = &self.dir {
            if keep {
                eprintln!("kept switch data and log in {}", d.display());
            } else {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The media engine: one thread, one 5 ms sub-tick loop, each call served every fourth sub-tick.

const SUBTICKS: u64 = 4;
const SUBTICK: Duration = Duration::from_millis(5);
const PAYLOAD: usize = 160;
/// Echo round-trip buckets (ms, upper bounds; the last is open). A call's socket is drained
/// 10 ms after its send, so an echo back within 10 ms reads as about 10 ms.
const RTT_EDGES_MS: [u64; 5] = [15, 35, 55, 115, 215];

/// Every payload carries a stamp: a marker byte, the generator's own sequence number and its
/// send time (µs), one bit per sample as the sign of a −31 dBFS µ-law sample (0xD0 = +876,
/// 0x50 = −876), the rest µ-law silence (0xFF). The sign survives what a bridge does to audio
/// (G.711 decode and re-encode, PCMU↔PCMA transcoding), raw bytes would not: µ-law 0x7F comes
/// back as 0xFF.
const STAMP_MARK: u8 = 0xA5;
const STAMP_BITS: usize = 72;
const STAMP_ONE: u8 = 0xD0;
const STAMP_ZERO: u8 = 0x50;

fn write_stamp(payload: &mut [u8], seq: u32, sent_us: u32) {
    let mut bytes = [0u8; STAMP_BITS / 8];
    bytes[0] = STAMP_MARK;
    bytes[1..5].copy_from_slice(&seq.to_be_bytes());
    bytes[5..9].copy_from_slice(&sent_us.to_be_bytes());
    for (i, b) in payload.iter_mut().take(STAMP_BITS).enumerate() {
        let bit = (bytes[i / 8] >> (7 - i % 8)) & 1;
        *b = if bit == 1 { STAMP_ONE } else { STAMP_ZERO };
    }
}

/// (sequence, send time µs) from a returned payload; `None` if the marker is not there.
fn read_stamp(payload: &[u8]) -> Option<(u32, u32)> {
    if payload.len() < STAMP_BITS {
        return None;
    }
    let mut bytes = [0u8; STAMP_BITS / 8];
    for (i, &b) in payload.iter().take(STAMP_BITS).enumerate() {
        // µ-law: the top bit set is a positive sample.
        if b & 0x80 != 0 {
            bytes[i / 8] |= 1 << (7 - i % 8);
        }
    }
    if bytes[0] != STAMP_MARK {
        return None;
    }
    Some((
        u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]),
        u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]),
    ))
}

struct MediaCall {
    id: usize,
    sock: StdUdpSocket,
    ssrc: u32,
    seq: u16,
    ts: u32,
    sending: bool,
    sent: u64,
    send_err: u64,
    recv: u64,
    bad: u64,
    out_of_order: u64,
    max_rx_seq: Option<u32>,
    rtt: [u64; 6],
    /// Where this call's returned audio has holes (by the generator's own sequence).
    holes: Holes,
}

/// The holes in one call's returned stream: the first returned packet, the number of gaps,
/// the first and the largest gap as (first missing sequence, packets).
#[derive(Clone, Copy, Debug, Default)]
struct Holes {
    first_rx: Option<u32>,
    gaps: u64,
    first_gap: Option<(u32, u32)>,
    largest_gap: Option<(u32, u32)>,
}

/// A call that lost packets, for the report.
#[derive(Clone, Copy, Debug, Default)]
struct CallLoss {
    id: usize,
    sent: u64,
    recv: u64,
    last_rx: Option<u32>,
    holes: Holes,
}

impl CallLoss {
    fn loss(&self) -> u64 {
        self.sent.saturating_sub(self.recv)
    }
    fn json(&self, call_id: Option<&str>) -> Value {
        json!({
            "call": self.id,
            "call_id": call_id,
            "sent": self.sent,
            "back": self.recv,
            "lost": self.loss(),
            "first_back_seq": self.holes.first_rx,
            "last_back_seq": self.last_rx,
            "gaps": self.holes.gaps,
            "first_gap": self.holes.first_gap.map(|(s, n)| json!({"seq": s, "packets": n})),
            "largest_gap": self.holes.largest_gap.map(|(s, n)| json!({"seq": s, "packets": n})),
        })
    }
}

/// Calls with the most loss kept in the totals.
const WORST_CALLS: usize = 5;

/// Inserts `c` into `worst` (sorted by loss, descending) if it belongs there.
fn keep_worst(worst: &mut [CallLoss; WORST_CALLS], c: CallLoss) {
    if c.loss() == 0 {
        return;
    }
    if let Some(pos) = worst.iter().position(|w| c.loss() > w.loss()) {
        for i in (pos + 1..WORST_CALLS).rev() {
            worst[i] = worst[i - 1];
        }
        worst[pos] = c;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct MediaTotals {
    calls: usize,
    sent: u64,
    send_err: u64,
    recv: u64,
    bad: u64,
    out_of_order: u64,
    rtt: [u64; 6],
    calls_with_loss: usize,
    max_loss_one_call: u64,
    worst: [CallLoss; WORST_CALLS],
    /// Sub-ticks that started more than 2 ms late, the worst lateness, and resyncs.
    late_ticks: u64,
    max_tick_late_us: u64,
    resyncs: u64,
    ticks: u64,
    busy: Duration,
}

enum MediaCmd {
    Add(Box<MediaCall>),
    StopSending,
    Snapshot(mpsc::Sender<MediaTotals>),
    Finish(mpsc::Sender<MediaTotals>),
}

impl MediaTotals {
    fn merge(mut self, o: &MediaTotals) -> MediaTotals {
        self.calls += o.calls;
        self.sent += o.sent;
        self.send_err += o.send_err;
        self.recv += o.recv;
        self.bad += o.bad;
        self.out_of_order += o.out_of_order;
        for (a, b) in self.rtt.iter_mut().zip(o.rtt.iter()) {
            *a += b;
        }
        self.calls_with_loss += o.calls_with_loss;
        self.max_loss_one_call = self.max_loss_one_call.max(o.max_loss_one_call);
        for w in o.worst {
            keep_worst(&mut self.worst, w);
        }
        self.late_ticks += o.late_ticks;
        self.max_tick_late_us = self.max_tick_late_us.max(o.max_tick_late_us);
        self.resyncs += o.resyncs;
        self.ticks += o.ticks;
        self.busy += o.busy;
        self
    }
}

/// The pacing threads; call `i` goes to thread `i % n`.
struct Gen {
    txs: Vec<mpsc::Sender<MediaCmd>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Gen {
    fn start(n: usize) -> Result<Gen, String> {
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        for k in 0..n.max(1) {
            let (tx, rx) = mpsc::channel();
            let h = std::thread::Builder::new()
                .name(format!("rtp-gen-{k}"))
                .spawn(move || media_thread(rx))
                .map_err(|e| e.to_string())?;
            txs.push(tx);
            handles.push(h);
        }
        Ok(Gen { txs, handles })
    }

    fn add(&self, c: MediaCall) {
        let k = c.id % self.txs.len();
        let _ = self.txs[k].send(MediaCmd::Add(Box::new(c)));
    }

    fn stop_sending(&self) {
        for t in &self.txs {
            let _ = t.send(MediaCmd::StopSending);
        }
    }

    fn collect(&self, finish: bool) -> Option<MediaTotals> {
        let mut rxs = Vec::new();
        for t in &self.txs {
            let (tx, rx) = mpsc::channel();
            let cmd = if finish {
                MediaCmd::Finish(tx)
            } else {
                MediaCmd::Snapshot(tx)
            };
            let _ = t.send(cmd);
            rxs.push(rx);
        }
        let mut tot = MediaTotals::default();
        for rx in rxs {
            tot = tot.merge(&rx.recv_timeout(Duration::from_secs(2)).ok()?);
        }
        Some(tot)
    }

    fn finish(self) -> Option<MediaTotals> {
        let t = self.collect(true);
        for h in self.handles {
            let _ = h.join();
        }
        t
    }
}

fn media_thread(rx: mpsc::Receiver<MediaCmd>) {
    let epoch = Instant::now();
    let mut calls: Vec<MediaCall> = Vec::new();
    let mut pkt = [0xFFu8; 12 + PAYLOAD];
    let mut buf = [0u8; 2048];
    let mut tot = MediaTotals::default();
    let mut k: u64 = 0;
    let mut next = Instant::now();
    let totals = |calls: &Vec<MediaCall>, base: &MediaTotals| {
        let mut t = *base;
        t.calls = calls.len();
        for c in calls {
            t.sent += c.sent;
            t.send_err += c.send_err;
            t.recv += c.recv;
            t.bad += c.bad;
            t.out_of_order += c.out_of_order;
            for (a, b) in t.rtt.iter_mut().zip(c.rtt.iter()) {
                *a += b;
            }
            let loss = c.sent.saturating_sub(c.recv);
            if loss > 0 {
                t.calls_with_loss += 1;
                t.max_loss_one_call = t.max_loss_one_call.max(loss);
                keep_worst(
                    &mut t.worst,
                    CallLoss {
                        id: c.id,
                        sent: c.sent,
                        recv: c.recv,
                        last_rx: c.max_rx_seq,
                        holes: c.holes,
                    },
                );
            }
        }
        t
    };
    loop {
        loop {
            match rx.try_recv() {
                Ok(MediaCmd::Add(c)) => calls.push(*c),
                Ok(MediaCmd::StopSending) => calls.iter_mut().for_each(|c| c.sending = false),
                Ok(MediaCmd::Snapshot(reply)) => {
                    let _ = reply.send(totals(&calls, &tot));
                }
                Ok(MediaCmd::Finish(reply)) => {
                    // A last drain of every socket, then report.
                    let now_us = epoch.elapsed().as_micros() as u32;
                    for c in calls.iter_mut() {
                        drain(c, &mut buf, now_us);
                    }
                    let _ = reply.send(totals(&calls, &tot));
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let woke = Instant::now();
        let late = woke.saturating_duration_since(next);
        if late > Duration::from_millis(2) {
            tot.late_ticks += 1;
        }
        tot.max_tick_late_us = tot.max_tick_late_us.max(late.as_micros() as u64);
        tot.ticks += 1;
        let slot = (k % SUBTICKS) as usize;
        let drain_slot = ((k + SUBTICKS / 2) % SUBTICKS) as usize;
        let now_us = epoch.elapsed().as_micros() as u32;
        for c in calls.iter_mut() {
            let s = c.id % SUBTICKS as usize;
            if s == slot && c.sending {
                pkt[0] = 0x80;
                pkt[1] = if c.sent == 0 { 0x80 } else { 0x00 }; // PT 0 (PCMU), marker on the first
                pkt[2..4].copy_from_slice(&c.seq.to_be_bytes());
                pkt[4..8].copy_from_slice(&c.ts.to_be_bytes());
                pkt[8..12].copy_from_slice(&c.ssrc.to_be_bytes());
                // The payload carries our own sequence and send time through echo or bridge.
                write_stamp(&mut pkt[12..], c.sent as u32, now_us);
                match c.sock.send(&pkt) {
                    Ok(_) => c.sent += 1,
                    Err(_) => c.send_err += 1,
                }
                c.seq = c.seq.wrapping_add(1);
                c.ts = c.ts.wrapping_add(PAYLOAD as u32);
            }
            if s == drain_slot {
                drain(c, &mut buf, now_us);
            }
        }
        tot.busy += woke.elapsed();
        k += 1;
        next += SUBTICK;
        if woke.saturating_duration_since(next) > Duration::from_millis(100) {
            next = woke;
            tot.resyncs += 1;
        }
    }
}

fn drain(c: &mut MediaCall, buf: &mut [u8], now_us: u32) {
    for _ in 0..32 {
        match c.sock.recv(buf) {
            Ok(n) => {
                let Ok(r) = rtp_rs::RtpReader::new(&buf[..n]) else {
                    c.bad += 1;
                    continue;
                };
                let p = r.payload();
                if p.len() != PAYLOAD || r.payload_type() != 0 {
                    c.bad += 1;
                    continue;
                }
                let Some((our_seq, sent_us)) = read_stamp(p) else {
                    c.bad += 1;
                    continue;
                };
                c.recv += 1;
                match c.max_rx_seq {
                    Some(m) if our_seq <= m => c.out_of_order += 1,
                    prev => {
                        let expected = prev.map_or(0, |m| m + 1);
                        if prev.is_none() {
                            c.holes.first_rx = Some(our_seq);
                        }
                        if our_seq > expected {
                            let gap = (expected, our_seq - expected);
                            c.holes.gaps += 1;
                            c.holes.first_gap.get_or_insert(gap);
                            if c.holes.largest_gap.is_none_or(|g| gap.1 > g.1) {
                                c.holes.largest_gap = Some(gap);
                            }
                        }
                        c.max_rx_seq = Some(our_seq);
                    }
                }
                let rtt_ms = u64::from(now_us.wrapping_sub(sent_us)) / 1000;
                let b = RTT_EDGES_MS
                    .iter()
                    .position(|&e| rtt_ms <= e)
                    .unwrap_or(RTT_EDGES_MS.len());
                c.rtt[b] += 1;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                // ICMP port unreachable after the switch closed the leg, and the like.
                c.bad += 1;
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SIP (one UDP socket, dialogs keyed by Call-ID)

struct Msg<'a> {
    start: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a str,
}

impl<'a> Msg<'a> {
    fn parse(text: &'a str) -> Msg<'a> {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim(), v.trim()))
            .collect();
        Msg {
            start,
            headers,
            body,
        }
    }
    fn status(&self) -> Option<u16> {
        self.start
            .strip_prefix("SIP/2.0 ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
    fn call_id(&self) -> Option<&'a str> {
        self.header("Call-ID").or_else(|| self.header("i"))
    }
    fn cseq_method(&self) -> Option<&'a str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }
    fn to_tag(&self) -> Option<String> {
        self.header("To")
            .or_else(|| self.header("t"))?
            .split(';')
            .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_string))
    }
    fn sdp_media_addr(&self) -> Option<SocketAddr> {
        let ip = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))?
            .trim();
        let port = self
            .body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split_whitespace()
            .next()?;
        format!("{ip}:{port}").parse().ok()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Inviting,
    Established,
    /// Final non-2xx status, or 0 for no final answer in time, or 1 for an unusable SDP.
    Failed(u16),
    ByeSent,
    Closed,
}

struct Dialog {
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    invite: String,
    invite_branch: String,
    st: St,
    provisional: bool,
    last_tx: Instant,
    tries: u32,
    bye: String,
    bye_status: Option<u16>,
    remote_bye: bool,
    rtp: Option<StdUdpSocket>,
    answered_at: Option<Instant>,
    invited_at: Instant,
}

struct Sip {
    sock: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    number: String,
    dialogs: Vec<Dialog>,
    by_cid: HashMap<String, usize>,
    media: Gen,
    branch_seq: u64,
    next_rtp_port: u16,
    last_retx_check: Instant,
    retransmits: u64,
    stray: u64,
    /// Requests the switch sent to the callers, by method (each answered 200 without a body).
    requests: HashMap<String, u64>,
    setup_ms: Vec<u64>,
}

impl Sip {
    fn branch(&mut self) -> String {
        self.branch_seq += 1;
        format!("z9hG4bK-soak-{}-{}", std::process::id(), self.branch_seq)
    }

    fn bind_rtp(&mut self) -> Result<StdUdpSocket, String> {
        for _ in 0..20000 {
            let port = self.next_rtp_port;
            self.next_rtp_port = if port >= 39999 { 10000 } else { port + 1 };
            if let Ok(s) = StdUdpSocket::bind(("127.0.0.1", port)) {
                s.set_nonblocking(true).map_err(|e| e.to_string())?;
                return Ok(s);
            }
        }
        Err("no free local RTP port".into())
    }

    async fn send(&self, text: &str) {
        // A full socket buffer on loopback is a local problem; retransmission covers it.
        let _ = self.sock.send_to(text.as_bytes(), self.server).await;
    }

    async fn invite(&mut self) -> Result<(), String> {
        let rtp = self.bind_rtp()?;
        let rtp_port = rtp.local_addr().unwrap().port();
        let n: u64 = rand::random();
        let call_id = format!("soak-{n:016x}@127.0.0.1");
        let from_tag = format!("st{n:x}");
        let branch = self.branch();
        let sdp = format!(
            "v=0\r\no=soak 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let text = format!(
            "INVITE sip:{num}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Soak\" <sip:79161234567@127.0.0.1>;tag={from_tag}\r\nTo: <sip:{num}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:79161234567@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            num = self.number,
            srv = self.server,
            local = self.local,
            len = sdp.len(),
        );
        self.send(&text).await;
        let now = Instant::now();
        self.by_cid.insert(call_id.clone(), self.dialogs.len());
        self.dialogs.push(Dialog {
            call_id,
            from_tag,
            to_tag: None,
            invite: text,
            invite_branch: branch,
            st: St::Inviting,
            provisional: false,
            last_tx: now,
            tries: 0,
            bye: String::new(),
            bye_status: None,
            remote_bye: false,
            rtp: Some(rtp),
            answered_at: None,
            invited_at: now,
        });
        Ok(())
    }

    fn in_dialog(&self, i: usize, method: &str, cseq: u32, branch: &str) -> String {
        let d = &self.dialogs[i];
        let to = match &d.to_tag {
            Some(t) => format!("<sip:{}@127.0.0.1>;tag={t}", self.number),
            None => format!("<sip:{}@127.0.0.1>", self.number),
        };
        format!(
            "{method} sip:{num}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: \"Soak\" <sip:79161234567@127.0.0.1>;tag={ft}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            num = self.number,
            srv = self.server,
            local = self.local,
            ft = d.from_tag,
            cid = d.call_id,
        )
    }

    async fn bye(&mut self, i: usize) {
        let br = self.branch();
        let text = self.in_dialog(i, "BYE", 2, &br);
        self.send(&text).await;
        let d = &mut self.dialogs[i];
        d.bye = text;
        d.st = St::ByeSent;
        d.last_tx = Instant::now();
        d.tries = 0;
    }

    async fn handle(&mut self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let m = Msg::parse(&text);
        let Some(&i) = m.call_id().and_then(|c| self.by_cid.get(c)) else {
            self.stray += 1;
            return;
        };
        match m.status() {
            None => {
                // A request from the switch: answer 200 (BYE ends the dialog from its side).
                let method = m.start.split_whitespace().next().unwrap_or("");
                *self.requests.entry(method.to_string()).or_default() += 1;
                if method == "ACK" {
                    return;
                }
                let mut t = String::from("SIP/2.0 200 OK\r\n");
                for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                    for (n, v) in &m.headers {
                        if n.eq_ignore_ascii_case(name) {
                            t.push_str(&format!("{name}: {v}\r\n"));
                        }
                    }
                }
                t.push_str("Content-Length: 0\r\n\r\n");
                self.send(&t).await;
                if method == "BYE" {
                    let d = &mut self.dialogs[i];
                    d.remote_bye = true;
                    d.st = St::Closed;
                }
            }
            Some(code) => match m.cseq_method() {
                Some("INVITE") => self.on_invite_response(i, code, &m).await,
                Some("BYE") if code >= 200 => {
                    let d = &mut self.dialogs[i];
                    d.bye_status = Some(code);
                    d.st = St::Closed;
                }
                _ => {}
            },
        }
    }

    async fn on_invite_response(&mut self, i: usize, code: u16, m: &Msg<'_>) {
        if code < 200 {
            self.dialogs[i].provisional = true;
            return;
        }
        if self.dialogs[i].to_tag.is_none() {
            self.dialogs[i].to_tag = m.to_tag();
        }
        if code >= 300 {
            // ACK for a non-2xx final: the INVITE's branch.
            let br = self.dialogs[i].invite_branch.clone();
            let ack = self.in_dialog(i, "ACK", 1, &br);
            self.send(&ack).await;
            if self.dialogs[i].st == St::Inviting {
                self.dialogs[i].st = St::Failed(code);
            }
            return;
        }
        // 2xx (first or retransmitted): always ACK.
        let br = self.branch();
        let ack = self.in_dialog(i, "ACK", 1, &br);
        self.send(&ack).await;
        match self.dialogs[i].st {
            St::Inviting => {
                let remote = m.sdp_media_addr();
                let d = &mut self.dialogs[i];
                let now = Instant::now();
                d.answered_at = Some(now);
                self.setup_ms
                    .push(now.duration_since(d.invited_at).as_millis() as u64);
                match (remote, d.rtp.take()) {
                    (Some(remote), Some(sock)) if sock.connect(remote).is_ok() => {
                        d.st = St::Established;
                        let call = MediaCall {
                            id: i,
                            sock,
                            ssrc: rand::random(),
                            seq: rand::random(),
                            ts: rand::random(),
                            sending: true,
                            sent: 0,
                            send_err: 0,
                            recv: 0,
                            bad: 0,
                            out_of_order: 0,
                            max_rx_seq: None,
                            rtt: [0; 6],
                            holes: Holes::default(),
                        };
                        self.media.add(call);
                    }
                    _ => {
                        d.st = St::Failed(1);
                        self.bye(i).await;
                    }
                }
            }
            St::Failed(0) => {
                // Answered after we gave up on it: end it.
                self.bye(i).await;
            }
            _ => {}
        }
    }

    /// INVITE (until a provisional) and BYE retransmissions: 0.5, 1, 2, 4 s apart.
    async fn retransmit(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_retx_check) < Duration::from_millis(100) {
            return;
        }
        self.last_retx_check = now;
        let mut resend = Vec::new();
        for (i, d) in self.dialogs.iter_mut().enumerate() {
            let due = (d.st == St::Inviting && !d.provisional) || d.st == St::ByeSent;
            if due
                && d.tries < 4
                && now.duration_since(d.last_tx) >= Duration::from_millis(500 << d.tries)
            {
                d.tries += 1;
                d.last_tx = now;
                resend.push(i);
            }
        }
        for i in resend {
            let d = &self.dialogs[i];
            let text = if d.st == St::Inviting {
                d.invite.clone()
            } else {
                d.bye.clone()
            };
            self.retransmits += 1;
            self.send(&text).await;
        }
    }

    /// Receives and handles SIP for up to `dur`.
    async fn pump(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, self.sock.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => {
                    let data = buf[..n].to_vec();
                    self.handle(&data).await;
                }
                Ok(Err(_)) => {}
                Err(_) => break,
            }
        }
        self.retransmit().await;
    }

    fn count(&self, f: impl Fn(&Dialog) -> bool) -> usize {
        self.dialogs.iter().filter(|d| f(d)).count()
    }
}

// ---------------------------------------------------------------------------------------------
// The run

fn pct(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b * 100.0
    } else {
        0.0
    }
}

fn percentile(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx]
}

async fn media(a: MediaArgs) -> Result<(), String> {
    let run_start = Instant::now();
    let ramp_secs = a.calls as f64 / a.ramp_per_sec.max(1.0);
    let bridged = a.mode == Mode::Bridged;
    let slack = if bridged { 40.0 } else { 30.0 };
    let budget = Duration::from_secs_f64(ramp_secs + a.hold_secs as f64 + slack);
    let tck = clk_tck();
    let number = a.number();

    // The agent first: a busy agent address fails the run before a switch is started.
    let mut agent = if bridged {
        let log = a.agent_log.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "vpbx-soak-agent-{}-{:08x}.log",
                std::process::id(),
                rand::random::<u32>()
            ))
        });
        let ag = agent::Agent::start(agent::AgentCfg {
            addr: a.agent_addr,
            codec: a.agent_codec,
            rtp_base: a.agent_rtp_base,
            trace_calls: a.agent_trace_calls,
            log,
        })?;
        eprintln!(
            "agent: sip:agent@{} answers {}, echoes RTP; log {}",
            ag.addr,
            a.agent_codec.name(),
            ag.log.display()
        );
        if a.attach_sip.is_some() {
            eprintln!(
                "agent: the attached switch must route {number} to a forward to sip:agent@{}",
                a.agent_addr
            );
        }
        Some(ag)
    } else {
        None
    };

    let mut switch = match (a.attach_sip, a.attach_http) {
        (Some(sip), Some(http)) => Switch {
            child: None,
            pid: a.attach_pid,
            sip,
            http,
            dir: None,
            log: None,
        },
        _ => Switch::start(&a)?,
    };
    // Watchdog: the whole run is bounded even if something below hangs.
    {
        let started = switch.child.is_some();
        let pid = switch.pid;
        std::thread::spawn(move || {
            std::thread::sleep(budget);
            eprintln!(
                "vpbx-soak: watchdog: run exceeded {:.0} s, aborting",
                budget.as_secs_f64()
            );
            if let (true, Some(pid)) = (started, pid) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            std::process::exit(3);
        });
    }
    let pid = switch.pid_str();
    eprintln!(
        "switch: sip {} http {} pid {}",
        switch.sip,
        switch.http,
        pid.as_deref().unwrap_or("?")
    );

    // 1. Wait for /health.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if active_calls(switch.http).await.is_some() {
            break;
        }
        if let Some(c) = switch.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                return Err(format!(
                    "switch exited during start ({st}):\n{}",
                    switch.log_tail(20)
                ));
            }
        }
        if Instant::now() >= deadline {
            let tail = switch.log_tail(20);
            switch.stop();
            return Err(format!("switch /health not up within 10 s:\n{tail}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the start settle (prompt warm-up etc.) before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 2. Baseline.
    let base_proc = pid.as_deref().and_then(proc_sample);
    let base_ctr = rtp_counters(switch.http).await?;
    let self_base = proc_sample("self");

    // 3. Ramp.
    let gen_threads = Gen::start(a.gen_threads)?;
    let sip_sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let local = sip_sock.local_addr().map_err(|e| e.to_string())?;
    let mut sip = Sip {
        sock: sip_sock,
        local,
        server: switch.sip,
        number: number.clone(),
        dialogs: Vec::with_capacity(a.calls),
        by_cid: HashMap::with_capacity(a.calls),
        media: gen_threads,
        branch_seq: 0,
        next_rtp_port: a.local_rtp_base,
        last_retx_check: Instant::now(),
        retransmits: 0,
        stray: 0,
        requests: HashMap::new(),
        setup_ms: Vec::with_capacity(a.calls),
    };
    eprintln!(
        "ramp: {} {} calls at {}/s to {}",
        a.calls,
        a.mode.name(),
        a.ramp_per_sec,
        number
    );
    let ramp_start = Instant::now();
    while sip.dialogs.len() < a.calls {
        let due = ((ramp_start.elapsed().as_secs_f64() * a.ramp_per_sec) as usize + 1).min(a.calls);
        while sip.dialogs.len() < due {
            sip.invite().await?;
        }
        sip.pump(Duration::from_millis(2)).await;
    }
    let settle_deadline = Instant::now() + Duration::from_secs(3);
    while sip.count(|d| d.st == St::Inviting) > 0 && Instant::now() < settle_deadline {
        sip.pump(Duration::from_millis(20)).await;
    }
    for d in sip.dialogs.iter_mut() {
        if d.st == St::Inviting {
            d.st = St::Failed(0);
        }
    }
    let ramp_elapsed = ramp_start.elapsed().as_secs_f64();
    let established = sip.count(|d| d.st == St::Established);
    let mut failures: HashMap<String, usize> = HashMap::new();
    for d in &sip.dialogs {
        if let St::Failed(c) = d.st {
            let k = match c {
                0 => "timeout".to_string(),
                1 => "bad_sdp".to_string(),
                c => c.to_string(),
            };
            *failures.entry(k).or_default() += 1;
        }
    }
    eprintln!(
        "established {established}/{} in {ramp_elapsed:.1} s; failures {failures:?}",
        a.calls
    );

    // 4. Hold. A second for the last calls' media to start, then the measured window.
    sip.pump(Duration::from_secs(1)).await;
    let health_hold = active_calls(switch.http).await;
    let hold_ctr0 = rtp_counters(switch.http).await?;
    let hold_p0 = pid.as_deref().and_then(proc_sample);
    let self_p0 = proc_sample("self");
    let agent_path = agent.as_ref().and_then(|ag| ag.stats.proc_path());
    let agent_p0 = agent_path.as_deref().and_then(proc_sample);
    let mach0 = machine_jiffies();
    let load0 = loadavg();
    let gen0 = sip.media.collect(false).unwrap_or_default();
    eprintln!(
        "hold: {} s (switch reports {} active calls)",
        a.hold_secs,
        health_hold.map_or("?".into(), |v| v.to_string())
    );
    let hold_end = Instant::now() + Duration::from_secs(a.hold_secs);
    while Instant::now() < hold_end {
        let left = hold_end.saturating_duration_since(Instant::now());
        sip.pump(left.min(Duration::from_millis(200))).await;
    }
    let hold_p1 = pid.as_deref().and_then(proc_sample);
    let self_p1 = proc_sample("self");
    let agent_p1 = agent_path.as_deref().and_then(proc_sample);
    let mach1 = machine_jiffies();
    let load1 = loadavg();
    let hold_ctr1 = rtp_counters(switch.http).await?;
    let gen1 = sip.media.collect(false).unwrap_or_default();

    // 5. Stop sending, let in-flight echoes land, count.
    sip.media.stop_sending();
    sip.pump(Duration::from_millis(300)).await;
    let gen = std::mem::replace(
        &mut sip.media,
        Gen {
            txs: Vec::new(),
            handles: Vec::new(),
        },
    )
    .finish()
    .ok_or("RTP generator did not report")?;
    let drained_ctr = rtp_counters(switch.http).await?;

    // 6. Hang up: BYE at twice the ramp rate, then wait for the 200s.
    let to_bye: Vec<usize> = (0..sip.dialogs.len())
        .filter(|&i| sip.dialogs[i].st == St::Established)
        .collect();
    let bye_rate = a.ramp_per_sec * 2.0;
    let bye_start = Instant::now();
    let mut sent_byes = 0;
    while sent_byes < to_bye.len() {
        let due = ((bye_start.elapsed().as_secs_f64() * bye_rate) as usize + 1).min(to_bye.len());
        while sent_byes < due {
            sip.bye(to_bye[sent_byes]).await;
            sent_byes += 1;
        }
        sip.pump(Duration::from_millis(2)).await;
    }
    let bye_deadline = Instant::now() + Duration::from_secs(3);
    while sip.count(|d| d.st == St::ByeSent) > 0 && Instant::now() < bye_deadline {
        sip.pump(Duration::from_millis(20)).await;
    }
    let bye_ok = sip.count(|d| d.bye_status == Some(200));
    let bye_unanswered = sip.count(|d| d.st == St::ByeSent);
    let remote_byes = sip.count(|d| d.remote_bye);
    // Bridged: the caller's BYE makes the switch hang up the agent's leg too.
    if let Some(ag) = &agent {
        let deadline = Instant::now() + Duration::from_secs(3);
        while ag.stats.active() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let health_deadline = Instant::now() + Duration::from_secs(3);
    let mut active_after = active_calls(switch.http).await;
    while active_after != Some(0) && Instant::now() < health_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        active_after = active_calls(switch.http).await;
    }
    let final_proc = pid.as_deref().and_then(proc_sample);
    let stop_status = switch.stop();
    // Keep the switch's log when a call failed or lost audio.
    switch.cleanup(a.keep_data || established < a.calls || gen.calls_with_loss > 0);
    let agent_json = agent.as_mut().map(|ag| {
        ag.stop();
        let failed = established < a.calls || ag.stats.active() > 0;
        if a.keep_data || failed || a.agent_log.is_some() {
            eprintln!("agent log (SIP trace): {}", ag.log.display());
        } else {
            let _ = std::fs::remove_file(&ag.log);
        }
        let mut j = ag.stats.json();
        j["log"] = json!(ag.log.display().to_string());
        j["codec"] = json!(a.agent_codec.name());
        j["addr"] = json!(a.agent_addr.to_string());
        j
    });
    let agent_byes = agent
        .as_ref()
        .map(|ag| ag.stats.byes.load(std::sync::atomic::Ordering::Relaxed));
    let agent_open_after = agent.as_ref().map(|ag| ag.stats.active());
    let total_secs = run_start.elapsed().as_secs_f64();

    // 7. Figures.
    let legs_per_call = a.mode.legs_per_call();
    let media_legs = established * legs_per_call;
    let legs = media_legs as f64;
    let media_ctr = drained_ctr.delta(&base_ctr);
    let hold_ctr = hold_ctr1.delta(&hold_ctr0);
    let (sw_lost_pct, sw_late_pct) = media_ctr.pcts();
    let sw_lost_late = sw_lost_pct + sw_late_pct;
    let (hold_lost_pct, hold_late_pct) = hold_ctr.pcts();

    let (sw_cpu, rss_growth_kb, per_leg_kb, us_per_pkt) = match (&base_proc, &hold_p0, &hold_p1) {
        (Some(b), Some(p0), Some(p1)) => {
            let cpu = cpu_pct(p0, p1, tck);
            let growth = p1.rss_kb as i64 - b.rss_kb as i64;
            let per_leg = if legs > 0.0 {
                growth as f64 / legs
            } else {
                0.0
            };
            let cpu_s = p1.ticks.saturating_sub(p0.ticks) as f64 / tck;
            let pkts = hold_ctr.received + hold_ctr.sent;
            let us = if pkts > 0.0 { cpu_s / pkts * 1e6 } else { 0.0 };
            (Some(cpu), Some(growth), Some(per_leg), Some(us))
        }
        _ => (None, None, None, None),
    };
    let gen_cpu = match (&self_p0, &self_p1) {
        (Some(a0), Some(a1)) => Some(cpu_pct(a0, a1, tck)),
        _ => None,
    };
    // The agent runs in this process: its thread's share of the generator's CPU.
    let agent_cpu = match (&agent_p0, &agent_p1) {
        (Some(a0), Some(a1)) => Some(cpu_pct(a0, a1, tck)),
        _ => None,
    };
    let gen_cpu_ramp = match (&self_base, &self_p0) {
        (Some(a0), Some(a1)) => Some(cpu_pct(a0, a1, tck)),
        _ => None,
    };
    let hold_wall = match (&self_p0, &self_p1) {
        (Some(a0), Some(a1)) => a1.at.duration_since(a0.at).as_secs_f64(),
        _ => a.hold_secs as f64,
    };
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Machine busy over the hold, in percent of one core (so it adds up with the processes').
    let machine_cpu = match (mach0, mach1) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0 * ncpu as f64)
        }
        _ => None,
    };
    let other_cpu = match (machine_cpu, sw_cpu, gen_cpu) {
        (Some(m), Some(s), Some(g)) => Some((m - s - g).max(0.0)),
        _ => None,
    };
    let gen_hold_sent = gen1.sent - gen0.sent;
    let gen_hold_recv = gen1.recv - gen0.recv;
    let gen_busy_pct = pct(
        (gen1.busy.saturating_sub(gen0.busy)).as_secs_f64(),
        hold_wall,
    );
    let expected_hold_pkts = established as f64 * hold_wall * 50.0;
    let gen_loss = gen.sent.saturating_sub(gen.recv);
    let gen_loss_pct = pct(gen_loss as f64, gen.sent as f64);
    let gen_ooo_pct = pct(gen.out_of_order as f64, gen.recv as f64);
    let rtt_total: u64 = gen.rtt.iter().sum();
    let rtt_pcts: Vec<f64> = gen
        .rtt
        .iter()
        .map(|&b| pct(b as f64, rtt_total as f64))
        .collect();
    let mut setup = sip.setup_ms.clone();
    let setup_p50 = percentile(&mut setup, 0.5);
    let setup_p99 = percentile(&mut setup, 0.99);
    let setup_max = setup.iter().copied().max().unwrap_or(0);

    // The figures only mean something if the generator kept its 50 packets/s per call.
    let gen_pace_pct = pct(gen_hold_sent as f64, expected_hold_pkts);
    let gen_kept_pace = gen_pace_pct >= 98.0;
    let pass_legs = media_legs >= a.target_legs;
    let pass_loss = sw_lost_late < a.target_loss_pct && media_ctr.received > 0.0;
    let pass_mem = per_leg_kb.is_some_and(|k| k <= a.target_kb_per_leg);
    let verdict = |b: bool| if b { "PASS" } else { "FAIL" };

    let summary = json!({
        "test": format!("media-{}", a.mode.name()),
        "mode": a.mode.name(),
        "number": number,
        "calls_requested": a.calls,
        "ramp_per_sec": a.ramp_per_sec,
        "hold_secs": a.hold_secs,
        "gen_threads": a.gen_threads,
        "setsid": a.setsid,
        "calls_established": established,
        "legs_per_call": legs_per_call,
        "media_legs": media_legs,
        "call_failures": failures,
        "ramp_secs": ramp_elapsed,
        "setup_ms": {"p50": setup_p50, "p99": setup_p99, "max": setup_max},
        "sip_retransmits": sip.retransmits,
        "active_calls_during_hold": health_hold,
        "switch": {
            "pid": switch.pid,
            "cpu_pct_hold": sw_cpu,
            "cpu_pct_per_leg": sw_cpu.map(|c| if legs > 0.0 { c / legs } else { 0.0 }),
            "cpu_us_per_packet": us_per_pkt,
            "rss_kb_baseline": base_proc.map(|p| p.rss_kb),
            "rss_kb_hold_start": hold_p0.map(|p| p.rss_kb),
            "rss_kb_hold_end": hold_p1.map(|p| p.rss_kb),
            "rss_kb_after_hangup": final_proc.map(|p| p.rss_kb),
            "rss_kb_peak": final_proc.or(hold_p1).map(|p| p.hwm_kb),
            "rss_growth_kb": rss_growth_kb,
            "rss_growth_kb_per_leg": per_leg_kb,
            "counters_run": media_ctr.json(),
            "counters_hold": hold_ctr.json(),
            "exit": stop_status,
        },
        "generator": {
            "packets_sent": gen.sent,
            "send_errors": gen.send_err,
            "echoes_received": gen.recv,
            "switch_rx_per_packet_sent": if gen.sent > 0 { media_ctr.received / gen.sent as f64 } else { 0.0 },
            "bad_or_icmp": gen.bad,
            "lost": gen_loss,
            "lost_pct": gen_loss_pct,
            "out_of_order": gen.out_of_order,
            "out_of_order_pct": gen_ooo_pct,
            "calls_with_loss": gen.calls_with_loss,
            "max_loss_one_call": gen.max_loss_one_call,
            "worst_calls": gen
                .worst
                .iter()
                .filter(|w| w.loss() > 0)
                .map(|w| w.json(sip.dialogs.get(w.id).map(|d| d.call_id.as_str())))
                .collect::<Vec<_>>(),
            "hold_packets_sent": gen_hold_sent,
            "hold_packets_expected": expected_hold_pkts,
            "hold_echoes_received": gen_hold_recv,
            "pace_pct": gen_pace_pct,
            "kept_pace": gen_kept_pace,
            "rtt_ms_buckets_le": [15, 35, 55, 115, 215, "inf"],
            "rtt_pct": rtt_pcts,
            "cpu_pct_hold": gen_cpu,
            "agent_thread_cpu_pct_hold": agent_cpu,
            "cpu_pct_ramp": gen_cpu_ramp,
            "pacing_thread_busy_pct": gen_busy_pct,
            "late_subticks": gen.late_ticks,
            "max_subtick_late_us": gen.max_tick_late_us,
            "subticks": gen.ticks,
            "resyncs": gen.resyncs,
        },
        "teardown": {
            "byes_sent": sent_byes,
            "bye_200": bye_ok,
            "bye_unanswered": bye_unanswered,
            "switch_byes": remote_byes,
            "requests_from_switch": sip.requests,
            "stray_sip": sip.stray,
            "active_calls_after": active_after,
            "agent_byes_from_switch": agent_byes,
            "agent_dialogs_open_after": agent_open_after,
        },
        "agent": agent_json,
        "targets": {
            "legs": {"target": a.target_legs, "value": media_legs, "result": verdict(pass_legs)},
            "lost_late_pct_switch": {"target": a.target_loss_pct, "value": sw_lost_late, "result": verdict(pass_loss)},
            "rss_kb_per_leg": {"target": a.target_kb_per_leg, "value": per_leg_kb, "result": verdict(pass_mem)},
        },
        "machine": {
            "cpus": ncpu,
            "cpu_pct_hold": machine_cpu,
            "other_processes_cpu_pct_hold": other_cpu,
            "loadavg_hold_start": load0,
            "loadavg_hold_end": load1,
        },
        "total_secs": total_secs,
    });
    println!("SUMMARY {summary}");

    let f1 = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.1}"));
    let f3 = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    println!();
    println!(
        "media {}: {} calls requested at {}/s, hold {} s (run {:.1} s)",
        a.mode.name(),
        a.calls,
        a.ramp_per_sec,
        a.hold_secs,
        total_secs
    );
    println!("  {:<40} {}", "calls established", established);
    println!(
        "  {:<40} {} ({} per call)",
        "media legs in the switch", media_legs, legs_per_call
    );
    println!("  {:<40} {:?}", "call failures", failures);
    println!(
        "  {:<40} p50 {} / p99 {} / max {}",
        "call setup (INVITE→200), ms", setup_p50, setup_p99, setup_max
    );
    println!(
        "  {:<40} {}",
        "switch active_calls during hold",
        health_hold.map_or("?".into(), |v| v.to_string())
    );
    println!("  {:<40} {}", "switch CPU % (one core), hold", f1(sw_cpu));
    println!(
        "  {:<40} {}",
        "switch CPU % per leg",
        f3(sw_cpu.map(|c| if legs > 0.0 { c / legs } else { 0.0 }))
    );
    println!(
        "  {:<40} {}",
        "switch CPU µs per RTP packet (rx+tx)",
        f1(us_per_pkt)
    );
    println!(
        "  {:<40} {} → {} (peak {})",
        "switch RSS KB baseline → hold end",
        base_proc.map_or("n/a".into(), |p| p.rss_kb.to_string()),
        hold_p1.map_or("n/a".into(), |p| p.rss_kb.to_string()),
        final_proc
            .or(hold_p1)
            .map_or("n/a".into(), |p| p.hwm_kb.to_string()),
    );
    println!(
        "  {:<40} {}",
        "switch RSS growth KB per leg",
        f1(per_leg_kb)
    );
    println!(
        "  {:<40} rx {} tx {} lost {} late {} → lost {:.4} % late {:.4} %",
        "switch counters, whole run",
        media_ctr.received,
        media_ctr.sent,
        media_ctr.lost,
        media_ctr.late,
        sw_lost_pct,
        sw_late_pct
    );
    println!(
        "  {:<40} rx {} tx {} lost {} late {} → lost {:.4} % late {:.4} %",
        "switch counters, hold window",
        hold_ctr.received,
        hold_ctr.sent,
        hold_ctr.lost,
        hold_ctr.late,
        hold_lost_pct,
        hold_late_pct
    );
    println!(
        "  {:<40} sent {} (errors {}) back {} lost {} ({:.4} %) out-of-order {} ({:.4} %)",
        "caller (generator) packets",
        gen.sent,
        gen.send_err,
        gen.recv,
        gen_loss,
        gen_loss_pct,
        gen.out_of_order,
        gen_ooo_pct
    );
    for w in gen.worst.iter().filter(|w| w.loss() > 0) {
        println!(
            "    call #{} lost {} of {}: first back seq {:?}, last back seq {:?}, {} gaps, largest {:?} (seq, packets)",
            w.id,
            w.loss(),
            w.sent,
            w.holes.first_rx,
            w.last_rx,
            w.holes.gaps,
            w.holes.largest_gap
        );
    }
    println!(
        "  {:<40} {:.0} sent / {:.0} expected ({:.1} %); {} back",
        "caller hold-window packets",
        gen_hold_sent as f64,
        expected_hold_pkts,
        gen_pace_pct,
        gen_hold_recv
    );
    if !gen_kept_pace {
        println!(
            "  WARNING: the generator sent only {gen_pace_pct:.1} % of 50 packets/s per call during the hold \
             (CPU contention?): the load was lower than nominal and the figures understate it"
        );
    }
    println!(
        "  {:<40} ≤15 {:.2}% ≤35 {:.2}% ≤55 {:.2}% ≤115 {:.2}% ≤215 {:.2}% more {:.2}%",
        "echo RTT (drain-quantized), ms",
        rtt_pcts[0],
        rtt_pcts[1],
        rtt_pcts[2],
        rtt_pcts[3],
        rtt_pcts[4],
        rtt_pcts[5]
    );
    if bridged {
        println!(
            "  {:<40} {} (of which the agent thread {})",
            "generator + agent CPU % (one core), hold",
            f1(gen_cpu),
            f1(agent_cpu)
        );
    }
    println!(
        "  {:<40} {} (pacing thread busy {:.1} %, {} late sub-ticks, max {} µs late)",
        "generator CPU % (one core), hold",
        f1(gen_cpu),
        gen_busy_pct,
        gen.late_ticks,
        gen.max_tick_late_us
    );
    println!(
        "  {:<40} {} of {} (others {}); loadavg {} → {}",
        "machine CPU % (one core = 100), hold",
        f1(machine_cpu),
        ncpu * 100,
        f1(other_cpu),
        load0,
        load1
    );
    println!(
        "  {:<40} BYE sent {} / 200 OK {} / unanswered {}; active_calls after {}",
        "teardown",
        sent_byes,
        bye_ok,
        bye_unanswered,
        active_after.map_or("?".into(), |v| v.to_string())
    );
    if !sip.requests.is_empty() || sip.stray > 0 {
        println!(
            "  {:<40} {:?}; stray (unknown Call-ID) {}",
            "requests from the switch to callers", sip.requests, sip.stray
        );
    }
    if let Some(j) = &agent_json {
        println!(
            "  {:<40} INVITE {} → 200 {} / rejected {}; ACK {}; BYE from switch {}; open after {}",
            "agent SIP",
            j["invites"],
            j["answered_200"],
            j["rejected"],
            j["acks"],
            j["byes"],
            j["active_dialogs"]
        );
        println!(
            "  {:<40} INVITE {} / final response {} / ACK timeouts {}; other {} responses {} malformed {}",
            "agent retransmissions",
            j["invite_retransmits"],
            j["final_retransmits"],
            j["ack_timeouts"],
            j["other_requests"],
            j["responses_ignored"],
            j["malformed"]
        );
        println!(
            "  {:<40} in {} out {} (send errors {})",
            "agent RTP echoed", j["rtp_echoed_in"], j["rtp_echoed_out"], j["rtp_send_errors"]
        );
    }
    println!(
        "  {:<40} {}",
        "switch exit",
        stop_status.unwrap_or_else(|| "not started here".into())
    );
    println!(
        "  target legs ≥ {}: {} ({})",
        a.target_legs,
        verdict(pass_legs),
        media_legs
    );
    println!(
        "  target lost+late < {} % (switch counters): {} ({:.4} %)",
        a.target_loss_pct,
        verdict(pass_loss),
        sw_lost_late
    );
    println!(
        "  target RSS growth ≤ {} KB/leg: {} ({})",
        a.target_kb_per_leg,
        verdict(pass_mem),
        f1(per_leg_kb)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip() {
        let mut p = [0xFFu8; PAYLOAD];
        write_stamp(&mut p, 0xDEAD_BEEF, 0x0102_7F80);
        assert_eq!(read_stamp(&p), Some((0xDEAD_BEEF, 0x0102_7F80)));
        assert!(p[..STAMP_BITS]
            .iter()
            .all(|&b| b == STAMP_ONE || b == STAMP_ZERO));
        assert!(p[STAMP_BITS..].iter().all(|&b| b == 0xFF));
        // Silence or any other payload is not a stamp.
        assert_eq!(read_stamp(&[0xFF; PAYLOAD]), None);
        assert_eq!(read_stamp(&[0x7F; PAYLOAD]), None);
        assert_eq!(read_stamp(&p[..10]), None);
    }

    #[test]
    fn stamp_survives_sign_preserving_changes() {
        // What a bridge may do to a µ-law byte: another code of the same sign (re-encoding,
        // PCMU↔PCMA transcoding rounds the magnitude, never the sign of a −31 dBFS sample).
        let mut p = [0xFFu8; PAYLOAD];
        write_stamp(&mut p, 12345, 678_910);
        for b in p.iter_mut().take(STAMP_BITS) {
            *b = if *b & 0x80 != 0 { 0xCF } else { 0x4E };
        }
        assert_eq!(read_stamp(&p), Some((12345, 678_910)));
    }

    #[test]
    fn bridge_company_document() {
        let y = bridge_company("127.0.0.1:25099".parse().unwrap(), BRIDGE_NUMBER);
        assert!(y.contains(r#"- { kind: sip_uri, uri: "agent@127.0.0.1:25099", timeout_s: 10 }"#));
        assert!(y.contains(r#"  - number: "74950000009""#));
        assert!(y.contains("kind: forward") && y.contains("exits: {}"));
    }
}
