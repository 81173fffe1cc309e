#!/usr/bin/env python3
"""Writes the cluster bench/k8s.sh times: manifests of NAMESPACES namespaces,
PODS pods and POLICIES NetworkPolicies into DIR (namespaces.yaml, pods.yaml,
policies.yaml), drawn from a fixed seed so every run analyses the same input.

    k8s_cluster.py DIR [--namespaces 100] [--pods 1000] [--policies 300] [--seed 19]

The mix is what a shared cluster holds: most namespaces deny ingress by
default (some egress too, with DNS let out to kube-system), and the rest are
open; workloads admit their callers by podSelector (named and numeric
ports), by namespaceSelector (alone, or ANDed with a podSelector), by
matchExpressions, and outside addresses by ipBlocks with excepts (IPv4 and
IPv6); some rules open port ranges (endPort) or UDP and SCTP. Every document
is one line of flow-style YAML, which portreeve and network-config-analyzer
both read.
"""

import argparse
import json
import os
import random

TEAMS = ["payments", "search", "identity", "media", "ads", "ml", "ops", "web"]
ENVS = ["prod", "staging", "dev"]

# Workload kinds: app label, tier, and container ports (name, port, protocol).
APPS = [
    ("frontend", "web", [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]),
    ("api", "backend", [("http", 8080, "TCP"), ("grpc", 50051, "TCP"), ("metrics", 9090, "TCP")]),
    ("worker", "backend", [("metrics", 9090, "TCP")]),
    ("db", "data", [("pg", 5432, "TCP"), ("metrics", 9187, "TCP")]),
    ("cache", "data", [("redis", 6379, "TCP")]),
    ("queue", "data", [("amqp", 5672, "TCP"), ("epmd", 4369, "TCP")]),
    ("dns", "infra", [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]),
    ("sig", "telecom", [("diameter", 3868, "SCTP"), ("http", 8080, "TCP")]),
]


def namespace_name(i):
    return f"ns-{i:03d}"


def selector(labels=None, expressions=None):
    s = {}
    if labels:
        s["matchLabels"] = labels
    if expressions:
        s["matchExpressions"] = expressions
    return s


def outside_block(rng):
    """An ipBlock of outside addresses, often with excepts, IPv4 or IPv6."""
    if rng.random() < 0.2:
        site = f"2001:db8:{rng.randrange(0x10000):x}"
        block = {"cidr": f"{site}::/48"}
        if rng.random() < 0.5:
            block["except"] = [f"{site}:{rng.randrange(0x10000):x}::/64"]
        return block
    kind = rng.random()
    if kind < 0.3:
        return {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}
    if kind < 0.6:
        a, b = rng.randrange(1, 224), rng.randrange(256)
        return {"cidr": f"{a}.{b}.0.0/16", "except": [f"{a}.{b}.{rng.randrange(256)}.0/24"]}
    a, b, c = rng.randrange(1, 224), rng.randrange(256), rng.randrange(256)
    return {"cidr": f"{a}.{b}.{c}.{rng.randrange(0, 256, 16)}/28"}


