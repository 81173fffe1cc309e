//! `propose` replays the recorded use against the proposed policy and keeps
//! the result with the proposal: the used pairs it would block (with their
//! connections) and newly open, at most a hundred of each with the rest
//! counted; a simulation that cannot run leaves the reason instead of
//! stopping the proposal; proposals stored before they carried one still
//! load. Without root: the firewall keeps its generations in files.

mod common;

use common::Host;
use portreeve_app::change::{self, simulation};
use portreeve_app::simulate::PairChange;
use portreeve_core::Proto;
use portreeve_enforce::Verdict;

/// In effect: 7070 for the lab and the partners, 7071 for the lab.
const NOW: &str = r#"[zones]
lab = ["10.173.0.0/24"]
partners = ["198.51.100.0/24"]

[[rule]]
name = "app"
port = 7070
protocol = "tcp"
zones = ["lab", "partners"]

[[rule]]
name = "admin"
port = 7071
protocol = "tcp"
zones = ["lab"]
"#;

/// Proposed: 7070 for the lab only, 7071 gone, 7072 opened to the lab.
const STRICTER: &str = r#"[zones]
lab = ["10.173.0.0/24"]
partners = ["198.51.100.0/24"]

[[rule]]
name = "app"
port = 7070
protocol = "tcp"
zones = ["lab"]

[[rule]]
name = "reports"
port = 7072
protocol = "tcp"
zones = ["lab"]
"#;

const LAST_SEEN: &str = "2026-06-02T11:00:00Z";

/// One recorded use as a JSON line.
fn used(source: &str, port: u16, connections: u64) -> String {
    format!(
        r#"{{"source":"{source}","protocol":"tcp","port":{port},"connections":{connections},"first_seen":"2026-01-01T00:00:00Z","last_seen":"{LAST_SEEN}"}}"#
    ) + "\n"
}

/// A host with NOW in effect and the identities alice and bob.
fn host_with_now() -> Host {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    host.apply(&host.policy_file("now.toml", NOW)).unwrap();
    host
}

fn pair(source: &str, port: u16, connections: u64, verdict: Verdict) -> PairChange {
    PairChange {
        source: source.parse().unwrap(),
        protocol: Proto::Tcp,
        port,
        connections,
        last_seen: LAST_SEEN.parse().unwrap(),
        verdict,
    }
}

#[test]
fn a_proposal_carries_the_used_pairs_it_would_block_and_open() {
    let host = host_with_now();
    let usage = host.policy_file(
        "usage.jsonl",
        &[
            used("198.51.100.7/32", 7070, 12),
            used("10.173.0.2/32", 7070, 40),
            used("10.173.0.2/32", 7071, 5),
            used("10.173.0.3/32", 7072, 2),
        ]
        .concat(),
    );
    let stricter = host.policy_file("stricter.toml", STRICTER);
    let proposed = host
        .propose_against("alice", &stricter, "narrow", Some(&usage))
        .unwrap();
    let p = &proposed.proposal;
    assert_eq!(p.simulation_error, None);
    let s = p.simulation.as_ref().expect("the proposal was simulated");
    assert_eq!(s.pairs, 4);
    assert_eq!(
        s.blocked,
        [
            pair("198.51.100.7/32", 7070, 12, Verdict::NotAllowed),
            pair("10.173.0.2/32", 7071, 5, Verdict::NotAllowed),
        ]
    );
    assert_eq!(
        s.opened,
        [pair("10.173.0.3/32", 7072, 2, Verdict::NotAllowed)]
    );
    assert_eq!((s.blocked_truncated, s.opened_truncated), (0, 0));
    assert_eq!(s.since, jiff::Timestamp::UNIX_EPOCH);

    // Stored with the proposal, read back as it was, and listed.
    let (stored, _) = change::proposal(&host.state, p.id).unwrap();
    assert_eq!(&stored, p);
    let (rows, _) = change::proposals(&host.state).unwrap();
    assert_eq!(rows[0].proposal.simulation.as_ref(), Some(s));
    // Approving it keeps it.
    let approved = change::approve(&host.state, &host.keys, "bob", p.id, None).unwrap();
    assert_eq!(approved.proposal.simulation.as_ref(), Some(s));
}

