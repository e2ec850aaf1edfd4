#!/usr/bin/env bash
# Idle memory after many finished calls, the same way for any build (issue 14, item 4), with
# nothing but SIPp and the shared ruler's scenario, so builds whose configuration the runner's
# company no longer fits (b844c0b) are measured on the same footing:
#
#   soak/memory_ab.sh base=/tmp/vpbx-b844 new=target/release/vpbx
#
# For each LABEL=BINARY: a fresh switch on its embedded demo (empty data directory); SIPp's
# uac_pbx_bye.xml calls the benchmark number (answer, 0.5 s of RTP, the switch hangs up)
# FIRST calls at RATE/2 per second, then the rest of CALLS at RATE; after each batch, once
# /health shows no call up and SETTLE seconds more, the switch's RSS (/proc) and the
# allocator's live bytes (/metrics, when the build has them) are printed.
#
# Environment: RULER_DIR [../shared/bench/sipp]  CALLS [100000]  FIRST [1000]  RATE [1000]
#   SETTLE [40]  SIP_PORT [5090]  HTTP_PORT [18999]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RULER_DIR=$(cd "${RULER_DIR:-$ROOT/../shared/bench/sipp}" && pwd)
CALLS=${CALLS:-100000}
FIRST=${FIRST:-1000}
RATE=${RATE:-1000}
SETTLE=${SETTLE:-40}
SIP_PORT=${SIP_PORT:-5090}
HTTP_PORT=${HTTP_PORT:-18999}
WORK=$(mktemp -d /tmp/memory_ab.XXXXXX)
PID=

[[ $# -ge 1 ]] || { echo "usage: $0 LABEL=BINARY [LABEL=BINARY ...]" >&2; exit 2; }
command -v sipp >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 2; }

stop_switch() {
    if [[ -n $PID ]]; then
        kill "$PID" 2>/dev/null || true
        while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
        PID=
    fi
}
trap stop_switch EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
live_bytes() {
    curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" \
        | awk '/^vpbx_allocator_bytes\{kind="allocated"\} / {printf "%d", $2; found=1} END {if (!found) print "-"}'
}
# No call up (the /health JSON's active_calls is 0), bounded at 120 s; then SETTLE seconds.
settle() {
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$HTTP_PORT/health" | grep -q '"active_calls":0' && break
        sleep 0.2
    done
    sleep "$SETTLE"
}
calls() { # N RATE
    sipp -sf "$RULER_DIR/uac_pbx_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p 5061 \
        -s 74950000000 -r "$2" -rp 1000 -m "$1" -l $(( $2 * 4 )) -recv_timeout 10000 \
        -timeout $(( $1 / $2 + 60 ))s -buff_size 4194304 -nostdin -trace_stat \
        -stf "$WORK/stat.csv" -fd 1 > "$WORK/sipp.log" 2>&1 || true
    grep -E "Successful call|Failed call" "$WORK/sipp.log" | tail -2 | tr -s ' ' | tr '\n' ' '
}

for lb in "$@"; do
    label=${lb%%=*}
    bin=${lb#*=}
    rm -rf "$WORK/data" && mkdir -p "$WORK/data"
    # From the work directory: a switch reads ./vpbx.toml, and the repository's is for this build.
    bin=$(realpath "$bin")
    (cd "$WORK" && VPBX_DEMO_PASSWORDS=document exec "$bin" --data-dir "$WORK/data" \
        --sip-addr "127.0.0.1:$SIP_PORT" --http-addr "127.0.0.1:$HTTP_PORT" \
        --pike-requests 0 --auth-fail-max 0 --log-level warn > "$WORK/switch.log" 2>&1 < /dev/null) &
    PID=$!
    for _ in $(seq 150); do
        curl -sf "http://127.0.0.1:$HTTP_PORT/health" > /dev/null && break
        sleep 0.2
    done
    start=$(rss_kb)
    c1=$(calls "$FIRST" $(( RATE / 2 )))
    settle
    r1=$(rss_kb); l1=$(live_bytes)
    c2=$(calls $(( CALLS - FIRST )) "$RATE")
    settle
    r2=$(rss_kb); l2=$(live_bytes)
    printf '%s (%s): RSS at start %d kB; after %d calls %d kB (live %s B) [%s]; after %d calls %d kB (live %s B) [%s]; growth %+.1f MB\n' \
        "$label" "$bin" "$start" "$FIRST" "$r1" "$l1" "$c1" "$CALLS" "$r2" "$l2" "$c2" \
        "$(echo "($r2 - $r1) / 1024" | bc -l)"
    stop_switch
done
rm -rf "$WORK"
