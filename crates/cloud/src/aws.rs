//! A policy as one AWS security group, written as the `--cli-input-json`
//! inputs of `aws ec2 create-security-group` and `aws ec2
//! authorize-security-group-ingress`.
//!
//! Member names and types are those of the EC2 API model (botocore's
//! `CreateSecurityGroup` and `AuthorizeSecurityGroupIngress` input shapes);
//! the test suite validates rendered documents against that model. The
//! ingress input names the group by `GroupName`, which EC2 resolves in the
//! default VPC; docs/cloud.md shows how to swap in the `GroupId` that
//! create-security-group returns for any other VPC.

use portreeve_core::Proto;
use portreeve_policy::Policy;
use serde::Serialize;

use crate::openings::{self, Opening, Source};

/// The security group's name and description, shared by every AWS output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupIdentity {
    /// `GroupName`.
    pub name: String,
    /// `Description`.
    pub description: String,
}

impl GroupIdentity {
    /// The group rendered from `policy`: named `portreeve`, described by the
    /// policy's origin.
    pub fn of(policy: &Policy) -> GroupIdentity {
        GroupIdentity {
            name: "portreeve".to_string(),
            description: aws_text(&format!(
                "Ingress rendered by portreeve from {}",
                policy.origin
            )),
        }
    }
}

/// Both inputs, under the names of the operations they are for.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CliInputs {
    /// For `aws ec2 create-security-group --cli-input-json`.
    pub create_security_group: CreateSecurityGroup,
    /// For `aws ec2 authorize-security-group-ingress --cli-input-json`.
    pub authorize_security_group_ingress: AuthorizeIngress,
}

/// The `CreateSecurityGroup` request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecurityGroup {
    /// The group's name.
    pub group_name: String,
    /// Its description (required by EC2).
    pub description: String,
    /// A `Name` tag and a `managed-by` tag.
    pub tag_specifications: Vec<TagSpecification>,
}

/// Tags for the resource being created.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSpecification {
    /// Always `security-group`.
    pub resource_type: &'static str,
    /// The tags.
    pub tags: Vec<Tag>,
}

/// One tag.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// The `AuthorizeSecurityGroupIngress` request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthorizeIngress {
    /// The group, by name.
    pub group_name: String,
    /// One permission per rule, protocol and port range.
    pub ip_permissions: Vec<IpPermission>,
}

/// One ingress permission.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpPermission {
    /// `tcp` or `udp`.
    pub ip_protocol: &'static str,
    /// First port.
    pub from_port: i32,
    /// Last port (inclusive).
    pub to_port: i32,
    /// IPv4 sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpRange>,
    /// IPv6 sources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ipv6_ranges: Vec<Ipv6Range>,
}

/// An IPv4 source.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpRange {
    /// The network.
    pub cidr_ip: String,
    /// Which rule and zone it comes from.
    pub description: String,
}

/// An IPv6 source.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv6Range {
    /// The network.
    #[serde(rename = "CidrIpv6")]
    pub cidr_ipv6: String,
    /// Which rule and zone it comes from.
    pub description: String,
}

/// The AWS CLI inputs for `policy`, and the rules left out (grant-only).
pub fn cli_inputs(policy: &Policy) -> (CliInputs, Vec<String>) {
    let group = GroupIdentity::of(policy);
    let openings = openings::of(policy);
    let inputs = CliInputs {
        create_security_group: CreateSecurityGroup {
            group_name: group.name.clone(),
            description: group.description,
            tag_specifications: vec![TagSpecification {
                resource_type: "security-group",
                tags: vec![
                    Tag {
                        key: "Name".to_string(),
                        value: group.name.clone(),
                    },
                    Tag {
                        key: "managed-by".to_string(),
                        value: "portreeve".to_string(),
                    },
                ],
            }],
        },
        authorize_security_group_ingress: AuthorizeIngress {
            group_name: group.name,
            ip_permissions: openings.openings.iter().flat_map(permissions).collect(),
        },
    };
    (inputs, openings.grant_only)
}

/// A rule's permissions: one per protocol and port range, each with all of
/// the rule's sources; none when the rule has no source of a family it
/// serves.
fn permissions(opening: &Opening) -> Vec<IpPermission> {
    if opening.ipv4.is_empty() && opening.ipv6.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &protocol in &opening.protocols {
        for range in &opening.ports {
            out.push(IpPermission {
                ip_protocol: protocol_name(protocol),
                from_port: range.start().into(),
                to_port: range.end().into(),
                ip_ranges: opening
                    .ipv4
                    .iter()
                    .map(|s| IpRange {
                        cidr_ip: s.network.to_string(),
                        description: source_description(&opening.rule, s),
                    })
                    .collect(),
                ipv6_ranges: opening
                    .ipv6
                    .iter()
                    .map(|s| Ipv6Range {
                        cidr_ipv6: s.network.to_string(),
                        description: source_description(&opening.rule, s),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// `tcp` or `udp`, as EC2 and Terraform name them.
pub(crate) fn protocol_name(protocol: Proto) -> &'static str {
    match protocol {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// `portreeve rule ssh, zone office`, in the characters EC2 accepts.
pub(crate) fn source_description(rule: &str, source: &Source) -> String {
    aws_text(&format!("portreeve rule {rule}, zone {}", source.zone))
}

/// EC2 accepts in group and rule descriptions only letters, digits, spaces
/// and `._-:/()#,@[]+=&;{}!$*`, up to 255 characters: anything else becomes
/// `_`, and the text is cut to fit.
pub(crate) fn aws_text(text: &str) -> String {
    const PUNCTUATION: &str = "._-:/()#,@[]+=&;{}!$*";
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' || PUNCTUATION.contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(255)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openings::tests::sample;

    #[test]
    fn one_permission_per_rule_protocol_and_range() {
        let (inputs, left_out) = cli_inputs(&sample());
        assert_eq!(left_out, ["debug"]);
        let doc = serde_json::to_value(&inputs).unwrap();
        let perms = doc["AuthorizeSecurityGroupIngress"]["IpPermissions"]
            .as_array()
            .unwrap();
        // ssh: 1; web: 2 protocols x 2 ranges; legacy web: 1.
        assert_eq!(perms.len(), 6, "{doc:#}");
        assert_eq!(perms[0]["IpRanges"][0]["CidrIp"], "192.0.2.0/24");
        assert!(perms[0].get("Ipv6Ranges").is_none());
        let web_udp_range = &perms[4];
        assert_eq!(web_udp_range["IpProtocol"], "udp");
        assert_eq!(web_udp_range["FromPort"], 8000);
        assert_eq!(web_udp_range["ToPort"], 8100);
        assert_eq!(web_udp_range["Ipv6Ranges"][0]["CidrIpv6"], "::/0");
        assert!(
            perms[5].get("Ipv6Ranges").is_none(),
            "legacy web is IPv4 only"
        );
        assert_eq!(
            doc["CreateSecurityGroup"]["Description"],
            "Ingress rendered by portreeve from sample.toml"
        );
    }

    #[test]
    fn descriptions_keep_to_the_characters_ec2_accepts() {
        assert_eq!(aws_text("rule \"db\" ✓ <x>"), "rule _db_ _ _x_");
        assert_eq!(aws_text(&"a".repeat(300)).len(), 255);
    }
}
