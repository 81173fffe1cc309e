//! The Kubernetes parts of a policy: zones that name namespaces, and rules
//! that name pods (`pods = { namespace = "shop", labels = { app = "db" } }`).
//!
//! Names are checked the way the API server checks them, so a policy that
//! parses renders NetworkPolicies the API server accepts.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::{RawRule, Validator};
use crate::model::{PodSelector, Zone};

/// A zone as written: a list of networks, or a table with `networks` and
/// `namespaces`.
pub(super) struct RawZone {
    /// Whether it was written as a table (errors then name its keys).
    pub table: bool,
    pub networks: Vec<Spanned<String>>,
    pub namespaces: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZoneTable {
    networks: Option<Vec<Spanned<String>>>,
    namespaces: Option<Vec<Spanned<String>>>,
}

// Hand-written so that a wrong type says what a zone may be, not which
// untagged variant failed.
impl<'de> Deserialize<'de> for RawZone {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ZoneVisitor;
        impl<'de> Visitor<'de> for ZoneVisitor {
            type Value = RawZone;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#"a list of networks (["192.0.2.0/24"]) or a table { networks = […], namespaces = […] }"#,
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawZone, A::Error> {
                let mut networks = Vec::new();
                while let Some(net) = seq.next_element::<Spanned<String>>()? {
                    networks.push(net);
                }
                Ok(RawZone {
                    table: false,
                    networks,
                    namespaces: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawZone, A::Error> {
                let table = RawZoneTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawZone {
                    table: true,
                    networks: table.networks.unwrap_or_default(),
                    namespaces: table.namespaces.unwrap_or_default(),
                })
            }
        }
        d.deserialize_any(ZoneVisitor)
    }
}

/// `pods` of a rule as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPods {
    namespace: Spanned<String>,
    labels: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// The longest DNS label, and so namespace name and label name or value.
const MAX_LABEL: usize = 63;

/// The longest DNS subdomain, and so label key prefix.
const MAX_SUBDOMAIN: usize = 253;

/// Whether `name` is a DNS-1123 label (lower-case letters, digits and `-`,
/// starting and ending alphanumeric, at most 63 long): a namespace name.
fn is_dns_label(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !name.is_empty()
        && name.len() <= MAX_LABEL
        && name.bytes().all(|b| alnum(b) || b == b'-')
        && name.bytes().next().is_some_and(alnum)
        && name.bytes().last().is_some_and(alnum)
}

/// Whether `name` is a label name, or a non-empty label value: at most 63
/// letters, digits, `-`, `_` and `.`, starting and ending alphanumeric.
fn is_label_name(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    !name.is_empty()
        && name.len() <= MAX_LABEL
        && name
            .bytes()
            .all(|b| alnum(b) || matches!(b, b'-' | b'_' | b'.'))
        && name.bytes().next().is_some_and(alnum)
        && name.bytes().last().is_some_and(alnum)
}

/// Whether `key` is a label key: a name, optionally after a DNS subdomain
/// prefix and `/` (`app`, `app.kubernetes.io/name`).
fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        None => is_label_name(key),
        Some((prefix, name)) => {
            prefix.len() <= MAX_SUBDOMAIN
                && prefix.split('.').all(is_dns_label)
                && is_label_name(name)
        }
    }
}

impl Validator<'_, '_> {
    /// A zone's Kubernetes namespaces, each a valid namespace name.
    pub(super) fn zone_namespaces(&mut self, written: &[Spanned<String>]) -> Vec<String> {
        let mut namespaces = Vec::new();
        for ns in written {
            if is_dns_label(ns.get_ref()) {
                if !namespaces.contains(ns.get_ref()) {
                    namespaces.push(ns.get_ref().clone());
                }
            } else {
                self.namespace_error(ns);
            }
        }
        namespaces
    }

    fn namespace_error(&mut self, ns: &Spanned<String>) {
        self.error(
            ns.span(),
            format!("`{}` is not a Kubernetes namespace name", ns.get_ref()),
            Some("namespace names use at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit".into()),
        );
    }

    /// A rule's `pods`, checked as the API server checks names and labels.
    pub(super) fn pods(&mut self, raw: &Spanned<RawPods>) -> Option<PodSelector> {
        let errors_before = self.sink.len();
        let written = raw.get_ref();
        if !is_dns_label(written.namespace.get_ref()) {
            self.namespace_error(&written.namespace);
        }
        let mut labels = BTreeMap::new();
        for (key, value) in written.labels.iter().flatten() {
            if !is_label_key(key.get_ref()) {
                self.error(
                    key.span(),
                    format!("`{}` is not a Kubernetes label key", key.get_ref()),
                    Some("a key is a name of at most 63 letters, digits, `-`, `_` and `.`, optionally after a DNS prefix and `/` (app.kubernetes.io/name)".into()),
                );
            }
            if !value.get_ref().is_empty() && !is_label_name(value.get_ref()) {
                self.error(
                    value.span(),
                    format!("`{}` is not a Kubernetes label value", value.get_ref()),
                    Some("a value has at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit".into()),
                );
            }
            labels.insert(key.get_ref().clone(), value.get_ref().clone());
        }
        (self.sink.len() == errors_before).then(|| PodSelector {
            namespace: written.namespace.get_ref().clone(),
            labels,
        })
    }

    /// Refuses on a host rule the zones with namespaces and no networks: a
    /// host cannot tell a pod's namespace, so they would admit nobody. (A
    /// zone whose networks were all refused already has its own errors.)
    pub(super) fn refuse_namespace_only_zones(&mut self, raw: &Spanned<RawRule>, zones: &[Zone]) {
        for name in raw.get_ref().zones.get_ref() {
            if zones.iter().any(|z| {
                &z.name == name.get_ref() && z.networks.is_empty() && !z.namespaces.is_empty()
            }) {
                self.error(
                    name.span(),
                    format!(
                        "zone `{}` has only Kubernetes namespaces, and this is a host rule",
                        name.get_ref()
                    ),
                    Some("give the rule pods = { namespace = …, labels = { … } }, or the zone networks".into()),
                );
            }
        }
    }

    /// Refuses on a pod rule the keys that only a host can enforce.
    pub(super) fn refuse_host_only_keys(&mut self, raw: &Spanned<RawRule>) {
        let rule = raw.get_ref();
        let spans = [
            ("service", rule.service.as_ref().map(Spanned::span)),
            ("limits", rule.limits.as_ref().map(Spanned::span)),
            ("grant", rule.grant.as_ref().map(Spanned::span)),
            (
                "dormant_after",
                rule.dormant_after.as_ref().map(Spanned::span),
            ),
            (
                "abandoned_after",
                rule.abandoned_after.as_ref().map(Spanned::span),
            ),
            ("reclaim", rule.reclaim.as_ref().map(Spanned::span)),
            ("keep", rule.keep.map(|_| raw.span())),
        ];
        for (key, span) in spans {
            if let Some(span) = span {
                self.error(
                    span,
                    format!("`{key}` applies to host rules, not to a rule with `pods`"),
                    Some("a NetworkPolicy says only who may reach which pod port: drop the key, or write a separate host rule".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_api_servers_rules() {
        assert!(is_dns_label("web-1"));
        for bad in ["", "Web", "-web", "web-", "a_b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
        for good in ["app", "app.kubernetes.io/name", "A_b.c-9", "example.com/x"] {
            assert!(is_label_key(good), "{good:?}");
        }
        for bad in ["", "/app", "Example.com/x", "a b", "app/", "-app", "x/y/z"] {
            assert!(!is_label_key(bad), "{bad:?}");
        }
    }
}
