//! The workloads of a cluster: its pods grouped by their labels less those
//! a controller sets per pod (`pod-template-hash`, …), so that the pods of
//! one Deployment are one workload. Each workload gets a selector that picks
//! exactly its pods among the cluster's — `matchLabels` of its labels, plus
//! a `DoesNotExist` for every workload of its namespace whose labels include
//! all of its own — and a name for the policy that admits traffic to it.

use std::collections::{BTreeMap, BTreeSet};

use portreeve_k8s::Cluster;
use portreeve_k8s::model::Labels;
use portreeve_k8s::selector::{LabelSelector, Operator, Requirement};

/// Labels controllers set to a different value on each pod (or each
/// rollout) of one workload: grouping ignores them, selectors never use them.
const PER_POD_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-completion-index",
];

/// Labels that name an application, in the order a workload's name is
/// taken from them.
const NAME_LABELS: &[&str] = &["app.kubernetes.io/name", "app", "k8s-app", "name"];

/// One workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Its namespace.
    pub namespace: String,
    /// The labels its pods share (per-pod labels left out).
    pub labels: Labels,
    /// A name unique in its namespace, fit for a policy name.
    pub name: String,
    /// Picks exactly its pods among the cluster's.
    pub selector: LabelSelector,
}

/// The cluster's workloads, sorted by namespace and name, and which one
/// each pod belongs to.
#[derive(Debug, Clone)]
pub struct Workloads {
    /// The workloads.
    pub list: Vec<Workload>,
    /// By index in `Cluster::pods`: the pod's workload, an index in `list`.
    of_pod: Vec<usize>,
}

impl Workloads {
    /// Groups `cluster`'s pods.
    pub fn of(cluster: &Cluster) -> Workloads {
        let mut groups: BTreeMap<(String, Labels), Vec<usize>> = BTreeMap::new();
        for (i, pod) in cluster.pods.iter().enumerate() {
            groups
                .entry((pod.namespace.clone(), workload_labels(&pod.labels)))
                .or_default()
                .push(i);
        }
        let mut taken: BTreeSet<(String, String)> = BTreeSet::new();
        let mut named: Vec<(Workload, Vec<usize>)> = groups
            .iter()
            .map(|((namespace, labels), pods)| {
                let base = base_name(labels, &cluster.pods[pods[0]].name);
                let name = std::iter::once(base.clone())
                    .chain((2..).map(|i| format!("{base}-{i}")))
                    .find(|n| taken.insert((namespace.clone(), n.clone())))
                    .expect("an unbounded sequence has a free name");
                let selector = exact_selector(namespace, labels, groups.keys());
                let workload = Workload {
                    namespace: namespace.clone(),
                    labels: labels.clone(),
                    name,
                    selector,
                };
                (workload, pods.clone())
            })
            .collect();
        named.sort_by(|(a, _), (b, _)| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let mut of_pod = vec![0; cluster.pods.len()];
        for (index, (_, pods)) in named.iter().enumerate() {
            for &pod in pods {
                of_pod[pod] = index;
            }
        }
        Workloads {
            list: named.into_iter().map(|(w, _)| w).collect(),
            of_pod,
        }
    }

    /// The workload of the pod at `pod` in `Cluster::pods`.
    pub fn of_pod(&self, pod: usize) -> usize {
        self.of_pod[pod]
    }
}

/// `labels` without the per-pod ones.
fn workload_labels(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| !PER_POD_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The selector of the workload with `labels` in `namespace`: its labels,
/// and for each other workload of the namespace carrying all of them (so
/// also one more), that extra label's absence.
fn exact_selector<'a>(
    namespace: &str,
    labels: &Labels,
    all: impl Iterator<Item = &'a (String, Labels)>,
) -> LabelSelector {
    let absent: BTreeSet<&String> = all
        .filter(|(ns, other)| ns == namespace && other != labels)
        .filter(|(_, other)| labels.iter().all(|(k, v)| other.get(k) == Some(v)))
        .filter_map(|(_, other)| other.keys().find(|k| !labels.contains_key(*k)))
        .collect();
    LabelSelector {
        match_labels: labels.clone(),
        match_expressions: absent
            .into_iter()
            .map(|key| Requirement {
                key: key.clone(),
                operator: Operator::DoesNotExist,
            })
            .collect(),
    }
}

/// A workload's name: its application label, else its first pod's name
/// without the `-<pod-template-hash>-<suffix>` a ReplicaSet appends, made
/// fit for an object name (lower case letters, digits and `-`).
fn base_name(labels: &Labels, pod: &str) -> String {
    let from_label = NAME_LABELS.iter().find_map(|k| labels.get(*k));
    let raw = from_label.map_or(pod, String::as_str);
    let raw = match from_label {
        None => strip_replica_suffix(raw),
        Some(_) => raw,
    };
    let slug: String = raw
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let slug: Vec<&str> = slug.split('-').filter(|s| !s.is_empty()).collect();
    let slug = slug.join("-");
    let slug: String = slug.chars().take(200).collect();
    if slug.is_empty() {
        "workload".to_string()
    } else {
        slug
    }
}

/// `web-7d9c8b6f5-x2x4q` → `web`: a ReplicaSet pod's name is its
/// Deployment's, its template hash (letters and digits) and five more.
fn strip_replica_suffix(name: &str) -> &str {
    let parts: Vec<&str> = name.rsplitn(3, '-').collect();
    match parts[..] {
        [random, hash, stem]
            if random.len() == 5
                && (6..=10).contains(&hash.len())
                && hash.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_k8s::manifest::read_str;

    fn pod(ns: &str, name: &str, labels: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\n---\n"
        )
    }

    #[test]
    fn replicas_are_one_workload_and_selectors_pick_exactly_its_pods() {
        let text = [
            pod(
                "shop",
                "web-7d9c8b6f5-x2x4q",
                "app: web, pod-template-hash: 7d9c8b6f5",
            ),
            pod(
                "shop",
                "web-7d9c8b6f5-abcde",
                "app: web, pod-template-hash: 7d9c8b6f5",
            ),
            pod("shop", "canary", "app: web, track: canary"),
            pod("shop", "loner-1", ""),
            pod("other", "web", "app: web"),
        ]
        .concat();
        let cluster = read_str("t.yaml", &text).unwrap();
        let w = Workloads::of(&cluster);
        let names: Vec<String> = w
            .list
            .iter()
            .map(|w| format!("{}/{}", w.namespace, w.name))
            .collect();
        assert_eq!(
            names,
            ["other/web", "shop/loner-1", "shop/web", "shop/web-2"]
        );
        for (i, pod) in cluster.pods.iter().enumerate() {
            for (j, workload) in w.list.iter().enumerate() {
                let selected =
                    workload.namespace == pod.namespace && workload.selector.matches(&pod.labels);
                assert_eq!(selected, w.of_pod(i) == j, "{} by {workload:?}", pod.id());
            }
        }
        // The replicas' selector leaves out the canary by its extra label.
        let web = &w.list[2];
        assert_eq!(web.selector.match_expressions.len(), 1);
        assert_eq!(web.selector.match_expressions[0].key, "track");
    }

    #[test]
    fn names_lose_replica_suffixes_only() {
        assert_eq!(strip_replica_suffix("web-7d9c8b6f5-x2x4q"), "web");
        assert_eq!(strip_replica_suffix("db-0"), "db-0");
        assert_eq!(base_name(&Labels::new(), "My_Pod.1"), "my-pod-1");
        assert_eq!(base_name(&Labels::new(), "---"), "workload");
    }
}
