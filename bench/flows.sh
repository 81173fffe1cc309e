#!/usr/bin/env bash
# Benchmark: flow telemetry. Decode + aggregate throughput on one core for
# NetFlow v9, IPFIX and sFlow, and the highest loss-free ingest rate over UDP
# on loopback of `portreeve collect` against nfcapd (nfdump, from Debian)
# receiving the same replayed datagrams from the same sender, in the same run.
#
# Inputs are the real exporters' captures in ../shared/testdata/flows (see
# its README); nothing synthetic.
#
# a. Decode + aggregate, one core: the cargo example
#    crates/flows/examples/flows_throughput.rs replays each protocol's data
#    datagrams (after their templates) through portreeve's Decoder and
#    Aggregator in one thread for DECODE_SECONDS each; records/s per
#    protocol. Target: >= 1,000,000 records/s per core. Also shown: the
#    same loop without the aggregator (decode alone), and the stream of c.
#    by itself, whose cost per datagram is set against the collector's CPU
#    time per datagram received in c. (the difference: the receive path).
# b. The sender alone: crates/flows/examples/flows_replay.rs (a connected
#    UDP socket; sendmmsg batches of up to 64 datagrams, and UDP GSO
#    (UDP_SEGMENT) for runs of the equal-size data datagrams, which the
#    kernel splits into the same datagrams before any receiver sees them;
#    paced, it sends what is due then sleeps until the next datagram is due
#    but at least 250 us, so datagrams come in bursts of about
#    rate x 0.3 ms, e.g. 90 at 300,000/s, far less than either collector's
#    buffer holds) sending as fast as it can for SENDER_SECONDS (1) to a
#    socket nobody reads, and (2) to a trivial receiver (flows_replay
#    --drain: receives in the same recvmmsg batches as portreeve and
#    counts, nothing else) on the other CPU. (2) is the ceiling of every
#    rate below: on loopback the sender's CPU also pays for delivering
#    each datagram into the receiver's socket, and this machine has two
#    CPUs, one for the sender and one for the collector. (With one send()
#    per datagram the ceiling here was 662,000/s, below 3x nfcapd's rate;
#    GSO makes the delivery about half as dear. SENDER_GSO=0 turns it off.)
# c. Loss-free ingest, NetFlow v9 (the format both collectors support). The
#    stream: SETUP_FILES (templates and options: a Cisco-style export with
#    an options template, options data carrying sampling rates and a data
#    template) first, then DATA_FILES over and over (1,344-byte datagrams of
#    12 flow records each), the setup datagrams again before every
#    SETUP_EVERY-th data datagram (template refresh, so both collectors have
#    the templates whatever they lost); v9 sequence numbers count up per
#    datagram as a live exporter's do. Each collector runs alone, freshly
#    started for every step, bound to 127.0.0.1:
#      portreeve collect --netflow 127.0.0.1:P --flush 1s --format json
#        (one receive thread; decodes, aggregates per server port, and
#        stores the aggregates every second in a fresh state directory, its
#        normal job; PORTREEVE_STORE=0 adds --no-store)
#      nfcapd -w DIR -p P -b 127.0.0.1 -B RCVBUF -t 3600
#        (receives, decodes and writes every flow record to its file, its
#        normal job; DIR is on tmpfs (/dev/shm) unless NFCAPD_DIR is set, so
#        nfcapd never waits for a disk: its best case)
#    Both sockets get RCVBUF bytes of receive buffer: portreeve forces 32 MiB
#    as root; nfcapd asks with -B, which the kernel caps at
#    net.core.rmem_max, so the script raises that sysctl to RCVBUF for the
#    run if it is lower and restores it on exit (EQUAL_RCVBUF=0 leaves it
#    alone). The granted buffers are printed (ss: rb).
#    A step: start the collector, send at RATE datagrams/s for STEP_SECONDS,
#    wait until the socket's receive queue is empty, stop the collector
#    (SIGTERM) and count the flow records it received (portreeve: totals in
#    its JSON; nfcapd: `nfdump -r FILE -I` flows of its files). Received % =
#    records / (data datagrams sent x records per data datagram as that
#    collector counts them), the last measured by a calibration step at
#    1,000 datagrams/s. Shown with each step: the kernel's drop count for
#    the socket (where every loss happens: the collector did not read fast
#    enough), the collector's CPU use (all its threads, % of one core, from
#    the start of sending until drained) and that CPU time per datagram
#    received (its cost, whatever the sender does).
#    Rates: START_RATE, doubling until the collector receives less than
#    THRESHOLD % (default 99.9) or the sender cannot reach the rate (the
#    achieved rate is below 98 % of the asked one) or MAX_RATE; then
#    BISECT_STEPS geometric bisections between the highest good and lowest
#    bad rate. The whole search runs ROUNDS times, the collectors taking
#    turns (nfcapd first in odd rounds, portreeve in even ones), because
#    where a collector starts losing moves by 10-20 % from one run to the
#    next here. Reported per collector: its curve (every step of every
#    round), per round the highest rate at which it received >= THRESHOLD %
#    and the highest at which it lost nothing (100 %), and their medians
#    over the rounds, in datagrams/s and records/s; the ratios
#    portreeve/nfcapd of the medians (and per round). Target: portreeve's
#    loss-free rate >= 3x nfcapd's, judged at THRESHOLD. When portreeve
#    never fell below the threshold up to the sender's ceiling, that is
#    said, and the ratio is a lower bound.
#
# Targets are reported, not enforced. The script exits 1 if a check fails
# (a collector decodes nothing at the calibration rate, or counts more
# records than were sent) and 2 on a usage or setup error.
#
# Usage: bench/flows.sh   (as root: nfdump is installed if missing, and
#                          net.core.rmem_max may be raised for the run)
#
# Environment:
#   DECODE_SECONDS=3    seconds per protocol in a.
#   SENDER_SECONDS=3    seconds per sender measurement in b.
#   STEP_SECONDS=3      seconds of sending per step in c.
#   ROUNDS=2            searches per collector in c. (3 takes about 2
#                       minutes more)
#   START_RATE=10000    first rate in c., datagrams/s
#   MAX_RATE=2000000    no step above this rate
#   BISECT_STEPS=4      bisections after the doubling phase (stops earlier
#                       when good and bad are within 5 %)
#   THRESHOLD=99.9      % of the records a "good" step must receive
#   SETUP_EVERY=1000    data datagrams between two sends of the setup ones
#   SETUP_FILES DATA_FILES  comma-separated captures under
#                       ../shared/testdata/flows (defaults: the
#                       netflow/multiplesamplingrates-* set, see c.)
#   RCVBUF=33554432     receive buffer for both collectors, bytes
#   EQUAL_RCVBUF=1      raise net.core.rmem_max to RCVBUF for the run
#   PORTREEVE_STORE=1   0: portreeve collect --no-store
#   SENDER_GSO=1        0: the sender passes --no-gso (one buffer per
#                       datagram)
#   NFCAPD_DIR          where nfcapd's files go (default /dev/shm, else the
#                       work directory); each step's are deleted after it
#   PORTREEVE_BIN, THROUGHPUT_BIN, REPLAY_BIN  use these binaries instead of
#                       building (all three must be given)
#
# Requires python3 and jq, iproute2 (ss), nfdump (installed with apt-get if
# missing) and, unless the binaries are given, cargo. Only loopback traffic
# (127.0.0.1) is sent. Everything is written under a fresh temporary
# directory, removed with every child process on exit, on failure and on
# Ctrl-C. The defaults take about 4 minutes after the build.

