//! The two-person rule and the change-control gate, as use cases, without
//! root: self-approval, a swapped key, an expired approval, a double
//! approval, an approval of a different text, and `required = true` on
//! every path that installs a policy.

mod common;

use common::Host;
use jiff::{SignedDuration, Timestamp};
use portreeve_app::change::{self, ApprovalNeed};
use portreeve_app::policy::{self, LoadedPolicy, PolicySource};
use portreeve_app::{AppError, Refusal};

const POLICY: &str = "[zones]\nlab = [\"10.0.0.0/24\"]\n\n[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n";

fn candidate(host: &Host, name: &str, text: &str) -> LoadedPolicy {
    let path = host.policy_file(name, text);
    LoadedPolicy::read(&path, PolicySource::File(path.clone())).unwrap()
}

fn refusal(e: AppError) -> Refusal {
    match e {
        AppError::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_proposer_cannot_approve_their_own_proposal() {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    let path = host.policy_file("p.toml", POLICY);
    host.propose("alice", &path, "first").unwrap();
    let e = change::approve(&host.state, &host.keys, "alice", 1, None).unwrap_err();
    assert_eq!(
        refusal(e),
        Refusal::SelfApproval {
            identity: "alice".into(),
            proposal: 1
        }
    );
    // Nothing was recorded for the refused approval.
    let actions: Vec<String> = host
        .ledger()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["identity.add", "identity.add", "policy.propose"],
        "{actions:?}"
    );
}

#[test]
fn an_identity_approves_once() {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    let path = host.policy_file("p.toml", POLICY);
    host.propose("alice", &path, "first").unwrap();
    let approved = change::approve(&host.state, &host.keys, "bob", 1, Some("ok")).unwrap();
    assert_eq!(approved.valid, ["bob"]);
    let e = change::approve(&host.state, &host.keys, "bob", 1, None).unwrap_err();
    assert_eq!(
        refusal(e),
        Refusal::AlreadyApproved {
            identity: "bob".into(),
            proposal: 1
        }
    );
}

#[test]
fn a_swapped_key_neither_signs_nor_counts() {
    let host = Host::new();
    host.people(&["alice", "bob", "mallory"]);
    let path = host.policy_file("p.toml", POLICY);
    host.propose("alice", &path, "first").unwrap();
    // Mallory's key in bob's place: refused before anything is signed.
    let keys = &host.keys.0;
    std::fs::copy(keys.join("mallory.key"), keys.join("bob.key")).unwrap();
    let e = change::approve(&host.state, &host.keys, "bob", 1, None).unwrap_err();
    assert!(matches!(refusal(e), Refusal::WrongKey { ref identity, .. } if identity == "bob"));

    // Renaming mallory's approval to bob in the proposal file changes
    // nothing: who approved is what the ledger's signed entry says.
    change::approve(&host.state, &host.keys, "mallory", 1, None).unwrap();
    let meta = host.state.proposals_dir().join("1.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    doc["approvals"][0]["identity"] = "bob".into();
    std::fs::write(&meta, doc.to_string()).unwrap();
    let (rows, _) = change::proposals(&host.state).unwrap();
    assert_eq!(rows[0].valid_approvals, ["mallory"], "{:?}", rows[0]);
    // And an approval entry pointing at another ledger entry counts for
    // nothing.
    doc["approvals"][0]["ledger_index"] = 0.into();
    std::fs::write(&meta, doc.to_string()).unwrap();
    let c = candidate(&host, "again.toml", POLICY);
    let e = change::gate(&host.state, Some(c), ApprovalNeed::Always, Timestamp::now()).unwrap_err();
    assert!(
        matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("has 0 of the 1 approvals")),
    );
}

#[test]
fn approvals_expire_after_the_policy_in_effects_validity() {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    // The policy in effect says an approval counts for a day.
    let strict = format!("{POLICY}\n[change_control]\napproval_valid_for = \"1d\"\n");
    host.apply(&host.policy_file("strict.toml", &strict))
        .unwrap();
    let path = host.policy_file("p.toml", POLICY);
    host.propose("alice", &path, "next").unwrap();
    change::approve(&host.state, &host.keys, "bob", 1, None).unwrap();
    let c = || candidate(&host, "p2.toml", POLICY);
    let now = Timestamp::now();
    let (ok, id) = change::gate(&host.state, Some(c()), ApprovalNeed::Always, now).unwrap();
    assert_eq!((ok.digest.as_str(), id), (c().digest.as_str(), Some(1)));
    let later = now + SignedDuration::from_hours(25);
    let e = change::gate(&host.state, Some(c()), ApprovalNeed::Always, later).unwrap_err();
    assert!(
        matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("approvals count for 24h")),
    );
}

