# Shared helpers of the soak/ interop scripts (sourced, not run). The caller sets WORK, HOST,
# SIPP_PORT and SIPP_MEDIA_PORT before using the SIPp helpers.

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }

# show_sipp_trace NAME: the SIPp message trace (sent/received SIP) and error log of a scenario.
show_sipp_trace() {
    local name=$1
    for f in "$WORK/$name.msg.log" "$WORK/$name.err.log" "$WORK/$name.out"; do
        if [[ -s "$f" ]]; then
            echo "----- $f -----"
            tail -n 120 "$f"
        fi
    done
}

# run_sipp NAME SCENARIO TARGET_PORT [extra sipp args...]: one call, bounded twice
# (SIPp -timeout + timeout 30).
run_sipp() {
    local name=$1 scenario=$2 port=$3
    shift 3
    local rc=0
    timeout 30 sipp -sf "$scenario" "$@" \
        -i "$HOST" -p "$SIPP_PORT" -mp "$SIPP_MEDIA_PORT" \
        -m 1 -timeout 20s -timeout_error -nostdin \
        -trace_msg -message_file "$WORK/$name.msg.log" \
        -trace_err -error_file "$WORK/$name.err.log" \
        "$HOST:$port" >"$WORK/$name.out" 2>&1 || rc=$?
    return "$rc"
}

# received_first_lines NAME: the start line of every SIP message SIPp received, in order.
received_first_lines() {
    awk '/message received/ { want = 1; next }
         want && NF { sub(/\r$/, ""); print; want = 0 }' "$WORK/$1.msg.log" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Helpers for scripts that run several SIPp instances at once (soak/interop_b2bua.sh). They take
# the local ports explicitly instead of SIPP_PORT/SIPP_MEDIA_PORT; the callers above are not
# affected.

# run_sipp_on NAME SCENARIO TARGET_PORT LOCAL_PORT MEDIA_PORT SECS [extra sipp args...]: one call
# (-m 1) from HOST:LOCAL_PORT (SIPp media socket on MEDIA_PORT), bounded twice: SIPp
# `-timeout SECS -timeout_error` and coreutils `timeout SECS+10`. Traces as run_sipp (NAME.msg.log,
# NAME.err.log, NAME.out in $WORK). Returns SIPp's exit status (124 when timeout killed it).
# Works in the background too: `run_sipp_on ... & pid=$!; wait "$pid"`.
run_sipp_on() {
    local name=$1 scenario=$2 port=$3 lport=$4 mport=$5 secs=$6
    shift 6
    local rc=0
    timeout "$((secs + 10))" sipp -sf "$scenario" "$@" \
        -i "$HOST" -p "$lport" -mp "$mport" \
        -m 1 -timeout "${secs}s" -timeout_error -nostdin \
        -trace_msg -message_file "$WORK/$name.msg.log" \
        -trace_err -error_file "$WORK/$name.err.log" \
        "$HOST:$port" >"$WORK/$name.out" 2>&1 || rc=$?
    return "$rc"
}

# wait_udp_bound PORT [SECS]: wait (default 5 s) until a UDP socket is bound on HOST:PORT, so a
# background SIPp UAS is listening before its call is placed. Returns 1 on timeout.
wait_udp_bound() {
    local port=$1 secs=${2:-5} i
    for ((i = 0; i < secs * 20; i++)); do
        if ss -Hlun "sport = :$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# wait_file FILE [SECS]: wait (default 10 s) until FILE exists and is not empty.
wait_file() {
    local file=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        [[ -s "$file" ]] && return 0
        sleep 0.05
    done
    return 1
}

# sipp_seen NAME: the start lines SIPp received (status codes without "SIP/2.0"), joined by ';'.
sipp_seen() {
    received_first_lines "$1" | sed -e 's/^SIP\/2\.0 //' -e 's/ sip:.*//' | tr '\n' ';'
}

# sipp_timeline NAME...: the SIP messages of several SIPp runs (their -trace_msg files) merged in
# time order, one line each: "HH:MM:SS.micros NAME -> (sent) | <- (received) START-LINE".
sipp_timeline() {
    local name
    for name in "$@"; do
        awk -v n="$name" '
            /^-----+ / { ts = $3; next }
            /message (sent|received)/ {
                dir = ($0 ~ /sent/) ? "->" : "<-"; want = 1; next
            }
            want && NF { sub(/\r$/, ""); print ts, n, dir, $0; want = 0 }' \
            "$WORK/$name.msg.log" 2>/dev/null || true
    done | sort -s -k1,1
}
