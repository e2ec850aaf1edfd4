#!/usr/bin/env bash
# SIPp interop run of the ACD (issue #12) against a release build of vpbx: strategies, the queue,
# wrap-up and held-back lines on a live switch, every phone and caller played by SIPp. Builds
# nothing: run `cargo build --release` first. Starts one switch on a throw-away data dir with
# tests/fixtures/acd_company.yaml (the demo company with one line per phone, 74957000301 by
# priority: Anna/101 then Boris/102, attempts 1, attempt_s 3; 74957000302: Anna alone, with the
# queue, announce, wrap_up_s 3, max_wait_s 40), registers lines 101 and 102 from SIPp, then:
#   1. by_priority: a caller rings 74957000301; 101 (a SIPp UAS that only rings: 180, waits for
#      the CANCEL, 487) rings first, 102 only after 101's 3 s attempt; 102 answers and plays
#      speech (pcap), the caller hears it; 102 hangs up, the caller gets the BYE. The call's
#      events (GET /api/v1/calls/recent) agree: ring_started for employee 1, its ring_ended not
#      answered, ring_started for employee 2 >= 2.5 s later, a talk with employee 2;
#   2. queue: caller 1 rings 74957000302 and talks with 101 (4.5 s, then 101 hangs up); callers 2
#      and 3 start one after another while 101 talks: the queue answers each (200) and they wait;
#      101 (one SIPp UAS taking three calls) gets caller 2, then caller 3 (INVITE From users in
#      order). Checked over the calls API: caller 1 never queued; caller 2 queue_joined position
#      1 with nobody ahead, caller 3 position 2 with one caller ahead; both queue_left "answered";
#      the first round's ring_ended cause is busy for caller 2 (busy or queue_waiting for 3);
#   3. queue_announcement: caller 2 heard speech (>= 20 loud packets in >= 4 bursts; the ringback
#      tone alone is one 1 s burst every 5 s) between the queue's answer and its talk with 101;
#   4. wrap_up: 101's second talk starts >= wrap_up_s (3 s, 0.5 s slack) after its first talk
#      ended, and its third after its second (timestamps of the call events);
#   5. queue_waiting: while callers wait, line 102 dials 101 directly: refused (486/480/503/603),
#      the call's events show ring_ended with cause queue_waiting;
#   6. queue_callback: 102 talks with caller 1 (8 s); caller 2 rings 74957000303 (Boris alone,
#      queue with callback key 1), is answered by the queue, presses 1 (SIP INFO) and gets the
#      switch's BYE; when 102's talk ends the switch calls caller 2 back through the trunk
#      (a SIPp "carrier" UAS: Request-URI user caller 2, From the virtual number), and once the
#      carrier answers, 102 rings for the callback (INVITEs to 102 from caller 1, then caller
#      2). Events: caller 2's call callback_requested position 1; the callback's call
#      callback_started and a talk with employee 2; GET /api/v1/queues empty at the end;
#   7. health: active_calls back to 0; 8. shutdown: SIGTERM → exit 0 within 10 s.
# No check asserts a tight timing: each step waits for its event with bounded polling, and time
# comparisons use the switch's own event timestamps with slack. Prints PASS/FAIL per check;
# exits non-zero on any failure, printing the merged SIP timeline and the traces of every SIPp
# instance of the failing check and the switch log tail. The switch and every background SIPp
# are always stopped. Runs in about 52 s (60 s on a loaded machine).
#
# Environment overrides (defaults in brackets):
#   VPBX_BIN [${CARGO_TARGET_DIR:-target}/release/vpbx]
#   ACD_SIP_PORT [25660]  ACD_HTTP_PORT [28680]  ACD_RTP_MIN [36000]  ACD_RTP_MAX [36499]
#   ACD_SIPP_BASE [25670]: SIPp SIP ports BASE..BASE+5 (line 101, line 102, callers 1-3, the
#     direct call), media ports BASE+10, +14, ..., +30 (4 each); RTP counters BASE+40, +42
#   INTEROP_KEEP_LOGS=1 keeps the temp dir (logs, SIP traces) even when everything passed.
set -euo pipefail
# The demo lines get the passwords written in the company document (this script's fixture)
# instead of random ones: the SIPp phones here use them.
export VPBX_DEMO_PASSWORDS=document

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
SIP_PORT="${ACD_SIP_PORT:-25660}"
HTTP_PORT="${ACD_HTTP_PORT:-28680}"
RTP_MIN="${ACD_RTP_MIN:-36000}"
RTP_MAX="${ACD_RTP_MAX:-36499}"
BASE="${ACD_SIPP_BASE:-25670}"
L101_PORT=$BASE
L102_PORT=$((BASE + 1))
C1_PORT=$((BASE + 2))
C2_PORT=$((BASE + 3))
C3_PORT=$((BASE + 4))
DIRECT_PORT=$((BASE + 5))
CARRIER_PORT=$((BASE + 6))
# SIPp's media socket takes 4 ports from its -mp (audio RTP/RTCP, video RTP/RTCP).
L101_MEDIA=$((BASE + 10))
L102_MEDIA=$((BASE + 14))
C1_MEDIA=$((BASE + 18))
C2_MEDIA=$((BASE + 22))
C3_MEDIA=$((BASE + 26))
DIRECT_MEDIA=$((BASE + 30))
CARRIER_MEDIA=$((BASE + 34))
COUNTER_A=$((BASE + 40))
COUNTER_B=$((BASE + 42))
HOST=127.0.0.1
SIPP_DIR="$ROOT/soak/sipp"
# lib.sh's run_sipp wants these; the helpers used here take their ports explicitly.
SIPP_PORT=$C1_PORT
SIPP_MEDIA_PORT=$C1_MEDIA
PCAP=/usr/share/sip-tester/g711a.pcap

