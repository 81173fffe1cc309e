//! `portreeve agent` end to end, in a server namespace linked to a client
//! namespace: a new listener shows as drift in the metrics within 2 s, a
//! connection moves the port's last access, and SIGTERM stops the agent
//! cleanly. Nothing leaves the namespaces.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{Lab, Netns, metrics, run, sample, start_agent, stderr, stdout, testkit, wait_for};

#[test]
fn drift_and_usage_show_in_the_metrics_and_sigterm_stops_the_agent() {
    if !testkit::privileged(
        "drift_and_usage_show_in_the_metrics_and_sigterm_stops_the_agent",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let (srv, client) = (Netns::bare(), Netns::bare());
    srv.link(&client, "10.32.0.1/24", "10.32.0.2/24");
    // A stateful rule makes conntrack follow this namespace's flows.
    let nft = run(srv.exec("nft").args([
        "add table inet t; add chain inet t c { type filter hook input priority 0; }; add rule inet t c ct state new counter",
    ]));
    assert!(nft.status.success(), "{}{}", stdout(&nft), stderr(&nft));
    let state = tempfile::tempdir().unwrap();
    let mut agent = start_agent(&srv, state.path(), &[]);
    // The first reading is the baseline: a listener that appears before it
    // is no drift.
    wait_for(&srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&s| s > 0.0)
    });

    // A new listener: drift within 2 s of its appearance.
    let _web = srv.listen(&["tcp4:0.0.0.0:7070"], 0);
    let (_, took) = wait_for(&srv, Duration::from_secs(5), |t| {
        sample(t, "portreeve_drift_events_total{kind=\"new_listener\"}").filter(|&n| n >= 1.0)
    });
    assert!(took < Duration::from_secs(2), "drift took {took:?}");

    // A connection: the port's last access appears, and moves.
    let connect = || {
        client.run(|| {
            let to: SocketAddr = "10.32.0.1:7070".parse().unwrap();
            TcpStream::connect_timeout(&to, Duration::from_secs(2)).unwrap();
        })
    };
    let age_series = "portreeve_port_last_access_age_seconds{protocol=\"tcp\",port=\"7070\"}";
    connect();
    let (first, took) = wait_for(&srv, Duration::from_secs(5), |t| sample(t, age_series));
    assert!(took < Duration::from_secs(2), "usage took {took:?}");
    assert!(first < 2.0, "a fresh access is young: {first}");
    std::thread::sleep(Duration::from_millis(1500));
    let (older, _) = wait_for(&srv, Duration::from_secs(5), |t| {
        sample(t, age_series).filter(|&a| a > first)
    });
    connect();
    let (younger, _) = wait_for(&srv, Duration::from_secs(5), |t| {
        sample(t, age_series).filter(|&a| a < older)
    });
    assert!(younger < older, "{younger} < {older}");
    let text = metrics(&srv).unwrap();
    assert!(
        sample(&text, "portreeve_conntrack_events_total").unwrap() >= 2.0,
        "{text}"
    );
    // The built-in baseline judges 7070 as unexpected, and the lifecycle
    // counts it as active.
    assert!(
        sample(&text, "portreeve_findings{severity=\"high\"}").unwrap_or(0.0)
            + sample(&text, "portreeve_findings{severity=\"medium\"}").unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "portreeve_ports{state=\"active\"}").unwrap() >= 1.0,
        "{text}"
    );

    // SIGTERM: a clean stop.
    let log = agent.stop();
    assert!(log.contains("agent stopped"), "{log}");
    assert!(metrics(&srv).is_none(), "the endpoint closed");

    // `portreeve drift` shows what the agent recorded.
    let drift = run(support::portreeve().args([
        "--state-dir",
        state.path().to_str().unwrap(),
        "drift",
        "--format",
        "json",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&drift)).unwrap();
    assert!(
        doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "new_listener" && e["port"] == 7070),
        "{doc}"
    );

    // Restarted, the agent resumes: no listener is new again, and the
    // port's last access is known at once.
    let mut again = start_agent(&srv, state.path(), &[]);
    let (age, _) = wait_for(&srv, Duration::from_secs(10), |t| sample(t, age_series));
    assert!(
        age >= younger,
        "the stored last access, aged: {age} vs {younger}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let text = metrics(&srv).unwrap();
    assert_eq!(
        sample(&text, "portreeve_drift_events_total{kind=\"new_listener\"}"),
        Some(0.0),
        "nothing is new after a restart: {text}"
    );
    again.stop();
}

