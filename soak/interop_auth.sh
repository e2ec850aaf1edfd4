#!/usr/bin/env bash
# SIPp interop run of registration, auth-failure bans, CANCEL and caller hang-up against a release
# build of vpbx. Builds nothing: run `cargo build --release` first. Starts two switches on
# throw-away data dirs and its own fixed ports (distinct from interop.sh and svwar.sh):
#   A. the demo company, auth-failure ban on (--auth-fail-max 3 --auth-fail-window-s 60
#      --auth-ban-s 60), flood limit off:
#      1. register_auth: REGISTER/401/REGISTER+digest/200 (Contact ;expires=N), unregister/200;
#      2. bye_from_caller: call to the echo number 74950000001, caller hangs up after 2 s;
#      3. ban: an OPTIONS from 127.0.0.1 is answered; register_wrong (401, then 403 for a wrong
#         password) passes 4 times; the 4th failure exceeds 3, so an OPTIONS from 127.0.0.1 gets
#         no answer at all while one from 127.0.0.2 still gets 200; /metrics has
#         vpbx_sip_bans_total > 0 and vpbx_sip_auth_failures_total >= 3;
#      4. SIGTERM: exits within 10 s with status 0.
#   B. a one-number company that rings for 10 s (74951112233; written to the temp dir: a TOML
#      with `demo = "company.yaml"` + the YAML + prompts/greeting.wav):
#      5. cancel: INVITE/180, CANCEL → 200 (CANCEL) + 487 (INVITE), ACK; active_calls back to 0;
#      6. SIGTERM: exits within 10 s with status 0.
# Prints PASS/FAIL per check; exits non-zero on any failure. The switches are always stopped (trap).
#
# Environment overrides (defaults in brackets):
#   VPBX_BIN [${CARGO_TARGET_DIR:-target}/release/vpbx]
#   AUTH_SIP_PORT [25360]  AUTH_HTTP_PORT [28380]  AUTH_RTP_MIN [34000]  AUTH_RTP_MAX [34499]
#   RING_SIP_PORT [25362]  RING_HTTP_PORT [28382]  RING_RTP_MIN [34500]  RING_RTP_MAX [34999]
#   AUTH_SIPP_PORT [25370]  AUTH_SIPP_MEDIA_PORT [25380]
#   INTEROP_KEEP_LOGS=1 keeps the temp dir (logs, SIP traces) even when everything passed.
set -euo pipefail
# The demo lines get the passwords written in the company document (config/demo.yaml, or this
# script's fixture) instead of random ones: the SIPp scenarios and phones here use them.
export VPBX_DEMO_PASSWORDS=document

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
SIP_PORT="${AUTH_SIP_PORT:-25360}"
HTTP_PORT="${AUTH_HTTP_PORT:-28380}"
RTP_MIN="${AUTH_RTP_MIN:-34000}"
RTP_MAX="${AUTH_RTP_MAX:-34499}"
RING_SIP="${RING_SIP_PORT:-25362}"
RING_HTTP="${RING_HTTP_PORT:-28382}"
RING_RTP_MIN="${RING_RTP_MIN:-34500}"
RING_RTP_MAX="${RING_RTP_MAX:-34999}"
SIPP_PORT="${AUTH_SIPP_PORT:-25370}"
SIPP_MEDIA_PORT="${AUTH_SIPP_MEDIA_PORT:-25380}"
HOST=127.0.0.1
RING_NUMBER=74951112233
AUTH_FAIL_MAX=3
SIPP_DIR="$ROOT/soak/sipp"

if [[ ! -x "$BIN" ]]; then
    echo "interop_auth: FAIL: $BIN not found or not executable; run 'cargo build --release' first" >&2
    exit 2
fi
for tool in sipp python3 curl timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "interop_auth: FAIL: '$tool' is not installed (apt-get install sip-tester python3 curl coreutils)" >&2
        exit 2
    fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-interop-auth.XXXXXX")"