P101=demo-101-Vx7q
P102=demo-102-Kp3m
PRIORITY_NUMBER=74957000301
QUEUE_NUMBER=74957000302
CALLBACK_NUMBER=74957000303
WRAP_UP_MS=3000
CALLER1=79160000001
CALLER2=79160000002
CALLER3=79160000003
ADMIN_PASSWORD=interop-acd-admin-pw

if [[ ! -x "$BIN" ]]; then
    echo "interop_acd: FAIL: $BIN not found or not executable; run 'cargo build --release' first" >&2
    exit 2
fi
for tool in sipp python3 curl timeout ss espeak-ng; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "interop_acd: FAIL: '$tool' is not installed (apt-get install sip-tester python3 curl coreutils iproute2 espeak-ng)" >&2
        exit 2
    fi
done
if [[ ! -r "$PCAP" ]]; then
    echo "interop_acd: FAIL: $PCAP missing (it ships with Debian/Ubuntu's sip-tester)" >&2
    exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-interop-acd.XXXXXX")"
SWITCH_PID=""
SWITCH_LOG="$WORK/vpbx.log"
# shellcheck source=soak/lib.sh
source "$ROOT/soak/lib.sh"

# Every background process (SIPp parts, RTP counters): stopped on exit.
BG_PIDS=()

stop_switch() {
    if [[ -n "$SWITCH_PID" ]] && kill -0 "$SWITCH_PID" 2>/dev/null; then
        kill -TERM "$SWITCH_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SWITCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SWITCH_PID" 2>/dev/null; then
            echo "interop_acd: switch still alive 5 s after SIGTERM in cleanup; SIGKILL" >&2
            kill -KILL "$SWITCH_PID" 2>/dev/null
        fi
        wait "$SWITCH_PID" 2>/dev/null
    fi
    SWITCH_PID=""
}

