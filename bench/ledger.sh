#!/usr/bin/env bash
# Benchmark: the ledger (crates/ledger) against SQLite doing the same durable
# job, in the same run: durable appends per second with one writer and with
# 8 concurrent writers, full verification of a 1,000,000-entry ledger, and
# proof sizes and times.
#
# Entries are realistic and about 290 bytes of canonical JSON (an action, an
# actor, an object like "9229/tcp from 10.0.0.0/24 for 1h (rule debug)", a
# reason, a sha256: digest, the host, index and time), written by the cargo
# example crates/ledger/examples/ledger_bench.rs. The SQLite peer (python3's
# sqlite3 module) stores byte-identical entries, one JSON text per row of
# `entries (id INTEGER PRIMARY KEY, entry TEXT)`, with journal_mode=WAL and
# synchronous=FULL and one transaction per append, so each append is durable
# when it returns, as portreeve's are.
#
# 0. The device's floor: a python loop appending 300 bytes + fdatasync to a
#    file in the work directory. 1 / its latency bounds a lone durable
#    writer; 8 / its latency bounds 8 writers that each wait for their own
#    append, however they share flushes.
# a. One writer: `ledger_bench append --threads 1` (Ledger::append, one entry
#    at a time, each durable: write + fdatasync) against SQLite with one
#    connection. Ratio, and against Tessera's published ~2,900 appends/s on a
#    POSIX filesystem (the engine of Sigstore's and CT's newest logs; it
#    cannot run here, so its published figure is quoted, not measured).
# b. 8 writers: 8 threads calling Ledger::append on one ledger (group commit:
#    concurrent appends share one write + one fdatasync) against SQLite with
#    8 threads, each with its own connection (busy_timeout 60 s).
#    Target: >= 20,000 durable appends/s.
#    a. and b. run in ROUNDS interleaved rounds (a short fdatasync probe,
#    portreeve 1, SQLite 1, portreeve 8, SQLite 8), each run stopping after
#    its count or RUN_SECONDS, whichever comes first; medians are reported,
#    because this VM's flush latency switches between two modes (about
#    0.2 ms and about 4 ms) from one moment to the next.
# c. A ledger of VERIFY_N entries built with `ledger_bench fill` (append_all
#    batches of CHECKPOINT_EVERY, a signed checkpoint after each), then
#    `portreeve --state-dir D ledger verify` (parse, canonical form, index,
#    Merkle tree, every checkpoint signature and root) timed with hyperfine
#    (1 warm-up + RUNS runs; the files are in the page cache). Target: under
#    2 s for 1,000,000 entries (scaled linearly for another VERIFY_N). For
#    scale, in the same hyperfine run: the floors `cat entries.jsonl`
#    (reading the bytes) and `sha256sum entries.jsonl` (one SHA-256 pass
#    over them, on one core), and SQLite's `PRAGMA integrity_check` on
#    the same entries (a structural check of its B-trees: no hashes, no
#    signatures, a weaker guarantee, shown as a reference). Sizes on disk of
#    both. If verification misses the target, or PERF=1, `perf` shows where
#    its time goes.
# d. Proofs at VERIFY_N entries: `ledger_bench proofs` times PROOF_SAMPLES
#    inclusion proofs at random (index, size) and consistency proofs at
#    random (size1, size2), producing them from the on-disk subtree cache
#    and checking them, with their sizes; and hyperfine times the CLI end to
#    end (`ledger prove --index`, `ledger prove --from --to`, with process
#    start; `portreeve --version` is the process-start floor).
#
# Targets are reported, not enforced. The script exits 1 if a check fails
# (verification does not succeed or counts the wrong entries, a proof does
# not verify) and 2 on a usage or setup error.
#
# Usage: bench/ledger.sh
#
# Environment:
#   COUNT_1=20000     appends per one-writer run (an upper bound: see RUN_SECONDS)
#   COUNT_8=200000    appends per 8-writer run (likewise)
#   RUN_SECONDS=10    each append run stops starting appends after this long
#   ROUNDS=3          interleaved rounds of the append runs (medians reported)
#   VERIFY_N=1000000  entries in the ledger verified and proved in c. and d.
#   CHECKPOINT_EVERY=10000  entries per append_all batch and checkpoint in c.
#   RUNS=3            hyperfine runs for verification (after 1 warm-up run)
#   PROOF_SAMPLES=2000  random proofs of each kind in d.
#   BENCH_DIR=/var/tmp  where the work directory goes; it must be a real disk
#                     file system (tmpfs is refused: fsync there is a no-op;
#                     ALLOW_TMPFS=1 runs anyway, with a warning)
#   PERF=auto         auto: profile verification only if it misses the
#                     target; 1: always; 0: never
#   PORTREEVE_BIN, LEDGER_BENCH_BIN  use these binaries instead of building
#                     (both must be given)
#
# Requires python3 (with its sqlite3 module), hyperfine and, unless both
# binaries are given, cargo; sqlite3 (the CLI) for the integrity_check
# reference (skipped if missing); perf is optional. Everything is written
# under a fresh directory in BENCH_DIR, removed on exit, on failure and on
# Ctrl-C. The defaults take about 3 to 5 minutes after the build.