/// Whether `client` can open a TCP connection to `to`.
fn connects(client: &Netns, to: &str) -> bool {
    client.connects(to.parse().unwrap())
}

/// A policy for the lab at 10.SUBNET.0.0/24 that closes abandoned ports:
/// 7070 may be closed, 7071 is kept. Thresholds of seconds stand in for 72
/// hours and 30 days.
fn closing_policy(subnet: u8) -> String {
    format!(
        "[zones]\nlab = [\"10.{subnet}.0.0/24\"]\n\
         [lifecycle]\ndormant_after = \"1s\"\nabandoned_after = \"2s\"\nreclaim = \"close\"\n\
         [[rule]]\nname = \"app\"\nport = 7070\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
         [[rule]]\nname = \"kept\"\nport = 7071\nprotocol = \"tcp\"\nzones = [\"lab\"]\nkeep = true\n"
    )
}

#[test]
fn an_abandoned_port_is_reclaimed_recorded_and_reopened() {
    if !testkit::privileged(
        "an_abandoned_port_is_reclaimed_recorded_and_reopened",
        &["ip", "python3", "nft", "setsid"],
    ) {
        return;
    }
    let (srv, client) = (Netns::bare(), Netns::bare());
    srv.link(&client, "10.33.0.1/24", "10.33.0.2/24");
    let _listeners = srv.listen(&["tcp4:0.0.0.0:7070", "tcp4:0.0.0.0:7071"], 0);
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, closing_policy(33)).unwrap();
    let state = dir.path().join("state");
    let portreeve = |args: &[&str]| {
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut cmd = srv.exec(env!("CARGO_BIN_EXE_portreeve"));
        cmd.args(&all).env_remove("PORTREEVE_POLICY");
        run(&mut cmd)
    };
    let p = policy.to_str().unwrap();
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    ok(portreeve(&["apply", "--policy", p]));
    assert!(connects(&client, "10.33.0.1:7070") && connects(&client, "10.33.0.1:7071"));

    // The agent sees the ports; then nobody uses them for the thresholds.
    let mut agent = start_agent(&srv, &state, &[]);
    wait_for(&srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_listeners")
    });
    agent.stop();
    std::thread::sleep(Duration::from_millis(2500));

    let plan: serde_json::Value =
        serde_json::from_str(&ok(portreeve(&["lifecycle", "--format", "json"]))).unwrap();
    let port = |n: u16| {
        plan["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"]["port"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing: {plan}"))
    };
    // The kernel's record of the first connections makes them "used" at
    // apply time, more than 2 s ago.
    assert_eq!(port(7070)["state"], "abandoned", "{plan}");
    assert_eq!(port(7070)["action"], "close");
    assert_eq!(port(7071)["action"], "none", "keep = true");
    assert_eq!(port(7071)["hold"], "keep");
    // `check` reports the abandoned port (PR013), not the kept one.
    let abandoned = || -> Vec<serde_json::Value> {
        let out = portreeve(&["check", "--policy", p, "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "PR013")
            .cloned()
            .collect()
    };
    let found = abandoned();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["name"], "abandoned-port");
    assert_eq!(found[0]["severity"], "medium");
    assert_eq!(found[0]["socket"]["port"], 7070, "{:#}", found[0]);
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("7070/tcp has been unused for"),
        "{:#}",
        found[0]
    );

    let closed = ok(portreeve(&["reclaim", "--apply"]));
    assert!(closed.contains("Closed 7070/tcp (reclaim 1)"), "{closed}");
    assert!(!connects(&client, "10.33.0.1:7070"), "reclaimed: closed");
    assert!(connects(&client, "10.33.0.1:7071"), "kept: open");
    assert!(abandoned().is_empty(), "reclaimed: no longer a finding");
    // A later apply of the same policy keeps the reclaim.
    ok(portreeve(&["apply", "--policy", p]));
    assert!(
        !connects(&client, "10.33.0.1:7070"),
        "still closed after apply"
    );

    let reopened = ok(portreeve(&[
        "reclaim",
        "--undo",
        "1",
        "--reason",
        "still needed",
    ]));
    assert!(reopened.contains("Reopened 7070/tcp"), "{reopened}");
    assert!(connects(&client, "10.33.0.1:7070"), "undone: open again");
    let again = portreeve(&["reclaim", "--undo", "1"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));

    let log: serde_json::Value =
        serde_json::from_str(&ok(portreeve(&["ledger", "log", "--format", "json"]))).unwrap();
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["apply", "reclaim", "apply", "reclaim.undo"],
        "{log}"
    );
    ok(portreeve(&["ledger", "verify"]));
}

