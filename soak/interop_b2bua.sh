#!/usr/bin/env bash
# SIPp interop run of the B2BUA against a release build of vpbx: trunk registration to a carrier,
# inbound DID, outbound call through the trunk, line-to-extension calls with 407 auth, hold with
# music on hold, blind and attended transfer. Builds nothing: run `cargo build --release` first.
# Starts one switch on a throw-away data dir with tests/fixtures/b2bua_company.yaml (the demo
# company + 74957000101 forwarding to employee 1 + a registration trunk to 127.0.0.1:25170) and
# plays every other party with SIPp (several instances at once, each on its own port):
#   1. carrier_registration: SIPp as the carrier (up before the switch starts) challenges the
#      switch's REGISTER with 401, verifies the digest (vpbx-trunk / trunk-secret), grants 4 s,
#      gets the refresh, grants 3600; GET /api/v1/trunks/1/status says `registered`;
#   2. inbound_did: the carrier calls DID 4951112233 → the greeting of 74951234567 (RTP counted),
#      BYE from the switch;
#   3. outbound_trunk: line 102 dials 79991234567 (407, digest) → the switch's INVITE reaches the
#      carrier (Request-URI sip:79991234567@carrier, From user 74957000101 = 102's caller ID),
#      answers the carrier's 401 with the trunk credentials → 200 → the caller's BYE reaches the
#      carrier;
#   4. extension_call: line 101 registers (SIPp, then a UAS on the same port); line 102 dials 101
#      (407) → 101 rings (From user 102), answers and plays speech (pcap) → the caller hears it
#      → 101 hangs up, the caller gets the BYE;
#   5. hold_resume: a caller rings 74957000101 → 101 answers, holds (re-INVITE a=sendonly → 200
#      a=recvonly): the caller hears music on hold; 101 resumes (a=sendrecv → 200 a=sendrecv):
#      the music stops; 101 hangs up, the caller gets the BYE;
#   6. blind_transfer: a caller rings 74957000101 → 101 answers, REFERs to 102 → 202; 102 rings
#      for 1 s, answers and plays speech → the caller hears 102; NOTIFY 200 + BYE release 101; the
#      caller hangs up and 102 gets the BYE. Two more lines check the NOTIFYs against RFC 3515:
#      blind_transfer_notify_trying (a first NOTIFY "SIP/2.0 100 Trying", active) and
#      blind_transfer_release_after_answer (NOTIFY 200 and BYE to 101 only once 102 answered);
#   7. attended_transfer: 101 (a second SIPp, same line) calls 102 (consultation, 102 plays
#      speech); a caller rings 74957000101 → 101 answers and REFERs with Replaces naming the
#      consultation → 202, NOTIFY 200 then BYE on the caller's leg, BYE on the consultation; the
#      caller hears 102; 102 hangs up and the caller gets the BYE;
#   8. health: active_calls back to 0; 9. shutdown: SIGTERM → exit 0 within 10 s.
# Prints PASS/FAIL per check; exits non-zero on any failure, printing the merged SIP timeline and
# the traces of every SIPp instance of the failing check and the switch log tail. The switch and
# every background SIPp are always stopped. Runs in about 50 s.
#
# Environment overrides (defaults in brackets):
#   VPBX_BIN [${CARGO_TARGET_DIR:-target}/release/vpbx]
#   B2BUA_SIP_PORT [25460]  B2BUA_HTTP_PORT [28480]  B2BUA_RTP_MIN [35000]  B2BUA_RTP_MAX [35499]
#   B2BUA_CARRIER_PORT [25170]: the SIPp carrier (SIP; media on +2); the fixture's trunk port is
#     rewritten to match
#   B2BUA_SIPP_BASE [25470]: SIPp SIP ports BASE..BASE+3 (caller, line 101, line 102, 101's
#     consultation), media ports BASE+10, +14, +18, +22, RTP counters BASE+6, BASE+8
#   INTEROP_KEEP_LOGS=1 keeps the temp dir (logs, SIP traces) even when everything passed.
set -euo pipefail
# The demo lines get the passwords written in the company document (config/demo.yaml, or this
# script's fixture) instead of random ones: the SIPp scenarios and phones here use them.
export VPBX_DEMO_PASSWORDS=document

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
SIP_PORT="${B2BUA_SIP_PORT:-25460}"
HTTP_PORT="${B2BUA_HTTP_PORT:-28480}"
RTP_MIN="${B2BUA_RTP_MIN:-35000}"
RTP_MAX="${B2BUA_RTP_MAX:-35499}"
CARRIER_PORT="${B2BUA_CARRIER_PORT:-25170}"
CARRIER_MEDIA=$((CARRIER_PORT + 2))
BASE="${B2BUA_SIPP_BASE:-25470}"
CALLER_PORT=$BASE
L101_PORT=$((BASE + 1))
L102_PORT=$((BASE + 2))
CONSULT_PORT=$((BASE + 3))
CALLER_MEDIA=$((BASE + 10))
L101_MEDIA=$((BASE + 14))
L102_MEDIA=$((BASE + 18))
CONSULT_MEDIA=$((BASE + 22))
COUNTER_A=$((BASE + 6))
COUNTER_B=$((BASE + 8))
HOST=127.0.0.1
SIPP_DIR="$ROOT/soak/sipp"
# lib.sh's run_sipp wants these; the helpers used here take their ports explicitly.
SIPP_PORT=$CALLER_PORT
SIPP_MEDIA_PORT=$CALLER_MEDIA
# Speech the answering SIPp UASes play (uas_answer_bye.xml, uas_answer_wait_bye.xml).
PCAP=/usr/share/sip-tester/g711a.pcap

