//! What docs/ledger.md and docs/enforce.md promise about recording, checked
//! through the CLI: witnesses pin the log's key and `--min-witnesses`
//! notices removed cosignatures; each action records the digests the
//! table in "What is recorded" names; an approved policy in effect may be
//! installed again under `required = true`; and no firewall change is left
//! in effect without its record (the free-space check before the kernel is
//! touched, the change taken back when recording fails). Firewall changes
//! run in test namespaces; the rest needs no privileges.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Home, Netns, assert_exit, assert_ok, run, stdout, testkit};

use support::OFFICE_POLICY as POLICY;

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "nft"])
}

/// `sha256:<hex>` of a file's bytes, as the ledger writes digests.
fn digest(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    assert_ok(&out);
    format!("sha256:{}", stdout(&out).split_whitespace().next().unwrap())
}

/// The last ledger entry with `action`.
fn last(home: &Home, action: &str) -> Value {
    home.ledger()
        .into_iter()
        .rfind(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} entry"))
}

/// A witness key made with `ledger witness-key` in `home`; returns its
/// file and its public key.
fn witness(home: &Home) -> (PathBuf, String) {
    let key = home.path().join("witness.key");
    let out = home.run(&[
        "ledger",
        "witness-key",
        "security.example/witness",
        "-o",
        key.to_str().unwrap(),
    ]);
    assert_ok(&out);
    (key, stdout(&out).trim().to_string())
}

#[test]
fn a_witness_refuses_a_log_under_another_key() {
    let (home, rewritten) = (Home::new(), Home::new());
    for (h, names) in [(&home, ["ann", "ben"]), (&rewritten, ["ann", "cat"])] {
        for name in names {
            assert_ok(&h.run(&["identity", "new", name]));
        }
    }
    let (key, _) = witness(&home);
    let key = key.to_str().unwrap();
    let state = home.path().join("witness.state.json");
    let cosign = |h: &Home| {
        h.run(&[
            "ledger",
            "cosign",
            "--key",
            key,
            "--state",
            state.to_str().unwrap(),
        ])
    };
    assert_ok(&cosign(&home));
    // The same origin (this host's name) under a new key, as a ledger
    // rewritten and signed again would be: refused, and not remembered.
    let remembered = std::fs::read(&state).unwrap();
    assert_exit(&cosign(&rewritten), 3, "the log's key changed from");
    assert_eq!(std::fs::read(&state).unwrap(), remembered);
    assert_ok(&cosign(&home));
}

