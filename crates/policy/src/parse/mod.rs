//! From TOML text to a validated [`Policy`], or to located errors.
//!
//! Parsing happens in two steps. Serde reads the text into `Raw*` structs that
//! mirror the file and keep the source span of every value a user can get
//! wrong; unknown fields and wrong types are rejected there, each one
//! recorded and cut out so reading goes on (see [`recover`]). Validation then
//! turns raw values into model types, collecting every error with its span,
//! so one run reports everything wrong with a file.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;
use jiff::civil::Date;
use portreeve_core::{Family, PolicyLocation, PortRange, Proto, Severity};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

mod accepted;
mod breakers;
mod change_control;
mod detection;
mod enforcement;
mod kubernetes;
mod lifecycle;
mod recover;

use accepted::RawAcceptedRisk;
use change_control::RawChangeControl;
use detection::RawDetection;
pub use enforcement::parse_duration;
use enforcement::{RawEnforce, RawGrant, RawLimits};
use kubernetes::{RawPods, RawZone};
use lifecycle::{RawLevel, RawLifecycle};

use crate::error::{ErrorSink, PolicyErrors};
use crate::model::{
    BannedPorts, Defaults, Lifecycle, PodRule, Policy, Rule, ServiceIdentity, Zone,
};

/// The policy file format version this build understands.
pub const FORMAT_VERSION: i64 = 1;

/// Bans that apply unless `banned.include_defaults = false`: cleartext or
/// unauthenticated services that have no business on a network interface.
pub(crate) const DEFAULT_BANS: &[(u16, u16, &[Proto])] = &[
    (21, 21, &[Proto::Tcp]),               // FTP
    (23, 23, &[Proto::Tcp]),               // Telnet
    (69, 69, &[Proto::Udp]),               // TFTP
    (111, 111, &[Proto::Tcp, Proto::Udp]), // rpcbind
    (512, 514, &[Proto::Tcp]),             // rexec, rlogin, rsh (514/udp is syslog)
    (2375, 2375, &[Proto::Tcp]),           // Docker API without TLS
    (6000, 6063, &[Proto::Tcp]),           // X11
];

/// `[zones]`: name → networks (and namespaces), each with its span.
type RawZones = BTreeMap<Spanned<String>, Spanned<RawZone>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Option<Spanned<Whole>>,
    defaults: Option<RawDefaults>,
    zones: Option<RawZones>,
    #[serde(rename = "rule")]
    rules: Option<Vec<Spanned<RawRule>>>,
    banned: Option<RawBanned>,
    enforce: Option<RawEnforce>,
    change_control: Option<RawChangeControl>,
    lifecycle: Option<RawLifecycle>,
    accepted_risk: Option<Vec<Spanned<RawAcceptedRisk>>>,
    detection: Option<RawDetection>,
    breaker: Option<Vec<Spanned<breakers::RawBreaker>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    approval_validity_days: Option<Spanned<Whole>>,
    expiry_warning_days: Option<Spanned<Whole>>,
    min_severity: Option<Spanned<String>>,
    unknown_port_severity: Option<Spanned<String>>,
    risky_severity: Option<Spanned<String>>,
    report_stale_rules: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    port: Option<Spanned<RawPort>>,
    ports: Option<Spanned<Vec<Spanned<RawPort>>>>,
    protocol: Spanned<RawProtocols>,
    zones: Spanned<Vec<Spanned<String>>>,
    family: Option<Spanned<String>>,
    service: Option<Spanned<RawService>>,
    owner: Option<String>,
    reason: Option<String>,
    approved_by: Option<String>,
    approved_on: Option<Spanned<toml::value::Datetime>>,
    expires: Option<Spanned<toml::value::Datetime>>,
    limits: Option<Spanned<RawLimits>>,
    grant: Option<Spanned<RawGrant>>,
    dormant_after: Option<Spanned<String>>,
    abandoned_after: Option<Spanned<String>>,
    reclaim: Option<Spanned<String>>,
    keep: Option<bool>,
    pods: Option<Spanned<RawPods>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    process: Option<String>,
    exe: Option<String>,
    unit: Option<String>,
    container: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBanned {
    include_defaults: Option<bool>,
    ports: Option<Vec<Spanned<RawPort>>>,
}

