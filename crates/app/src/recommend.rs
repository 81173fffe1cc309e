//! `recommend`: a least-privilege policy from observed use.
//!
//! Starting from a policy and the (source, protocol, port) uses recorded in
//! a window, each rule is kept, narrowed or dropped:
//!
//! - a rule nobody used from its zones is dropped, and so is an entry of its
//!   `ports` list nobody used;
//! - a used rule's sources are narrowed to the tightest of the smallest
//!   existing zone covering the observed sources and those sources
//!   aggregated at a prefix (in a new zone), never wider than the rule's
//!   zones today (see [`sources::narrow`]);
//! - rules marked `keep = true`, the management zone's SSH rule and
//!   on-demand (`grant`) rules are never dropped nor narrowed: absence of
//!   use says nothing about them.
//!
//! The file is edited, not rewritten: comments and the order of everything
//! else survive, and each rule gets a `# recommend:` comment with its
//! evidence. What a recommendation allows covers every recorded use the
//! policy allowed; the text is checked with the parser `policy validate`
//! uses before it is returned.

pub mod kubernetes;
pub mod sources;

use std::collections::BTreeSet;
use std::path::Path;

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_core::{Proto, SourceUse};
use portreeve_policy::{Policy, Rule};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use crate::error::AppError;
use crate::policy::{self, LoadedPolicy};
use crate::state_dir::StateDir;
pub use sources::{Narrowing, Prefixes};

/// Every comment `recommend` writes starts so, and a later run replaces
/// them rather than piling up.
const MARK: &str = "# recommend:";

/// What became of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleAdvice {
    /// The rule's name (`rule #N` when unnamed).
    pub rule: String,
    /// What the recorded use says about it.
    pub evidence: Evidence,
    /// What is done with it.
    pub action: Action,
}

/// The recorded use a rule is judged by: uses of its ports and protocols
/// from sources inside its zones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// New connections counted.
    pub connections: u64,
    /// Distinct sources (addresses, or networks past the agent's cap).
    pub sources: usize,
    /// The last connection seen, if any.
    pub last_seen: Option<Timestamp>,
}

/// What `recommend` does with a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Left as written whatever its use: `keep = true`, the management
    /// zone's SSH, or an on-demand rule.
    Protected(&'static str),
    /// Kept, its sources narrowed as said, its unused `ports` entries
    /// removed.
    Kept {
        /// Where its sources go.
        sources: Narrowing,
        /// Entries of `ports` nobody used, removed.
        unused_ports: Vec<String>,
    },
    /// Removed: nobody used it in the window.
    Dropped,
}

/// A recommended policy.
#[derive(Clone, Debug)]
pub struct Recommendation {
    /// The policy text, valid.
    pub text: String,
    /// Each rule of the original policy, in order.
    pub rules: Vec<RuleAdvice>,
}

/// Recommends a policy from `policy` (its `text` and the model parsed from
/// it) and the `usage` recorded since `since`. Refuses when nothing at all
/// was recorded: that means the record is missing, not that every port may
/// close.
pub fn recommend(
    text: &str,
    policy: &Policy,
    usage: &[SourceUse],
    since: Timestamp,
    prefixes: Prefixes,
) -> Result<Recommendation, AppError> {
    if usage.is_empty() {
        return Err(AppError::Invalid(format!(
            "no use was recorded since {}: recommend works from recorded use, and none \
             is no evidence that every port may close (is the agent running? see `portreeve \
             usage --by-source`); nothing was recommended",
            day(since)
        )));
    }
    let mut doc: DocumentMut = strip_header(text)
        .parse()
        .map_err(|e| AppError::Invalid(format!("{}: {e}", policy.origin)))?;
    let advice: Vec<RuleAdvice> = policy
        .rules
        .iter()
        .map(|rule| advise(policy, rule, usage, prefixes))
        .collect();
    edit(&mut doc, policy, &advice, since)?;
    let mut out = header(&advice, usage.len(), since);
    out.push_str(&doc.to_string());
    portreeve_policy::parse_policy(&policy.origin, &out).map_err(|e| {
        AppError::Invalid(format!(
            "recommend produced a policy that does not validate (a bug): {e}"
        ))
    })?;
    Ok(Recommendation {
        text: out,
        rules: advice,
    })
}

/// The recommendation as a unified diff from the policy it started from.
pub fn diff(base: &LoadedPolicy, recommended: &str) -> String {
    similar::TextDiff::from_lines(base.text.as_str(), recommended)
        .unified_diff()
        .header(&base.policy.origin, "recommended")
        .to_string()
}

