//! `check` judges exposure from the firewall it installed: a real Redis on
//! `0.0.0.0` behind portreeve's ruleset, which admits only a management
//! zone, is graded as reachable from that zone; without the ruleset, or
//! with the table changed by hand, as reachable from everywhere. An
//! accepted risk is shown as accepted and counted nowhere until the day
//! after it expires, when (under `faketime`) it comes back.

mod support;

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use jiff::ToSpan;
use serde_json::Value;
use support::{Lab, assert_matches_schema, run, stderr, stdout, testkit};

/// The management zone is the lab's link: the client at 10.74.0.2 is in it.
const POLICY: &str = r#"
[zones]
mgmt = ["10.74.0.0/24"]

[[rule]]
name = "redis"
port = 6379
protocol = "tcp"
zones = ["mgmt"]
owner = "data-team"
reason = "cache for the batch hosts"
"#;

const REACH: &str = "mgmt (10.74.0.0/24)";

/// A Redis server in the lab's server namespace, stopped on drop.
struct Redis(Child);

impl Redis {
    fn start(lab: &Lab) -> Redis {
        let child = lab
            .srv
            .exec("redis-server")
            .args(support::OPEN_REDIS)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lab.connects(6379) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The only risky-service finding (PR003) about port 6379 in a `check
/// --format json` document.
fn redis_finding(doc: &Value) -> &Value {
    let found: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["socket"]["port"] == 6379 && f["id"] == "PR003")
        .collect();
    assert_eq!(found.len(), 1, "{doc:#}");
    found[0]
}

/// `check --format nagios` with `extra` arguments before it (e.g. a
/// policy): its exit status and output.
fn nagios(lab: &Lab, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["check", "--format", "nagios"];
    args.extend_from_slice(extra);
    let out = lab.portreeve(&args);
    (out.status.code().unwrap_or(-1), stdout(&out))
}

/// The object of the ledger's last entry of `action`.
fn last_entry(lab: &Lab, action: &str) -> String {
    let entries = lab.home.ledger();
    let entry = entries
        .iter()
        .rev()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} entry in {entries:#?}"));
    entry["object"].as_str().unwrap().to_string()
}

/// `portreeve ARGS` in the server namespace with the clock at `day`.
fn on_day(lab: &Lab, day: jiff::civil::Date, args: &[&str]) -> Output {
    // `faketime DATE PROGRAM ARGS`: the state directory goes by the
    // environment, since flags would land before the program.
    run(lab
        .srv
        .exec("faketime")
        .arg(format!("{day} 12:00:00"))
        .arg(env!("CARGO_BIN_EXE_portreeve"))
        .args(args)
        .env("PORTREEVE_STATE_DIR", lab.home.state())
        .env_remove("PORTREEVE_POLICY")
        .env("NO_COLOR", "1"))
}

#[test]
fn a_firewalled_risky_port_is_graded_by_where_it_is_reachable_from() {
    if !testkit::privileged(
        "a_firewalled_risky_port_is_graded_by_where_it_is_reachable_from",
        &["ip", "python3", "nft", "redis-server"],
    ) {
        return;
    }
    let lab = Lab::new(74, &["tcp4:127.0.0.1:7074"]);
    let _redis = Redis::start(&lab);
    let policy = lab.home.file("policy.toml", POLICY);
    let policy = policy.to_str().unwrap();

    // No firewall yet: reachable from everywhere, graded as the catalogue
    // grades an open Redis.
    let before = lab.json(&["check", "--policy", policy, "--format", "json"]);
    let f = redis_finding(&before);
    assert_eq!(f["id"], "PR003");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["reach"]["scope"], "everywhere", "{f:#}");
    assert_eq!(f["reach"]["why"], "no portreeve ruleset is live");
    assert_eq!(nagios(&lab, &["--policy", policy]).0, 2);

    lab.ok(&["apply", "--policy", policy]);
    assert!(lab.connects(6379), "the management zone reaches Redis");
    let after = lab.json(&["check", "--format", "json"]);
    assert_matches_schema(&after, "docs/schema/check.v1.json");
    let f = redis_finding(&after);
    assert_eq!(f["id"], "PR003");
    assert_eq!(f["severity"], "medium", "{f:#}");
    assert_eq!(f["reach"]["scope"], "zones");
    assert_eq!(f["reach"]["from"][0]["zone"], "mgmt");
    assert_eq!(f["reach"]["from"][0]["networks"][0], "10.74.0.0/24");
    assert!(f["message"].as_str().unwrap().contains(REACH), "{f:#}");
    let (state, text) = nagios(&lab, &[]);
    assert_eq!(state, 1, "WARNING, not CRITICAL: {text}");
    assert!(text.contains(&format!("reachable from {REACH}")), "{text}");
    let table = lab.ok(&["check", "--details"]);
    assert!(
        table.contains(&format!("reachable from: {REACH}")),
        "{table}"
    );

