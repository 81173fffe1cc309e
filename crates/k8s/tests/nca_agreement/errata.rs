//! Connections NCA (2.1.0) gets wrong, each with the Kubernetes source or
//! documentation that says so. The test checks that NCA still answers
//! this way (so an erratum cannot outlive the defect silently) and then
//! compares `k8s reach` with the documented answer instead.

use crate::facts::{FIRST_PORT, Fact, PROTOCOLS, Party};

/// Connections NCA answers wrongly: from `from` to each of `to` (pods or
/// CIDRs), on each of `protocols`, ports `ports`.
pub struct Erratum {
    /// The corpus case.
    pub case: &'static str,
    /// The source pod.
    pub from: &'static str,
    /// The destinations.
    pub to: &'static [&'static str],
    /// The protocols.
    pub protocols: &'static [&'static str],
    /// The first and last port.
    pub ports: (u16, u16),
    /// What Kubernetes does: allow them (NCA leaves them out) or not (NCA
    /// reports them; then `from` and every `to` are pods).
    pub kubernetes_allows: bool,
    /// Why NCA is wrong, naming the source of the rule.
    pub why: &'static str,
}

/// A peer with both selectors, whose podSelector uses Exists or
/// DoesNotExist, matching a pod in another namespace than the policy's.
const EXISTS_IN_OWN_NAMESPACE: &str = "A peer with namespaceSelector and podSelector selects the pods matching \
    podSelector in the namespaces namespaceSelector selects (Kubernetes API reference, \
    NetworkPolicyPeer.podSelector: \"If namespaceSelector is also set, then the NetworkPolicyPeer as a \
    whole selects the pods matching podSelector in the Namespaces selected by namespaceSelector\"), and \
    Exists/DoesNotExist test only whether the pod has the key. NCA evaluates Exists and DoesNotExist \
    in a podSelector among the policy's own namespace only (K8sPolicyYamlParser.\
    parse_label_selector_requirement passes self.namespace to get_peers_with_key; In and NotIn do \
    not), so it drops matching pods of other namespaces: match-expressions' port-1009 peer (stage \
    Exists; tier Exists, app NotIn [x, y]) matches prod/q, selector-forms' port-3003 peer (region In \
    [s, w]; app DoesNotExist) matches south/bare.";

/// Every known erratum.
pub const ERRATA: &[Erratum] = &[
    Erratum {
        case: "match-expressions",
        from: "prod/q",
        to: &["lab/target"],
        protocols: &["TCP"],
        ports: (1009, 1009),
        kubernetes_allows: true,
        why: EXISTS_IN_OWN_NAMESPACE,
    },
    Erratum {
        case: "selector-forms",
        from: "south/bare",
        to: &["north/hub"],
        protocols: &["UDP"],
        ports: (3003, 3003),
        kubernetes_allows: true,
        why: EXISTS_IN_OWN_NAMESPACE,
    },
    Erratum {
        case: "quirks",
        from: "quirks/web",
        to: &["quirks/other", "elsewhere/outsider", "0.0.0.0/0", "::/0"],
        protocols: &PROTOCOLS,
        ports: (FIRST_PORT, u16::MAX),
        kubernetes_allows: true,
        why: "quirks/empty-egress-list has no policyTypes and `egress: []`. The API server's defaulting \
              (kubernetes pkg/apis/networking/v1/defaults.go, SetDefaults_NetworkPolicy) adds Egress \
              only when len(spec.egress) != 0, and an empty list does not even survive serialization \
              (omitempty), so the policy is Ingress only and quirks/web's egress stays open. NCA \
              treats the empty egress section as egress isolation with no rule and denies all of it.",
    },
    Erratum {
        case: "namespace-name-label",
        from: "real/a",
        to: &["other/t"],
        protocols: &["TCP"],
        ports: (1, 1),
        kubernetes_allows: true,
        why: NAME_LABEL,
    },
    Erratum {
        case: "namespace-name-label",
        from: "real/a",
        to: &["other/t"],
        protocols: &["TCP"],
        ports: (2, 2),
        kubernetes_allows: false,
        why: NAME_LABEL,
    },
];

/// A namespace manifest that writes its own kubernetes.io/metadata.name.
const NAME_LABEL: &str = "Namespace real declares the label kubernetes.io/metadata.name: fake. The \
    Kubernetes documentation (Concepts → Overview → Namespaces, \"Automatic labelling\") says the \
    control plane sets the immutable label kubernetes.io/metadata.name on every namespace to its \
    name, so real is selected by `kubernetes.io/metadata.name: real` (port 1) and not by `fake` \
    (port 2). NCA lets the manifest's value replace the name (K8sNamespace.set_label).";

/// Applies the errata of `case` to NCA's `facts`, after checking NCA
/// still answers each connection wrongly.
pub fn correct(case: &str, facts: &mut Vec<Fact>) {
    for erratum in ERRATA.iter().filter(|e| e.case == case) {
        for to in erratum.to {
            for protocol in erratum.protocols {
                let fact = Fact {
                    from: Party::parse(erratum.from),
                    to: Party::parse(to),
                    protocol,
                    ports: vec![erratum.ports],
                };
                let stale = format!(
                    "NCA now answers {} -> {to} {protocol} {:?} in {case} as Kubernetes does: drop this erratum ({})",
                    erratum.from, erratum.ports, erratum.why
                );
                if erratum.kubernetes_allows {
                    assert!(!facts.iter().any(|f| f.overlaps(&fact)), "{stale}");
                    facts.push(fact);
                } else {
                    deny(facts, &fact, &stale);
                }
            }
        }
    }
}

/// Takes the pod-to-pod connections of `wrong`, which NCA must report on
/// every port, out of `facts`.
fn deny(facts: &mut [Fact], wrong: &Fact, stale: &str) {
    assert!(
        matches!((&wrong.from, &wrong.to), (Party::Pod(_), Party::Pod(_))),
        "a denying erratum names pods only"
    );
    let (first, last) = wrong.ports[0];
    let reported = |port: u16| {
        facts
            .iter()
            .any(|f| f.allows(&wrong.from, &wrong.to, wrong.protocol, port))
    };
    assert!(reported(first) && reported(last), "{stale}");
    for fact in facts
        .iter_mut()
        .filter(|f| f.from == wrong.from && f.to == wrong.to && f.protocol == wrong.protocol)
    {
        fact.ports = fact
            .ports
            .iter()
            .flat_map(|&(a, b)| {
                let below = (a < first).then(|| (a, b.min(first - 1)));
                let above = (b > last).then(|| (a.max(last + 1), b));
                below.into_iter().chain(above)
            })
            .collect();
    }
}
