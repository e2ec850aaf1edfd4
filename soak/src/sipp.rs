//! SIPp runs measured as the shared call-rate ruler measures them.
//!
//! The ruler is `bench/sipp/run_bench.py` of the shared benchmark kit (its README.md and VPBX.md
//! say how it measured Asterisk 22 and vpbx on the same kind of machine). This module is our own
//! Rust port of its parts that decide a figure, so that our figures compare with those, and it
//! needs nothing of the kit at run time:
//!
//! * [`Spec::command`]: its `build_cmd` (the SIPp command line, `-rp 1000`, the loop and buffer
//!   sizes, `-trace_stat -fd 1`), with its call count (`rate x seconds`, bounded by min/max
//!   calls), its `-l` (`max(100, rate x (hold + 1 s) x 2 + 100)`) and its SIPp `-timeout`
//!   (`calls / rate + hold + recv_timeout + 20 s`);
//! * [`parse_stats`]: its `parse_stats` (the last line of SIPp's `-trace_stat` CSV; the achieved
//!   rate is the calls asked divided by the time at which the last one was created, interpolated
//!   between the per-second lines);
//! * [`passes`]: its PASS RULE: at least 99.9 % of the calls asked succeeded, SIPp achieved at
//!   least 97 % of the asked rate, and the run was not killed at its deadline;
//! * [`search`]: its `cmd_search`: multiply the rate by the factor until a run fails (halve while
//!   nothing passed), then bisect down to the resolution, at most `max_runs` runs, then repeat
//!   the best rate `confirm` times.
//!
//! Not ported: the ruler's wait for a quiet machine and its repeat of a failed run disturbed by
//! other load (the bench prints the load average instead).

use crate::proc::{clk_tck, proc_sample};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ruler's pass threshold: percent of the calls asked that must succeed.
pub(crate) const SUCCESS_PCT: f64 = 99.9;
/// The ruler's `--min-rate-ratio`: achieved / asked rate needed to pass.
pub(crate) const MIN_RATE_RATIO: f64 = 0.97;
/// The ruler's `--buff-size`.
pub(crate) const BUFF_SIZE: u64 = 4_194_304;

#[derive(Clone, Debug)]
pub(crate) enum Scenario {
    /// `-sn NAME` (SIPp's built-in `uac`, `uas`).
    Builtin(String),
    /// `-sf FILE`.
    File(PathBuf),
}

/// One bounded SIPp load run.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) scenario: Scenario,
    pub(crate) target: SocketAddr,
    pub(crate) local_port: u16,
    pub(crate) service: Option<String>,
    pub(crate) rate: u32,
    pub(crate) calls: u64,
    pub(crate) limit: u64,
    /// `-d`, ms (the `<pause/>` of a scenario).
    pub(crate) hold_ms: u64,
    pub(crate) recv_timeout_ms: u64,
    pub(crate) mp: Option<u16>,
    pub(crate) extra: Vec<String>,
    /// Where SIPp runs (its `-trace_rtt` file lands there) and writes its statistics.
    pub(crate) out: PathBuf,
    pub(crate) tag: String,
}

/// The ruler's call count: `rate x seconds`, at least `min_calls`, at most `max_calls`.
pub(crate) fn calls_for(rate: u32, seconds: f64, min_calls: u64, max_calls: u64) -> u64 {
    ((rate as f64 * seconds) as u64).clamp(min_calls, max_calls.max(min_calls))
}

/// The ruler's default `-l`: `max(100, int(rate x (hold + 1 s) x 2) + 100)`.
pub(crate) fn limit_for(rate: u32, hold_ms: u64) -> u64 {
    ((rate as f64 * (hold_ms as f64 / 1000.0 + 1.0) * 2.0) as u64 + 100).max(100)
}

