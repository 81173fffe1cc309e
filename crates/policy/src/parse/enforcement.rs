//! The parts of a policy that only matter when it is enforced: the
//! `[enforce]` table, and a rule's `limits` and `grant`.

use serde::Deserialize;
use toml::Spanned;

use super::{Validator, Whole};
use crate::model::{DefaultAction, DropLog, Enforcement, GrantPolicy, Limits, Zone};

/// The longest grant a policy may allow; beyond this "temporary" is a lie.
const MAX_GRANT_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnforce {
    default_action: Option<Spanned<String>>,
    log: Option<Spanned<String>>,
    /// The older spelling of `log`: `false` is `"off"`, `true` `"nflog"`.
    log_dropped: Option<Spanned<bool>>,
    log_group: Option<Spanned<Whole>>,
    log_rate_per_second: Option<Spanned<Whole>>,
    allow_ping: Option<bool>,
    allow_dhcp_client: Option<bool>,
    management_zone: Option<Spanned<String>>,
    ssh_port: Option<Spanned<Whole>>,
    usage_retention_days: Option<Spanned<Whole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    new_per_second: Option<Spanned<Whole>>,
    new_per_second_per_source: Option<Spanned<Whole>>,
    connections: Option<Spanned<Whole>>,
    connections_per_source: Option<Spanned<Whole>>,
    burst: Option<Spanned<Whole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    max_ttl: Spanned<String>,
}

