//! `portreeve k8s reach --format json`, written while the connections are
//! found: a cluster of 1,000 pods has millions of them (hundreds of
//! megabytes of JSON), so none is kept, and the document is compact. Its
//! shape is docs/schema/k8s-reach.v1.json's.

use std::io::{self, Write};

use portreeve_k8s::Cluster;
use serde::Serialize;

use crate::output::json::Envelope;

/// Everything in the document but its connections, in document order.
#[derive(Serialize)]
pub struct ReachHeader<'a> {
    /// Kind `portreeve.k8s-reach`, version, host, time.
    #[serde(flatten)]
    pub envelope: Envelope<'a>,
    /// The paths given to `--manifests`.
    pub manifests: &'a [std::path::PathBuf],
    /// Namespaces declared or used.
    pub namespaces: usize,
    /// Pods, templates included.
    pub pods: usize,
    /// NetworkPolicies read.
    pub policies: usize,
    /// Objects of kinds not read.
    pub ignored: usize,
}

/// Writes the document: `header`'s members, then `connections`, every
/// connection `cluster`'s policies allow, and a newline.
pub fn write(out: &mut impl Write, header: &ReachHeader<'_>, cluster: &Cluster) -> io::Result<()> {
    let head = serde_json::to_vec(header)?;
    let open = head
        .strip_suffix(b"}")
        .expect("a header serialises as an object");
    out.write_all(open)?;
    out.write_all(b",\"connections\":")?;
    portreeve_k8s::reach::json::write_connections(out, cluster)?;
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_k8s::manifest::read_str;

    #[test]
    fn the_document_has_the_header_then_the_connections() {
        let cluster = read_str(
            "t.yaml",
            "kind: Pod\nmetadata: {name: web, namespace: shop}\n",
        )
        .unwrap();
        let header = ReachHeader {
            envelope: Envelope::new("portreeve.k8s-reach", "host"),
            manifests: &["t.yaml".into()],
            namespaces: 1,
            pods: 1,
            policies: 0,
            ignored: 0,
        };
        let mut text = Vec::new();
        write(&mut text, &header, &cluster).unwrap();
        assert!(text.ends_with(b"}\n"));
        let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "kind",
            "schema_version",
            "host",
            "generated_at",
            "manifests",
            "pods",
            "connections",
        ] {
            assert!(keys.contains(&key), "{key} missing: {doc}");
        }
        assert_eq!(doc["kind"], "portreeve.k8s-reach");
        assert_eq!(
            doc["connections"],
            serde_json::to_value(portreeve_k8s::reach(&cluster)).unwrap()
        );
    }
}
