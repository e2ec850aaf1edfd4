//! `vpbx-soak bench --only overload`: issue 14's overload and recovery, on one fresh switch.
//!
//! 1. a moderate rate of benchmark-number calls (default 1,250/s, half of what the switch
//!    sustains on the project machine): its CPU, setup p50/p99, RSS when drained;
//! 2. twice the sustainable rate (default 5,000/s) for 10 s with the ruler's command, whose
//!    scenario ACKs a 503 as a real phone does (`bench_pbx_bye_shed.xml`): calls completed,
//!    shed with 503 (the switch's `vpbx_sip_overload_refusals_total` and
//!    `vpbx_sip_backlog_refusals_total`), failed otherwise,
//!    goodput, peak RSS;
//! 3. after the last call ended, RSS every 20 s for 60 s;
//! 4. the moderate rate again: CPU and latency against step 1.
//!
//! The bars (reported, never asserted): RSS 60 s after within 20 % of step 1's, CPU of
//! step 4 within ±10 % of step 1's, the same latency, goodput near capacity.
//!
//! `--only memory` (issue 14 item 4): on a fresh switch, 1,000 benchmark-number calls, idle RSS;
//! then 99,000 more at the moderate rate, idle RSS again (bar: within 20 MB of the first).

use crate::bench::{self, Ctx, Load};
use crate::sipp::RunOutcome;
use std::time::{Duration, Instant};

/// One moderate run's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Moderate {
    pub(crate) pass: bool,
    pub(crate) cpu_pct: Option<f64>,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
}

/// The section's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct OverloadFig {
    pub(crate) moderate_rate: u32,
    pub(crate) overload_rate: u32,
    pub(crate) before: Moderate,
    pub(crate) after: Moderate,
    /// RSS drained after step 1, KB.
    pub(crate) rss_before_kb: Option<u64>,
    pub(crate) rss_peak_kb: Option<u64>,
    /// RSS 0, 20, 40 and 60 s after the last call of the overload ended, KB.
    pub(crate) rss_after_kb: Vec<u64>,
    /// Seconds from the end of SIPp's overload run until the switch had no call up.
    pub(crate) drain_s: Option<f64>,
    pub(crate) offered: u64,
    pub(crate) completed: Option<u64>,
    pub(crate) shed: Option<u64>,
    pub(crate) failed: Option<u64>,
    /// Completed calls per second of the overload run.
    pub(crate) goodput: Option<f64>,
    pub(crate) overload_cpu_pct: Option<f64>,
    pub(crate) retransmissions: Option<u64>,
}

impl OverloadFig {
    /// RSS 60 s after / before, as a ratio.
    pub(crate) fn rss_recovery(&self) -> Option<f64> {
        let after = *self.rss_after_kb.last()? as f64;
        Some(after / self.rss_before_kb? as f64)
    }
    /// CPU of the moderate rate after / before.
    pub(crate) fn cpu_ratio(&self) -> Option<f64> {
        Some(self.after.cpu_pct? / self.before.cpu_pct?)
    }
}

fn moderate(o: &RunOutcome, lat: (Option<f64>, Option<f64>)) -> Moderate {
    Moderate {
        pass: o.pass,
        cpu_pct: o.cpu_pct,
        p50_ms: lat.0,
        p99_ms: lat.1,
    }
}

/// The switch's RSS now, KB.
fn rss_kb(sw: &crate::switch::Switch) -> Option<u64> {
    crate::proc::proc_sample(&sw.pid?.to_string()).map(|s| s.rss_kb)
}

impl Ctx {
    /// A fresh switch and the benchmark-number load of a section, on local port
    /// `port_base + port` and SIPp media port `port_base + mp`.
    fn number_switch(
        &self,
        bin: &std::path::Path,
        label: &'static str,
        (port, mp): (u16, u16),
    ) -> Result<(crate::switch::Switch, Load<'static>), String> {
        let b = self.args.port_base;
        let sw = bench::start_switch(bin, &self.work, false, &self.args.switch_settings)?;
        let load = Load {
            label,
            scenario: self.work.join("bench_pbx_bye.xml"),
            service: bench::NUMBER,
            local_port: b + port,
            mp: b + mp,
            hold_ms: 0,
            limit_secs: None,
        };
        Ok((sw, load))
    }