impl Spec {
    /// The ruler's SIPp global timeout, seconds.
    pub(crate) fn timeout_s(&self) -> u64 {
        (self.calls as f64 / self.rate.max(1) as f64
            + self.hold_ms as f64 / 1000.0
            + self.recv_timeout_ms as f64 / 1000.0
            + 20.0) as u64
    }
    pub(crate) fn stat_path(&self) -> PathBuf {
        self.out.join(format!("{}_stat.csv", self.tag))
    }
    /// The ruler's `build_cmd`, argument for argument.
    pub(crate) fn command(&self) -> Vec<String> {
        let mut c: Vec<String> = vec!["sipp".into()];
        match &self.scenario {
            Scenario::Builtin(n) => c.extend(["-sn".into(), n.clone()]),
            Scenario::File(f) => c.extend(["-sf".into(), f.display().to_string()]),
        }
        c.extend([
            self.target.to_string(),
            "-i".into(),
            self.target.ip().to_string(),
            "-p".into(),
            self.local_port.to_string(),
        ]);
        if let Some(s) = &self.service {
            c.extend(["-s".into(), s.clone()]);
        }
        let out = |suffix: &str| {
            self.out
                .join(format!("{}_{suffix}", self.tag))
                .display()
                .to_string()
        };
        c.extend([
            "-r".into(),
            self.rate.to_string(),
            "-rp".into(),
            "1000".into(),
            "-m".into(),
            self.calls.to_string(),
            "-l".into(),
            self.limit.to_string(),
            "-d".into(),
            self.hold_ms.to_string(),
            "-recv_timeout".into(),
            self.recv_timeout_ms.to_string(),
            "-timeout".into(),
            format!("{}s", self.timeout_s()),
            "-max_recv_loops".into(),
            "100000".into(),
            "-max_sched_loops".into(),
            "100000".into(),
            "-buff_size".into(),
            BUFF_SIZE.to_string(),
            "-nostdin".into(),
            "-trace_stat".into(),
            "-stf".into(),
            out("stat.csv"),
            "-fd".into(),
            "1".into(),
            "-trace_screen".into(),
            "-screen_file".into(),
            out("screen.log"),
            "-trace_err".into(),
            "-error_file".into(),
            out("errors.log"),
        ]);
        if let Some(mp) = self.mp {
            c.extend(["-mp".into(), mp.to_string()]);
        }
        c.extend(self.extra.iter().cloned());
        c
    }
}

/// What SIPp's statistics say about one run (the ruler's `parse_stats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Stats {
    pub(crate) created: u64,
    pub(crate) successful: u64,
    pub(crate) failed: u64,
    pub(crate) still_running: u64,
    pub(crate) retransmissions: u64,
    pub(crate) dead_call_msgs: u64,
    pub(crate) out_of_call_msgs: u64,
    pub(crate) watchdog_major: u64,
    pub(crate) watchdog_minor: u64,
    /// `Failed…(C)` counters that are not zero, by reason.
    pub(crate) fail_reasons: Vec<(String, u64)>,
    /// Calls per second achieved, rounded to 0.1 as the ruler does.
    pub(crate) achieved_cps: Option<f64>,
    pub(crate) response_time_avg_ms: Option<f64>,
    pub(crate) call_length_avg_ms: Option<f64>,
    pub(crate) duration_s: f64,
}

/// SIPp's `HH:MM:SS:uuuuuu` in milliseconds.
pub(crate) fn parse_hms_ms(v: &str) -> Option<f64> {
    let p: Vec<&str> = v.split(':').collect();
    if p.len() != 4 {
        return None;
    }
    let n = |i: usize| p[i].trim().parse::<u64>().ok();
    Some((n(0)? * 3600 + n(1)? * 60 + n(2)?) as f64 * 1000.0 + n(3)? as f64 / 1000.0)
}