/// Recorded uses of `rule`: its ports and protocols, from inside its zones
/// and families.
fn uses_of<'u>(policy: &Policy, rule: &Rule, usage: &'u [SourceUse]) -> Vec<&'u SourceUse> {
    let reach = reach(policy, rule);
    usage
        .iter()
        .filter(|u| rule.covers(u.protocol, u.port) && reach.iter().any(|n| n.contains(&u.source)))
        .collect()
}

/// The networks `rule` admits: its zones' networks in its families.
fn reach(policy: &Policy, rule: &Rule) -> Vec<IpNet> {
    rule.zones
        .iter()
        .filter_map(|z| policy.zone(z))
        .flat_map(|z| z.networks.iter().copied())
        .filter(|n| rule.families.contains(&family(n)))
        .collect()
}

fn family(n: &IpNet) -> portreeve_core::Family {
    match n {
        IpNet::V4(_) => portreeve_core::Family::Ipv4,
        IpNet::V6(_) => portreeve_core::Family::Ipv6,
    }
}

fn advise(policy: &Policy, rule: &Rule, usage: &[SourceUse], prefixes: Prefixes) -> RuleAdvice {
    let uses = uses_of(policy, rule, usage);
    let observed: BTreeSet<IpNet> = uses.iter().map(|u| u.source).collect();
    let evidence = Evidence {
        connections: uses.iter().map(|u| u.connections).sum(),
        sources: observed.len(),
        last_seen: uses.iter().map(|u| u.last_seen).max(),
    };
    let action = if let Some(why) = protection(policy, rule) {
        Action::Protected(why)
    } else if uses.is_empty() {
        Action::Dropped
    } else {
        let observed: Vec<IpNet> = observed.into_iter().collect();
        Action::Kept {
            sources: sources::narrow(
                &observed,
                &reach(policy, rule),
                &policy.zones,
                &rule.zones,
                prefixes,
            ),
            unused_ports: rule
                .ports
                .iter()
                .filter(|r| !uses.iter().any(|u| r.contains(u.port)))
                .map(ToString::to_string)
                .collect(),
        }
    };
    RuleAdvice {
        rule: rule.name.clone(),
        evidence,
        action,
    }
}

/// Why `rule` is left as written whatever its use, if it is.
fn protection(policy: &Policy, rule: &Rule) -> Option<&'static str> {
    let management_ssh = policy.enforce.management_zone.as_ref().is_some_and(|m| {
        rule.zones.contains(m) && rule.covers(Proto::Tcp, policy.enforce.ssh_port)
    });
    if rule.keep {
        Some("keep = true")
    } else if management_ssh {
        Some("the management zone's SSH")
    } else if rule.grant.is_some() {
        Some("on-demand: grants open it")
    } else {
        None
    }
}

/// Applies `advice` to the `[[rule]]` tables of `doc`.
fn edit(
    doc: &mut DocumentMut,
    policy: &Policy,
    advice: &[RuleAdvice],
    since: Timestamp,
) -> Result<(), AppError> {
    let mut new_zones: Vec<(String, Vec<IpNet>, String)> = Vec::new();
    {
        let Some(rules) = doc.get_mut("rule").and_then(Item::as_array_of_tables_mut) else {
            return if policy.rules.is_empty() {
                Ok(())
            } else {
                Err(AppError::Invalid(format!(
                    "{}: recommend edits rules written as [[rule]] tables only",
                    policy.origin
                )))
            };
        };
        for (table, advice) in rules.iter_mut().zip(advice) {
            let note = match &advice.action {
                Action::Protected(why) => format!("kept as written ({why})"),
                Action::Dropped => String::new(),
                Action::Kept {
                    sources,
                    unused_ports,
                } => {
                    let mut note = "kept".to_string();
                    match sources {
                        Narrowing::Unchanged => {}
                        Narrowing::Zone(z) => {
                            note.push_str(&format!("; sources narrowed to zone `{z}`"));
                            set_zones(table, z);
                        }
                        Narrowing::Networks(nets) => {
                            let name = new_zone_name(policy, &advice.rule, &new_zones);
                            note.push_str(&format!("; sources narrowed to zone `{name}`"));
                            set_zones(table, &name);
                            new_zones.push((name, nets.clone(), advice.rule.clone()));
                        }
                    }
                    if !unused_ports.is_empty() {
                        note.push_str(&format!(
                            "; unused ports removed: {}",
                            unused_ports.join(", ")
                        ));
                        drop_ports(table, unused_ports);
                    }
                    note
                }
            };
            let line = format!("{MARK} {note} — {}\n", evidence(&advice.evidence, since));
            let prefix = table
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .lines()
                .filter(|l| !l.trim_start().starts_with(MARK))
                .map(|l| format!("{l}\n"))
                .collect::<String>();
            table.decor_mut().set_prefix(format!("{prefix}{line}"));
        }
        let mut index = 0;
        rules.retain(|_| {
            let keep = advice[index].action != Action::Dropped;
            index += 1;
            keep
        });
        if rules.is_empty() {
            doc.remove("rule");
        }
    }
    if !new_zones.is_empty() {
        let zones = doc
            .get_mut("zones")
            .and_then(Item::as_table_mut)
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "{}: recommend adds zones to a [zones] table only",
                    policy.origin
                ))
            })?;
        for (name, nets, rule) in new_zones {
            let list: Array = nets.iter().map(|n| n.to_string()).collect();
            zones.insert(&name, toml_edit::value(list));
            if let Some(mut key) = zones.key_mut(&name) {
                key.leaf_decor_mut().set_prefix(format!(
                    "{MARK} the sources seen using rule `{rule}`, aggregated\n"
                ));
            }
        }
    }
    Ok(())
}