P101=demo-101-Vx7q
P102=demo-102-Kp3m
FORWARD_NUMBER=74957000101
DID=4951112233
EXTERNAL=79991234567
ADMIN_PASSWORD=interop-b2bua-admin-pw

if [[ ! -x "$BIN" ]]; then
    echo "interop_b2bua: FAIL: $BIN not found or not executable; run 'cargo build --release' first" >&2
    exit 2
fi
for tool in sipp python3 curl timeout ss; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "interop_b2bua: FAIL: '$tool' is not installed (apt-get install sip-tester python3 curl coreutils iproute2)" >&2
        exit 2
    fi
done
if [[ ! -r "$PCAP" ]]; then
    echo "interop_b2bua: FAIL: $PCAP missing (it ships with Debian/Ubuntu's sip-tester)" >&2
    exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-interop-b2bua.XXXXXX")"
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
            echo "interop_b2bua: switch still alive 5 s after SIGTERM in cleanup; SIGKILL" >&2
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
        echo "interop_b2bua: logs and SIP traces kept in $WORK"
    elif [[ "${INTEROP_KEEP_LOGS:-0}" == 1 ]]; then
        echo "interop_b2bua: logs and SIP traces kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# A check runs SIPp "parts" (UASes in the background, the UAC in the foreground) and collects
# extra conditions in PROBLEMS; it passes when every part exited 0 and no problem was recorded.
PARTS=()
PART_PIDS=()
PROBLEMS=()

# bg_part NAME SCENARIO LOCAL_PORT MEDIA_PORT SECS [sipp args...]: a SIPp part in the background;
# returns once its SIP port is bound.
bg_part() {
    local name=$1 scenario=$2 lport=$3 mport=$4 secs=$5
    shift 5
    run_sipp_on "$name" "$scenario" "$SIP_PORT" "$lport" "$mport" "$secs" "$@" &
    local pid=$!
    BG_PIDS+=("$pid")
    PARTS+=("$name")
    PART_PIDS+=("$pid")
    if ! wait_udp_bound "$lport" 5; then
        PROBLEMS+=("$name: SIPp did not bind $HOST:$lport within 5 s")
    fi
}

