#!/usr/bin/env bash
# Benchmark: `portreeve inventory` against ss, netstat and lsof on a busy
# network namespace.
#
# Builds a private network namespace (portreeve-bench-<pid>) holding about 40
# processes, 20,000 listening TCP sockets and 60,000 established ones, then in
# the same run times, inside that namespace:
#
#   portreeve inventory --format json     (the reference for every ratio)
#   portreeve inventory                   (table)
#   ss -tlnp                              (the peer the target is set against)
#   ss -tln                               (no owners: the floor of a dump)
#   netstat -tlnp
#   lsof -nP -iTCP -sTCP:LISTEN           (slow; fewer runs)
#
# Target: a complete listening inventory with owners in at most half the time
# of `ss -tlnp` (reported, not enforced), and memory proportional to listeners,
# not to all sockets (peak RSS is measured with and without the established
# connections). It also checks that portreeve reports every listening TCP
# socket with its owner, and exits 1 if not.
#
# Usage: sudo bench/inventory.sh
#
# Environment:
#   PROCS=40 LISTEN_PER_PROC=500 CONN_PER_PROC=750   namespace size
#   RUNS=10          hyperfine runs per command (after 2 warm-up runs)
#   LSOF_RUNS=3      runs for lsof (after 1 warm-up run)
#   RSS_RUNS=3       runs per peak-memory measurement (the largest is kept)
#   PORTREEVE_BIN    use this binary instead of `cargo build --release`
#
# Network safety: every socket lives in the namespace this script creates and
# all traffic goes to that namespace's loopback. The namespace and everything
# running in it are removed on exit, on failure and on Ctrl-C.

set -euo pipefail
shopt -s inherit_errexit

PROCS=${PROCS:-40}
LISTEN_PER_PROC=${LISTEN_PER_PROC:-500}
CONN_PER_PROC=${CONN_PER_PROC:-750}
RUNS=${RUNS:-10}
LSOF_RUNS=${LSOF_RUNS:-3}
RSS_RUNS=${RSS_RUNS:-3}
BASE_PORT=10000
READY_TIMEOUT=180

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
HELPER=$SCRIPT_DIR/busy_namespace.py
NS=portreeve-bench-$$

die() {
    echo "inventory.sh: $*" >&2
    exit 2
}
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

for v in PROCS LISTEN_PER_PROC CONN_PER_PROC RUNS LSOF_RUNS RSS_RUNS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((PROCS >= 2)) || die "PROCS must be at least 2"
((LISTEN_PER_PROC >= 1)) || die "LISTEN_PER_PROC must be at least 1"
((RUNS >= 2 && LSOF_RUNS >= 2 && RSS_RUNS >= 1)) || die "RUNS and LSOF_RUNS must be >= 2, RSS_RUNS >= 1"
((BASE_PORT + PROCS * LISTEN_PER_PROC <= 65536)) ||
    die "PROCS * LISTEN_PER_PROC must be at most $((65536 - BASE_PORT))"

[[ $(id -u) -eq 0 ]] || die "must run as root (it creates a network namespace); try: sudo $0"