/// Parses SIPp's `-trace_stat` CSV (`;`-separated, one header line) for a run of `n_calls`.
pub(crate) fn parse_stats(text: &str, n_calls: u64) -> Option<Stats> {
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(';').collect())
        .collect();
    if rows.len() < 2 {
        return None;
    }
    let hdr = &rows[0];
    let recs: Vec<&Vec<&str>> = rows[1..]
        .iter()
        .filter(|r| r.len() + 1 >= hdr.len())
        .collect();
    let col = |name: &str| hdr.iter().position(|h| *h == name);
    let field = |r: &Vec<&str>, name: &str| -> Option<String> {
        col(name).and_then(|i| r.get(i)).map(|s| s.to_string())
    };
    let last = *recs.last()?;
    let int = |name: &str| -> u64 {
        field(last, name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let epoch = |r: &Vec<&str>, name: &str| -> Option<f64> {
        field(r, name)?.split('\t').next_back()?.trim().parse().ok()
    };
    let t_start = epoch(recs[0], "StartTime")?;
    let mut t_created = None;
    let (mut prev_t, mut prev_c) = (t_start, 0u64);
    for r in &recs {
        let c: u64 = field(r, "TotalCallCreated")?.trim().parse().ok()?;
        let t = epoch(r, "CurrentTime")?;
        if c >= n_calls {
            t_created = Some(
                prev_t
                    + (t - prev_t)
                        * ((n_calls - prev_c) as f64 / (c.saturating_sub(prev_c)).max(1) as f64),
            );
            break;
        }
        (prev_t, prev_c) = (t, c);
    }
    let created = int("TotalCallCreated");
    let t_last = epoch(last, "CurrentTime")?;
    let achieved = match t_created {
        Some(tc) if tc > t_start => Some(n_calls as f64 / (tc - t_start)),
        _ if created > 0 => Some(created as f64 / (t_last - t_start).max(1e-6)),
        _ => None,
    };
    let fail_reasons = hdr
        .iter()
        .filter(|h| h.starts_with("Failed") && h.ends_with("(C)") && **h != "FailedCall(C)")
        .map(|h| (h["Failed".len()..h.len() - 3].to_string(), int(h)))
        .filter(|(_, n)| *n > 0)
        .collect();
    Some(Stats {
        created,
        successful: int("SuccessfulCall(C)"),
        failed: int("FailedCall(C)"),
        still_running: int("CurrentCall"),
        retransmissions: int("Retransmissions(C)"),
        dead_call_msgs: int("DeadCallMsgs(C)"),
        out_of_call_msgs: int("OutOfCallMsgs(C)"),
        watchdog_major: int("WatchdogMajor(C)"),
        watchdog_minor: int("WatchdogMinor(C)"),
        fail_reasons,
        achieved_cps: achieved.map(|a| (a * 10.0).round() / 10.0),
        response_time_avg_ms: field(last, "ResponseTime1(C)").and_then(|v| parse_hms_ms(&v)),
        call_length_avg_ms: field(last, "CallLength(C)").and_then(|v| parse_hms_ms(&v)),
        duration_s: ((t_last - t_start) * 100.0).round() / 100.0,
    })
}

/// Percent of the calls asked that succeeded (None without statistics or without a call made).
pub(crate) fn success_pct(stats: Option<&Stats>, calls: u64) -> Option<f64> {
    let s = stats?;
    (s.created > 0 && calls > 0).then(|| 100.0 * s.successful as f64 / calls as f64)
}

/// The ruler's PASS RULE: >= 99.9 % of the calls asked succeeded, SIPp achieved >= 97 % of the
/// asked rate, and the run was not killed at its deadline.
pub(crate) fn passes(
    ok_pct: Option<f64>,
    achieved_cps: Option<f64>,
    rate: u32,
    killed: bool,
) -> bool {
    match (ok_pct, achieved_cps) {
        (Some(ok), Some(ach)) => {
            ok >= SUCCESS_PCT && ach >= MIN_RATE_RATIO * rate as f64 && !killed
        }
        _ => false,
    }
}

/// The ruler's rate search settings (its defaults: factor 2, min rate 10, resolution 5 % or
/// 5 calls/s, 14 runs, 1 confirmation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SearchCfg {
    pub(crate) start: u32,
    pub(crate) factor: f64,
    pub(crate) min_rate: u32,
    pub(crate) max_rate: u32,
    pub(crate) max_runs: u32,
    pub(crate) resolution: f64,
    pub(crate) resolution_abs: u32,
    pub(crate) confirm: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SearchOutcome {
    /// The highest rate that passed.
    pub(crate) good: Option<u32>,
    /// The lowest rate that failed.
    pub(crate) bad: Option<u32>,
    /// Whether the confirmation runs at `good` passed too.
    pub(crate) confirmed: bool,
    /// Search runs (without the confirmations), as the ruler counts them.
    pub(crate) runs: u32,
    /// Every run in order: (rate, passed), confirmations included.
    pub(crate) sequence: Vec<(u32, bool)>,
}

/// The ruler's `cmd_search`, with `run(rate)` doing one run and returning whether it passed.
pub(crate) fn search(cfg: &SearchCfg, mut run: impl FnMut(u32) -> bool) -> SearchOutcome {
    let mut o = SearchOutcome::default();
    let (mut good, mut bad): (Option<u32>, Option<u32>) = (None, None);
    let mut rate = cfg.start;
    while o.runs < cfg.max_runs {
        o.runs += 1;
        let ok = run(rate);
        o.sequence.push((rate, ok));
        if ok {
            good = Some(rate);
            if bad.is_none() {
                if rate >= cfg.max_rate {
                    break;
                }
                rate = cfg.max_rate.min((rate as f64 * cfg.factor) as u32);
                continue;
            }
        } else {
            bad = Some(bad.map_or(rate, |b| b.min(rate)));
        }
        let Some(g) = good else {
            if rate <= cfg.min_rate {
                break;
            }
            rate = cfg.min_rate.max(rate / 2);
            continue;
        };
        let b = bad.unwrap_or(g);
        if b.saturating_sub(g) as f64 <= (cfg.resolution_abs as f64).max(g as f64 * cfg.resolution)
        {
            break;
        }
        rate = (g + b) / 2;
    }
    o.confirmed = good.is_some();
    if let Some(g) = good {
        for _ in 0..cfg.confirm {
            let ok = run(g);
            o.sequence.push((g, ok));
            if !ok {
                o.confirmed = false;
                break;
            }
        }
    }
    o.good = good;
    o.bad = bad;
    o
}

/// The call setup times of a `-trace_rtt` file (`Date_ms;response_time_ms;rtd_no`), rtd 1, ms.
pub(crate) fn parse_rtt(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| {
            let p: Vec<&str> = l.trim().split(';').collect();
            (p.len() >= 3 && p[2] == "1").then(|| p[1].parse().ok())?
        })
        .collect()
}

