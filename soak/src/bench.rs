//! `vpbx-soak bench`: the switch's call rates, setup latency, media capacity and memory, every
//! rate also as a ratio to the SIPp-against-SIPp ceiling measured in the same run.
//!
//! Rates are measured as the shared call-rate ruler measures them (its command line, statistics,
//! pass rule and search, ported in [`crate::sipp`]). Each section starts the release switch
//! itself on loopback (a fresh data dir, a company written here, `--pike-requests 0`: all load
//! comes from 127.0.0.1) and stops it; every SIPp started here is killed by its PID when done or
//! on error. Every SIPp run has `-m`, `-timeout` and `-recv_timeout`; every search a maximum of
//! runs.

use crate::sipp::{self, Background, RunOutcome, Scenario, SearchCfg, Spec};
use crate::switch::Switch;
use clap::{Args, Parser as _, ValueEnum};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const NUMBER: &str = "74950000000";
pub(crate) const IVR_NUMBER: &str = "74950000020";
pub(crate) const QUEUE_NUMBER: &str = "74957000900";
const AGENT_LINES: u32 = 50;

const PBX_BYE_XML: &str = include_str!("../sipp/bench_pbx_bye.xml");
const IVR_XML: &str = include_str!("../sipp/bench_ivr_caller.xml");
const QUEUE_CALLER_XML: &str = include_str!("../sipp/bench_queue_caller.xml");
const QUEUE_AGENT_XML: &str = include_str!("../sipp/bench_queue_agent.xml");
const PBX_BYE_SHED_XML: &str = include_str!("../sipp/bench_pbx_bye_shed.xml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Section {
    /// SIPp uac against SIPp uas.
    Ceiling,
    /// The benchmark number 74950000000: answer, 0.5 s, the switch hangs up.
    Number,
    /// Greeting, one menu key by RFC 4733, hang-up.
    Ivr,
    /// Queued calls answered by registered SIPp agents after a 1 s talk.
    Queue,
    /// Concurrent bridged calls with RTP both ways (`media --mode bridged`).
    Media,
    /// A moderate rate, then twice the sustainable rate for 10 s, RSS for 60 s after, the
    /// moderate rate again (issue 14's recovery, [`crate::overload`]).
    Overload,
    /// Idle RSS after 1,000 calls and after 100,000 (issue 14 item 4, [`crate::overload`]).
    Memory,
}

#[derive(Args, Clone, Debug)]
pub(crate) struct BenchArgs {
    /// The switch binary to start.
    #[arg(long, default_value = "target/release/vpbx")]
    pub(crate) switch_bin: PathBuf,
    /// Sections to run (comma-separated); default all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) only: Vec<Section>,
    /// A small smoke run (about 2-3 minutes): 2 s of calls per run, 3 runs per search, no
    /// confirmation runs, 250 media calls held 5 s.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Seconds of calls per run (calls = rate x seconds, bounded by --min-calls) [8; quick 2].
    #[arg(long)]
    pub(crate) seconds: Option<f64>,
    /// Runs per rate search, without the confirmation [8; quick 3].
    #[arg(long)]
    pub(crate) max_runs: Option<u32>,
    /// Fewest calls in a run [the ruler's 2000; quick 300].
    #[arg(long)]
    pub(crate) min_calls: Option<u64>,
    /// Confirmation runs at the best rate [the ruler's 1; quick 0].
    #[arg(long)]
    pub(crate) confirm: Option<u32>,
    /// Pause between runs, seconds [the ruler's 3; quick 1].
    #[arg(long)]
    pub(crate) cooldown: Option<f64>,
    /// First rate of the ceiling search, calls/s [2000; quick 4000].
    #[arg(long)]
    pub(crate) ceiling_start: Option<u32>,
    /// First rate of the benchmark-number search [250; quick 500].
    #[arg(long)]
    pub(crate) number_start: Option<u32>,
    /// First rate of the IVR search.
    #[arg(long, default_value_t = 100)]
    pub(crate) ivr_start: u32,
    /// First rate of the queue search.
    #[arg(long, default_value_t = 100)]
    pub(crate) queue_start: u32,
    /// Highest media legs tried (2 per bridged call; steps 500, 1000, 2000, 3000 legs) [3000;
    /// quick 500].
    #[arg(long)]
    pub(crate) max_legs: Option<usize>,
    /// Seconds each media step holds its calls [20; quick 5].
    #[arg(long)]
    pub(crate) media_hold_secs: Option<u64>,
    /// The overload section's moderate rate, calls/s (before and after the overload).
    #[arg(long, default_value_t = 1250)]
    pub(crate) moderate_rate: u32,
    /// The overload section's rate, calls/s (twice what the switch sustains).
    #[arg(long, default_value_t = 5000)]
    pub(crate) overload_rate: u32,
    /// Seconds of calls at the overload rate.
    #[arg(long, default_value_t = 10)]
    pub(crate) overload_secs: u64,
    /// Calls of the memory section in all (the first 1,000 give the reference).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) memory_calls: u64,
    /// A line added to the started switch's settings file, e.g. `call_threads = 1` (repeatable;
    /// for A/B runs of a setting).
    #[arg(long = "switch-setting")]
    pub(crate) switch_settings: Vec<String>,
    /// Base of the local ports of SIPp (base+2..base+31, media base+400..base+459) and of the
    /// media agent (base+98).
    #[arg(long, default_value_t = 36000)]
    pub(crate) port_base: u16,
    /// Append a dated markdown section (machine, commit, command, the table) to this file,
    /// e.g. docs/benchmarks.md.
    #[arg(long)]
    pub(crate) append: Option<PathBuf>,
    /// Keep the work dir (SIPp statistics and logs, switch logs).
    #[arg(long)]
    pub(crate) keep: bool,
}

/// The settings after --quick and the defaults.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) seconds: f64,
    pub(crate) max_runs: u32,
    pub(crate) min_calls: u64,
    pub(crate) max_calls: u64,
    pub(crate) confirm: u32,
    pub(crate) cooldown: Duration,
    pub(crate) max_legs: usize,
    pub(crate) media_hold: u64,
}

impl BenchArgs {
    pub(crate) fn plan(&self) -> Plan {
        let q = self.quick;
        Plan {
            seconds: self.seconds.unwrap_or(if q { 2.0 } else { 8.0 }),
            max_runs: self.max_runs.unwrap_or(if q { 3 } else { 8 }),
            min_calls: self.min_calls.unwrap_or(if q { 300 } else { 2000 }),
            max_calls: 100_000,
            confirm: self.confirm.unwrap_or(if q { 0 } else { 1 }),
            cooldown: Duration::from_secs_f64(self.cooldown.unwrap_or(if q { 1.0 } else { 3.0 })),
            max_legs: self.max_legs.unwrap_or(if q { 500 } else { 3000 }),
            media_hold: self.media_hold_secs.unwrap_or(if q { 5 } else { 20 }),
        }
    }
    pub(crate) fn wants(&self, s: Section) -> bool {
        self.only.is_empty() || self.only.contains(&s)
    }
}

