//! portreeve under faults and hostile local users, in namespaces the tests
//! create: an `apply --confirm-within` killed at any moment is still rolled
//! back by its deadline, and an unprivileged user cannot hold the lock that
//! every change of the firewall takes. Traffic stays inside the namespaces.

mod support;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Lab, run, stderr, stdout, testkit};

/// A policy allowing 8080 to the lab; and one with 100 other rules and no
/// 8080, large enough that `nft` takes a while to load it.
fn policies(subnet: u8) -> (String, String) {
    let zones = format!("[zones]\nlab = [\"10.{subnet}.0.0/24\"]\n\n");
    let old = format!(
        "{zones}[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
    );
    let mut new = zones;
    for i in 0..100 {
        new.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\nport = {}\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\n",
            20_000 + i * 3
        ));
    }
    (old, new)
}

#[test]
fn a_killed_confirm_within_apply_is_rolled_back_by_its_deadline_every_time() {
    if !testkit::privileged(
        "a_killed_confirm_within_apply_is_rolled_back_by_its_deadline_every_time",
        &["ip", "python3", "nft", "setsid"],
    ) {
        return;
    }
    let lab = Lab::new(51, &["tcp4:0.0.0.0:8080"]);
    let (old, new) = policies(51);
    let (old, new) = (
        lab.home.file("old.toml", &old),
        lab.home.file("new.toml", &new),
    );
    lab.ok(&["apply", "--policy", old.to_str().unwrap()]);
    assert!(lab.connects(8080));

    let mut went_live = 0;
    for delay_ms in [0u64, 15, 40, 80, 130, 200, 300, 1000] {
        let mut cmd = lab
            .home
            .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.args([
            "apply",
            "--policy",
            new.to_str().unwrap(),
            "--confirm-within",
            "2s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let started = Instant::now();
        let mut applier = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        applier.kill().unwrap(); // SIGKILL
        let _ = applier.wait();
        if !lab.connects(8080) {
            went_live += 1;
        }
        // By the deadline (2 s, plus the watchdog's half-second wake-up and
        // its rollback), the old ruleset is back, whenever the kill came.
        let by = started + Duration::from_millis(4500);
        while !lab.connects(8080) {
            assert!(
                Instant::now() < by,
                "killed after {delay_ms} ms: the unconfirmed ruleset is still live after its deadline"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever the records said before, the next command finds them
        // agreeing with the kernel: nothing awaits confirmation, nothing is
        // left pending, and the old policy is in effect.
        std::thread::sleep(Duration::from_millis(
            4500u64.saturating_sub(started.elapsed().as_millis() as u64),
        ));
        lab.ok(&["apply", "--policy", old.to_str().unwrap()]);
        let generations: Value =
            serde_json::from_str(&lab.ok(&["generations", "--format", "json"])).unwrap();
        let pending: Vec<&Value> = generations["generations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["status"] == "pending")
            .collect();
        assert!(
            pending.is_empty(),
            "killed after {delay_ms} ms: {pending:?}"
        );
    }
    // The kills landed both before and after nft committed.
    assert!(
        went_live > 0,
        "no kill came after the new ruleset went live"
    );
}

#[test]
fn an_unprivileged_user_cannot_hold_the_firewall_lock() {
    if !testkit::privileged(
        "an_unprivileged_user_cannot_hold_the_firewall_lock",
        &["ip", "python3", "nft", "setpriv", "flock"],
    ) {
        return;
    }
    let lab = Lab::new(52, &["tcp4:0.0.0.0:8080"]);
    let (old, _) = policies(52);
    let old = lab.home.file("old.toml", &old);
    lab.ok(&["apply", "--policy", old.to_str().unwrap()]);
    let lock = lab.home.state().join("enforce/lock");
    // The test's temporary directory is private to root; open the path to
    // the state directory as a real deployment (/var/lib) would have it,
    // and the state directory itself as an operator may (others may read
    // it, not write it): what protects the lock is its own mode and its
    // directory's.
    for dir in [lab.home.path().to_path_buf(), lab.home.state()] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    // nobody tries to take the lock and keep it for 20 s.
    let mut holder = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "flock",
            "-x",
            lock.to_str().unwrap(),
            "sleep",
            "20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let held = holder.try_wait().unwrap().is_none();
    let started = Instant::now();
    let out = lab.portreeve(&["apply", "--policy", old.to_str().unwrap()]);
    let took = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        !held,
        "an unprivileged user could open and hold {}",
        lock.display()
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "apply waited {took:?}");
}

/// Runs `portreeve ARGS` in `lab`'s server namespace under strace, with
/// the `nth` write-like system call (write, pwrite, fsync, fdatasync, …)
/// failing with ENOSPC, as on a full disk. Returns the output and whether
/// the failure was injected at all (the command made fewer such calls).
fn with_full_disk_at(lab: &Lab, nth: usize, args: &[&str]) -> (Output, bool) {
    let trace = lab.home.path().join("trace");
    let calls = "write,pwrite64,writev,pwritev,fsync,fdatasync";
    let mut cmd = lab.srv.exec("strace");
    cmd.args(["-f", "-qq", "-o"]).arg(&trace).args([
        "-e",
        &format!("trace={calls}"),
        "-e",
        &format!("inject={calls}:error=ENOSPC:when={nth}"),
        env!("CARGO_BIN_EXE_portreeve"),
    ]);
    let out = run(lab.home.command(cmd).args(args));
    let injected = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .contains("INJECTED");
    (out, injected)
}

/// The ledger's entries with `action`.
fn recorded(lab: &Lab, action: &str) -> Vec<Value> {
    lab.home
        .ledger()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// The elements of one of portreeve's sets as the kernel holds them.
fn kernel_set(lab: &Lab, set: &str) -> String {
    stdout(&run(lab.srv.exec("nft").args([
        "-j",
        "list",
        "set",
        "inet",
        "portreeve",
        set,
    ])))
}

/// The generation portreeve's table in the kernel is marked with; `None`
/// when the table is absent.
fn kernel_generation(lab: &Lab) -> Option<u64> {
    let listing: Value = serde_json::from_str(&kernel_set(lab, "generation")).ok()?;
    listing["nftables"][1]["set"]["elem"][0].as_u64()
}

#[test]
fn a_full_disk_at_any_step_leaves_no_change_without_its_record() {
    if !testkit::privileged(
        "a_full_disk_at_any_step_leaves_no_change_without_its_record",
        &["ip", "python3", "nft", "strace"],
    ) {
        return;
    }
    let lab = Lab::new(53, &["tcp4:0.0.0.0:8080"]);
    let zones = "[zones]\nlab = [\"10.53.0.0/24\"]\n\n";
    let debug = "[[rule]]\nname = \"debugger\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\ngrant = { max_ttl = \"1h\" }\n\n";
    let a = lab.home.file("a.toml", format!("{zones}{debug}"));
    let b = lab.home.file(
        "b.toml",
        format!("{zones}{debug}[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"),
    );
    lab.ok(&["apply", "--policy", a.to_str().unwrap()]);

    // A grant with the nth write failing, for every n until none fails.
    let grant = [
        "grant",
        "9229",
        "--from",
        "10.53.0.2",
        "--ttl",
        "10m",
        "--reason",
        "t",
    ];
    let mut steps = 0;
    for nth in 1.. {
        let before = recorded(&lab, "grant").len();
        let (out, injected) = with_full_disk_at(&lab, nth, &grant);
        let open = kernel_set(&lab, "grants_v4").contains("10.53.0.2");
        let now_recorded = recorded(&lab, "grant").len() > before;
        assert_ne!(out.status.code(), Some(101), "panicked: {}", stderr(&out));
        assert!(
            !open || now_recorded,
            "write {nth} failed: the grant is open without its record ({})",
            stderr(&out)
        );
        // Exit 0, or a lost report of a grant made and recorded (exit 3,
        // said so), or a failure that left nothing open.
        if out.status.success() || stderr(&out).contains("standard output: ") {
            assert!(
                open && now_recorded,
                "write {nth}: exit {:?} but {open} {now_recorded}: {}",
                out.status.code(),
                stderr(&out)
            );
        } else {
            assert!(
                !open,
                "write {nth}: failed ({}) but the grant is open",
                stderr(&out)
            );
        }
        if open {
            lab.ok(&["revoke", "9229", "--from", "10.53.0.2"]);
        }
        if !injected {
            break;
        }
        steps += 1;
    }
    assert!(
        steps > 3,
        "only {steps} writes: the test did not exercise much"
    );

    // An apply with the nth write failing: the live generation is either
    // the one before or one the ledger records.
    let mut steps = 0;
    for nth in 1.. {
        let generation = |lab: &Lab| kernel_generation(lab).expect("the table is there");
        let live_before = generation(&lab);
        let (out, injected) =
            with_full_disk_at(&lab, nth, &["apply", "--policy", b.to_str().unwrap()]);
        assert_ne!(out.status.code(), Some(101), "panicked: {}", stderr(&out));
        let live = generation(&lab);
        if live != live_before {
            let applied = recorded(&lab, "apply");
            assert!(
                applied.iter().any(|e| e["object"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("generation {live} "))),
                "write {nth} failed: generation {live} is live without its record ({})",
                stderr(&out)
            );
        }
        let lost_report = stderr(&out).contains("standard output: ");
        assert_eq!(
            out.status.success() || lost_report,
            live != live_before,
            "write {nth}: exit {:?} but live {live_before} -> {live}: {}",
            out.status.code(),
            stderr(&out)
        );
        // Back to A for the next round.
        lab.ok(&["apply", "--policy", a.to_str().unwrap()]);
        if !injected {
            break;
        }
        steps += 1;
    }
    assert!(
        steps > 3,
        "only {steps} writes: the test did not exercise much"
    );
}

/// Every directory and file under `dir`, with its permission bits.
fn modes(dir: &std::path::Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        out.push((entry.path(), meta.permissions().mode() & 0o7777));
        if meta.is_dir() {
            out.extend(modes(&entry.path()));
        }
    }
    out
}

#[test]
fn the_state_directory_protects_itself_under_umask_0_and_from_planted_links() {
    if !testkit::privileged(
        "the_state_directory_protects_itself_under_umask_0_and_from_planted_links",
        &["ip", "python3", "nft", "setsid", "sh"],
    ) {
        return;
    }
    let lab = Lab::new(54, &["tcp4:0.0.0.0:8080"]);
    let zones = "[zones]\nlab = [\"10.54.0.0/24\"]\n\n";
    let policy = lab.home.file(
        "p.toml",
        format!("{zones}[[rule]]\nname = \"debugger\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\ngrant = {{ max_ttl = \"1h\" }}\n"),
    );
    let state = lab.home.state();
    // Everything a host keeps, made with a umask that hides nothing.
    let under_umask_0 = |args: &str| {
        let mut sh = lab.srv.exec("sh");
        sh.args([
            "-c",
            r#"umask 0; exec "$0" "$@""#,
            env!("CARGO_BIN_EXE_portreeve"),
        ]);
        let out = run(lab.home.command(sh).args(args.split_whitespace()));
        assert!(out.status.success(), "{args}: {}", stderr(&out));
    };
    under_umask_0(&format!(
        "apply --policy {} --confirm-within 1h",
        policy.display()
    ));
    under_umask_0("confirm");
    under_umask_0("grant 9229 --from 10.54.0.2 --ttl 10m --reason t");
    under_umask_0("identity new alice");
    under_umask_0("import zeek /dev/null");
    // Nothing writable by others; every directory private (public keys
    // may be readable).
    let open: Vec<_> = modes(&state)
        .into_iter()
        .filter(|(path, mode)| mode & 0o022 != 0 || (path.is_dir() && mode & 0o077 != 0))
        .collect();
    assert!(open.is_empty(), "open to others: {open:?}");

    // A link planted in the state directory is not followed.
    let target = lab.home.path().join("elsewhere");
    std::fs::write(&target, "untouched\n").unwrap();
    let log = state.join("enforce/grants.jsonl");
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let out = lab.portreeve(&[
        "grant",
        "9229",
        "--from",
        "10.54.0.3",
        "--ttl",
        "10m",
        "--reason",
        "t",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    assert!(
        !kernel_set(&lab, "grants_v4").contains("10.54.0.3"),
        "the grant was closed again when it could not be logged"
    );

    // A state directory others can write is refused, and doctor says so.
    std::fs::remove_file(&log).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not safe"), "{}", stderr(&out));
    let out = lab.portreeve(&["doctor", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "a problem is exit 1");
    let doctor: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let check = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "state directory")
        .unwrap()
        .clone();
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("lets others write"),
        "{check}"
    );
}

#[test]
fn a_hand_made_change_to_portreeves_table_is_seen_by_plan_and_check() {
    if !testkit::privileged(
        "a_hand_made_change_to_portreeves_table_is_seen_by_plan_and_check",
        &["ip", "python3", "nft", "unshare"],
    ) {
        return;
    }
    let lab = Lab::new(55, &["tcp4:0.0.0.0:8080"]);
    let (policy, _) = policies(55);
    let policy = lab.home.file("p.toml", &policy);
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    let drift = |lab: &Lab| -> Vec<Value> {
        let doc: Value = serde_json::from_str(&lab.ok(&["check", "--format", "json"])).unwrap();
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "PR014")
            .cloned()
            .collect()
    };
    assert!(drift(&lab).is_empty(), "nothing was changed yet");
    let plan = lab.ok(&["plan", "--policy", policy.to_str().unwrap()]);
    assert!(plan.contains("is live and identical"), "{plan}");

    // Someone opens SSH to an address the policy does not name.
    let nft = run(lab
        .srv
        .exec("nft")
        .args(["add element inet portreeve allowed_v4 { 203.0.113.9 . tcp . 22 }"]));
    assert!(nft.status.success(), "{}", stderr(&nft));

    let plan = lab.ok(&["plan", "--policy", policy.to_str().unwrap()]);
    assert!(plan.contains("changed outside portreeve"), "{plan}");
    assert!(
        plan.contains("element added") && plan.contains("203.0.113.9"),
        "{plan}"
    );
    let found = drift(&lab);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["severity"], "high");
    assert!(
        found[0]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("203.0.113.9"),
        "{:?}",
        found[0]
    );
    // Grants and the usage record change at run time and are no drift.
    // Applying again puts the ruleset back.
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    assert!(drift(&lab).is_empty());
}

/// Every generation and the live one's number, as `generations` lists them.
fn generations(lab: &Lab) -> (u64, Vec<Value>) {
    let doc: Value = serde_json::from_str(&lab.ok(&["generations", "--format", "json"])).unwrap();
    (
        doc["current"].as_u64().unwrap(),
        doc["generations"].as_array().unwrap().clone(),
    )
}

/// The records agree with the kernel: the table is marked with the
/// generation recorded as live (or is absent when that generation removed
/// it), and no generation after it is recorded as anything but failed or
/// reverted — nothing is recorded as applied that never reached the
/// kernel.
#[track_caller]
fn assert_records_match_kernel(lab: &Lab) {
    let (current, list) = generations(lab);
    let live = list.iter().find(|g| g["generation"] == current);
    let removed_table = live.is_some_and(|g| g["restores"] == 0);
    let expected = (current != 0 && !removed_table).then_some(current);
    assert_eq!(kernel_generation(lab), expected, "{list:#?}");
    let later: Vec<&Value> = list
        .iter()
        .filter(|g| g["generation"].as_u64().unwrap() > current)
        .filter(|g| g["status"] != "failed" && g["status"] != "reverted")
        .collect();
    assert!(
        later.is_empty(),
        "recorded as in effect, never live: {later:#?}"
    );
}

/// The status of the newest generation.
fn last_status(lab: &Lab) -> Value {
    generations(lab).1.last().unwrap()["status"].clone()
}

/// An `nft` for `$PORTREEVE_NFT` that fails the transactions that change
/// the kernel (`nft -f`) as many times as [`FaultyNft::fail_next`] says,
/// and otherwise runs the real `nft`. Processes portreeve starts (the
/// confirmation watchdog) inherit it.
struct FaultyNft {
    script: PathBuf,
    budget: PathBuf,
}

impl FaultyNft {
    fn new(home: &support::Home) -> FaultyNft {
        let script = support::nft_wrapper(
            home,
            "nft-faulty",
            r#"    budget="$0.failures"
    n=$(cat "$budget" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then
        echo $((n - 1)) > "$budget"
        echo "nft: injected failure" >&2
        exit 1
    fi"#,
        );
        let budget = PathBuf::from(format!("{}.failures", script.display()));
        FaultyNft { script, budget }
    }

    /// Makes the next `n` transactions fail.
    fn fail_next(&self, n: u32) {
        std::fs::write(&self.budget, format!("{n}\n")).unwrap();
    }

    /// How many of them have not been tried yet.
    fn failures_left(&self) -> u32 {
        std::fs::read_to_string(&self.budget).map_or(0, |t| t.trim().parse().unwrap())
    }
}

/// `portreeve ARGS` in `lab`'s server namespace with `env` set.
fn portreeve_with(lab: &Lab, env: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> Output {
    let mut cmd = lab
        .home
        .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")));
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd.args(args))
}

/// The ledger's entries with `action` by `actor`.
fn recorded_by(lab: &Lab, action: &str, actor: &str) -> usize {
    recorded(lab, action)
        .iter()
        .filter(|e| e["actor"] == actor)
        .count()
}

#[test]
fn a_failing_nft_leaves_no_generation_recorded_as_applied_and_the_watchdog_retries() {
    if !testkit::privileged(
        "a_failing_nft_leaves_no_generation_recorded_as_applied_and_the_watchdog_retries",
        &["ip", "python3", "nft", "setsid", "sh"],
    ) {
        return;
    }
    let lab = Lab::new(56, &["tcp4:0.0.0.0:8080"]);
    let (old, new) = policies(56);
    let (old, new) = (
        lab.home.file("old.toml", &old),
        lab.home.file("new.toml", &new),
    );
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let nft = FaultyNft::new(&lab.home);
    let faulty = [("PORTREEVE_NFT", nft.script.as_os_str())];
    let with_faulty = |args: &[&str]| portreeve_with(&lab, &faulty, args);
    let ok = |args: &[&str]| support::assert_ok(&with_faulty(args));
    ok(&["apply", "--policy", old]);

    // An apply whose transaction fails: exit 3, the kernel and the
    // records as before, nothing in the ledger.
    nft.fail_next(1);
    let out = with_faulty(&["apply", "--policy", new]);
    support::assert_exit(&out, 3, "injected failure");
    assert_eq!(nft.failures_left(), 0);
    assert_eq!(kernel_generation(&lab), Some(1));
    assert!(lab.connects(8080));
    assert_eq!(last_status(&lab), "failed");
    assert_records_match_kernel(&lab);
    assert_eq!(recorded(&lab, "apply").len(), 1);

    // A rollback whose transaction fails: the same.
    ok(&["apply", "--policy", new]);
    let live = kernel_generation(&lab).unwrap();
    nft.fail_next(1);
    let out = with_faulty(&["rollback"]);
    support::assert_exit(&out, 3, "injected failure");
    assert_eq!(kernel_generation(&lab), Some(live));
    assert!(!lab.connects(8080));
    assert_eq!(last_status(&lab), "failed");
    assert_records_match_kernel(&lab);
    assert!(recorded(&lab, "rollback").is_empty());

    // The watchdog's rollback fails twice: it tries again, says so in its
    // log, and restores the old ruleset all the same.
    ok(&["rollback"]);
    assert!(lab.connects(8080));
    let started = Instant::now();
    ok(&["apply", "--policy", new, "--confirm-within", "1s"]);
    let pending = kernel_generation(&lab).unwrap();
    nft.fail_next(2);
    assert!(!lab.connects(8080));
    while recorded_by(&lab, "rollback", "watchdog") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the watchdog gave up: {}",
            std::fs::read_to_string(lab.home.state().join("enforce/watchdog.log"))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(nft.failures_left(), 0, "both failures were met");
    assert!(lab.connects(8080), "the old ruleset is back");
    let log = std::fs::read_to_string(lab.home.state().join("enforce/watchdog.log")).unwrap();
    assert_eq!(
        log.matches("rollback failed; trying again").count(),
        2,
        "{log}"
    );
    assert_records_match_kernel(&lab);
    let (current, list) = generations(&lab);
    let status = |n: u64| list.iter().find(|g| g["generation"] == n).unwrap()["status"].clone();
    assert_eq!(status(pending), "reverted");
    assert_eq!(
        (pending + 1..current)
            .filter(|&n| status(n) == "failed")
            .count(),
        2,
        "two failed attempts before generation {current}: {list:#?}"
    );
}

#[test]
fn without_setsid_an_apply_that_must_be_confirmed_changes_nothing() {
    if !testkit::privileged(
        "without_setsid_an_apply_that_must_be_confirmed_changes_nothing",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = Lab::new(57, &["tcp4:0.0.0.0:8080"]);
    let (old, new) = policies(57);
    let (old, new) = (
        lab.home.file("old.toml", &old),
        lab.home.file("new.toml", &new),
    );
    lab.ok(&["apply", "--policy", old.to_str().unwrap()]);
    // A PATH holding what the command needs (`ip` to enter the namespace,
    // `nft`) and no `setsid`.
    let bin = lab.home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for program in ["ip", "nft"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(program))
            .find(|p| p.exists())
            .unwrap();
        std::os::unix::fs::symlink(found, bin.join(program)).unwrap();
    }
    let out = portreeve_with(
        &lab,
        &[("PATH", bin.as_os_str())],
        &[
            "apply",
            "--policy",
            new.to_str().unwrap(),
            "--confirm-within",
            "1m",
        ],
    );
    support::assert_exit(&out, 3, "cannot start the confirmation watchdog");
    assert!(stderr(&out).contains("setsid"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was applied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(kernel_generation(&lab), Some(1));
    assert!(lab.connects(8080));
    assert_eq!(last_status(&lab), "failed");
    assert_records_match_kernel(&lab);
    assert_eq!(recorded(&lab, "apply").len(), 1);
}

#[test]
fn impossible_rollbacks_and_confirms_are_refused_and_a_damaged_current_is_an_error() {
    if !testkit::privileged(
        "impossible_rollbacks_and_confirms_are_refused_and_a_damaged_current_is_an_error",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = Lab::new(58, &["tcp4:0.0.0.0:8080"]);
    // Nothing applied yet.
    support::assert_exit(
        &lab.portreeve(&["confirm"]),
        2,
        "no applied ruleset is awaiting confirmation",
    );
    support::assert_exit(&lab.portreeve(&["rollback"]), 2, "nothing to roll back");
    assert_eq!(generations(&lab), (0, Vec::new()));

    let (old, new) = policies(58);
    let (old, new) = (
        lab.home.file("old.toml", &old),
        lab.home.file("new.toml", &new),
    );
    let old = old.to_str().unwrap();
    lab.ok(&["apply", "--policy", old]);
    lab.ok(&["apply", "--policy", new.to_str().unwrap()]);
    support::assert_exit(
        &lab.portreeve(&["confirm"]),
        2,
        "no applied ruleset is awaiting confirmation",
    );

    // A generation that does not exist: refused as a mistake, nothing made.
    support::assert_exit(
        &lab.portreeve(&["rollback", "--to", "9"]),
        2,
        "there is no generation 9",
    );
    assert_eq!(generations(&lab).1.len(), 2);
    assert_eq!(kernel_generation(&lab), Some(2));

    // Generation 0: portreeve's table removed, and recorded.
    let out = lab.ok(&["rollback", "--to", "0"]);
    assert!(out.contains("Removed portreeve's table"), "{out}");
    assert_eq!(kernel_generation(&lab), None);
    assert!(lab.live_table().is_empty());
    assert!(lab.connects(8080), "no table, no filter");
    assert_records_match_kernel(&lab);
    assert_eq!(recorded(&lab, "rollback").len(), 1);
    // Back to the generation that removed it: still no table.
    let removed = generations(&lab).0;
    lab.ok(&["apply", "--policy", old]);
    let out = lab.portreeve(&["rollback", "--to", &removed.to_string()]);
    support::assert_ok(&out);
    assert_eq!(kernel_generation(&lab), None, "{}", stdout(&out));
    assert_records_match_kernel(&lab);

    // A damaged `current`: every command that needs the live generation
    // says so, none takes it for 0.
    lab.ok(&["apply", "--policy", old]);
    let live = kernel_generation(&lab).unwrap();
    std::fs::write(lab.home.state().join("enforce/current"), "garbage\n").unwrap();
    for args in [
        &["generations"][..],
        &["confirm"],
        &["rollback"],
        &["apply", "--policy", old],
    ] {
        let out = lab.portreeve(args);
        support::assert_exit(&out, 3, "enforce/current");
        assert!(
            stderr(&out).contains("not a generation number"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(kernel_generation(&lab), Some(live), "nothing was changed");
}