# --- prerequisites ----------------------------------------------------------
missing=()
command -v ip >/dev/null || missing+=("ip (iproute2)")
command -v ss >/dev/null || missing+=("ss (iproute2)")
command -v python3 >/dev/null || missing+=("python3")
command -v hyperfine >/dev/null || missing+=("hyperfine")
command -v lsof >/dev/null || missing+=("lsof")
command -v netstat >/dev/null || missing+=("netstat (net-tools)")
if ((${#missing[@]})); then
    die "missing: ${missing[*]} (Debian: apt-get install iproute2 python3 hyperfine lsof net-tools)"
fi
if ! /usr/bin/time -f %M true >/dev/null 2>&1; then
    echo "GNU time not found; installing it (apt-get install -y time)" >&2
    apt-get install -y time >/dev/null || die "missing: GNU time (apt-get install time)"
fi

# --- portreeve --------------------------------------------------------------
bench_portreeve_binary

# --- namespace and clean-up -------------------------------------------------
WORK=$(mktemp -d -t portreeve-bench.XXXXXX)
STATUS=$WORK/status
HELPER_PID=

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if ip netns list 2>/dev/null | grep -qw -- "$NS"; then
        [[ -n $HELPER_PID ]] && kill -TERM "$HELPER_PID" 2>/dev/null
        bench_delete_netns "$NS"
        [[ -n $HELPER_PID ]] && wait "$HELPER_PID" 2>/dev/null
    fi
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
# These sysctls are per network namespace: only the new namespace changes.
in_ns sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
in_ns sysctl -qw net.core.somaxconn=4096
# Each worker holds LISTEN_PER_PROC + ~2*CONN_PER_PROC descriptors; the helper
# raises its own limit too, this covers the tools being measured.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# peak RSS (KiB) of a command in the namespace: the largest of RSS_RUNS runs
max_rss() {
    local best=0 kib i
    for ((i = 0; i < RSS_RUNS; i++)); do
        in_ns /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null ||
            die "'$*' failed in the namespace"
        kib=$(tail -n 1 "$WORK/rss")
        ((kib > best)) && best=$kib
    done
    echo "$best"
}

count_listen() { in_ns ss -Htln | wc -l; }
count_estab() { in_ns ss -Htn state established | wc -l; }
count_all() { in_ns ss -Htan | wc -l; }

echo "== namespace $NS (portreeve: $PORTREEVE)"
rss_empty=$(max_rss "$PORTREEVE" inventory --format json)

echo "starting $PROCS processes: $LISTEN_PER_PROC listeners and $CONN_PER_PROC outgoing connections each"
: >"$STATUS"
# Not via in_ns: a function would run in a subshell and $! would not be the helper.
ip netns exec "$NS" python3 "$HELPER" --procs "$PROCS" --listen-per-proc "$LISTEN_PER_PROC" \
    --conn-per-proc "$CONN_PER_PROC" --base-port "$BASE_PORT" --status "$STATUS" &
HELPER_PID=$!

wait_status() { # wait for a line starting with $1 in the status file
    local word=$1 t0=$SECONDS
    until grep -q "^$word" "$STATUS"; do
        kill -0 "$HELPER_PID" 2>/dev/null || die "busy_namespace.py exited before '$word'"
        ((SECONDS - t0 < READY_TIMEOUT)) || die "timed out waiting for '$word'"
        sleep 0.2
    done
}
t_setup=$SECONDS
wait_status ready
ready_line=$(grep '^ready' "$STATUS")
worker_pids=${ready_line##*pids=}

listen=$(count_listen)
estab=$(count_estab)
all=$(count_all)
want_listen=$((PROCS * LISTEN_PER_PROC))
want_estab=$((2 * PROCS * CONN_PER_PROC))
echo "ready after $((SECONDS - t_setup)) s: ${ready_line% pids=*}"
echo "listening TCP sockets:   $listen (expected $want_listen)"
echo "established TCP sockets: $estab (expected $want_estab)"
echo "all TCP sockets:         $all"
if ((listen != want_listen || estab != want_estab)); then
    die "the namespace does not have the expected socket counts"
fi

# --- correctness ------------------------------------------------------------
echo
echo "== correctness (busy namespace)"
in_ns "$PORTREEVE" inventory --format json >"$WORK/inventory.json"
in_ns ss -Htln | awk '{print $4}' >"$WORK/ss-listen.txt"
correct=PASS
python3 - "$WORK/inventory.json" "$WORK/ss-listen.txt" "$worker_pids" <<'EOF' || correct=FAIL
import json, sys

inv = json.load(open(sys.argv[1]))
ss_ports = sorted(int(line.rsplit(":", 1)[1]) for line in open(sys.argv[2]) if line.strip())
workers = {int(p) for p in sys.argv[3].split(",")}
tcp = [s for s in inv["sockets"] if s["protocol"] == "tcp"]
unknown = [s for s in tcp if s["owner_status"] != "known" or not s["processes"]]
foreign = [s for s in tcp if s["processes"] and not {p["pid"] for p in s["processes"]} <= workers]
ports = sorted(s["port"] for s in tcp)
ok = True
print(f"portreeve TCP sockets: {len(tcp)}   ss -Htln: {len(ss_ports)}", end="   ")
if len(tcp) != len(ss_ports):
    print("count MISMATCH")
    ok = False
elif ports != ss_ports:
    print("same count but different ports")
    ok = False
else:
    print("same ports")
print(f"TCP sockets without a known owner: {len(unknown)}")
for s in unknown[:5]:
    print(f"  e.g. {s['address']}:{s['port']} owner_status={s['owner_status']}")
print(f"TCP sockets owned by a pid outside the benchmark's processes: {len(foreign)}")
ok = ok and not unknown and not foreign
sys.exit(0 if ok else 1)
EOF
echo "correctness: $correct"


# --- peak memory, busy namespace --------------------------------------------
rss_busy=$(max_rss "$PORTREEVE" inventory --format json)
rss_ss_busy=$(max_rss ss -tlnp)

# --- timing -------------------------------------------------------------------
# hyperfine itself runs inside the namespace, so the commands it times pay no
# `ip netns exec` overhead; -N runs them without a shell.
q() { printf '%q' "$1"; }
PR=$(q "$PORTREEVE")
echo
echo "== timing in the busy namespace (hyperfine: 2 warm-up runs + $RUNS runs; lsof: 1 + $LSOF_RUNS)"
in_ns hyperfine -N --style none --output=null --warmup 2 --runs "$RUNS" \
    --export-json "$WORK/main.json" \
    -n "portreeve inventory --format json" "$PR inventory --format json" \
    -n "portreeve inventory" "$PR inventory" \
    -n "ss -tlnp" "ss -tlnp" \
    -n "ss -tln" "ss -tln" \
    -n "netstat -tlnp" "netstat -tlnp"
in_ns hyperfine -N --style none --output=null --warmup 1 --runs "$LSOF_RUNS" \
    --export-json "$WORK/lsof.json" \
    -n "lsof -nP -iTCP -sTCP:LISTEN" "lsof -nP -iTCP -sTCP:LISTEN"

python3 - "$WORK/main.json" "$WORK/lsof.json" <<'EOF'
import json, sys

results = []
for path in sys.argv[1:]:
    results += json.load(open(path))["results"]
by_name = {r["command"]: r for r in results}
ref = by_name["portreeve inventory --format json"]["mean"]
width = max(len(r["command"]) for r in results)
print(f"{'command':<{width}}  {'runs':>4}  {'mean ± stddev (ms)':>20}  vs portreeve --format json")
for r in results:
    mean, sd, name = r["mean"], r["stddev"] or 0.0, r["command"]
    ratio = mean / ref
    if name == "portreeve inventory --format json":
        rel = "(reference)"
    elif ratio >= 1:
        rel = f"{name} is {ratio:.1f}x slower"
    else:
        rel = f"{name} is {1 / ratio:.1f}x faster"
    print(f"{name:<{width}}  {len(r['times']):>4}  {mean * 1e3:>11.1f} ± {sd * 1e3:>6.1f}  {rel}")
ratio = ref / by_name["ss -tlnp"]["mean"]
verdict = "PASS" if ratio <= 0.5 else "FAIL"
print()
print(f"portreeve/ss -tlnp = {ratio:.2f} (target <= 0.50): {verdict}")
EOF

# --- peak memory, listeners only ------------------------------------------------
# Close every established connection (RST, so nothing stays in TIME_WAIT) and
# measure again: memory proportional to listeners should barely move.
kill -USR1 "$HELPER_PID"
wait_status closed
listen2=$(count_listen)
estab2=$(count_estab)
all2=$(count_all)
rss_listen=$(max_rss "$PORTREEVE" inventory --format json)
rss_ss_listen=$(max_rss ss -tlnp)

echo
echo "== peak memory (max RSS, largest of $RSS_RUNS runs)"
row() { printf '%-40s %9s %9s %12s %12s\n' "$@"; }
row "namespace" "listening" "all TCP" "portreeve" "ss -tlnp"
row "empty (before the processes started)" 0 0 "$rss_empty KiB" "-"
row "busy (listeners + established)" "$listen" "$all" "$rss_busy KiB" "$rss_ss_busy KiB"
row "listeners only (established closed)" "$listen2" "$all2" "$rss_listen KiB" "$rss_ss_listen KiB"
python3 - "$rss_empty" "$rss_busy" "$rss_listen" "$listen" "$estab" "$estab2" <<'EOF'
import sys
empty, busy, only, listen, estab, estab2 = map(int, sys.argv[1:])
print(f"portreeve: {(busy - empty) * 1024 / max(listen, 1):.0f} bytes per listening socket above the empty namespace;")
closed = max(estab - estab2, 1)
print(f"with {estab - estab2} more established sockets its peak RSS differs by {busy - only:+d} KiB "
      f"({(busy - only) * 1024 / closed:+.1f} bytes per established socket)")
EOF

echo
echo "correctness: $correct"
[[ $correct == PASS ]] || exit 1