cleanup() {
    local rc=$?
    set +e
    local p
    for p in "${BG_PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            # A background SIPp part is a subshell running `timeout ... sipp`: TERM its child
            # (timeout passes the signal on to sipp), then the subshell.
            pkill -TERM -P "$p" 2>/dev/null
            kill -TERM "$p" 2>/dev/null
        fi
    done
    stop_switch
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        if [[ -f "$SWITCH_LOG" ]]; then
            echo "----- switch log tail ($SWITCH_LOG) -----"
            tail -n 60 "$SWITCH_LOG"
            echo "----- end of switch log -----"
        fi
        echo "interop_acd: logs and SIP traces kept in $WORK"
    elif [[ "${INTEROP_KEEP_LOGS:-0}" == 1 ]]; then
        echo "interop_acd: logs and SIP traces kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# A check runs SIPp "parts" (UASes and callers in the background, or one in the foreground) and
# collects extra conditions in PROBLEMS; it passes when every part exited 0 and no problem was
# recorded.
PARTS=()
PART_PIDS=()
PROBLEMS=()

# sipp_calls NAME SCENARIO LOCAL_PORT MEDIA_PORT SECS CALLS [sipp args...]: run_sipp_on for CALLS
# calls (-m CALLS) instead of one, bounded the same way (SIPp -timeout SECS, timeout SECS+10).
sipp_calls() {
    local name=$1 scenario=$2 lport=$3 mport=$4 secs=$5 calls=$6
    shift 6
    local rc=0
    timeout "$((secs + 10))" sipp -sf "$scenario" "$@" \
        -i "$HOST" -p "$lport" -mp "$mport" \
        -m "$calls" -timeout "${secs}s" -timeout_error -nostdin \
        -trace_msg -message_file "$WORK/$name.msg.log" \
        -trace_err -error_file "$WORK/$name.err.log" \
        "$HOST:$SIP_PORT" >"$WORK/$name.out" 2>&1 || rc=$?
    return "$rc"
}

# bg_part NAME SCENARIO LOCAL_PORT MEDIA_PORT SECS CALLS [sipp args...]: a SIPp part in the
# background; returns once its SIP port is bound.
bg_part() {
    local name=$1 lport=$3
    sipp_calls "$@" &
    local pid=$!
    BG_PIDS+=("$pid")
    PARTS+=("$name")
    PART_PIDS+=("$pid")
    if ! wait_udp_bound "$lport" 5; then
        PROBLEMS+=("$name: SIPp did not bind $HOST:$lport within 5 s")
    fi
}

# fg_part NAME SCENARIO LOCAL_PORT MEDIA_PORT SECS CALLS [sipp args...]: a part in the foreground.
fg_part() {
    local name=$1 rc=0
    sipp_calls "$@" || rc=$?
    PARTS+=("$name")
    PART_PIDS+=("rc:$rc")
}

# wait_parts: wait for the background parts of the current check (their traces are complete after).
wait_parts() {
    local i p rc
    for i in "${!PART_PIDS[@]}"; do
        p=${PART_PIDS[$i]}
        if [[ $p != rc:* ]]; then
            rc=0
            wait "$p" || rc=$?
            PART_PIDS[$i]="rc:$rc"
        fi
    done
}

# show_parts: the merged SIP timeline of the current check's parts, then each part's trace.
show_parts() {
    local i
    echo "----- SIP timeline (all SIPp parts of this check) -----"
    sipp_timeline "${PARTS[@]}"
    for i in "${!PARTS[@]}"; do
        echo "===== SIPp part ${PARTS[$i]} ====="
        show_sipp_trace "${PARTS[$i]}"
    done
    echo "----- switch log tail -----"
    tail -n 40 "$SWITCH_LOG"
}

# finish_check CHECK DESCRIPTION: wait for the parts, then PASS/FAIL the check (parts exit 0,
# no problem recorded). The parts and their traces stay available until the next check starts.
finish_check() {
    local check=$1 what=$2 i rc summary="" bad=0
    wait_parts
    for i in "${!PARTS[@]}"; do
        rc=${PART_PIDS[$i]#rc:}
        summary+=" ${PARTS[$i]}=rc$rc[$(sipp_seen "${PARTS[$i]}")]"
        if [[ $rc -ne 0 ]]; then
            bad=1
            PROBLEMS+=("${PARTS[$i]}: SIPp exited with status $rc")
        fi
    done
    [[ ${#PROBLEMS[@]} -ne 0 ]] && bad=1
    if [[ $bad -eq 0 ]]; then
        pass "$check: $what"
        echo "      parts:$summary"
    else
        fail "$check:$summary"
        local p
        for p in "${PROBLEMS[@]}"; do
            echo "      problem: $p"
        done
        show_parts
    fi
    PROBLEMS=()
}

# verdict CHECK DESCRIPTION [PROBLEM]: PASS without a problem, else FAIL with it, the current
# check's SIP timeline and the call events it looked at ($WORK/verdict_detail, when written).
verdict() {
    if [[ -z "${3:-}" ]]; then
        pass "$1: $2"
    else
        fail "$1: $3"
        if [[ -s "$WORK/verdict_detail" ]]; then
            echo "----- call events -----"
            cat "$WORK/verdict_detail"
        fi
        echo "----- SIP timeline -----"
        sipp_timeline "${PARTS[@]}"
    fi
    rm -f "$WORK/verdict_detail"
}

# new_check: forget the previous check's parts; wait until no call is up.
new_check() {
    PARTS=()
    PART_PIDS=()
    PROBLEMS=()
    wait_idle 10 || true
}

# register_line NAME LINE PASSWORD LOCAL_PORT MEDIA_PORT: REGISTER line LINE from LOCAL_PORT (the
# binding lasts 300 s: the UASes started later on the same port get the line's calls).
register_line() {
    fg_part "$1" "$SIPP_DIR/register_line.xml" "$4" "$5" 15 1 -key line "$2" -au "$2" -ap "$3"
}

# sipp_rx_summary NAME: one line per message SIPp NAME received, "HH:MM:SS.micros WHAT" (WHAT: a
# request's method and From user, or a response's "code CSeq-method").
sipp_rx_summary() {
    python3 - "$WORK/$1.msg.log" <<'PY'
import re, sys
try:
    text = open(sys.argv[1], encoding="utf-8", errors="replace").read().replace("\r", "")
except OSError:
    sys.exit(0)
for chunk in re.split(r"^-{20,} ", text, flags=re.M):
    stamp, _, rest = chunk.partition("\n")
    stamp = stamp.split()[-1] if stamp.strip() else "?"
    head, _, msg = rest.partition("\n")
    if "message received" not in head:
        continue
    msg = msg.strip("\n")
    first = msg.split("\n", 1)[0]
    cseq = re.search(r"^CSeq:\s*\d+\s+(\S+)", msg, flags=re.M | re.I)
    if first.startswith("SIP/2.0"):
        print(f"{stamp} {first.split()[1]} {cseq.group(1) if cseq else '?'}")
        continue
    frm = re.search(r"^From:[^\n]*?sip:([^@>;]+)@", msg, flags=re.M | re.I)
    print(f"{stamp} {first.split()[0]} from={frm.group(1) if frm else '?'}")
PY
}

# rx_time NAME REGEX: time of the first received message whose summary WHAT matches REGEX.
rx_time() {
    sipp_rx_summary "$1" | awk -v re="$2" '{ t = $1; $1 = ""; sub(/^ /, "") } $0 ~ re { print t; exit }'
}

# secs_between HH:MM:SS.micros HH:MM:SS.micros: the second minus the first, in seconds.
secs_between() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, ":"); split(b, y, ":");
        printf "%.3f", (y[1] - x[1]) * 3600 + (y[2] - x[2]) * 60 + y[3] - x[3] }'
}

# start_counter NAME PORT SECS: a UDP RTP listener in the background (inline python3) on
# HOST:PORT. It stops 2 s after the last packet (or after SECS), writes one line per packet to
# $WORK/NAME.pkts ("UNIX_MS L|Q pt=P": L for an audible PCMU/PCMA frame, RMS > 500, Q otherwise)
# and "packets N loud N" to $WORK/NAME.out. Returns once the socket is bound.
start_counter() {
    local name=$1 port=$2 secs=$3
    rm -f "$WORK/$name.ready"
    python3 - "$HOST" "$port" "$WORK/$name.ready" "$WORK/$name.pkts" "$secs" >"$WORK/$name.out" 2>&1 <<'PY' &
import math, socket, sys, time
host, port, ready, pkts, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
open(ready, "w").write("ok\n")
def ulaw(b):
    b = ~b & 0xFF
    t = ((b & 0x0F) << 3) + 0x84
    t <<= (b & 0x70) >> 4
    return (0x84 - t) if b & 0x80 else (t - 0x84)
def alaw(b):
    b ^= 0x55
    t = (b & 0x0F) << 4
    seg = (b & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if b & 0x80 else -t
packets = loud = 0
last = None
deadline = time.monotonic() + secs
with open(pkts, "w") as out:
    while time.monotonic() < deadline:
        s.settimeout(0.2)
        try:
            data, _ = s.recvfrom(2048)
        except socket.timeout:
            if last is not None and time.monotonic() - last > 2.0:
                break
            continue
        last = time.monotonic()
        if len(data) <= 12 or data[0] >> 6 != 2:
            continue
        packets += 1
        pt = data[1] & 0x7F
        is_loud = False
        if pt in (0, 8):
            dec = ulaw if pt == 0 else alaw
            pcm = [dec(b) for b in data[12:]]
            is_loud = math.sqrt(sum(x * x for x in pcm) / len(pcm)) > 500
        loud += is_loud
        out.write(f"{int(time.time() * 1000)} {'L' if is_loud else 'Q'} pt={pt}\n")
        out.flush()
print(f"packets {packets} loud {loud}")
PY
    local pid=$!
    BG_PIDS+=("$pid")
    printf -v "${name}_PID" '%s' "$pid"
    if ! wait_file "$WORK/$name.ready" 5; then
        PROBLEMS+=("$name: the RTP listener did not bind $HOST:$port")
    fi
}

# wait_counter NAME: wait for counter NAME to finish (in this shell: not inside $(...)).
wait_counter() {
    local pidvar="${1}_PID"
    wait "${!pidvar}" 2>/dev/null || true
}

# counter_result NAME FIELD: FIELD (packets|loud) of finished counter NAME.
counter_result() {
    awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$WORK/$1.out"
}

# loud_between NAME FROM_MS TO_MS: audible packets counter NAME got with FROM <= unix ms < TO.
loud_between() {
    awk -v a="$2" -v b="$3" '$2 == "L" && $1 >= a && $1 < b { n++ } END { print n + 0 }' \
        "$WORK/$1.pkts" 2>/dev/null || echo 0
}

# health_active: active_calls from /health, or "?".
health_active() {
    if curl -fsS --max-time 2 "http://$HOST:$HTTP_PORT/health" >"$WORK/health.json" 2>/dev/null; then
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["active_calls"])' \
            "$WORK/health.json" 2>/dev/null || echo "?"
    else
        echo "?"
    fi
}

# wait_idle SECS: wait until active_calls is 0 (so one check's call does not leak into the next).
wait_idle() {
    local i
    for ((i = 0; i < $1 * 5; i++)); do
        [[ "$(health_active)" == 0 ]] && return 0
        sleep 0.2
    done
    return 1
}

TOKEN=""
# api_token: a bearer token for the admin password set on first start (empty on failure).
api_token() {
    curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" \
        "http://$HOST:$HTTP_PORT/api/v1/auth/token" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' 2>/dev/null || true
}

# wait_calls FILE SECS NUMB:NUMA...: poll GET /api/v1/calls/recent until a finished call exists
# for every NUMB:NUMA pair (dialled number, caller number); writes the last answer to FILE.
# Returns 1 when some are still missing after SECS.
wait_calls() {
    local file=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 4; i++)); do
        if curl -fsS --max-time 3 -H "Authorization: Bearer $TOKEN" \
            "http://$HOST:$HTTP_PORT/api/v1/calls/recent?limit=50" >"$file" 2>/dev/null &&
            python3 - "$file" "$@" <<'PY'
import json, sys
items = json.load(open(sys.argv[1])).get("items", [])
have = {(c.get("numb"), c.get("numa")) for c in items}
sys.exit(0 if all(tuple(p.split(":", 1)) in have for p in sys.argv[2:]) else 1)
PY
        then
            return 0
        fi
        sleep 0.25
    done
    return 1
}