set -euo pipefail
shopt -s inherit_errexit

COUNT_1=${COUNT_1:-20000}
COUNT_8=${COUNT_8:-200000}
RUN_SECONDS=${RUN_SECONDS:-10}
ROUNDS=${ROUNDS:-3}
VERIFY_N=${VERIFY_N:-1000000}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-10000}
RUNS=${RUNS:-3}
PROOF_SAMPLES=${PROOF_SAMPLES:-2000}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
ALLOW_TMPFS=${ALLOW_TMPFS:-0}
PERF=${PERF:-auto}
TESSERA=2900 # Tessera's published appends/s on a POSIX filesystem
TARGET_8=20000
TARGET_VERIFY_S=2

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

die() {
    echo "ledger.sh: $*" >&2
    exit 2
}

for v in COUNT_1 COUNT_8 RUN_SECONDS ROUNDS VERIFY_N CHECKPOINT_EVERY RUNS PROOF_SAMPLES; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((COUNT_1 >= 1 && COUNT_8 >= 8)) || die "COUNT_1 must be at least 1 and COUNT_8 at least 8"
((RUN_SECONDS >= 1 && ROUNDS >= 1)) || die "RUN_SECONDS and ROUNDS must be at least 1"
((VERIFY_N >= 2 && CHECKPOINT_EVERY >= 1)) || die "VERIFY_N must be at least 2, CHECKPOINT_EVERY at least 1"
((RUNS >= 2 && PROOF_SAMPLES >= 1)) || die "RUNS must be at least 2, PROOF_SAMPLES at least 1"
[[ $PERF =~ ^(auto|0|1)$ ]] || die "PERF must be auto, 0 or 1"

