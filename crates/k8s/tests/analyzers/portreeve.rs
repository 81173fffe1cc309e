//! `portreeve k8s reach` on one case, read back from its JSON records (the
//! documented output, `docs/schema/k8s-reach.v1.json`) into [`Fact`]s.

use std::path::Path;

use serde_json::Value;

use super::facts::{Fact, Party, protocol};

/// The pods of the case (`namespace/name`) and what `k8s reach` allows.
pub fn reach(case: &Path) -> (Vec<String>, Vec<Fact>) {
    let cluster = portreeve_k8s::manifest::read_paths(&[case.to_path_buf()])
        .unwrap_or_else(|e| panic!("portreeve cannot read {}: {e}", case.display()));
    let pods = cluster.pods.iter().map(|pod| pod.id()).collect();
    let records = serde_json::to_value(portreeve_k8s::reach(&cluster)).expect("records as JSON");
    let facts = records
        .as_array()
        .expect("a list of records")
        .iter()
        .map(fact_of)
        .collect();
    (pods, facts)
}

fn fact_of(record: &Value) -> Fact {
    let field = |name: &str| {
        record[name]
            .as_str()
            .unwrap_or_else(|| panic!("record {record} has no string {name:?}"))
    };
    let ports = record["ports"]
        .as_array()
        .unwrap_or_else(|| panic!("record {record} has no ports"))
        .iter()
        .map(|range| {
            let bound = |i: usize| {
                range[i]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or_else(|| panic!("record {record}: port range {range}"))
            };
            (bound(0), bound(1))
        })
        .collect();
    Fact {
        from: Party::parse(field("from")),
        to: Party::parse(field("to")),
        protocol: protocol(field("protocol"))
            .unwrap_or_else(|| panic!("record {record}: protocol")),
        ports,
    }
}
