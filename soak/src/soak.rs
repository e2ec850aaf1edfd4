//! `vpbx-soak soak --minutes N`: contact-center traffic through a release switch for N minutes,
//! then the checks that nothing was lost or left behind.
//!
//! The run, all on 127.0.0.1, every process bounded in calls and seconds and stopped at the end:
//! 1. a fresh switch with the company of [`mix::company`] (flood and auth-failure bans off: all
//!    load comes from one address; no OPTIONS probes of the SIPp phones);
//! 2. the agents' SIP lines registered by SIPp (`soak_register.xml`), then SIPp UASs on the
//!    same ports answer for them: the agents, the desk and the second line answer, play G.711
//!    speech and hang up after `--talk-ms`, or answer the BYE of a caller who hung up first
//!    (`soak_agent.xml`); two agents transfer each call to the second line (`uas_refer.xml`, a
//!    REFER); a SIPp "carrier" behind the trunk answers the switch's callbacks
//!    (`uas_answer_wait_bye.xml`);
//! 3. one SIPp caller per kind of [`mix::MIX`], at its share of `--rate`, for the minutes asked;
//! 4. the drain: no call up, nobody queued, no media session (bounded);
//! 5. the checks: every call placed has a record with a final result; each kind went its way
//!    ([`mix::went_its_way`]); every SIPp call (callers and phones) went as its scenario says;
//!    every callback asked for was made, every transfer completed; RSS at the end of the
//!    traffic within 10 % of its value after the warm-up; no actor restarts; SIPp
//!    retransmissions under 0.1 % of the requests the switch received; file descriptors and RTP
//!    ports back to their idle count. Exit 1 when one fails, 2 when the run could not be made.

use crate::mix::{self, KindReport, MIX};
use crate::proc::proc_sample;
use crate::sipp::Stats;
use crate::switch::{free_port, work_dir, Launch, Switch};
use clap::Args;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Args, Clone, Debug)]
pub(crate) struct SoakArgs {
    /// Minutes of traffic (at most 100: the phones register once, for two hours).
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// New calls per second, all kinds together (decision D70: about a twentieth of what the
    /// switch takes on 2 cores, so a busy CI machine keeps up).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// The switch binary to start.
    #[arg(long, default_value = "target/release/vpbx")]
    switch_bin: PathBuf,
    /// Employees in the agent group (the last two transfer every call they answer).
    #[arg(long, default_value_t = 20)]
    agents: u32,
    /// Lines per agent phone.
    #[arg(long, default_value_t = 2)]
    lines: u32,
    /// How long an agent talks before hanging up, ms.
    #[arg(long, default_value_t = 2000)]
    talk_ms: u64,
    /// Seconds of the same traffic before the minutes measured: the reference RSS is taken at
    /// their end (at a constant load the allocator's heaps and the caches grow for about a
    /// minute and a half, then stay).
    #[arg(long, default_value_t = 90.0)]
    warmup_secs: f64,
    /// Longest wait, seconds, for the switch to drain after the traffic.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
    /// Lowest RTP port of the switch.
    #[arg(long, default_value_t = 41000)]
    rtp_min: u16,
    /// Highest RTP port of the switch.
    #[arg(long, default_value_t = 44999)]
    rtp_max: u16,
    /// The SIPp scenarios' directory.
    #[arg(long, default_value = "soak/sipp")]
    sipp_dir: PathBuf,
    /// The greeting prompt the company plays.
    #[arg(long, default_value = "config/prompts/greeting.wav")]
    greeting: PathBuf,
    /// Keep the work directory (switch data and log, SIPp statistics and errors, the call
    /// records in records.json); it is kept anyway when a check fails.
    #[arg(long)]
    keep: bool,
}

const ADMIN_PASSWORD: &str = "soak-admin-password";
const HOST: [u8; 4] = [127, 0, 0, 1];

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((HOST, port))
}

