#!/usr/bin/env bash
# Benchmark: `portreeve vulns` judging a package list against a Debian-sized
# OSV archive, read directly and after `vulns update` imported it.
#
# The data: bench/vulns_archive.py writes, from a fixed seed, an OSV zip
# archive laid out as OSV's Debian export (one ID.json per entry; ENTRIES
# entries, mostly DEBIAN-CVE-*, then DLA-* and DSA-*, over SOURCES source
# packages with a Zipf-like spread, CVE-description-length details, a few
# withdrawn) and the `dpkg-query -W -f
# '${Package}\t${Version}\t${source:Package}\t${source:Version}\n'` lines of
# LISTENING packages that run network services.
#
# a. In one process (cargo example crates/vulns/examples/osv_load_timing.rs):
#    the loader alone, best of 5, direct and imported.
# b. End to end, direct: `portreeve vulns --packages FILE --osv ARCHIVE
#    --ecosystem Debian:12 --format json`, best of RUNS (process start,
#    reading and judging, writing the JSON document). Target: under 1 s.
# c. Imported: `portreeve vulns update --from ARCHIVE` once (timed), then
#    the same judging without --osv, best of RUNS. Target: under 1 s.
#    b. and c. must report the same vulnerabilities.
# d. Peer: Debian's own checker, debsecan, reads a feed of its own from
#    security-tracker.debian.org, which this machine cannot reach, so it is
#    not run. What is measured instead is a floor for any tool reading the
#    same OSV archive in Python: python3 decompressing every entry and
#    json-loading it (no judging at all), once.
#
# Targets are reported, not enforced. The script exits 1 if a run fails
# (non-zero exit, output that is not a JSON document with a
# `vulnerabilities` list, b. and c. disagreeing) and 2 on a usage or setup
# error.
#
# Usage: bench/vulns.sh
#
# Environment:
#   ENTRIES=60000 SOURCES=3000 LISTENING=50   the archive's and list's size
#   SEED=21          the generator's seed
#   RUNS=5           timed runs of b. and c. (best of them is reported)
#   PORTREEVE_BIN    use this binary instead of a release build (a. is then
#                    skipped unless cargo is there to build the example)
#
# Requires python3 and, unless PORTREEVE_BIN is given, cargo. Everything is
# written under a fresh directory in /tmp, removed on exit.

set -euo pipefail
shopt -s inherit_errexit

ENTRIES=${ENTRIES:-60000}
SOURCES=${SOURCES:-3000}
LISTENING=${LISTENING:-50}
SEED=${SEED:-21}
RUNS=${RUNS:-5}
ECOSYSTEM=Debian:12

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

die() {
    echo "vulns.sh: $*" >&2
    exit 2
}

for v in ENTRIES SOURCES LISTENING SEED RUNS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((ENTRIES >= 1 && LISTENING >= 1 && RUNS >= 1)) || die "need ENTRIES, LISTENING and RUNS >= 1"
command -v python3 >/dev/null || die "missing: python3"

# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
bench_portreeve_binary

WORK=$(mktemp -d /tmp/portreeve-vulns-bench.XXXXXX)
trap 'rm -rf -- "$WORK"' EXIT
ARCHIVE=$WORK/all.zip
PACKAGES=$WORK/packages.txt
STATE=$WORK/state

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# Prints the smallest of the numbers on standard input.
least() { sort -g | head -n 1; }

# Prints how many vulnerabilities the JSON document $1 lists; fails unless
# it is a JSON document with a `vulnerabilities` list.
count_vulnerabilities() {
    python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["vulnerabilities"]))' "$1" ||
        { echo "vulns.sh: $1 is not a JSON document with a vulnerabilities list" >&2; exit 1; }
}

# Runs `portreeve "$@"` RUNS times, its JSON output in $WORK/$LABEL.json;
# prints the best seconds.
best_of_runs() {
    local label=$1 i start end times=()
    shift
    for ((i = 0; i < RUNS; i++)); do
        start=$(now)
        "$PORTREEVE" "$@" >"$WORK/$label.json" ||
            { echo "vulns.sh: portreeve $* failed" >&2; exit 1; }
        end=$(now)
        times+=("$(echo "$end - $start" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | least
}

met() { echo "$1" | bc -l | sed 's/^1$/met/;s/^0$/missed/'; }

echo "== data: $ENTRIES entries over $SOURCES source packages, $LISTENING listening packages (seed $SEED)"
start=$(now)
python3 "$SCRIPT_DIR/vulns_archive.py" "$ARCHIVE" "$PACKAGES" --entries "$ENTRIES" \
    --sources "$SOURCES" --listening "$LISTENING" --seed "$SEED"
printf '  written in %.1f s: archive %s MB\n' "$(echo "$(now) - $start" | bc -l)" \
    "$(du -m "$ARCHIVE" | cut -f1)"

if command -v cargo >/dev/null; then
    echo "== a. the loader in one process (crates/vulns/examples/osv_load_timing.rs)"
    (cd "$REPO_ROOT" && cargo run --release --quiet -p portreeve-vulns --example osv_load_timing -- \
        "$ARCHIVE" "$PACKAGES") | sed 's/^/  /'
fi

echo "== b. portreeve vulns --packages FILE --osv ARCHIVE --format json"
direct=$(best_of_runs direct --state-dir "$STATE" vulns --packages "$PACKAGES" --osv "$ARCHIVE" \
    --ecosystem "$ECOSYSTEM" --format json)
found_direct=$(count_vulnerabilities "$WORK/direct.json")
printf '  %.3f s (best of %d), %d vulnerabilities; target under 1 s: %s\n' \
    "$direct" "$RUNS" "$found_direct" "$(met "$direct < 1")"

echo "== c. portreeve vulns update --from ARCHIVE, then vulns without --osv"
start=$(now)
"$PORTREEVE" --state-dir "$STATE" vulns update --from "$ARCHIVE" >"$WORK/update.log" 2>&1 ||
    { cat "$WORK/update.log" >&2; echo "vulns.sh: portreeve vulns update failed" >&2; exit 1; }
printf '  update: %.2f s\n' "$(echo "$(now) - $start" | bc -l)"
imported=$(best_of_runs imported --state-dir "$STATE" vulns --packages "$PACKAGES" \
    --ecosystem "$ECOSYSTEM" --format json)
found_imported=$(count_vulnerabilities "$WORK/imported.json")
printf '  %.3f s (best of %d), %d vulnerabilities; target under 1 s: %s\n' \
    "$imported" "$RUNS" "$found_imported" "$(met "$imported < 1")"
((found_direct == found_imported)) ||
    { echo "vulns.sh: direct and imported runs disagree ($found_direct vs $found_imported)" >&2; exit 1; }

echo "== d. floor: python3 reading every entry of the archive (json.loads each, no judging)"
floor=$(python3 - "$ARCHIVE" <<'EOF'
import json, sys, time, zipfile
start = time.perf_counter()
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        json.loads(z.read(name))
print(time.perf_counter() - start)
EOF
)
printf '  %.2f s (debsecan itself needs its own feed from the network: not run)\n' "$floor"
printf '  this floor / portreeve direct: %.1fx\n' "$(echo "$floor / $direct" | bc -l)"