set -euo pipefail
shopt -s inherit_errexit

DECODE_SECONDS=${DECODE_SECONDS:-3}
SENDER_SECONDS=${SENDER_SECONDS:-3}
STEP_SECONDS=${STEP_SECONDS:-3}
ROUNDS=${ROUNDS:-2}
START_RATE=${START_RATE:-10000}
MAX_RATE=${MAX_RATE:-2000000}
BISECT_STEPS=${BISECT_STEPS:-4}
THRESHOLD=${THRESHOLD:-99.9}
SETUP_EVERY=${SETUP_EVERY:-1000}
SETUP_FILES=${SETUP_FILES:-netflow/multiplesamplingrates-options-template.pcap,netflow/multiplesamplingrates-options-data.pcap,netflow/multiplesamplingrates-template.pcap}
DATA_FILES=${DATA_FILES:-netflow/multiplesamplingrates-data.pcap}
RCVBUF=${RCVBUF:-33554432}
EQUAL_RCVBUF=${EQUAL_RCVBUF:-1}
PORTREEVE_STORE=${PORTREEVE_STORE:-1}
SENDER_GSO=${SENDER_GSO:-1}
TARGET_DECODE=1000000
TARGET_RATIO=3
CALIBRATION_RATE=1000
DRAIN_TIMEOUT=30

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

die() {
    echo "flows.sh: $*" >&2
    exit 2
}

for v in DECODE_SECONDS SENDER_SECONDS STEP_SECONDS ROUNDS START_RATE MAX_RATE BISECT_STEPS SETUP_EVERY RCVBUF; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((DECODE_SECONDS >= 1 && SENDER_SECONDS >= 1 && STEP_SECONDS >= 1 && ROUNDS >= 1)) ||
    die "DECODE_SECONDS, SENDER_SECONDS, STEP_SECONDS and ROUNDS must be at least 1"
((START_RATE >= 1000 && MAX_RATE >= START_RATE)) ||
    die "START_RATE must be at least 1000 and MAX_RATE at least START_RATE"
