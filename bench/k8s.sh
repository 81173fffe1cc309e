#!/usr/bin/env bash
# Benchmark: `portreeve k8s reach` against IBM's network-config-analyzer
# (NCA, PyPI, the analyzer crates/k8s/tests/nca_agreement checks agreement
# with) on the same manifests, in the same run.
#
# The cluster: bench/k8s_cluster.py writes NAMESPACES namespaces, PODS pods
# and POLICIES NetworkPolicies from a fixed seed (default denies, egress
# denies with DNS let out, app-to-app rules on named and numeric ports,
# namespaceSelectors alone and with podSelectors, matchExpressions, ipBlocks
# with excepts in IPv4 and IPv6, endPort ranges, UDP and SCTP).
#
# a. In one process (cargo example crates/k8s/examples/reach_timing.rs):
#    reading the manifests, `reach()` collecting every record, and
#    `reach_with()` streaming them; the number of records.
# b. End to end: `portreeve k8s reach --manifests DIR --format json` into a
#    file, RUNS times after a warm-up run (median, with process start,
#    reading, analysis and writing the whole JSON document).
#    Target: under 1 s.
# c. NCA 2.1.0 (scripts/nca.sh puts it in ~/.cache/portreeve/nca) on the
#    same directory, as the agreement test runs it (`--connectivity
#    --output_format txt_no_fw_rules --output_endpoints deployments
#    --print_ipv6`, empty environment, so it reads only the files), once,
#    stopped after NCA_TIMEOUT seconds; a stopped run is reported as a
#    lower bound ("> N s"). Target: portreeve at least 10x faster.
# d. If NCA was stopped, b. and c. again at SMALL_SCALE (namespaces, pods
#    and policies divided by it) so that the ratio is measured, not only
#    bounded.
#
# Targets are reported, not enforced. The script exits 1 if a run fails
# (non-zero exit, or a JSON document without the pod count asked for) and 2
# on a usage or setup error.
#
# Usage: bench/k8s.sh
#
# Environment:
#   NAMESPACES=100 PODS=1000 POLICIES=300   the cluster's size
#   SEED=19          the generator's seed
#   RUNS=5           timed portreeve runs (after 1 warm-up run)
#   NCA_TIMEOUT=600  seconds before NCA is stopped
#   SMALL_SCALE=5    divisor of the size for d.
#   PORTREEVE_BIN    use this binary instead of a release build (a. is then
#                    skipped unless cargo is there to build the example)
#
# Requires python3 and, unless PORTREEVE_BIN is given, cargo; NCA is
# installed by scripts/nca.sh (pip, once). Everything is written under a
# fresh directory in /tmp, removed on exit.

set -euo pipefail
shopt -s inherit_errexit

NAMESPACES=${NAMESPACES:-100}
PODS=${PODS:-1000}
POLICIES=${POLICIES:-300}
SEED=${SEED:-19}
RUNS=${RUNS:-5}
NCA_TIMEOUT=${NCA_TIMEOUT:-600}
SMALL_SCALE=${SMALL_SCALE:-5}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

die() {
    echo "k8s.sh: $*" >&2
    exit 2
}

for v in NAMESPACES PODS POLICIES SEED RUNS NCA_TIMEOUT SMALL_SCALE; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((NAMESPACES >= 1 && PODS >= NAMESPACES && RUNS >= 1 && SMALL_SCALE >= 1)) ||
    die "need NAMESPACES >= 1, PODS >= NAMESPACES, RUNS >= 1 and SMALL_SCALE >= 1"
command -v python3 >/dev/null || die "missing: python3"

# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"
bench_portreeve_binary

WORK=$(mktemp -d /tmp/portreeve-k8s-bench.XXXXXX)
trap 'rm -rf -- "$WORK"' EXIT

NCA_PYTHON=$("$REPO_ROOT/scripts/nca.sh") || die "scripts/nca.sh could not install NCA"

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# Prints the median of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Writes a cluster of $2 namespaces, $3 pods and $4 policies into $1.
generate() {
    python3 "$SCRIPT_DIR/k8s_cluster.py" "$1" --namespaces "$2" --pods "$3" --policies "$4" --seed "$SEED"
}

