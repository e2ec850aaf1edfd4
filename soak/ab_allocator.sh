#!/usr/bin/env bash
# A/B of vpbx builds on the shared call-rate ruler (../shared/bench/sipp, the one that measured
# Asterisk): for each build, a fresh switch on a throw-away data dir, fixed-rate runs of the
# benchmark number (the switch hangs up after 0.5 s), 8 s each, in the order
# 1600, 3200, 1600, 4000, 1600 calls/s (the moderate rate again after each overload), with the
# switch's RSS after each run and 20 s after the last. Bounded: 5 runs per build.
#   usage: soak/ab_allocator.sh NAME=BINARY [NAME=BINARY ...]
#   e.g.   soak/ab_allocator.sh glibc=/tmp/vpbx-glibc mimalloc=target/release/vpbx
# Needs sip-tester; uses 127.0.0.1:5060 (SIP) and 127.0.0.1:18080 (HTTP).
set -u
RULER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../shared/bench/sipp" && pwd)"
OUT=$(mktemp -d)
cd "$RULER"
for pair in "$@"; do
  name=${pair%%=*}
  BIN=$(realpath "${pair#*=}")
  D=$(mktemp -d)
  "$BIN" --pike-requests 0 --data-dir "$D" --sip-addr 127.0.0.1:5060 --http-addr 127.0.0.1:18080 \
      --log-level warn > "$OUT/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -sf 127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
  rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
  echo "== $name start rss=$(rss)kB"
  port=5171
  for rate in 1600 3200 1600 4000 1600; do
    python3 run_bench.py run --scenario uac_pbx_bye.xml --service 74950000000 \
      --target 127.0.0.1:5060 --local-port $port --watch "$PID:vpbx" --out "$OUT" \
      --label "$name" --rate $rate --seconds 8 2>&1 | grep -E "^\[" | tail -1
    port=$((port + 2))
    echo "   rss after: $(rss)kB"
  done
  sleep 20
  echo "   rss 20 s after the last run: $(rss)kB"
  kill "$PID"; wait "$PID" 2>/dev/null; rm -rf "$D"
done
rm -rf "$OUT"
