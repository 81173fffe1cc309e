//! Appending processes killed with SIGKILL at random moments, many times
//! over: after each kill the ledger opens (cutting any torn tail), verifies
//! against its checkpoints, and still holds every entry a writer was told
//! had been appended, byte for byte where it was acknowledged. A kill
//! seldom lands inside a write, so half the rounds leave the torn tail such
//! a kill would; every torn tail is checked to have been cut, and only it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use portreeve_ledger::{Draft, Ledger, Trust};

/// Where the child process appends (set by the parent test).
const DIR_ENV: &str = "PORTREEVE_LEDGER_CRASH_DIR";
/// Rounds of start-two-appenders-then-kill-them.
const ROUNDS: u64 = 40;

/// The appending process: threads append batches of random size (up to
/// 300 entries, i.e. writes of up to ~80 KiB, which a kill can tear) and
/// report each acknowledged entry on standard output, now and then
/// signing a checkpoint. Runs until killed.
#[test]
#[ignore = "the child process of kills_at_random_moments_never_lose_acknowledged_entries"]
fn append_until_killed() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let ledger = Ledger::open(Path::new(&dir)).unwrap();
    let pid = std::process::id();
    std::thread::scope(|s| {
        for thread in 0..3u64 {
            let ledger = &ledger;
            s.spawn(move || {
                let mut rng = Rng(u64::from(pid) * 31 + thread);
                for seq in 0.. {
                    let n = if rng.below(4) == 0 {
                        rng.below(300) + 1
                    } else {
                        1
                    };
                    let drafts: Vec<Draft> = (0..n)
                        .map(|k| {
                            let mut d = Draft::new(
                                "grant",
                                "crash-test",
                                format!("p{pid} t{thread} s{seq} k{k}"),
                            );
                            d.reason = Some("x".repeat(150));
                            d
                        })
                        .collect();
                    for a in ledger.append_all(drafts).unwrap() {
                        println!("ACK {} {} END", a.index, a.entry.object);
                    }
                    if rng.below(20) == 0 {
                        ledger.checkpoint().unwrap();
                    }
                }
            });
        }
    });
}

/// A small deterministic generator, so a failing round can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn kills_at_random_moments_never_lose_acknowledged_entries() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: BTreeMap<u64, String> = BTreeMap::new();
    let (mut torn, mut planted) = (0, 0);
    let mut rng = Rng(7);
    let entries_path = dir.path().join("entries.jsonl");
    let written = || std::fs::metadata(&entries_path).map_or(0, |m| m.len());
    for round in 0..ROUNDS {
        let before = written();
        let mut children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args([
                        "--ignored",
                        "--exact",
                        "append_until_killed",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(DIR_ENV, dir.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // The random moment counts from when appending has begun, not from
        // the spawn: on a loaded machine starting two processes can take
        // longer than the whole window.
        let started = std::time::Instant::now();
        while written() == before && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(30 + rng.below(250)));
        for child in &mut children {
            child.kill().unwrap();
        }
        for mut child in children {
            child.wait().unwrap();
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            for line in out.lines() {
                let Some(rest) = line
                    .strip_prefix("ACK ")
                    .and_then(|l| l.strip_suffix(" END"))
                else {
                    continue;
                };
                let (index, object) = rest.split_once(' ').unwrap();
                let index: u64 = index.parse().unwrap();
                if let Some(previous) = acknowledged.insert(index, object.to_string()) {
                    panic!(
                        "round {round}: entry {index} acknowledged twice ({previous}, {object})"
                    );
                }
            }
        }
        let mut left = std::fs::read(&entries_path).unwrap_or_default();
        let mut tore = left.last().is_some_and(|&b| b != b'\n');
        torn += u64::from(tore);
        // A kill tears a write only if it lands inside the kernel's copy
        // of it (80 rounds here tore none), so every other round that did
        // not tear one leaves what such a kill would: the first part of a
        // next line, unacknowledged.
        if !tore && round % 2 == 1 && !left.is_empty() {
            let last = left[..left.len() - 1]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let part = left[last..left.len() - 1].to_vec();
            let cut = 1 + rng.below(part.len() as u64 - 1) as usize;
            left.extend_from_slice(&part[..cut]);
            std::fs::write(&entries_path, &left).unwrap();
            planted += 1;
            tore = true;
        }

        // Opening repairs; verification recomputes everything.
        let ledger = Ledger::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: the ledger does not open: {e}"));
        if tore {
            // The repair ran: the torn line is gone, and only it.
            let repaired = std::fs::read(&entries_path).unwrap();
            let complete = left.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            assert_eq!(
                repaired.len(),
                complete,
                "round {round}: the torn tail was not cut"
            );
            assert_eq!(repaired[..], left[..complete], "round {round}");
        }
        let trust = Trust {
            log: ledger.verifier(),
            witnesses: Vec::new(),
            min_witnesses: 0,
        };
        let verified = portreeve_ledger::bundle::verify_dir(dir.path(), &trust)
            .unwrap()
            .unwrap_or_else(|t| panic!("round {round}: verification failed: {t}"));
        let text = std::fs::read_to_string(&entries_path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(verified.entries, lines.len() as u64);
        for (&index, object) in &acknowledged {
            let line = lines.get(index as usize).unwrap_or_else(|| {
                panic!(
                    "round {round}: acknowledged entry {index} is lost (ledger has {})",
                    lines.len()
                )
            });
            let entry = portreeve_ledger::Entry::parse(line.as_bytes()).unwrap();
            assert_eq!(
                &entry.object, object,
                "round {round}: entry {index} changed"
            );
        }
    }
    assert!(
        torn + planted >= ROUNDS / 2,
        "{torn} torn and {planted} planted tails: the repair was not exercised"
    );
    assert!(
        acknowledged.len() > 1000,
        "the appenders acknowledged only {} entries in {ROUNDS} rounds: the test did not exercise much",
        acknowledged.len()
    );
    eprintln!(
        "{} entries acknowledged over {ROUNDS} kills of two processes; {torn} kills left a torn tail, {planted} torn tails were planted; each was cut",
        acknowledged.len()
    );
}
