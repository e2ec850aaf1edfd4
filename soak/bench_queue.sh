#!/usr/bin/env bash
# Live benchmark of the ACD (issue #12, item 9): the rate of queued calls answered by SIPp agents,
# on a release build of vpbx on loopback, measured with the shared call-rate ruler
# (../shared/bench/sipp/run_bench.py, the one that measured Asterisk; called, not copied), every
# rate also given as a ratio to the SIPp-uac-against-SIPp-uas ceiling measured in the same run.
#
# What one call is: a SIPp caller (soak/sipp/bench_queue_caller.xml) INVITEs 74957000900, the
# queue number of tests/fixtures/bench_queue_company.yaml: one forward operation over 50
# employees with `queue: { announce: false }`, `strategy: { kind: longest_idle }` (one phone per
# round, the one idle longest), `wrap_up_s: 0`, `max_wait_s: 60`. Each employee has one SIP line
# (301-350) with `lines: 100`, so 5,000 talks fit at once and the agents are not the bottleneck
# at the rates measured (1 s talks: about rate x 1.0 s talks at once). All 50 lines register one
# contact each (a small inline python3 REGISTER client, MD5 or SHA-256 digest, Expires 7200) on
# the same 127.0.0.1 port, then one SIPp UAS there (soak/sipp/bench_queue_agent.xml) plays every
# agent: 180, 200 with SDP at once (a retransmitted INVITE is absorbed), waits for the switch's
# BYE, 200. The caller gets the 200 when
# an agent answered (or, past one full round of busy agents, from the queue, which with
# announce: false then waits for an agent), ACKs, talks 1 s (-d 1000, no RTP sent; the switch's
# RTP is ignored) and hangs up (BYE, 200). The path measured: SIP edge, routing, distributor
# (longest idle pick, queue bookkeeping), the agent leg, the bridge, both hang-ups.
#
# Steps (all traffic on 127.0.0.1; every SIPp run has a call limit -m and a time limit -timeout,
# the searches a maximum number of runs; the switch and every SIPp this script started are
# stopped on exit, by PID):
#   1. ceiling: `sipp -sn uas` on its own port and run_bench.py search --sn uac against it
#      (exactly the ruler's ceiling command; CEIL_START doubling up to CEIL_MAX, CEIL_RUNS runs);
#   2. the switch: a fresh data dir, the fixture loaded as the demo document with
#      VPBX_DEMO_PASSWORDS=document, --pike-requests 0 (one load source: the flood ban would stop
#      it) and --auth-fail-max 0, qualify_interval_s = 0 (no OPTIONS to the SIPp agents), log
#      level warn; the 50 lines registered, GET /api/v1/agents must show 50 available lines;
#   3. one smoke call (traced) must succeed and be answered by the agents' SIPp;
#   4. rate search (run_bench.py search, the ruler's pass rule: >= 99.9 % of the calls succeed
#      and SIPp achieved >= 97 % of the asked rate): QB_START doubling (QB_FACTOR) up to QB_MAX,
#      then bisecting, QB_RUNS runs at most, QB_SECONDS of calls per run (at least 2,000 calls:
#      the ruler's --min-calls), then one confirmation run at the best rate. Before every run
#      (--pre-run) the script waits (<= 30 s) until the switch has no call up and notes how many
#      calls the agents' SIPp has answered, so each run's callers are checked against the calls
#      agents really answered; 5 s into each run the switch's /metrics gauges (active calls,
#      queued callers, media sessions) are saved (--probe-cmd);
#   5. latency: one run at half the highest passing rate with SIPp -trace_rtt: the call setup
#      time (INVITE sent -> 200 received, SIPp's ResponseTime1, whole ms) p50/p90/p99/max;
#   6. after the runs: the switch must be back to 0 active calls and 0 queued callers within
#      30 s; its log's WARN/ERROR lines are counted and the first ones shown.
# Prints a summary table: ceiling, queued-call max rate, ratio, setup p50/p99 at half rate,
# switch CPU (% of one core, utime+stime over the run, as the ruler samples it).
#
# Usage: soak/bench_queue.sh   (builds nothing: run `cargo build --release` first)
# Environment overrides [defaults]:
#   VPBX_BIN [${CARGO_TARGET_DIR:-target}/release/vpbx]
#   QB_START [100] QB_FACTOR [2] QB_MAX [3000] QB_SECONDS [8] QB_RUNS [8] QB_CONFIRM [1]
#   QB_HOLD_MS [1000] (the talk)
#   CEIL_START [2000] CEIL_MAX [40000] CEIL_RUNS [8] CEIL_SECONDS [QB_SECONDS]
#   QB_QUIET_WAIT [30]: the ruler waits before each run until the machine is quiet, at most this
#     many seconds (its default is 120; another build on the machine would make every run wait)
#   QB_RETRIES [2]: the ruler repeats a failed run that overlapped more than 25 % of a core of
#     other load, at most this many times (its default)
#   QB_SKIP_CEILING=1: skip step 1 (no ratios then)
#   QB_SIP_PORT [15060] QB_HTTP_PORT [18090] QB_RTP_MIN [16000] QB_RTP_MAX [32767] (below the kernel's ephemeral ports)
#   QB_SIPP_BASE [15070]: agents BASE, caller BASE+1, ceiling UAS BASE+2, ceiling UAC BASE+3;
#     SIPp media sockets BASE+30, +40, +50, +60 (4 ports each)
#   QB_AGENT_TRACE=1: the agents' SIPp also writes every SIP message it sends and gets
#     (-trace_msg, about 3 KB per call) to $WORK/agent_msg.log, for a diagnosis
#   QB_KEEP=1 keeps the whole work dir (data dir, agents' statistics) even when all went well;
#     otherwise only $WORK/out stays: the ruler's results.jsonl, SIPp statistics, the switch log.
set -euo pipefail
export VPBX_DEMO_PASSWORDS=document

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RULER="${QB_RULER:-$(cd "$ROOT/../shared/bench/sipp" 2>/dev/null && pwd || echo /work/shared/bench/sipp)}"

BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
QB_START="${QB_START:-100}"
QB_FACTOR="${QB_FACTOR:-2}"
QB_MAX="${QB_MAX:-3000}"
QB_SECONDS="${QB_SECONDS:-8}"
QB_RUNS="${QB_RUNS:-8}"
QB_CONFIRM="${QB_CONFIRM:-1}"
QB_HOLD_MS="${QB_HOLD_MS:-1000}"
CEIL_START="${CEIL_START:-2000}"
CEIL_MAX="${CEIL_MAX:-40000}"
CEIL_RUNS="${CEIL_RUNS:-8}"
CEIL_SECONDS="${CEIL_SECONDS:-$QB_SECONDS}"
QUIET_WAIT="${QB_QUIET_WAIT:-30}"
RETRIES="${QB_RETRIES:-2}"
SIP_PORT="${QB_SIP_PORT:-15060}"
HTTP_PORT="${QB_HTTP_PORT:-18090}"
RTP_MIN="${QB_RTP_MIN:-16000}"
RTP_MAX="${QB_RTP_MAX:-32767}"
BASE="${QB_SIPP_BASE:-15070}"
AGENT_PORT=$BASE
CALLER_PORT=$((BASE + 1))
CEIL_UAS_PORT=$((BASE + 2))
CEIL_UAC_PORT=$((BASE + 3))
AGENT_MP=$((BASE + 30))
CALLER_MP=$((BASE + 40))
CEIL_UAS_MP=$((BASE + 50))
CEIL_UAC_MP=$((BASE + 60))
HOST=127.0.0.1
QUEUE_NUMBER=74957000900
FIXTURE="$ROOT/tests/fixtures/bench_queue_company.yaml"
CALLER_XML="$ROOT/soak/sipp/bench_queue_caller.xml"
AGENT_XML="$ROOT/soak/sipp/bench_queue_agent.xml"
ADMIN_PASSWORD=bench-queue-admin-pw
# The longest this script may need for everything (the bound of the agents' SIPp).
AGENT_SECS=$((3600 * 2))

if [[ ! -x "$BIN" ]]; then
    echo "bench_queue: $BIN not found or not executable; run 'cargo build --release' first" >&2
    exit 2
