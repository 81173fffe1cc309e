//! One object, as a JSON value, into the model: the kind's fields read,
//! checked as the API server would reject them, and defaulted.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ManifestError;
use super::raw;
use crate::model::{
    ContainerPort, Direction, Ingress, Labels, NetworkPolicy, Peer, Pod, PolicyPort, PortRef,
    Protocol, Rule, Service, ServicePort,
};
use crate::selector::{LabelSelector, Operator, Requirement};

/// What one object became.
pub enum Object {
    /// A namespace and its labels.
    Namespace(String, Labels),
    /// A pod, or a workload's pod template.
    Pod(Pod),
    /// A Service.
    Service(Service),
    /// An Ingress.
    Ingress(Ingress),
    /// A NetworkPolicy.
    Policy(NetworkPolicy),
    /// A kind not read.
    Other,
}

impl Object {
    /// What must be unique: pods (whatever kind they came from) by
    /// namespace and name, and likewise each other kind.
    pub fn key(&self) -> Option<(String, String, String)> {
        let key = |what: &str, ns: &str, name: &str| Some((what.into(), ns.into(), name.into()));
        match self {
            Object::Namespace(name, _) => key("Namespace", "", name),
            Object::Pod(p) => key("Pod", &p.namespace, &p.name),
            Object::Service(s) => key("Service", &s.namespace, &s.name),
            Object::Ingress(i) => key("Ingress", &i.namespace, &i.name),
            Object::Policy(p) => key("NetworkPolicy", &p.namespace, &p.name),
            Object::Other => None,
        }
    }
}

/// The kinds whose `spec.template` is a pod template.
const WORKLOADS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "ReplicationController",
];

/// Where an object is, for errors: `file: document N: kind K name N`.
struct Place {
    object: String,
}

impl Place {
    fn error(&self, field: &str, message: impl Into<String>) -> ManifestError {
        ManifestError {
            location: format!("{}: field {field}", self.object),
            message: message.into(),
        }
    }

    /// `value` read as `T`, an error naming the field that does not fit.
    fn typed<T: DeserializeOwned>(&self, value: &Value) -> Result<T, ManifestError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            self.error(&path, e.into_inner().to_string())
        })
    }
}

/// Reads the object `value` found at `place` (`file: document N`).
pub fn object(place: &str, value: &Value) -> Result<Object, ManifestError> {
    let at_document = Place {
        object: place.to_string(),
    };
    let header: raw::Header = at_document.typed(value)?;
    let kind = header.kind.as_str();
    let readable = matches!(
        kind,
        "Namespace" | "Pod" | "CronJob" | "Service" | "Ingress" | "NetworkPolicy"
    ) || WORKLOADS.contains(&kind);
    if !readable {
        return Ok(Object::Other);
    }
    let Some(name) = header.metadata.name.clone() else {
        return Err(at_document.error("metadata.name", format!("a {kind} needs a name")));
    };
    let at = Place {
        object: format!("{place}: kind {kind} name {name}"),
    };
    let namespace = header
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let labels = header.metadata.labels.clone().unwrap_or_default();
    let pod =
        |template: Option<raw::PodTemplate>, spec_field: &str| -> Result<Object, ManifestError> {
            let template = template.ok_or_else(|| at.error(spec_field, "missing pod template"))?;
            let labels = template.metadata.labels.unwrap_or_default();
            pod_of(
                &at,
                spec_field,
                namespace.clone(),
                name.clone(),
                kind,
                labels,
                template.spec,
            )
            .map(Object::Pod)
        };
    match kind {
        "Namespace" => Ok(Object::Namespace(name.clone(), labels)),
        "Pod" => {
            let spec = at.typed::<raw::WithSpec<raw::PodSpec>>(value)?.spec;
            let mut pod = pod_of(
                &at,
                "spec",
                namespace.clone(),
                name.clone(),
                kind,
                labels,
                spec,
            )?;
            pod.ips = pod_ips(&at, at.typed::<raw::WithStatus>(value)?.status)?;
            Ok(Object::Pod(pod))
        }
        "CronJob" => {
            let spec = at.typed::<raw::WithSpec<raw::CronJobSpec>>(value)?.spec;
            let template = spec
                .and_then(|s| s.job_template)
                .and_then(|j| j.spec)
                .and_then(|s| s.template);
            pod(template, "spec.jobTemplate.spec.template")
        }
        "Service" => service(&at, namespace.clone(), name.clone(), value),
        "Ingress" => ingress(&at, namespace.clone(), name.clone(), value),
        "NetworkPolicy" => policy(&at, namespace.clone(), name.clone(), value),
        _ => {
            let spec = at.typed::<raw::WithSpec<raw::WorkloadSpec>>(value)?.spec;
            pod(spec.and_then(|s| s.template), "spec.template")
        }
    }
}