# fg_part NAME SCENARIO LOCAL_PORT MEDIA_PORT SECS [sipp args...]: a SIPp part in the foreground.
fg_part() {
    local name=$1 scenario=$2 lport=$3 mport=$4 secs=$5
    shift 5
    local rc=0
    run_sipp_on "$name" "$scenario" "$SIP_PORT" "$lport" "$mport" "$secs" "$@" || rc=$?
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

# finish_check CHECK DESCRIPTION: wait for the parts, then PASS/FAIL the check. The parts and
# their traces stay available (for extra verdicts) until the next check starts.
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

# verdict CHECK DESCRIPTION [PROBLEM]: PASS without a problem, else FAIL with it and the
# timeline of the current check's parts.
verdict() {
    if [[ -z "${3:-}" ]]; then
        pass "$1: $2"
    else
        fail "$1: $3"
        echo "----- SIP timeline -----"
        sipp_timeline "${PARTS[@]}"
    fi
}

# new_check: forget the previous check's parts; wait until no call is up.
new_check() {
    PARTS=()
    PART_PIDS=()
    PROBLEMS=()
    wait_idle 5 || true
}

# register_line NAME LINE PASSWORD LOCAL_PORT MEDIA_PORT: REGISTER line LINE from LOCAL_PORT
# (a part of the current check; the binding lasts 300 s, for the later checks too).
register_line() {
    fg_part "$1" "$SIPP_DIR/register_line.xml" "$4" "$5" 15 -key line "$2" -au "$2" -ap "$3"
}

# SIPp trace reader (inline python3): the messages SIPp NAME received, from its -trace_msg file.
#   sipp_rx NAME first REGEX: the first received message whose start line matches REGEX
#     (headers and body, CRs stripped; empty if none);
#   sipp_rx NAME all REGEX: every received message whose start line matches REGEX, in order;
#   sipp_rx NAME summary: one line per received message, "HH:MM:SS.micros WHAT": WHAT is a
#     request's method (a NOTIFY adds "[first body line] <Subscription-State value>") or a
#     response's "code CSeq-method".
sipp_rx() {
    python3 - "$WORK/$1.msg.log" "$2" "${3:-}" <<'PY'
import re, sys
path, mode, regex = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    text = open(path, encoding="utf-8", errors="replace").read().replace("\r", "")
except OSError:
    sys.exit(0)
# Each message: "-----... <date> <time>", "<TRANSPORT> message received [N] bytes :" (or sent),
# a blank line, the message.
for chunk in re.split(r"^-{20,} ", text, flags=re.M):
    stamp, _, rest = chunk.partition("\n")
    stamp = stamp.split()[-1] if stamp.strip() else "?"
    head, _, msg = rest.partition("\n")
    if "message received" not in head:
        continue
    msg = msg.strip("\n")
    first = msg.split("\n", 1)[0]
    if mode == "first":
        if re.search(regex, first):
            print(msg)
            break
        continue
    if mode == "all":
        if re.search(regex, first):
            print(msg)
        continue
    cseq = re.search(r"^CSeq:\s*\d+\s+(\S+)", msg, flags=re.M | re.I)
    if first.startswith("SIP/2.0"):
        print(f"{stamp} {first.split()[1]} {cseq.group(1) if cseq else '?'}")
        continue
    line = first.split()[0]
    if line == "NOTIFY":
        body = msg.split("\n\n", 1)[1].strip() if "\n\n" in msg else ""
        sub = re.search(r"^Subscription-State:\s*([^;\s]+)", msg, flags=re.M | re.I)
        line += f" [{body.splitlines()[0] if body else ''}] {sub.group(1) if sub else 'no-Subscription-State'}"
    print(f"{stamp} {line}")
PY
}

# rx_what NAME: sipp_rx NAME summary without the times, joined by ';'.
rx_what() {
    sipp_rx "$1" summary | cut -d' ' -f2- | tr '\n' ';'
}

# rx_time NAME REGEX: time of the first received message whose summary WHAT matches REGEX.
rx_time() {
    sipp_rx "$1" summary | awk -v re="$2" '{ t = $1; $1 = ""; sub(/^ /, "") } $0 ~ re { print t; exit }'
}

# tx_time NAME REGEX: time of the first message SIPp NAME sent whose start line matches REGEX.
tx_time() {
    sipp_timeline "$1" | awk -v re="$2" '$3 == "->" { line = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", line)
        if (line ~ re) { print $1; exit } }'
}

