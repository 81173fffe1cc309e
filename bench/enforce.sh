#!/usr/bin/env bash
# Benchmark: `portreeve apply` of a large policy against iptables-restore of
# the equivalent linear ruleset, and new-connection throughput through both.
#
# The policy (written by bench/enforce_policy.py) allows PAIRS distinct
# (CIDR, TCP port) pairs that do not aggregate: zones z0..z99 of PAIRS/100
# networks 10.<zone>.<2k>.0/24 each, rule r<zone> allowing TCP port
# 10000+<zone> from zone z<zone>. The peer is the same allowances as a linear
# iptables-restore ruleset: lo, ESTABLISHED/RELATED, PAIRS `-s CIDR -p tcp
# --dport PORT -j ACCEPT` rules in the same order, then DROP.
#
# 1. Apply time, in the same run (hyperfine; before every timed run the
#    namespace's ruleset is flushed, so both tools start from nothing):
#      portreeve apply --policy P        (the target: under 200 ms)
#      iptables-restore F                (the peer)
#    and, to show where portreeve's time goes (not part of the target):
#      portreeve render --policy P       (parse, compile, render; no kernel)
#      nft -f R                          (nft loading the rendered ruleset R
#                                         by itself: the floor for apply)
#    plus, if strace is installed, a traced `portreeve apply` (strace -f
#    --seccomp-bpf, which stops only at execve and exit; the median of three
#    runs) split into the commands it runs and its own time.
#
# 2. New connections per second (wrk, `Connection: close`, so every request
#    is a new TCP connection) from a client namespace to nginx in a server
#    namespace, over a veth pair, through:
#      (a) no ruleset                    (the reference)
#      (b) portreeve's PAIRS-pair ruleset
#      (c) PAIRS linear iptables rules
#      (d) portreeve with only the client's pair (a control: what a
#          portreeve ruleset costs whatever its size)
#      (e) a minimal stateful nft ruleset: lo, ct state established, the
#          client's /24 to the port, drop (a control: the cost of connection
#          tracking itself, which (a) does not pay)
#    The client's address is allowed by exactly one pair, the LAST in
#    iptables order: the worst case for the linear ruleset. The conditions
#    are interleaved for ROUNDS rounds and medians are reported. Target:
#    (b) within 10 % of (a). Before every run the script installs the
#    condition's ruleset from nothing, empties the connection-tracking table,
#    and checks that the ruleset is in place (element and rule counts) and
#    that a source outside the policy is blocked (open in (a)).
#
# Targets are reported, not enforced. The script exits 1 if a check fails
# (ruleset missing, a non-allowed source gets through, wrk saw errors on
# more than 1 % of its requests) and 2 on a usage or setup error.
#
# Usage: sudo bench/enforce.sh
#
# Environment:
#   PAIRS=10000      allowed (CIDR, port) pairs; a multiple of 100, 100..12800
#   RUNS=10          hyperfine runs per command (after 2 warm-up runs)
#   DURATION=5       seconds per wrk run
#   ROUNDS=3         interleaved rounds of the throughput conditions
#   WRK_THREADS=2 WRK_CONNECTIONS=32   wrk's -t and -c
#   PORTREEVE_BIN    use this binary instead of `cargo build --release`
#
# Requires ip (iproute2) and python3. Missing Debian packages (nginx, wrk,
# hyperfine, conntrack, nftables, iptables) are installed with apt-get, with
# a temporary /usr/sbin/policy-rc.d (only if there is none) so that the
# packages start no host-wide service. strace (5.3+) is optional.
#
# Network safety: everything happens in three network namespaces this script
# creates (portreeve-bench-<pid>-{apply,srv,cli}); the server and client ones
# are joined by a veth pair created inside them, with addresses in
# 10.0.0.0/8 that exist only there. The host's own firewall, interfaces and
# sysctls are never touched. The namespaces and everything running in them
# are removed on exit, on failure and on Ctrl-C.

set -euo pipefail
shopt -s inherit_errexit

