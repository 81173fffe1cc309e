//! The change-control gate on a policy the fleet server approved: under
//! `[change_control] required = true` it counts as approved when it
//! carries the policy in effect's number of approvers other than its
//! proposer, each once; its approval must be of the exact text; and the
//! approval is kept in the host's ledger with the server's signature.

mod common;

use common::Host;
use jiff::Timestamp;
use portreeve_app::change::{self, ApprovalNeed, FleetApproval};
use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_app::{AppError, Refusal};

/// The policy put in effect first: two approvals required.
const STRICT: &str =
    "[zones]\nlab = [\"10.0.0.0/24\"]\n\n[change_control]\nrequired = true\napprovals = 2\n";

/// The fleet's policy.
const FLEET: &str = "[zones]\nlab = [\"10.0.0.0/24\"]\n\n[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n";

fn fleet_candidate(host: &Host) -> LoadedPolicy {
    let path = host.policy_file("fleet.toml", FLEET);
    LoadedPolicy::read(&path, PolicySource::File(path.clone())).unwrap()
}

/// The server's approval of `FLEET` by `approvers`, proposed by alice.
fn approval(approvers: &[&str]) -> FleetApproval {
    FleetApproval {
        name: "web".into(),
        version: 4,
        sha256: portreeve_ledger::digest(FLEET.as_bytes()),
        proposer: "alice".into(),
        approvers: approvers.iter().map(|a| a.to_string()).collect(),
        server_key: "c2VydmVyLWtleQ==".into(),
        signature: "c2lnbmF0dXJl".into(),
    }
}

fn gate(host: &Host, fleet: FleetApproval) -> Result<LoadedPolicy, AppError> {
    change::gate(
        &host.state,
        Some(fleet_candidate(host)),
        ApprovalNeed::Fleet(fleet),
        Timestamp::now(),
    )
    .map(|(policy, proposal)| {
        assert_eq!(proposal, None, "a fleet approval names no local proposal");
        policy
    })
}

fn not_approved(e: AppError) -> String {
    match e {
        AppError::Refused(Refusal::NotApproved(m)) => m,
        other => panic!("expected a refusal for want of approval, got {other:?}"),
    }
}

fn fleet_entries(host: &Host) -> Vec<serde_json::Value> {
    host.ledger()
        .into_iter()
        .filter(|e| e["action"] == "policy.fleet-approval")
        .collect()
}

#[test]
fn a_fleet_policy_needs_the_local_number_of_approvers_besides_its_proposer() {
    let host = Host::new();
    host.apply(&host.policy_file("strict.toml", STRICT))
        .unwrap();

    // One approver; the proposer and a repeated name do not add to it.
    for approvers in [&["bob"][..], &["bob", "alice"], &["bob", "bob"]] {
        let m = not_approved(gate(&host, approval(approvers)).unwrap_err());
        assert!(
            m.contains("carries 1 approvals") && m.contains("requires 2"),
            "{approvers:?}: {m}"
        );
    }
    assert!(fleet_entries(&host).is_empty(), "a refusal records nothing");

    let passed = gate(&host, approval(&["bob", "carol"])).unwrap();
    assert_eq!(passed.text, FLEET);
    let entries = fleet_entries(&host);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e["object"], "fleet policy web version 4");
    assert_eq!(e["after"], portreeve_ledger::digest(FLEET.as_bytes()));
    let evidence = e["approval"].as_str().unwrap();
    assert!(
        evidence.contains("approved by bob, carol")
            && evidence.contains("signature c2lnbmF0dXJl")
            && evidence.contains("key c2VydmVyLWtleQ=="),
        "{evidence}"
    );
}

#[test]
fn a_fleet_approval_is_of_one_text_only() {
    let host = Host::new();
    let mut other = approval(&["bob", "carol"]);
    other.sha256 = portreeve_ledger::digest(b"another policy");
    let m = not_approved(gate(&host, other).unwrap_err());
    assert!(m.contains("not of this text"), "{m}");
}

#[test]
fn without_required_approval_a_fleet_policy_passes_and_is_recorded() {
    let host = Host::new();
    gate(&host, approval(&[])).unwrap();
    assert_eq!(fleet_entries(&host).len(), 1);
}