// ---------------------------------------------------------------------------------------------
// SIPp processes

/// One SIPp process: its statistics and error files, killed on drop.
struct Sipp {
    name: String,
    child: Option<Child>,
    stat: PathBuf,
    errors: PathBuf,
}

impl Sipp {
    /// Starts `sipp -sf <scenario> <args> <switch>` with statistics every second.
    fn start(
        name: &str,
        dir: &Path,
        scenario: &Path,
        args: &[String],
        target: SocketAddr,
    ) -> Result<Sipp, String> {
        let stat = dir.join(format!("{name}_stat.csv"));
        let errors = dir.join(format!("{name}_errors.log"));
        let out =
            std::fs::File::create(dir.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(scenario)
            .args(args)
            .args(["-i", "127.0.0.1", "-nostdin", "-buff_size", "4194304"])
            .args(["-trace_stat", "-fd", "1", "-stf"])
            .arg(&stat)
            .args(["-trace_err", "-error_file"])
            .arg(&errors)
            .arg(target.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("starting sipp ({name}): {e} (apt-get install sip-tester)"))?;
        Ok(Sipp {
            name: name.to_string(),
            child: Some(child),
            stat,
            errors,
        })
    }

    /// `Some(exit code)` once it has exited.
    fn exited(&mut self) -> Option<i32> {
        let c = self.child.as_mut()?;
        c.try_wait().ok().flatten().map(|s| s.code().unwrap_or(-1))
    }

    /// Waits for the exit, at most `limit`; kills it after that.
    fn wait(&mut self, limit: Duration) -> i32 {
        let until = Instant::now() + limit;
        loop {
            if let Some(code) = self.exited() {
                return code;
            }
            if Instant::now() >= until {
                self.stop();
                return -1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM (SIPp writes its last statistics), then SIGKILL after 3 s.
    fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Its last statistics (all zero when it wrote none).
    fn stats(&self) -> Stats {
        let text = std::fs::read_to_string(&self.stat).unwrap_or_default();
        crate::sipp::parse_stats(&text, u64::MAX).unwrap_or_default()
    }

    /// The start of the error file, without SIPp's notes of expected detours (a receive
    /// timeout that jumps to a label, an INFO or NOTIFY answered automatically).
    fn first_errors(&self, n: usize) -> String {
        let t = std::fs::read_to_string(&self.errors).unwrap_or_default();
        let t = t.replace("127.0.0.12026-", "127.0.0.1\n2026-");
        t.lines()
            .filter(|l| !l.contains("jumping to label") && !l.contains("Automatic response mode"))
            .filter(|l| !l.starts_with("The following events occurred"))
            .take(n)
            .map(|l| l.chars().take(400).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP (blocking, every call bounded)

/// A blocking request to the switch's HTTP side (30 s read bound: the call records of a long
/// soak are large).
fn http_call(
    at: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    crate::metrics::request(at, method, path, token, body, Duration::from_secs(30))
}

fn metrics(at: SocketAddr) -> String {
    http_call(at, "GET", "/metrics", None, None)
        .map(|r| r.1)
        .unwrap_or_default()
}

fn metric(text: &str, name: &str) -> f64 {
    crate::metrics::prom_value(text, name)
}

/// Every call record, newest first, page by page.
fn all_records(at: SocketAddr, token: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/calls?limit=1000&cursor={c}"),
            None => "/api/v1/calls?limit=1000".to_string(),
        };
        let (code, body) = http_call(at, "GET", &path, Some(token), None)?;
        if code != 200 {
            return Err(format!("GET {path}: HTTP {code}: {body}"));
        }
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        out.extend(v["items"].as_array().cloned().unwrap_or_default());
        match v["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => return Ok(out),
        }
    }
    Err("more than 10,000 pages of call records".into())
}

// ---------------------------------------------------------------------------------------------
// /proc

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(d) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

fn rtp_sockets(pid: u32, lo: u16, hi: u16) -> usize {
    let inodes = socket_inodes(pid);
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .map(|f| {
            mix::udp_ports_in_range(
                &std::fs::read_to_string(f).unwrap_or_default(),
                &inodes,
                lo,
                hi,
            )
        })
        .sum()
}

fn rss_kb(pid: u32) -> u64 {
    proc_sample(&pid.to_string()).map_or(0, |s| s.rss_kb)
}

// ---------------------------------------------------------------------------------------------
// The run

/// One check of the end: what was measured, and whether it passed.
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

pub(crate) fn soak(a: SoakArgs) -> Result<bool, String> {
    if !(a.minutes > 0.0 && a.minutes <= 100.0) {
        return Err("--minutes must be above 0 and at most 100".into());
    }
    if !(a.rate > 0.0 && a.rate <= 2000.0) {
        return Err("--rate must be above 0 and at most 2000".into());
    }
    if a.agents < mix::TRANSFERRING_AGENTS + 1 {
        return Err(format!(
            "--agents must be at least {}",
            mix::TRANSFERRING_AGENTS + 1
        ));
    }
    for f in [&a.switch_bin, &a.greeting, &a.sipp_dir] {
        if !f.exists() {
            return Err(format!(
                "{} not found (run from the repository's root after `cargo build --release`)",
                f.display()
            ));
        }
    }
    if !(0.0..=3600.0).contains(&a.warmup_secs) {
        return Err("--warmup-secs must be 0-3600".into());
    }
    // The callers run through the warm-up and the minutes measured.
    let warmup = a.warmup_secs;
    let seconds = warmup + a.minutes * 60.0;
    let dir = work_dir("soak")?;
    let result = run(&a, &dir, seconds, warmup);
    let keep = a.keep || !matches!(result, Ok(true));
    if keep {
        eprintln!("soak: work directory kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run(a: &SoakArgs, dir: &Path, seconds: f64, warmup: f64) -> Result<bool, String> {
    let started = Instant::now();
    let sipp_dir = a.sipp_dir.clone();
    let sc = |f: &str| sipp_dir.join(f);
    // Ports: the switch's, then a SIP and a media port per SIPp.
    let sip = addr(free_port());
    let http_at = addr(free_port());
    let agent_port = free_port();
    let transfer_port = free_port();
    let carrier_port = free_port();

    // 1. The company and the switch.
    let company_dir = dir.join("company");
    std::fs::create_dir_all(company_dir.join("prompts")).map_err(|e| e.to_string())?;
    std::fs::copy(&a.greeting, company_dir.join("prompts/greeting.wav"))
        .map_err(|e| format!("{}: {e}", a.greeting.display()))?;
    std::fs::write(
        company_dir.join("company.yaml"),
        mix::company(a.agents, a.lines, addr(carrier_port)),
    )
    .map_err(|e| e.to_string())?;
    let toml = company_dir.join("vpbx.toml");
    std::fs::write(
        &toml,
        "# vpbx-soak soak: the company is loaded into the empty data dir on first start.\n\
         demo = \"company.yaml\"\n\
         # No OPTIONS probes: the SIPp phones would take one for a call.\n\
         qualify_interval_s = 0\n",
    )
    .map_err(|e| e.to_string())?;
    let mut switch = Switch::launch(Launch {
        bin: &a.switch_bin,
        dir: dir.to_path_buf(),
        config: toml,
        sip,
        http: http_at,
        rtp: (a.rtp_min, a.rtp_max),
        args: &[],
        // The lines keep the passwords the company document gives them.
        env: &[
            ("VPBX_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("VPBX_DEMO_PASSWORDS", "document"),
        ],
        setsid: false,
    })?;
    let pid = switch.pid.ok_or("no switch pid")?;
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if matches!(
            http_call(http_at, "GET", "/health", None, None),
            Ok((200, _))
        ) {
            break;
        }
        if let Some(c) = switch.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                return Err(format!(
                    "the switch exited at start ({st}):\n{}",
                    switch.log_tail(20)
                ));
            }
        }
        if Instant::now() >= until {
            return Err("the switch's /health did not answer within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, body) = http_call(
        http_at,
        "POST",
        "/api/v1/auth/token",
        None,
        Some(&json!({"username": "admin", "password": ADMIN_PASSWORD})),
    )?;
    if code != 200 {
        return Err(format!("login: HTTP {code}: {body}"));
    }
    let token = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_string))
        .ok_or("login: no token")?;
    println!(
        "soak: switch {} (pid {pid}) SIP {sip} HTTP {http_at}, {warmup:.0} s of warm-up + {} min at {} calls/s",
        a.switch_bin.display(),
        a.minutes,
        a.rate
    );

    // 2. The phones: register, then answer on the same ports.
    let agents = mix::agent_logins(a.agents);
    let split = agents.len() - mix::TRANSFERRING_AGENTS as usize;
    let mut answering: Vec<u32> = agents[..split].to_vec();
    answering.extend(mix::DESK);
    answering.push(mix::SECOND_LINE);
    let transferring = agents[split..].to_vec();
    for (name, port, logins) in [
        ("register_agents", agent_port, &answering),
        ("register_transfer", transfer_port, &transferring),
    ] {
        let csv = dir.join(format!("{name}.csv"));
        std::fs::write(&csv, mix::register_csv(logins)).map_err(|e| e.to_string())?;
        let mut reg = Sipp::start(
            name,
            dir,
            &sc("soak_register.xml"),
            &[
                "-inf".into(),
                csv.display().to_string(),
                "-p".into(),
                port.to_string(),
                "-m".into(),
                logins.len().to_string(),
                "-r".into(),
                "50".into(),
                "-timeout".into(),
                "30s".into(),
                "-timeout_error".into(),
            ],
            sip,
        )?;
        let code = reg.wait(Duration::from_secs(40));
        if code != 0 {
            return Err(format!(
                "registering the phones ({name}) failed (SIPp exit {code}):\n{}",
                reg.first_errors(20)
            ));
        }
    }
    let span = format!("{}s", (seconds + a.drain_secs as f64 + 120.0).ceil() as u64);
    let phones_args = |port: u16, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "-p".into(),
            port.to_string(),
            "-mp".into(),
            free_port().to_string(),
            "-timeout".into(),
            span.clone(),
            "-m".into(),
            "10000000".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let talk = a.talk_ms.to_string();
    let refer_to = format!("<sip:{}@{sip}>", mix::SECOND_LINE);
    let mut phones = vec![
        Sipp::start(
            "agents",
            dir,
            &sc("soak_agent.xml"),
            &phones_args(
                agent_port,
                &["-key", "line", "agent", "-key", "hangup_ms", &talk],
            ),
            sip,
        )?,
        Sipp::start(
            "transferring_agents",
            dir,
            &sc("uas_refer.xml"),
            &phones_args(
                transfer_port,
                &[
                    "-aa", "-key", "line", "agent", "-key", "refer_to", &refer_to,
                ],
            ),
            sip,
        )?,
        Sipp::start(
            "carrier",
            dir,
            &sc("uas_answer_wait_bye.xml"),
            &phones_args(
                carrier_port,
                &["-key", "line", "carrier", "-key", "ring_ms", "0"],
            ),
            sip,
        )?,
    ];
    std::thread::sleep(Duration::from_millis(500));
    for p in &mut phones {
        if let Some(code) = p.exited() {
            return Err(format!(
                "the phones' SIPp {} exited at start ({code}): {}",
                p.name,
                std::fs::read_to_string(dir.join(format!("{}.out", p.name))).unwrap_or_default()
            ));
        }
    }

    // Idle: what the switch holds with the phones registered and no call.
    let idle_fds = fd_count(pid);
    let idle_rtp = rtp_sockets(pid, a.rtp_min, a.rtp_max);
    let idle_rss = rss_kb(pid);
    println!("soak: idle: {idle_fds} fds, {idle_rtp} RTP sockets, RSS {idle_rss} KB");

    // 3. The callers.
    let mut placed_plan: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut callers = Vec::new();
    let run_timeout = format!("{}s", (seconds + 120.0).ceil() as u64);
    for k in MIX {
        let p = mix::pace(&k, a.rate, seconds);
        placed_plan.insert(k.name, p.calls);
        let args: Vec<String> = vec![
            "-s".into(),
            mix::NUMBER.into(),
            "-cid_str".into(),
            format!("soak-{}-%u-%p@%s", k.name),
            "-key".into(),
            "caller_prefix".into(),
            k.caller_prefix.into(),
            "-key".into(),
            "digit".into(),
            k.digit.into(),
            "-key".into(),
            "digit2".into(),
            k.digit2.into(),
            "-p".into(),
            free_port().to_string(),
            "-mp".into(),
            free_port().to_string(),
            "-r".into(),
            p.rate_per_10s.to_string(),
            "-rp".into(),
            "10000".into(),
            "-m".into(),
            p.calls.to_string(),
            "-timeout".into(),
            run_timeout.clone(),
            "-aa".into(),
        ];
        callers.push((k, Sipp::start(k.name, dir, &sc(k.scenario), &args, sip)?));
    }
    println!(
        "soak: callers started: {}",
        placed_plan
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Watch: RSS after the warm-up and at the end of the traffic, the peak of calls up.
    let traffic_start = Instant::now();
    let mut warm_rss: Option<u64> = None;
    let mut end_rss = 0;
    let mut peak_calls = 0.0f64;
    let mut peak_rss = 0;
    let mut last_print = Instant::now();
    let limit = Duration::from_secs_f64(seconds + 180.0);
    loop {
        let t = traffic_start.elapsed();
        let rss = rss_kb(pid);
        peak_rss = peak_rss.max(rss);
        let m = metrics(http_at);
        let up = metric(&m, "vpbx_active_calls");
        peak_calls = peak_calls.max(up);
        if warm_rss.is_none() && t.as_secs_f64() >= warmup {
            warm_rss = Some(rss);
            println!("soak: after the warm-up ({warmup:.0} s): RSS {rss} KB, {up} calls up");
        }
        if t.as_secs_f64() <= seconds {
            end_rss = rss;
        }
        if last_print.elapsed() >= Duration::from_secs(15) {
            last_print = Instant::now();
            println!(
                "soak: {:>4.0} s: {up} calls up, {} queued, RSS {rss} KB",
                t.as_secs_f64(),
                metric(&m, "vpbx_queued_callers")
            );
        }
        let all_done = callers.iter_mut().all(|(_, s)| s.exited().is_some());
        if all_done || t >= limit {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let traffic_secs = traffic_start.elapsed().as_secs_f64();
    let warm_rss = warm_rss.unwrap_or(end_rss);

    // 4. The drain.
    let drain_until = Instant::now() + Duration::from_secs(a.drain_secs);
    let mut drained = false;
    let mut last = String::new();
    while Instant::now() < drain_until {
        let m = metrics(http_at);
        let (up, queued, media) = (
            metric(&m, "vpbx_active_calls"),
            metric(&m, "vpbx_queued_callers"),
            metric(&m, "vpbx_media_sessions_active"),
        );
        last = format!("{up} calls up, {queued} queued, {media} media sessions");
        if up == 0.0 && queued == 0.0 && media == 0.0 {
            drained = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let drain_secs = traffic_start.elapsed().as_secs_f64() - traffic_secs;
    // Ports and descriptors: give closing sockets a few seconds.
    let mut fds = fd_count(pid);
    let mut rtp = rtp_sockets(pid, a.rtp_min, a.rtp_max);
    let settle = Instant::now() + Duration::from_secs(30);
    while (fds > idle_fds || rtp > idle_rtp) && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(500));
        fds = fd_count(pid);
        rtp = rtp_sockets(pid, a.rtp_min, a.rtp_max);
    }
    let drained_rss = rss_kb(pid);
    let m = metrics(http_at);
    for p in &mut phones {
        p.stop();
    }

    // 5. The records and the checks.
    let cdrs = all_records(http_at, &token)?;
    let _ = std::fs::write(
        dir.join("records.json"),
        serde_json::to_string_pretty(&cdrs).unwrap_or_default(),
    );
    let mut placed: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut sipp_failed: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut retrans = 0;
    for (k, s) in &callers {
        let st = s.stats();
        placed.insert(k.name, st.created);
        sipp_failed.insert(k.name, st.failed);
        retrans += st.retransmissions;
    }
    let mut phones_failed = Vec::new();
    for p in &phones {
        let st = p.stats();
        retrans += st.retransmissions;
        if st.failed > 0 {
            phones_failed.push(format!("{} {}", p.name, st.failed));
        }
    }
    let (reports, others) = mix::judge(&placed, &cdrs);
    let requests_in = {
        let t = &m;
        t.lines()
            .filter(|l| l.starts_with("vpbx_sip_requests_total{") && l.contains("direction=\"in\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let restarts = metric(&m, "vpbx_actor_restarts_total");
    // The callbacks asked for (by callers waiting at the desk) and the calls the switch made
    // for them (records of their own, `callback_started`).
    let asked: HashSet<&str> = cdrs
        .iter()
        .filter(|c| mix::has_event(c, "callback_requested"))
        .filter_map(|c| c["numa"].as_str())
        .collect();
    let made: Vec<&Value> = others
        .iter()
        .filter(|c| mix::has_event(c, "callback_started"))
        .collect();
    let made_to: HashSet<&str> = made.iter().filter_map(|c| c["numa"].as_str()).collect();
    let callbacks_answered = made.iter().filter(|c| mix::has_event(c, "talk")).count();
    let not_called_back: Vec<&str> = asked.difference(&made_to).copied().collect();
    let count = |what: &str| cdrs.iter().filter(|c| mix::has_event(c, what)).count();
    let (transfers, transferred) = (count("transfer_requested"), count("transfer_completed"));

    println!();
    println!(
        "== soak: {warmup:.0} s of warm-up + {:.1} min, {} calls/s asked ({:.0} s of traffic, drain {:.0} s)",
        a.minutes, a.rate, traffic_secs, drain_secs
    );
    println!(
        "{:<10} {:>7} {:>9} {:>8} {:>7} {:>11}  results",
        "kind", "placed", "recorded", "on path", "queued", "sipp failed"
    );
    let mut lost = 0;
    let mut off_path = Vec::new();
    for k in MIX {
        let r = reports
            .get(k.name)
            .cloned()
            .unwrap_or_else(KindReport::default);
        lost += r.placed - r.recorded.min(r.placed);
        if r.on_path < r.recorded {
            off_path.push(format!(
                "{} {}/{}",
                k.name,
                r.recorded - r.on_path,
                r.recorded
            ));
        }
        println!(
            "{:<10} {:>7} {:>9} {:>8} {:>7} {:>11}  {}{}",
            k.name,
            r.placed,
            r.recorded,
            r.on_path,
            r.queued,
            sipp_failed.get(k.name).copied().unwrap_or(0),
            r.results
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            if r.missing.is_empty() {
                String::new()
            } else {
                format!("; no record for call numbers {:?}", r.missing)
            }
        );
    }
    let placed_total: u64 = placed.values().sum();
    let recorded_total: u64 = reports.values().map(|r| r.recorded).sum();
    println!(
        "callbacks: {} asked for, {} made by the switch ({callbacks_answered} talked to the desk); other records: {}",
        asked.len(),
        made.len(),
        others.len() - made.len()
    );
    println!("transfers by the agents: {transfers} asked for, {transferred} completed");
    println!(
        "peak: {peak_calls} calls up, RSS {peak_rss} KB; RSS idle {idle_rss} KB, after warm-up {warm_rss} KB, end of traffic {end_rss} KB, drained {drained_rss} KB"
    );

    let retrans_pct = if requests_in > 0.0 {
        retrans as f64 * 100.0 / requests_in
    } else {
        0.0
    };
    let rss_growth = (end_rss as f64 - warm_rss as f64) * 100.0 / (warm_rss.max(1) as f64);
    let checks = [
        Check {
            name: "every call placed has a record with a final result",
            ok: lost == 0 && placed_total > 0,
            detail: format!("{recorded_total} of {placed_total} placed; {lost} without a record"),
        },
        Check {
            name: "each call went its kind's way",
            ok: off_path.is_empty(),
            detail: if off_path.is_empty() {
                "all".into()
            } else {
                format!("off the path: {}", off_path.join(", "))
            },
        },
        Check {
            name: "every SIPp call went as its scenario says (callers and phones)",
            ok: sipp_failed.values().all(|n| *n == 0) && phones_failed.is_empty(),
            detail: {
                let mut v: Vec<String> = sipp_failed
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                v.extend(phones_failed.iter().cloned());
                if v.is_empty() {
                    "no failed call".into()
                } else {
                    format!("failed: {}", v.join(", "))
                }
            },
        },
        Check {
            name: "every callback asked for was made",
            ok: not_called_back.is_empty(),
            detail: if not_called_back.is_empty() {
                format!("{} of {}", made_to.len(), asked.len())
            } else {
                format!("never called back: {not_called_back:?}")
            },
        },
        Check {
            name: "every transfer an agent asked for was completed",
            ok: transfers == transferred,
            detail: format!("{transferred} of {transfers}"),
        },
        Check {
            name: "drained: no call up, nobody queued, no media session",
            ok: drained,
            detail: last.clone(),
        },
        Check {
            name: "RSS at the end of the traffic within 10 % of after the warm-up",
            ok: rss_growth <= 10.0,
            detail: format!("{warm_rss} KB → {end_rss} KB ({rss_growth:+.1} %)"),
        },
        Check {
            name: "no actor restarts",
            ok: restarts == 0.0,
            detail: format!("{restarts}"),
        },
        Check {
            name: "SIP retransmissions under 0.1 % of requests",
            ok: retrans_pct < 0.1,
            detail: format!(
                "{retrans} SIPp retransmissions / {requests_in} requests the switch received = {retrans_pct:.3} %"
            ),
        },
        Check {
            name: "file descriptors back to idle",
            ok: fds <= idle_fds,
            detail: format!("{idle_fds} idle → {fds}"),
        },
        Check {
            name: "RTP ports back to idle",
            ok: rtp <= idle_rtp,
            detail: format!("{idle_rtp} idle → {rtp}"),
        },
    ];
    println!();
    let mut ok = true;
    for c in &checks {
        ok &= c.ok;
        println!(
            "{} {}: {}",
            if c.ok { "PASS" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    if !ok {
        for s in callers.iter().map(|(_, s)| s).chain(phones.iter()) {
            let e = s.first_errors(5);
            if !e.is_empty() {
                println!("-- first SIPp errors of {}:\n{e}", s.name);
            }
        }
        let log = switch.log_tail(30);
        println!("-- switch log (last lines):\n{log}");
    }
    let status = switch.stop().unwrap_or_default();
    println!(
        "soak: {} in {:.0} s; switch stopped: {status}",
        if ok { "PASS" } else { "FAIL" },
        started.elapsed().as_secs_f64()
    );
    Ok(ok)
}
