#!/usr/bin/env bash
# Benchmark: the steady-state cost of `portreeve agent` — CPU and memory —
# against the closest peer Debian packages doing the same periodic job, in
# the same run, on the same namespace.
#
# The host: a private network namespace (portreeve-bench-<pid>) where
# bench/busy_namespace.py (as in bench/inventory.sh) starts PROCS processes
# holding PROCS x LISTEN_PER_PROC listening TCP sockets (default 10 x 100 =
# 1,000, the size docs/agent.md states its figures for), a mix of 0.0.0.0,
# 127.0.0.1, ::1 and dual-stack ::, and CONN_PER_PROC established
# connections each (default none). One stateful nft rule in that namespace
# (ct state established accept, policy accept) makes connection tracking
# active there, as any stateful firewall does.
#
# What is measured, each alone, freshly started in the namespace:
#
#   portreeve agent --config packaging/agent.toml   (the shipped sample, which
#       is the defaults: sockets read every 1 s with their owners, the policy
#       check of every reading, drift recorded in SQLite, the lifecycle every
#       10 s, conntrack new-connection events, metrics on 127.0.0.1:9465 of
#       the namespace; a fresh state directory, nothing applied: the built-in
#       baseline is the policy)
#   the peer: the same periodic job from Debian's tools —
#       a bash loop running `ss -Htulnp` (sockets with their owners) every
#       1 s on a fixed schedule and `diff` against the previous reading
#       (drift), appended to a file; and
#       `conntrack -E -e NEW -p tcp -o timestamp` (ctnetlink new-connection
#       events, the agent's source) piped into `awk`, which counts per
#       destination port the connections, the distinct sources and the last
#       access: what the agent counts.
#
# Why this peer: osquery, the usual host agent to set against this one
# (listening_ports + process_open_sockets on a schedule), is not in Debian
# (`apt-cache policy osquery` finds nothing), and nothing else Debian packages
# does the whole job. `ss -tulnp` is what an operator runs for the socket
# part, and the reference every other portreeve benchmark of the inventory
# uses; `conntrack -E` reads the same kernel events as the agent. The peer
# does less than the agent (no policy check, no lifecycle, no SQLite, no
# metrics endpoint, nothing persisted of the counts), so the ratio flatters
# the peer.
#
# Phases, each run ROUNDS times with the two taking turns (agent first in odd
# rounds, the peer in even ones):
#   idle          the listeners; no new connections
#   connections   CONN_RATE new TCP connections/s (0 skips the phase) from a
#                 python client in the namespace to its IPv4 listeners at
#                 random, over its loopback, each reset by the client at once
#                 (SO_LINGER 0: nothing left in TIME_WAIT)
# A run: start the tool; wait until it works (the agent serves metrics); the
# client if the phase has one; WARMUP seconds (the first reading records
# every listener as new drift, and one lifecycle plan runs); then a WINDOW
# of seconds over which it is measured:
#   CPU: utime + stime + cutime + cstime from /proc/PID/stat (all threads,
#        and children waited for: the loop's ss, diff, mv and sleep) at the
#        start and end of the window; % of one core = ticks / CLK_TCK / window
#   memory: VmRSS from /proc/PID/status sampled every second (largest kept
#        and the last shown) and VmHWM at the end. The peer's memory is the
#        sum over its long-lived processes (the loop's bash, conntrack, awk)
#        plus the peak RSS of one `ss -Htulnp` in the namespace (the
#        transient the loop runs every second; measured alone,
#        RUSAGE_CHILDREN ru_maxrss, largest of 3); a `diff` of two readings
#        is left out.
# Reported per phase: the median over the rounds of CPU % and memory of each,
# the ratios agent/peer, and the agent's CPU time per reading. The agent's
# own view is scraped from its metrics at the end of each run (listeners,
# the reading's duration, conntrack events, errors, drops), and the figures
# docs/agent.md states are printed beside its results.
#
# No target is enforced. The script exits 1 if a check fails — the agent does
# not report every listener, counts fewer conntrack events than connections
# were made, reports errors, drops or overruns, or does not exit 0 on
# SIGTERM; the peer's last reading does not list every listener, or it counts
# fewer connections than were made — and 2 on a usage or setup error.
# It does not measure the flow collector: docs/agent.md states no figure for
# it (bench/flows.sh measures `portreeve collect`).
#
# Usage: sudo bench/agent.sh
#        WINDOW=5 WARMUP=3 ROUNDS=1 sudo bench/agent.sh      (a quick check)
#
# Environment:
#   PROCS=10 LISTEN_PER_PROC=100 CONN_PER_PROC=0   the namespace's size
#   WINDOW=30        seconds measured per run
#   WARMUP=10        seconds between the start and the window (at least the
#                    lifecycle interval, 10 s, for a steady state)
#   ROUNDS=2         rounds of both phases (medians reported)
#   CONN_RATE=100    new connections per second in the connections phase
#   PORTREEVE_BIN    use this binary instead of `cargo build --release`
#
# Requires ip (iproute2), ss, python3 and bash >= 5; missing Debian packages
# (nftables, conntrack) are installed with apt-get. The defaults take about
# 6 minutes after the build.
#
# Network safety: every socket, connection and event is in the namespace
# this script creates, and all traffic goes to that namespace's loopback.
# The host's firewall, interfaces and sysctls are never touched. The
# namespace and everything running in it are removed on exit, on failure and
# on Ctrl-C.