    // A table changed by hand protects nobody portreeve can vouch for.
    run(lab
        .srv
        .exec("nft")
        .args(["add", "chain", "inet", "portreeve", "by_hand"]));
    let drifted = lab.json(&["check", "--format", "json"]);
    let f = redis_finding(&drifted);
    assert_eq!(f["severity"], "critical");
    assert_eq!(
        f["reach"]["why"],
        "portreeve's table was changed outside portreeve"
    );
}

#[test]
fn an_accepted_risk_is_shown_not_counted_and_comes_back_when_it_expires() {
    if !testkit::privileged(
        "an_accepted_risk_is_shown_not_counted_and_comes_back_when_it_expires",
        &["ip", "python3", "nft", "redis-server", "faketime"],
    ) {
        return;
    }
    let lab = Lab::new(75, &["tcp4:127.0.0.1:7075"]);
    let _redis = Redis::start(&lab);
    let expires = jiff::ZonedDateTime::now().date() + 30.days();
    let text = format!(
        "{}\n[[accepted_risk]]\nfinding = \"PR003 6379/tcp\"\nowner = \"data-team\"\n\
         reason = \"batch hosts need it until the migration\"\nexpires = {expires}\n",
        POLICY.replace("10.74.", "10.75.")
    );
    let policy = lab.home.file("policy.toml", text);
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);

    let object = last_entry(&lab, "apply");
    assert!(
        object.contains(&format!(
            "accepts PR003 6379/tcp (owner data-team, until {expires}: batch hosts need it until the migration)"
        )),
        "{object}"
    );

    let doc = lab.json(&["check", "--format", "json", "--record"]);
    assert_matches_schema(&doc, "docs/schema/check.v1.json");
    let f = redis_finding(&doc);
    assert_eq!(f["accepted"]["owner"], "data-team", "{f:#}");
    assert_eq!(f["accepted"]["expires"], expires.to_string());
    assert_eq!(doc["summary"]["accepted"], 1);
    assert_eq!(doc["summary"]["findings"], 0);
    let object = last_entry(&lab, "check");
    assert!(
        object.contains(&format!(
            "accepted: PR003 6379/tcp (by data-team until {expires})"
        )),
        "{object}"
    );

    let (state, text) = nagios(&lab, &[]);
    assert_eq!(state, 0, "an accepted finding does not count: {text}");
    assert!(text.contains("[accepted medium] PR003"), "{text}");
    let sarif: Value = serde_json::from_str(&lab.ok(&["check", "--format", "sarif"])).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let redis = results
        .iter()
        .find(|r| r["ruleId"] == "PR003")
        .expect("PR003 result");
    assert_eq!(redis["suppressions"][0]["kind"], "external", "{redis:#}");
    let table = lab.ok(&["check"]);
    assert!(
        table.contains(&format!("ACCEPTED until {expires}")),
        "{table}"
    );

    // On its last day it still holds; the day after, it is back.
    let last = on_day(&lab, expires, &["check", "--format", "json"]);
    assert!(last.status.success(), "{}", stderr(&last));
    let last: Value = serde_json::from_slice(&last.stdout).unwrap();
    assert_eq!(last["summary"]["accepted"], 1);
    let after = on_day(&lab, expires + 1.day(), &["check", "--format", "json"]);
    assert!(after.status.success(), "{}", stderr(&after));
    let after: Value = serde_json::from_slice(&after.stdout).unwrap();
    let f = redis_finding(&after);
    assert!(f.get("accepted").is_none(), "{f:#}");
    assert_eq!(after["summary"]["accepted"], 0);
    assert_eq!(after["summary"]["findings"], 1);
    assert!(
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().ends_with("the acceptance has expired")),
        "{f:#}"
    );
    let expired = on_day(&lab, expires + 1.day(), &["check", "--format", "nagios"]);
    assert_eq!(expired.status.code(), Some(1), "{}", stdout(&expired));

    // The agent's gauges count what today's check counted: every
    // severity the same, the accepted finding apart.
    let _agent = support::start_agent(&lab.srv, &lab.home.state(), &[]);
    support::wait_for(&lab.srv, Duration::from_secs(10), |t| {
        let same = ["info", "low", "medium", "high", "critical"]
            .iter()
            .all(|s| {
                support::sample(t, &format!("portreeve_findings{{severity=\"{s}\"}}"))
                    == doc["summary"]["by_severity"][s].as_f64()
            });
        (same && support::sample(t, "portreeve_findings_accepted") == Some(1.0)).then_some(())
    });
}
