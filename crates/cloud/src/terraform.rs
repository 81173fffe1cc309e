//! A policy as a Terraform JSON configuration holding one
//! `aws_security_group` resource with inline `ingress` blocks.
//!
//! In Terraform's JSON syntax an inline block given as a list of objects
//! must set every one of its arguments, so each block lists
//! `prefix_list_ids`, `security_groups` and `self` too. Terraform removes
//! the allow-everything egress rule EC2 gives a new group unless the
//! resource declares one; portreeve governs ingress only, so the resource
//! declares it and egress stays as EC2 makes it.

use portreeve_policy::Policy;
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::{GroupIdentity, aws_text, protocol_name};
use crate::openings::{self, Opening};

/// The Terraform resource name (`aws_security_group.portreeve`).
pub const RESOURCE_NAME: &str = "portreeve";

/// One `ingress` or `egress` block, every argument set.
#[derive(Debug, Serialize)]
pub struct Block {
    /// Which rule it comes from.
    pub description: String,
    /// First port (0 with protocol `-1`).
    pub from_port: i32,
    /// Last port (0 with protocol `-1`).
    pub to_port: i32,
    /// `tcp`, `udp`, or `-1` for every protocol.
    pub protocol: &'static str,
    /// IPv4 sources.
    pub cidr_blocks: Vec<String>,
    /// IPv6 sources.
    pub ipv6_cidr_blocks: Vec<String>,
    /// Always empty.
    pub prefix_list_ids: Vec<String>,
    /// Always empty.
    pub security_groups: Vec<String>,
    /// Always false.
    #[serde(rename = "self")]
    pub self_: bool,
}

/// The configuration for `policy`, and the rules left out (grant-only).
pub fn configuration(policy: &Policy) -> (Value, Vec<String>) {
    let group = GroupIdentity::of(policy);
    let openings = openings::of(policy);
    let ingress: Vec<Block> = openings.openings.iter().flat_map(blocks).collect();
    let egress = Block {
        description: "all egress, as EC2 creates it".to_string(),
        from_port: 0,
        to_port: 0,
        protocol: "-1",
        cidr_blocks: vec!["0.0.0.0/0".to_string()],
        ipv6_cidr_blocks: vec!["::/0".to_string()],
        prefix_list_ids: Vec::new(),
        security_groups: Vec::new(),
        self_: false,
    };
    let doc = json!({
        "resource": {
            "aws_security_group": {
                RESOURCE_NAME: {
                    "name": group.name,
                    "description": group.description,
                    "ingress": ingress,
                    "egress": [egress],
                    "tags": { "Name": group.name, "managed-by": "portreeve" },
                }
            }
        }
    });
    (doc, openings.grant_only)
}

/// A rule's blocks: one per protocol and port range.
fn blocks(opening: &Opening) -> Vec<Block> {
    if opening.ipv4.is_empty() && opening.ipv6.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &protocol in &opening.protocols {
        for range in &opening.ports {
            out.push(Block {
                description: aws_text(&format!("portreeve rule {}", opening.rule)),
                from_port: range.start().into(),
                to_port: range.end().into(),
                protocol: protocol_name(protocol),
                cidr_blocks: opening.ipv4.iter().map(|s| s.network.to_string()).collect(),
                ipv6_cidr_blocks: opening.ipv6.iter().map(|s| s.network.to_string()).collect(),
                prefix_list_ids: Vec::new(),
                security_groups: Vec::new(),
                self_: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openings::tests::sample;

    #[test]
    fn ingress_blocks_set_every_argument_and_egress_stays_open() {
        let (doc, left_out) = configuration(&sample());
        assert_eq!(left_out, ["debug"]);
        let group = &doc["resource"]["aws_security_group"]["portreeve"];
        let ingress = group["ingress"].as_array().unwrap();
        assert_eq!(ingress.len(), 6, "{doc:#}");
        for block in ingress {
            assert_eq!(block.as_object().unwrap().len(), 9, "{block}");
        }
        assert_eq!(ingress[1]["cidr_blocks"][0], "0.0.0.0/0");
        assert_eq!(ingress[1]["ipv6_cidr_blocks"][0], "::/0");
        assert_eq!(ingress[1]["from_port"], 443);
        assert_eq!(group["egress"][0]["protocol"], "-1");
    }
}
