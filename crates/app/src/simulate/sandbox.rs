//! `simulate --sandbox`: the recorded pairs probed for real in a
//! disposable replica of this host ([`portreeve_sandbox`]) instead of
//! judged by the model. The document is the same: `blocked` and `opened`
//! come from the probes (a pair reached now and not under the candidate
//! is blocked), each with the model's verdict, and what the sandbox found
//! besides — above all where the probes and the model disagree, which is
//! a defect of portreeve — is reported alongside.

use ipnet::IpNet;
use portreeve_core::{Proto, SourceUse};
use portreeve_enforce::verdict_index::VerdictIndex;
use portreeve_enforce::{Ruleset, Verdict};
use portreeve_sandbox::{Host, Probe, Probes};
use serde::Serialize;

use super::{Replay, Request, Simulation, verdict_or_open};
use crate::error::AppError;
use crate::state_dir::StateDir;

/// How many recorded pairs the sandbox probes unless told otherwise: each
/// costs a probe per phase, up to the probe timeout when dropped.
pub const DEFAULT_MAX_PAIRS: usize = 5_000;

/// What the sandbox did and found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxReport {
    /// How many pairs were probed (in both phases).
    pub probed: usize,
    /// How long building, probing and tearing down took.
    pub seconds: f64,
    /// How many of the host's listeners the replica mirrored.
    pub mirrored_listeners: usize,
    /// Recorded ports nothing listens on now, given a listener of their
    /// own in the replica (`8082/tcp`).
    pub added_listeners: Vec<String>,
    /// Pairs not probed, and why.
    pub skipped: Vec<Skipped>,
    /// Pairs whose probes the model did not predict.
    pub disagreements: Vec<Disagreement>,
}

/// A recorded pair the sandbox could not probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The client address or network.
    pub source: IpNet,
    /// Transport protocol.
    pub protocol: Proto,
    /// Local port.
    pub port: u16,
    /// Why not.
    pub why: String,
}

/// A pair the model and the probes judge differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// The client address or network.
    pub source: IpNet,
    /// Transport protocol.
    pub protocol: Proto,
    /// Local port.
    pub port: u16,
    /// The model's verdict now.
    pub model_now: Verdict,
    /// The model's verdict under the candidate.
    pub model_candidate: Verdict,
    /// Whether the probe reached the replica under the ruleset now.
    pub reached_now: bool,
    /// Whether it reached it under the candidate.
    pub reached_candidate: bool,
}

/// [`super::simulate`] with the pairs probed in a sandbox: refused (before
/// anything is read) without root, `ip` or `nft`, and when more than
/// `max_pairs` pairs were recorded (before anything is built).
pub fn simulate(
    state: &StateDir,
    request: Request<'_>,
    max_pairs: usize,
) -> Result<Simulation, AppError> {
    portreeve_sandbox::available()?;
    let mut s = super::simulate(state, request)?;
    if s.uses.len() > max_pairs {
        return Err(AppError::Invalid(format!(
            "{} recorded pairs are more than the sandbox probes (--sandbox-max-pairs {max_pairs}): \
             narrow --since or raise the cap",
            s.uses.len()
        )));
    }
    let probes = portreeve_sandbox::probe(
        &Host::current()?,
        s.enforced.as_ref(),
        &s.candidate.ruleset,
        &s.uses,
    )?;
    let (replay, report) = judge(&s.uses, s.enforced.as_ref(), &s.candidate.ruleset, &probes);
    s.replay = replay;
    s.sandbox = Some(report);
    Ok(s)
}