SWITCH_PID=""
SWITCH_LOG=""
# shellcheck source=soak/lib.sh
source "$ROOT/soak/lib.sh"

# stop_switch: SIGTERM the running switch, SIGKILL after 5 s; no status check (cleanup path).
stop_switch() {
    if [[ -n "$SWITCH_PID" ]] && kill -0 "$SWITCH_PID" 2>/dev/null; then
        kill -TERM "$SWITCH_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SWITCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SWITCH_PID" 2>/dev/null; then
            echo "interop_auth: switch still alive 5 s after SIGTERM in cleanup; SIGKILL" >&2
            kill -KILL "$SWITCH_PID" 2>/dev/null
        fi
        wait "$SWITCH_PID" 2>/dev/null
    fi
    SWITCH_PID=""
}

cleanup() {
    local rc=$?
    set +e
    stop_switch
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        if [[ -n "$SWITCH_LOG" && -f "$SWITCH_LOG" ]]; then
            echo "----- switch log tail ($SWITCH_LOG) -----"
            tail -n 60 "$SWITCH_LOG"
            echo "----- end of switch log -----"
        fi
        echo "interop_auth: logs and SIP traces kept in $WORK"
    elif [[ "${INTEROP_KEEP_LOGS:-0}" == 1 ]]; then
        echo "interop_auth: logs and SIP traces kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_switch NAME HTTP_PORT [vpbx args...]: start a switch, wait up to 10 s for /health.
start_switch() {
    local name=$1 http=$2
    shift 2
    SWITCH_LOG="$WORK/$name.vpbx.log"
    "$BIN" "$@" >"$SWITCH_LOG" 2>&1 &
    SWITCH_PID=$!
    for _ in $(seq 1 50); do
        if ! kill -0 "$SWITCH_PID" 2>/dev/null; then
            local rc=0
            wait "$SWITCH_PID" || rc=$?
            SWITCH_PID=""
            fail "$name startup: switch exited early with status $rc"
            exit 1
        fi
        if curl -fsS --max-time 1 "http://$HOST:$http/health" >"$WORK/$name.health0.json" 2>/dev/null; then
            pass "$name startup: /health answers ($(cat "$WORK/$name.health0.json"))"
            return 0
        fi
        sleep 0.2
    done
    fail "$name startup: /health did not answer within 10 s"
    exit 1
}

# sigterm_check NAME: SIGTERM the switch; it must exit within 10 s with status 0.
sigterm_check() {
    local name=$1
    kill -TERM "$SWITCH_PID"
    for _ in $(seq 1 100); do
        kill -0 "$SWITCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SWITCH_PID" 2>/dev/null; then
        fail "$name shutdown: still running 10 s after SIGTERM"
        return
    fi
    local status=0
    wait "$SWITCH_PID" || status=$?
    SWITCH_PID=""
    if [[ $status -eq 0 ]]; then
        pass "$name shutdown: exited with status 0 after SIGTERM"
    else
        fail "$name shutdown: exited with status $status after SIGTERM"
    fi
}


# check_sipp NAME SCENARIO PORT DESCRIPTION [extra sipp args...]: PASS if SIPp exits 0.
check_sipp() {
    local name=$1 scenario=$2 port=$3 what=$4
    shift 4
    local rc=0
    run_sipp "$name" "$scenario" "$port" "$@" || rc=$?
    local seen
    seen="$(received_first_lines "$name" | sed 's/^SIP\/2\.0 //' | tr '\n' ';')"
    if [[ $rc -eq 0 ]]; then
        pass "$name: $what (received: ${seen:-nothing})"
    else
        fail "$name: SIPp exited with status $rc (received: ${seen:-nothing})"
        show_sipp_trace "$name"
    fi
}

# sip_probe SRC_IP PORT WAIT_S: send one OPTIONS from SRC_IP (ephemeral port) to HOST:PORT and
# print the status line of the answer, or "no answer" after WAIT_S. Exit 0 answered, 1 not,
# 2 cannot bind.
sip_probe() {
    python3 - "$1" "$HOST" "$2" "$3" <<'PY'
import socket, sys, uuid
src, host, port, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind((src, 0))
except OSError as e:
    print(f"cannot bind {src}: {e}")
    sys.exit(2)
lport = s.getsockname()[1]
tag = uuid.uuid4().hex[:12]
msg = (
    f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP {src}:{lport};branch=z9hG4bK-probe-{tag}\r\n"
    f"From: <sip:probe@{src}>;tag={tag}\r\n"
    f"To: <sip:{host}:{port}>\r\n"
    f"Call-ID: probe-{tag}@{src}\r\n"
    "CSeq: 1 OPTIONS\r\n"
    f"Contact: <sip:probe@{src}:{lport}>\r\n"
    "Max-Forwards: 70\r\n"
    "User-Agent: vpbx-interop-probe\r\n"
    "Content-Length: 0\r\n\r\n"
)
s.settimeout(wait)
s.sendto(msg.encode(), (host, port))
try:
    data, _ = s.recvfrom(65535)
except socket.timeout:
    print(f"no answer within {wait:g} s")
    sys.exit(1)
print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
PY
}

# metric_sum FILE NAME: sum of NAME over all its label sets, or "missing".
metric_sum() {
    awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF; n++ }
         END { if (n) printf "%g", s; else print "missing" }' "$1"
}