#[test]
fn min_witnesses_fails_once_cosigned_checkpoints_are_removed() {
    let home = Home::new();
    for name in ["ann", "ben"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
    let (key, public) = witness(&home);
    let verify = || {
        home.run(&[
            "ledger",
            "verify",
            "--witness",
            &public,
            "--min-witnesses",
            "1",
        ])
    };
    assert_ok(&home.run(&["ledger", "cosign", "--key", key.to_str().unwrap()]));
    // The log grows after the cosignature; the cosigned checkpoint is
    // still there to count.
    assert_ok(&home.run(&["identity", "new", "cat"]));
    assert_ok(&verify());

    let checkpoints = home.state().join("ledger/checkpoints.jsonl");
    let all = std::fs::read_to_string(&checkpoints).unwrap();
    let kept: String = all
        .lines()
        .filter(|l| !l.contains("security.example/witness"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.len() < all.len(), "no cosignature was stored: {all}");
    std::fs::write(&checkpoints, kept).unwrap();
    assert_exit(&verify(), 1, "no checkpoint is cosigned");
}

#[test]
fn grants_rollbacks_and_proposals_record_the_digests_the_docs_name() {
    if !privileged("grants_rollbacks_and_proposals_record_the_digests_the_docs_name") {
        return;
    }
    let ns = Netns::bare();
    let home = Home::new();
    let a = home.file("a.toml", POLICY);
    let b = home.file("b.toml", POLICY.replace("port = 22", "port = 2222"));
    let c = home.file("c.toml", POLICY.replace("port = 22", "port = 2200"));
    let apply =
        |p: &Path| assert_ok(&home.run_in(&ns, &["apply", "--policy", p.to_str().unwrap()]));

    assert_ok(&home.run(&["identity", "new", "ann"]));
    assert_ok(&home.run(&[
        "propose",
        c.to_str().unwrap(),
        "--reason",
        "r",
        "--identity",
        "ann",
    ]));
    let first = last(&home, "policy.propose");
    assert!(
        first.get("before").is_none(),
        "nothing was in effect: {first}"
    );
    assert_eq!(first["after"], digest(&c).as_str());

    apply(&a);
    let gen1 = last(&home, "apply")["after"].clone();
    apply(&b);
    let gen2 = last(&home, "apply")["after"].clone();
    assert_ne!(gen1, gen2);
    assert_ok(&home.run_in(
        &ns,
        &[
            "grant",
            "9229",
            "--from",
            "10.20.1.7",
            "--ttl",
            "10m",
            "--reason",
            "r",
        ],
    ));
    assert_eq!(last(&home, "grant")["policy"], digest(&b).as_str());

    assert_ok(&home.run_in(&ns, &["rollback"]));
    let rollback = last(&home, "rollback");
    assert_eq!(rollback["before"], gen2, "{rollback}");
    assert_eq!(rollback["after"], gen1, "{rollback}");
    assert_eq!(
        rollback["policy"],
        digest(&a).as_str(),
        "the restored generation's"
    );

    assert_ok(&home.run(&[
        "propose",
        c.to_str().unwrap(),
        "--reason",
        "r",
        "--identity",
        "ann",
    ]));
    let second = last(&home, "policy.propose");
    assert_eq!(
        second["before"],
        digest(&a).as_str(),
        "the policy in effect"
    );
    assert_eq!(second["after"], digest(&c).as_str());
}

#[test]
fn an_approved_policy_in_effect_may_be_installed_again_under_required_approval() {
    if !privileged("an_approved_policy_in_effect_may_be_installed_again_under_required_approval") {
        return;
    }
    let ns = Netns::bare();
    let home = Home::new();
    let required = format!("{POLICY}\n[change_control]\nrequired = true\n");
    let p = home.file("required.toml", &required);
    let q = home.file("other.toml", required.replace("9229", "9230"));
    for name in ["ann", "ben"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
    for file in [&p, &q] {
        let f = file.to_str().unwrap();
        assert_ok(&home.run(&["propose", f, "--reason", "r", "--identity", "ann"]));
    }
    for id in ["1", "2"] {
        assert_ok(&home.run(&["approve", id, "--identity", "ben"]));
    }
    assert_ok(&home.run_in(&ns, &["apply", "--proposal", "1"]));

    // Both proposals were made against no policy; proposal 1's own text
    // is in effect now. Installing it again is allowed, by number or by
    // file; proposal 2 is stale.
    assert_ok(&home.run_in(&ns, &["apply", "--proposal", "1"]));
    assert_ok(&home.run_in(&ns, &["apply", "--policy", p.to_str().unwrap()]));
    let applies: Vec<Value> = home
        .ledger()
        .into_iter()
        .filter(|e| e["action"] == "apply")
        .collect();
    assert_eq!(applies.len(), 3);
    assert!(
        applies.iter().all(|e| e["approval"] == "proposal 1"),
        "{applies:?}"
    );
    assert_exit(
        &home.run_in(&ns, &["apply", "--proposal", "2"]),
        2,
        "proposal 2 was proposed against another policy",
    );
    assert_exit(
        &home.run_in(&ns, &["apply", "--policy", q.to_str().unwrap()]),
        2,
        "required = true",
    );
}

/// A small tmpfs mounted over a [`Home`]'s state directory, so that the
/// state directory's file system can be filled; unmounted when dropped
/// (declare it after the `Home`, so it is dropped first).
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    fn over(home: &Home) -> SmallDisk {
        let at = home.state();
        std::fs::create_dir(&at).unwrap();
        assert_ok(&run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "portreeve-test"])
            .arg(&at)));
        SmallDisk { at }
    }

    fn free(&self) -> u64 {
        let stat = rustix::fs::statvfs(&self.at).unwrap();
        stat.f_bavail * stat.f_frsize
    }

    /// Fills the disk until `leave` bytes are free.
    fn fill_to(&self, leave: u64) {
        let filler = self.at.join("filler");
        let more = self.free() - leave;
        let size = std::fs::metadata(&filler).map_or(0, |m| m.len());
        std::fs::write(&filler, vec![0u8; (size + more) as usize]).unwrap();
    }

    fn empty(&self) {
        let _ = std::fs::remove_file(self.at.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = run(Command::new("umount").arg(&self.at));
    }
}

