//! The compiler is sound: every form a compiled policy takes allows exactly
//! what the policy says — no port, source, protocol or family more, none
//! less. Random policies ([`Model`]: nested and overlapping IPv4 and IPv6
//! zones, port ranges, tcp/udp/both, bans, on-demand rules, reclaimed
//! ports) are compiled, and each form — [`Ruleset::verdict`], the ruleset's
//! boxes, the nft text (whose forward chain must judge ports published by
//! DNAT with the same sets, in the same order), the iptables script, its
//! chain for published ports and, as root, the sets the kernel holds — is
//! asked what the naive interpreter [`Model::decide`]
//! answers: at random points and at every boundary ±1, and in a small
//! universe at every point there is.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::{Compiled, Model, Universe, describe, disagreement, overlap};
use portreeve_core::Proto;
use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::nft_text::{self, DynamicState};
use portreeve_enforce::{Ruleset, Verdict, iptables_text};
use portreeve_testkit::Netns;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Every form of a compiled ruleset that needs no kernel, named.
fn offline_forms(ruleset: &Ruleset) -> Vec<(&'static str, Compiled)> {
    let script = iptables_text::render(ruleset);
    vec![
        ("the ruleset's boxes", Compiled::of_ruleset(ruleset)),
        (
            "the nft text",
            Compiled::of_nft_text(&nft_text::render(ruleset)),
        ),
        ("the iptables script", Compiled::of_iptables_script(&script)),
        (
            "the iptables script's published-port chain",
            Compiled::of_iptables_published(&script),
        ),
    ]
}

/// Checks every offline form of `model` against the interpreter at
/// `addresses` × `ports` (both protocols), plus every boundary ±1 of the
/// model and of each form's own boxes.
fn check_offline(
    model: &Model,
    mut addresses: BTreeSet<IpAddr>,
    mut ports: BTreeSet<u16>,
) -> Result<(), TestCaseError> {
    let ruleset = model.ruleset();
    if let Some(o) = overlap(&ruleset) {
        return Err(TestCaseError::fail(format!(
            "the kernel would refuse: {o}\n{}",
            describe(model)
        )));
    }
    let forms = offline_forms(&ruleset);
    addresses.extend(model.boundary_addresses());
    ports.extend(model.boundary_ports());
    for (_, c) in &forms {
        addresses.extend(c.boundary_addresses());
        ports.extend(c.boundary_ports());
    }
    let verdict = |s, p, port| ruleset.verdict(s, p, port);
    // `Ruleset::verdict` also knows what the input chain does before any
    // set: it accepts loopback (`iif "lo" accept`), which only loopback
    // sources arrive on. The policy's sets say nothing of it.
    let (loopback, elsewhere): (BTreeSet<IpAddr>, BTreeSet<IpAddr>) =
        addresses.iter().partition(|a| a.is_loopback());
    let found = loopback_accepted(&loopback, &ports, verdict)
        .or_else(|| disagreement(model, "Ruleset::verdict", &elsewhere, &ports, verdict))
        .or_else(|| {
            forms.iter().find_map(|(name, c)| {
                disagreement(model, name, &addresses, &ports, |s, p, port| {
                    c.decide(s, p, port)
                })
            })
        });
    match found {
        Some(d) => Err(TestCaseError::fail(format!("{d}\n{}", describe(model)))),
        None => Ok(()),
    }
}