echo "interop_auth: binary $BIN, work dir $WORK"
echo "interop_auth: switch A SIP $HOST:$SIP_PORT HTTP $HTTP_PORT RTP $RTP_MIN-$RTP_MAX;" \
    "switch B SIP $HOST:$RING_SIP HTTP $RING_HTTP RTP $RING_RTP_MIN-$RING_RTP_MAX; sipp $SIPP_PORT"

# =============================================================================================
# A. Demo company, auth-failure ban on.
start_switch auth "$HTTP_PORT" --data-dir "$WORK/data-auth" \
    --sip-addr "$HOST:$SIP_PORT" --http-addr "$HOST:$HTTP_PORT" \
    --rtp-port-min "$RTP_MIN" --rtp-port-max "$RTP_MAX" \
    --pike-requests 0 --auth-fail-max "$AUTH_FAIL_MAX" --auth-fail-window-s 60 --auth-ban-s 60

# 1. Registration with digest auth, then unregistration.
check_sipp register_auth "$SIPP_DIR/register_auth.xml" "$SIP_PORT" \
    "401 challenge, 200 with Contact ;expires=N, unregister 200"

# 2. Caller hangs up the echo call.
check_sipp bye_from_caller "$SIPP_DIR/bye_from_caller.xml" "$SIP_PORT" \
    "echo call answered, ACKed, caller BYE after 2 s answered 200"

# 3. Auth failures ban the source.
probe_rc=0
probe_out="$(sip_probe "$HOST" "$SIP_PORT" 3)" || probe_rc=$?
if [[ $probe_rc -eq 0 ]]; then
    pass "ban: before the failures, OPTIONS from $HOST is answered ($probe_out)"
else
    fail "ban: before the failures, OPTIONS from $HOST: $probe_out"
fi
for i in $(seq 1 $((AUTH_FAIL_MAX + 1))); do
    check_sipp "register_wrong_$i" "$SIPP_DIR/register_wrong.xml" "$SIP_PORT" \
        "wrong password $i/$((AUTH_FAIL_MAX + 1)): 401 then 403 bad credentials"
done
probe_rc=0
probe_out="$(sip_probe "$HOST" "$SIP_PORT" 3)" || probe_rc=$?
if [[ $probe_rc -eq 1 ]]; then
    pass "ban: after $((AUTH_FAIL_MAX + 1)) failures, OPTIONS from $HOST gets no answer ($probe_out)"
