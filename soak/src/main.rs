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
//! `vpbx-soak soak --minutes N` runs contact-center traffic through the switch and checks that
//! no call was lost and nothing leaked ([`soak`]).
//!
//! It is a measuring tool, not a library: unwraps on impossible states and clock reads are fine.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]
#![recursion_limit = "256"]

mod agent;
mod bench;
mod compare;
mod metrics;
mod mix;
mod overload;
mod proc;
mod register;
mod rtp;
mod run;
mod sipp;
mod soak;
mod switch;
mod uac;

use clap::{Args, Parser, Subcommand, ValueEnum};
use run::media;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "vpbx-soak", about = "Bounded load runs against a live vpbx")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Concurrent calls with PCMU flowing both ways (echo test, or bridged to an echoing agent).
    Media(Box<MediaArgs>),
    /// Contact-center traffic for N minutes (greeting, menu, queue of SIPp agents, voicemail,
    /// abandons, callbacks, transfers, blacklisted callers), then checks that no call was lost
    /// and nothing leaked.
    Soak(soak::SoakArgs),
    /// Call rates, setup latency, media capacity and memory of a release switch, with the
    /// SIPp-against-SIPp ceiling (see soak/src/bench.rs).
    Bench(bench::BenchArgs),
    /// The bench for two switch binaries (or a git revision) in one run, with new/old ratios.
    Compare(compare::CompareArgs),
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
        Cmd::Bench(a) => done(bench::bench(a)),
        Cmd::Compare(a) => done(compare::compare(a)),
        Cmd::Media(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            match rt.block_on(media(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vpbx-soak: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Soak(args) => match soak::soak(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("vpbx-soak: error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn done(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpbx-soak: error: {e}");
            ExitCode::from(2)
        }
    }
}