echo "interop_acd: binary $BIN, work dir $WORK"
echo "interop_acd: switch SIP $HOST:$SIP_PORT HTTP $HTTP_PORT RTP $RTP_MIN-$RTP_MAX;" \
    "SIPp 101/102/callers/direct $L101_PORT/$L102_PORT/$C1_PORT-$C3_PORT/$DIRECT_PORT"

CO_DIR="$WORK/company"
mkdir -p "$CO_DIR/prompts"
cp "$ROOT/config/prompts/greeting.wav" "$CO_DIR/prompts/greeting.wav"
cp "$ROOT/tests/fixtures/acd_company.yaml" "$CO_DIR/company.yaml"
# The queue callback of check 6 goes out through a trunk to the SIPp "carrier" (IP-authenticated:
# no registration).
cat >>"$CO_DIR/company.yaml" <<YAML
trunks:
  - id: 1
    name: Carrier
    host: $HOST
    port: $CARRIER_PORT
    auth: { kind: ip, addresses: [ "$HOST" ] }
YAML
cat >"$CO_DIR/vpbx.toml" <<'TOML'
# interop_acd.sh: the company below is loaded into the empty data dir on first start.
demo = "company.yaml"
# No OPTIONS probes of registered phones: the SIPp "phones" run one scenario at a time and would
# take a probe for an unexpected call.
qualify_interval_s = 0
TOML

VPBX_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" --config "$CO_DIR/vpbx.toml" --data-dir "$WORK/data" \
    --sip-addr "$HOST:$SIP_PORT" --http-addr "$HOST:$HTTP_PORT" \
    --rtp-port-min "$RTP_MIN" --rtp-port-max "$RTP_MAX" \
    --pike-requests 0 --auth-fail-max 0 >"$SWITCH_LOG" 2>&1 &