# --- prerequisites ----------------------------------------------------------
missing=()
command -v python3 >/dev/null || missing+=("python3")
command -v hyperfine >/dev/null || missing+=("hyperfine")
if ((${#missing[@]})); then
    die "missing: ${missing[*]} (Debian: apt-get install python3 hyperfine)"
fi
python3 -c 'import sqlite3' 2>/dev/null || die "python3 has no sqlite3 module"
[[ -d $BENCH_DIR ]] || die "BENCH_DIR $BENCH_DIR is not a directory"

FSTYPE=$(stat -f -c %T "$BENCH_DIR")
case $FSTYPE in
tmpfs | ramfs)
    if [[ $ALLOW_TMPFS == 1 ]]; then
        echo "ledger.sh: WARNING: $BENCH_DIR is $FSTYPE: fsync does nothing there, durable-append figures are meaningless" >&2
    else
        die "$BENCH_DIR is $FSTYPE, where fsync does nothing: set BENCH_DIR to a directory on a disk (or ALLOW_TMPFS=1)"
    fi
    ;;
esac

# --- binaries -----------------------------------------------------------------
if [[ -n ${PORTREEVE_BIN:-} && -n ${LEDGER_BENCH_BIN:-} ]]; then
    PORTREEVE=$PORTREEVE_BIN
    LB=$LEDGER_BENCH_BIN
else
    command -v cargo >/dev/null || die "missing: cargo (or set PORTREEVE_BIN and LEDGER_BENCH_BIN)"
    echo "building portreeve and the ledger_bench example (cargo build --release)" >&2
    # One invocation, so both share one feature resolution and one build.
    (cd "$REPO_ROOT" && cargo build --release --quiet -p portreeve -p portreeve-ledger \
        --bin portreeve --example ledger_bench) || die "cargo build failed"
    PORTREEVE=$REPO_ROOT/target/release/portreeve
    LB=$REPO_ROOT/target/release/examples/ledger_bench
fi
for b in "$PORTREEVE" "$LB"; do
    [[ -x $b ]] || die "binary not found or not executable: $b"
done
PORTREEVE=$(realpath -- "$PORTREEVE")
LB=$(realpath -- "$LB")

# --- work directory and clean-up ----------------------------------------------
WORK=$(mktemp -d "$BENCH_DIR/portreeve-ledger-bench.XXXXXX")
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers (python) ---------------------------------------------------------
# fsync_probe.py FILE N: N x (append 300 bytes + fdatasync); prints JSON.
cat >"$WORK/fsync_probe.py" <<'EOF'
import json, os, sys, time

path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
record = b"x" * 299 + b"\n"
times = []
for _ in range(n):
    t0 = time.perf_counter()
    os.write(fd, record)
    os.fdatasync(fd)
    times.append((time.perf_counter() - t0) * 1e6)
os.close(fd)
os.unlink(path)
times.sort()
q = lambda p: times[round((len(times) - 1) * p)]
print(json.dumps({"n": n, "mean_us": sum(times) / n, "p50_us": q(0.5), "p99_us": q(0.99)}))
EOF

# sqlite_peer.py DB ENTRIES THREADS COUNT SECONDS: the SQLite peer; prints
# JSON with the same keys as `ledger_bench append`.
cat >"$WORK/sqlite_peer.py" <<'EOF'
import json, sqlite3, sys, threading, time

db, entries, threads, count, seconds = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
lines = []
with open(entries, encoding="utf-8") as f:
    for line in f:
        lines.append(line.rstrip("\n"))
        if len(lines) == count + 1:
            break
if len(lines) < count + 1:
    sys.exit(f"sqlite_peer: {entries} has fewer than {count + 1} entries")


def connect():
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


conn = connect()
mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
if mode != "wal":
    sys.exit(f"sqlite_peer: journal_mode is {mode}, not wal")
conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, entry TEXT NOT NULL)")
# One append before timing, as ledger_bench does.
conn.execute("INSERT INTO entries (entry) VALUES (?)", (lines[0],))
conn.close()
lines = lines[1:]

barrier = threading.Barrier(threads + 1)
latencies = [[] for _ in range(threads)]
sizes = [0] * threads
errors = []


def worker(t):
    try:
        conn = connect()
        out = latencies[t]
        barrier.wait()
        start = time.perf_counter()
        for entry in lines[t::threads]:
            if time.perf_counter() - start >= seconds:
                break
            t0 = time.perf_counter()
            # Autocommit: one transaction, durable (WAL fsynced) on return.
            conn.execute("INSERT INTO entries (entry) VALUES (?)", (entry,))
            out.append((time.perf_counter() - t0) * 1e6)
            sizes[t] += len(entry) + 1
        conn.close()
    except Exception as e:
        errors.append(repr(e))
        barrier.abort()


workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for w in workers:
    w.start()
barrier.wait()
t0 = time.perf_counter()
for w in workers:
    w.join()
elapsed = time.perf_counter() - t0
if errors:
    sys.exit("sqlite_peer: " + errors[0])
all_ = sorted(x for part in latencies for x in part)
done = len(all_)
rows = sqlite3.connect(db).execute("SELECT count(*) FROM entries").fetchone()[0]
if rows != done + 1:
    sys.exit(f"sqlite_peer: {rows} rows, expected {done + 1}")
q = lambda p: all_[round((done - 1) * p)]
print(json.dumps({
    "mode": "sqlite", "threads": threads, "count": done, "requested": count,
    "time_limited": done < count, "elapsed_s": elapsed, "appends_per_s": done / elapsed,
    "p50_us": q(0.5), "p99_us": q(0.99), "max_us": all_[-1], "mean_us": sum(all_) / done,
    "mean_entry_bytes": sum(sizes) / done, "sqlite_version": sqlite3.sqlite_version,
}))
EOF

q() { printf '%q' "$1"; }

echo "== portreeve:  $PORTREEVE"
echo "== example:    $LB"
echo "== work dir:   $WORK ($FSTYPE on $(df --output=source "$WORK" | tail -n 1), mount options $(findmnt -no OPTIONS -T "$WORK" 2>/dev/null || echo '?'))"
echo "== SQLite:     $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)') (python3 sqlite3 module; WAL, synchronous=FULL, one transaction per append)"
echo "== machine:    $(nproc) CPUs, $(uname -r)"

# The SQLite peer's input: entries byte-identical in shape to the ones
# portreeve appends (same generator), taken from a ledger built for it.
SRC=$WORK/src/ledger
SRC_N=$((COUNT_1 > COUNT_8 ? COUNT_1 : COUNT_8))
"$LB" fill "$SRC" --count $((SRC_N + 1)) --checkpoint-every 100000 >/dev/null || die "ledger_bench fill failed"

# --- 0. fdatasync floor ---------------------------------------------------------
echo
echo "== 0. fdatasync floor: 1000 x (append 300 bytes + fdatasync), python3, in the work dir"
python3 "$WORK/fsync_probe.py" "$WORK/probe" 1000 >"$WORK/probe0.json"
python3 - "$WORK/probe0.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
print(f"fdatasync of a 300-byte append: mean {p['mean_us']:.0f} µs, p50 {p['p50_us']:.0f} µs, p99 {p['p99_us']:.0f} µs")
print(f"  => a lone durable writer can do at most ~{1e6 / p['mean_us']:,.0f} appends/s (1 / mean);")
print(f"     8 writers that each wait for their own append at most ~{8e6 / p['mean_us']:,.0f}/s (8 / mean)")
EOF

# --- a. and b. durable appends ------------------------------------------------------
echo
echo "== a./b. durable appends: $ROUNDS interleaved rounds; each run stops after its count"
echo "   (1 writer: $COUNT_1, 8 writers: $COUNT_8) or $RUN_SECONDS s, whichever comes first"
: >"$WORK/appends.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    echo "   round $r/$ROUNDS ..." >&2
    probe=$(python3 "$WORK/fsync_probe.py" "$WORK/probe" 200)
    echo "{\"round\": $r, \"tool\": \"probe\", \"result\": $probe}" >>"$WORK/appends.jsonl"
    for threads in 1 8; do
        count=$COUNT_1
        ((threads == 8)) && count=$COUNT_8
        out=$("$LB" append "$WORK/r$r-t$threads/ledger" --threads "$threads" --count "$count" \
            --seconds "$RUN_SECONDS") || die "ledger_bench append failed"
        echo "{\"round\": $r, \"tool\": \"portreeve\", \"result\": $out}" >>"$WORK/appends.jsonl"
        rm -rf -- "$WORK/r$r-t$threads"
        out=$(python3 "$WORK/sqlite_peer.py" "$WORK/r$r-t$threads.db" "$SRC/entries.jsonl" \
            "$threads" "$count" "$RUN_SECONDS") || die "the SQLite peer failed"
        echo "{\"round\": $r, \"tool\": \"sqlite\", \"result\": $out}" >>"$WORK/appends.jsonl"
        rm -f -- "$WORK/r$r-t$threads.db" "$WORK/r$r-t$threads.db-wal" "$WORK/r$r-t$threads.db-shm"
    done
done

python3 - "$WORK/appends.jsonl" "$TESSERA" "$TARGET_8" <<'EOF' | tee "$WORK/appends.txt"
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
tessera, target = int(sys.argv[2]), int(sys.argv[3])
rounds = sorted({r["round"] for r in rows})
probe = {r["round"]: r["result"] for r in rows if r["tool"] == "probe"}


def get(tool, threads):
    return {r["round"]: r["result"] for r in rows
            if r["tool"] == tool and r["result"]["threads"] == threads}


med = statistics.median
for threads, label in ((1, "a. one writer"), (8, "b. 8 concurrent writers")):
    pr, sq = get("portreeve", threads), get("sqlite", threads)
    print()
    print(f"{label}")
    print(f"{'round':>5}  {'fdatasync':>9}  {'portreeve/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'n':>7} {'per flush':>9}"
          f"  {'SQLite/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'n':>7}  {'ratio':>6}")
    for r in rounds:
        p, s = pr[r], sq[r]
        print(f"{r:>5}  {probe[r]['p50_us'] / 1e3:>6.2f} ms  {p['appends_per_s']:>11,.0f} {p['p50_us'] / 1e3:>7.2f}"
              f" {p['p99_us'] / 1e3:>7.2f} {p['count']:>7} {p['entries_per_commit']:>9.1f}"
              f"  {s['appends_per_s']:>9,.0f} {s['p50_us'] / 1e3:>7.2f} {s['p99_us'] / 1e3:>7.2f}"
              f" {s['max_us'] / 1e3:>8.1f} {s['count']:>7}  {p['appends_per_s'] / s['appends_per_s']:>5.2f}x")
    p_med = med(x["appends_per_s"] for x in pr.values())
    s_med = med(x["appends_per_s"] for x in sq.values())
    ratio = med(pr[r]["appends_per_s"] / sq[r]["appends_per_s"] for r in rounds)
    f_med = med(probe[r]["p50_us"] for r in rounds)
    size_p = med(x["mean_entry_bytes"] for x in pr.values())
    size_s = med(x["mean_entry_bytes"] for x in sq.values())
    print(f"(fdatasync: the p50 of 200 probe syncs just before the round; 'per flush': entries per"
          f" fdatasync of the entries file (SQLite: per transaction); entries {size_p:.0f} bytes (portreeve), {size_s:.0f} bytes (SQLite))")
    print(f"median: portreeve {p_med:,.0f} appends/s, SQLite {s_med:,.0f} appends/s")
    print(f"appends ratio portreeve/SQLite ({threads} writer{'s' if threads > 1 else ''}) = {ratio:.2f}"
          f" (median of the rounds' ratios)")
    print(f"portreeve/Tessera's published {tessera:,}/s ({threads} writer{'s' if threads > 1 else ''}) = {p_med / tessera:.2f}")
    ceiling = threads * 1e6 / f_med
    print(f"ceiling from the median fdatasync p50 ({f_med:.0f} µs): {threads} x 1/fdatasync = {ceiling:,.0f}/s;"
          f" portreeve reached {p_med / ceiling:.0%} of it")
    if threads == 8:
        verdict = "PASS" if p_med >= target else "FAIL"
        print(f"portreeve 8 writers: {p_med:,.0f} durable appends/s (target >= {target:,}/s): {verdict}")
    else:
        print(f"portreeve 1 writer: {p_med:,.0f} durable appends/s")
EOF

# --- c. verification ------------------------------------------------------------
STATE=$WORK/state
LEDGER=$STATE/ledger
echo
echo "== c. verification of $VERIFY_N entries"
"$LB" fill "$LEDGER" --count "$VERIFY_N" --checkpoint-every "$CHECKPOINT_EVERY" >"$WORK/fill.json" ||
    die "ledger_bench fill failed"
python3 - "$WORK/fill.json" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
print(f"built with ledger_bench fill: {f['entries']:,} entries ({f['mean_entry_bytes']:.0f} bytes each),"
      f" {f['checkpoints_signed']} signed checkpoints, in {f['elapsed_s']:.1f} s ({f['entries_per_s']:,.0f} entries/s"
      f" in append_all batches)")
EOF

checks=PASS
# Check the result once before timing it.
"$PORTREEVE" --state-dir "$STATE" ledger verify --format json >"$WORK/verify.json" || true
python3 - "$WORK/verify.json" "$VERIFY_N" "$(((VERIFY_N + CHECKPOINT_EVERY - 1) / CHECKPOINT_EVERY))" <<'EOF' || checks=FAIL
import json, sys
doc = json.load(open(sys.argv[1]))
n, cps = int(sys.argv[2]), int(sys.argv[3])
res = doc.get("result")  # portreeve.ledger-verification listing
ok = bool(res) and res["verified"] and res["entries"] == n and res["checkpoints"] == cps
print(f"portreeve ledger verify: verified={res and res['verified']}, entries={res and res.get('entries')},"
      f" checkpoints={res and res.get('checkpoints')} (expected {n} and {cps}): {'ok' if ok else 'WRONG'}")
sys.exit(0 if ok else 1)
EOF

# The peer's copy of the same entries, for its integrity check and size.
SQLITE_DB=$WORK/verify.db
HAVE_SQLITE_CLI=0
if command -v sqlite3 >/dev/null; then
    HAVE_SQLITE_CLI=1
    python3 - "$SQLITE_DB" "$LEDGER/entries.jsonl" <<'EOF'
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA synchronous = OFF")  # a bulk load; only the result is measured
conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, entry TEXT NOT NULL)")
conn.execute("BEGIN")
with open(sys.argv[2], encoding="utf-8") as f:
    conn.executemany("INSERT INTO entries (entry) VALUES (?)", ((line.rstrip("\n"),) for line in f))