    pub(crate) fn overload(&mut self, bin: &std::path::Path) -> Result<OverloadFig, String> {
        let (sw, steady) = self.number_switch(bin, "overload_moderate", (12, 456))?;
        let rss = || rss_kb(&sw);
        let shed = Load {
            label: "overload",
            scenario: self.work.join("bench_pbx_bye_shed.xml"),
            ..steady
        };
        let mut fig = OverloadFig {
            moderate_rate: self.args.moderate_rate,
            overload_rate: self.args.overload_rate,
            ..Default::default()
        };
        let r = self.smoke(&steady, &sw).map(|()| {
            let rtt = || vec!["-trace_rtt".into(), "-rtt_freq".into(), "100".into()];
            let (o, _) = self.run_one(&steady, &sw, fig.moderate_rate, None, rtt());
            fig.before = moderate(&o, bench::latency(&o));
            bench::wait_idle(sw.http, 60);
            fig.rss_before_kb = rss();

            let shed_before = shed_count(&sw);
            let calls = u64::from(fig.overload_rate) * self.args.overload_secs;
            fig.offered = calls;
            let (o, _) = self.run_one(&shed, &sw, fig.overload_rate, Some(calls), vec![]);
            let ended = Instant::now();
            let drained = bench::wait_idle(sw.http, 300);
            fig.drain_s = drained.then(|| ended.elapsed().as_secs_f64());
            fig.rss_peak_kb = o.rss_peak_kb;
            fig.overload_cpu_pct = o.cpu_pct;
            let shed_n = shed_count(&sw).zip(shed_before).map(|(a, b)| a - b);
            fig.shed = shed_n;
            if let Some(st) = &o.stats {
                fig.retransmissions = Some(st.retransmissions);
                fig.completed = shed_n.map(|n| st.successful.saturating_sub(n));
                fig.failed = Some(st.failed);
                let secs = calls as f64 / st.achieved_cps.unwrap_or(f64::from(fig.overload_rate));
                fig.goodput = fig.completed.map(|c| c as f64 / secs.max(1.0));
            }
            for i in 0..4 {
                if i > 0 {
                    std::thread::sleep(Duration::from_secs(20));
                }
                fig.rss_after_kb.extend(rss());
                eprintln!(
                    "bench: [overload] RSS {} s after the last call: {:?} kB",
                    i * 20,
                    fig.rss_after_kb.last()
                );
            }

            let (o, _) = self.run_one(&steady, &sw, fig.moderate_rate, None, rtt());
            fig.after = moderate(&o, bench::latency(&o));
            fig
        });
        bench::stop_switch(sw, self.args.keep, "overload");
        let fig = r?;
        eprintln!("bench: [overload] {fig:?}");
        Ok(fig)
    }
}

/// The memory section's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct MemoryFig {
    /// Idle RSS after the first calls, and after all of them, KB.
    pub(crate) rss_first_kb: Option<u64>,
    pub(crate) rss_last_kb: Option<u64>,
    /// What the switch's live objects held at the same two moments (the allocator's
    /// `allocated` bytes from `/metrics`): the part of RSS the switch itself keeps.
    pub(crate) live_first: Option<f64>,
    pub(crate) live_last: Option<f64>,
    pub(crate) first_calls: u64,
    pub(crate) calls: u64,
    /// Calls SIPp saw succeed in all.
    pub(crate) successful: u64,
}

/// How long the switch is left idle before its RSS is read (the CDR writer's linger, the
/// allocator's purge delay and the transactions' timers K/J all end well within it).
const SETTLE: Duration = Duration::from_secs(40);

impl Ctx {
    pub(crate) fn memory(&mut self, bin: &std::path::Path) -> Result<MemoryFig, String> {
        let (sw, l) = self.number_switch(bin, "memory", (14, 457))?;
        let rss = || rss_kb(&sw);
        let mut fig = MemoryFig {
            first_calls: 1_000,
            calls: self.args.memory_calls,
            ..Default::default()
        };
        let rate = self.args.moderate_rate;
        let r = self.smoke(&l, &sw).map(|()| {
            let (o, _) = self.run_one(&l, &sw, rate, Some(fig.first_calls - 1), vec![]);
            fig.successful = 1 + o.stats.map_or(0, |s| s.successful);
            bench::wait_idle(sw.http, 60);
            std::thread::sleep(SETTLE);
            fig.rss_first_kb = rss();
            fig.live_first = allocated(&sw);
            eprintln!(
                "bench: [memory] idle RSS after {} calls: {:?} kB, live {:?} B",
                fig.first_calls, fig.rss_first_kb, fig.live_first
            );
            let rest = fig.calls.saturating_sub(fig.first_calls);
            let (o, _) = self.run_one(&l, &sw, rate, Some(rest), vec![]);
            fig.successful += o.stats.map_or(0, |s| s.successful);
            bench::wait_idle(sw.http, 60);
            std::thread::sleep(SETTLE);
            fig.rss_last_kb = rss();
            fig.live_last = allocated(&sw);
            eprintln!(
                "bench: [memory] idle RSS after {} calls: {:?} kB, live {:?} B",
                fig.calls, fig.rss_last_kb, fig.live_last
            );
            fig
        });
        bench::stop_switch(sw, self.args.keep, "memory");
        r
    }
}