/// The replay the probes make of `uses`, and the report of the sandbox:
/// the model's verdicts (`now`: `None` when nothing is enforced) beside
/// what each probe found.
fn judge(
    uses: &[SourceUse],
    now: Option<&Ruleset>,
    candidate: &Ruleset,
    probes: &Probes,
) -> (Replay, SandboxReport) {
    let now = now.map(VerdictIndex::new);
    let candidate = VerdictIndex::new(candidate);
    let mut replay = Replay {
        pairs: uses.len(),
        ..Replay::default()
    };
    let mut report = SandboxReport {
        probed: 0,
        seconds: probes.elapsed.as_secs_f64(),
        mirrored_listeners: probes.mirrored_listeners,
        added_listeners: probes
            .added_listeners
            .iter()
            .map(ToString::to_string)
            .collect(),
        skipped: Vec::new(),
        disagreements: Vec::new(),
    };
    for (u, probe) in uses.iter().zip(&probes.pairs) {
        let (reached_now, reached_candidate) = match *probe {
            Probe::Reached { now, candidate } => (now, candidate),
            Probe::Skipped(why) => {
                report.skipped.push(Skipped {
                    source: u.source,
                    protocol: u.protocol,
                    port: u.port,
                    why: why.to_string(),
                });
                continue;
            }
        };
        report.probed += 1;
        let model_now = verdict_or_open(now.as_ref(), u, VerdictIndex::verdict);
        let model_candidate = candidate.verdict(u.source, u.protocol, u.port);
        replay.record(
            u,
            (reached_now, model_now),
            (reached_candidate, model_candidate),
        );
        let agrees = |reached, model| reached == (model == Verdict::Accepted);
        if !agrees(reached_now, model_now) || !agrees(reached_candidate, model_candidate) {
            report.disagreements.push(Disagreement {
                source: u.source,
                protocol: u.protocol,
                port: u.port,
                model_now,
                model_candidate,
                reached_now,
                reached_candidate,
            });
        }
    }
    replay.sort();
    (replay, report)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portreeve_policy::parse_policy;

    use super::*;

    fn ruleset(port: u16) -> Ruleset {
        let src = format!(
            "[zones]\noffice = [\"192.0.2.0/24\"]\n[[rule]]\nname = \"r\"\nport = {port}\nprotocol = \"tcp\"\nzones = [\"office\"]\n"
        );
        Ruleset::compile(&parse_policy("t.toml", &src).unwrap()).unwrap()
    }

    fn used(source: &str, port: u16) -> SourceUse {
        SourceUse {
            source: source.parse().unwrap(),
            protocol: Proto::Tcp,
            port,
            connections: 2,
            first_seen: "2026-11-01T00:00:00Z".parse().unwrap(),
            last_seen: "2026-12-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn probes(pairs: Vec<Probe>) -> Probes {
        Probes {
            pairs,
            mirrored_listeners: 3,
            added_listeners: vec![portreeve_core::PortKey {
                protocol: Proto::Tcp,
                port: 8082,
            }],
            elapsed: Duration::from_millis(1500),
        }
    }

    const REACHED: Probe = Probe::Reached {
        now: true,
        candidate: true,
    };
    const BROKEN: Probe = Probe::Reached {
        now: true,
        candidate: false,
    };

    #[test]
    fn the_probes_decide_what_breaks_and_the_model_gives_the_verdict() {
        // Now 443 for the office; the candidate allows 8443 instead.
        let uses = [used("192.0.2.7/32", 443), used("192.0.2.8/32", 443)];
        let (replay, report) = judge(
            &uses,
            Some(&ruleset(443)),
            &ruleset(8443),
            &probes(vec![BROKEN, Probe::Skipped("no way")]),
        );
        assert_eq!(replay.pairs, 2);
        assert_eq!(replay.blocked.len(), 1);
        assert_eq!(replay.blocked[0].source, uses[0].source);
        assert_eq!(replay.blocked[0].verdict, Verdict::NotAllowed);
        assert_eq!(replay.blocked[0].connections, 2);
        assert!(replay.opened.is_empty());
        assert_eq!(report.probed, 1);
        assert_eq!(report.seconds, 1.5);
        assert_eq!(report.added_listeners, ["8082/tcp"]);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].source, uses[1].source);
        assert_eq!(report.skipped[0].why, "no way");
        assert!(report.disagreements.is_empty(), "{report:?}");
    }

    #[test]
    fn a_probe_the_model_did_not_predict_is_a_disagreement() {
        let uses = [used("192.0.2.7/32", 443), used("198.51.100.1/32", 443)];
        // The model: the first reaches under both, the second under neither.
        let (replay, report) = judge(
            &uses,
            Some(&ruleset(443)),
            &ruleset(443),
            &probes(vec![BROKEN, REACHED]),
        );
        let blocked: Vec<_> = replay
            .blocked
            .iter()
            .map(|p| (p.source, p.verdict))
            .collect();
        assert_eq!(blocked, [(uses[0].source, Verdict::Accepted)]);
        assert_eq!(report.disagreements.len(), 2);
        let json = serde_json::to_value(&report.disagreements[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "source": "198.51.100.1/32", "protocol": "tcp", "port": 443,
                "model_now": "not allowed", "model_candidate": "not allowed",
                "reached_now": true, "reached_candidate": true,
            })
        );
    }

    #[test]
    fn with_nothing_enforced_the_model_says_everything_reaches_now() {
        let uses = [used("198.51.100.1/32", 443)];
        let (replay, report) = judge(&uses, None, &ruleset(443), &probes(vec![BROKEN]));
        assert_eq!(replay.blocked.len(), 1);
        assert!(report.disagreements.is_empty(), "{report:?}");
    }
}
