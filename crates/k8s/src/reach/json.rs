//! Every allowed connection written as a JSON array of [`Record`]s
//! (`[{"from": …, "to": …, "protocol": …, "ports": [[first, last], …]}, …]`,
//! compact) while it is found: a cluster of 1,000 pods has millions of
//! them, hundreds of megabytes that are never held in memory. Each pod's
//! and block's JSON text is made once; a connection is then a few copies.
//!
//! [`Record`]: super::Record

use std::io::{self, Write};

use super::{End, Walk};
use crate::model::{Cluster, Protocol};

/// Writes the connections of `cluster`, in [`super::reach`]'s order, as a
/// JSON array.
pub fn write_connections(out: &mut impl Write, cluster: &Cluster) -> io::Result<()> {
    let walk = Walk::new(cluster);
    let pods: Vec<Vec<u8>> = cluster.pods.iter().map(|p| text(&p.id())).collect();
    let blocks: Vec<Vec<u8>> = walk
        .blocks
        .iter()
        .map(|net| text(&net.to_string()))
        .collect();
    let endpoint = |end: End| match end {
        End::Pod(i) => &pods[i],
        End::Block(i) => &blocks[i],
    };
    out.write_all(b"[")?;
    let mut first = true;
    let mut result = Ok(());
    walk.each(|from, to, ports| {
        for protocol in Protocol::ALL {
            let set = ports.of(protocol);
            if set.is_empty() || result.is_err() {
                continue;
            }
            let separator: &[u8] = if first { b"{\"from\":" } else { b",{\"from\":" };
            first = false;
            result = write_record(
                out,
                separator,
                endpoint(from),
                endpoint(to),
                protocol,
                set.ranges(),
            );
        }
    });
    result?;
    out.write_all(b"]")
}

/// `"text"` with JSON's escapes.
fn text(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).expect("a string serialises")
}

fn write_record(
    out: &mut impl Write,
    separator: &[u8],
    from: &[u8],
    to: &[u8],
    protocol: Protocol,
    ranges: &[(u16, u16)],
) -> io::Result<()> {
    out.write_all(separator)?;
    out.write_all(from)?;
    out.write_all(b",\"to\":")?;
    out.write_all(to)?;
    out.write_all(match protocol {
        Protocol::Tcp => b",\"protocol\":\"TCP\",\"ports\":[",
        Protocol::Udp => b",\"protocol\":\"UDP\",\"ports\":[",
        Protocol::Sctp => b",\"protocol\":\"SCTP\",\"ports\":[",
    })?;
    for (i, &(first, last)) in ranges.iter().enumerate() {
        if (first, last) == (1, u16::MAX) {
            out.write_all(if i == 0 { b"[1,65535]" } else { b",[1,65535]" })?;
            continue;
        }
        out.write_all(if i == 0 { b"[" } else { b",[" })?;
        write_number(out, first)?;
        out.write_all(b",")?;
        write_number(out, last)?;
        out.write_all(b"]")?;
    }
    out.write_all(b"]}")
}

/// `n` in decimal, without going through `fmt`.
fn write_number(out: &mut impl Write, n: u16) -> io::Result<()> {
    let mut digits = [0u8; 5];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.write_all(&digits[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::read_str;

    #[test]
    fn the_array_is_reachs_records() {
        let cluster = read_str(
            "t.yaml",
            r#"
kind: Pod
metadata: {name: "we\"b", namespace: shop, labels: {app: web}}
---
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: c, ports: [{name: dns, containerPort: 53, protocol: UDP}]}]}
---
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{port: 5432}, {port: 8000, endPort: 8080}, {port: dns, protocol: UDP}]
  - from: [{ipBlock: {cidr: "2001:db8::/32"}}]
  egress:
  - to: [{ipBlock: {cidr: 192.0.2.0/24}}]
"#,
        )
        .unwrap();
        let mut text = Vec::new();
        write_connections(&mut text, &cluster).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let expected = serde_json::to_value(super::super::reach(&cluster)).unwrap();
        assert_eq!(written, expected);
        let records = written.as_array().unwrap();
        for wanted in [
            serde_json::json!({"from": "shop/we\"b", "to": "shop/db", "protocol": "TCP", "ports": [[5432, 5432], [8000, 8080]]}),
            serde_json::json!({"from": "10.128.0.0/9", "to": "shop/db", "protocol": "UDP", "ports": [[53, 53]]}),
            serde_json::json!({"from": "2001:db8::/32", "to": "shop/db", "protocol": "SCTP", "ports": [[1, 65535]]}),
            serde_json::json!({"from": "shop/db", "to": "192.0.2.0/24", "protocol": "TCP", "ports": [[1, 65535]]}),
        ] {
            assert!(records.contains(&wanted), "{wanted} missing from {written}");
        }
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 443, 65535] {
            let mut text = Vec::new();
            write_number(&mut text, n).unwrap();
            assert_eq!(String::from_utf8(text).unwrap(), n.to_string());
        }
    }
}
