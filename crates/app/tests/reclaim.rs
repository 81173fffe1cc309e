//! Reclaim as a use case, without root: ports close from the policy in
//! effect (never from a file), the ledger names that policy, a refusal of
//! the firewall leaves no reclaim behind (and the port abandoned, for the
//! next plan to close), an undo the firewall refuses
//! leaves the reclaim in force, and a plan made from another policy is
//! refused.

mod common;

use common::Host;
use jiff::{SignedDuration, Timestamp};
use portreeve_app::policy::{self, LoadedPolicy, PolicySource};
use portreeve_app::reclaim::{self, LifecyclePlan};
use portreeve_app::{Actor, AppError, Refusal, enforce};
use portreeve_core::{PortKey, Proto};
use portreeve_store::{Store, UsageUpdate, WriteBatch};
use portreeve_testkit::listening_socket as socket;
use std::sync::atomic::Ordering;

/// Ports 7070 and 7071 allowed; idle for a minute is abandoned; 7071 kept.
fn policy_text(extra_port: u16) -> String {
    format!(
        "[zones]\nlab = [\"10.33.0.0/24\"]\n\
         [lifecycle]\ndormant_after = \"10s\"\nabandoned_after = \"1m\"\nreclaim = \"close\"\n\
         [[rule]]\nname = \"app\"\nport = 7070\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
         [[rule]]\nname = \"kept\"\nport = 7071\nprotocol = \"tcp\"\nzones = [\"lab\"]\nkeep = true\n\
         [[rule]]\nname = \"extra\"\nport = {extra_port}\nprotocol = \"tcp\"\nzones = [\"lab\"]\nkeep = true\n"
    )
}

fn tcp(port: u16) -> PortKey {
    PortKey::new(Proto::Tcp, port)
}

/// A host where policy A was applied, then policy B (which allows 9000
/// as well); 7070 and 7071 were first seen an hour ago and never used.
/// Returns the host and B's digest.
fn host_with_b_in_effect() -> (Host, String) {
    let host = Host::new();
    host.apply(&host.policy_file("a.toml", &policy_text(8000)))
        .unwrap();
    let b = host
        .apply(&host.policy_file("b.toml", &policy_text(9000)))
        .unwrap();
    let an_hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
    host.state
        .with_store(|s| {
            s.write(&WriteBatch {
                usage: vec![
                    UsageUpdate::seen(tcp(7070), an_hour_ago),
                    UsageUpdate::seen(tcp(7071), an_hour_ago),
                ],
                ..WriteBatch::default()
            })
        })
        .unwrap();
    (host, b.compiled.policy.digest)
}

fn plan(host: &Host) -> LifecyclePlan {
    let policy = policy::for_judging(&host.state, None).unwrap();
    reclaim::lifecycle(
        &host.state,
        policy,
        &[socket(7070), socket(7071)],
        Timestamp::now(),
    )
    .unwrap()
}

#[test]
fn a_reclaim_closes_from_the_policy_in_effect_and_names_it() {
    let (host, b) = host_with_b_in_effect();
    // A file named elsewhere (the agent's old configuration, say) plays no
    // part: the plan and the close start from B.
    let plan = plan(&host);
    assert_eq!(plan.policy.digest, b);
    let closing: Vec<PortKey> = plan.closing().iter().map(|r| r.key).collect();
    assert_eq!(closing, [tcp(7070)], "7071 is kept");

    let done = reclaim::close(&host.state, &plan, false, &Actor::agent())
        .unwrap()
        .unwrap();
    assert_eq!(done.policy, b);
    assert_eq!(done.closed[0].port, tcp(7070));
    // The live generation is B without 7070: B's 9000 is still there.
    let in_effect = policy::in_effect(&host.state).unwrap().unwrap();
    assert_eq!(in_effect.digest, b, "the policy in effect is still B");
    let live = host
        .state
        .firewall()
        .generations()
        .ruleset(done.generation)
        .unwrap();
    assert!(live.contains("9000"), "{live}");
    assert!(!live.contains("7070"), "{live}");
    let entry = host.ledger().pop().unwrap();
    assert_eq!(entry["action"], "reclaim");
    assert_eq!(entry["actor"], "agent");
    assert_eq!(entry["policy"], b.as_str());
    assert!(entry["before"].as_str().unwrap().starts_with("sha256:"));
    assert_ne!(entry["before"], entry["after"]);
    // A later apply of B keeps the port closed.
    let again = host
        .apply(&host.policy_file("b2.toml", &policy_text(9000)))
        .unwrap();
    assert!(
        !again
            .compiled
            .ruleset
            .allowed_v4
            .iter()
            .any(|a| a.ports.contains(7070))
    );
}