/// The memory section's rows.
pub(crate) fn memory_rows(f: &MemoryFig, out: &mut Vec<bench::Row>) {
    use bench::row;
    let mb = |v: Option<u64>| v.map(|k| k as f64 / 1024.0);
    out.extend([
        row(
            format!("memory: idle RSS after {} calls, MB", f.first_calls),
            mb(f.rss_first_kb),
            false,
        ),
        row(
            format!("memory: idle RSS after {} calls, MB", f.calls),
            mb(f.rss_last_kb),
            false,
        ),
        row(
            format!(
                "memory: held by live objects after {} calls, MB",
                f.first_calls
            ),
            f.live_first.map(|b| b / 1048576.0),
            false,
        ),
        row(
            format!("memory: held by live objects after {} calls, MB", f.calls),
            f.live_last.map(|b| b / 1048576.0),
            false,
        ),
        row(
            "memory: kept per finished call, bytes",
            f.rss_last_kb.zip(f.rss_first_kb).map(|(l, r)| {
                (l as f64 - r as f64) * 1024.0 / (f.calls - f.first_calls).max(1) as f64
            }),
            false,
        ),
        row(
            "memory: calls that succeeded",
            Some(f.successful as f64),
            false,
        ),
    ]);
}

/// The allocator's live bytes (`vpbx_allocator_bytes{kind="allocated"}`), if the switch says.
fn allocated(sw: &crate::switch::Switch) -> Option<f64> {
    let text = bench::http_get(sw.http, "/metrics")?;
    let name = "vpbx_allocator_bytes{kind=\"allocated\"}";
    text.contains(name)
        .then(|| crate::metrics::prom_value(&text, name))
}

fn shed_count(sw: &crate::switch::Switch) -> Option<u64> {
    let text = bench::http_get(sw.http, "/metrics")?;
    let n = |name| crate::metrics::prom_value(&text, name) as u64;
    Some(n("vpbx_sip_overload_refusals_total") + n("vpbx_sip_backlog_refusals_total"))
}

/// The section's rows of the final table.
pub(crate) fn rows(f: &OverloadFig, out: &mut Vec<bench::Row>) {
    use bench::row;
    let kb_mb = |v: Option<u64>| v.map(|k| k as f64 / 1024.0);
    let m = f.moderate_rate;
    let o = f.overload_rate;
    out.extend([
        row(
            format!("overload: moderate {m}/s before: switch CPU, %"),
            f.before.cpu_pct,
            false,
        ),
        row(
            format!("overload: moderate {m}/s before: setup p50, ms"),
            f.before.p50_ms,
            false,
        ),
        row(
            format!("overload: moderate {m}/s before: setup p99, ms"),
            f.before.p99_ms,
            false,
        ),
        row(
            "overload: RSS drained before, MB",
            kb_mb(f.rss_before_kb),
            false,
        ),
        row(
            format!("overload: {o}/s offered, calls"),
            Some(f.offered as f64),
            false,
        ),
        row(
            "overload: completed, calls",
            f.completed.map(|v| v as f64),
            false,
        ),
        row(
            "overload: shed with 503, calls",
            f.shed.map(|v| v as f64),
            false,
        ),
        row(
            "overload: failed otherwise, calls",
            f.failed.map(|v| v as f64),
            false,
        ),
        row("overload: goodput, completed calls/s", f.goodput, true),
        row(
            "overload: SIPp retransmissions",
            f.retransmissions.map(|v| v as f64),
            false,
        ),
        row("overload: switch CPU, %", f.overload_cpu_pct, false),
        row("overload: peak RSS, MB", kb_mb(f.rss_peak_kb), false),
        row("overload: drained after, s", f.drain_s, false),
        row(
            "overload: RSS 60 s after the last call, MB",
            kb_mb(f.rss_after_kb.last().copied()),
            false,
        ),
        row("overload: RSS 60 s after / before", f.rss_recovery(), false),
        row(
            format!("overload: moderate {m}/s after: switch CPU, %"),
            f.after.cpu_pct,
            false,
        ),
        row(
            format!("overload: moderate {m}/s after: setup p50, ms"),
            f.after.p50_ms,
            false,
        ),
        row(
            format!("overload: moderate {m}/s after: setup p99, ms"),
            f.after.p99_ms,
            false,
        ),
        row(
            "overload: moderate CPU after / before",
            f.cpu_ratio(),
            false,
        ),
        row(
            format!("overload: moderate {m}/s before passes (1 = yes)"),
            Some(f64::from(u8::from(f.before.pass))),
            false,
        ),
        row(
            format!("overload: moderate {m}/s after passes (1 = yes)"),
            Some(f64::from(u8::from(f.after.pass))),
            false,
        ),
    ]);
}