SWITCH_PID=$!
started=0
for _ in $(seq 1 50); do
    if ! kill -0 "$SWITCH_PID" 2>/dev/null; then
        rc=0
        wait "$SWITCH_PID" || rc=$?
        SWITCH_PID=""
        fail "startup: switch exited early with status $rc"
        exit 1
    fi
    if curl -fsS --max-time 1 "http://$HOST:$HTTP_PORT/health" >"$WORK/health0.json" 2>/dev/null; then
        started=1
        break
    fi
    sleep 0.2
done
if [[ $started -eq 1 ]]; then
    pass "startup: /health answers ($(cat "$WORK/health0.json"))"
else
    fail "startup: /health did not answer within 10 s"
    exit 1
fi
TOKEN="$(api_token)"
if [[ -z "$TOKEN" ]]; then
    fail "startup: no API token (POST /api/v1/auth/token failed)"
    exit 1
fi

new_check
register_line register_101 101 "$P101" "$L101_PORT" "$L101_MEDIA"
register_line register_102 102 "$P102" "$L102_PORT" "$L102_MEDIA"
finish_check register "lines 101 and 102 registered from $HOST:$L101_PORT and $HOST:$L102_PORT"

# =============================================================================================
# 1. By priority: 101 rings only (its 3 s attempt ends with a CANCEL), then 102 answers.
new_check
start_counter prio_rtp "$COUNTER_A" 30
bg_part prio_101 "$SIPP_DIR/acd_uas_ring_no_answer.xml" "$L101_PORT" "$L101_MEDIA" 25 1 \
    -key line 101
bg_part prio_102 "$SIPP_DIR/uas_answer_bye.xml" "$L102_PORT" "$L102_MEDIA" 25 1 \
    -key line 102 -key hangup_ms 2500
fg_part prio_caller "$SIPP_DIR/acd_caller_wait_bye.xml" "$C1_PORT" "$C1_MEDIA" 25 1 \
    -s "$PRIORITY_NUMBER" -key caller "$CALLER1" -key rtp_port "$COUNTER_A" \
    -key answered_file "$WORK/prio_caller.answered"
wait_parts
wait_counter prio_rtp
inv101="$(rx_time prio_101 '^INVITE')"
cancel101="$(rx_time prio_101 '^CANCEL')"
inv102="$(rx_time prio_102 '^INVITE')"
prio_loud="$(counter_result prio_rtp loud)"
prio_gap=""
if [[ -z "$inv101" || -z "$inv102" ]]; then
    PROBLEMS+=("101 got its INVITE at '${inv101:-never}', 102 at '${inv102:-never}' (both must ring)")
else
    prio_gap="$(secs_between "$inv101" "$inv102")"
    if awk -v g="$prio_gap" 'BEGIN { exit !(g < 2.5) }'; then
        PROBLEMS+=("102 rang ${prio_gap} s after 101 (at $inv102, 101 at $inv101): priority 2 must wait for 101's 3 s attempt")
    fi
fi
if [[ "${prio_loud:-0}" -lt 30 ]]; then
    PROBLEMS+=("the caller heard ${prio_loud:-0} audible RTP packets of 102's speech (expected >= 30)")
fi
finish_check by_priority \
    "101 rang at $inv101 (CANCEL at $cancel101), 102 rang ${prio_gap:-?} s later at $inv102 and answered; the caller heard 102 (${prio_loud:-0} audible packets) and got the BYE"

problem=""
if wait_calls "$WORK/prio_calls.json" 10 "$PRIORITY_NUMBER:$CALLER1"; then
    problem="$(python3 - "$WORK/prio_calls.json" "$PRIORITY_NUMBER" "$CALLER1" 2>"$WORK/verdict_detail" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
call = [c for c in items if c.get("numb") == sys.argv[2] and c.get("numa") == sys.argv[3]][0]
ev = call.get("events", [])
print(json.dumps(ev, indent=1), file=sys.stderr)
def of(kind, **match):
    return [(e["at_unix_ms"], e["what"][kind]) for e in ev
            if isinstance(e.get("what"), dict) and kind in e["what"]
            and all(e["what"][kind].get(k) == v for k, v in match.items())]
r1, r2 = of("ring_started", employee=1), of("ring_started", employee=2)
end1 = of("ring_ended", employee=1)
talk = of("talk")
if not r1 or not r2:
    print(f"ring_started for employee 1: {len(r1)}, for employee 2: {len(r2)} (expected both)")
elif r2[0][0] - r1[0][0] < 2500:
    print(f"employee 2 rang {r2[0][0] - r1[0][0]} ms after employee 1 (expected >= 2500: attempt_s 3)")
elif not end1 or end1[0][1].get("outcome") == "answered":
    print(f"employee 1's ring_ended: {end1} (expected one, not answered)")
elif not talk or talk[-1][1].get("employee") != 2:
    print(f"talk events: {talk} (expected a talk with employee 2)")
PY
)" || problem="could not read the call events: $problem"
else
    problem="no finished call $CALLER1 → $PRIORITY_NUMBER in GET /api/v1/calls/recent within 10 s"
fi
verdict by_priority_events \
    "events: ring_started employee 1, ring_ended (not answered), ring_started employee 2 >= 2.5 s later, talk with employee 2" \
    "$problem"

# =============================================================================================
# 2-5. The queue over 101 (one line): caller 1 talks 4.5 s; callers 2 and 3 wait in order; a
#      direct call to 101 while they wait is refused.
new_check
start_counter q2_rtp "$COUNTER_B" 50
bg_part q_agent_101 "$SIPP_DIR/uas_answer_bye.xml" "$L101_PORT" "$L101_MEDIA" 60 3 \
    -key line 101 -key hangup_ms 4500