// ------------------------------------------------------------------------------------- figures

/// A rate section's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RateFig {
    pub(crate) best: Option<u32>,
    pub(crate) min_fail: Option<u32>,
    pub(crate) confirmed: bool,
    pub(crate) runs: u32,
    pub(crate) cpu_at_best: Option<f64>,
    pub(crate) half_rate: Option<u32>,
    pub(crate) half_pass: Option<bool>,
    pub(crate) setup_p50_ms: Option<f64>,
    pub(crate) setup_p99_ms: Option<f64>,
    /// (peak RSS during the best passing run - RSS before it) / peak concurrent calls.
    pub(crate) rss_kb_per_call: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MediaStep {
    pub(crate) calls: usize,
    pub(crate) legs: usize,
    pub(crate) lost_late_pct: Option<f64>,
    /// Receive drops on the media run's own sockets (the tool's and the switch's), from
    /// `/proc/net/udp`, sampled every second.
    pub(crate) rcvbuf_errors: Option<u64>,
    /// The machine's `RcvbufErrors` delta over the step (every process's sockets).
    pub(crate) machine_rcvbuf_errors: Option<u64>,
    /// The machine's `SndbufErrors` delta over the step (sends the kernel refused).
    pub(crate) machine_sndbuf_errors: Option<u64>,
    pub(crate) rss_kb_per_leg: Option<f64>,
    pub(crate) cpu_pct: Option<f64>,
    pub(crate) pass: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MediaFig {
    pub(crate) steps: Vec<MediaStep>,
}

impl MediaFig {
    pub(crate) fn best(&self) -> Option<&MediaStep> {
        self.steps.iter().filter(|s| s.pass).max_by_key(|s| s.legs)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Figures {
    pub(crate) ceiling: Option<u32>,
    /// The ceiling search never failed: the ceiling is a lower bound.
    pub(crate) ceiling_open: bool,
    pub(crate) number: Option<RateFig>,
    pub(crate) ivr: Option<RateFig>,
    pub(crate) queue: Option<RateFig>,
    pub(crate) media: Option<MediaFig>,
    pub(crate) overload: Option<crate::overload::OverloadFig>,
    pub(crate) memory: Option<crate::overload::MemoryFig>,
}

/// One line of the final table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) value: Option<f64>,
    /// A call rate: also given as a ratio to the ceiling.
    pub(crate) rate: bool,
}

pub(crate) fn row(name: impl Into<String>, value: Option<f64>, rate: bool) -> Row {
    Row {
        name: name.into(),
        value,
        rate,
    }
}

pub(crate) fn rows(f: &Figures) -> Vec<Row> {
    let mut r = Vec::new();
    if let Some(c) = f.ceiling {
        r.push(row(
            if f.ceiling_open {
                "ceiling: SIPp uac -> uas, calls/s (at least)"
            } else {
                "ceiling: SIPp uac -> SIPp uas, calls/s"
            },
            Some(c as f64),
            false,
        ));
    }
    let mut rate = |label: &str, fig: &Option<RateFig>, rss: bool| {
        let Some(x) = fig else { return };
        r.push(row(
            format!("{label}: highest passing rate, calls/s"),
            x.best.map(f64::from),
            true,
        ));
        r.push(row(
            format!("{label}: switch CPU there, % of one core"),
            x.cpu_at_best,
            false,
        ));
        r.push(row(
            format!("{label}: half rate, calls/s"),
            x.half_rate.map(f64::from),
            false,
        ));
        r.push(row(
            format!("{label}: setup p50 at half rate, ms"),
            x.setup_p50_ms,
            false,
        ));
        r.push(row(
            format!("{label}: setup p99 at half rate, ms"),
            x.setup_p99_ms,
            false,
        ));
        if rss {
            r.push(row(
                format!("{label}: RSS per concurrent call, KB"),
                x.rss_kb_per_call,
                false,
            ));
        }
    };
    rate("number", &f.number, true);
    rate("ivr", &f.ivr, false);
    rate("queue", &f.queue, false);
    if let Some(m) = &f.media {
        let b = m.best();
        r.push(row(
            "media: most bridged legs passing",
            b.map(|s| s.legs as f64),
            false,
        ));
        r.push(row(
            "media: RSS growth per leg there, KB",
            b.and_then(|s| s.rss_kb_per_leg),
            false,
        ));
        r.push(row(
            "media: switch CPU there, % of one core",
            b.and_then(|s| s.cpu_pct),
            false,
        ));
    }
    if let Some(o) = &f.overload {
        crate::overload::rows(o, &mut r);
    }
    if let Some(m) = &f.memory {
        crate::overload::memory_rows(m, &mut r);
    }
    r
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e12 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}

/// The final table: figure, value, ratio to the ceiling (rates only).
pub(crate) fn table(f: &Figures) -> String {
    let ceiling = f.ceiling.map(f64::from);
    let mut s = format!("{:<52} {:>10} {:>10}\n", "figure", "value", "/ceiling");
    for r in rows(f) {
        let rt = if r.rate {
            fmt_ratio(ratio(r.value, ceiling))
        } else {
            String::new()
        };
        s += &format!("{:<52} {:>10} {:>10}\n", r.name, fmt_num(r.value), rt);
    }
    s
}

/// The same as a markdown table.
pub(crate) fn markdown_table(f: &Figures) -> String {
    let ceiling = f.ceiling.map(f64::from);
    let mut s = String::from("| figure | value | ratio to the ceiling |\n|---|---|---|\n");
    for r in rows(f) {
        let rt = if r.rate {
            fmt_ratio(ratio(r.value, ceiling))
        } else {
            String::new()
        };
        s += &format!("| {} | {} | {} |\n", r.name, fmt_num(r.value), rt);
    }
    s
}

pub(crate) fn media_steps_text(m: &MediaFig) -> String {
    let mut s = String::new();
    for st in &m.steps {
        s += &format!(
            "  media step {} calls / {} legs: lost+late {} %, receive drops {} (machine-wide {}, send errors {}), RSS {} KB/leg, CPU {} % => {}\n",
            st.calls,
            st.legs,
            st.lost_late_pct.map_or("-".into(), |v| format!("{v:.4}")),
            st.rcvbuf_errors.map_or("-".into(), |v| v.to_string()),
            st.machine_rcvbuf_errors.map_or("-".into(), |v| v.to_string()),
            st.machine_sndbuf_errors.map_or("-".into(), |v| v.to_string()),
            fmt_num(st.rss_kb_per_leg),
            fmt_num(st.cpu_pct),
            if st.pass { "PASS" } else { "FAIL" }
        );
    }
    s
}

pub(crate) const METHOD_NOTES: &str = "number: 74950000000, the switch answers and hangs up after \
0.5 s. ivr: a short greeting, key 1 by RFC 4733 (SIPp dtmf_2833_1.pcap), the switch hangs up. queue: \
74957000900, 50 registered lines answered by a SIPp UAS, 1 s talk, the caller hangs up. media: \
bridged calls (2 legs each), passing with < 0.1 % lost+late and 0 receive drops. Rates: the shared ruler's pass rule (>= 99.9 % of the calls \
succeed and SIPp achieves >= 97 % of the asked rate), doubling then bisecting. Setup: SIPp -trace_rtt \
(INVITE -> 200, whole ms) at half the highest rate. RSS per call: (peak RSS sampled during the best \
passing benchmark-number run - RSS before it) / peak active_calls from /health in that run. Media: \
`vpbx-soak media --mode bridged` steps; lost+late by the switch's counters, receive drops = the drops of \
the run's own UDP sockets (/proc/net/udp, the tool's and its switch's, sampled every second; the \
machine's RcvbufErrors delta of /proc/net/snmp is shown beside, it counts every process); RSS growth per leg from baseline to the hold's end.";

// ------------------------------------------------------------------------------------- machine

pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|x| x.1.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

pub(crate) fn commit() -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match out(&["rev-parse", "--short", "HEAD"]) {
        Some(c) => {
            let dirty = out(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} dirty")
            } else {
                c
            }
        }
        None => "unknown (not in a git checkout)".into(),
    }
}

