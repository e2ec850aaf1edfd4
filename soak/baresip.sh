#!/usr/bin/env bash
# baresip as a real phone against the release switch (issue 3 item 6, issue 4 "done when"):
#  1. baresip registers line 101 with digest auth (MD5) — checked in baresip's output;
#  2. it calls 74950000002 (text prompt spoken by espeak-ng, call recorded) while its microphone
#     plays a synthesized voice (aufile); the switch's stereo recording must carry the caller's
#     voice on the left channel and the prompt on the right (energy checks), and baresip must
#     have heard the prompt (its sndfile dump);
#  3. it calls the demo number 74951234567 and hears the greeting.
# Bounded: every step has a timeout. Prints PASS/FAIL per check; exit 1 on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}
[[ -x $BIN ]] || { echo "FAIL: $BIN missing (cargo build --release)"; exit 2; }
for tool in baresip espeak-ng sox python3; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed"; exit 2; }
done

SIP_PORT=${BARESIP_SIP_PORT:-25160}
HTTP_PORT=${BARESIP_HTTP_PORT:-28180}
PHONE_PORT=${BARESIP_PHONE_PORT:-25191}
WORK=$(mktemp -d /tmp/vpbx-baresip.XXXXXX)
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

cleanup() {
    if [[ -n ${SW_PID:-} ]] && kill -0 "$SW_PID" 2>/dev/null; then
        kill -TERM "$SW_PID" 2>/dev/null || true
        wait "$SW_PID" 2>/dev/null || true
    fi
    if [[ $FAILS -ne 0 || -n ${BARESIP_KEEP:-} ]]; then
        echo "logs kept in $WORK"
        tail -n 30 "$WORK/switch.log" 2>/dev/null || true
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

RUST_LOG=info,rsipstack=warn "$BIN" --config /nonexistent.toml --data-dir "$WORK/data" \
    --sip-addr "127.0.0.1:$SIP_PORT" --http-addr "127.0.0.1:$HTTP_PORT" \
    --rtp-port-min 33000 --rtp-port-max 33999 >"$WORK/switch.log" 2>&1 &
SW_PID=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
done

# The caller's voice: 8 kHz mono 16-bit, as baresip's aufile expects.
espeak-ng -v en -w "$WORK/voice22k.wav" \
    "This is the caller speaking. One, two, three, four, five. I am testing the recording of this call."
sox "$WORK/voice22k.wav" -r 8000 -c 1 -b 16 "$WORK/voice.wav"

mkdir -p "$WORK/cfg" "$WORK/dump"
cat >"$WORK/cfg/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:$PHONE_PORT
sip_transports		udp
audio_player		aufile,$WORK/heard.wav
audio_source		aufile,$WORK/voice.wav
audio_alert		aufile,$WORK/voice.wav
audio_srate		8000
audio_channels		1
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		menu.so
snd_path		$WORK/dump
EOF
echo "<sip:101@127.0.0.1:$SIP_PORT>;auth_pass=demo-101-Vx7q;regint=600" >"$WORK/cfg/accounts"

timeout 40 baresip -f "$WORK/cfg" -e "/dial 74950000002" -t 16 >"$WORK/baresip1.log" 2>&1 || true

if grep -q '200 OK () \[1 binding\]' "$WORK/baresip1.log"; then
    pass "baresip registered line 101 (digest auth)"
else
    fail "baresip did not register"; grep -E 'reg:|40[0-9]' "$WORK/baresip1.log" | head -5 || true
fi
if grep -q 'Call established: sip:74950000002' "$WORK/baresip1.log"; then
    pass "call to 74950000002 established"
else
    fail "call to 74950000002 not established"
fi

python3 - "$WORK" <<'PY' || FAILS=$((FAILS + 1))
import glob, math, struct, sys, wave
work = sys.argv[1]
ok = True
def read(path):
    w = wave.open(path)
    frames = w.readframes(w.getnframes())
    s = struct.unpack("<%dh" % (len(frames) // 2), frames)
    return w.getnchannels(), s
def rms(s):
    return math.sqrt(sum(x * x for x in s) / max(1, len(s)))
recs = glob.glob(work + "/data/recordings/*-stereo.wav")
if len(recs) != 1:
    print("FAIL: expected one stereo recording, found", recs); sys.exit(1)
ch, s = read(recs[0])
left, right = s[0::2], s[1::2]
l, r = rms(left), rms(right)
secs = len(left) / 8000
print(f"recording {recs[0].split('/')[-1]}: {secs:.1f} s, caller (left) rms {l:.0f}, prompt (right) rms {r:.0f}")
if ch == 2 and l > 300 and secs > 3:
    print("PASS: the caller's voice is audible in the switch's recording (left channel)")
else:
    print("FAIL: caller's voice not audible in the recording"); ok = False
if r > 300:
    print("PASS: the spoken prompt is in the recording (right channel)")
else:
    print("FAIL: prompt missing from the recording"); ok = False
heard = glob.glob(work + "/dump/*-dec.wav")
hr = max((rms(read(h)[1]) for h in heard), default=0)
if hr > 300:
    print(f"PASS: baresip heard the text prompt (rms {hr:.0f})")
else:
    print(f"FAIL: baresip heard nothing (rms {hr:.0f})"); ok = False
sys.exit(0 if ok else 1)
PY

rm -f "$WORK"/dump/*
timeout 30 baresip -f "$WORK/cfg" -e "/dial 74951234567" -t 6 >"$WORK/baresip2.log" 2>&1 || true
python3 - "$WORK" <<'PY' || FAILS=$((FAILS + 1))
import glob, math, struct, sys, wave
heard = glob.glob(sys.argv[1] + "/dump/*-dec.wav")
def rms(path):
    w = wave.open(path); f = w.readframes(w.getnframes())
    s = struct.unpack("<%dh" % (len(f) // 2), f)
    return math.sqrt(sum(x * x for x in s) / max(1, len(s)))
best = max((rms(h) for h in heard), default=0)
if best > 300:
    print(f"PASS: baresip heard the demo greeting (rms {best:.0f})"); sys.exit(0)
print(f"FAIL: no greeting heard (rms {best:.0f})"); sys.exit(1)
PY

if [[ $FAILS -eq 0 ]]; then echo "baresip interop: ALL PASS"; else echo "baresip interop: $FAILS FAILED"; exit 1; fi