#[test]
fn a_proposal_that_keeps_every_used_pair_blocks_nothing() {
    let host = host_with_now();
    let usage = host.policy_file(
        "usage.jsonl",
        &[
            used("198.51.100.7/32", 7070, 12),
            used("10.173.0.2/32", 7071, 5),
        ]
        .concat(),
    );
    // NOW with one more port: everything used still reaches.
    let wider = host.policy_file(
        "wider.toml",
        &format!(
            "{NOW}\n[[rule]]\nname = \"more\"\nport = 7073\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
        ),
    );
    let proposed = host
        .propose_against("alice", &wider, "one more port", Some(&usage))
        .unwrap();
    let s = proposed.proposal.simulation.expect("simulated");
    assert_eq!(s.pairs, 2);
    assert_eq!(s.blocked, []);
    assert_eq!(s.blocked_total(), 0);
    assert_eq!(s.opened, []);
}

#[test]
fn a_proposal_lists_a_hundred_blocked_pairs_and_counts_the_rest() {
    let host = host_with_now();
    let lines: String = (1..=150)
        .map(|n| used(&format!("198.51.100.{n}/32"), 7070, n))
        .collect();
    let usage = host.policy_file("usage.jsonl", &lines);
    let stricter = host.policy_file("stricter.toml", STRICTER);
    let proposed = host
        .propose_against("alice", &stricter, "narrow", Some(&usage))
        .unwrap();
    let s = proposed.proposal.simulation.expect("simulated");
    assert_eq!(s.blocked.len(), simulation::LISTED);
    assert_eq!(s.blocked_truncated, 50);
    assert_eq!(s.blocked_total(), 150);
    // simulate's order: by source within the port.
    assert_eq!(
        s.blocked[0],
        pair("198.51.100.1/32", 7070, 1, Verdict::NotAllowed)
    );
    assert_eq!(s.blocked[1].source.to_string(), "198.51.100.2/32");
}

#[test]
fn a_simulation_that_cannot_run_leaves_its_reason_and_the_proposal_stands() {
    let host = host_with_now();
    let usage = host.policy_file("usage.jsonl", "{\"source\": 1}\n");
    let stricter = host.policy_file("stricter.toml", STRICTER);
    let proposed = host
        .propose_against("alice", &stricter, "narrow", Some(&usage))
        .unwrap();
    let p = proposed.proposal;
    assert_eq!(p.simulation, None);
    let why = p.simulation_error.expect("the reason is kept");
    assert!(why.contains("usage.jsonl:1: not a recorded use"), "{why}");
    // Recorded all the same, and it can be approved.
    let last = host.ledger().pop().unwrap();
    assert_eq!(last["action"], "policy.propose");
    let (stored, _) = change::proposal(&host.state, p.id).unwrap();
    assert_eq!(stored.simulation_error.as_deref(), Some(why.as_str()));
    change::approve(&host.state, &host.keys, "bob", p.id, None).unwrap();
}

#[test]
fn a_proposal_stored_before_proposals_carried_a_simulation_still_loads() {
    let host = host_with_now();
    let stricter = host.policy_file("stricter.toml", STRICTER);
    host.propose("alice", &stricter, "narrow").unwrap();
    let meta = host.state.proposals_dir().join("1.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    let fields = doc.as_object_mut().unwrap();
    assert!(fields.remove("simulation").is_some());
    assert!(fields.remove("simulation_error").is_some());
    std::fs::write(&meta, doc.to_string()).unwrap();

    let (old, _) = change::proposal(&host.state, 1).unwrap();
    assert_eq!((old.simulation, old.simulation_error), (None, None));
    let (rows, _) = change::proposals(&host.state).unwrap();
    assert_eq!(rows.len(), 1);
    let approved = change::approve(&host.state, &host.keys, "bob", 1, None).unwrap();
    assert_eq!(approved.valid, ["bob"]);
}