else
    fail "ban: after $((AUTH_FAIL_MAX + 1)) failures, OPTIONS from $HOST: $probe_out (expected no answer)"
fi
probe_rc=0
probe_out="$(sip_probe 127.0.0.2 "$SIP_PORT" 3)" || probe_rc=$?
if [[ $probe_rc -eq 0 ]]; then
    pass "ban: another source (127.0.0.2) is still answered ($probe_out)"
else
    fail "ban: OPTIONS from 127.0.0.2: $probe_out (expected an answer: only $HOST is banned)"
fi

if curl -fsS --max-time 2 "http://$HOST:$HTTP_PORT/metrics" >"$WORK/auth.metrics.txt" 2>/dev/null; then
    bans="$(metric_sum "$WORK/auth.metrics.txt" vpbx_sip_bans_total)"
    failures="$(metric_sum "$WORK/auth.metrics.txt" vpbx_sip_auth_failures_total)"
    if [[ "$bans" != missing ]] && awk -v t="$bans" 'BEGIN { exit !(t > 0) }'; then
        pass "metrics: vpbx_sip_bans_total = $bans"
    else
        fail "metrics: vpbx_sip_bans_total = $bans (expected > 0)"
    fi
    if [[ "$failures" != missing ]] && awk -v t="$failures" -v m="$AUTH_FAIL_MAX" 'BEGIN { exit !(t >= m) }'; then
        pass "metrics: vpbx_sip_auth_failures_total = $failures"
    else
        fail "metrics: vpbx_sip_auth_failures_total = $failures (expected >= $AUTH_FAIL_MAX)"
    fi
else
    fail "metrics: /metrics did not answer"
fi

# 4. Clean shutdown.
sigterm_check auth

# =============================================================================================
# B. A company whose only number rings for 10 s before the greeting.
RING_DIR="$WORK/ringing"
mkdir -p "$RING_DIR/prompts"
cp "$ROOT/config/prompts/greeting.wav" "$RING_DIR/prompts/greeting.wav"
cp "$ROOT/tests/fixtures/ringing_company.yaml" "$RING_DIR/company.yaml"
cat >"$RING_DIR/vpbx.toml" <<'TOML'
# interop_auth.sh: the company below is loaded into the empty data dir on first start.
demo = "company.yaml"
TOML

start_switch ring "$RING_HTTP" --config "$RING_DIR/vpbx.toml" --data-dir "$WORK/data-ring" \
    --sip-addr "$HOST:$RING_SIP" --http-addr "$HOST:$RING_HTTP" \
    --rtp-port-min "$RING_RTP_MIN" --rtp-port-max "$RING_RTP_MAX" \
    --pike-requests 0 --auth-fail-max 0

# 5. CANCEL while ringing.
check_sipp cancel "$SIPP_DIR/cancel.xml" "$RING_SIP" \
    "180, CANCEL answered 200, INVITE answered 487, ACKed" -s "$RING_NUMBER"

active=""
for _ in $(seq 1 25); do
    if curl -fsS --max-time 2 "http://$HOST:$RING_HTTP/health" >"$WORK/ring.health.json" 2>/dev/null; then
        active="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["active_calls"])' \
            "$WORK/ring.health.json" 2>/dev/null || echo "?")"
        [[ "$active" == 0 ]] && break
    fi
    sleep 0.2
done
if [[ "$active" == 0 ]]; then
    pass "health: active_calls 0 after the cancelled call ($(cat "$WORK/ring.health.json"))"
else
    fail "health: active_calls is '${active:-no answer}' 5 s after the cancelled call"
fi

# 6. Clean shutdown.
sigterm_check ring

echo "interop_auth: $PASSED passed, $FAILED failed"
if [[ $FAILED -ne 0 ]]; then
    echo "interop_auth: FAIL"
    exit 1
fi
echo "interop_auth: PASS"
