//! `k8s reach`: the connections a cluster's NetworkPolicies allow, read
//! from its manifests; with `--explain`, why one connection is allowed or
//! denied (exit 1 when denied).

use portreeve_k8s::explain::{self, Explanation, SideVerdict};
use portreeve_k8s::manifest;
use portreeve_k8s::{Cluster, Protocol, Record};

use crate::cli::{K8sReachArgs, ListFormat};
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};

use crate::output::json::{Envelope, emit_listing, host_name, to_value};
use crate::output::k8s_reach::{self, ReachHeader};
use crate::output::{emit, emit_stream, table};

pub fn reach(args: &K8sReachArgs) -> Result<u8, Failure> {
    let cluster =
        manifest::read_paths(&args.manifests).map_err(|e| Failure::Input(e.to_string()))?;
    if let Some(explain) = &args.explain {
        return explain_one(&cluster, explain, args.format);
    }
    match args.format {
        ListFormat::Json => {
            let host = host_name();
            let header = ReachHeader {
                envelope: Envelope::new("portreeve.k8s-reach", &host),
                manifests: &args.manifests,
                namespaces: cluster.namespaces.len(),
                pods: cluster.pods.len(),
                policies: cluster.policies.len(),
                ignored: cluster.ignored,
            };
            emit_stream(|out| k8s_reach::write(out, &header, &cluster));
        }
        ListFormat::Table => emit(&reach_table(&portreeve_k8s::reach(&cluster))),
    }
    Ok(EXIT_OK)
}

fn reach_table(records: &[Record]) -> String {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.from.to_string(),
                r.to.to_string(),
                r.protocol.to_string(),
                port_list(&r.ports),
            ]
        })
        .collect();
    table::rows(
        &["FROM", "TO", "PROTOCOL", "PORTS"],
        &rows,
        table::stdout_colour(),
    )
}

/// `80,443,8000-8080`, or `all`.
fn port_list(ranges: &[[u16; 2]]) -> String {
    if ranges == [[1, u16::MAX]] {
        return "all".to_string();
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|&[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    parts.join(",")
}

fn explain_one(cluster: &Cluster, words: &[String], format: ListFormat) -> Result<u8, Failure> {
    let [from, to, proto_port] = words else {
        return Err(Failure::Input(
            "--explain takes FROM TO PROTO/PORT".to_string(),
        ));
    };
    let (protocol, port) = parse_proto_port(proto_port)?;
    let e = explain::explain(cluster, from, to, protocol, port)
        .map_err(|e| Failure::Input(e.to_string()))?;
    match format {
        ListFormat::Json => {
            let serde_json::Value::Object(fields) = to_value(&e) else {
                unreachable!("an explanation serialises as an object")
            };
            let fields: Vec<(&str, serde_json::Value)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            emit_listing("portreeve.k8s-explain", &fields);
        }
        ListFormat::Table => emit(&explain_text(&e)),
    }
    Ok(if e.allowed { EXIT_OK } else { EXIT_FINDINGS })
}

/// `TCP/5432`, `udp/53`, or a bare port (TCP).
fn parse_proto_port(text: &str) -> Result<(Protocol, u16), Failure> {
    let bad = || Failure::Input(format!("{text:?} is not PROTO/PORT, e.g. TCP/5432"));
    let (protocol, port) = match text.split_once('/') {
        Some((p, n)) => (Protocol::parse(p).ok_or_else(bad)?, n),
        None => (Protocol::Tcp, text),
    };
    Ok((protocol, port.parse().map_err(|_| bad())?))
}

fn explain_text(e: &Explanation) -> String {
    let mut out = format!(
        "{} -> {} {}/{}: {}\n",
        e.from,
        e.to,
        e.protocol,
        e.port,
        if e.allowed { "allowed" } else { "denied" }
    );
    out.push_str(&format!("{}\n", e.reason));
    for (what, side) in [("egress", &e.egress), ("ingress", &e.ingress)] {
        if let Some(side) = side {
            out.push_str(&side_text(what, side));
        }
    }
    out
}

fn side_text(what: &str, s: &SideVerdict) -> String {
    let mut out = format!(
        "\n{what} of {}: {}\n",
        s.pod,
        if s.allowed { "passes" } else { "blocks" }
    );
    if s.isolated_by.is_empty() {
        out.push_str("  not isolated: no policy selects it for this direction\n");
    } else {
        out.push_str(&format!("  isolated by {}\n", s.isolated_by.join(", ")));
        for r in &s.allowed_by {
            out.push_str(&format!(
                "  allowed by {} {}[{}]\n",
                r.policy, r.direction, r.rule
            ));
        }
    }
    out
}