bg_part q_caller1 "$SIPP_DIR/acd_caller_wait_bye.xml" "$C1_PORT" "$C1_MEDIA" 60 1 \
    -s "$QUEUE_NUMBER" -key caller "$CALLER1" -key rtp_port "$C1_MEDIA" \
    -key answered_file "$WORK/q_caller1.answered"
if ! wait_file "$WORK/q_caller1.answered" 10; then
    PROBLEMS+=("caller 1 was not answered within 10 s")
fi
bg_part q_caller2 "$SIPP_DIR/acd_caller_wait_bye.xml" "$C2_PORT" "$C2_MEDIA" 60 1 \
    -s "$QUEUE_NUMBER" -key caller "$CALLER2" -key rtp_port "$COUNTER_B" \
    -key answered_file "$WORK/q_caller2.answered"
if ! wait_file "$WORK/q_caller2.answered" 10; then
    PROBLEMS+=("caller 2 was not answered (by the queue) within 10 s")
fi
bg_part q_caller3 "$SIPP_DIR/acd_caller_wait_bye.xml" "$C3_PORT" "$C3_MEDIA" 60 1 \
    -s "$QUEUE_NUMBER" -key caller "$CALLER3" -key rtp_port "$C3_MEDIA" \
    -key answered_file "$WORK/q_caller3.answered"
if ! wait_file "$WORK/q_caller3.answered" 10; then
    PROBLEMS+=("caller 3 was not answered (by the queue) within 10 s")
fi
# 5. While callers 2 and 3 wait, line 102 dials 101 directly.
fg_part q_direct_102 "$SIPP_DIR/acd_line_call_refused.xml" "$DIRECT_PORT" "$DIRECT_MEDIA" 15 1 \
    -s 101 -au 102 -ap "$P102" -key line 102 -key rtp_port "$DIRECT_MEDIA"
wait_parts
wait_counter q2_rtp
agent_froms="$(sipp_rx_summary q_agent_101 | awk '$2 == "INVITE" { sub(/^from=/, "", $3); printf "%s ", $3 }')"
agent_froms="${agent_froms% }"
if [[ "$agent_froms" != "$CALLER1 $CALLER2 $CALLER3" ]]; then
    PROBLEMS+=("101 got INVITEs from '$agent_froms', expected '$CALLER1 $CALLER2 $CALLER3' (first come, first served)")
fi
finish_check queue \
    "101 talked with caller 1; callers 2 and 3 were answered by the queue and got 101 in order (INVITEs from $agent_froms); each got the BYE; 102 dialling 101 meanwhile was refused ($(sipp_seen q_direct_102))"

# The calls' events: positions, callers ahead, how each left, announcements, wrap-up.
if wait_calls "$WORK/q_calls.json" 15 "$QUEUE_NUMBER:$CALLER1" "$QUEUE_NUMBER:$CALLER2" \
    "$QUEUE_NUMBER:$CALLER3"; then
    # The direct call 102 → 101 ended first; its record is normally there already.
    wait_calls "$WORK/q_calls.json" 3 "$QUEUE_NUMBER:$CALLER1" "$QUEUE_NUMBER:$CALLER2" \
        "$QUEUE_NUMBER:$CALLER3" "101:102" || true
    python3 - "$WORK/q_calls.json" "$QUEUE_NUMBER" "$CALLER1" "$CALLER2" "$CALLER3" \
        "$WORK/q2_rtp.pkts" "$WRAP_UP_MS" >"$WORK/q_verdicts" 2>"$WORK/q_events" <<'PY' || true
import json, sys
items = json.load(open(sys.argv[1]))["items"]
numb, c1, c2, c3, pkts, wrap = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
def call(numa, nb=numb):
    return [c for c in items if c.get("numb") == nb and c.get("numa") == numa][0]
calls = {n: call(n) for n in (c1, c2, c3)}
direct = [c for c in items if c.get("numb") == "101" and c.get("numa") == "102"]
calls["direct"] = direct[0] if direct else {"events": []}
for n, c in calls.items():
    print(f"== {n}: answer {c.get('answer_unix_ms')} end {c.get('end_unix_ms')}", file=sys.stderr)
    for e in c.get("events", []):
        print(f"  {e.get('at_unix_ms')} {json.dumps(e.get('what'))}", file=sys.stderr)
def of(n, kind):
    return [(e["at_unix_ms"], e["what"][kind]) for e in calls[n].get("events", [])
            if isinstance(e.get("what"), dict) and kind in e["what"]]
def verdict(name, problem):
    print(f"{name}\t{problem}")
# queue_positions
p = ""
j1, j2, j3 = of(c1, "queue_joined"), of(c2, "queue_joined"), of(c3, "queue_joined")
if j1:
    p = f"caller 1 (talked at once) joined the queue: {j1}"
elif len(j2) != 1 or j2[0][1].get("position") != 1 or len(j2[0][1].get("ahead", [])) != 0:
    p = f"caller 2's queue_joined: {j2} (expected one, position 1, nobody ahead)"
elif len(j3) != 1 or j3[0][1].get("position") != 2 or len(j3[0][1].get("ahead", [])) != 1:
    p = f"caller 3's queue_joined: {j3} (expected one, position 2, one caller ahead)"
verdict("queue_positions", p)
# The first round's typed refusals: caller 2 found 101 talking (busy); caller 3 found it busy or
# held back for caller 2 (queue_waiting).
first2 = [r.get("cause") for _, r in of(c2, "ring_ended")][:1]
first3 = [r.get("cause") for _, r in of(c3, "ring_ended")][:1]
p = ""
if first2 != ["busy"]:
    p = f"caller 2's first ring_ended cause: {first2} (expected busy: 101 talked with caller 1)"
