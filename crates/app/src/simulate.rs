//! `simulate`: what a candidate policy would do to the traffic this host
//! actually receives, decided before anything is applied.
//!
//! The recorded use — one [`SourceUse`] per (source, protocol, port) — is
//! replayed against the ruleset of the policy in effect and against the
//! ruleset the candidate compiles to, both compiled as `apply` compiles
//! them (reclaimed ports closed) and judged as the lock-out guard judges
//! ([`Ruleset::network_verdict`], through a [`VerdictIndex`] so that a
//! million pairs take well under a second). A pair accepted now and not
//! under the candidate would break; one accepted only under the candidate
//! is newly opened. The findings `check` would report on this host's
//! listeners are compared under both policies too. Nothing is applied.
//! [`sandbox::simulate`] probes the pairs for real instead, in a replica of
//! this host in network namespaces of its own.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_core::{Finding, Proto, SourceUse};
use portreeve_enforce::verdict_index::VerdictIndex;
use portreeve_enforce::{Ruleset, Verdict};
use serde::{Deserialize, Serialize};

use crate::enforce::{self, Compiled};
use crate::error::AppError;
use crate::policy::{self, LoadedPolicy};
use crate::state_dir::StateDir;

pub mod sandbox;

/// How the pairs are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    /// Through a [`VerdictIndex`] of each ruleset.
    Indexed,
    /// [`Ruleset::network_verdict`] per pair: the benchmark's yardstick.
    Naive,
}

/// A `simulate` request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The candidate.
    pub policy: LoadedPolicy,
    /// Only use last seen at or after this time.
    pub since: Timestamp,
    /// Where the use comes from: JSON lines of [`SourceUse`] in this file (`-`: standard input);
    /// `None`: what the agent recorded in the state directory.
    pub usage: Option<&'a Path>,
    /// How the pairs are judged.
    pub evaluation: Evaluation,
}

/// What the candidate would change.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The candidate, compiled.
    pub candidate: Compiled,
    /// The policy judged against now: the policy in effect, else what
    /// `check` would judge with (nothing of it is enforced then).
    pub current: LoadedPolicy,
    /// The replay of the recorded use.
    pub replay: Replay,
    /// How long the replay took, the rulesets' indexes included.
    pub replay_time: Duration,
    /// Findings on this host's listeners the candidate clears or raises.
    pub findings: FindingChanges,
    /// The ruleset in front of the listeners now, compiled as the
    /// candidate's is; `None` when nothing is enforced.
    pub enforced: Option<Ruleset>,
    /// The recorded use replayed.
    pub uses: Vec<SourceUse>,
    /// What the sandbox found, when the pairs were probed in one
    /// ([`sandbox::simulate`]); `replay` is then the probes'.
    pub sandbox: Option<sandbox::SandboxReport>,
}

/// The recorded use replayed against the rulesets now and under the
/// candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// How many pairs were replayed.
    pub pairs: usize,
    /// Pairs accepted now that the candidate would not accept, with the
    /// candidate's verdict, sorted by port, protocol and source.
    pub blocked: Vec<PairChange>,
    /// Pairs the candidate accepts that are not accepted now, with the
    /// verdict now, sorted likewise.
    pub opened: Vec<PairChange>,
}

/// One recorded pair whose verdict the candidate changes (also stored with
/// a proposal, hence `Deserialize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairChange {
    /// The client address or network.
    pub source: IpNet,
    /// Transport protocol.
    pub protocol: Proto,
    /// Local port.
    pub port: u16,
    /// New connections recorded.
    pub connections: u64,
    /// The last one.
    pub last_seen: Timestamp,
    /// Under the candidate for a blocked pair (`banned`, `not allowed`);
    /// now for an opened one.
    pub verdict: Verdict,
}

/// Findings the candidate would clear or raise.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FindingChanges {
    /// Reported now, not under the candidate.
    pub cleared: Vec<Finding>,
    /// Reported under the candidate, not now.
    pub raised: Vec<Finding>,
}