# start_counter NAME PORT: a UDP RTP listener in the background (inline python3) on HOST:PORT. It
# stops 2 s after the last packet (or after 30 s), writes one line per packet to $WORK/NAME.pkts
# ("HH:MM:SS.micros L pt=P ssrc=S seq=N": L for an audible PCMU/PCMA frame, RMS > 500, Q
# otherwise) and a summary "packets N loud N padded N" to $WORK/NAME.out (padded: frames ending
# in >= 40 bytes of digital zero). Returns once the socket is bound.
start_counter() {
    local name=$1 port=$2
    rm -f "$WORK/$name.ready"
    python3 - "$HOST" "$port" "$WORK/$name.ready" "$WORK/$name.pkts" >"$WORK/$name.out" 2>&1 <<'PY' &
import datetime, math, socket, sys, time
host, port, ready, pkts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
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
packets = loud = padded = 0
last = None
deadline = time.monotonic() + 30
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
        stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")
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
        # A frame ending in >= 40 bytes of digital zero: a short packet padded to 160 bytes.
        zero = 0xFF if pt == 0 else 0xD5
        tail = len(data) - len(data.rstrip(bytes([zero])))
        padded += pt in (0, 8) and tail >= 40
        ssrc = int.from_bytes(data[8:12], "big")
        seq = int.from_bytes(data[2:4], "big")
        out.write(f"{stamp} {'L' if is_loud else 'Q'} pt={pt} ssrc={ssrc:08x} seq={seq}\n")
print(f"packets {packets} loud {loud} padded {padded}")
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

# counter_result NAME FIELD: FIELD (packets|loud|padded) of finished counter NAME.
counter_result() {
    awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$WORK/$1.out"
}

# loud_between NAME FROM TO: audible packets counter NAME got with FROM <= time < TO
# (HH:MM:SS.micros; an empty bound is open).
loud_between() {
    awk -v a="$2" -v b="$3" '$2 == "L" && (a == "" || $1 >= a) && (b == "" || $1 < b) { n++ }
        END { print n + 0 }' "$WORK/$1.pkts" 2>/dev/null || echo 0
}

# plus_ms HH:MM:SS.micros MS: the time MS milliseconds later (same day).
plus_ms() {
    awk -v t="$1" -v ms="$2" 'BEGIN { split(t, p, ":"); s = p[1] * 3600 + p[2] * 60 + p[3] + ms / 1000;
        printf "%02d:%02d:%09.6f\n", int(s / 3600), int(s % 3600 / 60), s - int(s / 60) * 60 }'
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

echo "interop_b2bua: binary $BIN, work dir $WORK"
echo "interop_b2bua: switch SIP $HOST:$SIP_PORT HTTP $HTTP_PORT RTP $RTP_MIN-$RTP_MAX;" \
    "carrier $CARRIER_PORT; SIPp caller/101/102/consultation $CALLER_PORT/$L101_PORT/$L102_PORT/$CONSULT_PORT"

# The company: the fixture (trunk port rewritten if overridden) and the demo prompt.
CO_DIR="$WORK/company"
mkdir -p "$CO_DIR/prompts"
cp "$ROOT/config/prompts/greeting.wav" "$CO_DIR/prompts/greeting.wav"
sed -e "s/^    port: 25170\$/    port: $CARRIER_PORT/" "$ROOT/tests/fixtures/b2bua_company.yaml" \
    >"$CO_DIR/company.yaml"
cat >"$CO_DIR/vpbx.toml" <<'TOML'
# interop_b2bua.sh: the company below is loaded into the empty data dir on first start.
demo = "company.yaml"
# No OPTIONS probes of registered phones: the SIPp "phones" run one scenario at a time and would
# take a probe for an unexpected call (and between checks nothing answers on their ports).
qualify_interval_s = 0
TOML

# =============================================================================================
# 1. Carrier registration: the carrier listens before the switch starts.
bg_part carrier_register "$SIPP_DIR/carrier_register.xml" "$CARRIER_PORT" "$CARRIER_MEDIA" 20

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

wait_parts
# The trunk's live state over the API (a bearer token for the admin password set on first start).
trunk_status=""
token="$(curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" \
    "http://$HOST:$HTTP_PORT/api/v1/auth/token" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' 2>/dev/null || true)"
if [[ -n "$token" ]]; then
    for _ in $(seq 1 10); do
        trunk_status="$(curl -fsS --max-time 2 -H "Authorization: Bearer $token" \
            "http://$HOST:$HTTP_PORT/api/v1/trunks/1/status" 2>/dev/null || true)"
        [[ "$trunk_status" == *'"registration":"registered"'* ]] && break
        sleep 0.3
    done
    if [[ "$trunk_status" != *'"registration":"registered"'* ]]; then
        PROBLEMS+=("GET /api/v1/trunks/1/status: ${trunk_status:-no answer} (expected registration: registered)")
    fi
else
    PROBLEMS+=("no API token (POST /api/v1/auth/token failed): trunk status not checked")
fi
registers="$(rx_what carrier_register | tr ';' '\n' | grep -c '^REGISTER' || true)"
if [[ "$registers" -lt 3 ]]; then
    PROBLEMS+=("the carrier got $registers REGISTERs, expected >= 3 (first, with digest, refresh)")
fi
finish_check carrier_registration \
    "401, digest verified by the carrier, 200 Expires 4, refresh, 200 Expires 3600; trunk status ${trunk_status:-?}"

# =============================================================================================
# 2. Inbound DID: the carrier calls 4951112233 → the greeting of 74951234567, BYE from the switch.
new_check
start_counter did_rtp "$COUNTER_A"
fg_part inbound_did "$SIPP_DIR/demo_call.xml" "$CALLER_PORT" "$CALLER_MEDIA" 20 \
    -s "$DID" -key rtp_port "$COUNTER_A"
wait_counter did_rtp
did_packets="$(counter_result did_rtp packets)"
if [[ "${did_packets:-0}" -lt 50 ]]; then
    PROBLEMS+=("greeting RTP: ${did_packets:-0} packets (expected >= 50)")
fi
if [[ "$(rx_what inbound_did)" != *"BYE;" ]]; then
    PROBLEMS+=("no BYE from the switch at the end of the DID call")
fi
finish_check inbound_did \
    "DID $DID → 74951234567: 200, greeting (${did_packets:-0} RTP packets), BYE from the switch"

# =============================================================================================
# 3. Outbound through the trunk: line 102 dials 79991234567.
new_check
bg_part carrier_call "$SIPP_DIR/carrier_call.xml" "$CARRIER_PORT" "$CARRIER_MEDIA" 20
fg_part outbound_caller "$SIPP_DIR/line_call.xml" "$CALLER_PORT" "$CALLER_MEDIA" 20 \
    -s "$EXTERNAL" -au 102 -ap "$P102" -key line 102 -key rtp_port "$CALLER_MEDIA"
finish_check outbound_trunk \
    "102 → $EXTERNAL: 407/digest; the carrier got INVITE sip:$EXTERNAL@ From 74957000101 (102's caller ID), its 401 answered with the trunk credentials; 200; the caller's BYE reached the carrier"

# =============================================================================================
# 4. Line 102 calls extension 101; 101 answers with speech and hangs up.
new_check
register_line register_101 101 "$P101" "$L101_PORT" "$L101_MEDIA"
start_counter ext_rtp "$COUNTER_A"
bg_part ext_callee_101 "$SIPP_DIR/uas_answer_bye.xml" "$L101_PORT" "$L101_MEDIA" 20 \
    -key line 101 -key hangup_ms 2500
fg_part ext_caller_102 "$SIPP_DIR/line_call_wait_bye.xml" "$CALLER_PORT" "$CALLER_MEDIA" 20 \
    -s 101 -au 102 -ap "$P102" -key line 102 -key rtp_port "$COUNTER_A"
wait_counter ext_rtp
ext_loud="$(counter_result ext_rtp loud)"
if [[ "${ext_loud:-0}" -lt 30 ]]; then
    PROBLEMS+=("the caller heard ${ext_loud:-0} audible RTP packets of 101's speech (expected >= 30 in 2.5 s)")
fi
ext_from="$(sipp_rx ext_callee_101 first '^INVITE' | grep -i '^From:' || true)"
if [[ "$ext_from" != *"sip:102@"* ]]; then
    PROBLEMS+=("the INVITE to 101 should come From the caller's extension 102: '${ext_from:-no INVITE}'")
fi
finish_check extension_call \
    "102 → 101: 407/digest, 101 rang ($ext_from), answered; the caller heard 101 (${ext_loud:-0} audible packets); 101's BYE reached 102"

# The relayed audio keeps real time: 101 sends 30 ms packets (a=ptime:30), the caller must get
# 50 packets/s of 20 ms (or fewer, larger ones), not more, and no padding.
ext_answer="$(tx_time ext_callee_101 '^SIP/2.0 200')"
ext_bye="$(tx_time ext_callee_101 '^BYE')"
problem=""
if [[ -n "$ext_answer" && -n "$ext_bye" ]]; then
    ext_in="$(awk -v a="$(plus_ms "$ext_answer" 300)" -v b="$ext_bye" '$1 >= a && $1 < b { n++ } END { print n + 0 }' "$WORK/ext_rtp.pkts")"
    ext_secs="$(awk -v a="$ext_answer" -v b="$ext_bye" 'BEGIN { split(a, x, ":"); split(b, y, ":");
        printf "%.2f", (y[1] - x[1]) * 3600 + (y[2] - x[2]) * 60 + y[3] - x[3] - 0.3 }')"
    ext_rate="$(awk -v n="$ext_in" -v s="$ext_secs" 'BEGIN { printf "%.1f", n / s }')"
    ext_padded="$(counter_result ext_rtp padded)"
    if awk -v r="$ext_rate" 'BEGIN { exit !(r > 55) }' || [[ "${ext_padded:-0}" -gt 5 ]]; then
        problem="the caller got $ext_rate packets/s of 160 bytes ($ext_in in $ext_secs s) while 101 sent 30 ms packets (33.3/s): $ext_padded of them end in >= 40 bytes of digital zero, i.e. each 240-sample packet is relayed as 160 + 80 samples padded to 160 (10 ms of silence inserted every 30 ms, time stretched by 4/3)"
    fi
