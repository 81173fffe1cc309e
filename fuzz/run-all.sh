#!/usr/bin/env bash
# Runs every fuzz target in fuzz/fuzz_targets for a bounded time each and
# fails if any of them finds a crash (cargo-fuzz exits non-zero and leaves
# the input in fuzz/artifacts/NAME/; once fixed, copy it to
# fuzz/regressions/NAME/, named for what it broke).
#
# Usage: fuzz/run-all.sh [TARGET...]
#   FUZZ_SECONDS   time per target in seconds (default 60)
#   FUZZ_JOBS      libFuzzer -fork workers per target (default 1)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on the
# stable toolchain this project pins.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

failed=()
for name in "${targets[@]}"; do
    echo "== $name (${seconds}s)" >&2
    # New inputs go to a scratch corpus under target/; the committed seeds
    # in corpus/NAME are read, not added to (minimize a run's finds with
    # `cargo fuzz cmin` before committing any).
    mkdir -p "target/corpus/$name"
    extra=()
    if [ "$jobs" -gt 1 ]; then extra+=("-fork=$jobs"); fi
    if ! cargo fuzz run "$name" "target/corpus/$name" "corpus/$name" -- -max_total_time="$seconds" "${extra[@]}"; then
        failed+=("$name")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "run-all.sh: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "run-all.sh: ${#targets[@]} targets ran ${seconds}s each without a crash" >&2
