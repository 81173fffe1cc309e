//! `[[accepted_risk]]`: findings someone answers for, for a reason, until
//! a date.
//!
//! Every field is required: an exception without an owner is nobody's, one
//! without a reason cannot be reviewed, and one without an expiry never
//! comes back. An expiry already past is not an error — the exception
//! simply no longer holds, and `check` reports the finding again, saying
//! that its acceptance expired — so a policy never becomes invalid merely
//! because a date went by.

use portreeve_core::{FindingKind, Proto};
use serde::Deserialize;
use toml::Spanned;

use super::Validator;
use crate::model::{AcceptedRisk, FindingSelector};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAcceptedRisk {
    finding: Spanned<String>,
    owner: Spanned<String>,
    reason: Spanned<String>,
    expires: Spanned<toml::value::Datetime>,
}

/// How a finding is named, for hints.
const FINDING_FORMS: &str = "name a finding by its fingerprint (16 hex digits, as `check` prints it) or by kind and port: \"PR003 6379/tcp\"";

impl Validator<'_, '_> {
    pub(super) fn accepted_risks(
        &mut self,
        raw: Vec<Spanned<RawAcceptedRisk>>,
    ) -> Vec<AcceptedRisk> {
        raw.into_iter()
            .filter_map(|r| self.accepted_risk(r))
            .collect()
    }

    fn accepted_risk(&mut self, raw: Spanned<RawAcceptedRisk>) -> Option<AcceptedRisk> {
        let location = self.location(raw.span().start);
        let raw = raw.into_inner();
        let finding = self.finding_selector(&raw.finding);
        let owner = self.required_text(&raw.owner, "owner");
        let reason = self.required_text(&raw.reason, "reason");
        let expires = self.date(&raw.expires, "expires");
        Some(AcceptedRisk {
            finding: finding?,
            owner: owner?,
            reason: reason?,
            expires: expires?,
            location,
        })
    }

    fn required_text(&mut self, raw: &Spanned<String>, field: &str) -> Option<String> {
        let text = raw.get_ref().trim();
        if text.is_empty() {
            self.error(
                raw.span(),
                format!("`{field}` of an accepted risk is empty"),
                Some("an accepted risk names who answers for it and why".into()),
            );
            return None;
        }
        Some(text.to_string())
    }

    fn finding_selector(&mut self, raw: &Spanned<String>) -> Option<FindingSelector> {
        match parse_selector(raw.get_ref()) {
            Ok(s) => Some(s),
            Err(message) => {
                self.error(raw.span(), message, Some(FINDING_FORMS.into()));
                None
            }
        }
    }
}

/// `0123456789abcdef` or `PR003 6379/tcp` (a kind's code or name, a port
/// and a protocol).
fn parse_selector(text: &str) -> Result<FindingSelector, String> {
    let text = text.trim();
    if text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(FindingSelector::Fingerprint(text.to_ascii_lowercase()));
    }
    let Some((kind, port)) = text.split_once(char::is_whitespace) else {
        return Err(format!("`{text}` names no finding"));
    };
    let kind = FindingKind::from_code_or_name(kind)
        .ok_or_else(|| format!("unknown finding kind `{kind}`"))?;
    let (port, protocol) = port
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("`{}` is not a port and protocol", port.trim()))?;
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("`{port}` is not a port (1-65535)")),
    };
    let protocol: Proto = protocol
        .parse()
        .map_err(|_| format!("`{protocol}` is not a protocol (tcp or udp)"))?;
    Ok(FindingSelector::Port {
        kind,
        port,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_policy;

    const RISK: &str = r#"
[[accepted_risk]]
finding = "PR003 6379/tcp"
owner = "data-team"
reason = "redis for the batch hosts until the migration"
expires = 2027-01-31
"#;

    #[test]
    fn parses_a_complete_exception() {
        let p = parse_policy("p.toml", RISK).unwrap();
        let [risk] = p.accepted_risks.as_slice() else {
            panic!("one accepted risk expected");
        };
        assert_eq!(
            risk.finding,
            FindingSelector::Port {
                kind: FindingKind::RiskyExposure,
                port: 6379,
                protocol: Proto::Tcp
            }
        );
        assert_eq!(risk.owner, "data-team");
        assert_eq!(risk.expires, jiff::civil::date(2027, 1, 31));
        assert_eq!(risk.location.line, 2);
    }

    #[test]
    fn selectors_take_fingerprints_and_kind_names() {
        assert_eq!(
            parse_selector("7658C21701A126D2").unwrap(),
            FindingSelector::Fingerprint("7658c21701a126d2".into())
        );
        assert!(matches!(
            parse_selector("risky-exposure 11211/udp").unwrap(),
            FindingSelector::Port {
                port: 11211,
                protocol: Proto::Udp,
                ..
            }
        ));
        assert!(
            parse_selector("PR999 1/tcp")
                .unwrap_err()
                .contains("unknown finding kind")
        );
        assert!(
            parse_selector("PR003 0/tcp")
                .unwrap_err()
                .contains("not a port")
        );
        assert!(
            parse_selector("PR003 6379")
                .unwrap_err()
                .contains("not a port and protocol")
        );
        assert!(
            parse_selector("redis")
                .unwrap_err()
                .contains("names no finding")
        );
    }

    #[test]
    fn mistakes_are_located_with_hints() {
        let bad = RISK.replace("PR003 6379/tcp", "PR003 6379/sctp");
        let e = parse_policy("p.toml", &bad).unwrap_err();
        assert_eq!(e.errors[0].line, 3);
        assert!(e.errors[0].message.contains("`sctp` is not a protocol"));
        assert!(
            e.errors[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("PR003 6379/tcp")
        );

        let empty = RISK.replace("\"data-team\"", "\" \"");
        let e = parse_policy("p.toml", &empty).unwrap_err();
        assert_eq!((e.errors[0].line, e.errors[0].column), (4, 9));
        assert!(
            e.errors[0]
                .message
                .contains("`owner` of an accepted risk is empty")
        );

        let missing = RISK.replace("expires = 2027-01-31\n", "");
        let e = parse_policy("p.toml", &missing).unwrap_err();
        assert!(
            e.errors[0].message.contains("missing field `expires`"),
            "{e:?}"
        );
        assert!(
            e.errors[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("owner, reason and expires")
        );
    }

    #[test]
    fn a_past_expiry_is_valid() {
        let past = RISK.replace("2027-01-31", "2001-01-01");
        assert_eq!(
            parse_policy("p.toml", &past).unwrap().accepted_risks[0].expires,
            jiff::civil::date(2001, 1, 1)
        );
    }
}