#[test]
fn an_approval_covers_exactly_the_text_approved() {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    let path = host.policy_file("p.toml", POLICY);
    host.propose("alice", &path, "first").unwrap();
    change::approve(&host.state, &host.keys, "bob", 1, None).unwrap();
    // One byte more is another policy.
    let other = candidate(&host, "other.toml", &format!("{POLICY}\n"));
    let e = change::gate(
        &host.state,
        Some(other),
        ApprovalNeed::Always,
        Timestamp::now(),
    )
    .unwrap_err();
    assert!(
        matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("no proposal holds this policy")),
    );
    // The stored text edited after the approval: refused as tampering.
    std::fs::write(host.state.proposals_dir().join("1.toml"), "[zones]\n").unwrap();
    let e = change::gate(
        &host.state,
        None,
        ApprovalNeed::Proposal(1),
        Timestamp::now(),
    )
    .unwrap_err();
    assert!(
        matches!(e, AppError::Integrity(ref m) if m.contains("no longer matches")),
        "{e}"
    );
}

#[test]
fn required_approval_gates_plain_apply_and_automatic_changes() {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    let required = format!("{POLICY}\n[change_control]\nrequired = true\n");
    // The first policy that asks for approval is judged by the defaults
    // (nothing is in effect yet): it may be applied as it is.
    let first = host.policy_file("required.toml", &required);
    host.apply(&first).unwrap();
    let in_effect = policy::in_effect(&host.state).unwrap().unwrap();
    assert!(in_effect.policy.change_control.required);
    let entries = host.ledger().len();

    // From now on a plain apply of anything unapproved is refused, and
    // nothing changes: no generation, no ledger entry.
    let next = host.policy_file("next.toml", &required.replace("8080", "8081"));
    let e = host.apply(&next).unwrap_err();
    assert!(matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("required = true")),);
    assert_eq!(host.generations(), 1);
    assert_eq!(host.ledger().len(), entries);

    // Approved, the same plain apply goes through and records the approval.
    host.propose("alice", &next, "move").unwrap();
    change::approve(&host.state, &host.keys, "bob", 1, None).unwrap();
    let applied = host.apply(&next).unwrap();
    assert_eq!(applied.approval, Some(1));
    let entry = host.ledger().pop().unwrap();
    assert_eq!(entry["action"], "apply");
    assert_eq!(entry["approval"], "proposal 1");
    assert_eq!(entry["policy"], applied.compiled.policy.digest.as_str());

    // The agent's path: the policy in effect is installed again only with
    // its approval. Strip the approval from the live generation (as an
    // older portreeve, or a hand, might have left it) and it is refused.
    let in_effect = policy::in_effect(&host.state).unwrap().unwrap();
    assert!(change::check_in_effect(&host.state, &in_effect).is_ok());
    let store = host.state.firewall().generations();
    let mut g = store.get(store.current().unwrap()).unwrap();
    g.approval = None;
    store.update(&g).unwrap();
    let in_effect = policy::in_effect(&host.state).unwrap().unwrap();
    let e = change::check_in_effect(&host.state, &in_effect).unwrap_err();
    assert!(
        matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("installed without an approved proposal")),
    );
}

/// Copies every file under `from` into `to`, keeping relative paths.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_proposal_copied_to_another_host_counts_for_nothing_there() {
    let home = Host::new();
    home.people(&["alice", "bob"]);
    let path = home.policy_file("p.toml", POLICY);
    home.propose("alice", &path, "first").unwrap();
    change::approve(&home.state, &home.keys, "bob", 1, None).unwrap();
    let c = || candidate(&home, "again.toml", POLICY);
    assert!(
        change::gate(
            &home.state,
            Some(c()),
            ApprovalNeed::Always,
            Timestamp::now()
        )
        .is_ok()
    );

    // Another host with a ledger of its own: the proposal, its approval and
    // the identities' public keys copied over, private keys too.
    let other = Host::new();
    other.people(&["carol"]);
    copy_tree(&home.state.proposals_dir(), &other.state.proposals_dir());
    copy_tree(&home.state.identities_dir(), &other.state.identities_dir());
    copy_tree(&home.keys.0, &other.keys.0);
    let (rows, _) = change::proposals(&other.state).unwrap();
    assert!(rows[0].valid_approvals.is_empty(), "{:?}", rows[0]);
    let e = change::gate(
        &other.state,
        None,
        ApprovalNeed::Proposal(1),
        Timestamp::now(),
    )
    .unwrap_err();
    assert!(
        matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("has 0 of the 1 approvals")),
    );
    assert_eq!(other.generations(), 0);
}

#[test]
fn an_approval_lapses_when_the_policy_it_changed_is_no_longer_in_effect() {
    let host = Host::new();
    host.people(&["alice", "bob"]);
    host.apply(&host.policy_file("a.toml", POLICY)).unwrap();
    // B is proposed and approved as a change from A ...
    let b = host.policy_file("b.toml", &POLICY.replace("8080", "8081"));
    host.propose("alice", &b, "move").unwrap();
    change::approve(&host.state, &host.keys, "bob", 1, None).unwrap();
    // ... but C is applied first.
    host.apply(&host.policy_file("c.toml", &POLICY.replace("8080", "8082")))
        .unwrap();
    let e = host.apply_with(&b, ApprovalNeed::Proposal(1)).unwrap_err();
    assert!(
        matches!(refusal(e), Refusal::NotApproved(ref m) if m.contains("proposed against another policy")),
    );
    assert_eq!(host.generations(), 2, "nothing was installed");
}