else
    problem="no answer/BYE times in 101's trace"
fi
verdict extension_call_rtp_pacing \
    "101's 30 ms packets reach the caller at ${ext_rate:-?} packets/s of 20 ms, ${ext_padded:-?} padded" "$problem"

# =============================================================================================
# 5. Hold and resume: a caller rings 74957000101 (forward to employee 1), 101 answers, holds,
#    resumes, hangs up. SIPp sends no audio, so what the caller hears is the music on hold.
new_check
start_counter moh_rtp "$COUNTER_B"
bg_part hold_101 "$SIPP_DIR/uas_hold.xml" "$L101_PORT" "$L101_MEDIA" 20 -key line 101
fg_part hold_caller "$SIPP_DIR/anon_call_wait_bye.xml" "$CALLER_PORT" "$CALLER_MEDIA" 20 \
    -s "$FORWARD_NUMBER" -key rtp_port "$COUNTER_B"
wait_counter moh_rtp
wait_parts
held="$(rx_time hold_101 '^200 INVITE')"        # the 200 to the hold re-INVITE (CSeq 1)
resumed="$(sipp_rx hold_101 summary | awk '$2 == "200" && $3 == "INVITE" { n++; if (n == 2) { print $1; exit } }')"
moh_during="$(loud_between moh_rtp "$held" "$resumed")"
moh_after="$(loud_between moh_rtp "$(plus_ms "${resumed:-23:59:59.999999}" 300)" "")"
if [[ -z "$held" || -z "$resumed" ]]; then
    PROBLEMS+=("hold/resume re-INVITEs not both answered (hold $held, resume $resumed)")