((SETUP_EVERY >= 1 && RCVBUF >= 65536)) || die "SETUP_EVERY must be at least 1, RCVBUF at least 65536"
if ! [[ $THRESHOLD =~ ^[0-9]+(\.[0-9]+)?$ ]] || ! awk -v t="$THRESHOLD" 'BEGIN { exit !(t > 0 && t <= 100) }'; then
    die "THRESHOLD must be a percentage in (0, 100], got '$THRESHOLD'"
fi
[[ $EQUAL_RCVBUF =~ ^[01]$ && $PORTREEVE_STORE =~ ^[01]$ ]] || die "EQUAL_RCVBUF and PORTREEVE_STORE must be 0 or 1"
[[ $(id -u) -eq 0 ]] || die "must run as root (portreeve forces its receive buffer; rmem_max; apt-get); try: sudo $0"
# The threshold in parts per million, for integer comparisons.
THRESHOLD_PPM=$(awk -v t="$THRESHOLD" 'BEGIN { printf "%d", t * 10000 + 0.5 }')

# --- prerequisites ----------------------------------------------------------
missing=()
command -v python3 >/dev/null || missing+=("python3")
command -v jq >/dev/null || missing+=("jq")
command -v ss >/dev/null || missing+=("ss (iproute2)")
if ((${#missing[@]})); then
    die "missing: ${missing[*]} (Debian: apt-get install python3 jq iproute2)"
fi
if ! command -v nfcapd >/dev/null || ! command -v nfdump >/dev/null; then
    echo "installing nfdump: apt-get install -y --no-install-recommends nfdump" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nfdump >/dev/null ||
        die "could not install nfdump (Debian: apt-get install nfdump)"
fi
NFCAPD_VERSION=$(nfcapd -V 2>&1 | head -n 1)

# --- binaries -----------------------------------------------------------------
if [[ -n ${PORTREEVE_BIN:-} && -n ${THROUGHPUT_BIN:-} && -n ${REPLAY_BIN:-} ]]; then
    PORTREEVE=$PORTREEVE_BIN THROUGHPUT=$THROUGHPUT_BIN REPLAY=$REPLAY_BIN
else
    command -v cargo >/dev/null || die "missing: cargo (or set PORTREEVE_BIN, THROUGHPUT_BIN and REPLAY_BIN)"
    echo "building portreeve and the flows examples (cargo build --release)" >&2
    (cd "$REPO_ROOT" && cargo build --release --quiet -p portreeve &&
        cargo build --release --quiet -p portreeve-flows --example flows_throughput --example flows_replay) ||
        die "cargo build failed"
    PORTREEVE=$REPO_ROOT/target/release/portreeve
    THROUGHPUT=$REPO_ROOT/target/release/examples/flows_throughput
    REPLAY=$REPO_ROOT/target/release/examples/flows_replay
fi
for b in "$PORTREEVE" "$THROUGHPUT" "$REPLAY"; do
    [[ -x $b ]] || die "binary not found or not executable: $b"
done

# --- work directory, children and clean-up ------------------------------------
WORK=$(mktemp -d -t portreeve-flows-bench.XXXXXX)
if [[ -n ${NFCAPD_DIR:-} ]]; then
    [[ -d $NFCAPD_DIR ]] || die "NFCAPD_DIR $NFCAPD_DIR is not a directory"
    NF_BASE=$(mktemp -d -p "$NFCAPD_DIR" portreeve-flows-nfcapd.XXXXXX)
elif [[ -d /dev/shm && $(stat -f -c %T /dev/shm) == tmpfs ]]; then
    NF_BASE=$(mktemp -d -p /dev/shm portreeve-flows-nfcapd.XXXXXX)
else
    NF_BASE=$WORK/nfcapd
    mkdir -p "$NF_BASE"
fi
CHILDREN=()
RMEM_RESTORE=

cleanup() {
    local rc=$? pid tries
    set +e
    trap - EXIT INT TERM
    for pid in "${CHILDREN[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${CHILDREN[@]}"; do
        tries=0
        while kill -0 "$pid" 2>/dev/null && ((tries++ < 50)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [[ -n $RMEM_RESTORE ]] && sysctl -qw net.core.rmem_max="$RMEM_RESTORE"
    rm -rf -- "$WORK" "$NF_BASE"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# forget PID: a child that has been waited for
forget() {
    local keep=() p
    for p in "${CHILDREN[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    CHILDREN=("${keep[@]}")
}

# stop_child PID: SIGTERM, up to 20 s to exit, then SIGKILL; reaps it
stop_child() {
    local tries=0
    kill -TERM "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null && ((tries++ < 200)); do sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

if ((EQUAL_RCVBUF)); then
    current=$(sysctl -n net.core.rmem_max)
    if ((current < RCVBUF)); then
        RMEM_RESTORE=$current
        sysctl -qw net.core.rmem_max="$RCVBUF" || die "cannot raise net.core.rmem_max"
        echo "net.core.rmem_max raised from $current to $RCVBUF for the run (restored on exit)" >&2
    fi
fi

# A free UDP port on 127.0.0.1 (not in /proc/net/udp; randomised, so
# concurrent runs are unlikely to collide).
free_port() {
    local port hex
    while :; do
        port=$((20000 + RANDOM % 40000))
        printf -v hex '0100007F:%04X' "$port"
        grep -q " $hex " /proc/net/udp || {
            echo "$port"
            return
        }
    done
}

# udp_row PORT: "RX_QUEUE_BYTES DROPS" of the socket bound to 127.0.0.1:PORT,
# nothing if there is none
udp_row() {
    local queue drops
    read -r queue drops < <(awk -v want="$(printf '0100007F:%04X' "$1")" '
        $2 == want { split($5, q, ":"); print q[2], $NF; exit }
    ' /proc/net/udp) || return 0
    echo "$((16#$queue)) $drops"
}

# wait_bound PORT PID: until something listens on 127.0.0.1:PORT
wait_bound() {
    local t0=$SECONDS
    until [[ -n $(udp_row "$1") ]]; do
        kill -0 "$2" 2>/dev/null || return 1
        ((SECONDS - t0 < 10)) || return 1
        sleep 0.05
    done
}

# wait_drained PORT: until the socket's receive queue is empty (twice in a row)
wait_drained() {
    local t0=$SECONDS empty=0 row
    while ((empty < 2)); do
        row=$(udp_row "$1")
        [[ -z $row ]] && return 1
        if [[ ${row%% *} == 0 ]]; then
            empty=$((empty + 1))
        else
            empty=0
        fi
        ((SECONDS - t0 < DRAIN_TIMEOUT)) || return 1
        sleep 0.05
    done
}

# cpu_ticks PID: user + system clock ticks of the process, all its threads
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
CLK_TCK=$(getconf CLK_TCK)

# rcvbuf PORT: the receive buffer the kernel granted the socket (ss: rb)
rcvbuf() {
    ss -uamn "sport = :$1" | grep -o 'rb[0-9]*' | head -n 1 | tr -d rb
}

REPLAY_ARGS=(--setup "$SETUP_FILES" --data "$DATA_FILES" --setup-every "$SETUP_EVERY")
[[ $SENDER_GSO == 1 ]] || REPLAY_ARGS+=(--no-gso)
DESCRIBE=$("$REPLAY" --describe "${REPLAY_ARGS[@]}") || die "flows_replay --describe failed (are the captures there?)"
RPD_PORTREEVE_DECODER=$(jq -r .records_per_data_datagram <<<"$DESCRIBE")

echo "== portreeve: $PORTREEVE"
echo "== nfcapd:    $NFCAPD_VERSION"
echo "== machine:   $(nproc) CPUs, $(uname -r); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

# --- a. decode + aggregate ------------------------------------------------------
echo
echo "== a. decode + aggregate, one core (flows_throughput, ${DECODE_SECONDS}s per protocol)"
"$THROUGHPUT" "$DECODE_SECONDS" >"$WORK/decode.json" || die "flows_throughput failed"
jq -e '.results' "$WORK/decode.json" >/dev/null || die "flows_throughput: $(cat "$WORK/decode.json")"
python3 - "$WORK/decode.json" "$TARGET_DECODE" <<'EOF' | tee "$WORK/decode.txt"
import json, sys

results = json.load(open(sys.argv[1]))["results"]
target = int(sys.argv[2])
names = {"netflow_v9": "NetFlow v9", "ipfix": "IPFIX", "sflow5": "sFlow v5"}
rows = dict(names, netflow_v9_ingest="v9 stream c.")
print(f"{'protocol':<12} {'records/s':>12} {'datagrams/s':>12} {'records/datagram':>16}  {'dropped':>7}"
      f"  {'ns/datagram':>11}  {'of which decode':>15}  {'decode only, records/s':>22}")
for key, name in rows.items():
    r = results.get(key)
    if r is None:
        continue
    per = r["records_per_pass"] / r["datagrams_per_pass"]
    print(f"{name:<12} {r['records_per_second']:>12,.0f} {r['datagrams_per_second']:>12,.0f}"
          f" {per:>16.1f}  {r['dropped']:>7}  {r['ns_per_datagram']:>11,.0f}"
          f"  {r['decode_only_ns_per_datagram']:>15,.0f}  {r['decode_only_records_per_second']:>22,.0f}")
print("(v9 stream c.: the capture replayed over UDP in c., alone; ns/datagram: decode + aggregate;")
print(" of which decode: the same loop without the aggregator)")
print()
for key, name in names.items():
    rps = results[key]["records_per_second"]
    verdict = "PASS" if rps >= target else "FAIL"
    print(f"decode+aggregate {name}: {rps:,.0f} records/s per core (target >= {target:,}): {verdict}")
EOF

# --- b. the sender alone ----------------------------------------------------------
echo
echo "== b. the sender alone (flows_replay, unpaced, ${SENDER_SECONDS}s)"
echo "   stream: $DESCRIBE"
SINK_PORT=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(int(sys.argv[2]))' "$SINK_PORT" $((SENDER_SECONDS + 30)) &
SINK_PID=$!
CHILDREN+=("$SINK_PID")
wait_bound "$SINK_PORT" "$SINK_PID" || die "the unread sink did not bind"
"$REPLAY" --to "127.0.0.1:$SINK_PORT" --seconds "$SENDER_SECONDS" "${REPLAY_ARGS[@]}" >"$WORK/sink.json"
stop_child "$SINK_PID"
DRAIN_PORT=$(free_port)
"$REPLAY" --drain "127.0.0.1:$DRAIN_PORT" --seconds $((SENDER_SECONDS + 30)) --idle 1 >"$WORK/drain.json" &
DRAIN_PID=$!
CHILDREN+=("$DRAIN_PID")
wait_bound "$DRAIN_PORT" "$DRAIN_PID" || die "the trivial drain did not bind"
"$REPLAY" --to "127.0.0.1:$DRAIN_PORT" --seconds "$SENDER_SECONDS" "${REPLAY_ARGS[@]}" >"$WORK/drained.json"
wait "$DRAIN_PID" || die "the trivial drain failed"
forget "$DRAIN_PID"
SENDER_CEILING=$(jq -r .rate "$WORK/drained.json")
python3 - "$WORK/sink.json" "$WORK/drained.json" "$WORK/drain.json" "$RPD_PORTREEVE_DECODER" <<'EOF' | tee "$WORK/sender.txt"
import json, sys

sink, sent, drain = (json.load(open(p)) for p in sys.argv[1:4])
rpd = float(sys.argv[4])
def records(s):
    return s["sent_data"] * rpd / s["seconds"]
print(f"to a socket nobody reads:     {sink['rate']:>10,.0f} datagrams/s ({records(sink):,.0f} records/s)")
print(f"to a trivial receiver:        {sent['rate']:>10,.0f} datagrams/s ({records(sent):,.0f} records/s);"
      f" the receiver got {drain['received'] / sent['sent']:.1%} of them ({drain['rate']:,.0f}/s;"
      " its receive buffer is the system default)")
print(f"sender's ceiling (with a receiver on the other CPU): {sent['rate']:,.0f} datagrams/s")
EOF

# --- c. loss-free ingest ------------------------------------------------------------
RESULTS=$WORK/ingest.tsv
: >"$RESULTS"
declare -A RPD RB
COLLECTOR_PID=
STEP=0
ROUND=0
checks=PASS

# start_collector NAME PORT DIR: starts it in the background (COLLECTOR_PID)
start_collector() {
    local name=$1 port=$2 dir=$3
    mkdir -p "$dir"
    case $name in
    portreeve)
        local store=()
        ((PORTREEVE_STORE)) || store=(--no-store)
        "$PORTREEVE" --state-dir "$dir/state" collect --netflow "127.0.0.1:$port" --flush 1s \
            --format json "${store[@]}" >"$dir/out.json" 2>"$dir/err.log" &
        ;;
    nfcapd)
        mkdir -p "$dir/files"
        nfcapd -w "$dir/files" -p "$port" -b 127.0.0.1 -B "$RCVBUF" -t 3600 >"$dir/out.log" 2>&1 &
        ;;
    esac
    COLLECTOR_PID=$!
    CHILDREN+=("$COLLECTOR_PID")
}

# received NAME DIR: "RECORDS EXTRA" counted by the stopped collector
# (EXTRA: portreeve's datagrams, nfcapd's sequence errors)
received() {
    local name=$1 dir=$2 f flows=0 n
    case $name in
    portreeve)
        jq -r '"\(.totals.records) \(.totals.datagrams)"' "$dir/out.json" 2>/dev/null || echo "0 0"
        ;;
    nfcapd)
        for f in "$dir"/files/nfcapd.*; do
            [[ -e $f ]] || continue
            n=$(nfdump -r "$f" -I 2>/dev/null | awk '$1 == "Flows:" { print $2; exit }')
            flows=$((flows + ${n:-0}))
        done
        n=$(grep -o 'Sequence Errors: [0-9]*' "$dir/out.log" | tail -n 1 | grep -o '[0-9]*$' || true)
        echo "$flows ${n:-?}"
        ;;
    esac
}

# measure NAME RATE SECONDS: one step; appends a row to RESULTS and sets
# M_PPM (received, parts per million) and M_SENDER_BOUND (1 if the sender
# could not reach RATE)
measure() {
    local name=$1 rate=$2 seconds=$3 port dir row t_start t_end c_start c_end
    STEP=$((STEP + 1))
    port=$(free_port)
    if [[ $name == nfcapd ]]; then dir=$NF_BASE/step$STEP; else dir=$WORK/step$STEP; fi
    start_collector "$name" "$port" "$dir"
    wait_bound "$port" "$COLLECTOR_PID" || die "$name did not start listening on 127.0.0.1:$port: $(cat "$dir"/*.log 2>/dev/null)"
    [[ -n ${RB[$name]:-} ]] || RB[$name]=$(rcvbuf "$port")
    c_start=$(cpu_ticks "$COLLECTOR_PID")
    t_start=$(date +%s.%N)
    "$REPLAY" --to "127.0.0.1:$port" --rate "$rate" --seconds "$seconds" "${REPLAY_ARGS[@]}" >"$dir/send.json" ||
        die "flows_replay failed"
    wait_drained "$port" || echo "flows.sh: warning: $name's receive queue did not drain in ${DRAIN_TIMEOUT}s" >&2
    t_end=$(date +%s.%N)
    c_end=$(cpu_ticks "$COLLECTOR_PID")
    row=$(udp_row "$port")
    local drops=${row#* }
    [[ -n $row ]] || drops=0
    stop_child "$COLLECTOR_PID"
    local got extra
    read -r got extra < <(received "$name" "$dir")
    local sent sent_data achieved send_seconds errors
    read -r sent sent_data achieved send_seconds errors < <(jq -r '"\(.sent) \(.sent_data) \(.rate) \(.seconds) \(.send_errors)"' "$dir/send.json")
    if [[ $rate == "$CALIBRATION_RATE" && -z ${RPD[$name]:-} ]]; then
        # Calibration: records per data datagram as this collector counts them.
        ((got > 0 && sent_data > 0)) || {
            echo "CHECK FAILED: $name counted $got records from $sent_data data datagrams" >&2
            checks=FAIL
            RPD[$name]=$RPD_PORTREEVE_DECODER
        }
        [[ -n ${RPD[$name]:-} ]] || RPD[$name]=$(awk -v g="$got" -v s="$sent_data" 'BEGIN { printf "%.6f", g / s }')
    fi
    local expected
    expected=$(awk -v s="$sent_data" -v r="${RPD[$name]}" 'BEGIN { printf "%.0f", s * r }')
    if ((got > expected)); then
        echo "CHECK FAILED: $name counted $got records, more than the $expected sent" >&2
        checks=FAIL
    fi
    if ((got >= expected)); then
        M_PPM=1000000
    else
        M_PPM=$(awk -v g="$got" -v e="$expected" 'BEGIN { printf "%d", g * 1000000 / e }')
    fi
    M_SENDER_BOUND=$(awk -v a="$achieved" -v r="$rate" 'BEGIN { print (a < 0.98 * r) ? 1 : 0 }')
    local cpu
    cpu=$(awk -v c=$((c_end - c_start)) -v hz="$CLK_TCK" -v a="$t_start" -v b="$t_end" \
        'BEGIN { printf "%.0f", 100 * c / hz / (b - a) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$name" "$rate" "$achieved" \
        "$send_seconds" "$sent" "$sent_data" "$expected" "$got" "$M_PPM" "$drops" "$cpu" "$((c_end - c_start))" \
        "$extra" "$errors" >>"$RESULTS"
    # nfcapd's files are large (about 170 bytes a flow): never keep them.
    rm -rf -- "$dir"
    local records_rate note=
    records_rate=$(awk -v s="$sent_data" -v r="${RPD[$name]}" -v t="$send_seconds" 'BEGIN { printf "%.0f", s * r / t }')
    ((M_SENDER_BOUND)) && note="  (sender-bound)"
    printf '   %-9s asked %8d/s sent %8.0f datagrams/s %9d records/s  received %8.4f %%  socket drops %8d  CPU %3d %%%s\n' \
        "$name" "$rate" "$achieved" "$records_rate" "$(awk -v p="$M_PPM" 'BEGIN { printf "%.4f", p / 10000 }')" \
        "$drops" "$cpu" "$note"
}

# good: the last step received at least THRESHOLD %
good() { ((M_PPM >= THRESHOLD_PPM)); }

# ladder NAME: START_RATE doubling, then bisection (see the header)
ladder() {
    local name=$1 rate=$START_RATE good_rate=0 bad_rate=0 i mid
    echo
    echo "   round $ROUND, $name: doubling from $START_RATE datagrams/s"
    while :; do
        measure "$name" "$rate" "$STEP_SECONDS"
        if good; then
            good_rate=$rate
            ((M_SENDER_BOUND)) && break
            ((rate * 2 <= MAX_RATE)) || break
            rate=$((rate * 2))
        else
            bad_rate=$rate
            ((good_rate > 0)) && break
            # Lost at the first rate already: halve.
            ((rate / 2 >= 1000)) || break
            rate=$((rate / 2))
        fi
    done
    ((good_rate > 0 && bad_rate > 0)) || return 0
    echo "   round $ROUND, $name: bisecting between $good_rate and $bad_rate datagrams/s"
    for ((i = 0; i < BISECT_STEPS; i++)); do
        ((bad_rate * 100 > good_rate * 105)) || break
        mid=$(awk -v a="$good_rate" -v b="$bad_rate" 'BEGIN { printf "%d", int(sqrt(a * b) / 1000 + 0.5) * 1000 }')
        ((mid > good_rate && mid < bad_rate)) || break
        measure "$name" "$mid" "$STEP_SECONDS"
        if good; then good_rate=$mid; else bad_rate=$mid; fi
    done
}

echo
echo "== c. loss-free ingest over UDP on loopback, NetFlow v9 (${STEP_SECONDS}s per step; good: >= $THRESHOLD % received)"
echo "   replayed: setup $SETUP_FILES, then $DATA_FILES; setup again every $SETUP_EVERY data datagrams"
echo "   calibration at $CALIBRATION_RATE datagrams/s for 1 s (records per data datagram as each collector counts them):"
for name in portreeve nfcapd; do
    measure "$name" "$CALIBRATION_RATE" 1
done
echo "   records per data datagram: portreeve ${RPD[portreeve]}, nfcapd ${RPD[nfcapd]} (portreeve's decoder offline: $RPD_PORTREEVE_DECODER)"
echo "   receive buffers granted (ss rb, bytes): portreeve ${RB[portreeve]:-?}, nfcapd ${RB[nfcapd]:-?}"
# The calibration rows are not part of the curves.
: >"$RESULTS"

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    # Alternate which collector goes first.
    if ((ROUND % 2)); then order=(nfcapd portreeve); else order=(portreeve nfcapd); fi
    for name in "${order[@]}"; do
        ladder "$name"
    done
done

echo
python3 - "$RESULTS" "$THRESHOLD" "$TARGET_RATIO" "$SENDER_CEILING" "$MAX_RATE" "$CLK_TCK" "$WORK/decode.json" <<'EOF' | tee "$WORK/ingest.txt"
import json, statistics, sys
from collections import defaultdict

path, threshold, target = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
decode = json.load(open(sys.argv[7]))["results"].get("netflow_v9_ingest")
ceiling, max_rate, hz = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rows = defaultdict(list)
for line in open(path):
    f = line.rstrip("\n").split("\t")
    if len(f) < 15:
        continue
    rnd, name, asked, achieved, secs, sent, data, expected, got, ppm, drops, cpu, ticks, extra, _errors = f
    rows[name].append(dict(round=int(rnd), asked=int(asked), rate=float(achieved), secs=float(secs),
                           sent=int(sent), data=int(data), expected=int(expected), got=int(got),
                           ppm=int(ppm), drops=int(drops), cpu=int(cpu), ticks=int(ticks), extra=extra,
                           bound=float(achieved) < 0.98 * int(asked)))
extra_label = {"portreeve": "datagrams counted", "nfcapd": "sequence errors"}
names = ("nfcapd", "portreeve")
rounds = sorted({r["round"] for v in rows.values() for r in v})


def records_rate(r):
    return r["expected"] / r["secs"]


def fmt(rate, rps):
    return f"{rate:,.0f} datagrams/s ({rps:,.0f} records/s)"


def cpu_us(r):
    """CPU time per datagram received (all the collector's threads)"""
    datagrams = r["got"] / (r["expected"] / r["data"]) * (r["sent"] / r["data"]) if r["expected"] else 0
    return r["ticks"] / hz / datagrams * 1e6 if datagrams else float("nan")


# per (name, round): (best >= threshold, best at 100 %, never fell below the threshold)
best = {}
for name in names:
    steps = sorted(rows[name], key=lambda r: (r["rate"], r["round"]))
    print(f"{name}: rate -> received (all rounds)")
    print(f"  {'round':>5} {'datagrams/s':>11} {'records/s':>11}  {'received %':>10}  {'records':>10} of {'sent':<10}"
          f"  {'socket drops':>12}  {'CPU %':>5}  {'CPU us/datagram':>15}  {extra_label[name]}")
    for r in steps:
        note = "  (sender-bound)" if r["bound"] else ""
        us = cpu_us(r)
        print(f"  {r['round']:>5} {r['rate']:>11,.0f} {records_rate(r):>11,.0f}  {r['ppm'] / 1e4:>10.4f}"
              f"  {r['got']:>10} of {r['expected']:<10}  {r['drops']:>12}  {r['cpu']:>5}  {us:>15.2f}  {r['extra']}{note}")
    print()
    for rnd in rounds:
        mine = [r for r in rows[name] if r["round"] == rnd]
        ok = [r for r in mine if r["ppm"] >= threshold * 1e4]
        full = [r for r in mine if r["ppm"] >= 1_000_000]
        pick = lambda v: max(v, key=lambda r: r["rate"]) if v else None
        best[name, rnd] = (pick(ok), pick(full), len(ok) == len(mine))

print(f"highest rate per round (>= {threshold} % received | 100 % received):")
for name in names:
    for rnd in rounds:
        b, b100, never = best[name, rnd]
        show = lambda r: fmt(r["rate"], records_rate(r)) if r else "none"
        tail = "  (never lost: a lower bound)" if never and b else ""
        print(f"  {name:<9} round {rnd}: {show(b)} | {show(b100)}{tail}")
print()

summary = {}
for name in names:
    per = [best[name, rnd] for rnd in rounds]
    med = []
    for idx in (0, 1):
        got = [p[idx] for p in per if p[idx]]
        med.append((statistics.median(r["rate"] for r in got),
                    statistics.median(records_rate(r) for r in got)) if len(got) == len(per) else None)
    never = all(p[2] for p in per)
    bound = any(p[0] and p[0]["bound"] for p in per)
    summary[name] = (med[0], med[1], never, bound)
    kind = "median over" if len(rounds) > 1 else "of"
    for label, m in ((f">= {threshold} % received", med[0]), ("nothing lost (100 %)", med[1])):
        print(f"{name}: highest rate with {label}, {kind} {len(rounds)} round(s): {fmt(*m) if m else 'none in some round'}")
    if never and med[0]:
        why = "the sender's ceiling" if bound else f"MAX_RATE ({max_rate:,})"
        print(f"{name}: never fell below {threshold} % up to {why} of {fmt(*med[0])}:"
              " its own limit is higher and not measured")
print()
verdict_ratio = None
for label, idx in ((f">= {threshold} %", 0), ("100 %", 1)):
    p, n = summary["portreeve"][idx], summary["nfcapd"][idx]
    if p and n:
        lower = summary["portreeve"][2]
        ratio = p[0] / n[0]
        per_round = []
        for rnd in rounds:
            a, b = best["portreeve", rnd][idx], best["nfcapd", rnd][idx]
            if a and b:
                per_round.append(f"{a['rate'] / b['rate']:.2f}")
        print(f"ingest ratio portreeve/nfcapd at {label}: {'>= ' if lower else ''}{ratio:.2f}"
              f" ({p[0]:,.0f} / {n[0]:,.0f} datagrams/s; per round: {', '.join(per_round)})")
        if verdict_ratio is None:
            verdict_ratio = (ratio, lower)
    else:
        print(f"ingest ratio portreeve/nfcapd at {label}: not measurable (no good step for one of them)")
if verdict_ratio:
    ratio, lower = verdict_ratio
    verdict = "PASS" if ratio >= target else ("INCONCLUSIVE (sender-bound)" if lower else "FAIL")
    print(f"loss-free ingest (>= {threshold} % received): portreeve/nfcapd = {'>= ' if lower else ''}{ratio:.2f}"
          f" (target >= {target:g}x): {verdict}")
    needed = target * summary["nfcapd"][0][0]
    if ratio < target and needed > ceiling:
        print(f"note: {target:g}x nfcapd's rate is {needed:,.0f} datagrams/s, above the sender's ceiling"
              f" ({ceiling:,.0f}/s with a receiver that does nothing): the target cannot be shown"
              " over loopback on this machine, whatever the collector")
else:
    print(f"loss-free ingest: no ratio (target >= {target:g}x): FAIL")
print(f"sender's ceiling on this machine: {ceiling:,.0f} datagrams/s")
print()
# Where the time goes, per datagram, at rates where the collectors are busy
# (>= 100,000/s: below, waking up for each datagram dominates) and lose
# nothing.
busy = {n: [cpu_us(r) for r in rows[n] if r["rate"] >= 100_000 and r["ppm"] >= threshold * 1e4] for n in names}
for n in names:
    if busy[n]:
        print(f"{n}: CPU time per datagram received (all threads; median of {len(busy[n])} good steps"
              f" >= 100,000/s): {statistics.median(busy[n]):.2f} us")
if busy["portreeve"] and decode:
    total = statistics.median(busy["portreeve"])
    dec = decode["decode_only_ns_per_datagram"] / 1e3
    agg = decode["ns_per_datagram"] / 1e3 - dec
    rest = total - dec - agg
    print(f"portreeve, of which (flows_throughput on the same stream): decode {dec:.2f} us ({dec / total:.0%}),"
          f" aggregate {agg:.2f} us ({agg / total:.0%}), receive path and the rest {rest:.2f} us ({rest / total:.0%})")
EOF

echo
echo "== summary"
grep -E '^decode\+aggregate' "$WORK/decode.txt"
grep -E "^sender's ceiling \(" "$WORK/sender.txt"
grep -E '^(nfcapd|portreeve): (highest|never|CPU time)|^portreeve, of which|^ingest ratio|^loss-free ingest|^note:' "$WORK/ingest.txt"
echo "checks (both collectors decode the stream, never more records than sent): $checks"
[[ $checks == PASS ]] || exit 1