impl Validator<'_, '_> {
    pub(super) fn enforcement(&mut self, raw: Option<RawEnforce>, zones: &[Zone]) -> Enforcement {
        let mut e = Enforcement::default();
        let Some(raw) = raw else { return e };
        if let Some(a) = &raw.default_action {
            match a.get_ref().as_str() {
                "drop" => e.default_action = DefaultAction::Drop,
                "reject" => e.default_action = DefaultAction::Reject,
                other => self.error(
                    a.span(),
                    format!("unknown default_action `{other}`"),
                    Some(r#"use "drop" (silent) or "reject" (TCP reset, ICMP unreachable)"#.into()),
                ),
            }
        }
        e.log = self.drop_log(raw.log.as_ref(), raw.log_dropped.as_ref());
        if let Some(v) = &raw.log_group {
            e.log_group = self
                .whole_in(v, 0, 65535, "NFLOG group")
                .and_then(|g| u16::try_from(g).ok())
                .unwrap_or(e.log_group);
        }
        if let Some(v) = &raw.log_rate_per_second {
            e.log_rate_per_second = self
                .whole_in(v, 1, 100_000, "log messages per second")
                .unwrap_or(e.log_rate_per_second);
        }
        if let Some(b) = raw.allow_ping {
            e.allow_ping = b;
        }
        if let Some(b) = raw.allow_dhcp_client {
            e.allow_dhcp_client = b;
        }
        if let Some(z) = &raw.management_zone {
            match zones.iter().find(|zone| &zone.name == z.get_ref()) {
                Some(zone) if zone.networks.is_empty() => self.error(
                    z.span(),
                    format!("management zone `{}` has no networks", z.get_ref()),
                    Some("SSH reaches a host from networks, not from Kubernetes namespaces".into()),
                ),
                Some(_) => e.management_zone = Some(z.get_ref().clone()),
                None => self.unknown_zone(z, zones),
            }
        }
        if let Some(v) = &raw.ssh_port {
            e.ssh_port = self
                .whole_in(v, 1, 65535, "port")
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(e.ssh_port);
        }
        if let Some(v) = &raw.usage_retention_days {
            e.usage_retention_days = self.days(v, 1).unwrap_or(e.usage_retention_days);
        }
        e
    }

    /// `log`, or its older spelling `log_dropped`; not both.
    fn drop_log(
        &mut self,
        log: Option<&Spanned<String>>,
        log_dropped: Option<&Spanned<bool>>,
    ) -> DropLog {
        const CHOICES: [&str; 3] = ["nflog", "kernel", "off"];
        match (log, log_dropped) {
            (None, None) => DropLog::Nflog,
            (None, Some(old)) if *old.get_ref() => DropLog::Nflog,
            (None, Some(_)) => DropLog::Off,
            (Some(_), Some(old)) => {
                self.error(
                    old.span(),
                    "`log_dropped` and `log` are both set",
                    Some("`log` replaces `log_dropped`: keep `log` alone".into()),
                );
                DropLog::Nflog
            }
            (Some(v), None) => match v.get_ref().as_str() {
                "nflog" => DropLog::Nflog,
                "kernel" => DropLog::Kernel,
                "off" => DropLog::Off,
                other => {
                    let expected = CHOICES.map(str::to_string);
                    let hint = match super::recover::closest(other, &expected) {
                        Some(c) => format!("did you mean `{c}`? "),
                        None => String::new(),
                    };
                    self.error(
                        v.span(),
                        format!("unknown log `{other}`"),
                        Some(format!(
                            r#"{hint}use "nflog" (an NFLOG group), "kernel" (the kernel log) or "off""#
                        )),
                    );
                    DropLog::Nflog
                }
            },
        }
    }

    pub(super) fn limits(&mut self, raw: &Spanned<RawLimits>) -> Option<Limits> {
        let r = raw.get_ref();
        let mut limit = |v: &Option<Spanned<Whole>>, what: &str| {
            v.as_ref()
                .and_then(|v| self.whole_in(v, 1, 10_000_000, what))
        };
        let limits = Limits {
            new_per_second: limit(&r.new_per_second, "connections per second"),
            new_per_second_per_source: limit(
                &r.new_per_second_per_source,
                "connections per second",
            ),
            connections: limit(&r.connections, "connections"),
            connections_per_source: limit(&r.connections_per_source, "connections"),
            burst: limit(&r.burst, "packets").unwrap_or(Limits::DEFAULT_BURST),
        };
        if r.new_per_second.is_none()
            && r.new_per_second_per_source.is_none()
            && r.connections.is_none()
            && r.connections_per_source.is_none()
        {
            self.error(
                raw.span(),
                "empty limits",
                Some(
                    "give new_per_second, new_per_second_per_source, connections or \
                     connections_per_source"
                        .into(),
                ),
            );
            return None;
        }
        // A per-source cap above the total could never be reached: the
        // policy says something the firewall would not do.
        if let (Some(total), Some(per_source), Some(at)) = (
            limits.connections,
            limits.connections_per_source,
            &r.connections_per_source,
        ) && per_source > total
        {
            self.error(
                at.span(),
                format!(
                    "connections_per_source of {per_source} is above the rule's connections of {total}"
                ),
                Some(
                    "one source cannot hold more connections than all sources together; \
                     lower connections_per_source or raise connections"
                        .into(),
                ),
            );
            return None;
        }
        Some(limits)
    }

    pub(super) fn grant(&mut self, raw: &Spanned<RawGrant>) -> Option<GrantPolicy> {
        let text = raw.get_ref().max_ttl.get_ref();
        let span = raw.get_ref().max_ttl.span();
        match parse_duration(text) {
            Some(d) if d.is_positive() && d <= MAX_GRANT_TTL => Some(GrantPolicy { max_ttl: d }),
            Some(_) => {
                self.error(
                    span,
                    format!("max_ttl `{text}` is out of range"),
                    Some("grants last from 1 second to 30 days".into()),
                );
                None
            }
            None => {
                self.error(
                    span,
                    format!("`{text}` is not a duration"),
                    Some(r#"write e.g. "90s", "30m", "4h" or "1h30m""#.into()),
                );
                None
            }
        }
    }
}

/// Parses a duration such as `90s`, `30m`, `4h`, `1h30m` or `2d`.
pub fn parse_duration(text: &str) -> Option<jiff::SignedDuration> {
    // jiff's friendly format accepts `4h`, `1h30m`, `2 days`; days are
    // calendar units there, so they go through a Span of fixed 24-hour days.
    let span: jiff::Span = text.trim().parse().ok()?;
    let hours = i64::from(span.get_days()) * 24 + i64::from(span.get_hours());
    let whole = span.days(0).hours(0);
    let rest = jiff::SignedDuration::try_from(whole).ok()?;
    rest.checked_add(jiff::SignedDuration::from_hours(hours))
}