#[test]
fn a_close_the_firewall_refuses_leaves_no_reclaim_behind() {
    let (host, _) = host_with_b_in_effect();
    let before = (host.generations(), host.ledger().len());
    host.refuse.store(true, Ordering::Relaxed);
    let e = reclaim::close(&host.state, &plan(&host), false, &Actor::agent()).unwrap_err();
    assert!(matches!(e, AppError::Enforce(_)), "{e}");
    assert_eq!((host.generations(), host.ledger().len()), before);
    // The reclaim recorded before the attempt never took effect: it is
    // gone, not kept as an undo, and the next apply keeps the port open.
    let reclaims = host.state.with_store(|s| s.reclaims()).unwrap();
    assert!(reclaims.is_empty(), "{reclaims:?}");
    assert!(enforce::closed_ports(&host.state).unwrap().is_empty());
}

#[test]
fn a_close_the_firewall_refuses_is_tried_again_at_the_next_plan() {
    let (host, _) = host_with_b_in_effect();
    host.refuse.store(true, Ordering::Relaxed);
    for _ in 0..2 {
        reclaim::close(&host.state, &plan(&host), false, &Actor::agent()).unwrap_err();
        // Still abandoned since its first sighting an hour ago: a failed
        // close is no reopening, so its idle clock did not restart.
        let next = plan(&host);
        let closing: Vec<(PortKey, SignedDuration)> =
            next.closing().iter().map(|r| (r.key, r.idle)).collect();
        assert_eq!(
            closing.iter().map(|c| c.0).collect::<Vec<_>>(),
            [tcp(7070)],
            "{:?}",
            next.ports
        );
        assert!(closing[0].1 > SignedDuration::from_mins(59), "{closing:?}");
    }

    // Once the firewall takes it, the next close is the only reclaim.
    host.refuse.store(false, Ordering::Relaxed);
    let done = reclaim::close(&host.state, &plan(&host), false, &Actor::agent())
        .unwrap()
        .unwrap();
    let reclaims = host.state.with_store(|s| s.reclaims()).unwrap();
    assert_eq!(
        reclaims
            .iter()
            .map(|r| (r.id, r.key, r.undone_at))
            .collect::<Vec<_>>(),
        [(done.closed[0].reclaim, tcp(7070), None)]
    );
    assert_eq!(enforce::closed_ports(&host.state).unwrap(), [tcp(7070)]);
}

#[test]
fn an_undo_the_firewall_refuses_keeps_the_reclaim_in_force() {
    let (host, b) = host_with_b_in_effect();
    let done = reclaim::close(&host.state, &plan(&host), false, &Actor::agent())
        .unwrap()
        .unwrap();
    let id = done.closed[0].reclaim;
    let before = (host.generations(), host.ledger().len());
    host.refuse.store(true, Ordering::Relaxed);
    let e = reclaim::undo(&host.state, id, None, false, &Actor::named("alice")).unwrap_err();
    assert!(matches!(e, AppError::Enforce(_)), "{e}");
    assert_eq!((host.generations(), host.ledger().len()), before);
    assert_eq!(enforce::closed_ports(&host.state).unwrap(), [tcp(7070)]);

    // Once the firewall takes it, the undo reopens the port from B.
    host.refuse.store(false, Ordering::Relaxed);
    let reopened = reclaim::undo(
        &host.state,
        id,
        Some("needed".into()),
        false,
        &Actor::named("alice"),
    )
    .unwrap();
    assert_eq!(reopened.reclaim.key, tcp(7070));
    assert!(enforce::closed_ports(&host.state).unwrap().is_empty());
    let entry = host.ledger().pop().unwrap();
    assert_eq!(
        (
            entry["action"].as_str(),
            entry["actor"].as_str(),
            entry["policy"].as_str()
        ),
        (Some("reclaim.undo"), Some("alice"), Some(b.as_str()))
    );
    // Undone once; not twice.
    let e = reclaim::undo(&host.state, id, None, false, &Actor::named("alice")).unwrap_err();
    assert!(
        matches!(e, AppError::Invalid(ref m) if m.contains("already undone")),
        "{e}"
    );
}

#[test]
fn a_plan_made_from_another_policy_is_refused() {
    let (host, b) = host_with_b_in_effect();
    // A plan judged by a candidate file, not the policy in effect.
    let path = host.policy_file("a-again.toml", &policy_text(8000));
    let stale = reclaim::lifecycle(
        &host.state,
        LoadedPolicy::read(&path, PolicySource::File(path.clone())).unwrap(),
        &[socket(7070), socket(7071)],
        Timestamp::now(),
    )
    .unwrap();
    assert!(!stale.closing().is_empty());
    let before = host.generations();
    let e = reclaim::close(&host.state, &stale, false, &Actor::agent()).unwrap_err();
    match e {
        AppError::Refused(Refusal::StalePlan { now, .. }) => assert_eq!(now, b),
        other => panic!("expected a stale plan, got {other:?}"),
    }
    assert_eq!(host.generations(), before);
}
