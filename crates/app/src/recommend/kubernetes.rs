//! `recommend --kubernetes`: NetworkPolicies from observed flows.
//!
//! Each connection a recording shows to have succeeded (a Zeek `conn.log`,
//! flow records as nfdump prints them, or a capture, read as `detect` reads
//! them) is mapped to pods by their addresses (`status.podIP`/`podIPs` in
//! the manifests): the destination must be a pod's, the source is a pod's
//! or else an outside address — its own `/32` or `/128`, or the smallest
//! network of a zone of the portreeve policy given that holds it. Flows are
//! gathered per destination [workload](workloads) and proposed as:
//!
//! - in every namespace with pods, a default deny for ingress;
//! - per destination workload, one ingress policy selecting exactly its
//!   pods, with one rule per distinct set of observed (protocol, port) that
//!   admits exactly the sources observed with that set: source workloads by
//!   exact selectors (with a namespace selector across namespaces), outside
//!   sources as ipBlocks.
//!
//! So the proposal admits every observed connection and nothing else to any
//! pod the manifests name. Egress is left alone: a default deny for egress
//! would also cut DNS and every outside destination nobody recorded.

pub mod workloads;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use portreeve_detect::{Attempt, Transport};
use portreeve_k8s::write::{IngressRuleDoc, LabelSelectorDoc, NetworkPolicyDoc, PeerDoc, PortDoc};
use portreeve_k8s::{Cluster, Protocol, manifest};

use crate::detect::{Recording, read_attempts};
use crate::error::AppError;
use crate::policy::{LoadedPolicy, PolicySource};
use workloads::Workloads;

/// The label every proposed policy carries, so that they can be found (and
/// replaced) as a set.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "portreeve");

/// A `recommend --kubernetes` request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Manifest files or directories (`-`: standard input), with the pods'
    /// addresses.
    pub manifests: &'a [PathBuf],
    /// The observed flows.
    pub recording: Recording<'a>,
    /// A portreeve policy whose zones stand for outside sources.
    pub policy: Option<&'a Path>,
}

/// The proposed policies, and what they were made from.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Per namespace, its default deny, then one policy per destination
    /// workload, by namespace and name.
    pub policies: Vec<NetworkPolicyDoc>,
    /// How the recording's connections were used.
    pub tally: Tally,
    /// What the operator should know: the reading's notes, namespaces
    /// whose default deny admits nothing.
    pub notes: Vec<String>,
}

/// How the recording's connection attempts were used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Attempts in the recording.
    pub attempts: usize,
    /// Succeeded attempts to a pod by another pod or an outside address:
    /// the evidence.
    pub used: usize,
    /// Attempts that did not succeed (refused, unanswered, stealth
    /// probes): no use of a port.
    pub failed: usize,
    /// Succeeded attempts to an address no pod has (services' virtual
    /// addresses, outside destinations).
    pub not_to_a_pod: usize,
    /// Succeeded attempts to a `hostNetwork` pod, which NetworkPolicies do
    /// not govern.
    pub to_host_network: usize,
    /// Succeeded attempts of a pod to itself, always allowed.
    pub to_itself: usize,
}

/// Reads the request's manifests, policy and recording, and proposes.
pub fn run(request: &Request<'_>) -> Result<Proposal, AppError> {
    let cluster =
        manifest::read_paths(request.manifests).map_err(|e| AppError::Invalid(e.to_string()))?;
    let zones: Vec<IpNet> = match request.policy {
        Some(path) => {
            let loaded = LoadedPolicy::read(path, PolicySource::File(path.to_path_buf()))?;
            loaded
                .policy
                .zones
                .iter()
                .flat_map(|z| z.networks.iter().copied())
                .collect()
        }
        None => Vec::new(),
    };
    let mut notes = Vec::new();
    let attempts = read_attempts(request.recording, &mut notes)?;
    let mut proposal = propose(&cluster, &attempts, &zones)?;
    notes.append(&mut proposal.notes);
    proposal.notes = notes;
    Ok(proposal)
}

/// Who opened a connection, as a policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// A workload, by index in [`Workloads::list`].
    Workload(usize),
    /// An outside address, or the zone network standing for it.
    Block(IpNet),
}

/// The (protocol, port)s seen from each source, per destination workload.
type Observed = BTreeMap<usize, BTreeMap<Source, BTreeSet<(Protocol, u16)>>>;

