//! Reading manifests: YAML (several documents per file) or JSON (an object
//! or an array), `List` kinds unwrapped, from files, directories or standard
//! input, into a [`Cluster`] with the API server's defaults applied.
//!
//! Objects are first parsed into JSON values and then into the typed shapes
//! of `raw`, so that an error names the file, the document, the object and
//! the field (`spec.ingress[0].ports[1].port`), and a syntax error its line.

mod convert;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Cluster, NAMESPACE_NAME_LABEL, Pod};

/// A manifest that could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// `file:line:col`, or `file: document N: kind K name N: field F`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Reads every manifest under `paths` into one cluster. A path is a file,
/// a directory (its `*.yaml`, `*.yml` and `*.json` files, recursively, in
/// name order) or `-`, standard input.
pub fn read_paths(paths: &[PathBuf]) -> Result<Cluster, ManifestError> {
    let mut builder = Builder::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| io_error(path, &e))?;
            builder.add_text("<stdin>", &text)?;
        } else {
            for file in manifest_files(path)? {
                let text = std::fs::read_to_string(&file).map_err(|e| io_error(&file, &e))?;
                builder.add_text(&file.display().to_string(), &text)?;
            }
        }
    }
    Ok(builder.finish())
}

/// Reads the manifests in `text`, named `source` in errors, into a cluster.
pub fn read_str(source: &str, text: &str) -> Result<Cluster, ManifestError> {
    let mut builder = Builder::default();
    builder.add_text(source, text)?;
    Ok(builder.finish())
}

fn io_error(path: &Path, e: &std::io::Error) -> ManifestError {
    ManifestError {
        location: path.display().to_string(),
        message: e.to_string(),
    }
}

/// `path` itself, or the manifest files under it, sorted.
fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| io_error(path, &e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| io_error(path, &e))?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            files.extend(manifest_files(&entry)?);
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(entry);
        }
    }
    Ok(files)
}

/// The documents of `text`: one JSON value per YAML document, or the one
/// JSON document when the text starts with `{` or `[`.
fn documents(source: &str, text: &str) -> Result<Vec<serde_json::Value>, ManifestError> {
    if text.trim_start().starts_with(['{', '[']) {
        return serde_json::from_str(text)
            .map(|doc| vec![doc])
            .map_err(|e| ManifestError {
                location: format!("{source}:{}:{}", e.line(), e.column()),
                message: strip_position(&e.to_string()),
            });
    }
    let mut docs = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(document).map_err(|e| ManifestError {
            location: match e.location() {
                Some(at) => format!("{source}:{}:{}", at.line(), at.column()),
                None => format!("{source}: document {}", docs.len() + 1),
            },
            message: strip_position(&e.to_string()),
        })?;
        docs.push(value);
    }
    Ok(docs)
}

/// A parser's message without its first ` at line L column C` (the
/// location is given in front).
fn strip_position(message: &str) -> String {
    let Some(at) = message.find(" at line ") else {
        return message.to_string();
    };
    let rest = &message[at + " at line ".len()..];
    let after_line = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(after_column) = after_line.strip_prefix(" column ") else {
        return message.to_string();
    };
    let tail = after_column.trim_start_matches(|c: char| c.is_ascii_digit());
    format!(
        "{}{}",
        &message[..at],
        tail.strip_prefix(',').unwrap_or(tail)
    )
}

/// Collects objects document by document.
#[derive(Default)]
struct Builder {
    cluster: Cluster,
    /// Where each pod and policy came from, to report duplicates.
    seen: BTreeMap<(String, String, String), String>,
}

impl Builder {
    fn add_text(&mut self, source: &str, text: &str) -> Result<(), ManifestError> {
        for (i, doc) in documents(source, text)?.into_iter().enumerate() {
            let place = format!("{source}: document {}", i + 1);
            self.add_value(source, &place, doc)?;
        }
        Ok(())
    }