fi
if [[ ! -f "$RULER/run_bench.py" ]]; then
    echo "bench_queue: the shared ruler is not at $RULER (set QB_RULER)" >&2
    exit 2
fi
for tool in sipp python3 curl timeout ss; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench_queue: '$tool' is not installed (apt-get install sip-tester python3 curl coreutils iproute2)" >&2
        exit 2
    fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-bench-queue.XXXXXX")"
OUT="$WORK/out"
mkdir -p "$OUT"
SWITCH_LOG="$WORK/vpbx.log"
SWITCH_PID=""
AGENT_PID=""
CEIL_UAS_PID=""
# shellcheck source=soak/lib.sh
source "$ROOT/soak/lib.sh"

stop_pid() { # stop_pid PID NAME: SIGTERM, then SIGKILL after 5 s
    local pid=$1 name=$2
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "bench_queue: $name (PID $pid) still alive 5 s after SIGTERM; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    stop_pid "$CEIL_UAS_PID" "ceiling SIPp UAS"
    stop_pid "$AGENT_PID" "agents' SIPp"
    stop_pid "$SWITCH_PID" "switch"
    # SIPp -trace_rtt writes into its working directory (the scenario's, soak/sipp).
    local f
    for f in "$ROOT"/soak/sipp/bench_queue_caller_*_rtt.csv; do
        [[ -e "$f" ]] && mv "$f" "$OUT/"
    done
    if [[ $rc -ne 0 ]]; then
        if [[ -f "$SWITCH_LOG" ]]; then
            echo "----- switch log tail ($SWITCH_LOG) -----"
            tail -n 40 "$SWITCH_LOG"
        fi
        echo "bench_queue: failed (status $rc); logs kept in $WORK"
    elif [[ "${QB_KEEP:-0}" == 1 ]]; then
        echo "bench_queue: logs kept in $WORK"
    else
        # The ruler's results (JSON lines, SIPp statistics) stay in $OUT; the rest goes.
        rm -rf "$WORK/data" "$WORK/company"
        find "$WORK" -maxdepth 1 -type f -delete
        echo "bench_queue: results kept in $OUT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_bench ARGS...: the ruler, from its directory, with this script's quiet wait.
run_bench() {
    (cd "$RULER" && python3 run_bench.py "$@" --quiet-wait "$QUIET_WAIT" --retries "$RETRIES")
}

# search_result FILE: the max_pass_cps of the search summary (the last JSON line), or "".
search_result() {
    python3 - "$1" <<'PY'
import json, sys
best = ""
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{") and "max_pass_cps" in line:
        v = json.loads(line).get("max_pass_cps")
        best = "" if v is None else str(v)
print(best)
PY
}

echo "bench_queue: binary $BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), work dir $WORK"
echo "bench_queue: machine: $(nproc) vCPU, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "bench_queue: $(date -u +%Y-%m-%dT%H:%M:%SZ); switch SIP $HOST:$SIP_PORT HTTP $HTTP_PORT RTP $RTP_MIN-$RTP_MAX;" \
    "SIPp agents $AGENT_PORT, caller $CALLER_PORT, ceiling $CEIL_UAS_PORT/$CEIL_UAC_PORT"

# =============================================================================================
# 1. The ceiling: SIPp uac against SIPp uas, the ruler's command.
CEILING=""
if [[ "${QB_SKIP_CEILING:-0}" != 1 ]]; then
    echo "== 1. ceiling: sipp -sn uac -> sipp -sn uas (start $CEIL_START, max $CEIL_MAX, $CEIL_RUNS runs)"
    sipp -sn uas -i "$HOST" -p "$CEIL_UAS_PORT" -mp "$CEIL_UAS_MP" -buff_size 4194304 \
        -max_recv_loops 100000 -max_sched_loops 100000 -timeout "${AGENT_SECS}s" -nostdin \
        >"$WORK/ceiling_uas.out" 2>&1 &
    CEIL_UAS_PID=$!
    wait_udp_bound "$CEIL_UAS_PORT" 5 || { echo "bench_queue: the ceiling UAS did not bind" >&2; exit 1; }
    run_bench search --sn uac --target "$HOST:$CEIL_UAS_PORT" --local-port "$CEIL_UAC_PORT" \
        --mp "$CEIL_UAC_MP" --watch "$CEIL_UAS_PID:uas" --out "$OUT/ceiling" --label ceiling \
        --start "$CEIL_START" --factor 2 --max-rate "$CEIL_MAX" --seconds "$CEIL_SECONDS" \
        --max-runs "$CEIL_RUNS" 2>&1 | tee "$WORK/ceiling.txt" | grep --line-buffered -E '^\[|^\{' || true
    CEILING="$(search_result "$WORK/ceiling.txt")"
    stop_pid "$CEIL_UAS_PID" "ceiling SIPp UAS"
    CEIL_UAS_PID=""
    echo "   ceiling: ${CEILING:-none} calls/s"
fi

# =============================================================================================
# 2. The switch, the 50 agent lines registered.
echo "== 2. switch on a fresh data dir with $(basename "$FIXTURE")"
CO_DIR="$WORK/company"
mkdir -p "$CO_DIR"
cp "$FIXTURE" "$CO_DIR/company.yaml"
cat >"$CO_DIR/vpbx.toml" <<'TOML'
# bench_queue.sh: the company below is loaded into the empty data dir on first start.
demo = "company.yaml"
# No OPTIONS probes of registered phones: the agents' SIPp would take one for a call.
qualify_interval_s = 0
TOML
VPBX_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" --config "$CO_DIR/vpbx.toml" --data-dir "$WORK/data" \
    --sip-addr "$HOST:$SIP_PORT" --http-addr "$HOST:$HTTP_PORT" \
    --rtp-port-min "$RTP_MIN" --rtp-port-max "$RTP_MAX" \
    --pike-requests 0 --auth-fail-max 0 --log-level warn >"$SWITCH_LOG" 2>&1 &
SWITCH_PID=$!
started=0
for _ in $(seq 1 100); do
    if ! kill -0 "$SWITCH_PID" 2>/dev/null; then
        rc=0
        wait "$SWITCH_PID" || rc=$?
        SWITCH_PID=""
        echo "bench_queue: the switch exited at start with status $rc" >&2
        exit 1
    fi
    if curl -fsS --max-time 1 "http://$HOST:$HTTP_PORT/health" >/dev/null 2>&1; then
        started=1
        break
    fi
    sleep 0.2
done
[[ $started -eq 1 ]] || { echo "bench_queue: /health did not answer within 20 s" >&2; exit 1; }
TOKEN="$(curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" \
    "http://$HOST:$HTTP_PORT/api/v1/auth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

# Register every SIP line of the fixture (login, password) with its contact on AGENT_PORT.
python3 - "$FIXTURE" "$HOST" "$AGENT_PORT" "$SIP_PORT" <<'PY'
import hashlib, os, re, socket, sys, time
import yaml
doc = yaml.safe_load(open(sys.argv[1]))
host, lport, sport = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = [(p["login"], p["password"]) for e in doc["employees"] for p in e["phones"]
         if p.get("kind") == "sip_line"]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, lport))