elif first3 not in (["busy"], ["queue_waiting"]):
    p = f"caller 3's first ring_ended cause: {first3} (expected busy or queue_waiting)"
verdict("queue_refusal_causes", p or f"OK (caller 2: {first2[0]}, caller 3: {first3[0]})")
# queue_left
p = ""
for n in (c2, c3):
    left = of(n, "queue_left")
    if len(left) != 1 or left[0][1].get("why") != "answered":
        p = f"caller {n}'s queue_left: {left} (expected one, why answered)"
        break
verdict("queue_left_answered", p)
# wrap-up: each next talk starts >= wrap ms (0.5 s slack) after the previous talk ended.
p = ""
gaps = []
for prev, nxt in ((c1, c2), (c2, c3)):
    ended = of(prev, "talk_ended")
    end_ms = ended[-1][0] if ended else calls[prev].get("end_unix_ms")
    talk = of(nxt, "talk")
    if not talk or end_ms is None:
        p = f"no talk for {nxt} ({talk}) or no end of {prev}'s talk ({end_ms})"
        break
    gap = talk[0][0] - end_ms
    gaps.append(gap)
    if gap < wrap - 500:
        p = f"{nxt}'s talk started {gap} ms after {prev}'s talk ended (wrap_up_s {wrap // 1000}: expected >= {wrap - 500} ms)"
        break
    if talk[0][1].get("employee") != 1:
        p = f"{nxt}'s talk was with {talk[0][1]} (expected employee 1)"
        break
verdict("wrap_up", p or f"OK gaps_ms={gaps}")
# announcement: caller 2 heard audible RTP between the queue's answer and its talk.
p = ""
ans = calls[c2].get("answer_unix_ms")
talk = of(c2, "talk")
loud = bursts = 0
if ans and talk:
    prev = "Q"
    for line in open(pkts):
        t, kind = line.split()[:2]
        if ans <= int(t) < talk[0][0]:
            loud += kind == "L"
            bursts += kind == "L" and prev != "L"
            prev = kind
# The ringback tone alone is one loud burst of 1 s every 5 s; speech is many short bursts
# (syllables). The first announcement is part of queue_joined; queue_announced only follows a
# full pass of the ringback (4 periods, 20 s), which caller 2 does not wait for.
if not ans or not talk:
    p = f"caller 2: answer_unix_ms {ans}, talk {talk}"
elif loud < 20 or bursts < 4:
    p = (f"caller 2 heard {loud} audible packets in {bursts} bursts while waiting "
         f"({talk[0][0] - ans} ms; expected >= 20 packets in >= 4 bursts: the spoken position)")
verdict("queue_announcement", p or f"OK ({loud} audible packets in {bursts} bursts during {talk[0][0] - ans} ms of waiting)")
# queue_waiting: the direct call to 101 was refused because callers wait.
ended = of("direct", "ring_ended")
causes = [r.get("cause") for _, r in ended]
skipped = of("direct", "target_skipped")
if not direct:
    verdict("queue_waiting", "no finished call 102 → 101 in GET /api/v1/calls/recent; calls there: "
            + ", ".join(f"{c.get('numa')} → {c.get('numb')}" for c in items))
else:
    verdict("queue_waiting", "" if "queue_waiting" in causes else
            f"the direct call 102 → 101 has ring_ended causes {causes} (expected queue_waiting); target_skipped {skipped}")
PY
    q_judged=1
else
    : >"$WORK/q_verdicts"
    q_judged=0
    fail "queue_events: the finished calls $CALLER1/$CALLER2/$CALLER3 → $QUEUE_NUMBER and 102 → 101 are not all in GET /api/v1/calls/recent within 15 s"
fi
# One PASS/FAIL line per verdict the python above wrote ("NAME<TAB>PROBLEM", OK... = no problem).
declare -A DESCR=(
    [queue_positions]="caller 1 never queued; caller 2 queue_joined position 1, nobody ahead; caller 3 position 2, one caller ahead"
    [queue_refusal_causes]="the first round refused 101 with a typed cause"
    [queue_left_answered]="callers 2 and 3 left the queue answered"
    [wrap_up]="101's next talk started >= wrap_up_s after the previous ended"
    [queue_announcement]="caller 2 heard its position spoken while it waited"
    [queue_waiting]="line 102 dialling 101 while callers wait: refused, ring_ended cause queue_waiting"
)
while IFS=$'\t' read -r name problem; do
    [[ -n "$name" ]] || continue
    if [[ -z "$problem" || "$problem" == OK* ]]; then
        verdict "$name" "${DESCR[$name]}${problem#OK}"
    else
        cp "$WORK/q_events" "$WORK/verdict_detail"
        verdict "$name" "${DESCR[$name]}" "$problem"
    fi
done <"$WORK/q_verdicts"
if [[ $q_judged -eq 1 ]] && [[ "$(wc -l <"$WORK/q_verdicts")" -ne 6 ]]; then
    cp "$WORK/q_events" "$WORK/verdict_detail" 2>/dev/null || true
    verdict queue_events "" "the call events could not be judged ($(wc -l <"$WORK/q_verdicts") of 6 verdicts)"
fi

# =============================================================================================
# 6. Callback from the queue: caller 2 asks for it while 102 talks; the switch calls back.
new_check
bg_part cb_agent_102 "$SIPP_DIR/uas_answer_bye.xml" "$L102_PORT" "$L102_MEDIA" 60 2 \
    -key line 102 -key hangup_ms 8000