fn protocol(at: &Place, field: &str, written: Option<&str>) -> Result<Protocol, ManifestError> {
    match written {
        None => Ok(Protocol::Tcp),
        Some(p) => Protocol::parse(p)
            .ok_or_else(|| at.error(field, format!("protocol {p:?} is not TCP, UDP or SCTP"))),
    }
}

fn pod_of(
    at: &Place,
    spec_field: &str,
    namespace: String,
    name: String,
    kind: &str,
    labels: Labels,
    spec: Option<raw::PodSpec>,
) -> Result<Pod, ManifestError> {
    let spec = spec.unwrap_or_default();
    let mut ports = Vec::new();
    for (c, container) in spec.containers.unwrap_or_default().into_iter().enumerate() {
        for (p, port) in container.ports.unwrap_or_default().into_iter().enumerate() {
            let field = format!("{spec_field}.containers[{c}].ports[{p}]");
            ports.push(ContainerPort {
                name: port.name,
                port: port.container_port,
                host_port: port.host_port,
                protocol: protocol(at, &format!("{field}.protocol"), port.protocol.as_deref())?,
            });
        }
    }
    Ok(Pod {
        namespace,
        name,
        kind: kind.to_string(),
        labels,
        ports,
        host_network: spec.host_network.unwrap_or(false),
        ips: Vec::new(),
    })
}

/// A running pod's addresses: `status.podIP` and every `status.podIPs[].ip`,
/// each once, in that order.
fn pod_ips(at: &Place, status: Option<raw::PodStatus>) -> Result<Vec<IpAddr>, ManifestError> {
    let Some(status) = status else {
        return Ok(Vec::new());
    };
    let written = status
        .pod_ip
        .into_iter()
        .map(|ip| ("status.podIP".to_string(), ip))
        .chain(
            status
                .pod_ips
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("status.podIPs[{i}].ip"), p.ip)),
        );
    let mut ips = Vec::new();
    for (field, text) in written {
        let ip: IpAddr = text
            .parse()
            .map_err(|_| at.error(&field, format!("{text:?} is not an IP address")))?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

fn port_ref(at: &Place, field: &str, written: raw::IntOrString) -> Result<PortRef, ManifestError> {
    match written {
        raw::IntOrString::Int(n) => u16::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .map(PortRef::Number)
            .ok_or_else(|| at.error(field, format!("port {n} is not between 1 and 65535"))),
        raw::IntOrString::String(name) if name.is_empty() => {
            Err(at.error(field, "a port name cannot be empty"))
        }
        raw::IntOrString::String(name) => Ok(PortRef::Name(name)),
    }
}

fn service(
    at: &Place,
    namespace: String,
    name: String,
    value: &Value,
) -> Result<Object, ManifestError> {
    let Some(spec) = at.typed::<raw::WithSpec<raw::ServiceSpec>>(value)?.spec else {
        return Err(at.error("spec", "a Service needs a spec"));
    };
    let mut ports = Vec::new();
    for (i, port) in spec.ports.unwrap_or_default().into_iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        let target = match port.target_port {
            Some(t) => port_ref(at, &format!("{field}.targetPort"), t)?,
            None => PortRef::Number(port.port),
        };
        ports.push(ServicePort {
            name: port.name,
            port: port.port,
            target,
            node_port: port.node_port,
            protocol: protocol(at, &format!("{field}.protocol"), port.protocol.as_deref())?,
        });
    }
    Ok(Object::Service(Service {
        namespace,
        name,
        service_type: spec.service_type.unwrap_or_else(|| "ClusterIP".to_string()),
        selector: spec.selector,
        ports,
        external_ips: spec.external_ips.unwrap_or_default(),
    }))
}