elif [[ "$moh_during" -lt 30 ]]; then
    PROBLEMS+=("music on hold: the caller got $moh_during audible packets while held (1.5 s; expected >= 30)")
elif [[ "$moh_after" -gt 3 ]]; then
    PROBLEMS+=("music on hold did not stop: $moh_after audible packets from 0.3 s after the resume on")
fi
finish_check hold_resume \
    "sendonly → 200 recvonly; the caller heard music on hold ($moh_during audible packets while held, $moh_after after the resume); sendrecv → 200 sendrecv; 101's BYE reached the caller"

# =============================================================================================
# 6. Blind transfer: the caller rings 74957000101, 101 answers and REFERs to 102; 102 rings 1 s,
#    answers with speech; the caller hangs up 4 s after its ACK and 102 gets the BYE.
new_check
register_line register_102 102 "$P102" "$L102_PORT" "$L102_MEDIA"
start_counter blind_rtp "$COUNTER_A"
bg_part blind_102 "$SIPP_DIR/uas_answer_wait_bye.xml" "$L102_PORT" "$L102_MEDIA" 25 \
    -key line 102 -key ring_ms 1000
bg_part blind_101 "$SIPP_DIR/uas_refer.xml" "$L101_PORT" "$L101_MEDIA" 25 -aa \
    -key line 101 -key refer_to "<sip:102@$HOST:$SIP_PORT>"