/// `p` (0..1) of the values: the element at `min(n - 1, floor(p x n))` of the sorted values.
pub(crate) fn quantile(vals: &[f64], p: f64) -> Option<f64> {
    if vals.is_empty() {
        return None;
    }
    let mut v = vals.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[((p * v.len() as f64) as usize).min(v.len() - 1)])
}

/// One finished run: SIPp's figures and the watched process's CPU and memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunOutcome {
    pub(crate) rate: u32,
    pub(crate) calls: u64,
    pub(crate) stats: Option<Stats>,
    pub(crate) ok_pct: Option<f64>,
    pub(crate) killed: bool,
    pub(crate) pass: bool,
    /// The watched process (the switch): CPU % of one core over the run.
    pub(crate) cpu_pct: Option<f64>,
    /// The watched process: RSS before the run and the highest sampled during it, KB.
    pub(crate) rss_before_kb: Option<u64>,
    pub(crate) rss_peak_kb: Option<u64>,
    /// SIPp's own CPU % of one core.
    pub(crate) sipp_cpu_pct: Option<f64>,
    pub(crate) command: String,
}

impl RunOutcome {
    pub(crate) fn line(&self, label: &str) -> String {
        let st = self.stats.clone().unwrap_or_default();
        let f1 = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
        format!(
            "[{label}] rate={} calls={} ok={}/{} ({}%) fail={} retrans={} achieved={}cps rt={}ms \
             switch cpu={}% rss_peak={}kB sipp cpu={}% => {}",
            self.rate,
            self.calls,
            st.successful,
            self.calls,
            self.ok_pct.map_or("-".into(), |v| format!("{v:.3}")),
            st.failed,
            st.retransmissions,
            f1(st.achieved_cps),
            f1(st.response_time_avg_ms),
            f1(self.cpu_pct),
            self.rss_peak_kb.map_or("-".into(), |v| v.to_string()),
            f1(self.sipp_cpu_pct),
            if self.pass { "PASS" } else { "FAIL" }
        )
    }
}

