#!/usr/bin/env bash
# Benchmark: the fleet server under a fleet's load (issue 17). One
# `portreeve server` on PostgreSQL on this machine; portreeve-fleet-loadgen
# (crates/fleet-loadgen) speaks the agent protocol for HOSTS simulated
# hosts: it enrolls them all with one enroll token, then each pushes its
# signed state every INTERVAL seconds for DURATION seconds, open loop
# (latency counts from each push's intended send time, so a server that
# falls behind is charged for every push it delayed). Each host has 10-30
# listeners, a few findings, each port's lifecycle and a ledger checkpoint.
# Before the timed run every host's first, full state is stored, 16 pushes
# at a time (set-up, like the enrollments, not the load measured); in the
# run CHANGE_SHARE of the pushes carry a change (a listener appeared or
# went away, with its drift event and a new ledger head), the rest repeat
# the host's state. The first WARMUP seconds of the run are left out of
# the figures.
#
# Measured: pushes per second answered 200 (sustained), latency p50, p90,
# p99 and max, errors by status, and the database's growth per host per
# day: pg_database_size at the end of the warm-up and at the end of the
# run, over the measured window, scaled to a day. The size of each table
# and its rows per host are printed too.
#
# Target from the issue, reported PASS/FAIL (exit 1 on FAIL): 10,000 hosts
# each pushing every 10 s, i.e. 1,000 pushes/s sustained, with p99 < 100 ms.
# The project's rule is to compare with a peer in the same run; there is no
# Debian-packaged peer of this fleet server (FleetDM and the Wazuh manager
# are not in Debian), so the figures are given as a ratio to the issue's
# target instead.
#
# Usage: sudo bench/server_load.sh
#        HOSTS=2000 DURATION=60 sudo bench/server_load.sh
#
# Environment:
#   HOSTS=10000         simulated hosts
#   INTERVAL=10         seconds between one host's pushes
#   DURATION=90         seconds of pushing
#   WARMUP=$INTERVAL    seconds at the start left out of the figures
#   CHANGE_SHARE=0.02   share of pushes that carry a change
#   MAX_REQUESTS        the server's max_requests (server.toml); unset: its
#                       default, 256
#   PORTREEVE_BIN       use this portreeve instead of a release build
#   LOADGEN_BIN         use this portreeve-fleet-loadgen instead of a
#                       release build
#
# Requires root (the database is created by the cluster's superuser over
# peer authentication), python3 and Debian's postgresql-15 (installed if
# missing, with a temporary policy-rc.d so that the install starts nothing;
# the cluster is then started with pg_ctlcluster 15 main start, as
# scripts/test.sh does). The server listens on 127.0.0.1 only and the load
# generator sends nothing anywhere else. The database
# (portreeve_bench_<pid>), the server and the temporary directory are
# removed on exit, on failure and on Ctrl-C. Exits 1 if the target is
# missed, 2 on a usage or setup error.

set -euo pipefail
shopt -s inherit_errexit

