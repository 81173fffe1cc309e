//! The fleet's evidence pack: the server's ledger, read page by page from
//! `GET /api/v1/ledger`, as a bundle; the policy versions assigned to the
//! fleet's hosts and groups, with their records and approvals; and how
//! `evidence verify` ties each of those texts to the server's ledger.

use std::collections::BTreeMap;
use std::path::Path;

use portreeve_ledger::note::VerifierKey;
use portreeve_ledger::{Bundle, Entry, digest};
use portreeve_server::policy::{Assignment, PolicyVersion};

use super::pack::{self, Contents, Files, SignedLedger, check_target, pretty};
use super::verify::Verification;
use super::{BUNDLE, DESCRIPTION, Exported, FleetPart, FleetPolicyPart, Scope};
use crate::error::AppError;
use crate::report::{self, ReportRequest};
use crate::server_client::ServerClient;

/// Writes the evidence pack of the fleet `client`'s server governs into
/// `dir`, which must not exist or be empty.
///
/// Reads the policies in effect first, then the server's ledger once
/// (which records every proposal and approval as it is made, before the
/// server commits it: the entries of those policies are then in the
/// bundle), and builds the fleet's report over that same ledger. The
/// ledger must verify against the key the server states, and that key
/// must be `operator_key` when one is given; otherwise nothing is written.
pub fn export_fleet(
    client: &ServerClient,
    dir: &Path,
    operator_key: Option<&VerifierKey>,
) -> Result<Exported, AppError> {
    check_target(dir)?;
    let (policies, files) = policies_in_effect(client)?;
    let (bundle, key) = client.ledger_bundle()?;
    let report = report::build_fleet_over(
        client,
        &ReportRequest::default(),
        &bundle,
        key.clone(),
        operator_key,
    )?;
    if let Some(given) = operator_key
        && given.to_string() != key.to_string()
    {
        return Err(AppError::Invalid(format!(
            "{}: the server's ledger is signed by {key}, not by the key given with --key ({given}); no evidence pack is written",
            client.base()
        )));
    }
    let signed = SignedLedger::check(bundle, key, |t| {
        AppError::Integrity(format!(
            "{}: the server's ledger does not verify against the server's key ({t}); no evidence pack is written for it",
            client.base()
        ))
    })?;
    let contents = Contents {
        scope: Scope::Fleet,
        policy: None,
        fleet: Some(FleetPart {
            server: client.base().to_owned(),
            key_matched_operator: operator_key.is_some(),
            policies,
        }),
        files,
        report: (report::fleet_html(&report), pretty(&report)),
    };
    pack::write(dir, signed, contents)
}

/// Each policy version assigned to a host or group — a target that
/// follows "the latest approved version" takes the latest approved now —
/// with its text and record as files of the pack.
fn policies_in_effect(client: &ServerClient) -> Result<(Vec<FleetPolicyPart>, Files), AppError> {
    let versions: Vec<PolicyVersion> = client.get("/api/v1/policies")?;
    let assignments: Vec<Assignment> = client.get("/api/v1/assignments")?;
    let mut in_effect: BTreeMap<(String, u64), Vec<String>> = BTreeMap::new();
    for a in &assignments {
        let version = match a.version {
            Some(v) => v,
            None => versions
                .iter()
                .filter(|v| v.name == a.policy && v.approved)
                .map(|v| v.version)
                .max()
                .ok_or_else(|| {
                    AppError::Server(format!(
                        "{}: {} {} follows the latest approved version of {}, which has none",
                        client.base(),
                        a.target_kind,
                        a.target,
                        a.policy
                    ))
                })?,
        };
        in_effect
            .entry((a.policy.clone(), version))
            .or_default()
            .push(format!("{} {}", a.target_kind, a.target));
    }
    let mut parts = Vec::new();
    let mut files = Vec::new();
    for ((name, version), assigned_to) in in_effect {
        // The name becomes a file name: only what the server itself allows.
        if !safe_name(&name) {
            return Err(AppError::Server(format!(
                "{}: the policy name {name:?} is not one the server accepts",
                client.base()
            )));
        }
        let mut record: PolicyVersion =
            client.get(&format!("/api/v1/policies/{name}/{version}"))?;
        let text = record.text.take().ok_or_else(|| {
            AppError::Server(format!(
                "{}: policy {name} version {version} came without its text",
                client.base()
            ))
        })?;
        if digest(text.as_bytes()) != record.sha256
            || record.name != name
            || record.version != version
        {
            return Err(AppError::Server(format!(
                "{}: policy {name} version {version}: the text or record the server gave is not the version asked for (digest {} against {})",
                client.base(),
                digest(text.as_bytes()),
                record.sha256
            )));
        }
        let part = FleetPolicyPart {
            text: text_file(&name, version),
            record: record_file(&name, version),
            name,
            version,
            sha256: record.sha256.clone(),
            assigned_to,
        };
        files.push((part.text.clone(), text.into_bytes()));
        files.push((part.record.clone(), pretty(&record)));
        parts.push(part);
    }
    Ok((parts, files))
}