PAIRS=${PAIRS:-10000}
RUNS=${RUNS:-10}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
GENERATOR=$SCRIPT_DIR/enforce_policy.py
NS_APPLY=portreeve-bench-$$-apply
NS_SRV=portreeve-bench-$$-srv
NS_CLI=portreeve-bench-$$-cli

die() {
    echo "enforce.sh: $*" >&2
    exit 2
}
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

for v in PAIRS RUNS DURATION ROUNDS WRK_THREADS WRK_CONNECTIONS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((PAIRS % 100 == 0 && PAIRS >= 100 && PAIRS <= 12800)) ||
    die "PAIRS must be a multiple of 100 between 100 and 12800, got $PAIRS"
((RUNS >= 2)) || die "RUNS must be at least 2"
((DURATION >= 1 && ROUNDS >= 1)) || die "DURATION and ROUNDS must be at least 1"
((WRK_THREADS >= 1 && WRK_CONNECTIONS >= WRK_THREADS)) ||
    die "WRK_CONNECTIONS must be at least WRK_THREADS (>= 1)"

[[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces); try: sudo $0"

# --- prerequisites ----------------------------------------------------------
missing=()
command -v ip >/dev/null || missing+=("ip (iproute2)")
command -v python3 >/dev/null || missing+=("python3")
if ((${#missing[@]})); then
    die "missing: ${missing[*]} (Debian: apt-get install iproute2 python3)"
fi
packages=()
command -v nft >/dev/null || packages+=(nftables)
command -v iptables-restore >/dev/null || packages+=(iptables)
command -v hyperfine >/dev/null || packages+=(hyperfine)
command -v conntrack >/dev/null || packages+=(conntrack)
command -v nginx >/dev/null || packages+=(nginx)
command -v wrk >/dev/null || packages+=(wrk)
if ((${#packages[@]})); then
    bench_apt_install "${packages[@]}" ||
        die "could not install ${packages[*]} (Debian: apt-get install ${packages[*]})"
fi
NGINX=$(command -v nginx)
IPT_VERSION=$(iptables-restore --version 2>&1 | head -n 1)

# --- portreeve --------------------------------------------------------------
bench_portreeve_binary

# --- namespaces and clean-up --------------------------------------------------
WORK=$(mktemp -d -t portreeve-bench.XXXXXX)
NGINX_PID=
MY_NAMESPACES=("$NS_APPLY" "$NS_SRV" "$NS_CLI")

cleanup() {
    local rc=$? ns
    set +e
    trap - EXIT INT TERM
    [[ -n $NGINX_PID ]] && kill -TERM "$NGINX_PID" 2>/dev/null
    for ns in "${MY_NAMESPACES[@]}"; do
        bench_delete_netns "$ns"
    done
    [[ -n $NGINX_PID ]] && wait "$NGINX_PID" 2>/dev/null
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_apply() { ip netns exec "$NS_APPLY" "$@"; }
in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }

# --- inputs -------------------------------------------------------------------
POLICY=$WORK/policy.toml
POLICY1=$WORK/policy-one-pair.toml
IPT_RULES=$WORK/iptables.rules
RENDERED=$WORK/rendered.nft
gen_out=$(python3 "$GENERATOR" --pairs "$PAIRS" --policy "$POLICY" --iptables "$IPT_RULES") ||
    die "enforce_policy.py failed"
python3 "$GENERATOR" --pairs "$PAIRS" --policy "$POLICY1" --only-last >/dev/null ||
    die "enforce_policy.py failed"
# LAST_NET=10.99.198 LAST_PORT=10099 PAIRS=10000
[[ $gen_out =~ LAST_NET=([0-9.]+)\ LAST_PORT=([0-9]+) ]] || die "enforce_policy.py printed '$gen_out'"
LAST_NET=${BASH_REMATCH[1]}
LAST_PORT=${BASH_REMATCH[2]}
# The client's allowed address, and a neighbouring /24 no pair allows.
LAST_C=${LAST_NET##*.}
DENIED_NET=${LAST_NET%.*}.$((LAST_C + 1))
SRV_ADDR=$LAST_NET.1
CLI_ADDR=$LAST_NET.2
SRV_DENIED=$DENIED_NET.1
CLI_DENIED=$DENIED_NET.2
PORT=$LAST_PORT

"$PORTREEVE" render --policy "$POLICY" >"$RENDERED" || die "portreeve render failed"

for ns in "${MY_NAMESPACES[@]}"; do
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
done
# The veth pair is created inside the server namespace, its peer moved
# straight into the client's: no interface ever exists on the host.
in_srv ip link add vsrv type veth peer name vcli netns "$NS_CLI"
in_srv ip addr add "$SRV_ADDR/24" dev vsrv
in_srv ip addr add "$SRV_DENIED/24" dev vsrv
in_srv ip link set vsrv up
in_cli ip addr add "$CLI_ADDR/24" dev vcli
in_cli ip addr add "$CLI_DENIED/24" dev vcli
in_cli ip link set vcli up
# Per-namespace sysctls: only our namespaces change.
in_cli sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
in_cli sysctl -qw net.ipv4.tcp_tw_reuse=1
in_srv sysctl -qw net.core.somaxconn=4096
in_srv sysctl -qw net.ipv4.tcp_max_syn_backlog=4096
ulimit -n 65536 2>/dev/null || true

echo "== portreeve: $PORTREEVE"
echo "== iptables:  $IPT_VERSION"
echo "== policy:    $PAIRS (CIDR, port) pairs in 100 zones; $(grep -c '^-A INPUT' "$IPT_RULES") iptables rules"
echo "== client:    $CLI_ADDR -> $SRV_ADDR:$PORT, allowed only by the last pair ($LAST_NET.0/24 tcp/$PORT):"
echo "              the worst case for the linear ruleset"

# --- 1. apply time ------------------------------------------------------------
APPLY_STATE=$WORK/state-apply
# Both tools are checked once before timing, so a failure is reported
# clearly rather than as a hyperfine error.
in_apply "$PORTREEVE" -q --state-dir "$APPLY_STATE" apply --policy "$POLICY" >/dev/null ||
    die "portreeve apply failed"
in_apply nft flush ruleset
in_apply iptables-restore "$IPT_RULES" || die "iptables-restore failed"
in_apply nft flush ruleset

q() { printf '%q' "$1"; }
PR=$(q "$PORTREEVE")
echo
echo "== 1. apply time (hyperfine: 2 warm-up runs + $RUNS runs; ruleset flushed before each run)"
in_apply hyperfine -N --style none --output=null --warmup 2 --runs "$RUNS" \
    --export-json "$WORK/apply.json" \
    --prepare "nft flush ruleset" -n "portreeve apply" \
    "$PR -q --state-dir $(q "$APPLY_STATE") apply --policy $(q "$POLICY")" \
    --prepare "nft flush ruleset" -n "iptables-restore" "iptables-restore $(q "$IPT_RULES")" \
    --prepare "nft flush ruleset" -n "portreeve render" "$PR -q render --policy $(q "$POLICY")" \
    --prepare "nft flush ruleset" -n "nft -f rendered" "nft -f $(q "$RENDERED")" >/dev/null

python3 - "$WORK/apply.json" "$PAIRS" <<'EOF' | tee "$WORK/apply.txt"
import json, sys

results = json.load(open(sys.argv[1]))["results"]
pairs = int(sys.argv[2])
by_name = {r["command"]: r for r in results}
ref = by_name["portreeve apply"]["mean"]
notes = {
    "portreeve apply": f"(reference: {pairs} pairs)",
    "portreeve render": "parse + compile + render, no kernel",
    "nft -f rendered": "nft alone loading the rendered ruleset",
}
width = max(len(r["command"]) for r in results)
print(f"{'command':<{width}}  {'runs':>4}  {'mean ± stddev (ms)':>20}  vs portreeve apply")
for r in results:
    mean, sd, name = r["mean"], r["stddev"] or 0.0, r["command"]
    ratio = mean / ref
    if name in notes and name != "iptables-restore":
        rel = notes[name]
        if name != "portreeve apply":
            rel = f"{ratio:.2f}x; {rel}"
    elif ratio >= 1:
        rel = f"{name} is {ratio:.2f}x slower"
    else:
        rel = f"{name} is {1 / ratio:.2f}x faster"
    print(f"{name:<{width}}  {len(r['times']):>4}  {mean * 1e3:>11.1f} ± {sd * 1e3:>6.1f}  {rel}")
ipt = by_name["iptables-restore"]["mean"]
print()
print(f"apply ratio portreeve/iptables-restore = {ref / ipt:.2f}")
verdict = "PASS" if ref < 0.200 else "FAIL"
print(f"portreeve apply: {ref * 1e3:.0f} ms (target < 200 ms): {verdict}")
EOF

# Where an apply spends its time: every command it runs, from execve to
# exit, and the rest (portreeve itself). --seccomp-bpf stops the tracee only
# at the traced calls, so the run is barely slowed down.
echo
if command -v strace >/dev/null && strace --seccomp-bpf -f -qq -e trace=none true 2>/dev/null; then
    echo "where portreeve apply's time goes (strace -f --seccomp-bpf -e trace=execve,exit_group;"
    echo "the median of 3 traced runs, of those that could be read):"
    for i in 1 2 3; do
        in_apply nft flush ruleset
        in_apply strace -f --seccomp-bpf -qq -ttt -e trace=execve,exit_group -e signal=none \
            -o "$WORK/apply.strace.$i" \
            "$PORTREEVE" -q --state-dir "$APPLY_STATE" apply --policy "$POLICY" >/dev/null ||
            die "traced portreeve apply failed"
    done
    python3 - "$WORK"/apply.strace.* <<'EOF'
import re, sys
from collections import defaultdict


def parse(path):
    """(total, {command: [durations]}) of one traced run, or None when the
    trace lacks portreeve's own execve or exit (strace can print a call in
    two pieces when processes interleave)"""
    start, end, argv = {}, {}, {}
    root = None
    for line in open(path):
        m = re.match(r"(\d+) (\d+\.\d+) (execve|exit_group)\((.*)", line)
        if not m:
            continue
        pid, t, call, rest = int(m[1]), float(m[2]), m[3], m[4]
        if call == "execve":
            if not rest.rstrip().endswith("= 0"):
                continue  # a PATH lookup that failed
            root = pid if root is None else root
            start[pid] = t
            args = re.search(r"\[(.*?)\], 0x", rest)
            words = re.findall(r'"(?:[^"\\]|\\.)*"', args[1]) if args else ['"?"']
            argv[pid] = " ".join(w.strip('"') for w in words)
        else:
            end[pid] = t
    groups = defaultdict(list)
    for pid in start:
        if pid != root and pid in end:
            # one group per command, whatever set it names
            name = re.sub(r"^(\S+ -j list set) .*", r"\1 …", argv[pid])
            groups[name].append(end[pid] - start[pid])
    if root is None or root not in end:
        return None
    return end[root] - start[root], groups


runs = sorted((r for r in map(parse, sys.argv[1:]) if r), key=lambda r: r[0])
if not runs:
    print("  (no trace could be read; breakdown skipped)")
    sys.exit(0)
total, groups = runs[len(runs) // 2]
children = sum(sum(v) for v in groups.values())
for name, times in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
    count = f" ({len(times)} times)" if len(times) > 1 else ""
    print(f"  {sum(times) * 1e3:8.1f} ms  {sum(times) / total:4.0%}  {name}{count}")
print(f"  {(total - children) * 1e3:8.1f} ms  {(total - children) / total:4.0%}  "
      "portreeve itself (policy, compile, render, state dir, process start-up)")
print(f"  {total * 1e3:8.1f} ms  100%  total")
EOF
else
    echo "(install strace, version 5.3 or later, for a breakdown of portreeve apply)"
fi

# --- 2. new-connection throughput ------------------------------------------------
mkdir -p "$WORK/www" "$WORK/nginx"
printf 'ok\n' >"$WORK/www/index.html"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user root;
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 0;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen $PORT backlog=4096;
        root $WORK/www;
    }
}
EOF
# Not via in_srv: a function would run in a subshell and $! would not be nginx.
ip netns exec "$NS_SRV" "$NGINX" -e "$WORK/nginx-error.log" -p "$WORK/nginx" -c "$WORK/nginx.conf" &
NGINX_PID=$!
SRV_STATE=$WORK/state-srv

# probe SRC DST: "open", "refused" or "blocked" (no answer within a second)
probe() {
    in_cli python3 - "$1" "$2" "$PORT" <<'EOF'
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.settimeout(1.0)
s.bind((src, 0))
try:
    s.connect((dst, port))
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("blocked")
EOF
}

t0=$SECONDS
until [[ $(probe "$CLI_ADDR" "$SRV_ADDR") == open ]]; do
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$WORK/nginx-error.log" 2>/dev/null)"
    ((SECONDS - t0 < 10)) || die "nginx did not start listening on $SRV_ADDR:$PORT"
    sleep 0.2
done

CONDITIONS=(a b c d e)
declare -A LABEL=(
    [a]="(a) no ruleset"
    [b]="(b) portreeve, $PAIRS pairs"
    [c]="(c) iptables, $PAIRS linear rules"
    [d]="(d) portreeve, 1 pair (control)"
    [e]="(e) minimal stateful nft (control)"
)
STATEFUL=$WORK/stateful.nft
cat >"$STATEFUL" <<EOF
table inet bench {
    chain input {
        type filter hook input priority filter; policy accept;
        iif "lo" accept
        ct state established,related accept
        ip saddr $LAST_NET.0/24 tcp dport $PORT accept
        drop
    }
}
EOF

# in_place COND: a description of the ruleset in the server namespace, and
# whether it is the one COND needs (status 0) or not (status 1).
in_place() {
    local lines elems rules
    lines=$(in_srv nft list ruleset 2>/dev/null | wc -l)
    # An absent table or set counts as 0.
    elems=$(in_srv nft list set inet portreeve allowed_v4 2>/dev/null | grep -o '\. tcp \.' | wc -l || true)
    rules=$(in_srv iptables -S INPUT 2>/dev/null | grep -c '^-A INPUT' || true)
    case $1 in
    a)
        echo "nft list ruleset: $lines lines"
        ((lines == 0))
        ;;
    b | d)
        local want=$PAIRS
        [[ $1 == d ]] && want=1
        echo "allowed_v4: $elems elements (expected $want)"
        ((elems == want && rules == 0))
        ;;
    c)
        echo "iptables -S INPUT: $rules -A rules (expected $((PAIRS + 3)))"
        ((rules == PAIRS + 3 && elems == 0))
        ;;
    e)
        local table=absent
        in_srv nft list table inet bench >/dev/null 2>&1 && table=present
        echo "table inet bench: $table"
        [[ $table == present ]] && ((elems == 0 && rules == 0))
        ;;
    esac
}

set_condition() {
    in_srv nft flush ruleset
    case $1 in
    b) in_srv "$PORTREEVE" -q --state-dir "$SRV_STATE" apply --policy "$POLICY" >/dev/null ;;
    c) in_srv iptables-restore "$IPT_RULES" ;;
    d) in_srv "$PORTREEVE" -q --state-dir "$SRV_STATE" apply --policy "$POLICY1" >/dev/null ;;
    e) in_srv nft -f "$STATEFUL" ;;
    esac
    # Every run starts with an empty connection-tracking table.
    in_srv conntrack -F >/dev/null 2>&1 || true
}