pub(crate) fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn loadavg() -> String {
    crate::proc::loadavg()
}

/// A counter (`RcvbufErrors`, `SndbufErrors`) of the `Udp:` lines of /proc/net/snmp.
pub(crate) fn udp_counter(snmp: &str, name: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let hdr: Vec<&str> = udp.next()?.split_whitespace().collect();
    let val: Vec<&str> = udp.next()?.split_whitespace().collect();
    let i = hdr.iter().position(|h| *h == name)?;
    val.get(i)?.parse().ok()
}

/// The machine's UDP `RcvbufErrors` and `SndbufErrors`.
pub(crate) fn machine_buf_errors() -> Option<(u64, u64)> {
    let t = std::fs::read_to_string("/proc/net/snmp").ok()?;
    Some((
        udp_counter(&t, "RcvbufErrors")?,
        udp_counter(&t, "SndbufErrors")?,
    ))
}

/// Per-socket receive drops of `/proc/net/udp` (and udp6): inode -> drops (last column).
pub(crate) fn udp_drops(table: &str) -> Vec<(u64, u64)> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(9)?.parse().ok()?, f.last()?.parse().ok()?))
        })
        .collect()
}

/// The socket inodes of process `pid` and of its children (the media run's switch).
fn socket_inodes(pid: u32) -> std::collections::HashSet<u64> {
    let mut pids = vec![pid];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Ok(p) = name.parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(pid) {
            pids.push(p);
        }
    }
    let mut out = std::collections::HashSet::new();
    for p in pids {
        for e in std::fs::read_dir(format!("/proc/{p}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(t) = std::fs::read_link(e.path()) {
                let t = t.to_string_lossy().to_string();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|x| x.strip_suffix(']')) {
                    if let Ok(i) = i.parse() {
                        out.insert(i);
                    }
                }
            }
        }
    }
    out
}

/// Highest drop count seen per socket of the media run (the tool's and its switch's sockets).
#[derive(Default)]
struct DropWatch {
    max: std::collections::HashMap<u64, u64>,
}

impl DropWatch {
    fn sample(&mut self, pid: u32) {
        let mine = socket_inodes(pid);
        for f in ["/proc/net/udp", "/proc/net/udp6"] {
            let t = std::fs::read_to_string(f).unwrap_or_default();
            for (inode, drops) in udp_drops(&t) {
                if mine.contains(&inode) {
                    let e = self.max.entry(inode).or_default();
                    *e = (*e).max(drops);
                }
            }
        }
    }
    fn total(&self) -> u64 {
        self.max.values().sum()
    }
}

// ------------------------------------------------------------------------------------- switch

/// Plain blocking HTTP/1.0 GET (3 s bound); the body of a 200.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    match crate::metrics::request(addr, "GET", path, None, None, Duration::from_secs(3)) {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

fn active_calls(http: SocketAddr) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(&http_get(http, "/health")?).ok()?;
    v.get("active_calls")?.as_i64()
}

/// Waits (at most `secs`) until the switch has no call up.
pub(crate) fn wait_idle(http: SocketAddr, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if active_calls(http) == Some(0) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Setup p50 and p99 (INVITE -> 200, ms) of a run made with `-trace_rtt`.
pub(crate) fn latency(o: &RunOutcome) -> (Option<f64>, Option<f64>) {
    let dir = PathBuf::from(
        o.command
            .split(" -stf ")
            .nth(1)
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or(""),
    );
    let mut vals = Vec::new();
    if let Some(d) = dir.parent() {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.ends_with("_rtt.csv") {
                vals.extend(sipp::parse_rtt(
                    &std::fs::read_to_string(e.path()).unwrap_or_default(),
                ));
            }
        }
    }
    let (p50, p99) = (sipp::quantile(&vals, 0.5), sipp::quantile(&vals, 0.99));
    eprintln!(
        "bench: setup at {}/s over {} calls: p50 {p50:?} ms, p99 {p99:?} ms",
        o.rate,
        vals.len()
    );
    (p50, p99)
}