HASH = {"md5": hashlib.md5, "sha-256": hashlib.sha256}

def h(alg, text):
    return HASH[alg](text.encode()).hexdigest()

def request(login, cseq, callid, auth=None):
    branch = "z9hG4bK" + os.urandom(6).hex()
    msg = (f"REGISTER sip:{host}:{sport} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {host}:{lport};branch={branch};rport\r\n"
           f"From: <sip:{login}@{host}:{sport}>;tag=qb{login}\r\n"
           f"To: <sip:{login}@{host}:{sport}>\r\n"
           f"Call-ID: {callid}\r\nCSeq: {cseq} REGISTER\r\n"
           f"Contact: <sip:{login}@{host}:{lport};transport=udp>\r\n"
           f"Expires: 7200\r\nMax-Forwards: 70\r\nUser-Agent: vpbx-bench-queue-register\r\n")
    if auth:
        msg += f"Authorization: {auth}\r\n"
    return (msg + "Content-Length: 0\r\n\r\n").encode()

def exchange(data, callid, cseq):
    """Send (retransmitting every 0.5 s, 8 times); the final response to this CSeq."""
    for _ in range(8):
        s.sendto(data, (host, sport))
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                pkt = s.recv(65535).decode(errors="replace")
            except socket.timeout:
                break
            if f"Call-ID: {callid}" not in pkt or not re.search(rf"^CSeq: {cseq} REGISTER", pkt, re.M):
                continue
            code = int(pkt.split(" ", 2)[1])
            if code >= 200:
                return code, pkt
    return None, ""