/// Makes `table`'s `zones` the one zone `name`, keeping its place.
fn set_zones(table: &mut Table, name: &str) {
    let list: Array = std::iter::once(name).collect();
    if let Some(item) = table.get_mut("zones") {
        let decor = item.as_value().map(|v| v.decor().clone());
        let mut value = Value::Array(list);
        if let Some(decor) = decor {
            *value.decor_mut() = decor;
        }
        *item = Item::Value(value);
    }
}

/// Removes the entries of `table`'s `ports` that are in `unused`.
fn drop_ports(table: &mut Table, unused: &[String]) {
    if let Some(ports) = table.get_mut("ports").and_then(Item::as_array_mut) {
        ports.retain(|v| {
            let written = match v {
                Value::Integer(i) => i.value().to_string(),
                Value::String(s) => s.value().trim().to_string(),
                _ => return true,
            };
            !unused.contains(&written)
        });
        ports.fmt();
    }
}

/// A zone name for the sources of `rule` not used by any zone yet.
fn new_zone_name(policy: &Policy, rule: &str, taken: &[(String, Vec<IpNet>, String)]) -> String {
    let slug: String = rule
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '-',
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let base = format!("seen-{slug}");
    let free = |n: &String| policy.zone(n).is_none() && !taken.iter().any(|(t, _, _)| t == n);
    std::iter::once(base.clone())
        .chain((2..).map(|i| format!("{base}-{i}")))
        .find(free)
        .expect("an unbounded sequence has a free name")
}

/// `1,204 connections from 3 sources, last seen 2026-12-06 10:00 UTC`.
fn evidence(e: &Evidence, since: Timestamp) -> String {
    match e.last_seen {
        Some(last) => format!(
            "{} connection{} from {} source{}, last seen {}",
            e.connections,
            if e.connections == 1 { "" } else { "s" },
            e.sources,
            if e.sources == 1 { "" } else { "s" },
            last.strftime("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("no connection from its zones since {}", day(since)),
    }
}

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// The header: what the recommendation was made from, and the rules it
/// dropped (they have no table left to carry a comment).
fn header(advice: &[RuleAdvice], uses: usize, since: Timestamp) -> String {
    let mut out = format!(
        "{MARK} made by `portreeve recommend` from {uses} recorded (source, protocol, port) use{} since {}; review it before applying\n",
        if uses == 1 { "" } else { "s" },
        day(since)
    );
    for a in advice.iter().filter(|a| a.action == Action::Dropped) {
        out.push_str(&format!(
            "{MARK} dropped rule `{}`: {}\n",
            a.rule,
            evidence(&a.evidence, since)
        ));
    }
    out
}

/// `text` without the header of an earlier recommendation.
fn strip_header(text: &str) -> String {
    let mut rest = text;
    while rest.starts_with(MARK) {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.to_string()
}

/// A `recommend` request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The policy to start from [default: the policy in effect, as `check`
    /// chooses it].
    pub policy: Option<&'a Path>,
    /// JSON lines of recorded use to read instead of the agent's record.
    pub usage: Option<&'a Path>,
    /// Only use last seen at or after this time.
    pub since: Timestamp,
    /// The prefixes observed sources are aggregated at.
    pub prefixes: Prefixes,
}

/// Recommends a policy from the policy `request` names (or the one in
/// effect) and the use recorded since its `since`; returns the policy it
/// started from with the recommendation.
pub fn run(
    state: &StateDir,
    request: &Request<'_>,
) -> Result<(LoadedPolicy, Recommendation), AppError> {
    let base = policy::for_judging(state, request.policy)?;
    let usage = crate::usage_file::load(state, request.usage, request.since)?;
    let rec = recommend(
        &base.text,
        &base.policy,
        &usage,
        request.since,
        request.prefixes,
    )?;
    Ok((base, rec))
}

#[cfg(test)]
mod tests;