/// Proposes policies for `cluster` admitting `attempts` that succeeded;
/// outside sources are widened to the smallest of `zones` holding them.
/// Refuses when no attempt is usable: that says the manifests and the
/// recording do not meet, not that every pod may be cut off.
pub fn propose(
    cluster: &Cluster,
    attempts: &[Attempt],
    zones: &[IpNet],
) -> Result<Proposal, AppError> {
    let workloads = Workloads::of(cluster);
    let (observed, tally) = observe(cluster, &workloads, attempts, zones);
    if observed.is_empty() {
        return Err(AppError::Invalid(format!(
            "none of the {} connection attempts recorded is a successful connection to a pod \
             address the manifests give ({} failed, {} to addresses of no pod, {} to hostNetwork \
             pods, {} of a pod to itself; {} pods have an address of their own: `kubectl get pods -A -o json` \
             reports them in status.podIPs); nothing was recommended",
            tally.attempts,
            tally.failed,
            tally.not_to_a_pod,
            tally.to_host_network,
            tally.to_itself,
            cluster
                .pods
                .iter()
                .filter(|p| !p.host_network && !p.ips.is_empty())
                .count()
        )));
    }
    let mut policies = Vec::new();
    let mut notes = Vec::new();
    let namespaces: BTreeSet<&str> = cluster
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .map(|p| p.namespace.as_str())
        .collect();
    for namespace in namespaces {
        policies
            .push(NetworkPolicyDoc::default_deny(namespace).with_label(MANAGED_BY.0, MANAGED_BY.1));
        let mut any = false;
        for (&index, sources) in &observed {
            let workload = &workloads.list[index];
            if workload.namespace != namespace {
                continue;
            }
            any = true;
            policies.push(
                NetworkPolicyDoc::ingress(
                    namespace,
                    &format!("allow-to-{}", workload.name),
                    LabelSelectorDoc::from(&workload.selector),
                    rules(namespace, sources, &workloads),
                )
                .with_label(MANAGED_BY.0, MANAGED_BY.1),
            );
        }
        if !any {
            notes.push(format!(
                "namespace {namespace}: no connection to its pods was recorded; its default deny admits nothing"
            ));
        }
    }
    Ok(Proposal {
        policies,
        tally,
        notes,
    })
}

/// The usable attempts, by destination workload and source, and the tally.
fn observe(
    cluster: &Cluster,
    workloads: &Workloads,
    attempts: &[Attempt],
    zones: &[IpNet],
) -> (Observed, Tally) {
    let mut pod_at: HashMap<IpAddr, usize> = HashMap::new();
    let mut host_network: HashSet<IpAddr> = HashSet::new();
    for (i, pod) in cluster.pods.iter().enumerate() {
        for &ip in &pod.ips {
            if pod.host_network {
                host_network.insert(ip);
            } else {
                pod_at.entry(ip).or_insert(i);
            }
        }
    }
    let mut observed = Observed::new();
    let mut tally = Tally {
        attempts: attempts.len(),
        ..Tally::default()
    };
    for a in attempts {
        if !a.succeeded() {
            tally.failed += 1;
            continue;
        }
        let Some(&to) = pod_at.get(&a.destination) else {
            if host_network.contains(&a.destination) {
                tally.to_host_network += 1;
            } else {
                tally.not_to_a_pod += 1;
            }
            continue;
        };
        let source = match pod_at.get(&a.source) {
            Some(&from) if from == to => {
                tally.to_itself += 1;
                continue;
            }
            Some(&from) => Source::Workload(workloads.of_pod(from)),
            None => Source::Block(block_of(a.source, zones)),
        };
        let protocol = match a.transport {
            Transport::Tcp => Protocol::Tcp,
            Transport::Udp => Protocol::Udp,
        };
        tally.used += 1;
        observed
            .entry(workloads.of_pod(to))
            .or_default()
            .entry(source)
            .or_default()
            .insert((protocol, a.port));
    }
    (observed, tally)
}

/// The smallest of `zones` holding `address`, else the address alone.
fn block_of(address: IpAddr, zones: &[IpNet]) -> IpNet {
    zones
        .iter()
        .filter(|z| z.contains(&address))
        .max_by_key(|z| z.prefix_len())
        .copied()
        .unwrap_or_else(|| IpNet::from(address))
}

/// The ingress rules of a policy in `namespace` admitting `sources`: one
/// per distinct set of (protocol, port), from exactly the sources seen
/// with that set.
fn rules(
    namespace: &str,
    sources: &BTreeMap<Source, BTreeSet<(Protocol, u16)>>,
    workloads: &Workloads,
) -> Vec<IngressRuleDoc> {
    let mut by_ports: BTreeMap<&BTreeSet<(Protocol, u16)>, Vec<Source>> = BTreeMap::new();
    for (source, ports) in sources {
        by_ports.entry(ports).or_default().push(*source);
    }
    by_ports
        .into_iter()
        .map(|(ports, sources)| {
            let mut from: Vec<PeerDoc> = Vec::new();
            let mut blocks: Vec<IpNet> = Vec::new();
            for source in sources {
                match source {
                    Source::Workload(i) => {
                        let w = &workloads.list[i];
                        let across = (w.namespace != namespace).then_some(w.namespace.as_str());
                        from.push(PeerDoc::pods(across, LabelSelectorDoc::from(&w.selector)));
                    }
                    Source::Block(net) => blocks.push(net),
                }
            }
            from.extend(IpNet::aggregate(&blocks).into_iter().map(PeerDoc::ip_block));
            IngressRuleDoc {
                from,
                ports: port_docs(ports),
            }
        })
        .collect()
}

/// `ports` as policy ports, runs of consecutive ports as ranges.
fn port_docs(ports: &BTreeSet<(Protocol, u16)>) -> Vec<PortDoc> {
    let mut docs = Vec::new();
    let mut run: Option<(Protocol, u16, u16)> = None;
    for &(protocol, port) in ports {
        run = match run {
            Some((p, first, last)) if p == protocol && u32::from(last) + 1 == u32::from(port) => {
                Some((p, first, port))
            }
            Some((p, first, last)) => {
                docs.push(PortDoc::range(p, first, last));
                Some((protocol, port, port))
            }
            None => Some((protocol, port, port)),
        };
    }
    if let Some((p, first, last)) = run {
        docs.push(PortDoc::range(p, first, last));
    }
    docs
}

#[cfg(test)]
mod tests;
