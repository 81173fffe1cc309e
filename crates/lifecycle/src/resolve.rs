//! The lifecycle settings the policy gives one port.

use portreeve_policy::{LifecycleSettings, Policy, ReclaimMode, Rule};
use serde::Serialize;

use portreeve_core::PortKey;

use crate::classify::Thresholds;

/// What the policy says about one port's lifecycle, every rule and zone
/// that allows it taken together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortPolicy {
    /// When the port becomes dormant, then abandoned.
    pub thresholds: Thresholds,
    /// What is done about the port once abandoned.
    pub reclaim: ReclaimMode,
    /// A rule allowing the port says `keep = true`.
    pub keep: bool,
    /// The port is the management zone's SSH (`enforce.management_zone` is
    /// set and this is `enforce.ssh_port`/tcp): closing it would lock the
    /// operators out, so it is treated like `keep`.
    pub management_ssh: bool,
    /// A rule opens the port in the enforced ruleset (one without `grant`),
    /// so a reclaim has something to close.
    pub in_firewall: bool,
    /// Names of the rules that allow the port, in policy order.
    pub rules: Vec<String>,
}

impl PortPolicy {
    /// Resolves the settings for `key`. For each rule covering the port and
    /// each of that rule's zones, [`portreeve_policy::Lifecycle::settings`]
    /// gives rule > zone > defaults; when several (rule, zone) pairs apply,
    /// the most conservative combination wins — the longest `dormant_after`
    /// and `abandoned_after`, the least intrusive `reclaim`, and `keep` if any
    /// says so — so adding a rule or a zone never gets a port reclaimed
    /// sooner. A port no rule allows gets the `[lifecycle]` defaults.
    pub fn resolve(policy: &Policy, key: PortKey) -> PortPolicy {
        let rules: Vec<&Rule> = policy
            .rules
            .iter()
            .filter(|r| r.covers(key.protocol, key.port))
            .collect();
        let lifecycle = &policy.lifecycle;
        let mut pairs: Vec<LifecycleSettings> = Vec::new();
        for rule in &rules {
            if rule.zones.is_empty() {
                pairs.push(lifecycle.settings(Some(rule), None));
            }
            for zone in &rule.zones {
                pairs.push(lifecycle.settings(Some(rule), Some(zone)));
            }
        }
        let merged = pairs
            .into_iter()
            .reduce(|a, b| LifecycleSettings {
                dormant_after: a.dormant_after.max(b.dormant_after),
                abandoned_after: a.abandoned_after.max(b.abandoned_after),
                reclaim: a.reclaim.min(b.reclaim),
                keep: a.keep || b.keep,
            })
            .unwrap_or_else(|| lifecycle.settings(None, None));
        PortPolicy {
            thresholds: Thresholds {
                dormant_after: merged.dormant_after,
                abandoned_after: merged.abandoned_after,
            },
            reclaim: merged.reclaim,
            keep: merged.keep,
            management_ssh: policy.enforce.management_zone.is_some()
                && key == PortKey::new(portreeve_core::Proto::Tcp, policy.enforce.ssh_port),
            in_firewall: rules.iter().any(|r| r.grant.is_none()),
            rules: rules.iter().map(|r| r.name.clone()).collect(),
        }
    }
}

/// Every port a rule of `policy` allows, sorted: the ports the agent tracks
/// from the moment it starts even when nothing listens on them yet, so an
/// allowed port nobody uses is found abandoned too. Ranges are enumerated in
/// full (a 1,000-port range gives 1,000 keys per protocol).
pub fn allowed_ports(policy: &Policy) -> Vec<PortKey> {
    let mut keys: Vec<PortKey> = policy
        .rules
        .iter()
        .flat_map(|rule| {
            rule.ports.iter().flat_map(move |range| {
                (range.start()..=range.end()).flat_map(move |port| {
                    rule.protocols
                        .iter()
                        .map(move |&proto| PortKey::new(proto, port))
                })
            })
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