conn.execute("COMMIT")
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
EOF
else
    echo "(sqlite3 CLI not installed: the integrity_check reference is skipped; apt-get install sqlite3)"
fi

PR=$(q "$PORTREEVE")
ENTRIES=$LEDGER/entries.jsonl
cmds=(-n "portreeve ledger verify" "$PR --state-dir $(q "$STATE") ledger verify"
    -n "cat entries.jsonl" "cat $(q "$ENTRIES")"
    -n "sha256sum entries.jsonl" "sha256sum $(q "$ENTRIES")")
if ((HAVE_SQLITE_CLI)); then
    cmds+=(-n "sqlite3 PRAGMA integrity_check" "sqlite3 $(q "$SQLITE_DB") 'PRAGMA integrity_check'")
fi
hyperfine -N --style none --output=null --warmup 1 --runs "$RUNS" \
    --export-json "$WORK/verify-times.json" "${cmds[@]}" >/dev/null
python3 - "$WORK/verify-times.json" "$TARGET_VERIFY_S" "$VERIFY_N" <<'EOF' | tee "$WORK/verify.txt"
import json, sys
results = json.load(open(sys.argv[1]))["results"]
target, n = float(sys.argv[2]), int(sys.argv[3])
by = {r["command"]: r for r in results}
ref = by["portreeve ledger verify"]["mean"]
notes = {
    "portreeve ledger verify": "(reference)",
    "cat entries.jsonl": "floor: reading the bytes (page cache)",
    "sha256sum entries.jsonl": "floor: one SHA-256 pass, one core",
    "sqlite3 PRAGMA integrity_check": "peer's structural check of the same entries (no hashes or signatures)",
}
width = max(len(r["command"]) for r in results)
print(f"{'command':<{width}}  {'runs':>4}  {'mean ± stddev (ms)':>20}  {'user ms':>8}  vs portreeve verify")
for r in results:
    name, mean, sd = r["command"], r["mean"], r["stddev"] or 0.0
    rel = notes[name] if name == "portreeve ledger verify" else f"{mean / ref:.2f}x; {notes[name]}"
    print(f"{name:<{width}}  {len(r['times']):>4}  {mean * 1e3:>11.1f} ± {sd * 1e3:>6.1f}  {r['user'] * 1e3:>8.0f}  {rel}")
