#!/usr/bin/env bash
# baresip as a real phone against the release switch (issue 3 item 6, issue 4 "done when"):
#  1. baresip registers line 101 with digest auth (MD5) — checked in baresip's output;
#  2. it calls 74950000002 (text prompt spoken by espeak-ng, call recorded) while its microphone
#     plays a synthesized voice (aufile); the switch's stereo recording must carry the caller's
#     voice on the left channel and the prompt on the right (energy checks), and baresip must
#     have heard the prompt (its sndfile dump);
#  3. it calls the demo number 74951234567 and hears the greeting;
#  4. it is called and answers by itself: registered as 101 with the account parameter
#     ;answermode=auto, it gets a call from line 102 (SIPp soak/sipp/line_call.xml: 407 digest)
#     through the switch, answers automatically; SIPp gets the 200, soak/rtp_count.py sees
#     baresip's voice relayed by the switch to the port of the caller's SDP (>= 50 valid RTP
#     packets in the 2 s talk), the caller hangs up (BYE answered 200) and baresip sees the end.
# Bounded: every step has a timeout. Prints PASS/FAIL per check; exit 1 on any failure.
# Ports (overrides): switch SIP 25160 (BARESIP_SIP_PORT), HTTP 28180 (BARESIP_HTTP_PORT),
# baresip 25191 (BARESIP_PHONE_PORT), SIPp 25192 / media 25194 (+2 video) (BARESIP_SIPP_PORT,
# BARESIP_SIPP_MEDIA_PORT), rtp_count.py 25198 (BARESIP_COUNTER_PORT).
set -euo pipefail
# The demo lines get the passwords written in the company document (config/demo.yaml, or this
# script's fixture) instead of random ones: the SIPp scenarios and phones here use them.
export VPBX_DEMO_PASSWORDS=document
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}
[[ -x $BIN ]] || { echo "FAIL: $BIN missing (cargo build --release)"; exit 2; }
for tool in baresip espeak-ng sox python3; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed"; exit 2; }
done

SIP_PORT=${BARESIP_SIP_PORT:-25160}
HTTP_PORT=${BARESIP_HTTP_PORT:-28180}
PHONE_PORT=${BARESIP_PHONE_PORT:-25191}
SIPP_PORT=${BARESIP_SIPP_PORT:-25192}
SIPP_MEDIA_PORT=${BARESIP_SIPP_MEDIA_PORT:-25194}
COUNTER_PORT=${BARESIP_COUNTER_PORT:-25198}
WORK=$(mktemp -d /tmp/vpbx-baresip.XXXXXX)
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

cleanup() {
    local p
    for p in ${BS_PID:-} ${RC_PID:-}; do
        kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
    done
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

# 4. baresip is called and auto-answers (account parameter ;answermode=auto).
if command -v sipp >/dev/null; then
    echo "<sip:101@127.0.0.1:$SIP_PORT>;auth_pass=demo-101-Vx7q;regint=600;answermode=auto" >"$WORK/cfg/accounts"
    timeout 40 baresip -f "$WORK/cfg" -t 14 >"$WORK/baresip3.log" 2>&1 &
    BS_PID=$!
    registered=0
    for _ in $(seq 100); do
        if grep -q '200 OK () \[1 binding\]' "$WORK/baresip3.log"; then registered=1; break; fi
        sleep 0.1
    done
    if [[ $registered -eq 1 ]]; then
        python3 soak/rtp_count.py --port "$COUNTER_PORT" --duration 12 --idle 2 --min 50 \
            --ready-file "$WORK/counter.ready" >"$WORK/rtp_count.out" 2>&1 &
        RC_PID=$!
        for _ in $(seq 50); do [[ -s "$WORK/counter.ready" ]] && break; sleep 0.1; done
        sipp_rc=0
        timeout 30 sipp -sf soak/sipp/line_call.xml -s 101 -au 102 -ap demo-102-Kp3m \
            -key line 102 -key rtp_port "$COUNTER_PORT" \
            -i 127.0.0.1 -p "$SIPP_PORT" -mp "$SIPP_MEDIA_PORT" \
            -m 1 -timeout 20s -timeout_error -nostdin \
            -trace_msg -message_file "$WORK/sipp_to_baresip.msg.log" \
            "127.0.0.1:$SIP_PORT" >"$WORK/sipp_to_baresip.out" 2>&1 || sipp_rc=$?
        rc_rc=0
        wait "$RC_PID" || rc_rc=$?
        RC_PID=""
        seen="$(awk '/message received/ { w = 1; next } w && NF { sub(/\r$/, ""); print; w = 0 }' \
            "$WORK/sipp_to_baresip.msg.log" 2>/dev/null | sed 's/^SIP\/2\.0 //' | tr '\n' ';')"
        if [[ $sipp_rc -eq 0 ]]; then
            pass "SIPp (line 102) called 101 through the switch: 407/digest, 200, ACK, BYE after 2 s answered (received: $seen)"
        else
            fail "SIPp call to baresip (101): SIPp exited with status $sipp_rc (received: ${seen:-nothing})"
            tail -n 60 "$WORK/sipp_to_baresip.msg.log" 2>/dev/null || true
        fi
        if grep -q 'answering call on line .* from sip:102@' "$WORK/baresip3.log" &&
            grep -q 'Call established: sip:102@' "$WORK/baresip3.log"; then
            pass "baresip answered the call from 102 by itself (answermode=auto)"
        else
            fail "baresip did not auto-answer the call from 102"
            grep -E 'call|Call|answer' "$WORK/baresip3.log" | head -10 || true
        fi
        summary="$(grep '^RTP_SUMMARY' "$WORK/rtp_count.out" || true)"
        if [[ $rc_rc -eq 0 ]]; then
            pass "baresip's voice reached the caller through the switch: ${summary#RTP_SUMMARY }"
        else
            fail "RTP from baresip to the caller: rtp_count.py exited $rc_rc"
            cat "$WORK/rtp_count.out"
        fi
    else
        fail "baresip (answermode=auto) did not register line 101"
        grep -E 'reg:|40[0-9]' "$WORK/baresip3.log" | head -5 || true
    fi
    # baresip logs the end of the call right after the BYE; then it is stopped (no need to wait
    # for its -t limit).
    for _ in $(seq 50); do
        grep -q 'Call with sip:102@.* terminated' "$WORK/baresip3.log" && break
        sleep 0.1
    done
    kill -TERM "$BS_PID" 2>/dev/null || true
    wait "$BS_PID" 2>/dev/null || true
    BS_PID=""
    if grep -q 'Call with sip:102@.* terminated' "$WORK/baresip3.log"; then
        pass "baresip saw the caller's BYE end the call"
    else
        fail "baresip did not report the end of the call from 102"
    fi
else
    fail "sipp is not installed (apt-get install sip-tester): the auto-answer check needs it"
fi

if [[ $FAILS -eq 0 ]]; then echo "baresip interop: ALL PASS"; else echo "baresip interop: $FAILS FAILED"; exit 1; fi
