//! Measurements of the ledger for `bench/ledger.sh`: durable appends,
//! building a large ledger, and proofs. Every mode prints one JSON line.
//!
//! ```text
//! ledger_bench append DIR --threads N --count M [--seconds S]
//!     M durable appends split over N threads; each thread calls
//!     `Ledger::append` with one entry and waits for it before the next, so
//!     concurrent threads are group-committed. With --seconds, every thread
//!     also stops starting appends after S seconds (the device's flush
//!     latency varies a lot, so a count alone gives unbounded run times).
//!     Prints appends/s, elapsed time, per-append latency (p50, p99, max)
//!     and how many flushes (fdatasyncs of the entries) they shared.
//! ledger_bench fill DIR --count M --checkpoint-every K
//!     Appends M entries in `append_all` batches of K (one flush each) and
//!     signs a checkpoint after every batch: a large ledger, quickly.
//! ledger_bench proofs DIR --samples K [--seed S]
//!     K inclusion proofs at random (index, size) and K consistency proofs
//!     at random (size1, size2) over the whole ledger: time to produce
//!     (`prove_inclusion`, `prove_consistency`, which read the subtree cache
//!     from disk) and to check (`.verify()`), and proof sizes.
//! ```
//!
//! DIR is the ledger directory itself (`<state-dir>/ledger` for the CLI).
//! Entries are realistic and about 280 bytes: varied actions, actors,
//! objects like `9229/tcp from 10.0.0.0/24 for 1h (rule debug)`, a reason
//! and a `sha256:` digest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use portreeve_ledger::{Draft, Ledger, digest};

const USAGE: &str = "usage:
  ledger_bench append DIR --threads N --count M [--seconds S]
  ledger_bench fill DIR --count M --checkpoint-every K
  ledger_bench proofs DIR --samples K [--seed S]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ledger_bench: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<serde_json::Value, String> {
    let (mode, dir, rest) = match args {
        [mode, dir, rest @ ..] => (mode.as_str(), PathBuf::from(dir), rest),
        _ => return Err("a mode and a ledger directory are required".into()),
    };
    let flag = |name: &str, default: Option<u64>| -> Result<u64, String> {
        match rest.iter().position(|a| a == name) {
            Some(i) => rest
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a non-negative integer")),
            None => default.ok_or_else(|| format!("{name} is required")),
        }
    };
    let ledger = Ledger::open(&dir).map_err(|e| e.to_string())?;
    match mode {
        "append" => append(
            &ledger,
            flag("--threads", None)?,
            flag("--count", None)?,
            flag("--seconds", Some(0))?,
        ),
        "fill" => fill(
            &ledger,
            flag("--count", None)?,
            flag("--checkpoint-every", None)?,
        ),
        "proofs" => proofs(&ledger, flag("--samples", None)?, flag("--seed", Some(1))?),
        other => Err(format!("unknown mode {other:?}")),
    }
}

