#!/usr/bin/env bash
# Benchmark: `portreeve simulate` replaying 1,000,000 recorded (source,
# protocol, port) pairs against a 10,000-rule policy (issue 18).
# Target: the whole command under 1 s (the median of RUNS runs, default 5;
# the minimum is printed too, as the machine may be shared).
#
# Inputs (bench/simulate_inputs.py, seeded): a 10,000-rule policy over 200
# zones (IPv4 and IPv6), a candidate that narrows every 10th rule, drops
# every 50th and adds one, and PAIRS JSON lines of recorded use (85 % single
# addresses inside a rule's zones, 5 % /24 or /64 networks folded past the
# agent's bound, 10 % from outside every zone).
#
# The current policy is applied for real in a network namespace of the
# script's own (portreeve-bench-sim-<pid>, no links: nothing leaves it), so
# `simulate` replays every pair against two rulesets, the one in effect and
# the candidate's, as it does on a host. `simulate --usage FILE` reads the
# pairs; its JSON says how long the replay took (`replay_seconds`: both
# rulesets' indexes built and every pair judged twice), and the script
# times the whole command, which the target is about (reading and parsing
# the 150 MB of JSON lines, compiling both policies, the replay, judging the
# findings, writing the report).
#
# The yardstick, in the same run: the hidden `simulate --naive`, which asks
# Ruleset::network_verdict — the lock-out guard's evaluation — for every
# pair, on the first NAIVE_PAIRS pairs (default 10,000: at its cost per pair
# the million would take hours). Each pair costs it the same whatever the
# others (no state is shared between pairs), so its time is scaled linearly
# to PAIRS; the figure printed says so. The indexed replay of the same
# sample must report exactly the same blocked and opened pairs.
#
# Needs root (the namespace and the apply), python3, ip and nft.
# PORTREEVE_BIN: the binary to measure (default: a fresh release build).
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    echo "${0##*/}: $*" >&2
    exit 1
}
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

PAIRS=${PAIRS:-1000000}
RULES=${RULES:-10000}
NAIVE_PAIRS=${NAIVE_PAIRS:-10000}
RUNS=${RUNS:-5}
TARGET_SECONDS=1

((EUID == 0)) || die "run as root: the policy in effect is applied in a namespace of the script's own"
for tool in python3 ip nft; do
    command -v "$tool" >/dev/null || die "missing: $tool"
done
bench_portreeve_binary

WORK=$(mktemp -d)
NS=portreeve-bench-sim-$$
cleanup() {
    bench_delete_netns "$NS"
    rm -rf -- "$WORK"
}
trap cleanup EXIT

echo "generating $PAIRS recorded pairs and a $RULES-rule policy" >&2
RULES=$RULES PAIRS=$PAIRS python3 "$REPO_ROOT/bench/simulate_inputs.py" "$WORK"
head -n "$NAIVE_PAIRS" "$WORK/usage.jsonl" >"$WORK/sample.jsonl"

ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$PORTREEVE" --state-dir "$WORK/state" "$@"; }
echo "applying the current policy in namespace $NS" >&2
in_ns apply --policy "$WORK/current.toml" >/dev/null

# simulate USAGE OUT [FLAGS...]: runs simulate (exit 1 means pairs would
# break, as expected here) and prints the whole command's seconds.
simulate() {
    local usage=$1 out=$2 start end rc=0
    shift 2
    start=$(date +%s.%N)
    in_ns simulate --policy "$WORK/candidate.toml" --usage "$usage" --since 2026-01-01 \
        --format json "$@" >"$out" || rc=$?
    end=$(date +%s.%N)
    ((rc <= 1)) || die "simulate failed (exit $rc)"
    python3 -c "print(f'{$end - $start:.3f}')"
}

wholes=()
for ((run = 0; run < RUNS; run++)); do
    wholes+=("$(simulate "$WORK/usage.jsonl" "$WORK/indexed.json")")
done
simulate "$WORK/sample.jsonl" "$WORK/sample_indexed.json" >/dev/null
simulate "$WORK/sample.jsonl" "$WORK/sample_naive.json" --naive >/dev/null

python3 - "$WORK" "${wholes[*]}" "$PAIRS" "$NAIVE_PAIRS" "$RULES" "$TARGET_SECONDS" <<'PY'
import json, statistics, sys
work, pairs, naive_pairs, rules, target = sys.argv[1], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
wholes = [float(w) for w in sys.argv[2].split()]
whole = statistics.median(wholes)
load = lambda name: json.load(open(f"{work}/{name}.json"))
full, fast, naive = load("indexed"), load("sample_indexed"), load("sample_naive")
assert full["pairs"] == pairs and full["enforced"], "the full replay did not replay every pair against the policy in effect"
for key in ("blocked", "opened"):
    if fast[key] != naive[key]:
        sys.exit(f"FAIL: the index and network_verdict disagree on the sample's {key} pairs")
replay = full["replay_seconds"]
naive_scaled = naive["replay_seconds"] * pairs / naive["pairs"]
print(f"policy: {rules} rules; {pairs} recorded pairs; {len(full['blocked'])} would break, {len(full['opened'])} newly open")
print(f"simulate, whole command: {whole:.3f} s median, {min(wholes):.3f} s min of {len(wholes)} runs "
      f"(reading the pairs, compiling both policies, the replay, findings, report)")
print(f"simulate, replay:        {replay:.3f} s (last run: both indexes built, every pair judged twice)")
print(f"naive network_verdict:   {naive['replay_seconds']:.3f} s for {naive['pairs']} pairs, "
      f"{naive_scaled:.1f} s scaled to {pairs}")
print(f"ratio naive/indexed:     {naive_scaled / replay:.0f}x")
print(f"the sample's blocked and opened pairs agree ({len(fast['blocked'])} and {len(fast['opened'])})")
print(f"{'PASS' if whole < target else 'FAIL'}: whole command {whole:.3f} s (median) against the {target:.0f} s target")
sys.exit(0 if whole < target else 1)
PY
