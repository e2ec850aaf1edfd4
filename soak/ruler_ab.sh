#!/usr/bin/env bash
# The shared ruler (../shared/bench/sipp/run_bench.py) applied to one or more switch builds in one
# series, with the SIPp-against-SIPp ceiling measured in the same series, so every rate can be
# given as a ratio to it (issue 14, docs/benchmarks.md).
#
#   soak/ruler_ab.sh base=/tmp/base-target/release/vpbx new=target/release/vpbx
#
# For each LABEL=BINARY, in the order given:
#   - a rate search on the benchmark number (74950000000: answer, 0.5 s, the switch hangs up),
#     the ruler's search (start RULER_START, factor 2, then bisection), with a fresh switch
#     before every run (--pre-run), so no run inherits an earlier overload;
#   - the half rate of the highest pass once more on a fresh switch (setup time, CPU).
# Then the ceiling: `sipp -sn uas` and the ruler's search with the built-in uac.
# Results: one JSON line per run in $OUT/results.jsonl and the ruler's own lines on stdout.
#
# Environment: RULER_DIR [../shared/bench/sipp]  OUT [a temp dir]  RULER_START [1000]
#   RULER_SECONDS [8]  RULER_MAX_RUNS [10]  SIP_PORT [5090]  HTTP_PORT [18999]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RULER_DIR=$(cd "${RULER_DIR:-$ROOT/../shared/bench/sipp}" && pwd)
OUT=${OUT:-$(mktemp -d /tmp/ruler.XXXXXX)}
START=${RULER_START:-1000}
SECONDS_PER_RUN=${RULER_SECONDS:-8}
MAX_RUNS=${RULER_MAX_RUNS:-10}
SIP_PORT=${SIP_PORT:-5090}
HTTP_PORT=${HTTP_PORT:-18999}
mkdir -p "$OUT"
PIDFILE=$OUT/switch.pid

[[ $# -ge 1 ]] || { echo "usage: $0 LABEL=BINARY [LABEL=BINARY ...]" >&2; exit 2; }
command -v sipp >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 2; }

stop_switch() {
    if [[ -s $PIDFILE ]]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        while kill -0 "$(cat "$PIDFILE")" 2>/dev/null; do sleep 0.1; done
        rm -f "$PIDFILE"
    fi
}
trap 'stop_switch; pkill -f "sipp -sn uas -i 127.0.0.1 -p 5162" || true' EXIT

# The --pre-run of every ruler run: a fresh switch with an empty data directory.
cat > "$OUT/restart.sh" <<EOF
#!/usr/bin/env bash
set -e
if [[ -s $PIDFILE ]]; then
    kill \$(cat $PIDFILE) 2>/dev/null || true
    while kill -0 \$(cat $PIDFILE) 2>/dev/null; do sleep 0.1; done
fi
rm -rf $OUT/data && mkdir -p $OUT/data
VPBX_DEMO_PASSWORDS=document setsid "\$1" --data-dir $OUT/data --sip-addr 127.0.0.1:$SIP_PORT \\
    --http-addr 127.0.0.1:$HTTP_PORT --pike-requests 0 --auth-fail-max 0 --log-level warn \\
    > $OUT/switch.log 2>&1 < /dev/null &
echo \$! > $PIDFILE
for _ in \$(seq 150); do
    curl -sf http://127.0.0.1:$HTTP_PORT/health > /dev/null && exit 0
    sleep 0.2
done
echo "the switch did not come up" >&2
exit 1
EOF
chmod +x "$OUT/restart.sh"

cd "$RULER_DIR"
for arg in "$@"; do
    label=${arg%%=*}
    bin=$(cd "$ROOT" && realpath "${arg#*=}")
    echo "== $label: $bin"
    "$OUT/restart.sh" "$bin"
    python3 run_bench.py search --scenario uac_pbx_bye.xml --service 74950000000 \
        --target 127.0.0.1:$SIP_PORT --local-port 5171 --watch "@$PIDFILE:vpbx" \
        --pre-run "$OUT/restart.sh $bin" --label "$label" --out "$OUT" \
        --results "$OUT/results.jsonl" --start "$START" --factor 2 --max-rate 20000 \
        --seconds "$SECONDS_PER_RUN" --max-runs "$MAX_RUNS" | grep --line-buffered -E '^\[|max_pass' | tee "$OUT/$label.search"
    best=$(sed -n 's/.*"max_pass_cps": \([0-9]*\).*/\1/p' "$OUT/$label.search")
    if [[ -n $best && $best -gt 0 ]]; then
        python3 run_bench.py run --scenario uac_pbx_bye.xml --service 74950000000 \
            --target 127.0.0.1:$SIP_PORT --local-port 5171 --watch "@$PIDFILE:vpbx" \
            --pre-run "$OUT/restart.sh $bin" --label "$label-half" --out "$OUT" \
            --results "$OUT/results.jsonl" --rate $((best / 2)) --seconds "$SECONDS_PER_RUN" \
            | grep --line-buffered -E '^\[' || true
    fi
    stop_switch
done

echo "== ceiling: SIPp uac -> SIPp uas"
# -bg returns 99 once the background SIPp is started
sipp -sn uas -i 127.0.0.1 -p 5162 -buff_size 4194304 -nostdin -bg > /dev/null || true
sleep 1
UAS=$(pgrep -n -f 'sipp -sn uas -i 127.0.0.1 -p 5162')
python3 run_bench.py search --sn uac --target 127.0.0.1:5162 --local-port 5163 --watch "$UAS:uas" \
    --label ceiling --out "$OUT" --results "$OUT/results.jsonl" --start 2000 --factor 2 \
    --max-rate 40000 --seconds "$SECONDS_PER_RUN" --max-runs "$MAX_RUNS" | grep --line-buffered -E '^\[|max_pass' | tee "$OUT/ceiling.search"
echo "results: $OUT/results.jsonl"