/// Runs SIPp as `spec` says, in `spec.out`, sampling `watch` (the switch) every 0.2 s and calling
/// `tick` as often. SIPp is killed (by its PID) 30 s past its own `-timeout`, as the ruler does.
pub(crate) fn run(spec: &Spec, watch: Option<u32>, tick: &mut dyn FnMut()) -> RunOutcome {
    let cmd = spec.command();
    let tck = clk_tck();
    let wpid = watch.map(|p| p.to_string());
    let w0 = wpid.as_deref().and_then(proc_sample);
    let mut out = RunOutcome {
        rate: spec.rate,
        calls: spec.calls,
        command: cmd.join(" "),
        rss_before_kb: w0.map(|s| s.rss_kb),
        rss_peak_kb: w0.map(|s| s.rss_kb),
        ..Default::default()
    };
    let log = std::fs::File::create(spec.out.join(format!("{}_stdout.log", spec.tag)));
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..])
        .current_dir(&spec.out)
        .stdin(Stdio::null());
    match log {
        Ok(f) => {
            if let Ok(f2) = f.try_clone() {
                c.stderr(f2);
            }
            c.stdout(f);
        }
        Err(_) => {
            c.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            eprintln!("bench: starting sipp: {e}");
            return out;
        }
    };
    let spid = child.id().to_string();
    let s0 = proc_sample(&spid);
    let mut s_last = s0;
    let deadline = Instant::now() + Duration::from_secs(spec.timeout_s() + 30);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(_) => break,
        }
        if let Some(s) = wpid.as_deref().and_then(proc_sample) {
            out.rss_peak_kb = Some(out.rss_peak_kb.unwrap_or(0).max(s.rss_kb));
        }
        if let Some(s) = proc_sample(&spid) {
            s_last = Some(s);
        }
        tick();
        if Instant::now() > deadline {
            let _ = child.kill(); // only the SIPp started here
            let _ = child.wait();
            out.killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let w1 = wpid.as_deref().and_then(proc_sample);
    if let (Some(a), Some(b)) = (w0, w1) {
        out.cpu_pct = Some(crate::proc::cpu_pct(&a, &b, tck));
    }
    if let (Some(a), Some(b)) = (s0, s_last) {
        out.sipp_cpu_pct = Some(crate::proc::cpu_pct(&a, &b, tck));
    }
    out.stats = std::fs::read_to_string(spec.stat_path())
        .ok()
        .and_then(|t| parse_stats(&t, spec.calls));
    out.ok_pct = success_pct(out.stats.as_ref(), spec.calls);
    out.pass = passes(
        out.ok_pct,
        out.stats.as_ref().and_then(|s| s.achieved_cps),
        spec.rate,
        out.killed,
    );
    out
}

/// A long-lived SIPp (a UAS) started here; killed by its PID when dropped.
pub(crate) struct Background {
    pub(crate) child: Child,
    pub(crate) name: String,
}