    /// Adds one document: an object, an array of objects, or a `…List`.
    fn add_value(
        &mut self,
        source: &str,
        place: &str,
        doc: serde_json::Value,
    ) -> Result<(), ManifestError> {
        match doc {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    self.add_value(source, &format!("{place}: item {i}"), item)?;
                }
                Ok(())
            }
            serde_json::Value::Object(mut map)
                if map
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .is_some_and(|k| k.ends_with("List"))
                    && map.contains_key("items") =>
            {
                let items = map.remove("items").unwrap_or_default();
                self.add_value(source, place, items)
            }
            other => {
                let object = convert::object(place, &other)?;
                self.add_object(source, place, object)
            }
        }
    }

    fn add_object(
        &mut self,
        source: &str,
        place: &str,
        object: convert::Object,
    ) -> Result<(), ManifestError> {
        if let Some(key) = object.key() {
            if let Some(first) = self.seen.get(&key) {
                let (what, namespace, name) = key;
                return Err(ManifestError {
                    location: place.to_string(),
                    message: format!("{what} {namespace}/{name} is also defined at {first}"),
                });
            }
            self.seen.insert(key.clone(), place.to_string());
            self.cluster.sources.insert(key, source.to_string());
        }
        let c = &mut self.cluster;
        match object {
            convert::Object::Namespace(name, labels) => {
                c.namespaces.insert(name, labels);
            }
            convert::Object::Pod(pod) => c.pods.push(pod),
            convert::Object::Service(service) => c.services.push(service),
            convert::Object::Ingress(ingress) => c.ingresses.push(ingress),
            convert::Object::Policy(policy) => c.policies.push(policy),
            convert::Object::Other => c.ignored += 1,
        }
        Ok(())
    }

    /// The cluster with every namespace named anywhere present and labelled
    /// with its name, and pods and policies in name order.
    fn finish(self) -> Cluster {
        let mut c = self.cluster;
        let used: Vec<String> = c
            .pods
            .iter()
            .map(|p| p.namespace.clone())
            .chain(c.policies.iter().map(|p| p.namespace.clone()))
            .chain(c.services.iter().map(|s| s.namespace.clone()))
            .chain(c.ingresses.iter().map(|i| i.namespace.clone()))
            .collect();
        for name in used {
            c.namespaces.entry(name).or_default();
        }
        for (name, labels) in &mut c.namespaces {
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
        }
        // By `namespace/name` as written in reports, which is not the
        // order of (namespace, name) when a namespace has a `-` or `.`.
        c.pods.sort_by_cached_key(Pod::id);
        c.policies
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kubectl get -o json` output carries running pods' addresses, which
    /// flow records are mapped to pods by; every object remembers its file.
    #[test]
    fn pods_keep_their_addresses_and_objects_their_files() {
        let cluster = read_str(
            "live.yaml",
            "kind: Pod\nmetadata: {name: web, namespace: shop}\n\
             status: {podIP: 10.1.0.7, podIPs: [{ip: 10.1.0.7}, {ip: 'fd00::7'}]}\n---\n\
             kind: Deployment\nmetadata: {name: api, namespace: shop}\n\
             spec: {template: {metadata: {labels: {app: api}}}}\n",
        )
        .unwrap();
        let ips: Vec<String> = cluster
            .pods
            .iter()
            .map(|p| format!("{:?}", p.ips))
            .collect();
        assert_eq!(ips, ["[]", "[10.1.0.7, fd00::7]"]);
        assert_eq!(cluster.source("Pod", "shop", "web"), Some("live.yaml"));
        assert_eq!(cluster.source("Pod", "shop", "api"), Some("live.yaml"));
        assert_eq!(cluster.source("Namespace", "", "shop"), None);
    }

    #[test]
    fn a_bad_pod_address_is_located() {
        let e = read_str(
            "live.yaml",
            "kind: Pod\nmetadata: {name: web}\nstatus: {podIPs: [{ip: 10.1.0.300}]}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("live.yaml: document 1: kind Pod name web: field status.podIPs[0].ip"),
            "{e}"
        );
    }
}
