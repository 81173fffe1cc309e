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

use std::path::Path;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_core::{Finding, Proto, SourceUse};
use portreeve_enforce::verdict_index::VerdictIndex;
use portreeve_enforce::{Ruleset, Verdict};
use serde::{Serialize, Serializer};

use crate::enforce::{self, Compiled};
use crate::error::AppError;
use crate::policy::{self, LoadedPolicy};
use crate::state_dir::StateDir;

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

/// One recorded pair whose verdict the candidate changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    #[serde(serialize_with = "in_words")]
    pub verdict: Verdict,
}

fn in_words<S: Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
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
    let closed = enforce::closed_ports(state)?;
    let candidate = enforce::compile_without(request.policy, &closed)?;
    let current = policy::for_judging(state, None)?;
    // Only the policy in effect has a ruleset in front of the listeners.
    let enforced = match current.effect() {
        Some(_) => Some(enforce::compile_without(current.clone(), &closed)?.ruleset),
        None => None,
    };
    let uses = crate::usage_file::load(state, request.usage, request.since)?;

    let started = Instant::now();
    let replay = match request.evaluation {
        Evaluation::Indexed => replay(enforced.as_ref(), &candidate.ruleset, &uses),
        Evaluation::Naive => replay_naive(enforced.as_ref(), &candidate.ruleset, &uses),
    };
    let replay_time = started.elapsed();

    let sockets =
        portreeve_inventory::collect(portreeve_inventory::Options { all_netns: false })?.sockets;
    let judge = |p: &LoadedPolicy| {
        let mut findings = portreeve_policy::evaluate(&p.policy, &sockets, crate::check::today());
        crate::check::settle(&p.policy, &mut findings, crate::check::today());
        findings
    };
    let findings = finding_changes(judge(&current), judge(&candidate.policy));
    Ok(Simulation {
        candidate,
        current,
        replay,
        replay_time,
        findings,
    })
}

/// Replays `uses` against `now` (`None`: no ruleset, everything reaches)
/// and `candidate`, each through a [`VerdictIndex`].
pub fn replay(now: Option<&Ruleset>, candidate: &Ruleset, uses: &[SourceUse]) -> Replay {
    let now = now.map(VerdictIndex::new);
    let candidate = VerdictIndex::new(candidate);
    replay_with(
        uses,
        |u| verdict_or_open(now.as_ref(), u, VerdictIndex::verdict),
        |u| candidate.verdict(u.source, u.protocol, u.port),
    )
}

/// [`replay`] asking [`Ruleset::network_verdict`] for every pair, as the
/// lock-out guard does: the yardstick of the benchmark.
pub fn replay_naive(now: Option<&Ruleset>, candidate: &Ruleset, uses: &[SourceUse]) -> Replay {
    replay_with(
        uses,
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

fn replay_with(
    uses: &[SourceUse],
    now: impl Fn(&SourceUse) -> Verdict,
    candidate: impl Fn(&SourceUse) -> Verdict,
) -> Replay {
    let mut replay = Replay {
        pairs: uses.len(),
        ..Replay::default()
    };
    for u in uses {
        let (before, after) = (now(u), candidate(u));
        let change = |verdict| PairChange {
            source: u.source,
            protocol: u.protocol,
            port: u.port,
            connections: u.connections,
            last_seen: u.last_seen,
            verdict,
        };
        match (before == Verdict::Accepted, after == Verdict::Accepted) {
            (true, false) => replay.blocked.push(change(after)),
            (false, true) => replay.opened.push(change(before)),
            _ => {}
        }
    }
    let order = |p: &PairChange| (p.port, p.protocol, p.source);
    replay.blocked.sort_by_key(order);
    replay.opened.sort_by_key(order);
    replay
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

    /// Both evaluations, which must agree.
    fn both(now: Option<&Ruleset>, candidate: &Ruleset, uses: &[SourceUse]) -> Replay {
        let fast = replay(now, candidate, uses);
        assert_eq!(fast, replay_naive(now, candidate, uses));
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
    fn without_a_ruleset_in_effect_everything_used_reached_the_host() {
        let candidate = ruleset(WEB_FOR_OFFICE);
        let r = both(None, &candidate, &[used("192.0.2.7/32", Proto::Udp, 53, 2)]);
        assert_eq!(r.blocked.len(), 1);
        assert!(r.opened.is_empty());
    }
}