fn ingress(
    at: &Place,
    namespace: String,
    name: String,
    value: &Value,
) -> Result<Object, ManifestError> {
    let spec = at.typed::<raw::WithSpec<raw::IngressSpec>>(value)?.spec;
    let mut backends = Vec::new();
    if let Some(spec) = spec {
        let paths = spec
            .rules
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.http)
            .flat_map(|h| h.paths)
            .map(|p| p.backend);
        for backend in spec.default_backend.into_iter().chain(paths) {
            if let Some(service) = backend.service {
                let port = service.port.and_then(|p| match (p.number, p.name) {
                    (Some(n), _) => Some(PortRef::Number(n)),
                    (None, Some(name)) => Some(PortRef::Name(name)),
                    (None, None) => None,
                });
                backends.push((service.name, port));
            }
        }
    }
    Ok(Object::Ingress(Ingress {
        namespace,
        name,
        backends,
    }))
}

fn policy(
    at: &Place,
    namespace: String,
    name: String,
    value: &Value,
) -> Result<Object, ManifestError> {
    let Some(spec) = at.typed::<raw::WithSpec<raw::PolicySpec>>(value)?.spec else {
        return Err(at.error("spec", "a NetworkPolicy needs a spec"));
    };
    let pod_selector = selector(at, "spec.podSelector", spec.pod_selector)?;
    let ingress = spec
        .ingress
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(at, &format!("spec.ingress[{i}]"), "from", r.from, r.ports))
        .collect::<Result<Vec<_>, _>>()?;
    let egress = spec
        .egress
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(at, &format!("spec.egress[{i}]"), "to", r.to, r.ports))
        .collect::<Result<Vec<_>, _>>()?;
    let policy_types = match spec.policy_types {
        Some(types) if !types.is_empty() => {
            let mut directions = Vec::new();
            for (i, t) in types.iter().enumerate() {
                let direction = match t.as_str() {
                    "Ingress" => Direction::Ingress,
                    "Egress" => Direction::Egress,
                    other => {
                        return Err(at.error(
                            &format!("spec.policyTypes[{i}]"),
                            format!("{other:?} is not Ingress or Egress"),
                        ));
                    }
                };
                if !directions.contains(&direction) {
                    directions.push(direction);
                }
            }
            directions.sort();
            directions
        }
        // The API server's default: Ingress, and Egress when there are egress rules.
        _ if egress.is_empty() => vec![Direction::Ingress],
        _ => vec![Direction::Ingress, Direction::Egress],
    };
    Ok(Object::Policy(NetworkPolicy {
        namespace,
        name,
        pod_selector,
        policy_types,
        ingress,
        egress,
    }))
}