fg_part blind_caller "$SIPP_DIR/anon_call_bye.xml" "$CALLER_PORT" "$CALLER_MEDIA" 25 \
    -s "$FORWARD_NUMBER" -key rtp_port "$COUNTER_A"
wait_parts
wait_counter blind_rtp
blind_seq="$(rx_what blind_101)"
blind_answer="$(tx_time blind_102 '^SIP/2.0 200')"
blind_heard="$(loud_between blind_rtp "$(plus_ms "${blind_answer:-23:59:59.999999}" 200)" "")"
if [[ "$blind_seq" != *"202 REFER"* ]]; then
    PROBLEMS+=("101 got no 202 for its REFER: $blind_seq")
fi
if [[ "$blind_seq" != *"NOTIFY [SIP/2.0 200"* ]]; then
    PROBLEMS+=("101 got no NOTIFY 'SIP/2.0 200' before its BYE: $blind_seq")
fi
blind_from="$(sipp_rx blind_102 first '^INVITE' | grep -i '^From:' || true)"
if [[ "$blind_from" != *79161234567* ]]; then
    PROBLEMS+=("the transferred INVITE to 102 should show the caller 79161234567: '${blind_from:-no INVITE}'")
fi
if [[ "$blind_heard" -lt 20 ]]; then
    PROBLEMS+=("the caller heard $blind_heard audible packets after 102 answered (expected >= 20 of 102's speech)")
fi
finish_check blind_transfer \
    "101 REFER → $blind_seq 102 rang ($blind_from) and answered; the caller heard 102 ($blind_heard audible packets); the caller's BYE reached 102"

# RFC 3515 §2.4.4 / 2.4.5: a NOTIFY with the initial state follows the 202.
problem=""
if [[ "$blind_seq" != *"NOTIFY [SIP/2.0 100"*"] active"* ]]; then
    problem="101 got no NOTIFY 'SIP/2.0 100 Trying' (Subscription-State active) after the 202: $blind_seq"
fi
verdict blind_transfer_notify_trying "NOTIFY 'SIP/2.0 100 Trying' with Subscription-State active" "$problem"

# The transferor is released (final NOTIFY, BYE) only once the target answered.
notify200="$(rx_time blind_101 '^NOTIFY \[SIP/2.0 200')"
bye101="$(rx_time blind_101 '^BYE')"
problem=""
if [[ -z "$blind_answer" || -z "$notify200" || -z "$bye101" ]]; then
    problem="missing: 102's 200 at '${blind_answer}', NOTIFY 200 at '${notify200}', BYE to 101 at '${bye101}'"
elif [[ "$notify200" < "$blind_answer" || "$bye101" < "$blind_answer" ]]; then
    problem="101 got NOTIFY 'SIP/2.0 200' at $notify200 and BYE at $bye101, before 102 answered at $blind_answer (102 rang since $(rx_time blind_102 '^INVITE'))"
fi
verdict blind_transfer_release_after_answer \
    "NOTIFY 200 (terminated) at $notify200 and BYE at $bye101 to 101 after 102 answered at $blind_answer" "$problem"

# The caller's phone is told it talks to 102 now (re-INVITE: its INVITE did not allow UPDATE).
blind_pai="$(sipp_rx blind_caller first '^INVITE' | grep -i '^P-Asserted-Identity:' || true)"
problem=""
if [[ "$blind_pai" != *"<sip:102@"* ]]; then
    problem="the caller got no re-INVITE naming 102 after the transfer: '${blind_pai:-no INVITE}'"
fi
verdict blind_transfer_identity_update "re-INVITE to the caller with ${blind_pai}" "$problem"