print()
if "sqlite3 PRAGMA integrity_check" in by:
    print(f"verify ratio portreeve/SQLite integrity_check = {ref / by['sqlite3 PRAGMA integrity_check']['mean']:.2f}")
print(f"verify ratio portreeve/sha256sum = {ref / by['sha256sum entries.jsonl']['mean']:.2f}")
# The target is 2 s for 1,000,000 entries; a smaller VERIFY_N scales it.
limit = target * n / 1e6
verdict = "PASS" if ref < limit else "FAIL"
print(f"portreeve ledger verify of {n:,} entries: {ref:.2f} s ({n / ref:,.0f} entries/s; target < {limit:.3g} s,"
      f" i.e. {target:g} s per 1,000,000): {verdict}")
EOF

echo
echo "size on disk ($VERIFY_N entries):"
for f in entries.jsonl tree.bin checkpoints.jsonl; do
    printf '  %-20s %12s bytes\n' "$f" "$(stat -c %s "$LEDGER/$f")"
done
ledger_bytes=$(du -sb "$LEDGER" | cut -f1)
printf '  %-20s %12s bytes (%s bytes per entry; du: %s)\n' "ledger directory" "$ledger_bytes" \
    "$((ledger_bytes / VERIFY_N))" "$(du -sh "$LEDGER" | cut -f1)"