/// The elements of portreeve's allowed set (IPv4) as nft lists them.
fn allowed(lab: &Lab) -> String {
    let out = run(lab
        .srv
        .exec("nft")
        .args(["list", "set", "inet", "portreeve", "allowed_v4"]));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The sum of `portreeve_agent_errors_total` over its sources, and the
/// `reclaim` source alone.
fn errors(text: &str) -> (f64, f64) {
    let total = text
        .lines()
        .filter(|l| l.starts_with("portreeve_agent_errors_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    let reclaim = sample(text, "portreeve_agent_errors_total{source=\"reclaim\"}").unwrap_or(0.0);
    (total, reclaim)
}

#[test]
fn the_running_agent_closes_an_abandoned_port_once_and_counts_what_it_cannot_record() {
    if !support::privileged(
        "the_running_agent_closes_an_abandoned_port_once_and_counts_what_it_cannot_record",
    ) || !testkit::require_programs(
        "the_running_agent_closes_an_abandoned_port_once_and_counts_what_it_cannot_record",
        &["nft", "nsenter", "mount"],
    ) {
        return;
    }
    let lab = Lab::new(34, &["tcp4:0.0.0.0:7070", "tcp4:0.0.0.0:7071"]);
    let policy = lab.home.file("p.toml", closing_policy(34));
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    // The kernel records these first connections as the ports' last use.
    assert!(lab.connects(7070) && lab.connects(7071));
    let reclaims = |lab: &Lab| -> Vec<serde_json::Value> {
        lab.home
            .ledger()
            .into_iter()
            .filter(|e| e["action"] == "reclaim")
            .collect()
    };
    let generations = |lab: &Lab| {
        lab.json(&["generations", "--format", "json"])["generations"]
            .as_array()
            .unwrap()
            .len()
    };

    // The agent runs on, re-planning every 500 ms, and closes 7070 by
    // itself once it has gone unused for 2 s. (Watched in the kernel's
    // table: a connection would be a use.)
    let mut agent = start_agent(
        &lab.srv,
        &lab.home.state(),
        &["--lifecycle-interval", "500ms"],
    );
    let started = Instant::now();
    while allowed(&lab).contains(". tcp . 7070") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the agent did not close 7070: {:?}",
            metrics(&lab.srv)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(lab.connects(7071), "keep = true: untouched");
    let set = allowed(&lab);
    assert!(
        !set.contains(". tcp . 7070") && set.contains(". tcp . 7071"),
        "{set}"
    );
    let found = reclaims(&lab);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["actor"], "agent");
    assert!(
        found[0]["object"].as_str().unwrap().starts_with("7070/tcp"),
        "{:#}",
        found[0]
    );
    // Further cycles change nothing: no second reclaim, no new ruleset.
    let made = generations(&lab);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(reclaims(&lab).len(), 1);
    assert_eq!(generations(&lab), made);
    assert!(!lab.connects(7070) && lab.connects(7071));
    let text = metrics(&lab.srv).unwrap();
    assert_eq!(
        sample(&text, "portreeve_ports{state=\"reclaimed\"}"),
        Some(1.0),
        "{text}"
    );
    let (errors_before, reclaim_errors_before) = errors(&text);

    // The state directory turns read-only under the agent (a read-only
    // bind mount in the agent's own mount namespace, which `ip netns exec`
    // made private to it; root ignores file modes). Reopened from the
    // command line, 7070 is abandoned again 2 s later: the agent cannot
    // record a reclaim, so it makes none, and counts each attempt.
    let state = lab.home.state();
    let mount = run(std::process::Command::new("nsenter")
        .arg("-t")
        .arg(agent.0.id().to_string())
        .args(["-m", "mount", "--bind", "-o", "ro"])
        .args([&state, &state]));
    assert!(mount.status.success(), "{}", stderr(&mount));
    lab.ok(&["reclaim", "--undo", "1", "--reason", "still needed"]);
    assert!(lab.connects(7070), "reopened");
    let (reclaim_errors, _) = wait_for(&lab.srv, Duration::from_secs(15), |t| {
        let (total, reclaim) = errors(t);
        (reclaim >= reclaim_errors_before + 2.0 && total > errors_before).then_some(reclaim)
    });
    assert!(reclaim_errors >= 2.0);
    assert!(lab.connects(7070), "not closed without its record");
    assert_eq!(reclaims(&lab).len(), 1, "no reclaim recorded");
    let log = agent.stop();
    assert!(
        log.contains("cannot reclaim abandoned ports") && log.contains("Read-only file system"),
        "{log}"
    );
}
