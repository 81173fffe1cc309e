//! Kubernetes manifests more than one test reads: namespace `shop` with
//! Redis reachable from everywhere, the k8s judge's first findings.

/// Namespace `shop` and Redis in it (Deployment `cache`, labels
/// `app: cache`, container port 6379 named `redis`), with no NetworkPolicy
/// and no Service: unisolated (PR015) and reachable from every pod (PR016).
pub const SHOP_CACHE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: shop}
spec:
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: redis, ports: [{name: redis, containerPort: 6379}]}]}
"#;

/// A web front end beside it (Deployment `web`, labels `app: web`,
/// container port 8080 named `http`).
const SHOP_WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
"#;

/// [`SHOP_CACHE`] and the web front end, one YAML stream.
pub fn shop_cache_and_web() -> String {
    format!("{SHOP_CACHE}---\n{SHOP_WEB}")
}