/// `policy/NAME-vN.toml`.
fn text_file(name: &str, version: u64) -> String {
    format!("policy/{name}-v{version}.toml")
}

/// `policy/NAME-vN.json`.
fn record_file(name: &str, version: u64) -> String {
    format!("policy/{name}-v{version}.json")
}

/// A policy name as the server accepts one: a-z, 0-9, `.`, `_`, `-`,
/// starting with a letter or digit, at most 64 bytes.
fn safe_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Checks each fleet policy of the pack in `dir`: its text has the digest
/// its record and `evidence.json` give, and the bundle's ledger records
/// that digest as proposed for that version by its proposer and approved
/// by each approver its record names. The ledger's own verification has
/// already tied each of those entries to the signed checkpoint.
pub(super) fn check_policies(dir: &Path, part: &FleetPart, bundle: &Bundle, v: &mut Verification) {
    let entries: Vec<Entry> = bundle
        .entries
        .iter()
        .filter_map(|line| Entry::parse(line.as_bytes()).ok())
        .collect();
    for p in &part.policies {
        if !safe_name(&p.name)
            || p.text != text_file(&p.name, p.version)
            || p.record != record_file(&p.name, p.version)
        {
            v.problems.push(format!(
                "{DESCRIPTION}: names files of policy {:?} version {} outside the pack's layout (policy/NAME-vN.toml and .json)",
                p.name, p.version
            ));
            continue;
        }
        let text = match std::fs::read(dir.join(&p.text)) {
            Ok(t) => t,
            Err(e) => {
                v.problems.push(format!("{}: {e}", p.text));
                continue;
            }
        };
        let actual = digest(&text);
        if actual != p.sha256 {
            v.problems.push(format!(
                "{}: its digest is {actual}, not {} as evidence.json records: the text was changed",
                p.text, p.sha256
            ));
            continue;
        }
        let record: PolicyVersion = match super::verify::read_json(dir, &p.record) {
            Ok(r) => r,
            Err(e) => {
                v.problems.push(e.to_string());
                continue;
            }
        };
        if record.name != p.name || record.version != p.version || record.sha256 != actual {
            v.problems.push(format!(
                "{}: is the record of {} version {} ({}), not of the text {} ({actual})",
                p.record, record.name, record.version, record.sha256, p.text
            ));
            continue;
        }
        if !record.approved {
            v.problems.push(format!(
                "{}: {} version {} is not approved, yet assigned",
                p.record, p.name, p.version
            ));
        }
        let object = format!("policy {} version {}", p.name, p.version);
        let recorded = |action: &str, actor: &str| {
            entries.iter().find(|e| {
                e.action == action
                    && e.actor == actor
                    && e.object == object
                    && e.after.as_deref() == Some(actual.as_str())
            })
        };
        let mut claims = vec![("server.policy.propose", record.proposer.as_str())];
        claims.extend(
            record
                .approvals
                .iter()
                .map(|a| ("server.policy.approve", a.by.as_str())),
        );
        let mut found = Vec::new();
        for (action, actor) in claims {
            match recorded(action, actor) {
                Some(e) => found.push(e.index.to_string()),
                None => v.problems.push(format!(
                    "{}: its digest {actual} is recorded by no {action} of {object} by {actor} in {BUNDLE}: this is not a version the server's ledger shows {}",
                    p.text,
                    if action == "server.policy.propose" { "proposed" } else { "approved so" }
                )),
            }
        }
        if found.len() == record.approvals.len() + 1 {
            v.policies.push(format!(
                "{} v{} {actual} (ledger entries {})",
                p.name,
                p.version,
                found.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_the_server_accepts_become_file_names() {
        assert!(safe_name("web"));
        assert!(safe_name("db-2.prod_eu"));
        for bad in ["", "../x", "a/b", ".hidden", "Web", &"x".repeat(65)] {
            assert!(!safe_name(bad), "{bad}");
        }
    }
}