for login, password in lines:
    callid = f"qbreg-{login}-{os.urandom(4).hex()}@{host}"
    code, resp = exchange(request(login, 1, callid), callid, 1)
    if code == 401:
        chals = re.findall(r"^WWW-Authenticate:\s*Digest\s+(.*)$", resp, re.M | re.I)
        chosen = None
        for c in chals:
            params = dict((k.lower(), v.strip('"')) for k, v in
                          re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', c))
            alg = params.get("algorithm", "MD5").lower()
            if alg in HASH:
                chosen = (alg, params)
                break
        if chosen is None:
            sys.exit(f"line {login}: no MD5/SHA-256 challenge in {chals}")
        alg, p = chosen
        uri = f"sip:{host}:{sport}"
        cnonce, nc = os.urandom(8).hex(), "00000001"
        ha1 = h(alg, f"{login}:{p['realm']}:{password}")
        ha2 = h(alg, f"REGISTER:{uri}")
        if "qop" in p:
            resp_hash = h(alg, f"{ha1}:{p['nonce']}:{nc}:{cnonce}:auth:{ha2}")
            qop = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
        else:
            resp_hash = h(alg, f"{ha1}:{p['nonce']}:{ha2}")
            qop = ""
        auth = (f'Digest username="{login}", realm="{p["realm"]}", nonce="{p["nonce"]}", '
                f'uri="{uri}", response="{resp_hash}", algorithm={p.get("algorithm", "MD5")}{qop}')
        code, resp = exchange(request(login, 2, callid, auth), callid, 2)
    if code != 200:
        sys.exit(f"line {login}: REGISTER ended with {code}:\n{resp}")
    m = re.search(r"expires=(\d+)", resp, re.I)
    if not m or int(m.group(1)) < 3600:
        sys.exit(f"line {login}: registered for {m.group(1) if m else '?'} s only (expected >= 3600)")
print(f"   registered {len(lines)} lines with contact {host}:{lport} "
      f"(expires {m.group(1)} s)")
PY
curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "http://$HOST:$HTTP_PORT/api/v1/agents" \
    >"$WORK/agents.json"
available="$(python3 -c 'import json,sys; print(sum(1 for a in json.load(open(sys.argv[1]))["items"] if a["state"] == "available"))' "$WORK/agents.json")"
echo "   GET /api/v1/agents: $available agent lines available"
if [[ "$available" -ne 50 ]]; then
    echo "bench_queue: expected 50 available agent lines" >&2
    exit 1
fi

# The agents: one SIPp UAS on the registered contact.
AGENT_TRACE=()
if [[ "${QB_AGENT_TRACE:-0}" == 1 ]]; then
    AGENT_TRACE=(-trace_msg -message_file "$WORK/agent_msg.log")
fi
sipp -sf "$AGENT_XML" -i "$HOST" -p "$AGENT_PORT" -mp "$AGENT_MP" -timeout "${AGENT_SECS}s" \
    -buff_size 4194304 -max_recv_loops 100000 -max_sched_loops 100000 -nostdin \
    -trace_stat -stf "$WORK/agent_stat.csv" -fd 1 \
    -trace_err -error_file "$WORK/agent_errors.log" "${AGENT_TRACE[@]}" >"$WORK/agent.out" 2>&1 &
AGENT_PID=$!
wait_udp_bound "$AGENT_PORT" 5 || { echo "bench_queue: the agents' SIPp did not bind $AGENT_PORT" >&2; exit 1; }

# agent_answered: calls the agents' SIPp answered and ended (SuccessfulCall(C) of its last
# statistics line, written every second).
agent_answered() {
    python3 - "$WORK/agent_stat.csv" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
except OSError:
    print(0); sys.exit()
if len(rows) < 2:
    print(0); sys.exit()
print(dict(zip(rows[0], rows[-1])).get("SuccessfulCall(C)", "0") or 0)
PY
}

# metrics: the switch's live gauges, one line.
metrics() {
    curl -fsS --max-time 3 "http://$HOST:$HTTP_PORT/metrics" 2>/dev/null |
        grep -E '^vpbx_(active_calls|queued_callers|media_sessions_active) ' | tr '\n' ' '
}

# =============================================================================================
# 3. Smoke: one traced call.
echo "== 3. one call, traced"
SIPP_PORT=$CALLER_PORT
SIPP_MEDIA_PORT=$CALLER_MP
sleep 1.5
before="$(agent_answered)"
if ! run_sipp smoke "$CALLER_XML" "$SIP_PORT" -s "$QUEUE_NUMBER" -d "$QB_HOLD_MS" -recv_timeout 10000; then
    echo "bench_queue: the smoke call failed" >&2
    show_sipp_trace smoke
    exit 1
fi
sleep 2.5
after="$(agent_answered)"
echo "   smoke call: the caller got $(sipp_seen smoke) ; agents answered $((after - before)) call(s)"
if [[ $((after - before)) -ne 1 ]]; then
    echo "bench_queue: the agents' SIPp did not count the smoke call (before $before, after $after)" >&2
    exit 1
fi

# The ruler's --pre-run (pre_run.sh MARKS): wait (<= 30 s) until no call is up, then append the
# agents' count to MARKS (one line before each run of the ruler, one more after the last run).
cat >"$WORK/pre_run.sh" <<SH
#!/usr/bin/env bash
waited=0
for _ in \$(seq 1 150); do
    curl -fsS --max-time 1 http://$HOST:$HTTP_PORT/health 2>/dev/null | grep -q '"active_calls":0' && break
    sleep 0.2
    waited=\$((waited + 1))
done
sleep 1.5
echo "\$(date -u +%H:%M:%S) waited \$((waited / 5)) s for 0 active calls; now:" \
    \$(curl -fsS --max-time 3 http://$HOST:$HTTP_PORT/metrics 2>/dev/null |
        grep -E '^vpbx_(active_calls|queued_callers|media_sessions_active) ') >>"\$1.log"
python3 - "$WORK/agent_stat.csv" >>"\$1" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
print(dict(zip(rows[0], rows[-1])).get("SuccessfulCall(C)", "0") or 0)
PY
exit 0
SH
chmod +x "$WORK/pre_run.sh"
PROBE="curl -fsS --max-time 3 http://$HOST:$HTTP_PORT/metrics | grep -E '^vpbx_(active_calls|queued_callers|media_sessions_active) '"

# =============================================================================================
# 4. The rate search.
echo "== 4. queued calls: search (start $QB_START, factor $QB_FACTOR, max $QB_MAX, ${QB_SECONDS} s per run, $QB_RUNS runs, talk $QB_HOLD_MS ms)"
run_bench search --scenario "$CALLER_XML" --service "$QUEUE_NUMBER" --target "$HOST:$SIP_PORT" \
    --local-port "$CALLER_PORT" --mp "$CALLER_MP" --hold-ms "$QB_HOLD_MS" \
    --watch "$SWITCH_PID:vpbx" --watch "$AGENT_PID:agents" --out "$OUT/queue" --label queue \
    --start "$QB_START" --factor "$QB_FACTOR" --max-rate "$QB_MAX" --seconds "$QB_SECONDS" \
    --max-runs "$QB_RUNS" --confirm "$QB_CONFIRM" --pre-run "$WORK/pre_run.sh $OUT/queue/agent_marks" \
    --probe-cmd "$PROBE" --probe-at 5 2>&1 | tee "$WORK/queue.txt" | grep --line-buffered -E '^\[|^\{' || true
"$WORK/pre_run.sh" "$OUT/queue/agent_marks"
BEST="$(search_result "$WORK/queue.txt")"
echo "   highest passing rate: ${BEST:-none} calls/s; switch now: $(metrics)"

# =============================================================================================
# 5. Setup latency at half that rate.
HALF=""
if [[ -n "$BEST" ]]; then
    HALF=$((BEST / 2))
    echo "== 5. setup latency at half rate: $HALF calls/s (SIPp -trace_rtt)"
    for f in "$ROOT"/soak/sipp/bench_queue_caller_*_rtt.csv; do
        [[ -e "$f" ]] && mv "$f" "$OUT/"
    done
    mkdir -p "$OUT/half"
    run_bench run --scenario "$CALLER_XML" --service "$QUEUE_NUMBER" --target "$HOST:$SIP_PORT" \
        --local-port "$CALLER_PORT" --mp "$CALLER_MP" --hold-ms "$QB_HOLD_MS" \
        --watch "$SWITCH_PID:vpbx" --watch "$AGENT_PID:agents" --out "$OUT/half" --label half \
        --rate "$HALF" --seconds "$QB_SECONDS" --pre-run "$WORK/pre_run.sh $OUT/half/agent_marks" \
        --probe-cmd "$PROBE" --probe-at 5 --extra "-trace_rtt -rtt_freq 100" 2>&1 |
        tee "$WORK/half.txt" | grep --line-buffered -E '^\[' || true
    "$WORK/pre_run.sh" "$OUT/half/agent_marks"
    for f in "$ROOT"/soak/sipp/bench_queue_caller_*_rtt.csv; do
        [[ -e "$f" ]] && mv "$f" "$OUT/half/"
    done
fi

# =============================================================================================
# 6. Nothing left behind; the switch's log.
left="?"
for _ in $(seq 1 150); do
    left="$(metrics)"
    if grep -q 'vpbx_active_calls 0 ' <<<"$left " && grep -q 'vpbx_queued_callers 0 ' <<<"$left "; then
        break
    fi
    sleep 0.2
done
echo "== 6. after the runs: $left"
warn_lines="$(grep -c -E 'WARN|ERROR' "$SWITCH_LOG" || true)"
echo "   switch log: $warn_lines WARN/ERROR lines"
if [[ "$warn_lines" -gt 0 ]]; then
    # The first line of each kind (ids and numbers ignored), 12 kinds at most.
    { grep -E 'WARN|ERROR' "$SWITCH_LOG" | cut -c1-300 |
        awk '{ k = $0; sub(/^[^ ]+ +/, "", k); gsub(/id=[^ ]+/, "id=X", k);
               if (!(k in seen)) { seen[k] = 1; print "   " $0; if (++n >= 12) exit } }'; } || true
fi
cp "$SWITCH_LOG" "$OUT/" 2>/dev/null || true

# =============================================================================================
# Summary.
python3 - "$OUT" "${CEILING:-}" "${BEST:-}" "${HALF:-}" "$QB_HOLD_MS" <<'PY'
import glob, json, os, statistics, sys
out, ceiling, best, half, hold = sys.argv[1:6]
ceiling = int(ceiling) if ceiling else None
best = int(best) if best else None

def load(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except OSError:
        return []

def marks(part):
    path = os.path.join(out, part, "agent_marks")
    return [int(x) for x in open(path).read().split()] if os.path.exists(path) else []

# per part (queue: the search, half: the latency run) marks[i] was noted before run i, marks[i+1]
# after it
runs = []
for part in ("queue", "half"):
    m = marks(part)
    for i, r in enumerate(load(os.path.join(out, part, "results.jsonl"))):
        r["agents_answered"] = m[i + 1] - m[i] if i + 1 < len(m) else None
        runs.append(r)
print()
for r in load(os.path.join(out, "ceiling", "results.jsonl")):
    st = r.get("stats") or {}
    print(f"  ceiling {r['target_cps']:>6}/s -> {st.get('achieved_cps')}/s  ok {st.get('successful')}/{r['calls']}"
          f"  other {r['resources'].get('other_cpu_avg_pct')} %  {'PASS' if r['pass'] else 'FAIL'}")
print("per run (queued calls): rate asked -> achieved, callers ok, agents answered, switch CPU")
seen = {}
for r in runs:
    st = r.get("stats") or {}
    agents = r["agents_answered"]
    vp = r["resources"]["procs"].get("vpbx", {})
    ag = r["resources"]["procs"].get("agents", {})
    uac = r["resources"]["procs"].get("sipp_uac", {})
    ratio = f" ({r['target_cps'] / ceiling:.3f} of ceiling)" if ceiling else ""
    print(f"  {r['label']:5} {r['target_cps']:>6}/s{ratio} -> {st.get('achieved_cps')}/s  "
          f"ok {st.get('successful')}/{r['calls']} ({r.get('success_pct')} %)  fail {st.get('failed')} "
          f"retrans {st.get('retransmissions')}  agents answered {agents}  "
          f"setup avg {st.get('response_time_avg_ms')} ms  "
          f"vpbx {vp.get('cpu_avg_pct')} %/pk {vp.get('cpu_peak_1s_pct')} % rss {vp.get('rss_peak_kb')} kB  "
          f"agents {ag.get('cpu_avg_pct')} %  caller {uac.get('cpu_avg_pct')} %  "
          f"other {r['resources'].get('other_cpu_avg_pct')} %  {'PASS' if r['pass'] else 'FAIL'}")
    if agents is not None and st.get("successful") is not None and agents < st["successful"]:
        print(f"        ! {st['successful'] - agents} successful callers more than calls the agents answered")
    # the k-th run of a label at one rate has the k-th probe file of that rate (tags end in the
    # run's start time)
    key = f"{r['label']}_r{r['target_cps']}_m{r['calls']}"
    seen[key] = seen.get(key, -1) + 1
    probe = sorted(glob.glob(os.path.join(out, "*", f"{key}_*_probe.txt")),
                   key=lambda p: int(p.rsplit("_", 2)[-2]))
    if seen[key] < len(probe):
        print("        at 5 s: " + " ".join(open(probe[seen[key]]).read().split()))

best_runs = [r for r in runs if r["label"] == "queue" and r["target_cps"] == best and r["pass"]]
half_runs = [r for r in runs if r["label"] == "half"]
lat = None
rtt = sorted(glob.glob(os.path.join(out, "half", "*_rtt.csv")))
if rtt:
    vals = []
    for line in open(rtt[-1]):
        parts = line.strip().split(";")
        if len(parts) >= 3 and parts[2] == "1":
            try:
                vals.append(float(parts[1]))
            except ValueError:
                pass
    if vals:
        vals.sort()
        q = lambda p: vals[min(len(vals) - 1, int(p * len(vals)))]
        lat = (len(vals), q(0.50), q(0.90), q(0.99), vals[-1])

def cpu(rs, proc="vpbx"):
    if not rs:
        return "-"
    v = rs[-1]["resources"]["procs"].get(proc, {})
    return f"{v.get('cpu_avg_pct')} % avg, {v.get('cpu_peak_1s_pct')} % peak 1 s"

print()
print("| measure | value |")
print("|---|---|")
print(f"| SIPp uac -> SIPp uas ceiling (same run) | {ceiling if ceiling else '-'} calls/s |")
print(f"| queued calls answered by SIPp agents, highest passing rate ({hold} ms talk, caller hangs up) | "
      f"{best if best else '-'} calls/s |")
print(f"| ratio to the ceiling | {best / ceiling:.3f} |" if best and ceiling else "| ratio to the ceiling | - |")
print(f"| switch CPU at that rate (% of one core) | {cpu(best_runs)} |")
print(f"| agents' SIPp CPU at that rate | {cpu(best_runs, 'agents')} |")
print(f"| caller SIPp CPU at that rate | {cpu(best_runs, 'sipp_uac')} |")
if half_runs:
    h = half_runs[-1]
    st = h.get("stats") or {}
    print(f"| half rate run | {h['target_cps']} calls/s: {st.get('successful')}/{h['calls']} ok, "
          f"{'PASS' if h['pass'] else 'FAIL'}, agents answered {h.get('agents_answered')} |")
    print(f"| switch CPU at half rate | {cpu(half_runs)} |")
    if lat:
        print(f"| call setup INVITE -> 200 at half rate (SIPp rtt, {lat[0]} calls) | "
              f"p50 {lat[1]:g} ms, p90 {lat[2]:g} ms, p99 {lat[3]:g} ms, max {lat[4]:g} ms |")
    else:
        print(f"| call setup at half rate (SIPp ResponseTime1 average only) | "
              f"{st.get('response_time_avg_ms')} ms |")
PY
