//! AWS security groups read from the JSON `aws ec2
//! describe-security-groups` prints (the `DescribeSecurityGroups` output
//! shape of the EC2 API model, member names as botocore gives them).
//!
//! Only what judging needs is read: each group's id, name, VPC and ingress
//! permissions with their IPv4 and IPv6 ranges. Other members (egress,
//! tags, references to other groups and prefix lists, `NextToken`) are
//! allowed and ignored. A document that does not have this shape is refused
//! with the file, line, column and member path of the first problem.

use std::fmt;

use ipnet::IpNet;
use serde::Deserialize;

/// A security group as judging sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `sg-…`.
    pub id: String,
    /// Its name, when given.
    pub name: Option<String>,
    /// Its VPC, when given.
    pub vpc: Option<String>,
    /// Its ingress permissions, in document order.
    pub permissions: Vec<Permission>,
}

/// Which traffic a permission lets in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// `-1`: every protocol and port.
    All,
    /// `tcp` or `6`.
    Tcp,
    /// `udp` or `17`.
    Udp,
    /// Any other protocol (ICMP, ESP, …) as written: it has no ports.
    Other(String),
}

impl Protocol {
    /// As fingerprint keys write it: `all`, `tcp`, `udp`, or the text EC2
    /// gave.
    pub fn key(&self) -> &str {
        match self {
            Protocol::All => "all",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Other(text) => text,
        }
    }
}

/// One ingress permission: a protocol, a port range and the address ranges
/// it admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The protocol.
    pub protocol: Protocol,
    /// First port (0 for [`Protocol::All`] and other protocols).
    pub first: u16,
    /// Last port (65535 for [`Protocol::All`], 0 for other protocols).
    pub last: u16,
    /// IPv4 and IPv6 sources.
    pub sources: Vec<IpNet>,
}

/// Why a document could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DescribeError {
    /// The file as given (`-` for standard input).
    pub file: String,
    /// 1-based line and column, when the problem is at one place in the text.
    pub position: Option<(usize, usize)>,
    /// The member path, e.g. `SecurityGroups[0].IpPermissions[1].FromPort`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DescribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if self.path.is_empty() || self.path == "." {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    security_groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawGroup {
    group_id: String,
    group_name: Option<String>,
    vpc_id: Option<String>,
    #[serde(default)]
    ip_permissions: Vec<RawPermission>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPermission {
    ip_protocol: String,
    from_port: Option<i64>,
    to_port: Option<i64>,
    #[serde(default)]
    ip_ranges: Vec<RawIpRange>,
    #[serde(default)]
    ipv6_ranges: Vec<RawIpv6Range>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawIpRange {
    cidr_ip: IpNet,
}

#[derive(Deserialize)]
struct RawIpv6Range {
    #[serde(rename = "CidrIpv6")]
    cidr_ipv6: IpNet,
}

/// Reads the security groups of a describe-security-groups document; `file`
/// names it in errors.
pub fn read(text: &str, file: &str) -> Result<Vec<Group>, DescribeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: Document = serde_path_to_error::deserialize(&mut de).map_err(|e| DescribeError {
        file: file.to_string(),
        position: Some((e.inner().line(), e.inner().column())),
        path: e.path().to_string(),
        message: without_position(e.inner()),
    })?;
    de.end().map_err(|e| DescribeError {
        file: file.to_string(),
        position: Some((e.line(), e.column())),
        path: String::new(),
        message: without_position(&e),
    })?;
    doc.security_groups
        .into_iter()
        .enumerate()
        .map(|(g, raw)| {
            let permissions = raw
                .ip_permissions
                .into_iter()
                .enumerate()
                .map(|(p, perm)| {
                    permission(perm).map_err(|message| DescribeError {
                        file: file.to_string(),
                        position: None,
                        path: format!("SecurityGroups[{g}].IpPermissions[{p}]"),
                        message,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Group {
                id: raw.group_id,
                name: raw.group_name,
                vpc: raw.vpc_id,
                permissions,
            })
        })
        .collect()
}

/// serde_json's message without the ` at line L column C` it appends: the
/// error says where in front.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

fn permission(raw: RawPermission) -> Result<Permission, String> {
    let protocol = match raw.ip_protocol.to_ascii_lowercase().as_str() {
        "-1" | "all" => Protocol::All,
        "tcp" | "6" => Protocol::Tcp,
        "udp" | "17" => Protocol::Udp,
        other => Protocol::Other(other.to_string()),
    };
    let (first, last) = match protocol {
        Protocol::All => (0, u16::MAX),
        Protocol::Other(_) => (0, 0),
        Protocol::Tcp | Protocol::Udp => {
            let name = protocol.key().to_string();
            let from = port(raw.from_port, "FromPort", &name)?;
            let to = port(raw.to_port, "ToPort", &name)?;
            if from > to {
                return Err(format!("FromPort {from} is above ToPort {to}"));
            }
            (from, to)
        }
    };
    let sources = raw
        .ip_ranges
        .into_iter()
        .map(|r| r.cidr_ip)
        .chain(raw.ipv6_ranges.into_iter().map(|r| r.cidr_ipv6))
        .collect();
    Ok(Permission {
        protocol,
        first,
        last,
        sources,
    })
}

fn port(value: Option<i64>, member: &str, protocol: &str) -> Result<u16, String> {
    let value = value.ok_or_else(|| format!("a {protocol} permission needs {member}"))?;
    u16::try_from(value).map_err(|_| format!("{member} {value} is not a port (0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
  "SecurityGroups": [
    {
      "GroupId": "sg-0123",
      "GroupName": "web",
      "VpcId": "vpc-1",
      "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}], "PrefixListIds": [], "UserIdGroupPairs": []},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
      ],
      "IpPermissionsEgress": [], "OwnerId": "123456789012"
    }
  ]
}"#;

    #[test]
    fn reads_groups_permissions_and_both_families() {
        let groups = read(SAMPLE, "sg.json").unwrap();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(
            (g.id.as_str(), g.vpc.as_deref()),
            ("sg-0123", Some("vpc-1"))
        );
        assert_eq!(g.permissions[0].sources.len(), 2);
        assert_eq!((g.permissions[0].first, g.permissions[0].last), (443, 443));
        assert_eq!(g.permissions[1].protocol, Protocol::All);
        assert_eq!(g.permissions[1].last, 65535);
        assert_eq!(g.permissions[2].protocol, Protocol::Other("icmp".into()));
    }

    #[test]
    fn type_errors_name_file_line_column_and_member() {
        let bad = SAMPLE.replace(r#""FromPort": 443"#, r#""FromPort": "443""#);
        let e = read(&bad, "sg.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sg.json:8:47: SecurityGroups[0].IpPermissions[0].FromPort: \
             invalid type: string \"443\", expected i64"
        );
    }

    #[test]
    fn bad_networks_and_ports_are_located() {
        let bad = SAMPLE.replace("10.0.0.0/8", "10.0.0.0/33");
        let e = read(&bad, "sg.json").unwrap_err();
        assert_eq!(
            e.path,
            "SecurityGroups[0].IpPermissions[1].IpRanges[0].CidrIp"
        );
        let bad = SAMPLE.replace(r#""ToPort": 443"#, r#""ToPort": 70000"#);
        let e = read(&bad, "sg.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sg.json: SecurityGroups[0].IpPermissions[0]: ToPort 70000 is not a port (0-65535)"
        );
        let e = read(r#"{"Groups": []}"#, "-").unwrap_err();
        assert!(e.message.contains("missing field `SecurityGroups`"), "{e}");
    }
}