# parse_wrk FILE: requests/s, requests, and errors (socket errors of every
# kind plus non-2xx/3xx responses) from wrk's output
parse_wrk() {
    python3 - "$1" <<'EOF'
import re, sys
out = open(sys.argv[1]).read()
rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
req = re.search(r"(\d+) requests in", out)
errs = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs += int(non2xx.group(1)) if non2xx else 0
print(rps.group(1) if rps else 0, req.group(1) if req else 0, errs)
EOF
}

URL=http://$SRV_ADDR:$PORT/
WRK=(wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -H "Connection: close")
echo
echo "== 2. new connections per second: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${DURATION}s -H 'Connection: close' $URL"
echo "   $ROUNDS interleaved rounds of (a) to (e); nginx in $NS_SRV, wrk in $NS_CLI"
# Warm-up (not counted): the first run after start-up is slower.
in_cli "${WRK[@]}" -d 2s "$URL" >/dev/null

checks=PASS
RESULTS=$WORK/throughput.tsv
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
    for c in "${CONDITIONS[@]}"; do
        set_condition "$c"
        if ! state=$(in_place "$c"); then
            state="$state: WRONG RULESET"
            checks=FAIL
        fi
        denied=$(probe "$CLI_DENIED" "$SRV_DENIED")
        want_denied=blocked
        [[ $c == a ]] && want_denied=open
        if [[ $denied != "$want_denied" ]]; then
            checks=FAIL
            denied="$denied (expected $want_denied): CHECK FAILED"
        fi
        in_cli "${WRK[@]}" -d "${DURATION}s" "$URL" >"$WORK/wrk.out"
        read -r rps requests errors < <(parse_wrk "$WORK/wrk.out")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$round" "$rps" "$requests" "$errors" "$denied" >>"$RESULTS"
        printf '   round %d %-36s %8.0f conn/s  errors %-6s  %s; source %s: %s\n' \
            "$round" "${LABEL[$c]}" "$rps" "$errors" "$state" "$CLI_DENIED" "$denied"
    done
