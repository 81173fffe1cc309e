//! The `[detection]` table: what is done about port scans, how long an
//! automatic block lasts, whose sources are never blocked, and the kernel
//! tier's thresholds.
//!
//! Every key is checked where it is written and every error is collected,
//! so a misspelt action, a bad duration and an unknown zone are reported
//! together; a block TTL above the policy's own cap is caught here rather
//! than when the first scanner is blocked.

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::{Validator, Whole, parse_duration, recover};
use crate::model::{Detection, ScanAction, Zone};

/// The longest block a policy may allow: a year. Anything longer is a
/// typo, and a block that outlives its reason only hurts whoever gets the
/// address next.
const MAX_BLOCK: SignedDuration = SignedDuration::from_hours(365 * 24);

/// The longest kernel counting window: a day. The kernel keeps one entry
/// per (source, port) for that long; slower scans are the agent's.
const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// The most closed ports a source may try before it counts as a scanner.
/// Zeek, Snort and CrowdSec wait for 15; a hundred is far past any reading
/// of "scan".
const MAX_PORTS: i64 = 100;

/// The `scan` values, in the order the hint lists them.
const ACTIONS: [(&str, ScanAction); 3] = [
    ("off", ScanAction::Off),
    ("alert", ScanAction::Alert),
    ("block", ScanAction::Block),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDetection {
    scan: Option<Spanned<String>>,
    block_ttl: Option<Spanned<String>>,
    max_block_ttl: Option<Spanned<String>>,
    never_block: Option<Vec<Spanned<String>>>,
    ports: Option<Spanned<Whole>>,
    window: Option<Spanned<String>>,
}

impl Validator<'_, '_> {
    pub(super) fn detection(&mut self, raw: Option<RawDetection>, zones: &[Zone]) -> Detection {
        let mut d = Detection::default();
        let Some(raw) = raw else { return d };
        if let Some(scan) = &raw.scan {
            d.scan = self.scan_action(scan).unwrap_or(d.scan);
        }
        let block_ttl = raw
            .block_ttl
            .as_ref()
            .and_then(|t| self.bounded_duration(t, "block_ttl", MAX_BLOCK, "a year"));
        let max_block_ttl = raw
            .max_block_ttl
            .as_ref()
            .and_then(|t| self.bounded_duration(t, "max_block_ttl", MAX_BLOCK, "a year"));
        d.block_ttl = block_ttl.unwrap_or(d.block_ttl);
        d.max_block_ttl = max_block_ttl.unwrap_or(d.max_block_ttl);
        // Judged only on values that parsed: a bad one is reported already.
        let both_parsed = raw.block_ttl.is_none() == block_ttl.is_none()
            && raw.max_block_ttl.is_none() == max_block_ttl.is_none();
        if both_parsed && d.block_ttl > d.max_block_ttl {
            let span = raw
                .block_ttl
                .as_ref()
                .or(raw.max_block_ttl.as_ref())
                .map(Spanned::span)
                .unwrap_or_default();
            self.error(
                span,
                format!(
                    "block_ttl ({:#}) is longer than max_block_ttl ({:#})",
                    d.block_ttl, d.max_block_ttl
                ),
                Some("an automatic block lasts at most max_block_ttl: shorten block_ttl or raise max_block_ttl".into()),
            );
        }
        for name in raw.never_block.unwrap_or_default() {
            if zones.iter().any(|z| &z.name == name.get_ref()) {
                if !d.never_block.contains(name.get_ref()) {
                    d.never_block.push(name.into_inner());
                }
            } else {
                self.unknown_zone(&name, zones);
            }
        }
        if let Some(ports) = &raw.ports {
            d.ports = self
                .whole_in(ports, 1, MAX_PORTS, "closed ports")
                .unwrap_or(d.ports);
        }
        if let Some(window) = &raw.window {
            d.window = self
                .bounded_duration(window, "window", MAX_WINDOW, "a day")
                .unwrap_or(d.window);
        }
        d
    }

    fn scan_action(&mut self, raw: &Spanned<String>) -> Option<ScanAction> {
        let written = raw.get_ref();
        if let Some((_, action)) = ACTIONS.iter().find(|(name, _)| name == written) {
            return Some(*action);
        }
        let names: Vec<String> = ACTIONS.iter().map(|(n, _)| (*n).to_string()).collect();
        let hint = match recover::closest(written, &names) {
            Some(name) => format!("did you mean `{name}`?"),
            None => r#"use "off", "alert" (record and alert) or "block" (also block the source)"#
                .to_string(),
        };
        self.error(
            raw.span(),
            format!("unknown scan action `{written}`"),
            Some(hint),
        );
        None
    }

    /// A duration from one second to `max` (`max_words` says it in the
    /// hint), or an error at the value.
    fn bounded_duration(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
        max: SignedDuration,
        max_words: &str,
    ) -> Option<SignedDuration> {
        let text = raw.get_ref();
        match parse_duration(text) {
            Some(d) if d >= SignedDuration::from_secs(1) && d <= max => Some(d),
            Some(_) => {
                self.error(
                    raw.span(),
                    format!("{key} `{text}` is out of range"),
                    Some(format!("{key} runs from 1 second to {max_words}")),
                );
                None
            }
            None => {
                self.error(
                    raw.span(),
                    format!("`{text}` is not a duration"),
                    Some(r#"write e.g. "60s", "10m", "4h" or "1d""#.into()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Detection, ScanAction};
    use crate::parse::parse_policy;

    const ZONES: &str = "[zones]\nmanagement = [\"10.0.0.0/24\"]\noffice = [\"10.1.0.0/24\"]\n";

    fn parse(detection: &str) -> Result<Detection, Vec<(String, Option<String>)>> {
        parse_policy("p.toml", &format!("{ZONES}[detection]\n{detection}"))
            .map(|p| p.detection)
            .map_err(|e| {
                e.errors
                    .iter()
                    .map(|e| (e.message.clone(), e.hint.clone()))
                    .collect()
            })
    }

    #[test]
    fn every_key_is_read_and_defaults_fill_the_rest() {
        let d = parse(
            "scan = \"block\"\nblock_ttl = \"30m\"\nmax_block_ttl = \"2d\"\nnever_block = [\"office\"]\nports = 6\nwindow = \"2m\"\n",
        )
        .unwrap();
        assert_eq!(d.scan, ScanAction::Block);
        assert_eq!(d.block_ttl, jiff::SignedDuration::from_mins(30));
        assert_eq!(d.max_block_ttl, jiff::SignedDuration::from_hours(48));
        assert_eq!(d.never_block, ["office"]);
        assert_eq!(d.ports, 6);
        assert_eq!(d.window, jiff::SignedDuration::from_mins(2));
        let d = parse("scan = \"alert\"\n").unwrap();
        assert_eq!(
            d,
            Detection {
                scan: ScanAction::Alert,
                ..Detection::default()
            }
        );
    }

    #[test]
    fn a_misspelt_action_or_zone_names_what_was_meant() {
        let errors = parse("scan = \"blok\"\nnever_block = [\"managment\"]\n").unwrap_err();
        assert_eq!(
            errors,
            [
                (
                    "unknown scan action `blok`".to_string(),
                    Some("did you mean `block`?".to_string())
                ),
                (
                    "unknown zone `managment`".to_string(),
                    Some("did you mean `management`?".to_string())
                ),
            ]
        );
    }

    #[test]
    fn a_block_longer_than_the_cap_and_bad_thresholds_are_all_reported() {
        let errors =
            parse("block_ttl = \"2h\"\nmax_block_ttl = \"1h\"\nports = 0\nwindow = \"soon\"\n")
                .unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("block_ttl (2h) is longer than max_block_ttl (1h)"));
        assert!(messages[1].contains("0"), "{messages:?}");
        assert_eq!(messages[2], "`soon` is not a duration");
    }

    #[test]
    fn a_bad_ttl_is_not_also_judged_against_the_cap() {
        let errors = parse("block_ttl = \"forever\"\nmax_block_ttl = \"1h\"\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "`forever` is not a duration");
    }
}