# =============================================================================================
# 7. Attended transfer: 101 consults 102 from a second SIPp (line 101 again, its own dialog),
#    then answers a caller and REFERs with Replaces naming the consultation; 102 hangs up 6 s
#    after answering the consultation.
new_check
rm -f "$WORK/replaces.txt"
start_counter attended_rtp "$COUNTER_B"
bg_part attended_102 "$SIPP_DIR/uas_answer_bye.xml" "$L102_PORT" "$L102_MEDIA" 25 \
    -key line 102 -key hangup_ms 6000
bg_part attended_consult "$SIPP_DIR/line_consult.xml" "$CONSULT_PORT" "$CONSULT_MEDIA" 25 \
    -s 102 -au 101 -ap "$P101" -key line 101 -key rtp_port "$CONSULT_MEDIA" \
    -key replaces_file "$WORK/replaces.txt"
replaces=""
att_seq=""
att_heard=0
if wait_file "$WORK/replaces.txt" 10; then
    read -r c_callid c_totag c_fromtag <"$WORK/replaces.txt"
    c_callid_esc="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$c_callid")"
    replaces="${c_callid_esc}%3Bto-tag%3D${c_totag}%3Bfrom-tag%3D${c_fromtag}"
    bg_part attended_101 "$SIPP_DIR/uas_refer.xml" "$L101_PORT" "$L101_MEDIA" 25 -aa \
        -key line 101 -key refer_to "<sip:102@$HOST:$SIP_PORT?Replaces=$replaces>"
    fg_part attended_caller "$SIPP_DIR/anon_call_wait_bye.xml" "$CALLER_PORT" "$CALLER_MEDIA" 25 \
        -s "$FORWARD_NUMBER" -key rtp_port "$COUNTER_B"
    wait_parts
    wait_counter attended_rtp
    att_seq="$(rx_what attended_101)"
    if [[ "$att_seq" != *"202 REFER"* ]]; then
        PROBLEMS+=("101 got no 202 for its REFER: $att_seq")
    fi
    if [[ "$att_seq" != *"NOTIFY [SIP/2.0 200"*"BYE;"* ]]; then
        PROBLEMS+=("no NOTIFY 'SIP/2.0 200' before the BYE on the caller's leg: $att_seq")
    fi
    att_bye="$(rx_time attended_101 '^BYE')"
    att_heard="$(loud_between attended_rtp "$(plus_ms "${att_bye:-23:59:59.999999}" 200)" "")"
    if [[ "$att_heard" -lt 20 ]]; then
        PROBLEMS+=("the caller heard $att_heard audible packets after the transfer (expected >= 20 of 102's speech)")
    fi
else
    PROBLEMS+=("the consultation call 101 → 102 was not up within 10 s (no $WORK/replaces.txt)")
fi
finish_check attended_transfer \
    "REFER Refer-To <sip:102@...?Replaces=$replaces> → $att_seq consultation released by BYE; the caller heard 102 ($att_heard audible packets); 102's BYE reached the caller"

# Both remaining phones are told who they talk to now: the caller learns 102, 102 the caller.
att_caller_pai="$(sipp_rx attended_caller first '^INVITE' | grep -i '^P-Asserted-Identity:' || true)"
att_102_pai="$(sipp_rx attended_102 all '^INVITE' | grep -i '^P-Asserted-Identity:' | head -n 1 || true)"
problem=""
if [[ "$att_caller_pai" != *"<sip:102@"* ]]; then
    problem="the caller got no re-INVITE naming 102: '${att_caller_pai:-no INVITE}'"
elif [[ "$att_102_pai" != *"<sip:79161234567@"* ]]; then
    problem="102 got no re-INVITE naming the caller: '${att_102_pai:-no re-INVITE}'"
fi
verdict attended_transfer_identity_update \
    "re-INVITE to the caller with ${att_caller_pai}; to 102 with ${att_102_pai}" "$problem"

# =============================================================================================
# 8. No call left behind; 9. clean shutdown.
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

echo "interop_b2bua: $PASSED passed, $FAILED failed"
if [[ $FAILED -ne 0 ]]; then
    echo "interop_b2bua: FAIL"
    exit 1
fi
echo "interop_b2bua: PASS"