done
in_srv nft flush ruleset

tp_rc=0
python3 - "$RESULTS" "${LABEL[a]}" "${LABEL[b]}" "${LABEL[c]}" "${LABEL[d]}" "${LABEL[e]}" >"$WORK/throughput.txt" <<'EOF' || tp_rc=$?
import statistics, sys
from collections import defaultdict

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
labels = dict(zip("abcde", sys.argv[2:7]))
rps, reqs, errs = defaultdict(list), defaultdict(int), defaultdict(int)
for cond, _round, r, n, e, _denied in rows:
    rps[cond].append(float(r))
    reqs[cond] += int(n)
    errs[cond] += int(e)
med = {c: statistics.median(v) for c, v in rps.items()}
ref = med["a"]
width = max(len(v) for v in labels.values())
print()
print(f"{'condition':<{width}}  {'median conn/s':>13}  {'min':>8}  {'max':>8}  {'vs (a)':>7}  socket errors")
bad = False
for c in "abcde":
    share = errs[c] / max(reqs[c], 1)
    bad |= share > 0.01 or reqs[c] == 0
    print(f"{labels[c]:<{width}}  {med[c]:>13.0f}  {min(rps[c]):>8.0f}  {max(rps[c]):>8.0f}"
          f"  {med[c] / ref:>6.1%}  {errs[c]} of {reqs[c]} requests ({share:.2%})")