if ((HAVE_SQLITE_CLI)); then
    db_bytes=$(stat -c %s "$SQLITE_DB")
    printf '  %-20s %12s bytes (%s bytes per entry; the same entries, no tree, no signatures)\n' \
        "SQLite database" "$db_bytes" "$((db_bytes / VERIFY_N))"
fi

if [[ $PERF == 1 ]] || { [[ $PERF == auto ]] && grep -q ': FAIL$' "$WORK/verify.txt"; }; then
    echo
    if command -v perf >/dev/null && perf record -q -o "$WORK/perf.data" -F 2000 -- \
        "$PORTREEVE" --state-dir "$STATE" ledger verify >/dev/null 2>&1; then
        echo "where verification's time goes (perf record; self time, top symbols):"
        perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -q \
            >"$WORK/perf.txt" 2>/dev/null || true
        awk '/%/ && n++ < 15 { sub(/[ \t]+-[ \t]+-[ \t]*$/, ""); print substr($0, 1, 140) }' "$WORK/perf.txt"
    else
        echo "(perf is not installed or cannot record here: no profile)"
    fi
fi

# --- d. proofs ------------------------------------------------------------------
echo
echo "== d. proofs at $VERIFY_N entries"
"$LB" proofs "$LEDGER" --samples "$PROOF_SAMPLES" >"$WORK/proofs.json" || {
    echo "ledger_bench proofs failed (a proof did not verify?)"
    checks=FAIL
}
if [[ -s $WORK/proofs.json ]]; then
    python3 - "$WORK/proofs.json" <<'EOF'
