//! Applying a policy's accepted risks to findings.
//!
//! An accepted finding stays in the report, marked with who accepted it,
//! why and until when; it is not hidden, only left out of totals,
//! thresholds and monitoring states. On the day after its expiry the
//! acceptance no longer holds and the finding counts again, with a line
//! saying whose acceptance lapsed.

use jiff::civil::Date;
use portreeve_core::{Acceptance, Finding};

use crate::model::Policy;

/// Marks every finding an unexpired accepted risk of `policy` covers;
/// notes an expired one on the findings it covered.
pub fn accept(policy: &Policy, findings: &mut [Finding], today: Date) {
    for finding in findings.iter_mut() {
        let covering = policy
            .accepted_risks
            .iter()
            .filter(|r| r.finding.selects(finding));
        // The exception lasting longest wins; an expired one is only noted
        // when nothing current covers the finding.
        let Some(risk) = covering.max_by_key(|r| r.expires) else {
            continue;
        };
        if risk.expires >= today {
            finding.accepted = Some(Acceptance {
                owner: risk.owner.clone(),
                reason: risk.reason.clone(),
                expires: risk.expires,
                location: risk.location.clone(),
            });
        } else {
            finding.evidence.push(format!(
                "accepted by {} until {} ({}); the acceptance has expired",
                risk.owner, risk.expires, risk.location
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use portreeve_core::{FindingKind, Severity};

    use super::*;
    use crate::parse_policy;

    fn finding(kind: FindingKind, fingerprint: &str) -> Finding {
        Finding {
            kind,
            fingerprint: fingerprint.into(),
            severity: Severity::High,
            message: String::new(),
            socket: None,
            service: None,
            pids: vec![],
            rule: None,
            resource: None,
            evidence: vec![],
            rationale: String::new(),
            remediation: String::new(),
            reach: None,
            accepted: None,
        }
    }

    const POLICY: &str = r#"
[[accepted_risk]]
finding = "00112233445566aa"
owner = "ops"
reason = "vendor appliance"
expires = 2027-01-31
"#;

    #[test]
    fn accepted_until_expiry_and_back_the_day_after() {
        let p = parse_policy("p.toml", POLICY).unwrap();
        let mut f = [
            finding(FindingKind::StaleRule, "00112233445566aa"),
            finding(FindingKind::StaleRule, "ffffffffffffffff"),
        ];
        accept(&p, &mut f, date(2027, 1, 31));
        let a = f[0].accepted.as_ref().expect("accepted on its last day");
        assert_eq!((a.owner.as_str(), a.expires), ("ops", date(2027, 1, 31)));
        assert!(f[1].accepted.is_none());

        let mut f = [finding(FindingKind::StaleRule, "00112233445566aa")];
        accept(&p, &mut f, date(2027, 2, 1));
        assert!(f[0].accepted.is_none());
        assert_eq!(
            f[0].evidence,
            ["accepted by ops until 2027-01-31 (p.toml:2:1); the acceptance has expired"]
        );
    }
}