fn rule(
    at: &Place,
    field: &str,
    peers_name: &str,
    peers: Option<Vec<raw::Peer>>,
    ports: Option<Vec<raw::PolicyPort>>,
) -> Result<Rule, ManifestError> {
    let peers = match peers {
        Some(list) if !list.is_empty() => Some(
            list.into_iter()
                .enumerate()
                .map(|(i, p)| peer(at, &format!("{field}.{peers_name}[{i}]"), p))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    let ports = match ports {
        Some(list) if !list.is_empty() => Some(
            list.into_iter()
                .enumerate()
                .map(|(i, p)| policy_port(at, &format!("{field}.ports[{i}]"), p))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    Ok(Rule { peers, ports })
}

fn peer(at: &Place, field: &str, peer: raw::Peer) -> Result<Peer, ManifestError> {
    match (peer.ip_block, peer.pod_selector, peer.namespace_selector) {
        (Some(block), None, None) => ip_block(at, &format!("{field}.ipBlock"), block),
        (Some(_), _, _) => Err(at.error(
            field,
            "ipBlock cannot be combined with podSelector or namespaceSelector",
        )),
        (None, None, None) => Err(at.error(
            field,
            "a peer needs podSelector, namespaceSelector or ipBlock",
        )),
        (None, pods, namespaces) => Ok(Peer::Pods {
            namespaces: namespaces
                .map(|s| selector(at, &format!("{field}.namespaceSelector"), Some(s)))
                .transpose()?,
            pods: selector(at, &format!("{field}.podSelector"), pods)?,
        }),
    }
}

fn cidr(at: &Place, field: &str, text: &str) -> Result<IpNet, ManifestError> {
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| at.error(field, format!("{text:?} is not a CIDR block")))
}

fn ip_block(at: &Place, field: &str, block: raw::IpBlock) -> Result<Peer, ManifestError> {
    let net = cidr(at, &format!("{field}.cidr"), &block.cidr)?;
    let mut except = Vec::new();
    for (i, text) in block.except.unwrap_or_default().iter().enumerate() {
        let field = format!("{field}.except[{i}]");
        let hole = cidr(at, &field, text)?;
        if !net.contains(&hole) {
            return Err(at.error(&field, format!("{hole} is not inside {net}")));
        }
        except.push(hole);
    }
    Ok(Peer::IpBlock { cidr: net, except })
}

fn policy_port(
    at: &Place,
    field: &str,
    port: raw::PolicyPort,
) -> Result<PolicyPort, ManifestError> {
    let protocol = protocol(at, &format!("{field}.protocol"), port.protocol.as_deref())?;
    let number = port
        .port
        .map(|p| port_ref(at, &format!("{field}.port"), p))
        .transpose()?;
    let end_port = match (port.end_port, &number) {
        (None, _) => None,
        (Some(end), Some(PortRef::Number(first))) => Some(
            u16::try_from(end)
                .ok()
                .filter(|end| end >= first)
                .ok_or_else(|| {
                    at.error(
                        &format!("{field}.endPort"),
                        format!("endPort {end} is not between port {first} and 65535"),
                    )
                })?,
        ),
        (Some(_), _) => {
            return Err(at.error(&format!("{field}.endPort"), "endPort needs a numeric port"));
        }
    };
    Ok(PolicyPort {
        protocol,
        port: number,
        end_port,
    })
}

fn selector(
    at: &Place,
    field: &str,
    written: Option<raw::Selector>,
) -> Result<LabelSelector, ManifestError> {
    let written = written.unwrap_or_default();
    let mut match_expressions = Vec::new();
    for (i, e) in written
        .match_expressions
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let field = format!("{field}.matchExpressions[{i}]");
        let values = e.values.unwrap_or_default();
        let operator = match (e.operator.as_str(), values.is_empty()) {
            ("In", false) => Operator::In(values),
            ("NotIn", false) => Operator::NotIn(values),
            ("Exists", true) => Operator::Exists,
            ("DoesNotExist", true) => Operator::DoesNotExist,
            ("In" | "NotIn", true) => {
                return Err(at.error(&field, format!("{} needs values", e.operator)));
            }
            ("Exists" | "DoesNotExist", false) => {
                return Err(at.error(&field, format!("{} takes no values", e.operator)));
            }
            (other, _) => {
                return Err(at.error(
                    &format!("{field}.operator"),
                    format!("{other:?} is not In, NotIn, Exists or DoesNotExist"),
                ));
            }
        };
        match_expressions.push(Requirement {
            key: e.key,
            operator,
        });
    }
    Ok(LabelSelector {
        match_labels: written.match_labels.unwrap_or_default(),
        match_expressions,
    })
}
