//! The parts of an RFC 9083 IP network object that say who holds an
//! address.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use serde::{Deserialize, Serialize};

/// The network an RDAP server says holds an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdapNetwork {
    /// The registry's identifier for the network (`handle`).
    pub handle: Option<String>,
    /// The network's name (`name`).
    pub name: Option<String>,
    /// First address of the network (`startAddress`).
    pub start_address: IpAddr,
    /// Last address of the network (`endAddress`).
    pub end_address: IpAddr,
    /// The range as CIDR blocks (one when it is a prefix).
    pub cidrs: Vec<IpNet>,
    /// Country code of the network's registration (`country`).
    pub country: Option<String>,
    /// Email of the entity with the `registrant` role, if given.
    pub registrant_email: Option<String>,
    /// Email of the entity with the `abuse` role, if given (also found
    /// nested under another entity, as some registries publish it).
    pub abuse_email: Option<String>,
    /// Where the answer came from: the object's `self` link, else the URL
    /// asked.
    pub source_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpNetworkObject {
    handle: Option<String>,
    start_address: IpAddr,
    end_address: IpAddr,
    name: Option<String>,
    country: Option<String>,
    #[serde(default)]
    entities: Vec<Entity>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    #[serde(default)]
    roles: Vec<String>,
    vcard_array: Option<serde_json::Value>,
    #[serde(default)]
    entities: Vec<Entity>,
}

#[derive(Deserialize)]
struct Link {
    rel: Option<String>,
    href: Option<String>,
}

impl RdapNetwork {
    /// Reads the answer `body` that `url` gave for `asked`. The network must
    /// hold `asked`: a cache keyed by its range must not learn a wrong one.
    pub(crate) fn parse(body: &str, url: &str, asked: IpAddr) -> Result<RdapNetwork, String> {
        // The class first: another object's missing fields would hide it.
        let json: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        match json.get("objectClassName").and_then(|c| c.as_str()) {
            Some("ip network") => {}
            Some(other) => {
                return Err(format!(
                    "objectClassName is \"{other}\", not \"ip network\""
                ));
            }
            None => return Err("it has no objectClassName".into()),
        }
        let object: IpNetworkObject = serde_json::from_value(json).map_err(|e| e.to_string())?;
        let (start, end) = (object.start_address, object.end_address);
        let cidrs = match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => {
                Ipv4Subnets::new(s, e, 0).map(IpNet::from).collect()
            }
            (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => {
                Ipv6Subnets::new(s, e, 0).map(IpNet::from).collect()
            }
            _ => return Err(format!("{start} to {end} is not an address range")),
        };
        if !(asked.is_ipv4() == start.is_ipv4() && start <= asked && asked <= end) {
            return Err(format!("{start} to {end} does not hold {asked}"));
        }
        let source_url = object
            .links
            .iter()
            .find(|l| l.rel.as_deref() == Some("self"))
            .and_then(|l| l.href.clone())
            .unwrap_or_else(|| url.to_owned());
        Ok(RdapNetwork {
            registrant_email: email_of_role(&object.entities, "registrant"),
            abuse_email: email_of_role(&object.entities, "abuse"),
            handle: object.handle,
            name: object.name,
            start_address: start,
            end_address: end,
            cidrs,
            country: object.country,
            source_url,
        })
    }

    /// Whether this network holds `addr`.
    pub(crate) fn holds(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.start_address.is_ipv4()
            && self.start_address <= addr
            && addr <= self.end_address
    }
}

/// The first email of an entity with `role`, searching nested entities too.
fn email_of_role(entities: &[Entity], role: &str) -> Option<String> {
    entities.iter().find_map(|entity| {
        let own = entity
            .roles
            .iter()
            .any(|r| r == role)
            .then(|| entity.vcard_array.as_ref().and_then(vcard_email))
            .flatten();
        own.or_else(|| email_of_role(&entity.entities, role))
    })
}

/// The `email` property of a jCard (RFC 7095): `["vcard", [[name, params,
/// type, value], …]]`.
fn vcard_email(vcard: &serde_json::Value) -> Option<String> {
    vcard
        .get(1)?
        .as_array()?
        .iter()
        .find(|property| property.get(0).and_then(|n| n.as_str()) == Some("email"))?
        .get(3)?
        .as_str()
        .map(str::to_owned)
}
