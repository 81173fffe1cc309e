//! The `[detection]` table: what is done about port scans, how long an
//! automatic block lasts, whose sources are never blocked, and the kernel
//! tier's thresholds.
//!
//! Every key is checked where it is written and every error is collected,
//! so a misspelt action, a bad duration and an unknown zone are reported
//! together; a block TTL above the policy's own cap is caught here rather
//! than when the first scanner is blocked. The scan chain's NFLOG group
//! is checked against the drop log's here too: sharing one would mix
//! dropped packets into the agent's probes.

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::{Validator, Whole, parse_duration, recover};
use crate::model::{Detection, DropLog, Enforcement, ScanAction, Zone};

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
    log_group: Option<Spanned<Whole>>,
}

impl Validator<'_, '_> {
    pub(super) fn detection(
        &mut self,
        raw: Option<RawDetection>,
        zones: &[Zone],
        enforce: &Enforcement,
    ) -> Detection {
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
        let log_group = raw.log_group.as_ref().and_then(|v| {
            self.whole_in(v, 0, 65535, "NFLOG group")
                .and_then(|g| u16::try_from(g).ok())
        });
        d.log_group = log_group.unwrap_or(d.log_group);
        // Judged only on a value that parsed: a bad one is reported already.
        if raw.log_group.is_none() == log_group.is_none() {
            let at = raw.log_group.as_ref().map(Spanned::span);
            self.log_group_apart(&d, at.or(raw.scan.as_ref().map(Spanned::span)), enforce);
        }
        d
    }

    /// The scan chain's NFLOG group must not be the drop log's, or the
    /// agent would read every dropped packet as a probe. Only a policy
    /// that detects scans has a scan chain, so only its `scan` (or its
    /// `log_group`, where written) can be where the clash is.
    fn log_group_apart(
        &mut self,
        d: &Detection,
        at: Option<std::ops::Range<usize>>,
        enforce: &Enforcement,
    ) {
        if d.scan == ScanAction::Off
            || enforce.log != DropLog::Nflog
            || d.log_group != enforce.log_group
        {
            return;
        }
        self.error(
            at.unwrap_or_default(),
            format!(
                "[detection] log_group {} is also the drop log's NFLOG group ([enforce] log_group)",
                d.log_group
            ),
            Some("the agent reads the scan chain's group as probes: give the two tables different groups".into()),
        );
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
        assert_eq!(d.log_group, Detection::DEFAULT_LOG_GROUP);
        assert_eq!(parse("log_group = 7\n").unwrap().log_group, 7);
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

    /// Parses `text` whole and returns each error's message and the line
    /// and column it is located at.
    fn located(text: &str) -> Vec<(String, u32, u32)> {
        parse_policy("p.toml", text)
            .unwrap_err()
            .errors
            .iter()
            .map(|e| (e.message.clone(), e.line, e.column))
            .collect()
    }

    #[test]
    fn the_scan_log_group_must_differ_from_the_drop_logs() {
        let clash = "[enforce]\nlog_group = 2\n[detection]\nscan = \"alert\"\n";
        let message =
            "[detection] log_group 2 is also the drop log's NFLOG group ([enforce] log_group)";
        assert_eq!(located(clash), [(message.to_string(), 4, 8)], "at `scan`");
        let written = "[detection]\nscan = \"block\"\nlog_group = 0\n";
        let message = message.replace(" 2 ", " 0 ");
        assert_eq!(located(written), [(message, 3, 13)], "at `log_group`");
        // No clash without a scan chain, or without an NFLOG drop log.
        assert!(parse_policy("p.toml", "[detection]\nlog_group = 0\n").is_ok());
        let kernel_log =
            "[enforce]\nlog = \"kernel\"\n[detection]\nscan = \"alert\"\nlog_group = 0\n";
        assert!(parse_policy("p.toml", kernel_log).is_ok());
    }

    #[test]
    fn a_log_group_out_of_range_is_located_and_not_judged_further() {
        let errors = located("[detection]\nscan = \"alert\"\nlog_group = 70000\n");
        assert_eq!(
            errors,
            [("70000 NFLOG group is out of range".to_string(), 3, 13)]
        );
        let errors = parse("log_group = \"two\"\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
    }
}