impl Background {
    pub(crate) fn start(
        name: &str,
        args: &[String],
        dir: &Path,
        port: u16,
    ) -> Result<Background, String> {
        let log =
            std::fs::File::create(dir.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
        let child = Command::new("sipp")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting sipp ({name}): {e}"))?;
        let mut bg = Background {
            child,
            name: name.to_string(),
        };
        // Bound when its port is taken (a UDP bind there fails).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if std::net::UdpSocket::bind(("127.0.0.1", port)).is_err() {
                return Ok(bg);
            }
            if let Ok(Some(st)) = bg.child.try_wait() {
                return Err(format!("sipp ({name}) exited at start: {st}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "sipp ({name}) did not bind 127.0.0.1:{port} within 5 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!(
            "bench: stopped sipp {} (pid {})",
            self.name,
            self.child.id()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = include_str!("../testdata/sipp_stat_uac_200cps.csv");

    fn cfg(start: u32, max_rate: u32, max_runs: u32, confirm: u32) -> SearchCfg {
        SearchCfg {
            start,
            factor: 2.0,
            min_rate: 10,
            max_rate,
            max_runs,
            resolution: 0.05,
            resolution_abs: 5,
            confirm,
        }
    }

    #[test]
    fn pass_rule_is_the_rulers() {
        assert!(passes(Some(100.0), Some(970.0), 1000, false));
        assert!(passes(Some(99.9), Some(1000.0), 1000, false));
        assert!(!passes(Some(99.89), Some(1000.0), 1000, false));
        assert!(!passes(Some(100.0), Some(969.9), 1000, false));
        assert!(!passes(Some(100.0), Some(1000.0), 1000, true));
        assert!(!passes(None, Some(1000.0), 1000, false));
        assert!(!passes(Some(100.0), None, 1000, false));
        let st = Stats {
            created: 2000,
            successful: 1998,
            ..Default::default()
        };
        assert_eq!(success_pct(Some(&st), 2000), Some(99.9));
        assert_eq!(success_pct(Some(&Stats::default()), 2000), None);
    }

    #[test]
    fn search_doubles_then_bisects() {
        // Passes up to 1500: 200 400 800 1600(F) 1200 1400 1500 1550(F) → 1500 - 1550 = 50 < 75.
        let o = search(&cfg(200, 20000, 14, 1), |r| r <= 1500);
        let rates: Vec<u32> = o.sequence.iter().map(|x| x.0).collect();
        assert_eq!(rates, [200, 400, 800, 1600, 1200, 1400, 1500, 1550, 1500]);
        assert_eq!(
            (o.good, o.bad, o.runs, o.confirmed),
            (Some(1500), Some(1550), 8, true)
        );
    }

    #[test]
    fn search_is_bounded_and_halves_from_a_failing_start() {
        let o = search(&cfg(200, 20000, 3, 0), |_| true);
        assert_eq!(o.sequence, [(200, true), (400, true), (800, true)]);
        assert_eq!((o.good, o.bad, o.runs), (Some(800), None, 3));
        // Nothing passes at 200: 100, 50, ... down to the minimum.
        let o = search(&cfg(200, 20000, 14, 1), |r| r <= 60);
        let rates: Vec<u32> = o.sequence.iter().map(|x| x.0).collect();
        // 59 - 62 is within 5 calls/s: stop, confirm 59.
        assert_eq!(rates, [200, 100, 50, 75, 62, 56, 59, 59]);
        assert_eq!((o.good, o.bad, o.runs), (Some(59), Some(62), 7));
        // The maximum passes: stop there.
        let o = search(&cfg(5000, 8000, 14, 0), |_| true);
        assert_eq!(o.sequence, [(5000, true), (8000, true)]);
        // Nothing passes at all.
        let o = search(&cfg(40, 100, 14, 1), |_| false);
        assert_eq!(o.sequence, [(40, false), (20, false), (10, false)]);
        assert_eq!((o.good, o.confirmed), (None, false));
    }

    #[test]
    fn stats_of_a_real_sipp_run() {
        // sipp -sn uac against sipp -sn uas: -r 200 -m 500, all successful.
        let s = parse_stats(STAT, 500).unwrap();
        assert_eq!(s.created, 500);
        assert_eq!(s.successful, 500);
        assert_eq!(s.failed, 0);
        assert!(s.fail_reasons.is_empty());
        let a = s.achieved_cps.unwrap();
        assert!((190.0..=205.0).contains(&a), "{a}");
        assert!(passes(
            success_pct(Some(&s), 500),
            s.achieved_cps,
            200,
            false
        ));
        assert!(!passes(
            success_pct(Some(&s), 500),
            s.achieved_cps,
            220,
            false
        ));
        assert!(s.duration_s > 2.0 && s.duration_s < 4.0, "{}", s.duration_s);
        assert_eq!(parse_hms_ms("00:00:01:500000"), Some(1500.0));
        assert_eq!(parse_hms_ms("x"), None);
        assert!(parse_stats("StartTime;\n", 10).is_none());
    }

    #[test]
    fn rtt_and_quantiles() {
        let v = parse_rtt(include_str!("../testdata/sipp_rtt_sample.csv"));
        assert_eq!(v.len(), 19);
        assert_eq!(
            parse_rtt("Date_ms;response_time_ms;rtd_no\n1.0;3;1\n2.0;7;2\n"),
            [3.0]
        );
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(51.0));
        assert_eq!(quantile(&v, 0.99), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn command_line_is_the_rulers() {
        let s = Spec {
            scenario: Scenario::Builtin("uac".into()),
            target: "127.0.0.1:36002".parse().unwrap(),
            local_port: 36003,
            service: None,
            rate: 2000,
            calls: calls_for(2000, 8.0, 2000, 100_000),
            limit: limit_for(2000, 0),
            hold_ms: 0,
            recv_timeout_ms: 10000,
            mp: Some(36400),
            extra: vec![],
            out: PathBuf::from("/o"),
            tag: "t".into(),
        };
        assert_eq!(s.calls, 16000);
        assert_eq!(s.limit, 4100);
        assert_eq!(s.timeout_s(), 38);
        assert_eq!(
            s.command().join(" "),
            "sipp -sn uac 127.0.0.1:36002 -i 127.0.0.1 -p 36003 -r 2000 -rp 1000 -m 16000 -l 4100 \
             -d 0 -recv_timeout 10000 -timeout 38s -max_recv_loops 100000 -max_sched_loops 100000 \
             -buff_size 4194304 -nostdin -trace_stat -stf /o/t_stat.csv -fd 1 -trace_screen \
             -screen_file /o/t_screen.log -trace_err -error_file /o/t_errors.log -mp 36400"
        );
        assert_eq!(calls_for(100, 8.0, 2000, 100_000), 2000);
        assert_eq!(calls_for(20000, 8.0, 2000, 100_000), 100_000);
        assert_eq!(limit_for(100, 1000), 500);
    }
}
