//! The shapes of the objects as written, for serde: only the fields
//! reachability and later checks read; everything else is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `kind` and `metadata`, read before the rest to name the object in errors.
#[derive(Debug, Deserialize)]
pub struct Header {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// An object with a `spec` of type `S`.
#[derive(Debug, Deserialize)]
pub struct WithSpec<S> {
    pub spec: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Option<Vec<Container>>,
    #[serde(default)]
    pub host_network: Option<bool>,
}

/// An object with a `status` (pods).
#[derive(Debug, Deserialize)]
pub struct WithStatus {
    pub status: Option<PodStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIp>>,
}

#[derive(Debug, Deserialize)]
pub struct PodIp {
    pub ip: String,
}

#[derive(Debug, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub ports: Option<Vec<ContainerPort>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: u16,
    pub host_port: Option<u16>,
    pub protocol: Option<String>,
}

/// `spec.template` of Deployments, StatefulSets, DaemonSets, ReplicaSets and Jobs.
#[derive(Debug, Deserialize)]
pub struct WorkloadSpec {
    pub template: Option<PodTemplate>,
}

#[derive(Debug, Deserialize)]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: Metadata,
    pub spec: Option<PodSpec>,
}

/// `spec` of a CronJob.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    pub job_template: Option<WithSpec<WorkloadSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub ports: Option<Vec<ServicePort>>,
    #[serde(rename = "externalIPs")]
    pub external_ips: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: Option<IntOrString>,
    pub node_port: Option<u16>,
    pub protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    pub default_backend: Option<IngressBackend>,
    pub rules: Option<Vec<IngressRule>>,
}

#[derive(Debug, Deserialize)]
pub struct IngressRule {
    pub http: Option<IngressHttp>,
}

#[derive(Debug, Deserialize)]
pub struct IngressHttp {
    #[serde(default)]
    pub paths: Vec<IngressPath>,
}

#[derive(Debug, Deserialize)]
pub struct IngressPath {
    pub backend: IngressBackend,
}

#[derive(Debug, Deserialize)]
pub struct IngressBackend {
    pub service: Option<IngressService>,
}

#[derive(Debug, Deserialize)]
pub struct IngressService {
    pub name: String,
    pub port: Option<IngressServicePort>,
}

#[derive(Debug, Deserialize)]
pub struct IngressServicePort {
    pub number: Option<u16>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    pub pod_selector: Option<Selector>,
    pub policy_types: Option<Vec<String>>,
    pub ingress: Option<Vec<IngressPolicyRule>>,
    pub egress: Option<Vec<EgressPolicyRule>>,
}

#[derive(Debug, Deserialize)]
pub struct IngressPolicyRule {
    pub from: Option<Vec<Peer>>,
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Debug, Deserialize)]
pub struct EgressPolicyRule {
    pub to: Option<Vec<Peer>>,
    pub ports: Option<Vec<PolicyPort>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    pub pod_selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub ip_block: Option<IpBlock>,
}

#[derive(Debug, Deserialize)]
pub struct IpBlock {
    pub cidr: String,
    #[serde(default)]
    pub except: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPort {
    pub protocol: Option<String>,
    pub port: Option<IntOrString>,
    pub end_port: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    pub match_labels: Option<BTreeMap<String, String>>,
    pub match_expressions: Option<Vec<Expression>>,
}

#[derive(Debug, Deserialize)]
pub struct Expression {
    pub key: String,
    pub operator: String,
    pub values: Option<Vec<String>>,
}

/// Kubernetes' IntOrString.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}
