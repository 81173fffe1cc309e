//! Random policies as the test describes them, written out as policy files,
//! and the naive interpreter of what they mean.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;

use portreeve_core::{PortKey, Proto};
use portreeve_enforce::{Ruleset, Verdict};
use portreeve_policy::{BannedPorts, Policy};

use super::points::{boundary_addresses, boundary_ports};

/// The built-in bans as docs/policy.md lists them (restated here, not taken
/// from the parser, so a change to either shows).
pub const DEFAULT_BANS: &[(u16, u16, &[Proto])] = &[
    (21, 21, &[Proto::Tcp]),
    (23, 23, &[Proto::Tcp]),
    (69, 69, &[Proto::Udp]),
    (111, 111, &[Proto::Tcp, Proto::Udp]),
    (512, 514, &[Proto::Tcp]),
    (2375, 2375, &[Proto::Tcp]),
    (6000, 6063, &[Proto::Tcp]),
];

/// A rule's `family` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKey {
    Ipv4,
    Ipv6,
    Any,
}

/// One `[[rule]]`.
#[derive(Clone, Debug)]
pub struct ModelRule {
    /// Inclusive port ranges.
    pub ports: Vec<(u16, u16)>,
    pub protocols: Vec<Proto>,
    /// Indexes into [`Model::zones`].
    pub zones: Vec<usize>,
    pub family: Option<FamilyKey>,
    /// On demand (`grant = …`): closed until granted.
    pub grant: bool,
    /// Carries `limits`, which must not change what is allowed.
    pub limited: bool,
}

/// A ban: ports, for one protocol or (`None`) both.
#[derive(Clone, Copy, Debug)]
pub struct Ban {
    pub ports: (u16, u16),
    pub protocol: Option<Proto>,
}

impl Ban {
    fn covers(&self, proto: Proto, port: u16) -> bool {
        self.protocol.is_none_or(|p| p == proto) && self.ports.0 <= port && port <= self.ports.1
    }
}

/// A policy, as the test generates it.
#[derive(Clone, Debug)]
pub struct Model {
    /// Zone `zI` holds `zones[I]`.
    pub zones: Vec<Vec<IpNet>>,
    pub rules: Vec<ModelRule>,
    /// `[banned] ports`.
    pub bans: Vec<Ban>,
    /// `[banned] include_defaults`.
    pub default_bans: bool,
    /// Bans added to the parsed policy that a policy file cannot hold,
    /// because they overlap a rule: the ruleset must drop those ports all
    /// the same, as it drops banned ports a grant would open.
    pub injected_bans: Vec<Ban>,
    /// Ports closed by a reclaim ([`Ruleset::close_ports`]).
    pub closed: Vec<(Proto, u16)>,
}