/// An integer field (`version`, day counts). A newtype so a wrong type is
/// reported as "expected a whole number", not as Rust's `i64`.
struct Whole(i64);

/// A port as written: `22`, `"8000-8100"`, or (in `banned`) `"69/udp"`.
enum RawPort {
    Number(i64),
    Text(String),
}

/// `"tcp"` or `["tcp", "udp"]`.
enum RawProtocols {
    One(String),
    Many(Vec<String>),
}

// Hand-written rather than `#[serde(untagged)]`: an untagged enum's error
// ("data did not match any variant of untagged enum RawPort") names our
// internals instead of saying what the user should write.
impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl Visitor<'_> for PortVisitor {
            type Value = RawPort;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a port number (443) or a range string ("8000-8100")"#)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPort, E> {
                Ok(RawPort::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPort, E> {
                Ok(RawPort::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPort, E> {
                Ok(RawPort::Text(v.to_string()))
            }
        }
        d.deserialize_any(PortVisitor)
    }
}

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct WholeVisitor;
        impl Visitor<'_> for WholeVisitor {
            type Value = Whole;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole, E> {
                Ok(Whole(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole, E> {
                Ok(Whole(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(WholeVisitor)
    }
}

impl<'de> Deserialize<'de> for RawProtocols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ProtocolsVisitor;
        impl<'de> Visitor<'de> for ProtocolsVisitor {
            type Value = RawProtocols;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#""tcp", "udp" or a list of them"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawProtocols, E> {
                Ok(RawProtocols::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawProtocols, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(RawProtocols::Many(names))
            }
        }
        d.deserialize_any(ProtocolsVisitor)
    }
}

/// Parses and validates a policy file's bytes, as read: a file that is not
/// UTF-8 is an error located at its first invalid byte (see
/// [`PolicyErrors::not_utf8`]); else as [`parse_policy`].
pub fn parse_policy_bytes(file: &str, bytes: &[u8]) -> Result<Policy, PolicyErrors> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_policy(file, text),
        Err(e) => Err(PolicyErrors::not_utf8(file, bytes, e)),
    }
}

/// Parses and validates policy text. `file` names the source in locations
/// and errors.
pub fn parse_policy(file: &str, source: &str) -> Result<Policy, PolicyErrors> {
    let mut sink = ErrorSink::new(source);
    let Some(raw) = recover::read_collecting::<RawPolicy>(source, &mut sink) else {
        return Err(sink.into_errors(file));
    };
    let policy = Validator {
        file,
        sink: &mut sink,
    }
    .policy(raw);
    if sink.is_empty() {
        Ok(policy)
    } else {
        Err(sink.into_errors(file))
    }
}

struct Validator<'a, 'b> {
    file: &'a str,
    sink: &'b mut ErrorSink<'a>,
}