/// An `nft` for `$PORTREEVE_NFT` that runs the real `nft`, logs every
/// transaction (`nft -f`) to `transactions`, and after one that succeeded
/// fills the disk at `disk` to the last byte while `armed` exists.
struct FillingNft {
    script: PathBuf,
    transactions: PathBuf,
    armed: PathBuf,
}

impl FillingNft {
    fn new(home: &Home, disk: &SmallDisk) -> FillingNft {
        let transactions = home.path().join("nft-transactions");
        let armed = home.path().join("nft-armed");
        let script = support::nft_wrapper(
            home,
            "nft-filling",
            &format!(
                r#"    echo "$*" >> '{log}'
    nft "$@" || exit
    if [ -e '{armed}' ]; then
        cat /dev/zero >> '{disk}/filler' 2>/dev/null
    fi
    exit 0"#,
                log = transactions.display(),
                armed = armed.display(),
                disk = disk.at.display(),
            ),
        );
        FillingNft {
            script,
            transactions,
            armed,
        }
    }

    fn transactions(&self) -> usize {
        std::fs::read_to_string(&self.transactions).map_or(0, |t| t.lines().count())
    }
}

#[test]
fn no_change_is_left_in_effect_without_its_record() {
    if !testkit::privileged(
        "no_change_is_left_in_effect_without_its_record",
        &["ip", "nft", "mount", "umount", "sh"],
    ) {
        return;
    }
    let ns = Netns::bare();
    let home = Home::new();
    let disk = SmallDisk::over(&home);
    let nft = FillingNft::new(&home, &disk);
    let policy = home.file("p.toml", POLICY);
    let apply = || {
        let mut cmd = home.command(ns.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.env("PORTREEVE_NFT", &nft.script)
            .args(["apply", "--policy", policy.to_str().unwrap()]);
        run(&mut cmd)
    };
    let table = || {
        run(ns.exec("nft").args(["list", "table", "inet", "portreeve"]))
            .status
            .success()
    };
    let applies = || {
        home.ledger()
            .iter()
            .filter(|e| e["action"] == "apply")
            .count()
    };

    // Under 1 MiB free: refused before the kernel is touched.
    disk.fill_to(700 << 10);
    assert_exit(
        &apply(),
        3,
        "a change needs at least 1048576 to be recorded",
    );
    assert_eq!(nft.transactions(), 0, "nft was asked to change the kernel");
    assert!(!table());

    // Room before, none after the transaction: the change is taken back,
    // exit 3, and the error says so.
    disk.empty();
    std::fs::write(&nft.armed, "").unwrap();
    let out = apply();
    assert_exit(&out, 3, "it was undone: nothing changed");
    assert!(nft.transactions() >= 1, "the kernel was never changed");
    assert!(!table(), "the table is in effect without its record");
    std::fs::remove_file(&nft.armed).unwrap();
    disk.empty();
    assert_eq!(applies(), 0);

    // With room, the same apply goes through and is recorded.
    assert_ok(&apply());
    assert!(table());
    assert_eq!(applies(), 1);
}