bg_part cb_carrier "$SIPP_DIR/uas_answer_wait_bye.xml" "$CARRIER_PORT" "$CARRIER_MEDIA" 60 1 \
    -key line carrier -key ring_ms 500
bg_part cb_caller1 "$SIPP_DIR/acd_caller_wait_bye.xml" "$C1_PORT" "$C1_MEDIA" 60 1 \
    -s "$CALLBACK_NUMBER" -key caller "$CALLER1" -key rtp_port "$C1_MEDIA" \
    -key answered_file "$WORK/cb_caller1.answered"
if ! wait_file "$WORK/cb_caller1.answered" 10; then
    PROBLEMS+=("caller 1 was not answered within 10 s")
fi
fg_part cb_caller2 "$SIPP_DIR/acd_caller_callback.xml" "$C2_PORT" "$C2_MEDIA" 30 1 \
    -s "$CALLBACK_NUMBER" -key caller "$CALLER2" -key rtp_port "$C2_MEDIA" -key key 1
wait_parts
agent_froms="$(sipp_rx_summary cb_agent_102 | awk '$2 == "INVITE" { sub(/^from=/, "", $3); printf "%s ", $3 }')"
agent_froms="${agent_froms% }"
carrier_inv="$(grep -m1 -E '^INVITE ' "$WORK/cb_carrier.msg.log" 2>/dev/null | tr -d '\r' || true)"
carrier_from="$(sipp_rx_summary cb_carrier | awk '$2 == "INVITE" { sub(/^from=/, "", $3); print $3; exit }')"
if [[ "$carrier_inv" != *"sip:$CALLER2@"* ]]; then
    PROBLEMS+=("the carrier's INVITE is '$carrier_inv' (expected the callback to sip:$CALLER2@...)")
fi
if [[ "$carrier_from" != "$CALLBACK_NUMBER" ]]; then
    PROBLEMS+=("the callback presented '$carrier_from' (expected the virtual number $CALLBACK_NUMBER)")
fi
# The talk with caller 1 is from caller 1; the callback's ring shows the caller called back.
if [[ "$agent_froms" != "$CALLER1 $CALLER2" ]]; then
    PROBLEMS+=("102 got INVITEs from '$agent_froms', expected '$CALLER1 $CALLER2' (the callback after caller 1's talk)")
fi
finish_check queue_callback \
    "caller 2 pressed 1 and was hung up; after 102's talk with caller 1 the switch called $CALLER2 back through the trunk (From $carrier_from) and 102 rang for it (INVITEs from $agent_froms)"

problem=""
if wait_calls "$WORK/cb_calls.json" 15 "$CALLBACK_NUMBER:$CALLER2" "$CALLBACK_NUMBER:$CALLER1"; then
    problem="$(python3 - "$WORK/cb_calls.json" "$CALLBACK_NUMBER" "$CALLER2" 2>"$WORK/verdict_detail" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
mine = [c for c in items if c.get("numb") == sys.argv[2] and c.get("numa") == sys.argv[3]]
print(json.dumps(mine, indent=1), file=sys.stderr)
def of(c, kind):
    return [e["what"][kind] for e in c.get("events", [])
            if isinstance(e.get("what"), dict) and kind in e["what"]]
asked = [c for c in mine if of(c, "callback_requested")]
back = [c for c in mine if of(c, "callback_started")]
if len(asked) != 1 or of(asked[0], "callback_requested")[0].get("position") != 1:
    print(f"calls with callback_requested: {len(asked)} (expected one, position 1)")
elif len(back) != 1:
    print(f"calls with callback_started: {len(back)} (expected one: the callback's record)")
elif not [t for t in of(back[0], "talk") if t.get("employee") == 2]:
    print(f"the callback's talks: {of(back[0], 'talk')} (expected a talk with employee 2)")
PY
)" || problem="could not read the call events: $problem"
    if [[ -z "$problem" ]]; then
        queues="$(curl -fsS --max-time 3 -H "Authorization: Bearer $TOKEN" \
            "http://$HOST:$HTTP_PORT/api/v1/queues" 2>/dev/null || echo '?')"
        [[ "$queues" == '{"items":[]}' ]] || problem="GET /api/v1/queues is '$queues' after the callback (expected no queue)"
    fi
else
    problem="the calls of $CALLER1 and $CALLER2 to $CALLBACK_NUMBER are not all in GET /api/v1/calls/recent within 15 s"
fi
verdict queue_callback_events \
    "events: caller 2 callback_requested position 1; the callback's call callback_started and a talk with employee 2; no queue left" \
    "$problem"

# =============================================================================================
# 7. No call left behind; 8. clean shutdown.
new_check
if wait_idle 5; then
    pass "health: active_calls 0 after the calls ($(cat "$WORK/health.json"))"
else
    fail "health: active_calls is '$(health_active)' 5 s after the last call"
fi
kill -TERM "$SWITCH_PID"
for _ in $(seq 1 100); do
    kill -0 "$SWITCH_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$SWITCH_PID" 2>/dev/null; then
    fail "shutdown: still running 10 s after SIGTERM"
else
    status=0
    wait "$SWITCH_PID" || status=$?
    SWITCH_PID=""
    if [[ $status -eq 0 ]]; then
        pass "shutdown: exited with status 0 after SIGTERM"
    else
        fail "shutdown: exited with status $status after SIGTERM"
    fi
fi

echo "interop_acd: $PASSED passed, $FAILED failed"
if [[ $FAILED -ne 0 ]]; then
    echo "interop_acd: FAIL"
    exit 1
fi
echo "interop_acd: PASS"
