//! The EXAMPLES section of every section-1 page: real command lines. The
//! tests below parse each with the real command-line definition, and fail
//! when a command has no examples or a page named here no longer exists.

use super::escape;

/// A command line and what it does.
struct Example {
    command: &'static str,
    what: &'static str,
}

const fn ex(command: &'static str, what: &'static str) -> Example {
    Example { command, what }
}

/// Each page's examples, by page name.
const EXAMPLES: &[(&str, &[Example])] = &[
    (
        "portreeve",
        &[
            ex(
                "sudo portreeve inventory",
                "List every listening socket with its owner.",
            ),
            ex(
                "sudo portreeve check",
                "Judge them against the policy, or the built-in baseline when there is none.",
            ),
            ex(
                "sudo portreeve policy init -o /etc/portreeve/policy.toml",
                "Write a starter policy from what listens now, to review.",
            ),
            ex(
                "sudo portreeve apply --confirm-within 5m",
                "Install the policy's firewall; it rolls back by itself unless confirmed within five minutes.",
            ),
        ],
    ),
    (
        "portreeve-inventory",
        &[
            ex(
                "sudo portreeve inventory",
                "This namespace's listeners, with process, unit and container.",
            ),
            ex(
                "sudo portreeve inventory --all-netns --format json",
                "Every network namespace's, as JSON.",
            ),
        ],
    ),
    (
        "portreeve-check",
        &[
            ex(
                "sudo portreeve check",
                "Findings against the policy in effect, the default file or the baseline.",
            ),
            ex(
                "sudo portreeve check --policy policy.toml --fail-on high",
                "Judge a candidate policy; exit 1 on a high or critical finding.",
            ),
            ex(
                "sudo portreeve check --format nagios",
                "One plugin status line for Nagios, Icinga or Checkmk.",
            ),
            ex(
                "sudo portreeve check --scan 192.0.2.10",
                "Also scan the host's address from here and join both views.",
            ),
        ],
    ),
    (
        "portreeve-policy",
        &[
            ex(
                "sudo portreeve policy init -o policy.toml",
                "Write a starter policy.",
            ),
            ex(
                "portreeve policy validate policy.toml",
                "Check it, with every error shown in its source.",
            ),
        ],
    ),
    (
        "portreeve-policy-init",
        &[
            ex(
                "sudo portreeve policy init -o /etc/portreeve/policy.toml",
                "A rule to review for each listener on this host.",
            ),
            ex(
                "sudo portreeve policy init --all-netns",
                "The same for every network namespace, on standard output.",
            ),
        ],
    ),
    (
        "portreeve-policy-validate",
        &[
            ex(
                "portreeve policy validate /etc/portreeve/policy.toml",
                "Exit 0 when the policy is valid, 2 with its errors when not.",
            ),
            ex(
                "git show HEAD:policy.toml | portreeve policy validate -",
                "Validate the committed version, from standard input.",
            ),
        ],
    ),
    (
        "portreeve-policy-baseline",
        &[ex(
            "portreeve policy baseline",
            "Print the built-in baseline policy.",
        )],
    ),
    (
        "portreeve-render",
        &[
            ex(
                "portreeve render --policy policy.toml",
                "The nftables table the policy compiles to.",
            ),
            ex(
                "portreeve render --policy policy.toml --target iptables",
                "iptables-restore and ipset input instead.",
            ),
            ex(
                "portreeve render --policy policy.toml --target aws",
                "The policy as an AWS security group: inputs for aws ec2 create-security-group and authorize-security-group-ingress --cli-input-json.",
            ),
            ex(
                "portreeve render --policy policy.toml --target gcp",
                "The policy as Compute Engine firewall rules (firewalls.insert bodies).",
            ),
            ex(
                "portreeve render --policy policy.toml --target kubernetes | kubectl apply -f -",
                "The rules with pods as NetworkPolicies, behind a default deny in each namespace they name.",
            ),
        ],
    ),
    (
        "portreeve-plan",
        &[
            ex(
                "sudo portreeve plan --policy policy.toml",
                "What apply would change, and what else decides traffic.",
            ),
            ex(
                "sudo portreeve plan --exit-code",
                "Exit 1 when the firewall would change.",
            ),
        ],
    ),
    (
        "portreeve-apply",
        &[
            ex(
                "sudo portreeve apply --policy policy.toml --confirm-within 5m --reason \"open 443 for the web tier\"",
                "Install; without portreeve confirm within five minutes it is rolled back.",
            ),
            ex(
                "sudo portreeve apply --require-approval",
                "Install only a policy another identity approved.",
            ),
        ],
    ),
    (
        "portreeve-cloud",
        &[ex(
            "portreeve cloud check --aws sg.json",
            "Risky ports open to the internet and wide port ranges in the security groups aws ec2 describe-security-groups wrote to sg.json.",
        )],
    ),
    (
        "portreeve-cloud-check",
        &[
            ex(
                "aws ec2 describe-security-groups | portreeve cloud check --aws - --format sarif",
                "The same findings as SARIF, for a code-scanning dashboard.",
            ),
            ex(
                "portreeve cloud check --aws sg.json --policy policy.toml --fail-on high",
                "With the policy's thresholds and accepted risks; exits 1 on a high or critical finding.",
            ),
        ],
    ),
    (
        "portreeve-vulns",
        &[
            ex(
                "sudo portreeve vulns --osv Debian-all.zip",
                "Advisories from the OSV archive that affect the packages owning this host's listeners, graded by CVSS and raised where the public zone reaches the port.",
            ),
            ex(
                "portreeve vulns --packages web01.txt --ecosystem Debian:12 --format json",
                "Judge another host's package list, as dpkg-query writes it.",
            ),
            ex(
                "portreeve vulns --scan scan.json --format sarif",
                "Judge the products a scan read from banners, as SARIF.",
            ),
            ex(
                "sudo portreeve vulns --fail-on high",
                "Against the imported advisories; exit 1 on a high or critical vulnerability.",
            ),
        ],
    ),
    (
        "portreeve-vulns-update",
        &[ex(
            "sudo portreeve vulns update --from Debian-all.zip",
            "Import an OSV archive into the state directory, validated first; later runs need no --osv.",
        )],
    ),
    (
        "portreeve-k8s",
        &[ex(
            "portreeve k8s reach --manifests deploy/",
            "Every connection the NetworkPolicies under deploy/ allow.",
        )],
    ),
    (
        "portreeve-k8s-check",
        &[
            ex(
                "portreeve k8s check --manifests deploy/ --details",
                "Namespaces without a default deny, risky pods reachable from outside or published by Services, hostPorts and hostNetwork, and policies, rules and named ports that do nothing, with evidence and remediation.",
            ),
            ex(
                "kubectl get -A -o json ns,pods,svc,networkpolicies | portreeve k8s check --manifests - --format sarif",
                "The same for a live cluster, as SARIF for a code-scanning dashboard.",
            ),
            ex(
                "portreeve k8s check --manifests deploy/ --policy policy.toml --fail-on high",
                "Judge with the policy's risky_severity, min_severity and accepted risks; exit 1 when a finding is high or worse.",
            ),
        ],
    ),
    (
        "portreeve-k8s-reach",
        &[
            ex(
                "kubectl get -A -o json ns,pods,networkpolicies | portreeve k8s reach --manifests - --format json",
                "The same for a live cluster, as JSON.",
            ),
            ex(
                "portreeve k8s reach --manifests deploy/ --explain shop/web shop/db TCP/5432",
                "Why shop/web may or may not open port 5432 of shop/db; exits 1 when denied.",
            ),
        ],
    ),
    (
        "portreeve-simulate",
        &[
            ex(
                "sudo portreeve simulate --policy new.toml",
                "What new.toml would break, newly open, clear and raise for the use the agent recorded in the last 30 days; exits 1 if anything used would break.",
            ),
            ex(
                "portreeve simulate --policy new.toml --usage usage.jsonl --since 90d --format json",
                "The same in a CI pipeline, replaying recorded use exported as JSON lines.",
            ),
        ],
    ),
    (
        "portreeve-recommend",
        &[
            ex(
                "sudo portreeve recommend --format diff",
                "What a least-privilege version of the policy in effect would change, from the use recorded in the last 30 days.",
            ),
            ex(
                "sudo portreeve recommend --since 90d --aggregate 16",
                "Print the recommended policy, sources aggregated at /16, to review and propose.",
            ),
            ex(
                "portreeve recommend --policy policy.toml --usage usage.jsonl",
                "The same from a policy file and use exported as JSON lines.",
            ),
            ex(
                "kubectl get -A -o json ns,pods | portreeve recommend --kubernetes --manifests - --zeek conn.log",
                "NetworkPolicies admitting exactly the connections between pods (and from outside) a Zeek conn.log shows.",
            ),
        ],
    ),
    (
        "portreeve-confirm",
        &[ex(
            "sudo portreeve confirm",
            "Keep the ruleset applied with --confirm-within.",
        )],
    ),
    (
        "portreeve-rollback",
        &[
            ex(
                "sudo portreeve rollback",
                "Restore the ruleset live before the current one.",
            ),
            ex(
                "sudo portreeve rollback --to 3 --reason \"back to the known-good ruleset\"",
                "Restore generation 3.",
            ),
        ],
    ),
    (
        "portreeve-generations",
        &[ex(
            "sudo portreeve generations",
            "Every ruleset generation, with its policy and who applied it.",
        )],
    ),
    (
        "portreeve-grant",
        &[ex(
            "sudo portreeve grant 9229/tcp --from 192.0.2.7 --ttl 2h --reason \"debug session\"",
            "Open an on-demand rule's port to one address for two hours.",
        )],
    ),
    (
        "portreeve-revoke",
        &[ex(
            "sudo portreeve revoke 9229/tcp --from 192.0.2.7",
            "Close it before its time.",
        )],
    ),
    (
        "portreeve-grants",
        &[ex(
            "sudo portreeve grants",
            "Open grants and the time they have left.",
        )],
    ),
    (
        "portreeve-block",
        &[ex(
            "sudo portreeve block 203.0.113.9 --ttl 1h --reason \"brute force on ssh\"",
            "Drop every packet from one address for an hour.",
        )],
    ),
    (
        "portreeve-unblock",
        &[ex(
            "sudo portreeve unblock 203.0.113.9",
            "Lift that block before its time.",
        )],
    ),
    (
        "portreeve-blocks",
        &[ex(
            "sudo portreeve blocks --format json",
            "Blocked sources, why, and the time each has left.",
        )],
    ),
    (
        "portreeve-breaker",
        &[ex(
            "sudo portreeve breaker trip cpu --reason \"batch import tonight\"",
            "Trip a breaker by hand; it stays tripped until reset.",
        )],
    ),
    (
        "portreeve-breaker-trip",
        &[ex(
            "sudo portreeve breaker trip web-overload --reason \"backend deploy\"",
            "Send new connections to the backup pool now; established ones stay.",
        )],
    ),
    (
        "portreeve-breaker-reset",
        &[ex(
            "sudo portreeve breaker reset cpu --reason \"import finished\"",
            "Put the policy as written back in force.",
        )],
    ),
    (
        "portreeve-breakers",
        &[ex(
            "sudo portreeve breakers --format json",
            "Each circuit breaker: tripped or not, why, since when, and the agent's latest reading.",
        )],
    ),
    (
        "portreeve-detections",
        &[ex(
            "sudo portreeve detections --format json",
            "The scans the agent detected, by the kernel or by its own TRW, and what it did about each.",
        )],
    ),
    (
        "portreeve-captures",
        &[ex(
            "sudo portreeve captures",
            "The packet captures of detected scanners, to open with tshark -r or zeek -r.",
        )],
    ),
    (
        "portreeve-detect",
        &[
            ex(
                "portreeve detect --pcap incident.pcap",
                "Find the port scans in a packet capture.",
            ),
            ex(
                "zcat conn.log.gz | portreeve detect --zeek - --format json",
                "Find them in a Zeek conn.log read from standard input.",
            ),
            ex(
                "TZ=UTC nfdump -R /var/cache/nfdump -o csv | portreeve detect --flows -",
                "Find them in the NetFlow/IPFIX records nfcapd stored.",
            ),
        ],
    ),
    (
        "portreeve-usage",
        &[
            ex(
                "sudo portreeve usage --format json",
                "When each allowed port last received a new connection.",
            ),
            ex(
                "sudo portreeve usage --by-source --since 30d",
                "Which sources opened connections to which ports in the last 30 days.",
            ),
        ],
    ),
    (
        "portreeve-scan",
        &[
            ex(
                "portreeve scan 192.0.2.10",
                "A TCP connect scan of the 1000 most common ports.",
            ),
            ex(
                "sudo portreeve scan --syn -p 1-1024 192.0.2.0/28",
                "A SYN scan of a small network.",
            ),
            ex(
                "sudo portreeve scan --udp -p 53,123,161 192.0.2.10",
                "UDP ports.",
            ),
            ex(
                "portreeve scan --service -p 22,443 --format xml 192.0.2.10",
                "Name what answers, as nmap-compatible XML.",
            ),
        ],
    ),
    (
        "portreeve-agent",
        &[
            ex(
                "sudo portreeve agent --config /etc/portreeve/agent.toml",
                "What the systemd unit portreeve-agent.service runs.",
            ),
            ex(
                "sudo portreeve agent --interval 5s --metrics 127.0.0.1:9465",
                "In the foreground, with metrics on loopback.",
            ),
        ],
    ),
    (
        "portreeve-drift",
        &[ex(
            "sudo portreeve drift --since 24h",
            "The listener drift the agent recorded in the last day.",
        )],
    ),
    (
        "portreeve-collect",
        &[ex(
            "sudo portreeve collect --netflow 0.0.0.0:2055 --exporter 192.0.2.1 --duration 10m",
            "Aggregate ten minutes of NetFlow or IPFIX from one router.",
        )],
    ),
    (
        "portreeve-flows",
        &[ex(
            "portreeve flows decode --pcap flows.pcap",
            "Decode the flow records in a capture.",
        )],
    ),
    (
        "portreeve-flows-decode",
        &[ex(
            "portreeve flows decode --pcap flows.pcap --format json",
            "As one JSON array.",
        )],
    ),
    (
        "portreeve-import",
        &[ex(
            "sudo portreeve import zeek conn.log",
            "Read a Zeek conn.log into the flow aggregates.",
        )],
    ),
    (
        "portreeve-import-zeek",
        &[
            ex(
                "sudo portreeve import zeek conn.log",
                "A TSV or JSON conn.log.",
            ),
            ex(
                "zcat conn.log.gz | sudo portreeve import zeek -",
                "From standard input.",
            ),
        ],
    ),
    (
        "portreeve-lifecycle",
        &[ex(
            "sudo portreeve lifecycle",
            "Each port's state, last access and recommended action.",
        )],
    ),
    (
        "portreeve-reclaim",
        &[
            ex("sudo portreeve reclaim", "What would be closed."),
            ex(
                "sudo portreeve reclaim --apply --reason \"quarterly clean-up\"",
                "Close the abandoned ports the policy says to reclaim.",
            ),
            ex(
                "sudo portreeve reclaim --undo 4",
                "Reopen what reclaim 4 closed.",
            ),
        ],
    ),
    (
        "portreeve-predict",
        &[
            ex(
                "sudo portreeve predict",
                "For each port the agent has watched, the chance of a connection in the next 24 hours, from its hourly history.",
            ),
            ex(
                "portreeve predict --events events.jsonl",
                "For each port, the chance of a connection in the 24 hours after the last event, with the pattern behind it.",
            ),
            ex(
                "portreeve predict --events events.jsonl --at 2026-03-02T09:00:00Z --format json",
                "The same from the history before that time, as JSON.",
            ),
        ],
    ),
    (
        "portreeve-anomalies",
        &[
            ex(
                "sudo portreeve anomalies --since 24h",
                "Implausible hours of the last day in the agent's history.",
            ),
            ex(
                "portreeve anomalies --events events.jsonl",
                "Hours with bursts, traffic at hours a port is never used, or a quiet port suddenly busy.",
            ),
            ex(
                "zcat events.jsonl.gz | portreeve anomalies --events - --since 7d --format json",
                "Those of the last week, from standard input, as JSON.",
            ),
        ],
    ),
    (
        "portreeve-ledger",
        &[
            ex(
                "sudo portreeve ledger log",
                "Every recorded change, newest first.",
            ),
            ex("sudo portreeve ledger verify", "Check the whole ledger."),
        ],
    ),
    (
        "portreeve-ledger-log",
        &[ex(
            "sudo portreeve ledger log --action apply --since 7d",
            "The last week's applies.",
        )],
    ),
    (
        "portreeve-ledger-verify",
        &[
            ex(
                "sudo portreeve ledger verify",
                "The local ledger, against its own key.",
            ),
            ex(
                "portreeve ledger verify --bundle ledger.json --key log.pub",
                "An exported bundle, offline.",
            ),
        ],
    ),
    (
        "portreeve-ledger-prove",
        &[
            ex(
                "sudo portreeve ledger prove --index 5",
                "An inclusion proof for entry 5.",
            ),
            ex(
                "sudo portreeve ledger prove --from 10 --to 20",
                "A consistency proof between two sizes.",
            ),
        ],
    ),
    (
        "portreeve-ledger-export",
        &[ex(
            "sudo portreeve ledger export -o ledger.json",
            "A bundle an auditor verifies offline.",
        )],
    ),
    (
        "portreeve-ledger-checkpoint",
        &[ex(
            "sudo portreeve ledger checkpoint",
            "Print the latest signed checkpoint.",
        )],
    ),
    (
        "portreeve-ledger-cosign",
        &[ex(
            "sudo portreeve ledger cosign --key witness.key",
            "Countersign the latest checkpoint as a witness.",
        )],
    ),
    (
        "portreeve-ledger-key",
        &[ex(
            "sudo portreeve ledger key",
            "The log's public key, for verifiers.",
        )],
    ),
    (
        "portreeve-ledger-witness-key",
        &[ex(
            "portreeve ledger witness-key audit-team -o witness.key",
            "A new witness key pair.",
        )],
    ),
    (
        "portreeve-evidence",
        &[ex(
            "sudo portreeve evidence export --output /srv/audit/2026-q4",
            "Write an evidence pack an auditor verifies offline: the ledger bundle and its key, inclusion proofs, the policy in effect with its approvals, and the report.",
        )],
    ),
    (
        "portreeve-evidence-export",
        &[
            ex(
                "sudo portreeve evidence export --output pack",
                "Refused unless pack is missing or empty; written aside and renamed into place.",
            ),
            ex(
                "portreeve evidence export --server http://fleet:8440 --token-file viewer.token --key server-log.pub --output fleet-pack",
                "The fleet's pack: the server's ledger, the assigned policies with their approvals, and the fleet's report; refused unless the server's ledger is signed by the key you obtained out of band.",
            ),
        ],
    ),
    (
        "portreeve-evidence-verify",
        &[
            ex(
                "portreeve evidence verify pack --key log.pub",
                "Check every file against the manifest, the bundle against the key you were given, and every inclusion proof; exit 1 on any problem.",
            ),
            ex(
                "portreeve evidence verify pack --format json",
                "The same against the pack's own log.pub (which proves the pack whole, not whose it is), as JSON.",
            ),
        ],
    ),
    (
        "portreeve-report",
        &[
            ex(
                "sudo portreeve report --output report.html",
                "This host's report as one self-contained HTML page: inventory, findings, exposure, lifecycle, grants, blocks and the verified ledger.",
            ),
            ex(
                "sudo portreeve report --format pdf --output report.pdf --since 90d",
                "The last 90 days' changes, printed to PDF by headless Chromium.",
            ),
            ex(
                "sudo portreeve report --format json --framework pci-dss",
                "The same facts as JSON, with PCI DSS's controls judged from them.",
            ),
            ex(
                "sudo portreeve report --framework cis --k8s-manifests deploy/ --vulns --output cis.html",
                "Also judge the cluster's manifests and the listeners' packages against the imported OSV advisories: their findings join the host's, and the CIS Kubernetes and vulnerability controls are judged instead of left out.",
            ),
            ex(
                "portreeve report --server https://fleet.example:8440 --token-file viewer.token --log-key log.pub --output fleet.html",
                "The fleet's report from the server, read with a viewer token; its ledger verified with the key copied from the server's <state>/server/ledger/log.pub.",
            ),
        ],
    ),
    (
        "portreeve-export",
        &[
            ex(
                "sudo portreeve export --to ecs --output /var/log/portreeve/events.ndjson --since 1d",
                "The last day's drift, changes and detections, and the findings of a check now, as ECS JSON lines for Filebeat or Elastic Agent.",
            ),
            ex(
                "sudo portreeve export --to splunk-hec --url https://splunk.example:8088 --token-file /etc/portreeve/hec.token --ack",
                "Everything to a Splunk HTTP Event Collector, 100 events a request, waiting until the indexers acknowledge each request.",
            ),
            ex(
                "sudo portreeve export --to syslog --syslog siem.example:6514 --transport tcp --what findings,detections",
                "Findings and detections as RFC 5424 syslog messages over TCP, the ECS document as each message.",
            ),
        ],
    ),
    (
        "portreeve-identity",
        &[
            ex(
                "sudo portreeve identity new alice",
                "Register an identity and keep its private key.",
            ),
            ex("sudo portreeve identity list", "The registered identities."),
        ],
    ),
    (
        "portreeve-identity-new",
        &[ex("sudo portreeve identity new alice", "Register alice.")],
    ),
    (
        "portreeve-identity-list",
        &[ex(
            "sudo portreeve identity list",
            "Which identities have a private key here.",
        )],
    ),
    (
        "portreeve-propose",
        &[ex(
            "sudo portreeve propose policy.toml --identity alice --reason \"open 8443 for the payroll export\"",
            "Propose a policy change.",
        )],
    ),
    (
        "portreeve-approve",
        &[ex(
            "sudo portreeve approve 3 --identity bob",
            "Approve proposal 3 as another identity.",
        )],
    ),
    (
        "portreeve-proposals",
        &[ex(
            "sudo portreeve proposals",
            "Proposals and their approvals.",
        )],
    ),
    (
        "portreeve-catalogue",
        &[
            ex("portreeve catalogue", "The built-in risk catalogue."),
            ex("portreeve catalogue 6379", "What it says about one port."),
        ],
    ),
    (
        "portreeve-doctor",
        &[ex(
            "sudo portreeve doctor",
            "What portreeve can see on this host, and where it keeps things.",
        )],
    ),
    (
        "portreeve-server",
        &[
            ex(
                "sudo portreeve server --listen 127.0.0.1:8440",
                "Serve the fleet API from SQLite in the state directory.",
            ),
            ex(
                "portreeve server --database \"postgres:///portreeve?host=/var/run/postgresql&user=portreeve\"",
                "Serve it from PostgreSQL over its Unix socket.",
            ),
        ],
    ),
    (
        "portreeve-server-token",
        &[ex(
            "sudo portreeve server token list",
            "The server's tokens, without the tokens themselves.",
        )],
    ),
    (
        "portreeve-server-token-create",
        &[
            ex(
                "sudo portreeve server token create --role viewer --name dashboard",
                "Print a new read-only token; it is shown only this once.",
            ),
            ex(
                "sudo portreeve server token create --role enroll --ttl 1h",
                "A token that enrolls an agent within the hour.",
            ),
        ],
    ),
    (
        "portreeve-server-token-list",
        &[ex(
            "sudo portreeve server token list --format json",
            "Every token's id, name, role and times, as JSON.",
        )],
    ),
    (
        "portreeve-server-token-revoke",
        &[ex(
            "sudo portreeve server token revoke 3f2a9c1b7d40",
            "Refuse that token from now on.",
        )],
    ),
    (
        "portreeve-server-host",
        &[ex(
            "sudo portreeve server host list",
            "The enrolled hosts, when each was last heard from, and any flagged ledger.",
        )],
    ),
    (
        "portreeve-server-host-list",
        &[ex(
            "sudo portreeve server host list --format json",
            "Every host's id, name, times, listeners and findings by severity, as JSON.",
        )],
    ),
    (
        "portreeve-server-host-revoke",
        &[ex(
            "sudo portreeve server host revoke web-1",
            "Refuse that host's pushes from now on (its key stays on record).",
        )],
    ),
    (
        "portreeve-completions",
        &[ex(
            "portreeve completions zsh",
            "Print the zsh completion script (the package installs all three).",
        )],
    ),
    (
        "portreeve-man",
        &[ex(
            "portreeve man --output man",
            "Write every page into the directory man.",
        )],
    ),
];