/// The `i`th benchmark entry: about 280 bytes of canonical JSON.
fn draft(i: u64) -> Draft {
    const ACTIONS: [&str; 4] = ["grant", "revoke", "apply", "grant.extend"];
    const ACTORS: [&str; 4] = ["alice", "bob", "carol", "deploy-bot"];
    const RULES: [&str; 4] = ["debug", "metrics", "backup", "ssh-bastion"];
    let k = (i % 4) as usize;
    let port = 1024 + (i * 7919) % 60000;
    let object = format!(
        "{port}/tcp from 10.{}.{}.0/24 for 1h (rule {})",
        i % 200,
        (i / 200) % 250,
        RULES[(i / 4 % 4) as usize]
    );
    let mut d = Draft::new(ACTIONS[k], ACTORS[(i / 16 % 4) as usize], object);
    d.reason = Some(format!("INC-{:05} health check", i % 100_000));
    d.after = Some(digest(&i.to_le_bytes()));
    d
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The value at quantile `q` of sorted `xs`.
fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// Appends up to `count` entries from `threads` threads, for at most
/// `seconds` seconds (0: no limit).
fn append(
    ledger: &Ledger,
    threads: u64,
    count: u64,
    seconds: u64,
) -> Result<serde_json::Value, String> {
    if threads == 0 || count < threads {
        return Err("--threads must be at least 1 and --count at least --threads".into());
    }
    // One append before timing, so the file exists and the ledger is warm.
    let first = ledger.size().map_err(|e| e.to_string())?;
    ledger.append(draft(first)).map_err(|e| e.to_string())?;
    let base = first + 1;
    let flushes_before = ledger.flushes();
    let barrier = Barrier::new(threads as usize + 1);
    let limit = (seconds > 0).then(|| Duration::from_secs(seconds));
    let (started, results) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let share = count / threads + u64::from(t < count % threads);
                scope.spawn(move || -> Result<(Vec<f64>, u64), String> {
                    let mut latencies = Vec::with_capacity(share as usize);
                    let mut bytes = 0u64;
                    barrier.wait();
                    let start = Instant::now();
                    for j in 0..share {
                        if limit.is_some_and(|l| start.elapsed() >= l) {
                            break;
                        }
                        let d = draft(base + t + j * threads);
                        let t0 = Instant::now();
                        let appended = ledger.append(d).map_err(|e| e.to_string())?;
                        latencies.push(micros(t0.elapsed()));
                        bytes += appended.entry.to_canonical().len() as u64 + 1;
                    }
                    Ok((latencies, bytes))
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("an appending thread panicked"))
            .collect();
        (started, results)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = Vec::with_capacity(count as usize);
    let mut bytes = 0;
    for r in results {
        let (l, b) = r?;
        latencies.extend(l);
        bytes += b;
    }
    let done = latencies.len() as u64;
    if done == 0 {
        return Err("no append finished".into());
    }
    latencies.sort_by(f64::total_cmp);
    let flushes = ledger.flushes() - flushes_before;
    Ok(serde_json::json!({
        "mode": "append",
        "threads": threads,
        "count": done,
        "requested": count,
        "time_limited": done < count,
        "elapsed_s": elapsed,
        "appends_per_s": done as f64 / elapsed,
        "p50_us": quantile(&latencies, 0.50),
        "p99_us": quantile(&latencies, 0.99),
        "max_us": quantile(&latencies, 1.0),
        "mean_us": mean(&latencies),
        "commits": flushes,
        "entries_per_commit": done as f64 / flushes.max(1) as f64,
        "mean_entry_bytes": bytes as f64 / done as f64,
    }))
}

fn fill(ledger: &Ledger, count: u64, every: u64) -> Result<serde_json::Value, String> {
    if every == 0 {
        return Err("--checkpoint-every must be at least 1".into());
    }
    let first = ledger.size().map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut done = 0;
    let mut checkpoints = 0;
    while done < count {
        let n = every.min(count - done);
        let drafts = (first + done..first + done + n).map(draft).collect();
        ledger.append_all(drafts).map_err(|e| e.to_string())?;
        ledger.checkpoint().map_err(|e| e.to_string())?;
        checkpoints += 1;
        done += n;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(ledger.dir().join("entries.jsonl")).map_or(0, |m| m.len());
    Ok(serde_json::json!({
        "mode": "fill",
        "appended": count,
        "entries": first + count,
        "checkpoints_signed": checkpoints,
        "elapsed_s": elapsed,
        "entries_per_s": count as f64 / elapsed,
        "entries_file_bytes": bytes,
        "mean_entry_bytes": bytes as f64 / (first + count).max(1) as f64,
    }))
}

/// xorshift64*: reproducible samples without a dependency.
struct Rng(u64);

impl Rng {
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (hi - lo + 1)
    }
}

/// Timing and size figures of one kind of proof.
#[derive(Default)]
struct Figures {
    prove_us: Vec<f64>,
    verify_us: Vec<f64>,
    hashes: Vec<f64>,
    json_bytes: Vec<f64>,
}

impl Figures {
    fn report(mut self) -> serde_json::Value {
        for xs in [&mut self.prove_us, &mut self.verify_us] {
            xs.sort_by(f64::total_cmp);
        }
        let max = |xs: &[f64]| xs.iter().copied().fold(0.0, f64::max);
        serde_json::json!({
            "prove_mean_us": mean(&self.prove_us),
            "prove_p50_us": quantile(&self.prove_us, 0.50),
            "prove_p99_us": quantile(&self.prove_us, 0.99),
            "verify_mean_us": mean(&self.verify_us),
            "verify_p99_us": quantile(&self.verify_us, 0.99),
            "hashes_mean": mean(&self.hashes),
            "hashes_max": max(&self.hashes),
            "bytes_mean": mean(&self.hashes) * 32.0,
            "json_bytes_mean": mean(&self.json_bytes),
            "json_bytes_max": max(&self.json_bytes),
        })
    }
}

fn proofs(ledger: &Ledger, samples: u64, seed: u64) -> Result<serde_json::Value, String> {
    let n = ledger.size().map_err(|e| e.to_string())?;
    if n < 2 || samples == 0 {
        return Err("proofs needs a ledger of at least 2 entries and --samples >= 1".into());
    }
    let mut rng = Rng(seed.max(1));
    let mut inclusion = Figures::default();
    let mut consistency = Figures::default();
    for _ in 0..samples {
        let size = rng.range(1, n);
        let index = rng.range(0, size - 1);
        let t0 = Instant::now();
        let doc = ledger
            .prove_inclusion(index, Some(size))
            .map_err(|e| e.to_string())?;
        inclusion.prove_us.push(micros(t0.elapsed()));
        let t0 = Instant::now();
        doc.verify()
            .map_err(|e| format!("inclusion {index} in {size}: {e}"))?;
        inclusion.verify_us.push(micros(t0.elapsed()));
        inclusion.hashes.push(doc.proof.len() as f64);
        inclusion
            .json_bytes
            .push(serde_json::to_vec(&doc).map_or(0, |v| v.len()) as f64);

        let size2 = rng.range(2, n);
        let size1 = rng.range(1, size2 - 1);
        let t0 = Instant::now();
        let doc = ledger
            .prove_consistency(size1, size2)
            .map_err(|e| e.to_string())?;
        consistency.prove_us.push(micros(t0.elapsed()));
        let t0 = Instant::now();
        doc.verify()
            .map_err(|e| format!("consistency {size1} -> {size2}: {e}"))?;
        consistency.verify_us.push(micros(t0.elapsed()));
        consistency.hashes.push(doc.proof.len() as f64);
        consistency
            .json_bytes
            .push(serde_json::to_vec(&doc).map_or(0, |v| v.len()) as f64);
    }
    Ok(serde_json::json!({
        "mode": "proofs",
        "entries": n,
        "samples": samples,
        "inclusion": inclusion.report(),
        "consistency": consistency.report(),
    }))
}