/// The bench company: the benchmark number, the IVR number and the queue of 50 agent lines.
pub(crate) fn company(tts_greeting: bool) -> String {
    let greeting = if tts_greeting {
        r#"{ kind: text, text: "Hello.", voice: en }"#
    } else {
        "{ kind: file, id: 1 }"
    };
    let mut y = String::from(
        "# Written by vpbx-soak bench: the benchmark number, an IVR and a queue of 50 SIPp agents.\n\
         company: Bench Company\ntime_zone: Europe/Moscow\nemployees:\n",
    );
    for i in 1..=AGENT_LINES {
        let login = 300 + i;
        y += &format!(
            "  - id: {i}\n    first_name: Agent\n    last_name: A{login}\n    email: agent{login}@bench.invalid\n    \
             extension: \"{login}\"\n    phones:\n      - kind: sip_line\n        id: {login}\n        \
             login: \"{login}\"\n        password: bench-{login}-pw\n        lines: 100\n        dial_timeout_s: 20\n"
        );
    }
    let targets: Vec<String> = (1..=AGENT_LINES)
        .map(|i| format!("{{ kind: employee, id: {i} }}"))
        .collect();
    y += &format!(
        r#"files:
  - id: 1
    name: Greeting
    path: prompts/greeting.wav
    kind: system
scenarios:
  - id: 3
    name: Benchmark (0.5 s of silence)
    start: silence
    operations:
      silence:
        action: {{ kind: pause, ms: 500 }}
        exits: {{ next: bye }}
      bye:
        action: {{ kind: hang_up }}
  - id: 20
    name: Bench IVR (greeting, key 1 hangs up)
    start: greeting
    operations:
      greeting:
        action: {{ kind: info_message, prompt: {greeting} }}
        exits: {{ next: menu }}
      menu:
        action: {{ kind: menu, prompt: null, timeout_s: 5 }}
        exits: {{ "1": bye, timeout: slow, invalid: slow }}
      slow:
        action: {{ kind: pause, ms: 10000 }}
        exits: {{ next: bye }}
      bye:
        action: {{ kind: hang_up }}
  - id: 30
    name: Bench queue (longest idle of 50 agents)
    start: queue
    operations:
      queue:
        action:
          kind: forward
          targets: [{targets}]
          strategy: {{ kind: longest_idle }}
          queue: {{ announce: false }}
          wrap_up_s: 0
          max_wait_s: 60
        exits: {{ answered: bye, no_answer: bye, busy: bye }}
      bye:
        action: {{ kind: hang_up }}
numbers:
  - number: "{NUMBER}"
    rules:
      - {{ id: 3, name: Benchmark, callers: {{ kind: all }}, scenario: 3 }}
  - number: "{IVR_NUMBER}"
    rules:
      - {{ id: 20, name: Bench IVR, callers: {{ kind: all }}, scenario: 20 }}
  - number: "{QUEUE_NUMBER}"
    rules:
      - {{ id: 30, name: Bench queue, callers: {{ kind: all }}, scenario: 30 }}
"#,
        targets = targets.join(", ")
    );
    y
}