import json, math, sys
p = json.load(open(sys.argv[1]))
n = p["entries"]
print(f"{p['samples']} random proofs of each kind, produced from the on-disk subtree cache and checked:")
print(f"{'proof':<12} {'produce µs':>22} {'check µs':>16} {'hashes':>13} {'bytes':>7} {'JSON bytes':>11}")
print(f"{'':<12} {'mean    p50    p99':>22} {'mean    p99':>16} {'mean   max':>13} {'mean':>7} {'mean':>11}")
for kind in ("inclusion", "consistency"):
    k = p[kind]
    print(f"{kind:<12} {k['prove_mean_us']:>8.1f} {k['prove_p50_us']:>6.1f} {k['prove_p99_us']:>6.1f}"
          f" {k['verify_mean_us']:>8.1f} {k['verify_p99_us']:>7.1f} {k['hashes_mean']:>6.1f} {k['hashes_max']:>5.0f}"
          f" {k['bytes_mean']:>7.0f} {k['json_bytes_mean']:>11.0f}")
print(f"(RFC 9162 proofs at {n:,} entries have at most ~{math.ceil(math.log2(n))} hashes (inclusion) and"
      f" ~{2 * math.ceil(math.log2(n))} (consistency) of 32 bytes)")
EOF
fi

INDEX=$((VERIFY_N / 3))
FROM=$((VERIFY_N / 2 + 1))
"$PORTREEVE" --state-dir "$STATE" ledger prove --index "$INDEX" >"$WORK/prove-index.json" ||
    die "portreeve ledger prove --index failed"
"$PORTREEVE" --state-dir "$STATE" ledger prove --from "$FROM" --to "$VERIFY_N" >"$WORK/prove-from.json" ||
    die "portreeve ledger prove --from --to failed"
hyperfine -N --style none --output=null --warmup 3 --runs 30 --export-json "$WORK/prove-times.json" \
    -n "portreeve ledger prove --index $INDEX" "$PR --state-dir $(q "$STATE") ledger prove --index $INDEX" \
    -n "portreeve ledger prove --from $FROM --to $VERIFY_N" \
    "$PR --state-dir $(q "$STATE") ledger prove --from $FROM --to $VERIFY_N" \
    -n "portreeve --version" "$PR --version" >/dev/null
echo
python3 - "$WORK/prove-times.json" "$WORK/prove-index.json" "$WORK/prove-from.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
docs = [json.load(open(f)) for f in sys.argv[2:]]
start = results[-1]["mean"]
print("the CLI end to end (hyperfine, 3 warm-up + 30 runs; includes process start):")
width = max(len(r["command"]) for r in results)
for r, doc in zip(results, docs + [None]):
    extra = ""
    if doc is not None:
        extra = (f"  {len(doc['proof'])} hashes, {len(json.dumps(doc, separators=(',', ':')))} bytes of compact JSON;"
                 f" {(r['mean'] - start) * 1e3:.2f} ms above process start")
    else:
        extra = "  process-start floor"
    print(f"{r['command']:<{width}}  {r['mean'] * 1e3:>7.2f} ± {(r['stddev'] or 0) * 1e3:>5.2f} ms{extra}")
EOF

echo
echo "== summary"
grep -E '^(appends ratio|portreeve/Tessera|portreeve 1 writer|portreeve 8 writers)' "$WORK/appends.txt"
grep -E '^(verify ratio|portreeve ledger verify of)' "$WORK/verify.txt"
echo "checks (verification succeeds with the expected counts, every proof verifies): $checks"
[[ $checks == PASS ]] || exit 1
