#!/usr/bin/env python3
"""Call-rate benchmark of the switch (issue 3 item 7), bounded in calls and seconds.

1. SIPp uac against SIPp uas: the tool's own ceiling on this machine (calls/s).
2. SIPp uac (soak/sipp/bench_uac.xml) against the switch's benchmark number 74950000000:
   INVITE -> 200 -> ACK, the switch hangs up after 0.5 s of silence (RTP), the caller answers
   the BYE. Rates step up; a step passes when >= 99.9 % of calls succeed and SIPp achieved
   >= 97 % of the asked rate. The highest passing rate is the switch's figure.
3. At half that rate: call setup (INVITE -> 200) p50/p99 from SIPp's response-time trace.

Usage: python3 soak/bench_sip.py [--binary target/release/vpbx] [--seconds 10]
                                 [--rates 250,500,1000,...] [--ceiling-rates 2000,4000,...]
Prints one line per step and a JSON summary at the end. Exit 0 unless a tool failed to run.
"""
import argparse, csv, glob, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sipp(args, workdir, timeout):
    cmd = ["sipp"] + args + ["-nostdin", "-trace_stat", "-fd", "1", "-trace_err"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
    elapsed = time.monotonic() - t0
    stats = sorted(glob.glob(os.path.join(workdir, "*_.csv")))
    rows = []
    if stats:
        with open(stats[-1], newline="") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
    return p.returncode, rows, elapsed


def num(row, key):
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return 0.0


def step(kind, rate, seconds, target, extra, workdir_root):
    calls = int(rate * seconds)
    workdir = tempfile.mkdtemp(prefix=f"{kind}-{rate}-", dir=workdir_root)
    port = free_port()
    mport = free_port()
    args = extra + [target, "-p", str(port), "-mp", str(mport), "-r", str(rate), "-rp", "1000",
                    "-m", str(calls), "-l", str(max(1000, rate * 3)), "-max_socket", "50000",
                    "-timeout", f"{seconds * 3 + 20}s", "-timeout_error", "-trace_rtt", "-rtt_freq", "1"]
    rc, rows, elapsed = sipp(args, workdir, seconds * 3 + 40)
    row = rows[-1] if rows else None
    ok = num(row, "SuccessfulCall(C)") if row else 0
    failed = num(row, "FailedCall(C)") if row else calls
    created = num(row, "TotalCallCreated") if row else 0
    # Achieved rate: SIPp's per-period call rate over the full periods in which it was still
    # creating calls (the last creating period is partial and the tail only finishes calls).
    creating = [r for r in rows if num(r, "OutgoingCall(P)") > 0]
    full = creating[:-1] if len(creating) > 1 else creating
    achieved = sum(num(r, "CallRate(P)") for r in full) / len(full) if full else 0
    success = ok / calls if calls else 0
    rtts = []
    for f in glob.glob(os.path.join(workdir, "*_rtt.csv")):
        with open(f) as fh:
            for line in fh:
                parts = line.strip().split(";")
                if len(parts) >= 2 and parts[-1] == "1":
                    try:
                        rtts.append(float(parts[-2]))
                    except ValueError:
                        pass
    rtts.sort()
    pct = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))] if rtts else None
    res = dict(kind=kind, rate=rate, calls=calls, created=created, ok=ok, failed=failed,
               success=round(success, 5), achieved_rate=round(achieved, 1), sipp_rc=rc,
               setup_p50_ms=pct(0.50), setup_p99_ms=pct(0.99), samples=len(rtts))
    res["pass"] = success >= 0.999 and achieved >= 0.97 * rate
    print(json.dumps(res), flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release/vpbx"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rates", default="250,500,1000,1500,2000,2500,3000,4000")
    ap.add_argument("--ceiling-rates", default="2000,4000,6000,8000,10000,12000,14000,16000,18000,20000")
    ap.add_argument("--skip-ceiling", action="store_true")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="vpbx-bench-")
    summary = {}

    if not a.skip_ceiling:
        uas_port = free_port()
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-p", str(uas_port), "-nostdin"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root)
        time.sleep(1)
        ceiling = 0
        try:
            for rate in [int(x) for x in a.ceiling_rates.split(",")]:
                r = step("sipp-uas", rate, a.seconds, f"127.0.0.1:{uas_port}", ["-sn", "uac"], root)
                if not r["pass"]:
                    break
                ceiling = rate
        finally:
            uas.terminate()
            uas.wait(timeout=10)
        summary["ceiling_cps"] = ceiling

    sip_port, http_port = free_port(), free_port()
    data = os.path.join(root, "data")
    env = dict(os.environ, RUST_LOG="warn")
    sw = subprocess.Popen([a.binary, "--config", "/nonexistent.toml", "--data-dir", data,
                           "--sip-addr", f"127.0.0.1:{sip_port}", "--http-addr", f"127.0.0.1:{http_port}",
                           "--rtp-port-min", "40000", "--rtp-port-max", "59999",
                           # the benchmark floods from 127.0.0.1: no flood or auth-failure bans
                           "--pike-requests", "0", "--auth-fail-max", "0"],
                          stdout=open(os.path.join(root, "switch.log"), "w"), stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        best = None
        scen = ["-sf", os.path.join(HERE, "sipp/bench_uac.xml"), "-s", "74950000000"]
        for rate in [int(x) for x in a.rates.split(",")]:
            r = step("switch", rate, a.seconds, f"127.0.0.1:{sip_port}", scen, root)
            if r["pass"]:
                best = r
            else:
                # Past the limit: let the switch drain, check it did not leak calls.
                time.sleep(12)
                h = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5))
                summary["after_overload_active_calls"] = h["active_calls"]
                break
        summary["max_cps"] = best["rate"] if best else 0
        if best:
            half = max(1, best["rate"] // 2)
            r = step("switch-half", half, a.seconds, f"127.0.0.1:{sip_port}", scen, root)
            summary["half_rate"] = half
            summary["setup_p50_ms_at_half"] = r["setup_p50_ms"]
            summary["setup_p99_ms_at_half"] = r["setup_p99_ms"]
        time.sleep(2)
        h = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5))
        summary["final_active_calls"] = h["active_calls"]
        summary["finished_calls"] = h["finished_calls"]
    finally:
        sw.send_signal(signal.SIGTERM)
        try:
            sw.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sw.kill()
    if "ceiling_cps" in summary and summary.get("max_cps"):
        summary["share_of_ceiling"] = round(summary["max_cps"] / summary["ceiling_cps"], 3)
    print("SUMMARY " + json.dumps(summary), flush=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