fn tts_available() -> bool {
    Command::new("espeak-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts `bin` on free loopback ports with the bench company; waits for /health.
pub(crate) fn start_switch(
    bin: &Path,
    work: &Path,
    tts: bool,
    settings: &[String],
) -> Result<Switch, String> {
    let cdir = work.join("company");
    std::fs::create_dir_all(&cdir).map_err(|e| e.to_string())?;
    let toml = cdir.join("vpbx.toml");
    let mut text = String::from(
        "# vpbx-soak bench: the company below is loaded into the empty data dir.\n\
         demo = \"company.yaml\"\n# No OPTIONS probes of the SIPp agents.\nqualify_interval_s = 0\n",
    );
    for line in settings {
        text += line;
        text.push('\n');
    }
    std::fs::write(&toml, text).map_err(|e| e.to_string())?;
    std::fs::write(cdir.join("company.yaml"), company(tts)).map_err(|e| e.to_string())?;
    let cli = crate::Cli::try_parse_from([
        "vpbx-soak".to_string(),
        "media".into(),
        "--switch-bin".into(),
        bin.display().to_string(),
        "--switch-config".into(),
        toml.display().to_string(),
        // 10,000 ports, as many as the switch's own default range (20000-29999): with 3,000
        // the benchmark number ran out of ports at ~1,500 calls up (3,000 calls/s of 0.5 s).
        "--switch-rtp-min".into(),
        "41000".into(),
        "--switch-rtp-max".into(),
        "50999".into(),
    ])
    .map_err(|e| e.to_string())?;
    let crate::Cmd::Media(a) = cli.cmd else {
        return Err("media arguments".into());
    };
    let mut sw = Switch::start(&a)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if active_calls(sw.http).is_some() {
            break;
        }
        if let Some(Ok(Some(st))) = sw.child.as_mut().map(|c| c.try_wait()) {
            return Err(format!(
                "switch exited at start ({st}):\n{}",
                sw.log_tail(20)
            ));
        }
        if Instant::now() > deadline {
            let tail = sw.log_tail(20);
            sw.stop();
            return Err(format!("switch /health not up within 15 s:\n{tail}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    eprintln!(
        "bench: switch {} pid {} sip {} http {}",
        bin.display(),
        sw.pid.unwrap_or(0),
        sw.sip,
        sw.http
    );
    Ok(sw)
}

pub(crate) fn stop_switch(mut sw: Switch, keep: bool, label: &str) {
    let warn = std::fs::read_to_string(sw.log.clone().unwrap_or_default())
        .map(|t| {
            t.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .count()
        })
        .unwrap_or(0);
    let st = sw.stop();
    eprintln!(
        "bench: {label}: switch stopped ({}); {warn} WARN/ERROR log lines",
        st.unwrap_or_default()
    );
    sw.cleanup(keep);
}

// ------------------------------------------------------------------------------------- runs

/// What a rate section needs to run SIPp against the switch.
pub(crate) struct Load<'a> {
    pub(crate) label: &'a str,
    pub(crate) scenario: PathBuf,
    pub(crate) service: &'a str,
    pub(crate) local_port: u16,
    pub(crate) mp: u16,
    pub(crate) hold_ms: u64,
    /// `-l` when the ruler's default would throttle a long call.
    pub(crate) limit_secs: Option<f64>,
}

/// The switch a rate section's runs go to. As the ruler measured Asterisk (restarted before each
/// run), the benchmark number and the IVR get a fresh switch per run, so that no run inherits the
/// overload of the search's failed run before it; the queue keeps one switch, where its SIPp
/// agents are registered.
pub(crate) enum Target<'a> {
    Shared(&'a Switch),
    Fresh(&'a dyn Fn() -> Result<Switch, String>),
}

pub(crate) struct Ctx {
    pub(crate) args: BenchArgs,
    pub(crate) plan: Plan,
    pub(crate) work: PathBuf,
    pub(crate) seq: u32,
}

impl Ctx {
    pub(crate) fn new(args: BenchArgs) -> Result<Ctx, String> {
        let work = std::env::temp_dir().join(format!(
            "vpbx-soak-bench-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        for (name, text) in [
            ("bench_pbx_bye.xml", PBX_BYE_XML),
            ("bench_ivr_caller.xml", IVR_XML),
            ("bench_queue_caller.xml", QUEUE_CALLER_XML),
            ("bench_queue_agent.xml", QUEUE_AGENT_XML),
            ("bench_pbx_bye_shed.xml", PBX_BYE_SHED_XML),
        ] {
            std::fs::write(work.join(name), text).map_err(|e| e.to_string())?;
        }
        Ok(Ctx {
            plan: args.plan(),
            args,
            work,
            seq: 0,
        })
    }

    fn dir(&mut self, label: &str) -> PathBuf {
        self.seq += 1;
        let d = self.work.join(format!("{:03}_{label}", self.seq));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    fn search_cfg(&self, start: u32, max_rate: u32) -> SearchCfg {
        SearchCfg {
            start,
            factor: 2.0,
            min_rate: 10,
            max_rate,
            max_runs: self.plan.max_runs,
            resolution: 0.05,
            resolution_abs: 5,
            confirm: self.plan.confirm,
        }
    }

    fn spec(
        &mut self,
        l: &Load,
        target: SocketAddr,
        rate: u32,
        calls: Option<u64>,
        extra: Vec<String>,
    ) -> Spec {
        let calls = calls.unwrap_or_else(|| {
            sipp::calls_for(
                rate,
                self.plan.seconds,
                self.plan.min_calls,
                self.plan.max_calls,
            )
        });
        let limit = match l.limit_secs {
            Some(s) => ((rate as f64 * s * 2.0) as u64 + 100).max(100),
            None => sipp::limit_for(rate, l.hold_ms),
        };
        let out = self.dir(&format!("{}_r{rate}", l.label));
        Spec {
            scenario: Scenario::File(l.scenario.clone()),
            target,
            local_port: l.local_port,
            service: Some(l.service.to_string()),
            rate,
            calls,
            limit,
            hold_ms: l.hold_ms,
            recv_timeout_ms: 10_000,
            mp: Some(l.mp),
            extra,
            out,
            tag: l.label.to_string(),
        }
    }

    /// One run against a started switch: waits for it to be idle first (<= 30 s), samples its
    /// active calls.
    pub(crate) fn run_one(
        &mut self,
        l: &Load,
        sw: &Switch,
        rate: u32,
        calls: Option<u64>,
        extra: Vec<String>,
    ) -> (RunOutcome, i64) {
        if !wait_idle(sw.http, 30) {
            eprintln!(
                "bench: [{}] the switch still has calls up after 30 s",
                l.label
            );
        }
        let spec = self.spec(l, sw.sip, rate, calls, extra);
        let http = sw.http;
        let mut peak = 0i64;
        let mut last = Instant::now();
        let o = sipp::run(&spec, sw.pid, &mut || {
            if last.elapsed() >= Duration::from_millis(400) {
                last = Instant::now();
                peak = peak.max(active_calls(http).unwrap_or(0));
            }
        });
        eprintln!(
            "{}  (peak active {peak}, load {})",
            o.line(l.label),
            loadavg()
        );
        if !o.pass {
            if let Some(st) = &o.stats {
                if !st.fail_reasons.is_empty() {
                    eprintln!("    failures: {:?}", st.fail_reasons);
                }
            } else {
                eprintln!("    no SIPp statistics in {}", spec.out.display());
            }
        }
        (o, peak)
    }

    /// One traced call; an error with SIPp's messages when it fails.
    pub(crate) fn smoke(&mut self, l: &Load, sw: &Switch) -> Result<(), String> {
        let msg = self.work.join(format!("{}_smoke_msg.log", l.label));
        wait_idle(sw.http, 30);
        let spec = self.spec(
            l,
            sw.sip,
            1,
            Some(1),
            vec![
                "-trace_msg".into(),
                "-message_file".into(),
                msg.display().to_string(),
            ],
        );
        let o = sipp::run(&spec, sw.pid, &mut || {});
        if o.stats.as_ref().is_some_and(|s| s.successful == 1) {
            eprintln!("[{}] one call (traced): ok", l.label);
            return Ok(());
        }
        let t = std::fs::read_to_string(&msg).unwrap_or_default();
        let tail: Vec<&str> = t.lines().rev().take(60).collect();
        Err(format!(
            "[{}] the smoke call failed; SIPp trace tail ({}):\n{}\nswitch log:\n{}",
            l.label,
            msg.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            sw.log_tail(15)
        ))
    }

    /// One run against the switch `target` gives for it: the shared one, or a fresh one started
    /// for this run and stopped after it. `None` when a fresh switch did not start.
    fn run_on(
        &mut self,
        l: &Load,
        target: &Target,
        rate: u32,
        extra: Vec<String>,
    ) -> Option<(RunOutcome, i64)> {
        match target {
            Target::Shared(sw) => Some(self.run_one(l, sw, rate, None, extra)),
            Target::Fresh(start) => match start() {
                Ok(sw) => {
                    let r = self.run_one(l, &sw, rate, None, extra);
                    stop_switch(sw, self.args.keep, l.label);
                    Some(r)
                }
                Err(e) => {
                    eprintln!("bench: [{}] a fresh switch did not start: {e}", l.label);
                    None
                }
            },
        }
    }

    /// Search, then the latency run at half the best rate.
    fn rate_section(&mut self, l: &Load, target: &Target, start: u32, max_rate: u32) -> RateFig {
        let cfg = self.search_cfg(start, max_rate);
        let mut outcomes: Vec<(RunOutcome, i64)> = Vec::new();
        let cooldown = self.plan.cooldown;
        let s = sipp::search(&cfg, |rate| {
            let Some(r) = self.run_on(l, target, rate, vec![]) else {
                return false;
            };
            let pass = r.0.pass;
            outcomes.push(r);
            std::thread::sleep(cooldown);
            pass
        });
        eprintln!(
            "bench: [{}] highest passing {:?}, lowest failing {:?}, {} runs, confirmed {}",
            l.label, s.good, s.bad, s.runs, s.confirmed
        );
        let mut fig = RateFig {
            best: s.good,
            min_fail: s.bad,
            confirmed: s.confirmed,
            runs: s.runs,
            ..Default::default()
        };
        if let Some(best) = s.good {
            let at_best: Vec<&(RunOutcome, i64)> = outcomes
                .iter()
                .filter(|(o, _)| o.rate == best && o.pass)
                .collect();
            fig.cpu_at_best = at_best.last().and_then(|(o, _)| o.cpu_pct);
            fig.rss_kb_per_call = at_best.last().and_then(|(o, peak)| {
                let grow = o.rss_peak_kb? as f64 - o.rss_before_kb? as f64;
                (*peak > 0).then(|| grow / *peak as f64)
            });
            let half = (best / 2).max(1);
            fig.half_rate = Some(half);
            let traced = vec!["-trace_rtt".into(), "-rtt_freq".into(), "100".into()];
            if let Some((o, _)) = self.run_on(l, target, half, traced) {
                fig.half_pass = Some(o.pass);
                (fig.setup_p50_ms, fig.setup_p99_ms) = latency(&o);
            }
        }
        fig
    }

    // --------------------------------------------------------------------------------- sections

    pub(crate) fn ceiling(&mut self) -> Result<(u32, bool), String> {
        let b = self.args.port_base;
        let (uas_port, uac_port) = (b + 2, b + 3);
        let dir = self.dir("ceiling_uas");
        // The ruler's UAS (`sipp -sn uas -i 127.0.0.1 -p P -buff_size 4194304 -nostdin -bg`),
        // in the foreground of a child so that it is ours to stop, and bounded.
        let uas = Background::start(
            "ceiling_uas",
            &[
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
                "-mp",
                &(b + 400).to_string(),
                "-buff_size",
                "4194304",
                "-max_recv_loops",
                "100000",
                "-max_sched_loops",
                "100000",
                "-nostdin",
                "-m",
                "100000000",
                "-timeout",
                "3600s",
                "-recv_timeout",
                "10000",
            ]
            .map(String::from),
            &dir,
            uas_port,
        )?;
        let cfg = self.search_cfg(
            self.args
                .ceiling_start
                .unwrap_or(if self.args.quick { 4000 } else { 2000 }),
            40_000,
        );
        let cooldown = self.plan.cooldown;
        let target: SocketAddr = ([127, 0, 0, 1], uas_port).into();
        let uas_pid = uas.pid();
        let s = sipp::search(&cfg, |rate| {
            let calls = sipp::calls_for(
                rate,
                self.plan.seconds,
                self.plan.min_calls,
                self.plan.max_calls,
            );
            let spec = Spec {
                scenario: Scenario::Builtin("uac".into()),
                target,
                local_port: uac_port,
                service: None,
                rate,
                calls,
                limit: sipp::limit_for(rate, 0),
                hold_ms: 0,
                recv_timeout_ms: 10_000,
                mp: Some(b + 410),
                extra: vec![],
                out: self.dir(&format!("ceiling_r{rate}")),
                tag: "ceiling".into(),
            };
            let o = sipp::run(&spec, Some(uas_pid), &mut || {});
            eprintln!(
                "{}  (load {})",
                o.line("ceiling").replace("switch cpu", "uas cpu"),
                loadavg()
            );
            std::thread::sleep(cooldown);
            o.pass
        });
        drop(uas);
        eprintln!(
            "bench: [ceiling] highest passing {:?}, lowest failing {:?}, {} runs",
            s.good, s.bad, s.runs
        );
        s.good
            .map(|g| (g, s.bad.is_none()))
            .ok_or_else(|| "the ceiling search found no passing rate".into())
    }

    pub(crate) fn number(&mut self, bin: &Path) -> Result<RateFig, String> {
        let b = self.args.port_base;
        let sw = start_switch(bin, &self.work, false, &self.args.switch_settings)?;
        let l = Load {
            label: "number",
            scenario: self.work.join("bench_pbx_bye.xml"),
            service: NUMBER,
            local_port: b + 11,
            mp: b + 420,
            hold_ms: 0,
            limit_secs: None,
        };
        let smoke = self.smoke(&l, &sw);
        stop_switch(sw, self.args.keep, "number");
        smoke?;
        let (work, settings) = (self.work.clone(), self.args.switch_settings.clone());
        let fresh = || start_switch(bin, &work, false, &settings);
        let start = self
            .args
            .number_start
            .unwrap_or(if self.args.quick { 500 } else { 250 });
        Ok(self.rate_section(&l, &Target::Fresh(&fresh), start, 20_000))
    }

    pub(crate) fn ivr(&mut self, bin: &Path) -> Result<RateFig, String> {
        let b = self.args.port_base;
        let tts = tts_available();
        let sw = start_switch(bin, &self.work, tts, &self.args.switch_settings)?;
        // The greeting: "Hello." by espeak-ng (well under 1 s) or the built-in 2.5 s greeting.
        let hold_ms = if tts { 1500 } else { 3500 };
        eprintln!(
            "bench: [ivr] greeting {}, key 1 sent {hold_ms} ms after the ACK",
            if tts {
                "\"Hello.\" (espeak-ng)"
            } else {
                "the built-in greeting.wav (2.5 s)"
            }
        );
        let l = Load {
            label: "ivr",
            scenario: self.work.join("bench_ivr_caller.xml"),
            service: IVR_NUMBER,
            local_port: b + 21,
            mp: b + 430,
            hold_ms,
            limit_secs: Some(hold_ms as f64 / 1000.0 + 2.0),
        };
        let smoke = self.smoke(&l, &sw);
        stop_switch(sw, self.args.keep, "ivr");
        smoke?;
        let (work, settings) = (self.work.clone(), self.args.switch_settings.clone());
        let fresh = || start_switch(bin, &work, tts, &settings);
        Ok(self.rate_section(&l, &Target::Fresh(&fresh), self.args.ivr_start, 5_000))
    }

    pub(crate) fn queue(&mut self, bin: &Path) -> Result<RateFig, String> {
        let b = self.args.port_base;
        let (agent_port, caller_port) = (b + 30, b + 31);
        let sw = start_switch(bin, &self.work, false, &self.args.switch_settings)?;
        let r = (|| {
            crate::register::register_lines(sw.sip, agent_port, 301..=300 + AGENT_LINES)?;
            eprintln!(
                "bench: [queue] {AGENT_LINES} lines registered with contact 127.0.0.1:{agent_port}"
            );
            let dir = self.dir("queue_agents");
            let agent_stat = dir.join("agent_stat.csv");
            let agents = Background::start(
                "queue_agents",
                &[
                    "-sf".to_string(),
                    self.work
                        .join("bench_queue_agent.xml")
                        .display()
                        .to_string(),
                    "-i".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    agent_port.to_string(),
                    "-mp".into(),
                    (b + 440).to_string(),
                    "-m".into(),
                    "100000000".into(),
                    "-timeout".into(),
                    "7200s".into(),
                    "-recv_timeout".into(),
                    "60000".into(),
                    "-buff_size".into(),
                    "4194304".into(),
                    "-max_recv_loops".into(),
                    "100000".into(),
                    "-max_sched_loops".into(),
                    "100000".into(),
                    "-nostdin".into(),
                    "-trace_stat".into(),
                    "-stf".into(),
                    agent_stat.display().to_string(),
                    "-fd".into(),
                    "1".into(),
                    "-trace_err".into(),
                    "-error_file".into(),
                    dir.join("agent_errors.log").display().to_string(),
                ],
                &dir,
                agent_port,
            )?;
            let l = Load {
                label: "queue",
                scenario: self.work.join("bench_queue_caller.xml"),
                service: QUEUE_NUMBER,
                local_port: caller_port,
                mp: b + 450,
                hold_ms: 1000,
                limit_secs: None,
            };
            self.smoke(&l, &sw)?;
            let fig = self.rate_section(&l, &Target::Shared(&sw), self.args.queue_start, 3_000);
            wait_idle(sw.http, 30);
            std::thread::sleep(Duration::from_millis(1500));
            let answered = std::fs::read_to_string(&agent_stat)
                .ok()
                .and_then(|t| sipp::parse_stats(&t, 1))
                .map(|s| s.successful);
            eprintln!(
                "bench: [queue] the agents' SIPp answered and ended {answered:?} calls in all"
            );
            drop(agents);
            Ok(fig)
        })();
        stop_switch(sw, self.args.keep, "queue");
        r
    }

    /// `vpbx-soak media --mode bridged` (a child process of this binary) at growing counts.
    pub(crate) fn media(&mut self, bin: &Path) -> Result<MediaFig, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let b = self.args.port_base;
        let mut fig = MediaFig::default();
        for calls in [250usize, 500, 1000, 1500] {
            if calls * 2 > self.plan.max_legs {
                break;
            }
            let ramp = 200.0;
            let hold = self.plan.media_hold;
            let log = self.dir(&format!("media_{calls}")).join("media.out");
            let snmp0 = machine_buf_errors();
            let args: Vec<String> = [
                "media",
                "--mode",
                "bridged",
                "--switch-bin",
                &bin.display().to_string(),
                "--calls",
                &calls.to_string(),
                "--ramp-per-sec",
                "200",
                "--hold-secs",
                &hold.to_string(),
                "--agent-addr",
                &format!("127.0.0.1:{}", b + 98),
                "--local-rtp-base",
                "33000",
                "--agent-rtp-base",
                "61000",
                "--switch-rtp-min",
                "44000",
                "--switch-rtp-max",
                "59999",
                "--target-legs",
                &(calls * 2).to_string(),
                "--target-loss-pct",
                "0.1",
            ]
            .map(String::from)
            .to_vec();
            eprintln!(
                "bench: [media] {calls} bridged calls ({} legs), hold {hold} s",
                calls * 2
            );
            let mut child = Command::new(&exe)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", exe.display()))?;
            let deadline =
                Instant::now() + Duration::from_secs_f64(calls as f64 / ramp + hold as f64 + 120.0);
            let mut stdout = child.stdout.take();
            let reader = std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(o) = stdout.as_mut() {
                    let _ = o.read_to_string(&mut s);
                }
                s
            });
            let mut drops = DropWatch::default();
            let mut last_sample = Instant::now();
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if last_sample.elapsed() >= Duration::from_secs(1) {
                    last_sample = Instant::now();
                    drops.sample(child.id());
                }
                if Instant::now() > deadline {
                    let _ = child.kill(); // the media run started here
                    let _ = child.wait();
                    eprintln!("bench: [media] run killed at its deadline");
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let out = reader.join().unwrap_or_default();
            let snmp1 = machine_buf_errors();
            let summary: Option<serde_json::Value> = out
                .lines()
                .find_map(|l| l.strip_prefix("SUMMARY "))
                .and_then(|j| serde_json::from_str(j).ok());
            let Some(j) = summary else {
                eprintln!(
                    "bench: [media] no SUMMARY from the media run; its log: {}",
                    log.display()
                );
                fig.steps.push(MediaStep {
                    calls,
                    ..Default::default()
                });
                break;
            };
            let legs = j["media_legs"].as_u64().unwrap_or(0) as usize;
            let lost_late = j["switch"]["counters_run"]["lost_late_pct"].as_f64();
            let received = j["switch"]["counters_run"]["received"]
                .as_f64()
                .unwrap_or(0.0);
            let delta = snmp0
                .zip(snmp1)
                .map(|((r0, s0), (r1, s1))| (r1.saturating_sub(r0), s1.saturating_sub(s0)));
            eprintln!(
                "bench: [media] receive drops watched on {} UDP sockets of the run",
                drops.max.len()
            );
            let drops = Some(drops.total());
            let step = MediaStep {
                calls,
                legs,
                lost_late_pct: lost_late,
                rcvbuf_errors: drops,
                machine_rcvbuf_errors: delta.map(|d| d.0),
                machine_sndbuf_errors: delta.map(|d| d.1),
                rss_kb_per_leg: j["switch"]["rss_growth_kb_per_leg"].as_f64(),
                cpu_pct: j["switch"]["cpu_pct_hold"].as_f64(),
                pass: legs == calls * 2
                    && received > 0.0
                    && lost_late.is_some_and(|v| v < 0.1)
                    && drops == Some(0),
            };
            eprint!(
                "{}",
                media_steps_text(&MediaFig {
                    steps: vec![step.clone()]
                })
            );
            let pass = step.pass;
            fig.steps.push(step);
            if !pass {
                break;
            }
            std::thread::sleep(self.plan.cooldown);
        }
        Ok(fig)
    }

    pub(crate) fn finish(&self) {
        if self.args.keep {
            eprintln!("bench: work dir kept: {}", self.work.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

/// Runs `section` for `bin` into `f`; an error is reported and leaves the figure empty.
pub(crate) fn run_section(ctx: &mut Ctx, s: Section, bin: &Path, f: &mut Figures) {
    let t0 = Instant::now();
    eprintln!("== bench: {s:?} ({})", bin.display());
    let res = match s {
        Section::Ceiling => ctx.ceiling().map(|(c, open)| {
            f.ceiling = Some(c);
            f.ceiling_open = open;
        }),
        Section::Number => ctx.number(bin).map(|x| f.number = Some(x)),
        Section::Ivr => ctx.ivr(bin).map(|x| f.ivr = Some(x)),
        Section::Queue => ctx.queue(bin).map(|x| f.queue = Some(x)),
        Section::Media => ctx.media(bin).map(|x| f.media = Some(x)),
        Section::Overload => ctx.overload(bin).map(|x| f.overload = Some(x)),
        Section::Memory => ctx.memory(bin).map(|x| f.memory = Some(x)),
    };
    if let Err(e) = res {
        eprintln!("bench: {s:?}: {e}");
    }
    eprintln!(
        "== bench: {s:?} done in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
}

pub(crate) const SECTIONS: [Section; 7] = [
    Section::Ceiling,
    Section::Number,
    Section::Ivr,
    Section::Queue,
    Section::Media,
    Section::Overload,
    Section::Memory,
];

pub(crate) fn header() -> String {
    format!(
        "date: {}\nmachine: {}\ncommit: {}\ncommand: {}\n",
        now_utc(),
        machine(),
        commit(),
        std::env::args().collect::<Vec<_>>().join(" ")
    )
}

pub(crate) fn append(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    eprintln!("bench: appended to {}", path.display());
    Ok(())
}

pub(crate) fn bench(args: BenchArgs) -> Result<(), String> {
    if !args.switch_bin.exists() {
        return Err(format!(
            "{} not found (cargo build --release -p vpbx)",
            args.switch_bin.display()
        ));
    }
    // The agent lines' passwords are the document's (the queue section registers them).
    std::env::set_var("VPBX_DEMO_PASSWORDS", "document");
    let head = header();
    print!("{head}");
    let t0 = Instant::now();
    let mut ctx = Ctx::new(args)?;
    let mut f = Figures::default();
    let bin = ctx.args.switch_bin.clone();
    for s in SECTIONS {
        if ctx.args.wants(s) {
            run_section(&mut ctx, s, &bin, &mut f);
        }
    }
    ctx.finish();
    println!();
    println!("vpbx-soak bench ({:.0} s)", t0.elapsed().as_secs_f64());
    print!("{}", table(&f));
    if let Some(m) = &f.media {
        print!("{}", media_steps_text(m));
    }
    println!("{METHOD_NOTES}");
    if let Some(p) = &ctx.args.append {
        let mut md = format!("\n### vpbx-soak bench, {}\n\n", now_utc());
        md += &format!(
            "Machine: {}. Commit: {}. Switch: `{}`. Command: `{}`.\n\n",
            machine(),
            commit(),
            bin.display(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        md += &markdown_table(&f);
        md += &format!("\n{METHOD_NOTES}\n");
        append(p, &md)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs() -> Figures {
        Figures {
            ceiling: Some(16000),
            ceiling_open: false,
            number: Some(RateFig {
                best: Some(2000),
                cpu_at_best: Some(147.25),
                half_rate: Some(1000),
                setup_p50_ms: Some(1.0),
                setup_p99_ms: Some(4.0),
                rss_kb_per_call: Some(12.5),
                ..Default::default()
            }),
            ivr: None,
            queue: Some(RateFig::default()),
            media: Some(MediaFig {
                steps: vec![
                    MediaStep {
                        calls: 250,
                        legs: 500,
                        lost_late_pct: Some(0.0),
                        rcvbuf_errors: Some(0),
                        machine_rcvbuf_errors: Some(3),
                        machine_sndbuf_errors: Some(0),
                        rss_kb_per_leg: Some(20.0),
                        cpu_pct: Some(30.0),
                        pass: true,
                    },
                    MediaStep {
                        calls: 500,
                        legs: 1000,
                        pass: false,
                        ..Default::default()
                    },
                ],
            }),
            overload: Some(crate::overload::OverloadFig {
                moderate_rate: 1250,
                overload_rate: 5000,
                before: crate::overload::Moderate {
                    pass: true,
                    cpu_pct: Some(50.0),
                    ..Default::default()
                },
                after: crate::overload::Moderate {
                    pass: true,
                    cpu_pct: Some(55.0),
                    ..Default::default()
                },
                rss_before_kb: Some(102_400),
                rss_after_kb: vec![204_800, 112_640],
                goodput: Some(2400.0),
                ..Default::default()
            }),
            memory: None,
        }
    }

    #[test]
    fn the_overload_rows_give_the_recovery_ratios_and_goodput_against_the_ceiling() {
        let t = table(&figs());
        let line = |k: &str| t.lines().find(|l| l.starts_with(k)).unwrap().to_string();
        assert!(line("overload: RSS 60 s after / before").contains("1.10"));
        assert!(line("overload: moderate CPU after / before").contains("1.10"));
        assert!(line("overload: goodput").trim_end().ends_with("0.150"));
        assert!(line("overload: RSS 60 s after the last call, MB").contains("110"));
    }

    #[test]
    fn table_has_ratios_for_rates_only() {
        let t = table(&figs());
        let line = |k: &str| t.lines().find(|l| l.starts_with(k)).unwrap().to_string();
        assert!(line("ceiling").contains("16000"));
        let n = line("number: highest");
        assert!(n.trim_end().ends_with("2000      0.125"), "{n}");
        assert!(line("number: switch CPU").contains(" 147 "));
        assert!(line("number: RSS").contains("12.50"));
        assert!(!t.contains("ivr:"));
        let q = line("queue: highest");
        assert!(q.trim_end().ends_with("-          -"), "{q}");
        assert!(line("media: most bridged legs passing").contains(" 500 "));
        let md = markdown_table(&figs());
        assert!(md.starts_with("| figure | value | ratio to the ceiling |\n|---|---|---|\n"));
        assert!(md.contains("| number: highest passing rate, calls/s | 2000 | 0.125 |"));
        assert!(media_steps_text(figs().media.as_ref().unwrap()).contains("500 calls / 1000 legs"));
    }

    #[test]
    fn proc_net_udp_drops() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 \x20 1: 0100007F:8CA0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123456 2 0000000000000000 42\n";
        assert_eq!(udp_drops(t), [(123456, 42)]);
    }

    #[test]
    fn snmp_rcvbuf() {
        let s = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                 Udp: 10 2 3 4 17 5\nUdpLite: InDatagrams\nUdpLite: 0\n";
        assert_eq!(udp_counter(s, "RcvbufErrors"), Some(17));
        assert_eq!(udp_counter(s, "SndbufErrors"), Some(5));
        assert_eq!(udp_counter("Tcp: x\n", "RcvbufErrors"), None);
    }

    #[test]
    fn company_has_the_three_numbers() {
        let y = company(true);
        assert!(
            y.contains("\"74950000000\"")
                && y.contains("\"74950000020\"")
                && y.contains("\"74957000900\"")
        );
        assert!(y.contains(r#"text: "Hello.""#));
        assert!(company(false).contains("prompt: { kind: file, id: 1 }"));
        assert_eq!(y.matches("kind: sip_line").count(), 50);
        assert!(y.contains("{ kind: employee, id: 50 }]"));
    }
}