set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

PROCS=${PROCS:-10}
LISTEN_PER_PROC=${LISTEN_PER_PROC:-100}
CONN_PER_PROC=${CONN_PER_PROC:-0}
WINDOW=${WINDOW:-30}
WARMUP=${WARMUP:-10}
ROUNDS=${ROUNDS:-2}
CONN_RATE=${CONN_RATE:-100}
BASE_PORT=10000
READY_TIMEOUT=180
# What docs/agent.md states (1,000 listeners, the default 1 s interval).
DOC_CPU_PCT=1.51
DOC_RSS_MIB=18.2
DOC_LISTENERS=1000

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
HELPER=$SCRIPT_DIR/busy_namespace.py
AGENT_CONFIG=$REPO_ROOT/packaging/agent.toml
NS=portreeve-bench-$$
METRICS_URL=http://127.0.0.1:9465/metrics

die() {
    echo "agent.sh: $*" >&2
    exit 2
}
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

for v in PROCS LISTEN_PER_PROC CONN_PER_PROC WINDOW WARMUP ROUNDS CONN_RATE; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((PROCS >= 2)) || die "PROCS must be at least 2"
((LISTEN_PER_PROC >= 1)) || die "LISTEN_PER_PROC must be at least 1"
((WINDOW >= 1 && ROUNDS >= 1)) || die "WINDOW and ROUNDS must be at least 1"
((CONN_RATE <= 5000)) || die "CONN_RATE must be at most 5000"
((BASE_PORT + PROCS * LISTEN_PER_PROC <= 65536)) ||
    die "PROCS * LISTEN_PER_PROC must be at most $((65536 - BASE_PORT))"
((BASH_VERSINFO[0] >= 5)) || die "needs bash 5 or later (EPOCHREALTIME)"
[[ -f $AGENT_CONFIG ]] || die "missing $AGENT_CONFIG"

[[ $(id -u) -eq 0 ]] || die "must run as root (it creates a network namespace); try: sudo $0"