print()
print(f"throughput ratio (b)/(a) portreeve/empty    = {med['b'] / ref:.3f}")
print(f"throughput ratio (c)/(a) iptables/empty     = {med['c'] / ref:.3f}")
print(f"throughput ratio (b)/(c) portreeve/iptables = {med['b'] / med['c']:.2f}")
print(f"throughput ratio (d)/(a) 1-pair portreeve/empty = {med['d'] / ref:.3f} (control)")
print(f"throughput ratio (e)/(a) minimal stateful/empty = {med['e'] / ref:.3f} (control)")
print(f"throughput ratio (b)/(e) portreeve/minimal stateful = {med['b'] / med['e']:.3f}")
verdict = "PASS" if med["b"] / ref >= 0.90 else "FAIL"
print(f"portreeve throughput = {med['b'] / ref:.0%} of empty (target >= 90%): {verdict}")
sys.exit(1 if bad else 0)
EOF
cat "$WORK/throughput.txt"
((tp_rc == 0)) || checks=FAIL

echo
echo "== summary ($PAIRS pairs; client allowed by the last pair: worst case for the linear ruleset)"
grep -E '^(apply ratio|portreeve apply:)' "$WORK/apply.txt"
grep -E '^(throughput ratio \((b|c)\)/\(a\)|throughput ratio \(b\)/\(e\)|portreeve throughput)' "$WORK/throughput.txt"
echo "checks (ruleset in place, non-allowed source blocked, wrk errors <= 1 %): $checks"
[[ $checks == PASS ]] || exit 1
