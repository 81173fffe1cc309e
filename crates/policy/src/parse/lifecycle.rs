//! The `[lifecycle]` table and a rule's lifecycle keys: when an unused port
//! counts as dormant or abandoned, and whether abandoned ports are reclaimed.
//!
//! Every level (defaults, zone, rule) is checked for the one invariant the
//! classifier relies on — a port is dormant before it is abandoned — against
//! the values it actually ends up with, so a zone that only lengthens
//! `dormant_after` past the default `abandoned_after` is caught where it is
//! written, not at run time.

use std::collections::BTreeMap;
use std::ops::Range;

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::{Validator, parse_duration};
use crate::model::{Lifecycle, LifecycleOverride, ReclaimMode, Zone};

/// The longest threshold a policy may set; anything longer is a typo (and
/// would outlive the kernel's usage record anyway).
const MAX_THRESHOLD: SignedDuration = SignedDuration::from_hours(3650 * 24);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLifecycle {
    dormant_after: Option<Spanned<String>>,
    abandoned_after: Option<Spanned<String>>,
    reclaim: Option<Spanned<String>>,
    zones: Option<BTreeMap<Spanned<String>, RawLevel>>,
}

/// The keys a zone may override: the same as the defaults, minus `zones`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    pub(super) dormant_after: Option<Spanned<String>>,
    pub(super) abandoned_after: Option<Spanned<String>>,
    pub(super) reclaim: Option<Spanned<String>>,
}

/// A level's thresholds as written, with the span to blame when they end up
/// out of order: `abandoned_after` where the level sets it, else
/// `dormant_after`.
struct Written {
    values: LifecycleOverride,
    blame: Option<Range<usize>>,
}

impl Validator<'_, '_> {
    pub(super) fn lifecycle(&mut self, raw: Option<RawLifecycle>, zones: &[Zone]) -> Lifecycle {
        let mut l = Lifecycle::default();
        let Some(raw) = raw else { return l };
        let top = self.level(&RawLevel {
            dormant_after: raw.dormant_after,
            abandoned_after: raw.abandoned_after,
            reclaim: raw.reclaim,
        });
        l.dormant_after = top.values.dormant_after.unwrap_or(l.dormant_after);
        l.abandoned_after = top.values.abandoned_after.unwrap_or(l.abandoned_after);
        l.reclaim = top.values.reclaim.unwrap_or(l.reclaim);
        let defaults_ordered = self.check_order(
            &top,
            l.dormant_after,
            l.abandoned_after,
            "[lifecycle]".into(),
        );
        for (name, raw_zone) in raw.zones.unwrap_or_default() {
            if !zones.iter().any(|z| &z.name == name.get_ref()) {
                self.unknown_zone(&name, zones);
                continue;
            }
            let zone = self.level(&raw_zone);
            // Out-of-order defaults are reported once, at the defaults.
            if defaults_ordered {
                self.check_order(
                    &zone,
                    zone.values.dormant_after.unwrap_or(l.dormant_after),
                    zone.values.abandoned_after.unwrap_or(l.abandoned_after),
                    format!("zone `{}`", name.get_ref()),
                );
            }
            l.zones.insert(name.into_inner(), zone.values);
        }
        l
    }

    /// A rule's `dormant_after`, `abandoned_after` and `reclaim`, checked
    /// against every zone the rule allows.
    pub(super) fn rule_lifecycle(
        &mut self,
        raw: &RawLevel,
        rule: &str,
        rule_zones: &[String],
        lifecycle: &Lifecycle,
    ) -> LifecycleOverride {
        let written = self.level(raw);
        if written.values.dormant_after.is_none() && written.values.abandoned_after.is_none() {
            return written.values;
        }
        let no_zone = [None];
        let zones: Vec<Option<&str>> = if rule_zones.is_empty() {
            no_zone.to_vec()
        } else {
            rule_zones.iter().map(|z| Some(z.as_str())).collect()
        };
        for zone in zones {
            let inherited = zone
                .and_then(|z| lifecycle.zones.get(z))
                .copied()
                .unwrap_or_default();
            let dormant = written
                .values
                .dormant_after
                .or(inherited.dormant_after)
                .unwrap_or(lifecycle.dormant_after);
            let abandoned = written
                .values
                .abandoned_after
                .or(inherited.abandoned_after)
                .unwrap_or(lifecycle.abandoned_after);
            let what = match zone {
                Some(z) if rule_zones.len() > 1 => format!("rule `{rule}` (zone `{z}`)"),
                _ => format!("rule `{rule}`"),
            };
            if !self.check_order(&written, dormant, abandoned, what) {
                break; // one error per rule is enough
            }
        }
        written.values
    }

    fn level(&mut self, raw: &RawLevel) -> Written {
        let dormant_after = raw
            .dormant_after
            .as_ref()
            .and_then(|d| self.threshold(d, "dormant_after"));
        let abandoned_after = raw
            .abandoned_after
            .as_ref()
            .and_then(|d| self.threshold(d, "abandoned_after"));
        let reclaim = raw.reclaim.as_ref().and_then(|r| self.reclaim_mode(r));
        // A key that did not parse is reported already; judging the order
        // against the value it falls back to would only add noise.
        let unparsed = (raw.dormant_after.is_some() && dormant_after.is_none())
            || (raw.abandoned_after.is_some() && abandoned_after.is_none());
        let blame = raw
            .abandoned_after
            .as_ref()
            .or(raw.dormant_after.as_ref())
            .filter(|_| !unparsed)
            .map(Spanned::span);
        Written {
            values: LifecycleOverride {
                dormant_after,
                abandoned_after,
                reclaim,
            },
            blame,
        }
    }

    /// Reports, at the level's own keys, thresholds that end up out of
    /// order. A level that sets neither key inherits an order already
    /// checked, so it is not blamed. Returns whether the order holds.
    fn check_order(
        &mut self,
        level: &Written,
        dormant: SignedDuration,
        abandoned: SignedDuration,
        what: String,
    ) -> bool {
        if abandoned > dormant {
            return true;
        }
        if let Some(span) = level.blame.clone() {
            self.error(
                span,
                format!(
                    "{what}: abandoned_after ({abandoned:#}) must be longer than dormant_after ({dormant:#})"
                ),
                Some(
                    "a port goes dormant before it is abandoned: lengthen abandoned_after or shorten dormant_after"
                        .into(),
                ),
            );
        }
        false
    }

    fn threshold(&mut self, raw: &Spanned<String>, key: &str) -> Option<SignedDuration> {
        let text = raw.get_ref();
        match parse_duration(text) {
            Some(d) if d.is_positive() && d <= MAX_THRESHOLD => Some(d),
            Some(_) => {
                self.error(
                    raw.span(),
                    format!("{key} `{text}` is out of range"),
                    Some("lifecycle thresholds run from 1 second to 3650 days".into()),
                );
                None
            }
            None => {
                self.error(
                    raw.span(),
                    format!("`{text}` is not a duration"),
                    Some(r#"write e.g. "72h", "30d" or "1d12h""#.into()),
                );
                None
            }
        }
    }

    fn reclaim_mode(&mut self, raw: &Spanned<String>) -> Option<ReclaimMode> {
        match raw.get_ref().as_str() {
            "off" => Some(ReclaimMode::Off),
            "recommend" => Some(ReclaimMode::Recommend),
            "close" => Some(ReclaimMode::Close),
            other => {
                self.error(
                    raw.span(),
                    format!("unknown reclaim mode `{other}`"),
                    Some(r#"use "recommend" (a finding), "close" (remove the port from the firewall) or "off""#.into()),
                );
                None
            }
        }
    }
}
