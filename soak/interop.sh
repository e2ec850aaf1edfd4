#!/usr/bin/env bash
# SIPp interop run against a release build of vpbx. Builds nothing: run `cargo build --release`
# first. Starts the switch on a throw-away data dir and non-default ports, then checks:
#   1. demo call (74951234567): SIPp gets 200 with SDP, ACKs, receives the switch's BYE and answers
#      it; rtp_count.py sees >= 50 valid G.711 RTP packets on the port the SDP offered;
#   2. unknown extension (999) dialled by line 102 after its 407 challenge: 404 + ACK;
#   3. no G.711 in the offer (G.729 only): 488 + ACK;
#   4. /health reports active_calls 0; /metrics exposes vpbx_calls_finished_total and
#      vpbx_rtp_packets_sent_total (both > 0 after the demo call);
#   5. SIGTERM: the switch exits within 10 s with status 0.
# Prints PASS/FAIL per check; exits non-zero on any failure. The switch is always killed (trap).
#
# Environment overrides (defaults in brackets):
#   VPBX_BIN [target/release/vpbx]   INTEROP_SIP_PORT [25060]   INTEROP_HTTP_PORT [28080]
#   INTEROP_RTP_MIN [31000]  INTEROP_RTP_MAX [31999]  INTEROP_SIPP_PORT [25070]
#   INTEROP_SIPP_MEDIA_PORT [25080]  INTEROP_COUNTER_PORT [25090]
#   INTEROP_KEEP_LOGS=1 keeps the temp dir (logs, SIP traces) even when everything passed.
set -euo pipefail
# The demo lines get the passwords written in the company document (config/demo.yaml, or this
# script's fixture) instead of random ones: the SIPp scenarios and phones here use them.
export VPBX_DEMO_PASSWORDS=document

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
SIP_PORT="${INTEROP_SIP_PORT:-25060}"
HTTP_PORT="${INTEROP_HTTP_PORT:-28080}"
RTP_MIN="${INTEROP_RTP_MIN:-31000}"
RTP_MAX="${INTEROP_RTP_MAX:-31999}"
SIPP_PORT="${INTEROP_SIPP_PORT:-25070}"
SIPP_MEDIA_PORT="${INTEROP_SIPP_MEDIA_PORT:-25080}"
COUNTER_PORT="${INTEROP_COUNTER_PORT:-25090}"
HOST=127.0.0.1
DEMO_NUMBER=74951234567
SIPP_DIR="$ROOT/soak/sipp"

if [[ ! -x "$BIN" ]]; then
    echo "interop: FAIL: $BIN not found or not executable; run 'cargo build --release' first" >&2
    exit 2
fi
for tool in sipp python3 curl timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "interop: FAIL: '$tool' is not installed (apt-get install sip-tester python3 curl coreutils)" >&2
        exit 2
    fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-interop.XXXXXX")"
SWITCH_LOG="$WORK/vpbx.log"
SWITCH_PID=""
COUNTER_PID=""
# shellcheck source=soak/lib.sh
source "$ROOT/soak/lib.sh"

