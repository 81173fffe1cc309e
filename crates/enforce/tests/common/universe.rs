//! Where the generated policies live, and the strategies drawing them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use portreeve_core::Proto;
use proptest::prelude::*;
use proptest::sample::select;

use super::model::{Ban, FamilyKey, Model, ModelRule};
use super::points::{address, bits};

/// Any address of `region`.
fn address_in(region: IpNet) -> impl Strategy<Value = IpAddr> {
    let host_bits = u32::from(region.max_prefix_len() - region.prefix_len());
    any::<u128>().prop_map(move |r| {
        let offset = r & ((1u128 << host_bits) - 1);
        address(region.addr().is_ipv4(), bits(region.network()) + offset)
    })
}

/// Where the generated policies live: a small region of each address family
/// where networks nest and overlap, networks around it and at the ends of
/// the address space, and clusters of ports where rules and bans meet.
#[derive(Clone, Debug)]
pub struct Universe {
    pub v4: IpNet,
    pub v6: IpNet,
    /// Networks beyond the regions, drawn now and then.
    pub wide: Vec<IpNet>,
    /// Inclusive clusters ranges start in.
    pub port_clusters: Vec<(u16, u16)>,
    /// The longest range beyond its start, but for the rare range of every
    /// port.
    pub max_span: u16,
    /// Whether a rule may now and then allow every port, 1-65535.
    pub every_port: bool,
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().expect("a network")).collect()
}

impl Universe {
    /// Networks from /26 (IPv4) and /122 (IPv6) down to hosts, wide
    /// networks up to /0 and the last host of each family; ports at the low
    /// end, around the X11 ban (6000-6063) and at the top end.
    pub fn wide() -> Universe {
        Universe {
            v4: "10.20.0.0/26".parse().unwrap(),
            v6: "2001:db8::/122".parse().unwrap(),
            wide: nets(&[
                "0.0.0.0/0",
                "10.0.0.0/8",
                "10.20.0.0/16",
                "10.20.0.64/26",
                "255.255.255.255/32",
                "0.0.0.0/32",
                "::/0",
                "2001:db8::/32",
                "2001:db8::40/122",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
                "::/128",
            ]),
            port_clusters: vec![(1, 64), (5990, 6080), (65470, 65535)],
            max_span: 40,
            every_port: true,
        }
    }

    /// A universe small enough to check every point of: a /29 and a /125,
    /// their neighbours and /0, and ports 1-40 (which hold the built-in bans
    /// of 21 and 23).
    pub fn small() -> Universe {
        Universe {
            v4: "10.20.0.0/29".parse().unwrap(),
            v6: "2001:db8::/125".parse().unwrap(),
            wide: nets(&[
                "10.20.0.0/28",
                "10.20.0.8/29",
                "0.0.0.0/0",
                "2001:db8::/124",
                "2001:db8::8/125",
                "::/0",
            ]),
            port_clusters: vec![(1, 40)],
            max_span: 12,
            every_port: false,
        }
    }

    /// Every address of the small universe's surroundings: both regions,
    /// the networks beside them, and one address on each side.
    pub fn points(&self) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for region in [self.v4, self.v6] {
            let v4 = region.addr().is_ipv4();
            let first = bits(region.network());
            let size = 1u128 << (region.max_prefix_len() - region.prefix_len());
            let below = first.checked_sub(1);
            let span = (first..first + 2 * size + 1).map(Some);
            out.extend(
                std::iter::once(below)
                    .chain(span)
                    .flatten()
                    .map(|b| address(v4, b)),
            );
        }
        out
    }

    /// A random point to probe: an address inside a region or anywhere in
    /// either family, and any port.
    pub fn probe(&self) -> impl Strategy<Value = (IpAddr, u16)> + use<> {
        let address = prop_oneof![
            address_in(self.v4),
            address_in(self.v6),
            any::<u32>().prop_map(|b| IpAddr::from(Ipv4Addr::from(b))),
            any::<u128>().prop_map(|b| IpAddr::from(Ipv6Addr::from(b))),
        ];
        (address, 1..=u16::MAX)
    }

    /// A network inside a region, or now and then one of the wide ones.
    fn net(&self) -> impl Strategy<Value = IpNet> + use<> {
        let in_region = |region: IpNet| {
            (
                address_in(region),
                region.prefix_len()..=region.max_prefix_len(),
            )
                .prop_map(|(a, len)| IpNet::new(a, len).expect("a valid prefix").trunc())
        };
        prop_oneof![
            4 => in_region(self.v4),
            4 => in_region(self.v6),
            1 => select(self.wide.clone()),
        ]
    }

    fn port_range(&self) -> BoxedStrategy<(u16, u16)> {
        let max_span = self.max_span;
        let ranged = select(self.port_clusters.clone())
            .prop_flat_map(move |(lo, hi)| (lo..=hi, prop_oneof![3 => 0..=2u16, 2 => 0..=max_span]))
            .prop_map(|(a, span)| (a, a.saturating_add(span)));
        if self.every_port {
            prop_oneof![30 => ranged, 1 => Just((1, 65535))].boxed()
        } else {
            ranged.boxed()
        }
    }

    fn protocols() -> impl Strategy<Value = Vec<Proto>> {
        select(vec![
            vec![Proto::Tcp],
            vec![Proto::Udp],
            vec![Proto::Tcp, Proto::Udp],
        ])
    }

    fn rule(&self, zones: usize) -> impl Strategy<Value = ModelRule> + use<> {
        (
            prop::collection::vec(self.port_range(), 1..=3),
            Self::protocols(),
            prop::collection::vec(0..zones, 1..=3),
            prop_oneof![
                6 => Just(None),
                1 => Just(Some(FamilyKey::Ipv4)),
                1 => Just(Some(FamilyKey::Ipv6)),
                1 => Just(Some(FamilyKey::Any)),
            ],
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.3),
        )
            .prop_map(
                |(ports, protocols, zones, family, grant, limited)| ModelRule {
                    ports,
                    protocols,
                    zones,
                    family,
                    grant,
                    limited,
                },
            )
    }

    fn ban(&self) -> impl Strategy<Value = Ban> + use<> {
        (
            self.port_range(),
            prop_oneof![Just(None), Just(Some(Proto::Tcp)), Just(Some(Proto::Udp))],
        )
            .prop_map(|(ports, protocol)| Ban { ports, protocol })
    }

    /// A valid policy of this universe.
    pub fn model(&self) -> impl Strategy<Value = Model> + use<> {
        let this = self.clone();
        prop::collection::vec(prop::collection::vec(self.net(), 1..=4), 1..=5)
            .prop_flat_map(move |zones| {
                let n = zones.len();
                let max_span = this.max_span;
                let closed = select(this.port_clusters.clone())
                    .prop_flat_map(move |(lo, hi)| lo..=hi.saturating_add(max_span));
                (
                    Just(zones),
                    prop::collection::vec(this.rule(n), 0..=6),
                    prop::collection::vec(this.ban(), 0..=3),
                    any::<bool>(),
                    prop::collection::vec(this.ban(), 0..=1),
                    prop::collection::vec((select(Proto::ALL.to_vec()), closed), 0..=4),
                )
            })
            .prop_map(
                |(zones, rules, bans, default_bans, injected_bans, closed)| {
                    Model {
                        zones,
                        rules,
                        bans,
                        default_bans,
                        injected_bans,
                        closed,
                    }
                    .validated()
                },
            )
    }
}