# Runs `k8s reach --format json` on $1 (expecting $2 pods) 1 + RUNS times;
# prints the median seconds; says the size of the document on stderr.
time_portreeve() {
    local dir=$1 pods=$2 out=$WORK/reach.json i start end times=()
    for ((i = 0; i <= RUNS; i++)); do
        start=$(now)
        "$PORTREEVE" k8s reach --manifests "$dir" --format json >"$out" ||
            { echo "k8s.sh: portreeve k8s reach failed on $dir" >&2; exit 1; }
        end=$(now)
        ((i > 0)) && times+=("$(echo "$end - $start" | bc -l)")
    done
    grep -q "\"pods\":$pods," "$out" ||
        { echo "k8s.sh: the JSON document does not count $pods pods" >&2; exit 1; }
    echo "  portreeve document: $(du -m "$out" | cut -f1) MB" >&2
    rm -f -- "$out"
    printf '%s\n' "${times[@]}" | median
}

# Runs NCA on $1 once; prints its seconds, or ">NCA_TIMEOUT" when stopped.
time_nca() {
    local dir=$1 home=$WORK/nca-home start end rc=0
    mkdir -p "$home"
    start=$(now)
    (cd "$home" && timeout "$NCA_TIMEOUT" env -i PATH="$(dirname "$NCA_PYTHON")" HOME="$home" \
        "$NCA_PYTHON" -m nca --connectivity --resource_list "$dir" --output_format txt_no_fw_rules \
        --output_endpoints deployments --print_ipv6 >"$WORK/nca.txt" 2>"$WORK/nca.err") || rc=$?
    end=$(now)
    if ((rc == 124)); then
        echo ">$NCA_TIMEOUT"
    elif ((rc != 0)); then
        echo "k8s.sh: NCA failed on $dir (status $rc):" >&2
        tail -5 "$WORK/nca.err" >&2
        exit 1
    else
        echo "  NCA output: $(grep -c ' => ' "$WORK/nca.txt") connection lines" >&2
        echo "$end - $start" | bc -l
    fi
    rm -f -- "$WORK/nca.txt" "$WORK/nca.err"
}

# Compares one size: $1 label, then namespaces, pods, policies.
compare() {
    local label=$1 ns=$2 pods=$3 policies=$4 dir=$WORK/$1 ours theirs
    generate "$dir" "$ns" "$pods" "$policies"
    echo "== $label: $ns namespaces, $pods pods, $policies policies"
    ours=$(time_portreeve "$dir" "$pods")
    printf '  portreeve k8s reach --format json: %.3f s (median of %d)\n' "$ours" "$RUNS"
    theirs=$(time_nca "$dir")
    if [[ $theirs == '>'* ]]; then
        printf '  NCA: stopped after %s s\n' "${theirs#>}"
        printf '  ratio: > %.0fx\n' "$(echo "${theirs#>} / $ours" | bc -l)"
    else
        printf '  NCA: %.1f s\n' "$theirs"
        printf '  ratio: %.0fx\n' "$(echo "$theirs / $ours" | bc -l)"
    fi
    LAST_NCA=$theirs
    LAST_OURS=$ours
}

full=$WORK/full
generate "$full" "$NAMESPACES" "$PODS" "$POLICIES"
if command -v cargo >/dev/null; then
    echo "== a. in one process (crates/k8s/examples/reach_timing.rs)"
    (cd "$REPO_ROOT" && cargo run --release --quiet -p portreeve-k8s --example reach_timing -- "$full") |
        sed 's/^/  /'
fi
rm -rf -- "$full"

compare full "$NAMESPACES" "$PODS" "$POLICIES"
printf '  target: under 1 s: %s; at least 10x NCA: %s\n' \
    "$(echo "$LAST_OURS < 1" | bc -l | sed 's/1/met/;s/0/missed/')" \
    "$(echo "${LAST_NCA#>} / $LAST_OURS >= 10" | bc -l | sed 's/1/met/;s/0/missed/')"

if [[ $LAST_NCA == '>'* ]] && ((SMALL_SCALE > 1)); then
    compare "small" "$((NAMESPACES / SMALL_SCALE))" "$((PODS / SMALL_SCALE))" "$((POLICIES / SMALL_SCALE))"
fi