/// Replays the recorded use against the candidate in `request`.
pub fn simulate(state: &StateDir, request: Request<'_>) -> Result<Simulation, AppError> {
    let (usage, since) = (request.usage, request.since);
    // The use is read while the policies are compiled and the findings
    // judged (at a million pairs and 10,000 rules: about 0.6 s and 0.35 s
    // of CPU); errors are still reported in that order: the policies', the
    // use's, the findings'.
    let (compiled, findings, uses) = std::thread::scope(|scope| {
        let uses = scope.spawn(|| crate::usage_file::load(state, usage, since));
        let compiled = compile_both(state, request.policy);
        let findings = compiled
            .as_ref()
            .ok()
            .map(|(candidate, current, _)| findings(current, &candidate.policy));
        let uses = uses.join().expect("the usage reader panicked");
        (compiled, findings, uses)
    });
    let (candidate, current, enforced) = compiled?;
    let uses = uses?;
    let findings = findings.expect("judged once compiled")?;

    // Traffic from the host's own addresses arrives on loopback.
    let own = portreeve_inventory::host_addresses()?;
    let started = Instant::now();
    let replay = match request.evaluation {
        Evaluation::Indexed => replay(enforced.as_ref(), &candidate.ruleset, &uses, &own),
        Evaluation::Naive => replay_naive(enforced.as_ref(), &candidate.ruleset, &uses, &own),
    };
    let replay_time = started.elapsed();
    Ok(Simulation {
        candidate,
        current,
        replay,
        replay_time,
        findings,
        enforced,
        uses,
        sandbox: None,
    })
}

/// The findings `check` would report on this host's listeners now and
/// under the candidate, compared.
fn findings(current: &LoadedPolicy, candidate: &LoadedPolicy) -> Result<FindingChanges, AppError> {
    let sockets =
        portreeve_inventory::collect(portreeve_inventory::Options { all_netns: false })?.sockets;
    let judge = |p: &LoadedPolicy| {
        let mut findings = portreeve_policy::evaluate(&p.policy, &sockets, crate::check::today());
        crate::check::settle(&p.policy, &mut findings, crate::check::today());
        findings
    };
    Ok(finding_changes(judge(current), judge(candidate)))
}

/// The candidate compiled, the policy judged against now, and its ruleset
/// when it is the one in effect (only then is a ruleset in front of the
/// listeners), both compiled as `apply` compiles them.
fn compile_both(
    state: &StateDir,
    candidate: LoadedPolicy,
) -> Result<(Compiled, LoadedPolicy, Option<Ruleset>), AppError> {
    let closed = enforce::closed_ports(state)?;
    let candidate = enforce::compile_without(candidate, &closed)?;
    let current = policy::for_judging(state, None)?;
    let enforced = match current.effect() {
        Some(_) => Some(enforce::compile_without(current.clone(), &closed)?.ruleset),
        None => None,
    };
    Ok((candidate, current, enforced))
}

/// Replays `uses` against `now` (`None`: no ruleset, everything reaches)
/// and `candidate`, each through a [`VerdictIndex`].
pub fn replay(
    now: Option<&Ruleset>,
    candidate: &Ruleset,
    uses: &[SourceUse],
    own: &[IpAddr],
) -> Replay {
    let now = now.map(VerdictIndex::new);
    let candidate = VerdictIndex::new(candidate);
    replay_with(
        uses,
        own,
        |u| verdict_or_open(now.as_ref(), u, VerdictIndex::verdict),
        |u| candidate.verdict(u.source, u.protocol, u.port),
    )
}

/// [`replay`] asking [`Ruleset::network_verdict`] for every pair, as the
/// lock-out guard does: the yardstick of the benchmark.
pub fn replay_naive(
    now: Option<&Ruleset>,
    candidate: &Ruleset,
    uses: &[SourceUse],
    own: &[IpAddr],
) -> Replay {
    replay_with(
        uses,
        own,
        |u| verdict_or_open(now, u, Ruleset::network_verdict),
        |u| candidate.network_verdict(u.source, u.protocol, u.port),
    )
}

/// `judge`'s verdict on `u` under `rules`, or accepted when there are none.
fn verdict_or_open<R>(
    rules: Option<&R>,
    u: &SourceUse,
    judge: fn(&R, IpNet, Proto, u16) -> Verdict,
) -> Verdict {
    rules.map_or(Verdict::Accepted, |r| {
        judge(r, u.source, u.protocol, u.port)
    })
}

