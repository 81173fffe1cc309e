//! Kubernetes clusters read offline from their manifests, and the exact
//! reachability their NetworkPolicies allow: which pod (or outside address)
//! can open which port of which other pod, and why.
//!
//! Pure: no API server, no network. [`manifest::read_paths`] (or
//! [`manifest::read_str`]) builds a [`Cluster`] from YAML or JSON with the
//! API server's defaults applied; [`analysis::Analysis`] compiles its
//! policies against its pods; [`reach()`] lists every allowed connection as
//! [`Record`]s; [`explain::explain`] says which policies and rules decide one.
//!
//! ```
//! use portreeve_k8s::{Protocol, explain::explain, manifest::read_str, reach};
//!
//! let cluster = read_str("example.yaml", r#"
//! kind: Pod
//! metadata: {name: db, namespace: shop, labels: {app: db}}
//! ---
//! kind: Pod
//! metadata: {name: web, namespace: shop, labels: {app: web}}
//! ---
//! kind: NetworkPolicy
//! metadata: {name: db, namespace: shop}
//! spec:
//!   podSelector: {matchLabels: {app: db}}
//!   ingress:
//!   - from: [{podSelector: {matchLabels: {app: web}}}]
//!     ports: [{port: 5432}]
//! "#).unwrap();
//! let web_to_db: Vec<_> = reach(&cluster)
//!     .into_iter()
//!     .filter(|r| r.from.to_string() == "shop/web" && r.to.to_string() == "shop/db")
//!     .collect();
//! assert_eq!(web_to_db.len(), 1);
//! assert_eq!((web_to_db[0].protocol, web_to_db[0].ports.clone()), (Protocol::Tcp, vec![[5432, 5432]]));
//!
//! let why = explain(&cluster, "shop/web", "shop/db", Protocol::Udp, 53).unwrap();
//! assert!(!why.allowed);
//! ```

pub mod analysis;
pub mod cidr;
pub mod explain;
pub mod lint;
pub mod manifest;
pub mod model;
pub mod ports;
pub mod reach;
pub mod render;
pub mod selector;
pub mod write;

pub use model::{Cluster, Direction, Pod, Protocol};
pub use reach::{Endpoint, Record, reach};
