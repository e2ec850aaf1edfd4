#!/usr/bin/env bash
# Extension enumeration check with SIPVicious `svwar` (PyPI `sipvicious`) against a release build.
# The demo company has lines 101 and 102; svwar must find no extension at all:
#   1. as shipped (User-Agent `friendly-scanner`): the gate drops known scanners silently;
#   2. with an ordinary phone's User-Agent (svwar patched in-process), REGISTER, INVITE and
#      OPTIONS scans, with and without --force: known and unknown users get identical answers.
# Starts its own switch (flood limit off: svwar sends fast from one address). Installs sipvicious
# with pip if it is missing. Prints PASS/FAIL per scan; exits non-zero on any failure.
#
# Environment: VPBX_BIN [target/release/vpbx]  SVWAR_SIP_PORT [25260]  SVWAR_HTTP_PORT [28280]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
SIP_PORT="${SVWAR_SIP_PORT:-25260}"
HTTP_PORT="${SVWAR_HTTP_PORT:-28280}"
HOST=127.0.0.1
EXTENSIONS="100-110,200,555"

if [[ ! -x "$BIN" ]]; then
    echo "svwar: FAIL: $BIN not found; run 'cargo build --release' first" >&2
    exit 2
fi
if ! python3 -c "import sipvicious.svwar" 2>/dev/null; then
    echo "svwar: installing sipvicious from PyPI"
    timeout 180 python3 -m pip install --quiet sipvicious || {
        echo "svwar: FAIL: cannot install sipvicious" >&2
        exit 2
    }
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-svwar.XXXXXX")"
SWITCH_PID=""
FAILED=0
cleanup() {
    set +e
    if [[ -n "$SWITCH_PID" ]] && kill -0 "$SWITCH_PID" 2>/dev/null; then
        kill -TERM "$SWITCH_PID"
        wait "$SWITCH_PID" 2>/dev/null
    fi
    if [[ $FAILED -eq 0 ]]; then rm -rf "$WORK"; else echo "svwar: logs kept in $WORK"; fi
}
trap cleanup EXIT

"$BIN" --config /nonexistent.toml --data-dir "$WORK/data" \
    --sip-addr "$HOST:$SIP_PORT" --http-addr "$HOST:$HTTP_PORT" \
    --rtp-port-min 33000 --rtp-port-max 33099 --pike-requests 0 \
    >"$WORK/vpbx.log" 2>&1 &
SWITCH_PID=$!
up=0
for _ in $(seq 1 50); do
    if curl -fsS --max-time 1 "http://$HOST:$HTTP_PORT/health" >/dev/null 2>&1; then
        up=1
        break
    fi
    sleep 0.2
done
if [[ $up -ne 1 ]]; then
    FAILED=1
    echo "svwar: FAIL: the switch did not come up"
    tail -n 20 "$WORK/vpbx.log"
    exit 1
fi

# svwar with its User-Agent replaced by an ordinary phone's.
cat >"$WORK/svwar_ua.py" <<'PY'
import functools, sys
import sipvicious.svwar as w
w.makeRequest = functools.partial(w.makeRequest, useragent="Yealink SIP-T46S 66.86.0.15")
sys.argv = ["svwar"] + sys.argv[1:]
w.main()
PY

# scan NAME ANSWERED CMD...: ANSWERED=1 means the switch must answer (an ordinary User-Agent),
# so a scan that only saw timeouts proves nothing and fails.
scan() {
    local name="$1" answered="$2"
    shift 2
    local out="$WORK/scan-$name.txt"
    timeout 120 "$@" -e"$EXTENSIONS" -p "$SIP_PORT" "$HOST" >"$out" 2>&1 || true
    # svwar lists found extensions as table rows: `| 101 | reqauth |`.
    if grep -Eq '^\|[[:space:]]*[0-9]+[[:space:]]*\|' "$out"; then
        FAILED=$((FAILED + 1))
        echo "FAIL: svwar $name found extensions:"
        grep -E '^\|' "$out"
    elif [[ "$answered" == 1 ]] && grep -q "timed out" "$out"; then
        FAILED=$((FAILED + 1))
        echo "FAIL: svwar $name: the switch did not answer"
        tail -n 5 "$out"
    elif grep -q "found nothing" "$out"; then
        echo "PASS: svwar $name found nothing"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL: svwar $name: unexpected output"
        tail -n 5 "$out"
    fi
}

scan "REGISTER-default-ua" 0 python3 -m sipvicious.svwar -m REGISTER
for method in REGISTER INVITE OPTIONS; do
    scan "$method-phone-ua" 1 python3 "$WORK/svwar_ua.py" -m "$method"
    scan "$method-phone-ua-force" 1 python3 "$WORK/svwar_ua.py" --force -m "$method"
done

if [[ $FAILED -ne 0 ]]; then
    echo "svwar: FAIL"
    exit 1
fi
echo "svwar: PASS"