/// Judges `uses` under both, one slice of them per core at once (the
/// slices' changes joined in the order of `uses`, so the stable sort
/// orders them as one pass would). A use from one of `own`, the host's
/// own addresses, arrived on loopback, which every ruleset accepts: it
/// changes under no candidate.
fn replay_with(
    uses: &[SourceUse],
    own: &[IpAddr],
    now: impl Fn(&SourceUse) -> Verdict + Sync,
    candidate: impl Fn(&SourceUse) -> Verdict + Sync,
) -> Replay {
    let from_this_host = |u: &SourceUse| {
        u.source.prefix_len() == u.source.max_prefix_len() && own.contains(&u.source.addr())
    };
    let judge = |slice: &[SourceUse]| {
        let mut replay = Replay::default();
        for u in slice.iter().filter(|u| !from_this_host(u)) {
            let (before, after) = (now(u), candidate(u));
            replay.record(
                u,
                (before == Verdict::Accepted, before),
                (after == Verdict::Accepted, after),
            );
        }
        replay
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slices: Vec<Replay> = std::thread::scope(|scope| {
        let judges: Vec<_> = uses
            .chunks(uses.len().div_ceil(cores).max(1))
            .map(|slice| scope.spawn(move || judge(slice)))
            .collect();
        judges
            .into_iter()
            .map(|j| j.join().expect("a replay thread panicked"))
            .collect()
    });
    let mut replay = Replay {
        pairs: uses.len(),
        ..Replay::default()
    };
    for slice in slices {
        replay.blocked.extend(slice.blocked);
        replay.opened.extend(slice.opened);
    }
    replay.sort();
    replay
}

impl Replay {
    /// Records `u` as blocked or opened by whether it reaches the host now
    /// and under the candidate, each given with the verdict to report.
    fn record(&mut self, u: &SourceUse, now: (bool, Verdict), candidate: (bool, Verdict)) {
        let change = |verdict| PairChange {
            source: u.source,
            protocol: u.protocol,
            port: u.port,
            connections: u.connections,
            last_seen: u.last_seen,
            verdict,
        };
        match (now.0, candidate.0) {
            (true, false) => self.blocked.push(change(candidate.1)),
            (false, true) => self.opened.push(change(now.1)),
            _ => {}
        }
    }

    /// Sorts both lists by port, protocol and source.
    fn sort(&mut self) {
        let order = |p: &PairChange| (p.port, p.protocol, p.source);
        self.blocked.sort_by_key(order);
        self.opened.sort_by_key(order);
    }
}

/// The findings in `now` and not in `candidate` (cleared), and the other
/// way round (raised), matched by finding id and what it is about (the
/// socket, else the rule).
pub fn finding_changes(now: Vec<Finding>, candidate: Vec<Finding>) -> FindingChanges {
    type Key = (&'static str, Option<(Proto, String)>, Option<String>);
    let key = |f: &Finding| -> Key {
        (
            f.kind.code(),
            f.socket.as_ref().map(|s| (s.protocol, s.endpoint.clone())),
            f.rule.as_ref().map(|r| r.name.clone()),
        )
    };
    let now_keys: std::collections::HashSet<Key> = now.iter().map(key).collect();
    let candidate_keys: std::collections::HashSet<Key> = candidate.iter().map(key).collect();
    FindingChanges {
        cleared: now
            .into_iter()
            .filter(|f| !candidate_keys.contains(&key(f)))
            .collect(),
        raised: candidate
            .into_iter()
            .filter(|f| !now_keys.contains(&key(f)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_policy::parse_policy;

    fn ruleset(rules: &str) -> Ruleset {
        let src = format!(
            "[zones]\noffice = [\"192.0.2.0/24\"]\nlab = [\"198.51.100.0/24\", \"2001:db8::/64\"]\n{rules}"
        );
        Ruleset::compile(&parse_policy("t.toml", &src).unwrap()).unwrap()
    }

    fn used(source: &str, protocol: Proto, port: u16, connections: u64) -> SourceUse {
        SourceUse {
            source: source.parse().unwrap(),
            protocol,
            port,
            connections,
            first_seen: "2026-11-01T00:00:00Z".parse().unwrap(),
            last_seen: "2026-12-01T08:30:00Z".parse().unwrap(),
        }
    }

    const WEB_FOR_BOTH: &str =
        "[[rule]]\nname = \"web\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"office\", \"lab\"]\n";
    const WEB_FOR_OFFICE: &str =
        "[[rule]]\nname = \"web\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"office\"]\n";

    /// The host's own addresses in these tests.
    const OWN: &[IpAddr] = &[IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 5))];

    /// Both evaluations, which must agree.
    fn both(now: Option<&Ruleset>, candidate: &Ruleset, uses: &[SourceUse]) -> Replay {
        let fast = replay(now, candidate, uses, OWN);
        assert_eq!(fast, replay_naive(now, candidate, uses, OWN));
        fast
    }

    #[test]
    fn a_pair_allowed_now_and_not_under_the_candidate_is_blocked_with_its_use() {
        let now = ruleset(WEB_FOR_BOTH);
        let candidate = ruleset(WEB_FOR_OFFICE);
        let uses = [
            used("192.0.2.7/32", Proto::Tcp, 443, 12),
            used("198.51.100.9/32", Proto::Tcp, 443, 40),
            used("2001:db8::/64", Proto::Tcp, 443, 3),
        ];
        let r = both(Some(&now), &candidate, &uses);
        assert_eq!(r.pairs, 3);
        assert!(r.opened.is_empty());
        assert_eq!(
            r.blocked,
            vec![
                PairChange {
                    source: "198.51.100.9/32".parse().unwrap(),
                    protocol: Proto::Tcp,
                    port: 443,
                    connections: 40,
                    last_seen: "2026-12-01T08:30:00Z".parse().unwrap(),
                    verdict: Verdict::NotAllowed,
                },
                PairChange {
                    source: "2001:db8::/64".parse().unwrap(),
                    protocol: Proto::Tcp,
                    port: 443,
                    connections: 3,
                    last_seen: "2026-12-01T08:30:00Z".parse().unwrap(),
                    verdict: Verdict::NotAllowed,
                },
            ]
        );
        let json = serde_json::to_value(&r.blocked[0]).unwrap();
        assert_eq!(json["verdict"], "not allowed");
        assert_eq!(json["last_seen"], "2026-12-01T08:30:00Z");
    }

    #[test]
    fn a_newly_banned_port_is_reported_as_banned() {
        let telnet =
            "[[rule]]\nname = \"t\"\nport = 2323\nprotocol = \"tcp\"\nzones = [\"office\"]\n";
        let now = ruleset(telnet);
        let candidate = ruleset("[banned]\nports = [\"2323/tcp\"]\n");
        let r = both(
            Some(&now),
            &candidate,
            &[used("192.0.2.7/32", Proto::Tcp, 2323, 1)],
        );
        assert_eq!(r.blocked.len(), 1);
        assert_eq!(r.blocked[0].verdict, Verdict::Banned);
    }

    #[test]
    fn a_pair_only_the_candidate_accepts_is_newly_opened() {
        let now = ruleset(WEB_FOR_OFFICE);
        let candidate = ruleset(WEB_FOR_BOTH);
        let r = both(
            Some(&now),
            &candidate,
            &[
                used("198.51.100.9/32", Proto::Tcp, 443, 5),
                used("192.0.2.7/32", Proto::Tcp, 443, 5),
            ],
        );
        assert!(r.blocked.is_empty());
        assert_eq!(r.opened.len(), 1);
        assert_eq!(
            r.opened[0].source,
            "198.51.100.9/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(r.opened[0].verdict, Verdict::NotAllowed);
    }

    #[test]
    fn nothing_used_breaks_when_the_candidate_keeps_every_used_pair() {
        let now = ruleset(WEB_FOR_BOTH);
        let candidate = ruleset(WEB_FOR_OFFICE);
        // Only the office used the port: narrowing to it breaks nothing.
        let r = both(
            Some(&now),
            &candidate,
            &[used("192.0.2.0/25", Proto::Tcp, 443, 9)],
        );
        assert_eq!(
            r,
            Replay {
                pairs: 1,
                ..Replay::default()
            }
        );
    }

    #[test]
    fn use_from_loopback_or_this_hosts_own_addresses_never_breaks() {
        // Nothing allowed at all, and telnet banned (a default ban): of
        // four pairs that reached the host, only the one from elsewhere
        // breaks.
        let candidate = ruleset("");
        let r = both(
            None,
            &candidate,
            &[
                used("127.0.0.1/32", Proto::Tcp, 9465, 40),
                used("::1/128", Proto::Tcp, 23, 1),
                used("203.0.113.5/32", Proto::Tcp, 443, 7),
                // Another address of the same network is not this host.
                used("203.0.113.6/32", Proto::Tcp, 443, 7),
            ],
        );
        assert_eq!(r.pairs, 4);
        let blocked: Vec<String> = r.blocked.iter().map(|p| p.source.to_string()).collect();
        assert_eq!(blocked, ["203.0.113.6/32"]);
        assert!(r.opened.is_empty());
    }

    #[test]
    fn without_a_ruleset_in_effect_everything_used_reached_the_host() {
        let candidate = ruleset(WEB_FOR_OFFICE);
        let r = both(None, &candidate, &[used("192.0.2.7/32", Proto::Udp, 53, 2)]);
        assert_eq!(r.blocked.len(), 1);
        assert!(r.opened.is_empty());
    }
}
