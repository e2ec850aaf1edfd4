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