# --- prerequisites ----------------------------------------------------------
missing=()
command -v ip >/dev/null || missing+=("ip (iproute2)")
command -v ss >/dev/null || missing+=("ss (iproute2)")
command -v python3 >/dev/null || missing+=("python3")
command -v diff >/dev/null || missing+=("diff (diffutils)")
command -v awk >/dev/null || missing+=("awk")
if ((${#missing[@]})); then
    die "missing: ${missing[*]} (Debian: apt-get install iproute2 python3 diffutils mawk)"
fi
packages=()
command -v nft >/dev/null || packages+=(nftables)
command -v conntrack >/dev/null || packages+=(conntrack)
if ((${#packages[@]})); then
    echo "installing missing packages: apt-get install -y ${packages[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >/dev/null ||
        die "could not install ${packages[*]}"
fi

# --- portreeve --------------------------------------------------------------
bench_portreeve_binary

# --- namespace and clean-up -------------------------------------------------
WORK=$(mktemp -d -t portreeve-agent-bench.XXXXXX)
STATUS=$WORK/status
RESULTS=$WORK/results.tsv
HELPER_PID=
checks=PASS

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if ip netns list 2>/dev/null | grep -qw -- "$NS"; then
        [[ -n $HELPER_PID ]] && kill -TERM "$HELPER_PID" 2>/dev/null
        bench_delete_netns "$NS"
        wait 2>/dev/null
    fi
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { ip netns exec "$NS" "$@"; }

check_failed() {
    echo "CHECK FAILED: $*" >&2
    checks=FAIL
}

ip netns add "$NS"
in_ns ip link set lo up
# Connection tracking active in the namespace (and only there): one stateful
# rule that accepts everything.
in_ns nft -f - <<'EOF'
table inet portreeve_bench {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
    }
}
EOF
# Per-namespace sysctls: only the new namespace changes.
in_ns sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
in_ns sysctl -qw net.core.somaxconn=4096
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)

echo "== namespace $NS (portreeve: $PORTREEVE)"
echo "== machine: $(nproc) CPUs, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "starting $PROCS processes: $LISTEN_PER_PROC listeners and $CONN_PER_PROC outgoing connections each"
: >"$STATUS"
# Not via in_ns: a function would run in a subshell and $! would not be the helper.
ip netns exec "$NS" python3 "$HELPER" --procs "$PROCS" --listen-per-proc "$LISTEN_PER_PROC" \
    --conn-per-proc "$CONN_PER_PROC" --base-port "$BASE_PORT" --status "$STATUS" &
HELPER_PID=$!
t0=$SECONDS
until grep -q '^ready' "$STATUS"; do
    kill -0 "$HELPER_PID" 2>/dev/null || die "busy_namespace.py exited before it was ready"
    ((SECONDS - t0 < READY_TIMEOUT)) || die "timed out waiting for busy_namespace.py"
    sleep 0.2
done
LISTENERS=$(in_ns ss -Htuln | wc -l)
want=$((PROCS * LISTEN_PER_PROC))
((LISTENERS == want)) || die "the namespace has $LISTENERS listening sockets, expected $want"
echo "ready: $(grep '^ready' "$STATUS" | sed 's/ pids=.*//'); $LISTENERS listening sockets"
# The IPv4 listeners the client connects to (0.0.0.0 and 127.0.0.1).
in_ns ss -Htln4 | awk '{ n = split($4, a, ":"); print a[n] }' >"$WORK/ports"
[[ -s $WORK/ports ]] || die "no IPv4 listener in the namespace"

# --- helpers ------------------------------------------------------------------
# ticks PID...: utime + stime + cutime + cstime, summed, in clock ticks
ticks() {
    local pid s total=0 f
    for pid in "$@"; do
        s=$(<"/proc/$pid/stat") || die "process $pid is gone"
        s=${s##*) } # after the command name, which may hold spaces
        read -ra f <<<"$s"
        total=$((total + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$total"
}

# status_kib FIELD PID...: a /proc/PID/status field (VmRSS, VmHWM) in KiB, summed
status_kib() {
    local field=$1 pid total=0 v
    shift
    for pid in "$@"; do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status") || die "process $pid is gone"
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# scrape OUT: the agent's metrics into OUT; fails if it does not answer
scrape() {
    in_ns python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$METRICS_URL" >"$1" 2>/dev/null
}

# metric FILE NAME: the sum of every sample of NAME (any labels), 0 if none
metric() {
    awk -v name="$2" '$1 == name || index($1, name "{") == 1 { s += $NF; n++ } END { printf "%.6g\n", n ? s : 0 }' "$1"
}

# The client for the connections phase: CONN_RATE connections/s to the
# namespace's IPv4 listeners at random, each reset at once; on SIGTERM it
# writes "made failed" to its output file.
cat >"$WORK/client.py" <<'EOF'
import random, signal, socket, struct, sys, time

rate, ports_file, out = float(sys.argv[1]), sys.argv[2], sys.argv[3]
ports = [int(line) for line in open(ports_file) if line.strip()]
made = failed = 0


def stop(*_):
    with open(out, "w") as f:
        f.write(f"{made} {failed}\n")
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
linger = struct.pack("ii", 1, 0)
rng = random.Random(1)
due = time.monotonic()
while True:
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", rng.choice(ports)))
        made += 1
    except OSError:
        failed += 1
    s.close()
    due += 1 / rate
EOF

# The peer's socket loop: `ss -Htulnp` every second on a fixed schedule and
# the difference with the previous reading appended to drift.log; writes its
# iteration count on SIGTERM (after the current iteration).
cat >"$WORK/peer_loop.sh" <<'EOF'
set -u
dir=$1
n=0
trap 'echo "$n" >"$dir/iterations"; exit 0' TERM
: >"$dir/prev"
next=${EPOCHREALTIME/./}
while :; do
    ss -Htulnp >"$dir/cur"
    diff -- "$dir/prev" "$dir/cur" >>"$dir/drift.log"
    mv -f -- "$dir/cur" "$dir/prev"
    n=$((n + 1))
    next=$((next + 1000000))
    now=${EPOCHREALTIME/./}
    if ((next > now)); then
        d=$((next - now))
        printf -v d '%d.%06d' $((d / 1000000)) $((d % 1000000))
        sleep "$d"
    else
        next=$now
    fi
done
EOF

# The peer's conntrack counter: per destination port, connections, distinct
# sources and last access (the event's time); all of it on end of input.
cat >"$WORK/peer_count.awk" <<'EOF'
$2 == "[NEW]" {
    src = ""; port = ""
    for (i = 3; i <= NF; i++) {
        if (src == "" && substr($i, 1, 4) == "src=") src = substr($i, 5)
        else if (substr($i, 1, 6) == "dport=") { port = substr($i, 7); break }
    }
    n[port]++
    if (!((port, src) in seen)) { seen[port, src] = 1; d[port]++ }
    last[port] = $1
    total++
}
END {
    print total + 0
    for (p in n) print p, n[p], d[p], last[p]
}
EOF

CLIENT_PID=
start_client() {
    CLIENT_PID=
    (($1)) || return 0
    ip netns exec "$NS" python3 "$WORK/client.py" "$CONN_RATE" "$WORK/ports" "$2" &
    CLIENT_PID=$!
}
# stop_client OUT: sets C_MADE and C_FAILED (0 0 without a client)
stop_client() {
    C_MADE=0 C_FAILED=0
    [[ -n $CLIENT_PID ]] || return 0
    kill -TERM "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" || true
    CLIENT_PID=
    [[ -s $1 ]] && read -r C_MADE C_FAILED <"$1"
    return 0
}

# stop PID: SIGTERM, up to 20 s, then SIGKILL; sets STOP_RC to its exit status
stop() {
    local tries=0
    STOP_RC=0
    kill -TERM "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null && ((tries++ < 200)); do sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" || STOP_RC=$?
}

# window PID...: waits WARMUP, then measures the WINDOW; sets W_TICKS,
# W_SECONDS, W_RSS_MAX (largest sum of VmRSS sampled each second), W_RSS
# (the last sample) and W_HWM (VmHWM at the end)
window() {
    local t_start c_start c_end t_end i rss wait_us
    sleep "$WARMUP"
    W_RSS_MAX=0
    t_start=$(now_us)
    c_start=$(ticks "$@")
    for ((i = 1; i <= WINDOW; i++)); do
        # Sample, then sleep until the next whole second of the window.
        rss=$(status_kib VmRSS "$@")
        ((rss > W_RSS_MAX)) && W_RSS_MAX=$rss
        wait_us=$((t_start + i * 1000000 - $(now_us)))
        if ((wait_us > 0)); then
            sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
        fi
    done
    c_end=$(ticks "$@")
    t_end=$(now_us)
    W_RSS=$(status_kib VmRSS "$@")
    ((W_RSS > W_RSS_MAX)) && W_RSS_MAX=$W_RSS
    W_HWM=$(status_kib VmHWM "$@")
    W_TICKS=$((c_end - c_start))
    W_SECONDS=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
}

# row ROUND PHASE TOOL EXTRA_KIB NOTE: appends the last window to RESULTS
row() {
    local pct
    pct=$(awk -v c="$W_TICKS" -v hz="$CLK_TCK" -v s="$W_SECONDS" 'BEGIN { printf "%.2f", 100 * c / hz / s }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$W_TICKS" "$W_SECONDS" "$pct" \
        "$((W_RSS + $4))" "$((W_RSS_MAX + $4))" "$((W_HWM + $4))" "$5" >>"$RESULTS"
    printf '   %-6s %-11s CPU %6.2f s in %6.2f s = %6.2f %% of one core; memory %7d KiB (largest %d, VmHWM %d)%s\n' \
        "$3" "$2" "$(awk -v c="$W_TICKS" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", c / hz }')" "$W_SECONDS" "$pct" \
        "$((W_RSS + $4))" "$((W_RSS_MAX + $4))" "$((W_HWM + $4))" "${5:+  ($5)}"
}

# run_agent ROUND PHASE CONNS(0|1)
run_agent() {
    local round=$1 phase=$2 conns=$3 dir pid t0 made failed
    dir=$WORK/agent-$round-$phase
    mkdir -p "$dir"
    # No $PORTREEVE_POLICY or other stray settings: the defaults, and a
    # fresh state directory.
    ip netns exec "$NS" env -u PORTREEVE_POLICY -u PORTREEVE_STATE_DIR \
        "$PORTREEVE" --state-dir "$dir/state" --log-format json agent --config "$AGENT_CONFIG" \
        >"$dir/out.log" 2>"$dir/err.log" &
    pid=$!
    t0=$SECONDS
    until scrape "$dir/metrics.txt"; do
        kill -0 "$pid" 2>/dev/null || die "the agent exited at start: $(tail -n 5 "$dir/err.log")"
        ((SECONDS - t0 < 30)) || die "the agent served no metrics within 30 s"
        sleep 0.2
    done
    start_client "$conns" "$dir/client"
    window "$pid"
    stop_client "$dir/client"
    made=$C_MADE failed=$C_FAILED
    # The loop takes in the queued conntrack events at its next reading.
    sleep 2
    scrape "$dir/metrics.txt" || check_failed "agent ($phase, round $round): metrics not served at the end"
    # What the agent saw, against the namespace at the same moment (its own
    # metrics listener included).
    local seen_now listeners events errors dropped overruns duration
    seen_now=$(in_ns ss -Htuln | wc -l)
    listeners=$(metric "$dir/metrics.txt" portreeve_listeners)
    events=$(metric "$dir/metrics.txt" portreeve_conntrack_events_total)
    errors=$(metric "$dir/metrics.txt" portreeve_agent_errors_total)
    dropped=$(metric "$dir/metrics.txt" portreeve_agent_queue_dropped_total)
    overruns=$(metric "$dir/metrics.txt" portreeve_conntrack_overruns_total)
    duration=$(metric "$dir/metrics.txt" portreeve_agent_reading_duration_seconds)
    stop "$pid"
    ((STOP_RC == 0)) || check_failed "agent ($phase, round $round): exit status $STOP_RC on SIGTERM"
    [[ $listeners == "$seen_now" ]] ||
        check_failed "agent ($phase, round $round): portreeve_listeners $listeners, ss -Htuln $seen_now"
    [[ $errors == 0 && $dropped == 0 && $overruns == 0 ]] ||
        check_failed "agent ($phase, round $round): errors $errors, queue drops $dropped, conntrack overruns $overruns"
    if ((conns)); then
        ((failed == 0)) || check_failed "client ($phase, round $round): $failed connections failed"
        awk -v e="$events" -v m="$made" 'BEGIN { exit !(e >= m) }' ||
            check_failed "agent ($phase, round $round): $events conntrack events for $made connections"
    fi
    row "$round" "$phase" agent 0 \
        "listeners $listeners; last reading $(awk -v d="$duration" 'BEGIN { printf "%.1f", d * 1000 }') ms; conntrack events $events for $made connections"
}

# The peer's transient: the peak RSS of one `ss -Htulnp` (largest of 3), KiB
ss_peak_kib() {
    in_ns python3 -c 'import resource, subprocess, sys
for _ in range(3):
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' ss -Htulnp
}

# run_peer ROUND PHASE CONNS(0|1)
run_peer() {
    local round=$1 phase=$2 conns=$3 dir loop ct counter t0 made failed ss_kib
    dir=$WORK/peer-$round-$phase
    mkdir -p "$dir"
    mkfifo "$dir/events"
    # The counter first, so the conntrack process has a reader.
    ip netns exec "$NS" awk -f "$WORK/peer_count.awk" <"$dir/events" >"$dir/counts" &
    counter=$!
    ip netns exec "$NS" conntrack -E -e NEW -p tcp -o timestamp >"$dir/events" 2>"$dir/conntrack.err" &
    ct=$!
    ip netns exec "$NS" bash "$WORK/peer_loop.sh" "$dir" &
    loop=$!
    t0=$SECONDS
    until [[ -s $dir/prev ]]; do
        kill -0 "$loop" 2>/dev/null || die "the peer's loop exited at start"
        ((SECONDS - t0 < 30)) || die "the peer's loop read nothing within 30 s"
        sleep 0.1
    done
    kill -0 "$ct" 2>/dev/null || die "conntrack -E exited at start: $(cat "$dir/conntrack.err")"
    start_client "$conns" "$dir/client"
    window "$loop" "$ct" "$counter"
    stop_client "$dir/client"
    made=$C_MADE failed=$C_FAILED
    # Let conntrack write the last events, then end it: awk sees end of input.
    sleep 0.2
    stop "$ct"
    wait "$counter" || check_failed "peer ($phase, round $round): awk failed"
    stop "$loop"
    ((STOP_RC == 0)) || check_failed "peer ($phase, round $round): the loop's exit status $STOP_RC"
    local lines iterations counted
    lines=$(wc -l <"$dir/prev")
    iterations=$(cat "$dir/iterations" 2>/dev/null || echo "?")
    counted=$(head -n 1 "$dir/counts")
    ((lines == LISTENERS)) || check_failed "peer ($phase, round $round): its last reading lists $lines sockets, expected $LISTENERS"
    if ((conns)); then
        ((failed == 0)) || check_failed "client ($phase, round $round): $failed connections failed"
        ((counted >= made)) || check_failed "peer ($phase, round $round): counted $counted connections of $made"
    fi
    ss_kib=$(ss_peak_kib)
    row "$round" "$phase" peer "$ss_kib" \
        "readings $iterations in $((WARMUP + WINDOW)) s; ss peak $ss_kib KiB included; conntrack events $counted for $made connections"
}

phases=(idle)
((CONN_RATE > 0)) && phases+=(connections)
: >"$RESULTS"
echo
echo "== $ROUNDS round(s): per run ${WARMUP} s warm-up, then ${WINDOW} s measured; connections phase at $CONN_RATE/s"
for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order=(agent peer); else order=(peer agent); fi
    for phase in "${phases[@]}"; do
        conns=0
        [[ $phase == connections ]] && conns=1
        echo "   round $round, $phase:"
        for tool in "${order[@]}"; do
            "run_$tool" "$round" "$phase" "$conns"
        done
    done
done

echo
echo "== summary (medians over $ROUNDS round(s); $LISTENERS listening sockets; agent interval 1 s, lifecycle 10 s)"
python3 - "$RESULTS" "$CLK_TCK" "$LISTENERS" "$DOC_CPU_PCT" "$DOC_RSS_MIB" "$DOC_LISTENERS" <<'EOF'
import statistics, sys
from collections import defaultdict

path, hz, listeners = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
doc_cpu, doc_rss, doc_listeners = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
runs = defaultdict(list)
for line in open(path):
    rnd, phase, tool, ticks, secs, pct, rss, rss_max, hwm, _note = line.rstrip("\n").split("\t")
    runs[phase, tool].append(dict(cpu=float(pct), rss=int(rss), rss_max=int(rss_max), hwm=int(hwm),
                                  cpu_s=int(ticks) / hz, secs=float(secs)))
phases = [p for p in ("idle", "connections") if (p, "agent") in runs]
med = lambda phase, tool, key: statistics.median(r[key] for r in runs[phase, tool])
print(f"{'phase':<12} {'':<6} {'CPU % of one core':>17} {'memory (KiB)':>13} {'largest':>9} {'VmHWM':>9}")
for phase in phases:
    for tool in ("agent", "peer"):
        print(f"{phase:<12} {tool:<6} {med(phase, tool, 'cpu'):>17.2f} {med(phase, tool, 'rss'):>13,.0f}"
              f" {med(phase, tool, 'rss_max'):>9,.0f} {med(phase, tool, 'hwm'):>9,.0f}")
print()
for phase in phases:
    a_cpu, p_cpu = med(phase, "agent", "cpu"), med(phase, "peer", "cpu")
    a_rss, p_rss = med(phase, "agent", "rss_max"), med(phase, "peer", "rss_max")
    cpu_ratio = f"{a_cpu / p_cpu:.2f}" if p_cpu > 0 else "n/a (the peer used no measurable CPU)"
    print(f"{phase}: CPU agent/peer = {cpu_ratio} ({a_cpu:.2f} % / {p_cpu:.2f} %);"
          f" memory agent/peer = {a_rss / p_rss:.2f} ({a_rss / 1024:.1f} MiB / {p_rss / 1024:.1f} MiB, largest samples)")
    print(f"{phase}: the agent's CPU per 1 s reading (everything it does, divided by the readings):"
          f" {a_cpu * 10:.1f} ms")
idle = "idle"
print()
print(f"docs/agent.md states, at {doc_listeners:,} listeners: {doc_cpu} % of one core and {doc_rss:g} MiB;"
      f" measured here at {listeners:,} (idle): {med(idle, 'agent', 'cpu'):.2f} % and"
      f" {med(idle, 'agent', 'rss_max') / 1024:.1f} MiB (VmHWM {med(idle, 'agent', 'hwm') / 1024:.1f} MiB)")
EOF
echo
echo "checks (the agent and the peer see every listener and every connection; no agent errors, drops or overruns; clean exit): $checks"
[[ $checks == PASS ]] || exit 1