impl Validator<'_, '_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        self.sink.push(span, message, hint);
    }

    fn location(&self, offset: usize) -> PolicyLocation {
        let (line, column) = self.sink.line_column(offset);
        PolicyLocation {
            file: self.file.to_string(),
            line,
            column,
        }
    }

    fn policy(&mut self, raw: RawPolicy) -> Policy {
        if let Some(v) = &raw.version
            && v.get_ref().0 != FORMAT_VERSION
        {
            self.error(
                v.span(),
                format!("unsupported policy format version {}", v.get_ref().0),
                Some(format!("this portreeve reads version = {FORMAT_VERSION}")),
            );
        }
        let defaults = self.defaults(raw.defaults);
        let zones = self.zones(raw.zones.unwrap_or_default());
        let banned = self.banned(raw.banned);
        let enforce = self.enforcement(raw.enforce, &zones);
        let change_control = self.change_control(raw.change_control);
        let lifecycle = self.lifecycle(raw.lifecycle, &zones);
        let accepted_risks = self.accepted_risks(raw.accepted_risk.unwrap_or_default());
        let detection = self.detection(raw.detection, &zones, &enforce);
        let mut rules = Vec::new();
        let mut pod_rules = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (index, raw_rule) in raw.rules.unwrap_or_default().into_iter().enumerate() {
            if let Some(name) = &raw_rule.get_ref().name
                && !names.insert(name.get_ref().clone())
            {
                self.error(
                    name.span(),
                    format!("duplicate rule name `{}`", name.get_ref()),
                    Some("rule names identify rules in findings and must be unique".into()),
                );
            }
            let pods = raw_rule.get_ref().pods.as_ref().map(|p| self.pods(p));
            if pods.is_some() {
                self.refuse_host_only_keys(&raw_rule);
            } else {
                self.refuse_namespace_only_zones(&raw_rule, &zones);
            }
            let rule = self.rule(index, raw_rule, &zones, &banned, &defaults, &lifecycle);
            match (rule, pods) {
                (Some(rule), None) => rules.push(rule),
                (Some(rule), Some(Some(pods))) => pod_rules.push(PodRule { rule, pods }),
                _ => {}
            }
        }
        // Breakers act on host rules only: a pod rule is "no rule" to them.
        for pod_rule in &pod_rules {
            names.remove(&pod_rule.rule.name);
        }
        let breakers = self.breakers(
            raw.breaker.unwrap_or_default(),
            &breakers::Context {
                names: &names,
                rules: &rules,
                banned: &banned,
                enforce: &enforce,
            },
        );
        Policy {
            origin: self.file.to_string(),
            zones,
            rules,
            pod_rules,
            banned,
            defaults,
            enforce,
            change_control,
            lifecycle,
            accepted_risks,
            detection,
            breakers,
        }
    }

    fn defaults(&mut self, raw: Option<RawDefaults>) -> Defaults {
        let mut d = Defaults::default();
        let Some(raw) = raw else { return d };
        if let Some(v) = raw.approval_validity_days {
            d.approval_validity_days = self.days(&v, 1).unwrap_or(d.approval_validity_days);
        }
        if let Some(v) = raw.expiry_warning_days {
            d.expiry_warning_days = self.days(&v, 0).unwrap_or(d.expiry_warning_days);
        }
        for (field, target) in [
            (raw.min_severity, &mut d.min_severity),
            (raw.unknown_port_severity, &mut d.unknown_port_severity),
            (raw.risky_severity, &mut d.risky_severity),
        ] {
            if let Some(s) = field {
                match s.get_ref().parse::<Severity>() {
                    Ok(sev) => *target = sev,
                    Err(e) => self.sink.push(s.span(), e.to_string(), None),
                }
            }
        }
        if let Some(b) = raw.report_stale_rules {
            d.report_stale_rules = b;
        }
        d
    }

    /// A day count from `min` to ten years: anything longer is a typo.
    fn days(&mut self, v: &Spanned<Whole>, min: i64) -> Option<u32> {
        self.whole_in(v, min, 3650, "days")
    }

    /// A whole number from `min` to `max`, or an error naming the `unit`.
    fn whole_in(&mut self, v: &Spanned<Whole>, min: i64, max: i64, unit: &str) -> Option<u32> {
        let n = v.get_ref().0;
        if (min..=max).contains(&n) {
            u32::try_from(n).ok()
        } else {
            self.error(
                v.span(),
                format!("{n} {unit} is out of range"),
                Some(format!("use {unit} from {min} to {max}")),
            );
            None
        }
    }

    fn zones(&mut self, raw: RawZones) -> Vec<Zone> {
        let mut zones = Vec::new();
        for (name, written) in raw {
            let span = written.span();
            let valid_name = !name.get_ref().is_empty()
                && name.get_ref().bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid_name {
                self.error(
                    name.span(),
                    format!("invalid zone name `{}`", name.get_ref()),
                    Some("zone names use lower-case letters, digits, `-` and `_`".into()),
                );
            }
            let written = written.get_ref();
            if written.networks.is_empty() && written.namespaces.is_empty() {
                let hint = if written.table {
                    r#"give networks = ["192.0.2.0/24"], namespaces = ["web"], or both"#
                } else {
                    r#"list at least one CIDR, e.g. ["192.0.2.0/24"]"#
                };
                self.error(
                    span,
                    format!("zone `{}` has no networks", name.get_ref()),
                    Some(hint.into()),
                );
            }
            let mut parsed = Vec::new();
            for net in &written.networks {
                match parse_network(net.get_ref()) {
                    Ok(n) => parsed.push(n),
                    Err((message, hint)) => self.error(net.span(), message, hint),
                }
            }
            let namespaces = self.zone_namespaces(&written.namespaces);
            zones.push(Zone {
                name: name.into_inner(),
                networks: parsed,
                namespaces,
            });
        }
        zones
    }

    fn banned(&mut self, raw: Option<RawBanned>) -> Vec<BannedPorts> {
        let (include_defaults, ports) = match raw {
            Some(b) => (
                b.include_defaults.unwrap_or(true),
                b.ports.unwrap_or_default(),
            ),
            None => (true, Vec::new()),
        };
        let mut banned = Vec::new();
        if include_defaults {
            banned.extend(
                DEFAULT_BANS
                    .iter()
                    .map(|&(start, end, protocols)| BannedPorts {
                        ports: PortRange::new(start.into(), end.into())
                            .expect("built-in bans are valid"),
                        protocols: protocols.to_vec(),
                        location: None,
                    }),
            );
        }
        for spec in ports {
            match parse_port_spec(spec.get_ref(), true) {
                Ok((ports, protocols)) => banned.push(BannedPorts {
                    ports,
                    protocols,
                    location: Some(self.location(spec.span().start)),
                }),
                Err((message, hint)) => self.error(spec.span(), message, hint),
            }
        }
        banned
    }

    fn rule(
        &mut self,
        index: usize,
        raw: Spanned<RawRule>,
        zones: &[Zone],
        banned: &[BannedPorts],
        defaults: &Defaults,
        lifecycle: &Lifecycle,
    ) -> Option<Rule> {
        let errors_before = self.sink.len();
        let location = self.location(raw.span().start);
        let rule_span = raw.span();
        let raw = raw.into_inner();
        let name = raw
            .name
            .as_ref()
            .map_or_else(|| format!("rule #{}", index + 1), |n| n.get_ref().clone());

        let protocols = self.protocols(&raw.protocol);
        let ports = self.rule_ports(&raw, rule_span.clone());
        for (range, span) in &ports {
            for proto in &protocols {
                if let Some(ban) = banned
                    .iter()
                    .find(|b| b.protocols.contains(proto) && b.ports.overlaps(*range))
                {
                    let origin = match &ban.location {
                        Some(loc) => format!("banned at line {}", loc.line),
                        None => "a built-in default ban".to_string(),
                    };
                    self.error(
                        span.clone(),
                        format!("rule `{name}` allows {range}/{proto}, which is banned ({}/{proto}, {origin})", ban.ports),
                        Some(
                            "banned ports must never listen on a non-loopback address: drop the port from this rule, or the ban from [banned] (for a built-in ban, set banned.include_defaults = false and list the bans you keep)"
                                .into(),
                        ),
                    );
                }
            }
        }

        let zone_names = self.rule_zones(&raw.zones, zones);
        let zone_families: Vec<Family> = {
            let mut f: Vec<Family> = zone_names
                .iter()
                .filter_map(|z| zones.iter().find(|zone| &zone.name == z))
                .flat_map(Zone::families)
                .collect();
            f.sort();
            f.dedup();
            f
        };
        let families = match &raw.family {
            None => zone_families,
            Some(f) => self.family(f, &zone_families),
        };

        let service = raw.service.as_ref().and_then(|s| self.service(s));
        let approved_on = raw
            .approved_on
            .as_ref()
            .and_then(|d| self.date(d, "approved_on"));
        let explicit_expiry = raw.expires.as_ref().and_then(|d| self.date(d, "expires"));
        if let (Some(on), Some(until), Some(span)) =
            (approved_on, explicit_expiry, raw.expires.as_ref())
            && until < on
        {
            self.error(
                span.span(),
                format!("rule `{name}` expires ({until}) before it was approved ({on})"),
                None,
            );
        }
        let expires = explicit_expiry.or_else(|| {
            approved_on.and_then(|on| {
                on.checked_add(jiff::Span::new().days(i64::from(defaults.approval_validity_days)))
                    .ok()
            })
        });

        let limits = raw.limits.as_ref().and_then(|l| self.limits(l));
        let grant = raw.grant.as_ref().and_then(|g| self.grant(g));
        let rule_lifecycle = self.rule_lifecycle(
            &RawLevel {
                dormant_after: raw.dormant_after.clone(),
                abandoned_after: raw.abandoned_after.clone(),
                reclaim: raw.reclaim.clone(),
            },
            &name,
            &zone_names,
            lifecycle,
        );

        if self.sink.len() > errors_before {
            return None;
        }
        Some(Rule {
            name,
            ports: ports.into_iter().map(|(r, _)| r).collect(),
            protocols,
            zones: zone_names,
            families,
            service,
            owner: raw.owner,
            reason: raw.reason,
            approved_by: raw.approved_by,
            approved_on,
            expires,
            limits,
            grant,
            lifecycle: rule_lifecycle,
            keep: raw.keep.unwrap_or(false),
            location,
        })
    }

    fn protocols(&mut self, raw: &Spanned<RawProtocols>) -> Vec<Proto> {
        let names: Vec<&str> = match raw.get_ref() {
            RawProtocols::One(s) => vec![s.as_str()],
            RawProtocols::Many(v) => v.iter().map(String::as_str).collect(),
        };
        if names.is_empty() {
            self.error(
                raw.span(),
                "empty protocol list",
                Some(r#"use "tcp", "udp" or ["tcp", "udp"]"#.into()),
            );
        }
        let mut protocols = Vec::new();
        for n in names {
            match n.parse::<Proto>() {
                Ok(p) if !protocols.contains(&p) => protocols.push(p),
                Ok(_) => {}
                Err(e) => self.error(raw.span(), e.to_string(), None),
            }
        }
        protocols.sort();
        protocols
    }

    fn rule_ports(
        &mut self,
        raw: &RawRule,
        rule_span: Range<usize>,
    ) -> Vec<(PortRange, Range<usize>)> {
        let written: Vec<&Spanned<RawPort>> = match (&raw.port, &raw.ports) {
            (Some(_), Some(list)) => {
                self.error(list.span(), "a rule has `port` or `ports`, not both", None);
                return Vec::new();
            }
            (Some(one), None) => vec![one],
            (None, Some(list)) if list.get_ref().is_empty() => {
                self.error(
                    list.span(),
                    "empty `ports` list",
                    Some("list at least one port".into()),
                );
                return Vec::new();
            }
            (None, Some(list)) => list.get_ref().iter().collect(),
            (None, None) => {
                self.error(
                    rule_span,
                    "rule has no port",
                    Some(r#"add port = 443, or ports = [80, "8000-8100"]"#.into()),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for spec in written {
            match parse_port_spec(spec.get_ref(), false) {
                Ok((range, _)) => out.push((range, spec.span())),
                Err((message, hint)) => self.error(spec.span(), message, hint),
            }
        }
        out
    }

    fn rule_zones(&mut self, raw: &Spanned<Vec<Spanned<String>>>, zones: &[Zone]) -> Vec<String> {
        if raw.get_ref().is_empty() {
            self.error(
                raw.span(),
                "rule allows no zone",
                Some("name at least one zone whose sources may connect".into()),
            );
        }
        let mut out = Vec::new();
        for z in raw.get_ref() {
            if zones.iter().any(|zone| &zone.name == z.get_ref()) {
                out.push(z.get_ref().clone());
                continue;
            }
            self.unknown_zone(z, zones);
        }
        out
    }

    /// Reports a reference to a zone that is not defined, suggesting the
    /// closest defined name.
    fn unknown_zone(&mut self, name: &Spanned<String>, zones: &[Zone]) {
        let known: Vec<&str> = zones.iter().map(|zone| zone.name.as_str()).collect();
        let closest = known
            .iter()
            .map(|k| (strsim::levenshtein(k, name.get_ref()), *k))
            .filter(|(d, _)| *d <= 2)
            .min();
        let hint = match (closest, known.is_empty()) {
            (Some((_, k)), _) => format!("did you mean `{k}`?"),
            (None, true) => "no zones are defined: add a [zones] table".to_string(),
            (None, false) => format!("defined zones: {}", known.join(", ")),
        };
        self.error(
            name.span(),
            format!("unknown zone `{}`", name.get_ref()),
            Some(hint),
        );
    }

    fn family(&mut self, raw: &Spanned<String>, zone_families: &[Family]) -> Vec<Family> {
        let wanted = match raw.get_ref().as_str() {
            "ipv4" => vec![Family::Ipv4],
            "ipv6" => vec![Family::Ipv6],
            "any" => vec![Family::Ipv4, Family::Ipv6],
            other => {
                self.error(
                    raw.span(),
                    format!("unknown family `{other}`"),
                    Some(r#"use "ipv4", "ipv6" or "any""#.into()),
                );
                return Vec::new();
            }
        };
        if !zone_families.is_empty() && !wanted.iter().any(|f| zone_families.contains(f)) {
            self.error(
                raw.span(),
                format!(
                    "family `{}` matches none of the rule's zone networks",
                    raw.get_ref()
                ),
                Some("the zones hold only networks of the other address family".into()),
            );
        }
        wanted
    }

    fn service(&mut self, raw: &Spanned<RawService>) -> Option<ServiceIdentity> {
        let s = raw.get_ref();
        let identity = ServiceIdentity {
            process: s.process.clone(),
            exe: s.exe.clone(),
            unit: s.unit.clone(),
            container: s.container.clone(),
        };
        if identity == ServiceIdentity::default() {
            self.error(
                raw.span(),
                "empty service identity",
                Some("give at least one of process, exe, unit, container".into()),
            );
            return None;
        }
        if let Some(exe) = &identity.exe
            && !exe.starts_with('/')
        {
            self.error(
                raw.span(),
                format!("exe `{exe}` is not an absolute path"),
                None,
            );
        }
        if let Some(c) = &identity.container
            && (c.is_empty() || c.contains(char::is_whitespace))
        {
            self.error(
                raw.span(),
                format!("container `{c}` is neither a container id nor a name"),
                Some(
                    "use the id or a prefix of at least 12 hex digits (as `docker ps` shows), or an LXC container name"
                        .into(),
                ),
            );
        }
        Some(identity)
    }

    fn date(&mut self, raw: &Spanned<toml::value::Datetime>, field: &str) -> Option<Date> {
        let dt = raw.get_ref();
        let parsed = match (dt.date, dt.time) {
            (Some(d), None) => Date::new(
                i16::try_from(d.year).unwrap_or(i16::MAX),
                i8::try_from(d.month).unwrap_or(0),
                i8::try_from(d.day).unwrap_or(0),
            )
            .ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                raw.span(),
                format!("`{field}` must be a date"),
                Some(format!("write a bare TOML date: {field} = 2027-01-31")),
            );
        }
        parsed
    }
}

/// Parses `22`, `"8000-8100"` and, where `allow_protocol`, `"69/udp"`. A
/// spec without a protocol means TCP and UDP.
fn parse_port_spec(
    raw: &RawPort,
    allow_protocol: bool,
) -> Result<(PortRange, Vec<Proto>), (String, Option<String>)> {
    let both = vec![Proto::Tcp, Proto::Udp];
    match raw {
        RawPort::Number(n) => PortRange::single(*n)
            .map(|r| (r, both))
            .map_err(|e| (e.to_string(), None)),
        RawPort::Text(text) => {
            let (ports, proto) = match text.split_once('/') {
                Some((p, proto)) if allow_protocol => (p, Some(proto)),
                Some(_) => {
                    return Err((
                        format!("`{text}`: a rule's ports take no protocol suffix"),
                        Some("set the rule's `protocol` field instead".into()),
                    ));
                }
                None => (text.as_str(), None),
            };
            let range: PortRange = ports.parse().map_err(|e: portreeve_core::PortRangeError| {
                let hint = matches!(e, portreeve_core::PortRangeError::Syntax(_)).then(|| {
                    "write a number (443) or an inclusive range (\"8000-8100\")".to_string()
                });
                (e.to_string(), hint)
            })?;
            let protocols = match proto {
                None => both,
                Some(p) => vec![p.parse::<Proto>().map_err(|e| (e.to_string(), None))?],
            };
            Ok((range, protocols))
        }
    }
}

/// Parses a zone network: a CIDR (`10.0.0.0/8`) or a bare address (a host).
fn parse_network(text: &str) -> Result<IpNet, (String, Option<String>)> {
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text.trim().parse().map_err(|_| {
        (
            format!("`{text}` is not a network: `{addr_text}` is not an IP address"),
            Some("write a CIDR such as 192.0.2.0/24 or 2001:db8::/32".to_string()),
        )
    })?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
            (
                format!(
                    "`{text}` is not a network: prefix length `{p}` must be 0-{max} for an {} address",
                    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                ),
                None,
            )
        })?,
    };
    let net = IpNet::new(addr, prefix).expect("prefix checked against the family maximum");
    if net.trunc() != net {
        return Err((
            format!("`{text}` has host bits set"),
            Some(format!("did you mean `{}`?", net.trunc())),
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_with_clear_errors() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        let (msg, _) = parse_network("10.0.0.0/33").unwrap_err();
        assert!(msg.contains("prefix length `33` must be 0-32"), "{msg}");
        let (msg, hint) = parse_network("10.0.0.1/8").unwrap_err();
        assert!(msg.contains("host bits"), "{msg}");
        assert_eq!(hint.unwrap(), "did you mean `10.0.0.0/8`?");
        assert!(parse_network("tenfour/8").is_err());
        assert!(parse_network("::/129").is_err());
    }

    #[test]
    fn port_specs_take_protocols_only_where_allowed() {
        let (r, p) = parse_port_spec(&RawPort::Text("69/udp".into()), true).unwrap();
        assert_eq!((r.to_string(), p), ("69".to_string(), vec![Proto::Udp]));
        let (_, p) = parse_port_spec(&RawPort::Number(111), true).unwrap();
        assert_eq!(p, vec![Proto::Tcp, Proto::Udp]);
        assert!(parse_port_spec(&RawPort::Text("69/udp".into()), false).is_err());
        assert!(parse_port_spec(&RawPort::Text("69/sctp".into()), true).is_err());
        assert!(parse_port_spec(&RawPort::Number(0), true).is_err());
    }
}