HOSTS=${HOSTS:-10000}
INTERVAL=${INTERVAL:-10}
DURATION=${DURATION:-90}
WARMUP=${WARMUP:-$INTERVAL}
CHANGE_SHARE=${CHANGE_SHARE:-0.02}
MAX_REQUESTS=${MAX_REQUESTS:-}
TARGET_RATE=1000
TARGET_P99_MS=100

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
PG_SOCKET=/var/run/postgresql
PG_ROLE=root
DB=portreeve_bench_$$
URL="postgres:///$DB?host=$PG_SOCKET&user=$PG_ROLE"

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}
die() {
    echo "server_load.sh: $*" >&2
    exit 2
}
[[ ${1:-} == -h || ${1:-} == --help ]] && usage
(($# == 0)) || die "no arguments expected (settings are environment variables; see --help)"
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

for v in HOSTS INTERVAL DURATION WARMUP ${MAX_REQUESTS:+MAX_REQUESTS}; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((HOSTS >= 1 && INTERVAL >= 1 && WARMUP < DURATION)) ||
    die "HOSTS and INTERVAL must be at least 1, WARMUP under DURATION"
[[ $(id -u) -eq 0 ]] || die "must run as root (it creates a PostgreSQL database as the cluster's superuser); try: sudo $0"
command -v python3 >/dev/null || die "missing: python3"

# --- prerequisites ----------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null || ! pg_lsclusters --no-header 15 main >/dev/null 2>&1; then
    bench_apt_install postgresql-15 || die "could not install postgresql-15"
fi
if pg_lsclusters --no-header 15 main | grep -q down; then
    pg_ctlcluster 15 main start || die "could not start the PostgreSQL 15 cluster"
fi
pg_isready -q -h "$PG_SOCKET" -d postgres || die "PostgreSQL does not answer on $PG_SOCKET"

bench_fleet_binaries

# --- the database and the server ------------------------------------------
psql_su() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -At -h "$PG_SOCKET" -d "${2:-postgres}" -c "$1"; }

WORK=$(mktemp -d)
SERVER_PID=
LOADGEN_PID=
cleanup() {
    [[ -n $LOADGEN_PID ]] && kill -TERM "$LOADGEN_PID" 2>/dev/null
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    psql_su "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 ||
        echo "server_load.sh: could not drop database $DB" >&2
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_su "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE')
         THEN CREATE ROLE $PG_ROLE LOGIN; END IF; END \$\$" >/dev/null
psql_su "CREATE DATABASE $DB OWNER $PG_ROLE" >/dev/null
# The database's size, and the rows and bytes of the tables pushes append
# to (drift events, ledger checkpoints; the others are replaced, not grown).
db_sizes() {
    psql_su "SELECT pg_database_size('$DB') || ' ' ||
                    (SELECT COUNT(*) FROM drift_events) + (SELECT COUNT(*) FROM ledger_checkpoints) || ' ' ||
                    pg_total_relation_size('drift_events') + pg_total_relation_size('ledger_checkpoints')" "$DB"
}

# The state directory is the run's own: the server keeps nothing in
# /var/lib/portreeve.
STATE=$WORK/state
mkdir -m 700 "$STATE"
TOKEN=$("$PORTREEVE" --state-dir "$STATE" server token create --database "$URL" \
    --role enroll --uses "$HOSTS" --name server-load 2>/dev/null) || die "could not create an enroll token"

CONFIG=$WORK/server.toml
if [[ -n $MAX_REQUESTS ]]; then echo "max_requests = $MAX_REQUESTS" >"$CONFIG"; else : >"$CONFIG"; fi
"$PORTREEVE" --state-dir "$STATE" server --config "$CONFIG" --database "$URL" --listen 127.0.0.1:0 \
    --metrics off >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(cat "$WORK/server.err")"
    sleep 0.1
done
SERVER=$(sed -n 's/^listening on //p' "$WORK/server.out")
[[ $SERVER == http://127.0.0.1:* ]] || die "the server did not say where it listens"

# --- the load ---------------------------------------------------------------
echo "server_load: $HOSTS hosts every ${INTERVAL}s for ${DURATION}s against $SERVER" \
    "(max_requests ${MAX_REQUESTS:-256}; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
PORTREEVE_ENROLL_TOKEN=$TOKEN "$LOADGEN" --server "$SERVER" --hosts "$HOSTS" \
    --interval "$INTERVAL" --duration "$DURATION" --warmup "$WARMUP" \
    --change-share "$CHANGE_SHARE" --format json >"$WORK/report.json" 2>"$WORK/loadgen.err" &
LOADGEN_PID=$!
SIZE_START=
while kill -0 "$LOADGEN_PID" 2>/dev/null; do
    if [[ -z $SIZE_START ]] && grep -q '^warm-up over' "$WORK/loadgen.err"; then
        SIZE_START=$(db_sizes)
    fi
    sleep 0.2
done
wait "$LOADGEN_PID" || die "the load generator failed: $(cat "$WORK/loadgen.err")"
LOADGEN_PID=
SIZE_END=$(db_sizes)
[[ -n $SIZE_START ]] || die "the load generator never ended its warm-up: $(cat "$WORK/loadgen.err")"

psql_su "ANALYZE" "$DB" >/dev/null
echo "tables (after the run):"
psql_su "SELECT format('  %-20s %10s rows  %8s  %s rows/host',
                 c.relname, c.reltuples::bigint, pg_size_pretty(pg_total_relation_size(c.oid)),
                 round((c.reltuples / $HOSTS)::numeric, 1))
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltuples > 0
         ORDER BY pg_total_relation_size(c.oid) DESC" "$DB"

# --- the figures --------------------------------------------------------------
python3 - "$WORK/report.json" "$SIZE_START" "$SIZE_END" "$TARGET_RATE" "$TARGET_P99_MS" <<'EOF'
import json, sys

report = json.load(open(sys.argv[1]))
(size_start, rows_start, _), (size_end, rows_end, bytes_end) = (
    map(int, sys.argv[i].split()) for i in (2, 3))
target_rate, target_p99 = float(sys.argv[4]), float(sys.argv[5])
window = report["duration_s"] - report["warmup_s"]
per_host_day = 86400 / window / report["hosts"]
growth = (size_end - size_start) * per_host_day
rows = (rows_end - rows_start) * per_host_day
appended = rows * bytes_end / max(rows_end, 1)
lat = report["latency_ms"]
errors = ", ".join(f"{k}: {v}" for k, v in report["errors"].items()) or "none"
errors += f" (in the warm-up: {report['warmup_errors']})"
print(f"hosts              {report['hosts']} (enrolled in {report['enroll_s']:.1f} s, first states stored in {report['seed_s']:.1f} s)")
print(f"offered            {report['offered_per_s']:.1f} pushes/s ({report['measured']} pushes in {window:.0f} s measured, {report['changed']} with a change)")
print(f"sustained          {report['sustained_per_s']:.1f} pushes/s answered 200")
print(f"latency            p50 {lat['p50']:.2f} ms, p90 {lat['p90']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms")
print(f"errors             {errors}")
print(f"database           {size_start / 2**20:.1f} MiB -> {size_end / 2**20:.1f} MiB over {window:.0f} s: "
      f"{growth / 2**20:.2f} MiB per host per day (with row versions not yet vacuumed)")
print(f"appended           {rows:.0f} rows per host per day (drift events, checkpoints): "
      f"{appended / 2**10:.1f} KiB per host per day")
rate_ratio = report["sustained_per_s"] / target_rate
p99_ratio = lat["p99"] / target_p99
ok = report["sustained_per_s"] >= target_rate * 0.999 and lat["p99"] < target_p99
print(f"target             >= {target_rate:.0f} pushes/s with p99 < {target_p99:.0f} ms: "
      f"rate {rate_ratio:.3f} x target, p99 {p99_ratio:.3f} x the bound: {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
