#!/usr/bin/env bash
# A full disk, the way an admin meets it: the switch's data directory on a small tmpfs (needs
# root for `mount`), filled up while the switch runs. Checks:
#   1. an API write answers 507 with a clear JSON message (not 500 with debug text);
#   2. /health says "degraded" with the reason;
#   3. the admin can still log in (the session lives in memory);
#   4. a call made while the disk is full is served, and its record is not lost;
#   5. once space is freed, the store recovers without a restart: /health ok, the write works,
#      and the record of the call made while full is in /api/v1/calls/recent.
# Prints PASS/FAIL per check; exits non-zero on any failure. The switch is always stopped and
# the tmpfs unmounted (trap).
#
# Environment overrides: VPBX_BIN [target/release/vpbx]  FULL_SIP_PORT [25260]
#   FULL_HTTP_PORT [28280]  FULL_SIPP_PORT [25270]  FULL_SIPP_MEDIA_PORT [25280]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${VPBX_BIN:-${CARGO_TARGET_DIR:-target}/release/vpbx}"
SIP_PORT="${FULL_SIP_PORT:-25260}"
HTTP_PORT="${FULL_HTTP_PORT:-28280}"
SIPP_PORT="${FULL_SIPP_PORT:-25270}"
SIPP_MEDIA_PORT="${FULL_SIPP_MEDIA_PORT:-25280}"
HOST=127.0.0.1
H="http://$HOST:$HTTP_PORT"
PASSWORD="full-disk-admin-1"
SIPP_DIR="$ROOT/soak/sipp"

if [[ ! -x "$BIN" ]]; then
    echo "full_disk: FAIL: $BIN not found; run 'cargo build --release' first" >&2
    exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vpbx-full-disk.XXXXXX")"
DISK="$WORK/disk"
SWITCH_LOG="$WORK/vpbx.log"
SWITCH_PID=""
mkdir -p "$DISK"
# shellcheck source=soak/lib.sh
source "$ROOT/soak/lib.sh"

cleanup() {
    local rc=$?
    set +e
    if [[ -n "$SWITCH_PID" ]] && kill -0 "$SWITCH_PID" 2>/dev/null; then
        kill -TERM "$SWITCH_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$SWITCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SWITCH_PID" 2>/dev/null
        wait "$SWITCH_PID" 2>/dev/null
    fi
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        echo "----- switch log tail -----"
        tail -n 40 "$SWITCH_LOG" 2>/dev/null
    fi
    mountpoint -q "$DISK" && umount "$DISK"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! mount -t tmpfs -o size=48m tmpfs "$DISK"; then
    echo "full_disk: FAIL: cannot mount a tmpfs (this check needs root)" >&2
    exit 2
fi

VPBX_ADMIN_PASSWORD="$PASSWORD" "$BIN" --config /nonexistent/vpbx.toml --data-dir "$DISK/data" \
    --sip-addr "$HOST:$SIP_PORT" --http-addr "$HOST:$HTTP_PORT" \
    --rtp-port-min 34000 --rtp-port-max 34099 --pike-requests 0 --auth-fail-max 0 \
    >"$SWITCH_LOG" 2>&1 &
SWITCH_PID=$!
for _ in $(seq 1 100); do
    curl -fsS --max-time 1 "$H/health" >/dev/null 2>&1 && break
    kill -0 "$SWITCH_PID" 2>/dev/null || break
    sleep 0.1
done

# json FIELD: reads one field of the JSON document on stdin.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() {
    curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$H/api/v1/auth/token"
}
TOKEN="$(login | json '["token"]')"
# post_tag NAME: the HTTP status of creating a tag (body in $WORK/tag.json).
post_tag() {
    curl -sS --max-time 10 -o "$WORK/tag.json" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$1\"}" "$H/api/v1/tags"
}

# Fill the disk, then write until the store meets it (sled grows its file in segments, so the
# first writes after the disk fills may still land in space it already holds).
dd if=/dev/zero of="$DISK/filler" bs=1M count=100 >/dev/null 2>&1 || true
status=201
long="$(printf 'x%.0s' $(seq 1 400))"
for i in $(seq 1 2000); do
    status="$(post_tag "while-full-$i-$long")"
    [[ "$status" != 201 ]] && break
done
if [[ "$status" == 507 ]] && grep -q '"storage_full"' "$WORK/tag.json"; then
    pass "API write on a full disk: 507 $(cat "$WORK/tag.json")"
else
    fail "API write on a full disk: $status $(cat "$WORK/tag.json")"
fi

health="$(curl -sS --max-time 5 "$H/health" || true)"
if [[ "$health" == *'"status":"degraded"'* && "$health" == *'disk is full'* ]]; then
    pass "/health while full: degraded with the reason"
else
    fail "/health while full: $health"
fi

if t2="$(login | json '["token"]' 2>/dev/null)" && [[ -n "$t2" ]]; then
    pass "admin login while full"
else
    fail "admin login while full"
fi

# A call while full: the echo number, the caller hangs up.
rc=0
run_sipp full_call "$SIPP_DIR/bye_from_caller.xml" "$SIP_PORT" || rc=$?
if [[ $rc -eq 0 ]]; then
    pass "a call while full is served"
else
    fail "a call while full: SIPp status $rc"
    show_sipp_trace full_call
fi
call_id="$(grep -m1 -i '^Call-ID:' "$WORK/full_call.msg.log" | sed 's/^[^:]*:[[:space:]]*//; s/\r$//')"

# Space returns: the store comes back on its own.
rm -f "$DISK/filler"
recovered=0
for _ in $(seq 1 150); do
    if curl -sS --max-time 2 "$H/health" 2>/dev/null | grep -q '"status":"ok"'; then
        recovered=1
        break
    fi
    sleep 0.2
done
if [[ $recovered -eq 1 ]]; then
    pass "/health ok again after space was freed (no restart)"
else
    fail "/health did not recover within 30 s: $(curl -sS "$H/health")"
fi
status="$(post_tag after-space-returned)"
if [[ "$status" == 201 ]]; then
    pass "API write after space returned: 201"
else
    fail "API write after space returned: $status $(cat "$WORK/tag.json")"
fi
found=0
for _ in $(seq 1 50); do
    if curl -sS --max-time 5 -H "Authorization: Bearer $TOKEN" "$H/api/v1/calls/recent?limit=10" |
        grep -qF "$call_id"; then
        found=1
        break
    fi
    sleep 0.2
done
if [[ -n "$call_id" && $found -eq 1 ]]; then
    pass "the record of the call made while full was written once space returned"
else
    fail "no record of the call made while full (SIP Call-ID '$call_id')"
fi
if kill -0 "$SWITCH_PID" 2>/dev/null; then
    pass "the switch stayed up"
else
    fail "the switch exited"
fi

echo "full_disk: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