def port_entry(rng, pod_ports):
    """One entry of a rule's ports: named, numeric, a range, or UDP/SCTP."""
    kind = rng.random()
    if kind < 0.4 and pod_ports:
        name, _, protocol = rng.choice(pod_ports)
        return {"protocol": protocol, "port": name}
    if kind < 0.7 and pod_ports:
        _, number, protocol = rng.choice(pod_ports)
        return {"protocol": protocol, "port": number}
    if kind < 0.85:
        first = rng.choice([8000, 9000, 30000])
        return {"protocol": "TCP", "port": first, "endPort": first + rng.choice([99, 999, 2767])}
    return {"protocol": rng.choice(["UDP", "SCTP"]), "port": rng.choice([53, 3868, 5060])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--policies", type=int, default=300)
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)

    namespaces = []
    for i in range(args.namespaces):
        labels = {"team": rng.choice(TEAMS), "env": rng.choice(ENVS)}
        namespaces.append((namespace_name(i), labels))
    namespaces[0] = ("kube-system", {"team": "ops", "env": "prod"})

    # Pods spread evenly: each namespace gets a few workloads, each with replicas.
    pods = []  # (namespace, name, labels, ports)
    for p in range(args.pods):
        ns = namespaces[p % args.namespaces][0]
        app, tier, ports = APPS[(p // args.namespaces + p % 3) % len(APPS)]
        if ns == "kube-system":
            app, tier, ports = APPS[6]
        labels = {"app": app, "tier": tier, "version": rng.choice(["v1", "v2"])}
        pods.append((ns, f"{app}-{p:04d}", labels, ports))
    apps_in = {}
    for ns, _, labels, ports in pods:
        apps_in.setdefault(ns, {})[labels["app"]] = ports

    policies = []

    def add(ns, name, pod_selector, ingress=None, egress=None, types=None):
        spec = {"podSelector": pod_selector}
        if ingress is not None:
            spec["ingress"] = ingress
        if egress is not None:
            spec["egress"] = egress
        if types:
            spec["policyTypes"] = types
        policies.append({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        })

    # Default denies: ingress in 70% of namespaces, egress too in a third of those
    # (with DNS to kube-system let out, as such clusters do).
    denied = [ns for ns, _ in namespaces if rng.random() < 0.7]
    for ns in denied:
        if len(policies) >= args.policies:
            break
        if rng.random() < 0.33:
            add(ns, "default-deny-all", {}, types=["Ingress", "Egress"])
            add(ns, "allow-dns", {}, egress=[{
                "to": [{"namespaceSelector": selector({"kubernetes.io/metadata.name": "kube-system"}),
                        "podSelector": selector({"app": "dns"})}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }], types=["Egress"])
        else:
            add(ns, "default-deny-ingress", {}, types=["Ingress"])

    # Workload policies until the count is reached.
    n = 0
    while len(policies) < args.policies:
        ns, ns_labels = rng.choice(namespaces)
        target = rng.choice(sorted(apps_in[ns]))
        ports = apps_in[ns][target]
        rules = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            kind = rng.random()
            if kind < 0.3:
                caller = rng.choice([a for a, _, _ in APPS])
                peers = [{"podSelector": selector({"app": caller})}]
            elif kind < 0.5:
                peers = [{"namespaceSelector": selector({"team": ns_labels["team"]}),
                          "podSelector": selector({"tier": rng.choice(["web", "backend"])})}]
            elif kind < 0.65:
                peers = [{"namespaceSelector": selector(expressions=[
                    {"key": "env", "operator": rng.choice(["In", "NotIn"]), "values": ["prod"]}])}]
            elif kind < 0.75:
                peers = [{"podSelector": selector(expressions=[
                    {"key": "version", "operator": "In", "values": ["v2"]},
                    {"key": "tier", "operator": "Exists"}])}]
            else:
                peers = [{"ipBlock": outside_block(rng)} for _ in range(rng.choice([1, 2]))]
            rule = {"from": peers}
            if rng.random() < 0.9:
                rule["ports"] = [port_entry(rng, ports) for _ in range(rng.choice([1, 2]))]
            rules.append(rule)
        if rng.random() < 0.15:
            egress = [{"to": [{"ipBlock": outside_block(rng)}],
                       "ports": [port_entry(rng, [])]}]
            add(ns, f"{target}-{n}", selector({"app": target}), ingress=rules, egress=egress)
        else:
            add(ns, f"{target}-{n}", selector({"app": target}), ingress=rules)
        n += 1

    def write(name, docs):
        with open(os.path.join(args.dir, name), "w", encoding="utf-8") as out:
            for doc in docs:
                out.write("---\n" + json.dumps(doc, separators=(", ", ": ")) + "\n")

    write("namespaces.yaml", [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        for ns, labels in namespaces])
    write("pods.yaml", [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"containers": [{"name": "main", "image": f"registry.invalid/{labels['app']}",
                                  "ports": [{"name": pn, "containerPort": pp, "protocol": pr}
                                            for pn, pp, pr in ports]}]}}
        for ns, name, labels, ports in pods])
    write("policies.yaml", policies[:args.policies])


if __name__ == "__main__":
    main()
