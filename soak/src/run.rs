//! The run: ramp, hold, drain and report.

use crate::{
    metrics::{active_calls, rtp_counters},
    proc::{clk_tck, cpu_pct, loadavg, machine_jiffies, proc_sample},
    rtp::Gen,
    switch::Switch,
    uac::{Sip, St},
    MediaArgs, Mode,
};
use serde_json::json;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

pub(crate) fn pct(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b * 100.0
    } else {
        0.0
    }
}

pub(crate) fn percentile(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx]
}

pub(crate) async fn media(a: MediaArgs) -> Result<(), String> {
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
        let ag = crate::agent::Agent::start(crate::agent::AgentCfg {
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
    let snmp0 = crate::bench::machine_buf_errors();
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
    let snmp1 = crate::bench::machine_buf_errors();
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
    // The kernel's UDP buffer errors over the hold, machine-wide: packets the switch cannot see
    // (its counters start where the kernel's end).
    let kernel = snmp0
        .zip(snmp1)
        .map(|((r0, s0), (r1, s1))| (r1.saturating_sub(r0), s1.saturating_sub(s0)));
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
            "udp_rcvbuf_errors_hold": kernel.map(|k| k.0),
            "udp_sndbuf_errors_hold": kernel.map(|k| k.1),
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
        "  {:<40} {} / {}",
        "kernel UDP RcvbufErrors / SndbufErrors, hold",
        kernel.map_or("n/a".into(), |k| k.0.to_string()),
        kernel.map_or("n/a".into(), |k| k.1.to_string())
    );
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
        "  {:<40} rx {} tx {} dropped (socket refused {}, peer full {}) lost {} late {} → lost {:.4} % late {:.4} %",
        "switch counters, whole run",
        media_ctr.received,
        media_ctr.sent,
        media_ctr.dropped_send,
        media_ctr.dropped_link,
        media_ctr.lost,
        media_ctr.late,
        sw_lost_pct,
        sw_late_pct
    );
    println!(
        "  {:<40} rx {} tx {} dropped (socket refused {}, peer full {}) lost {} late {} → lost {:.4} % late {:.4} %",
        "switch counters, hold window",
        hold_ctr.received,
        hold_ctr.sent,
        hold_ctr.dropped_send,
        hold_ctr.dropped_link,
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