/// The EXAMPLES section of page `page` (empty if it has none).
pub fn section(page: &str) -> String {
    let Some((_, examples)) = EXAMPLES.iter().find(|(name, _)| *name == page) else {
        return String::new();
    };
    let mut text = String::from(".SH EXAMPLES\n");
    for example in *examples {
        text.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            escape(example.command),
            escape(example.what)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{page_name, program, visible_subcommands};
    use super::EXAMPLES;
    use crate::cli::Cli;

    fn page_names(cmd: &clap::Command, names: &mut Vec<String>) {
        names.push(page_name(cmd));
        for sub in visible_subcommands(cmd) {
            page_names(sub, names);
        }
    }

    /// A command line's words, a double-quoted group being one word.
    fn words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        words.push(word);
        words
    }

    #[test]
    fn every_command_page_has_examples_and_every_example_has_its_page() {
        let mut pages = Vec::new();
        page_names(&program(), &mut pages);
        for page in &pages {
            assert!(
                EXAMPLES
                    .iter()
                    .any(|(name, examples)| name == page && !examples.is_empty()),
                "no examples for {page}"
            );
        }
        for (name, _) in EXAMPLES {
            assert!(pages.iter().any(|p| p == name), "{name} is not a page");
        }
    }

    #[test]
    fn every_example_is_a_valid_command_line_of_its_page() {
        for (page, examples) in EXAMPLES {
            for example in *examples {
                let ours: Vec<Vec<String>> = example
                    .command
                    .split(" | ")
                    .map(|part| words(part.strip_prefix("sudo ").unwrap_or(part)))
                    .filter(|w| w[0] == "portreeve")
                    .collect();
                assert_eq!(ours.len(), 1, "{page}: {}", example.command);
                let args = &ours[0];
                if let Err(e) = Cli::try_parse_from(args) {
                    panic!("{page}: {}: {e}", example.command);
                }
                assert!(
                    args.join("-").starts_with(page),
                    "{page}: {} is another command's",
                    example.command
                );
            }
        }
    }
}
