#!/usr/bin/env bash
# The README's softphone recipe, run as written, headless, against the release switch.
#
# The fenced block that follows the marker `<!-- readme-baresip: ... -->` in README.md is
# extracted and run by bash with HOME set to a throw-away directory (so `~/.baresip` is fresh),
# from the repository's directory (the recipe's microphone is config/prompts/greeting.wav), with
# PASS101 set to line 101's password. The only change made to the block: the switch's address
# 127.0.0.1:5060 and baresip's 127.0.0.1:5070 become this script's ports, so the run collides
# with nothing. The README and this check cannot drift: a changed recipe is the recipe tested.
#
# Checks (baresip's output): line 101 registered (200 OK, 1 binding), the call to 74951234567
# was established, and it ended (the switch hung up after the greeting); and baresip's sndfile
# dump of what it heard is not silent (the greeting's tones).
#
# Bounded: the switch must answer /health within 20 s, the recipe runs under `timeout 60`
# (baresip quits by itself after `-t 15`). Prints PASS/FAIL per check; exit 1 on any failure.
# Ports (overrides): switch SIP 25560 (README_SIP_PORT), HTTP 28580 (README_HTTP_PORT), baresip
# 25570 (README_PHONE_PORT), RTP 36600-36799.
set -euo pipefail
# The demo lines get the passwords written in config/demo.yaml (line 101: demo-101-Vx7q).
export VPBX_DEMO_PASSWORDS=document
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN=${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}
[[ -x $BIN ]] || { echo "FAIL: $BIN missing (cargo build --release)"; exit 2; }
for tool in baresip python3 curl timeout; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed"; exit 2; }
done

SIP_PORT=${README_SIP_PORT:-25560}
HTTP_PORT=${README_HTTP_PORT:-28580}
PHONE_PORT=${README_PHONE_PORT:-25570}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vpbx-readme-baresip.XXXXXX")
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

cleanup() {
    if [[ -n ${SW_PID:-} ]] && kill -0 "$SW_PID" 2>/dev/null; then
        kill -TERM "$SW_PID" 2>/dev/null || true
        wait "$SW_PID" 2>/dev/null || true
    fi
    if [[ $FAILS -ne 0 || -n ${README_KEEP:-} ]]; then
        echo "logs kept in $WORK"
        tail -n 30 "$WORK/switch.log" 2>/dev/null || true
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# The recipe: the fenced block after the marker, without its fences.
awk '/<!-- readme-baresip:/ { marked = 1; next }
     marked && !inside && /^```/ { inside = 1; next }
     inside && /^```/ { exit }
     inside { print }' README.md >"$WORK/recipe.sh"
if [[ ! -s "$WORK/recipe.sh" ]] || ! grep -q 'baresip' "$WORK/recipe.sh"; then
    fail "no recipe block after the readme-baresip marker in README.md"
    exit 1
fi
grep -q '127.0.0.1:5060' "$WORK/recipe.sh" || fail "the recipe does not name the switch at 127.0.0.1:5060"
sed -e "s/127\.0\.0\.1:5060/127.0.0.1:$SIP_PORT/g" -e "s/127\.0\.0\.1:5070/127.0.0.1:$PHONE_PORT/g" \
    "$WORK/recipe.sh" >"$WORK/recipe.run.sh"
echo "----- the README's recipe, as run (ports changed) -----"
cat "$WORK/recipe.run.sh"
echo "-----"

RUST_LOG=info,rsipstack=warn "$BIN" --config /nonexistent.toml --data-dir "$WORK/data" \
    --sip-addr "127.0.0.1:$SIP_PORT" --http-addr "127.0.0.1:$HTTP_PORT" \
    --rtp-port-min 36600 --rtp-port-max 36799 >"$WORK/switch.log" 2>&1 &
SW_PID=$!
up=0
for _ in $(seq 200); do
    if curl -fsS "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
[[ $up -eq 1 ]] || { fail "the switch did not answer /health within 20 s"; exit 1; }

mkdir -p "$WORK/home"
rc=0
HOME="$WORK/home" PASS101=demo-101-Vx7q timeout 60 bash "$WORK/recipe.run.sh" \
    </dev/null >"$WORK/baresip.log" 2>&1 || rc=$?
echo "recipe exited with status $rc"

if grep -qa '101@127.0.0.1: {0/UDP/v4} 200 OK () \[1 binding\]' "$WORK/baresip.log"; then
    pass "baresip registered line 101 with the README's configuration"
else
    fail "baresip did not register"
    grep -aE 'reg:|40[0-9]|error|failed' "$WORK/baresip.log" | head -10 || true
fi
if grep -qa "Call established: sip:74951234567@127.0.0.1:$SIP_PORT" "$WORK/baresip.log"; then
    pass "the call to 74951234567 was established (headless: no sound card needed)"
else
    fail "the call to 74951234567 was not established"
    grep -aE 'call|session|audio' "$WORK/baresip.log" | head -10 || true
fi
if grep -qa "Call with sip:74951234567@127.0.0.1:$SIP_PORT terminated" "$WORK/baresip.log"; then
    pass "the call ended (the switch hung up after the greeting)"
else
    fail "the call did not end"
fi
python3 - "$WORK/home/.baresip/heard" <<'PY' || FAILS=$((FAILS + 1))
import glob, math, struct, sys, wave
def rms(path):
    w = wave.open(path)
    f = w.readframes(w.getnframes())
    s = struct.unpack("<%dh" % (len(f) // 2), f)
    return math.sqrt(sum(x * x for x in s) / max(1, len(s)))
heard = glob.glob(sys.argv[1] + "/*-dec.wav")
best = max((rms(h) for h in heard), default=0)
if best > 300:
    print(f"PASS: baresip heard the greeting's tones in ~/.baresip/heard (rms {best:.0f})")
    sys.exit(0)
print(f"FAIL: nothing heard in ~/.baresip/heard (files {heard}, rms {best:.0f})")
sys.exit(1)
PY

if [[ $FAILS -eq 0 ]]; then
    echo "README baresip recipe: ALL PASS"
else
    echo "----- baresip output -----"
    tail -n 40 "$WORK/baresip.log" | tr -d '\033'
    echo "README baresip recipe: $FAILS FAILED"
    exit 1
fi