impl Model {
    fn all_bans(&self) -> impl Iterator<Item = Ban> + '_ {
        let defaults =
            DEFAULT_BANS
                .iter()
                .filter(|_| self.default_bans)
                .flat_map(|&(a, b, protos)| {
                    protos.iter().map(move |&p| Ban {
                        ports: (a, b),
                        protocol: Some(p),
                    })
                });
        defaults
            .chain(self.bans.iter().copied())
            .chain(self.injected_bans.iter().copied())
    }

    /// What the policy says of a new connection from `src` to `port`/`proto`,
    /// as docs/enforce.md orders the decisions: a banned port is dropped
    /// whatever allows it; a port closed by a reclaim is allowed to nobody;
    /// otherwise a rule allows it when it is not on demand, covers the
    /// protocol and port, admits the source's address family (its `family`,
    /// or when absent any family its zones hold) and one of its zones holds
    /// the source. Nothing else is allowed.
    pub fn decide(&self, src: IpAddr, proto: Proto, port: u16) -> Verdict {
        if self.all_bans().any(|b| b.covers(proto, port)) {
            return Verdict::Banned;
        }
        if self.closed.contains(&(proto, port)) {
            return Verdict::NotAllowed;
        }
        let allowed = self.rules.iter().any(|r| {
            let family = match r.family {
                None | Some(FamilyKey::Any) => true,
                Some(FamilyKey::Ipv4) => src.is_ipv4(),
                Some(FamilyKey::Ipv6) => src.is_ipv6(),
            };
            !r.grant
                && family
                && r.protocols.contains(&proto)
                && r.ports.iter().any(|&(a, b)| a <= port && port <= b)
                && r.zones
                    .iter()
                    .any(|&z| self.zones[z].iter().any(|n| n.contains(&src)))
        });
        if allowed {
            Verdict::Accepted
        } else {
            Verdict::NotAllowed
        }
    }

    /// The model made valid as a policy file must be: an explicit `family`
    /// needs a zone network of that family, bans may not overlap a rule
    /// (a ban that does is dropped; built-in ones are switched off), and
    /// only one rule carries limits (two may not limit the same port).
    pub(super) fn validated(mut self) -> Model {
        for r in &mut self.rules {
            let has = |v4: bool| {
                r.zones
                    .iter()
                    .any(|&z| self.zones[z].iter().any(|n| n.addr().is_ipv4() == v4))
            };
            let (v4, v6) = (has(true), has(false));
            match r.family {
                Some(FamilyKey::Ipv4) if !v4 => r.family = None,
                Some(FamilyKey::Ipv6) if !v6 => r.family = None,
                _ => {}
            }
        }
        let conflicts = |b: &Ban, rules: &[ModelRule]| {
            rules.iter().any(|r| {
                r.protocols
                    .iter()
                    .any(|&p| b.protocol.is_none_or(|bp| bp == p))
                    && r.ports
                        .iter()
                        .any(|&(a, z)| a <= b.ports.1 && b.ports.0 <= z)
            })
        };
        self.bans.retain(|b| !conflicts(b, &self.rules));
        if self.default_bans
            && DEFAULT_BANS.iter().any(|&(a, b, protos)| {
                protos.iter().any(|&p| {
                    conflicts(
                        &Ban {
                            ports: (a, b),
                            protocol: Some(p),
                        },
                        &self.rules,
                    )
                })
            })
        {
            self.default_bans = false;
        }
        for r in self.rules.iter_mut().skip(1) {
            r.limited = false;
        }
        self
    }

    /// The policy file.
    pub fn toml(&self) -> String {
        let mut out = String::from("[zones]\n");
        for (i, nets) in self.zones.iter().enumerate() {
            let nets: Vec<String> = nets
                .iter()
                .enumerate()
                .map(|(j, n)| {
                    // A host is written bare half the time: both spellings
                    // mean the same.
                    if n.prefix_len() == n.max_prefix_len() && (i + j) % 2 == 0 {
                        format!("\"{}\"", n.addr())
                    } else {
                        format!("\"{n}\"")
                    }
                })
                .collect();
            let _ = writeln!(out, "z{i} = [{}]", nets.join(", "));
        }
        let bans: Vec<String> = self
            .bans
            .iter()
            .map(|b| {
                let ports = port_spec(b.ports);
                match b.protocol {
                    None => ports,
                    Some(p) => format!("\"{}/{p}\"", ports.trim_matches('"')),
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "[banned]\ninclude_defaults = {}\nports = [{}]",
            self.default_bans,
            bans.join(", ")
        );
        for (i, r) in self.rules.iter().enumerate() {
            let ports: Vec<String> = r.ports.iter().map(|&p| port_spec(p)).collect();
            let protocols: Vec<String> = r.protocols.iter().map(|p| format!("\"{p}\"")).collect();
            let zones: Vec<String> = r.zones.iter().map(|z| format!("\"z{z}\"")).collect();
            let _ = writeln!(
                out,
                "[[rule]]\nname = \"r{i}\"\nports = [{}]\nprotocol = [{}]\nzones = [{}]",
                ports.join(", "),
                protocols.join(", "),
                zones.join(", ")
            );
            if let Some(f) = r.family {
                let f = match f {
                    FamilyKey::Ipv4 => "ipv4",
                    FamilyKey::Ipv6 => "ipv6",
                    FamilyKey::Any => "any",
                };
                let _ = writeln!(out, "family = \"{f}\"");
            }
            if r.grant {
                out.push_str("grant = { max_ttl = \"1h\" }\n");
            }
            if r.limited {
                out.push_str("limits = { new_per_second = 100, connections_per_source = 10 }\n");
            }
        }
        out
    }

    /// The policy portreeve reads from [`Model::toml`], with the injected
    /// bans added.
    pub fn policy(&self) -> Policy {
        let text = self.toml();
        let mut policy = portreeve_policy::parse_policy("model.toml", &text)
            .unwrap_or_else(|e| panic!("the generated policy is invalid: {e}\n{text}"));
        for b in &self.injected_bans {
            policy.banned.push(BannedPorts {
                ports: portreeve_core::PortRange::new(b.ports.0.into(), b.ports.1.into())
                    .expect("a valid range"),
                protocols: b.protocol.map_or(Proto::ALL.to_vec(), |p| vec![p]),
                location: None,
            });
        }
        policy
    }

    /// The ruleset `apply` would install: compiled, then the reclaimed
    /// ports closed.
    pub fn ruleset(&self) -> Ruleset {
        let mut r = Ruleset::compile(&self.policy()).expect("the policy compiles");
        let closed: Vec<PortKey> = self
            .closed
            .iter()
            .map(|&(p, port)| PortKey::new(p, port))
            .collect();
        r.close_ports(&closed);
        r
    }

    /// Every port where something in the model starts or ends, with its
    /// neighbours.
    pub fn boundary_ports(&self) -> BTreeSet<u16> {
        let ranges = self
            .rules
            .iter()
            .flat_map(|r| r.ports.iter().copied())
            .chain(self.all_bans().map(|b| b.ports))
            .chain(self.closed.iter().map(|&(_, p)| (p, p)));
        boundary_ports(ranges)
    }

    /// The first and last address of every zone network, with their
    /// neighbours.
    pub fn boundary_addresses(&self) -> BTreeSet<IpAddr> {
        boundary_addresses(self.zones.iter().flatten().copied())
    }
}

/// `443` or `"8000-8100"`.
fn port_spec((a, b): (u16, u16)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("\"{a}-{b}\"")
    }
}