/// The first loopback source, port and protocol `verdict` does not accept.
fn loopback_accepted(
    loopback: &BTreeSet<IpAddr>,
    ports: &BTreeSet<u16>,
    verdict: impl Fn(IpAddr, Proto, u16) -> Verdict,
) -> Option<String> {
    loopback.iter().find_map(|&src| {
        ports.iter().find_map(|&port| {
            Proto::ALL.into_iter().find_map(|proto| {
                let got = verdict(src, proto, port);
                (got != Verdict::Accepted).then(|| {
                    format!("Ruleset::verdict: {src} → {port}/{proto}: loopback, yet {got:?}")
                })
            })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Wide policies: every boundary ±1 and random points.
    #[test]
    fn compiled_policies_allow_exactly_what_the_policy_says(
        model in Universe::wide().model(),
        probes in prop::collection::vec(Universe::wide().probe(), 0..=16),
    ) {
        let addresses = probes.iter().map(|&(a, _)| a).collect();
        let ports = probes.iter().map(|&(_, p)| p).collect();
        check_offline(&model, addresses, ports)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Small policies: every address around the regions, every port they
    /// use and the next.
    #[test]
    fn small_policies_agree_at_every_point(model in Universe::small().model()) {
        let small = Universe::small();
        let addresses = small.points().into_iter().collect();
        let last = small
            .port_clusters
            .iter()
            .map(|&(_, hi)| hi + small.max_span)
            .max()
            .unwrap_or(1);
        check_offline(&model, addresses, (1..=last + 1).collect())?;
    }
}

/// The interpreter itself, on a policy worked out by hand: if it were as
/// wrong as the compiler it checks, the property tests could not tell.
#[test]
fn the_interpreter_reads_a_policy_as_the_docs_say() {
    use common::{Ban, FamilyKey, ModelRule};
    let rule = |ports, protocols, zones, family| ModelRule {
        ports,
        protocols,
        zones,
        family,
        grant: false,
        limited: false,
    };
    let model = Model {
        zones: vec![
            vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            vec!["10.1.2.3/32".parse().unwrap()],
        ],
        rules: vec![
            rule(
                vec![(8000, 8100)],
                vec![Proto::Tcp],
                vec![0],
                Some(FamilyKey::Ipv6),
            ),
            rule(vec![(53, 53)], vec![Proto::Tcp, Proto::Udp], vec![1], None),
            ModelRule {
                grant: true,
                ..rule(vec![(9229, 9229)], vec![Proto::Tcp], vec![0], None)
            },
        ],
        bans: vec![],
        default_bans: true,
        injected_bans: vec![Ban {
            ports: (8050, 8050),
            protocol: None,
        }],
        closed: vec![(Proto::Udp, 53)],
    };
    let at = |src: &str, proto, port| model.decide(src.parse().unwrap(), proto, port);
    use Verdict::*;
    assert_eq!(at("fd00::1", Proto::Tcp, 8000), Accepted);
    assert_eq!(at("fd00::1", Proto::Tcp, 8101), NotAllowed);
    assert_eq!(at("fd00::1", Proto::Udp, 8000), NotAllowed);
    assert_eq!(at("10.0.0.1", Proto::Tcp, 8000), NotAllowed, "IPv6 only");
    assert_eq!(at("fd00::1", Proto::Tcp, 8050), Banned);
    assert_eq!(at("10.1.2.3", Proto::Tcp, 53), Accepted);
    assert_eq!(at("10.1.2.4", Proto::Tcp, 53), NotAllowed);
    assert_eq!(at("10.1.2.3", Proto::Udp, 53), NotAllowed, "closed");
    assert_eq!(at("10.1.2.3", Proto::Tcp, 23), Banned, "built-in ban");
    assert_eq!(at("10.1.2.3", Proto::Udp, 23), NotAllowed);
    assert_eq!(at("10.9.9.9", Proto::Tcp, 9229), NotAllowed, "on demand");
}

/// How many generated policies the kernel test loads, and how many points
/// of each it looks up one by one with `nft get element`.
const KERNEL_POLICIES: u32 = 12;
const KERNEL_LOOKUPS: usize = 40;

/// Whether the kernel's `set` holds an element matching `key`: the
/// kernel's own lookup (`nft get element`), run in the caller's namespace.
fn kernel_holds(set: &str, key: &str) -> bool {
    std::process::Command::new("nft")
        .args(["get", "element", "inet", nft_text::TABLE, set])
        .arg(format!("{{ {key} }}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run nft")
        .success()
}

/// What the kernel's sets decide for one point, by lookup: banned first,
/// then the allowances of the source's family.
fn kernel_verdict(src: IpAddr, proto: Proto, port: u16) -> Verdict {
    let allowed = if src.is_ipv4() {
        "allowed_v4"
    } else {
        "allowed_v6"
    };
    if kernel_holds("banned", &format!("{proto} . {port}")) {
        Verdict::Banned
    } else if kernel_holds(allowed, &format!("{src} . {proto} . {port}")) {
        Verdict::Accepted
    } else {
        Verdict::NotAllowed
    }
}

#[test]
fn the_kernel_holds_what_the_policy_says() {
    if !portreeve_testkit::privileged("the_kernel_holds_what_the_policy_says", &["ip", "nft"]) {
        return;
    }
    let ns = Netns::bare();
    let nft = Nft::new();
    let universe = Universe::wide();
    let mut runner = TestRunner::deterministic();
    for i in 0..KERNEL_POLICIES {
        let model = universe.model().new_tree(&mut runner).unwrap().current();
        let ruleset = model.ruleset();
        let text = nft_text::render(&ruleset);
        let live = ns.run(|| {
            nft.apply(&nft_text::replace_transaction(
                &text,
                &DynamicState::default(),
                u64::from(i),
            ))
            .unwrap_or_else(|e| panic!("the kernel refused policy {i}: {e}\n{}", describe(&model)));
            ["allowed_v4", "allowed_v6", "banned"].map(|set| {
                nft.list_set(nft_text::TABLE, set)
                    .expect("nft lists the set")
                    .expect("the set exists")
            })
        });
        // The sets as the kernel lists them, at every boundary ±1.
        let listed = Compiled::of_nft_json(&live);
        let mut addresses = model.boundary_addresses();
        addresses.extend(listed.boundary_addresses());
        let mut ports = model.boundary_ports();
        ports.extend(listed.boundary_ports());
        if let Some(d) = disagreement(
            &model,
            "the kernel's sets",
            &addresses,
            &ports,
            |s, p, port| listed.decide(s, p, port),
        ) {
            panic!("policy {i}: {d}\n{}", describe(&model));
        }
        // And the kernel's own lookup, at boundary points spread over the
        // whole grid, as many of each verdict as there are.
        let grid: Vec<(IpAddr, u16)> = addresses
            .iter()
            .flat_map(|&a| ports.iter().map(move |&p| (a, p)))
            .collect();
        let points: Vec<(IpAddr, u16)> = [Verdict::Accepted, Verdict::Banned, Verdict::NotAllowed]
            .into_iter()
            .flat_map(|v| {
                let class: Vec<(IpAddr, u16)> = grid
                    .iter()
                    .copied()
                    .filter(|&(a, p)| {
                        Proto::ALL
                            .iter()
                            .any(|&proto| model.decide(a, proto, p) == v)
                    })
                    .collect();
                let step = class.len().div_ceil(KERNEL_LOOKUPS / 3).max(1);
                class.into_iter().step_by(step)
            })
            .collect();
        ns.run(|| {
            for &(src, port) in &points {
                for proto in Proto::ALL {
                    let want = model.decide(src, proto, port);
                    let got = kernel_verdict(src, proto, port);
                    assert_eq!(
                        got,
                        want,
                        "policy {i}: the kernel's lookup of {src} → {port}/{proto}\n{}",
                        describe(&model)
                    );
                }
            }
        });
    }
}
