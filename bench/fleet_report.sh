#!/usr/bin/env bash
# Benchmark: the fleet's report and evidence pack over a large fleet
# (issue 22). One `portreeve server` (SQLite in its state directory) on
# this machine, filled by portreeve-fleet-loadgen (crates/fleet-loadgen):
# HOSTS simulated hosts enrolled (each enrollment is an entry of the
# server's ledger, so the ledger is read over HOSTS/1000 pages) and each
# host's first, full state stored (10-30 listeners, a few findings, each
# port's lifecycle; two at a time, as SQLite takes one writer at a time),
# then a short run of pushes.
#
# Measured, best of RUNS: `report --server --format json` and `--format
# html` (the whole fleet: every host's listeners, findings, lifecycle,
# drift, policies, the server's ledger read page by page and verified
# against its signed checkpoint), and `evidence export --server` (the
# same, plus the ledger as a bundle with one inclusion proof per entry).
#
# The peer: there is no Debian-packaged fleet reporter (Wazuh's and
# FleetDM's are not in Debian), so the floor it is compared with is the
# least any client must do: curl fetching the same API answers, every
# ledger page included, into files, doing nothing with them. The ratio
# report/curl is what building, verifying and rendering cost on top of
# reading.
#
# Usage: sudo bench/fleet_report.sh
#        HOSTS=2000 bench/fleet_report.sh
#
# Environment:
#   HOSTS=10000     simulated hosts
#   RUNS=3          timed runs of each command (the best is reported)
#   PORTREEVE_BIN   use this portreeve instead of a release build
#   LOADGEN_BIN     use this portreeve-fleet-loadgen instead of a release
#                   build
#
# Needs curl and python3. The server listens on 127.0.0.1 only and the
# load generator and curl send nothing anywhere else. The server and the
# temporary directory are removed on exit, on failure and on Ctrl-C.
# Exits 2 on a usage or setup error.

set -euo pipefail
shopt -s inherit_errexit

HOSTS=${HOSTS:-10000}
RUNS=${RUNS:-3}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}
die() {
    echo "fleet_report.sh: $*" >&2
    exit 2
}
[[ ${1:-} == -h || ${1:-} == --help ]] && usage
(($# == 0)) || die "no arguments expected (settings are environment variables; see --help)"
for v in HOSTS RUNS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} >= 1)) || die "$v must be a positive integer, got '${!v}'"
done
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"
for tool in curl python3; do
    command -v "$tool" >/dev/null || die "missing: $tool"
done

bench_fleet_binaries

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the server and its fleet -------------------------------------------------
STATE=$WORK/state
mkdir -m 700 "$STATE"
token() { "$PORTREEVE" --state-dir "$STATE" server token create "$@" 2>/dev/null; }
ENROLL=$(token --role enroll --uses "$HOSTS" --name fleet-report) || die "could not create an enroll token"
VIEWER=$(token --role viewer --name auditor) || die "could not create a viewer token"
"$PORTREEVE" --state-dir "$STATE" server --listen 127.0.0.1:0 --metrics off \
    >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(cat "$WORK/server.err")"
    sleep 0.1
done
SERVER=$(sed -n 's/^listening on //p' "$WORK/server.out")
[[ $SERVER == http://127.0.0.1:* ]] || die "the server did not say where it listens"

echo "fleet_report: filling $SERVER with $HOSTS hosts ($(nproc) cores)" >&2
PORTREEVE_ENROLL_TOKEN=$ENROLL "$LOADGEN" --server "$SERVER" --hosts "$HOSTS" \
    --interval 10 --duration 3 --warmup 1 --setup-concurrency 2 --format json \
    >"$WORK/load.json" 2>"$WORK/load.err" ||
    die "the load generator failed: $(tail -5 "$WORK/load.err"); the server said: $(tail -5 "$WORK/server.err")"

# --- the runs ----------------------------------------------------------------
# Best wall-clock seconds of RUNS runs of "$@" (output to /dev/null).
best() {
    local best= t0 t1 s
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>"$WORK/err" || die "failed: $* ($(head -3 "$WORK/err"))"
        t1=$(date +%s.%N)
        s=$(python3 -c "print($t1 - $t0)")
        if [[ -z $best ]] || python3 -c "import sys; sys.exit(0 if $s < $best else 1)"; then best=$s; fi
    done
    echo "$best"
}
report() { PORTREEVE_TOKEN=$VIEWER "$PORTREEVE" --state-dir "$WORK/client" report --server "$SERVER" "$@"; }
pack() {
    rm -rf -- "$WORK/pack"
    PORTREEVE_TOKEN=$VIEWER "$PORTREEVE" --state-dir "$WORK/client" evidence export --server "$SERVER" \
        --output "$WORK/pack"
}
# The floor: every answer the report reads, fetched and kept, nothing more
# (the ledger's size, read once before the runs, says how many pages).
fetch_all() {
    local path after
    for path in hosts findings lifecycle grants blocks policies assignments 'drift?limit=1000'; do
        curl -sf -H "Authorization: Bearer $VIEWER" "$SERVER/api/v1/$path" -o "$WORK/fetched" ||
            return 1
    done
    for ((after = 0; after == 0 || after < LEDGER_SIZE; after += 1000)); do
        curl -sf -H "Authorization: Bearer $VIEWER" "$SERVER/api/v1/ledger?after=$after&limit=1000" \
            -o "$WORK/page" || return 1
    done
}
LEDGER_SIZE=$(curl -sf -H "Authorization: Bearer $VIEWER" "$SERVER/api/v1/ledger?limit=1" |
    python3 -c "import json, sys; print(json.load(sys.stdin)['size'])") ||
    die "could not read the server's ledger"

JSON_S=$(best report --format json)
HTML_S=$(best report --format html)
PACK_S=$(best pack)
CURL_S=$(best fetch_all)
report --format json --output "$WORK/fleet.json"
report --format html --output "$WORK/fleet.html"

python3 - "$WORK/fleet.json" "$WORK/fleet.html" "$HOSTS" "$JSON_S" "$HTML_S" "$PACK_S" "$CURL_S" <<'EOF'
import json, os, sys

doc = json.load(open(sys.argv[1]))
hosts = int(sys.argv[3])
json_s, html_s, pack_s, curl_s = map(float, sys.argv[4:8])
listeners = sum(len(h["listeners"]) for h in doc["hosts"])
ledger = doc["ledger"]
assert len(doc["hosts"]) == hosts, f"{len(doc['hosts'])} hosts reported, {hosts} enrolled"
assert ledger["verification"]["verified"], ledger["verification"]
print(f"fleet              {hosts} hosts, {listeners} listeners, {len(doc['findings'])} findings, "
      f"{len(doc['lifecycle'])} ports with a lifecycle state, {ledger['total_entries']} server ledger entries (verified)")
print(f"report --format json   {json_s:.2f} s  ({os.path.getsize(sys.argv[1]) / 2**20:.1f} MiB)")
print(f"report --format html   {html_s:.2f} s  ({os.path.getsize(sys.argv[2]) / 2**20:.1f} MiB)")
print(f"evidence export        {pack_s:.2f} s  (report, bundle and one proof per entry)")
print(f"curl, the same answers {curl_s:.2f} s  (the floor: reading only)")
print(f"ratio                  json {json_s / curl_s:.2f} x, html {html_s / curl_s:.2f} x, "
      f"evidence {pack_s / curl_s:.2f} x the floor")
EOF