cleanup() {
    local rc=$?
    set +e
    if [[ -n "$COUNTER_PID" ]] && kill -0 "$COUNTER_PID" 2>/dev/null; then
        kill "$COUNTER_PID" 2>/dev/null
        wait "$COUNTER_PID" 2>/dev/null
    fi
    if [[ -n "$SWITCH_PID" ]] && kill -0 "$SWITCH_PID" 2>/dev/null; then
        kill -TERM "$SWITCH_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SWITCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SWITCH_PID" 2>/dev/null; then
            echo "interop: switch still alive 5 s after SIGTERM in cleanup; SIGKILL" >&2
            kill -KILL "$SWITCH_PID" 2>/dev/null
        fi
        wait "$SWITCH_PID" 2>/dev/null
    fi
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        if [[ -f "$SWITCH_LOG" ]]; then
            echo "----- switch log tail ($SWITCH_LOG) -----"
            tail -n 60 "$SWITCH_LOG"
            echo "----- end of switch log -----"
        fi
        echo "interop: logs and SIP traces kept in $WORK"
    elif [[ "${INTEROP_KEEP_LOGS:-0}" == 1 ]]; then
        echo "interop: logs and SIP traces kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


echo "interop: binary $BIN, work dir $WORK"
echo "interop: SIP $HOST:$SIP_PORT, HTTP $HOST:$HTTP_PORT, RTP $RTP_MIN-$RTP_MAX, sipp $SIPP_PORT, counter $COUNTER_PORT"

# ---------------------------------------------------------------------------------------------
# Start the switch.
"$BIN" --data-dir "$WORK/data" \
    --sip-addr "$HOST:$SIP_PORT" --http-addr "$HOST:$HTTP_PORT" \
    --rtp-port-min "$RTP_MIN" --rtp-port-max "$RTP_MAX" \
    --pike-requests 0 --auth-fail-max 0 \
    >"$SWITCH_LOG" 2>&1 &
SWITCH_PID=$!

healthy=0
for _ in $(seq 1 50); do
    if ! kill -0 "$SWITCH_PID" 2>/dev/null; then
        break
    fi
    if curl -fsS --max-time 1 "http://$HOST:$HTTP_PORT/health" >"$WORK/health0.json" 2>/dev/null; then
        healthy=1
        break
    fi
    sleep 0.2
done
if [[ $healthy -ne 1 ]]; then
    if kill -0 "$SWITCH_PID" 2>/dev/null; then
        fail "startup: /health did not answer within 10 s"
    else
        rc=0
        wait "$SWITCH_PID" || rc=$?
        SWITCH_PID=""
        fail "startup: switch exited early with status $rc"
    fi
    exit 1
fi
pass "startup: /health answers ($(cat "$WORK/health0.json"))"

# ---------------------------------------------------------------------------------------------
# 1. Demo call with RTP counting.
rm -f "$WORK/counter.ready"
python3 soak/rtp_count.py --host "$HOST" --port "$COUNTER_PORT" --duration 20 --idle 2 --min 50 \
    --ready-file "$WORK/counter.ready" >"$WORK/rtp_count.out" 2>&1 &
COUNTER_PID=$!
for _ in $(seq 1 50); do
    [[ -f "$WORK/counter.ready" ]] && break
    kill -0 "$COUNTER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ ! -f "$WORK/counter.ready" ]]; then
    fail "demo_call: rtp_count.py did not bind $HOST:$COUNTER_PORT"
    cat "$WORK/rtp_count.out"
    exit 1
fi

sipp_rc=0
run_sipp demo_call "$SIPP_DIR/demo_call.xml" "$SIP_PORT" -s "$DEMO_NUMBER" -key rtp_port "$COUNTER_PORT" || sipp_rc=$?
counter_rc=0
wait "$COUNTER_PID" || counter_rc=$?
COUNTER_PID=""

if [[ $sipp_rc -eq 0 ]]; then
    pass "demo_call: SIPp scenario succeeded (INVITE/200 with SDP/ACK/BYE from switch/200)"
else
    fail "demo_call: SIPp exited with status $sipp_rc"
    show_sipp_trace demo_call
fi
demo_rx="$(received_first_lines demo_call)"
if grep -q '^BYE ' <<<"$demo_rx"; then
    pass "demo_call: BYE received from the switch"
else
    fail "demo_call: no BYE from the switch in the SIP trace"
    [[ $sipp_rc -eq 0 ]] && show_sipp_trace demo_call
fi
summary="$(grep '^RTP_SUMMARY ' "$WORK/rtp_count.out" | sed 's/^RTP_SUMMARY //' || true)"
if [[ $counter_rc -eq 0 ]]; then
    pass "demo_call: RTP valid ($(sed -n '1,2p' "$WORK/rtp_count.out" | tr '\n' ' '))"
else
    fail "demo_call: RTP check failed (rtp_count.py status $counter_rc)"
    cat "$WORK/rtp_count.out"
fi
echo "interop: rtp summary: ${summary:-none}"

# ---------------------------------------------------------------------------------------------
# 2./3. Rejections.
check_reject() {
    local name=$1 code=$2
    local rc=0
    run_sipp "$name" "$SIPP_DIR/$name.xml" "$SIP_PORT" || rc=$?
    local rx finals
    rx="$(received_first_lines "$name")"
    finals="$(grep -E '^SIP/2\.0 [2-6][0-9][0-9]' <<<"$rx" | sort -u | tr '\n' ';' || true)"
    if [[ $rc -eq 0 ]] && grep -q "^SIP/2\.0 $code " <<<"$rx"; then
        pass "$name: $code received and ACKed"
    else
        fail "$name: expected $code + ACK; SIPp status $rc, final responses seen: ${finals:-none}"
        show_sipp_trace "$name"
    fi
}
check_reject unknown_number 404
check_reject no_codec 488

# ---------------------------------------------------------------------------------------------
# 4. Health and metrics after the calls.
active=""
for _ in $(seq 1 25); do
    if curl -fsS --max-time 2 "http://$HOST:$HTTP_PORT/health" >"$WORK/health.json" 2>/dev/null; then
        active="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["active_calls"])' \
            "$WORK/health.json" 2>/dev/null || echo "?")"
        [[ "$active" == 0 ]] && break
    fi
    sleep 0.2
done
if [[ "$active" == 0 ]]; then
    pass "health: active_calls 0 ($(cat "$WORK/health.json"))"
else
    fail "health: active_calls is '${active:-no answer}' 5 s after the calls ($(cat "$WORK/health.json" 2>/dev/null))"
fi

if curl -fsS --max-time 2 "http://$HOST:$HTTP_PORT/metrics" >"$WORK/metrics.txt" 2>/dev/null; then
    for metric in vpbx_calls_finished_total vpbx_rtp_packets_sent_total; do
        # Sum over all label sets; the demo call must have moved both counters.
        total="$(awk -v m="$metric" '$1 == m || index($1, m "{") == 1 { s += $NF; n++ }
                 END { if (n) printf "%g", s; else print "missing" }' "$WORK/metrics.txt")"
        if [[ "$total" == missing ]]; then
            fail "metrics: $metric missing from /metrics"
        elif awk -v t="$total" 'BEGIN { exit !(t > 0) }'; then
            pass "metrics: $metric = $total"
        else
            fail "metrics: $metric present but $total (expected > 0 after the demo call)"
        fi
    done
else
    fail "metrics: /metrics did not answer"
fi

# ---------------------------------------------------------------------------------------------
# 5. Clean shutdown on SIGTERM.
kill -TERM "$SWITCH_PID"
exited=0
for _ in $(seq 1 100); do
    if ! kill -0 "$SWITCH_PID" 2>/dev/null; then
        exited=1
        break
    fi
    sleep 0.1
done
if [[ $exited -eq 1 ]]; then
    status=0
    wait "$SWITCH_PID" || status=$?
    SWITCH_PID=""
    if [[ $status -eq 0 ]]; then
        pass "shutdown: exited with status 0 after SIGTERM"
    else
        fail "shutdown: exited with status $status after SIGTERM"
    fi
else
    fail "shutdown: still running 10 s after SIGTERM"
fi

echo "interop: $PASSED passed, $FAILED failed"
if [[ $FAILED -ne 0 ]]; then
    echo "interop: FAIL"
    exit 1
fi
echo "interop: PASS"

# ---------------------------------------------------------------------------------------------
# 6. Extension enumeration: sipvicious svwar finds no extension (own switch; see soak/svwar.sh).
if ! VPBX_BIN="$BIN" "$ROOT/soak/svwar.sh"; then
    echo "interop: FAIL (svwar)"
    exit 1
fi
