//! The validated policy: what the file says once every reference resolves.
//!
//! Nothing in here can be invalid — ports are in range, zones referenced by a
//! rule exist, no rule allows a banned port — so the evaluator and (later) the
//! firewall compiler never re-check.

use ipnet::IpNet;
use jiff::civil::Date;
use portreeve_core::{
    Family, Finding, FindingKind, PolicyLocation, PortRange, ProcessInfo, Proto, Severity,
};
use serde::Serialize;

/// A validated port policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    /// Where the policy came from: the file name, or `<built-in baseline>`.
    pub origin: String,
    /// Named source networks.
    pub zones: Vec<Zone>,
    /// What may listen on the host, for whom: the rules without `pods`.
    pub rules: Vec<Rule>,
    /// What Kubernetes pods may be reached on, from whom: the rules with
    /// `pods`, which `render --target kubernetes` writes as NetworkPolicies
    /// and which never open a port on a host.
    pub pod_rules: Vec<PodRule>,
    /// Ports that must never listen on a non-loopback address.
    pub banned: Vec<BannedPorts>,
    /// Tunables.
    pub defaults: Defaults,
    /// How the policy is enforced in the firewall.
    pub enforce: Enforcement,
    /// Who must approve a change to the policy.
    pub change_control: ChangeControl,
    /// When an unused port counts as dormant or abandoned, and what is done
    /// about it.
    pub lifecycle: Lifecycle,
    /// Findings the policy's owners accept for a while: `[[accepted_risk]]`.
    pub accepted_risks: Vec<AcceptedRisk>,
    /// What is done about port scans: `[detection]`.
    pub detection: Detection,
    /// Port circuit breakers: `[[breaker]]`.
    pub breakers: Vec<Breaker>,
}

impl Policy {
    /// The zone called `name`.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// `; accepts PR003 6379/tcp (owner data-team, until 2027-01-31: reason)`
    /// for each accepted risk, or nothing: what the ledger entry of an
    /// apply says so that every acceptance is on record.
    pub fn accepted_risks_note(&self) -> String {
        self.accepted_risks
            .iter()
            .map(|r| {
                format!(
                    "; accepts {} (owner {}, until {}: {})",
                    r.finding, r.owner, r.expires, r.reason
                )
            })
            .collect()
    }

    /// The banned entry covering `port`/`proto`, if any.
    pub fn banned_entry(&self, proto: Proto, port: u16) -> Option<&BannedPorts> {
        self.banned
            .iter()
            .find(|b| b.protocols.contains(&proto) && b.ports.contains(port))
    }
}

/// An exception: a finding someone answers for, for a reason, until a date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AcceptedRisk {
    /// Which finding it covers.
    pub finding: FindingSelector,
    /// Who answers for the risk.
    pub owner: String,
    /// Why it is accepted.
    pub reason: String,
    /// The last day the acceptance holds.
    pub expires: Date,
    /// Where the exception is written.
    pub location: PolicyLocation,
}

/// How an accepted risk names its finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSelector {
    /// A finding's fingerprint (16 hex digits), as `check` prints it.
    Fingerprint(String),
    /// Findings of one kind about one port, on any address:
    /// `PR003 6379/tcp`.
    Port {
        /// The finding kind.
        kind: FindingKind,
        /// The port.
        port: u16,
        /// Its protocol.
        protocol: Proto,
    },
}

impl FindingSelector {
    /// Whether `f` is the finding selected.
    pub fn selects(&self, f: &Finding) -> bool {
        match self {
            FindingSelector::Fingerprint(fp) => f.fingerprint.eq_ignore_ascii_case(fp),
            FindingSelector::Port {
                kind,
                port,
                protocol,
            } => {
                f.kind == *kind
                    && f.socket
                        .as_ref()
                        .is_some_and(|s| s.port == *port && s.protocol == *protocol)
            }
        }
    }
}

impl std::fmt::Display for FindingSelector {
    /// As written in the policy: a fingerprint or `PR003 6379/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FindingSelector::Fingerprint(fp) => f.write_str(fp),
            FindingSelector::Port {
                kind,
                port,
                protocol,
            } => write!(f, "{} {port}/{protocol}", kind.code()),
        }
    }
}

/// A named set of sources, e.g. `management = ["192.0.2.0/24"]`, or
/// `web = { networks = ["10.8.0.0/16"], namespaces = ["web"] }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Zone {
    /// Zone name: lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// Networks in the zone (possibly none when it has `namespaces`).
    pub networks: Vec<IpNet>,
    /// Kubernetes namespaces whose pods are in the zone: sources of pod
    /// rules only, as hosts cannot tell a pod's namespace.
    pub namespaces: Vec<String>,
}

impl Zone {
    /// The address families the zone's networks belong to.
    pub fn families(&self) -> Vec<Family> {
        let mut f: Vec<Family> = self
            .networks
            .iter()
            .map(|n| match n {
                IpNet::V4(_) => Family::Ipv4,
                IpNet::V6(_) => Family::Ipv6,
            })
            .collect();
        f.sort();
        f.dedup();
        f
    }
}

/// Permission for a port (range) and protocol(s) to listen and be reached
/// from some zones.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// The rule's `name`, or `rule #N` when unnamed.
    pub name: String,
    /// Ports allowed.
    pub ports: Vec<PortRange>,
    /// Protocols allowed.
    pub protocols: Vec<Proto>,
    /// Zones whose sources may connect.
    pub zones: Vec<String>,
    /// Address families the rule intends to expose: the explicit `family`, or
    /// the families of its zones' networks.
    pub families: Vec<Family>,
    /// The service that must own the listener, if the rule is bound to one.
    pub service: Option<ServiceIdentity>,
    /// Team or person responsible.
    pub owner: Option<String>,
    /// Why the port is open.
    pub reason: Option<String>,
    /// Who approved the opening.
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_on: Option<Date>,
    /// When the approval lapses: `expires`, or `approved_on` plus
    /// `defaults.approval_validity_days`.
    pub expires: Option<Date>,
    /// Rate and connection limits on the rule's ports.
    pub limits: Option<Limits>,
    /// When set, the rule's ports stay closed until `portreeve grant` opens
    /// them, for a source inside the rule's zones, for at most `max_ttl`.
    pub grant: Option<GrantPolicy>,
    /// The rule's own lifecycle thresholds and reclaim mode, which win over
    /// its zones' and the `[lifecycle]` defaults.
    pub lifecycle: LifecycleOverride,
    /// `keep = true`: the rule's ports are never reclaimed, however long
    /// they go unused (a break-glass or seasonal service).
    pub keep: bool,
    /// Where the rule is written.
    pub location: PolicyLocation,
}

impl Rule {
    /// Whether the rule covers `port`/`proto` (ignoring its service binding).
    pub fn covers(&self, proto: Proto, port: u16) -> bool {
        self.protocols.contains(&proto) && self.ports.iter().any(|r| r.contains(port))
    }

    /// `22/tcp`, `53/tcp+udp`, `8000-8100/tcp, 9000/tcp`.
    pub fn ports_label(&self) -> String {
        let protos: Vec<&str> = self.protocols.iter().map(|p| p.as_str()).collect();
        self.ports
            .iter()
            .map(|r| format!("{r}/{}", protos.join("+")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A rule for Kubernetes pods: the rule's ports, protocols and zones, and
/// the pods they may be reached on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PodRule {
    /// Ports, protocols, zones, name and approval, as for host rules (the
    /// host-only fields — service, limits, grant, lifecycle, keep — are
    /// refused on pod rules, so they are unset).
    pub rule: Rule,
    /// The pods the rule lets its zones reach.
    pub pods: PodSelector,
}

/// The pods of a rule: `pods = { namespace = "shop", labels = { app = "db" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodSelector {
    /// Their namespace.
    pub namespace: String,
    /// Labels each pod carries, all of them; none: every pod of the
    /// namespace.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Which service a rule is bound to. Every field given must match one of the
/// processes holding the socket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceIdentity {
    /// Process name as in `/proc/PID/comm`.
    pub process: Option<String>,
    /// Absolute executable path.
    pub exe: Option<String>,
    /// systemd unit, e.g. `nginx.service` (a bare `nginx` means the service).
    pub unit: Option<String>,
    /// Container id, a prefix of it of at least 12 hex digits (as `docker
    /// ps` shows), or an LXC container name; compared case-insensitively.
    pub container: Option<String>,
}

/// The shortest container id prefix that matches: what `docker ps` shows.
const MIN_CONTAINER_PREFIX: usize = 12;

/// Whether a rule's `container` names the container `id`: the same id or LXC
/// name, or — for hex ids only — a prefix of at least
/// [`MIN_CONTAINER_PREFIX`] digits. Names never prefix-match, so `web` does
/// not allow `web-old`.
fn container_matches(want: &str, id: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    id.eq_ignore_ascii_case(want)
        || (want.len() >= MIN_CONTAINER_PREFIX
            && hex(want)
            && hex(id)
            && id
                .get(..want.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(want)))
}

/// The kernel truncates process names to 15 bytes (`TASK_COMM_LEN` − 1).
const COMM_LEN: usize = 15;

impl ServiceIdentity {
    /// Whether `p` is this service.
    pub fn matches(&self, p: &ProcessInfo) -> bool {
        let process_ok = self.process.as_deref().is_none_or(|want| {
            let want = want.get(..COMM_LEN).unwrap_or(want);
            p.name == want
        });
        let exe_ok = self
            .exe
            .as_deref()
            .is_none_or(|want| p.exe.as_deref() == Some(want));
        let unit_ok = self.unit.as_deref().is_none_or(|want| {
            p.systemd_unit
                .as_deref()
                .is_some_and(|u| u == want || u.strip_suffix(".service") == Some(want))
        });
        let container_ok = self.container.as_deref().is_none_or(|want| {
            p.container_id
                .as_deref()
                .is_some_and(|id| container_matches(want, id))
        });
        process_ok && exe_ok && unit_ok && container_ok
    }

    /// `process nginx, unit nginx.service` — for evidence lines.
    pub fn describe(&self) -> String {
        [
            ("process", &self.process),
            ("exe", &self.exe),
            ("unit", &self.unit),
            ("container", &self.container),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Ports that must never listen on a non-loopback address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BannedPorts {
    /// The ports.
    pub ports: PortRange,
    /// The protocols they are banned for.
    pub protocols: Vec<Proto>,
    /// Where the ban is written; `None` for the built-in defaults.
    pub location: Option<PolicyLocation>,
}

/// Tunables of evaluation, all with safe defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Defaults {
    /// How long an approval (`approved_on`) is valid when a rule has no
    /// explicit `expires`.
    pub approval_validity_days: u32,
    /// Warn this many days before an approval lapses.
    pub expiry_warning_days: u32,
    /// Findings below this severity are not reported.
    pub min_severity: Severity,
    /// Severity of a listener that no rule allows and the catalogue does not
    /// know.
    pub unknown_port_severity: Severity,
    /// Catalogued services at or above this severity are reported when bound
    /// to a wildcard or public address, even where a rule allows them.
    pub risky_severity: Severity,
    /// Whether to report rules that allow a port on which nothing listens.
    pub report_stale_rules: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            approval_validity_days: 365,
            expiry_warning_days: 14,
            min_severity: Severity::Info,
            unknown_port_severity: Severity::Medium,
            risky_severity: Severity::High,
            report_stale_rules: true,
        }
    }
}

/// Firewall settings: the `[enforce]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    /// What happens to traffic no rule accepts.
    pub default_action: DefaultAction,
    /// Where what the default action catches is logged, if anywhere.
    pub log: DropLog,
    /// The NFLOG group dropped packets are logged to (`log = "nflog"`).
    pub log_group: u16,
    /// At most this many NFLOG messages per second (`log = "nflog"`).
    pub log_rate_per_second: u32,
    /// Whether ICMP/ICMPv6 echo requests (ping) are answered.
    pub allow_ping: bool,
    /// Whether DHCP and DHCPv6 replies to this host's own client are let in.
    pub allow_dhcp_client: bool,
    /// A zone whose sources must keep SSH access: `apply` refuses a ruleset
    /// that would cut it (unless forced).
    pub management_zone: Option<String>,
    /// The SSH port the lock-out guard protects for the management zone.
    pub ssh_port: u16,
    /// How long the kernel remembers a port's last access.
    pub usage_retention_days: u32,
}

impl Default for Enforcement {
    fn default() -> Self {
        Enforcement {
            default_action: DefaultAction::Drop,
            log: DropLog::Nflog,
            log_group: 0,
            log_rate_per_second: 10,
            allow_ping: true,
            allow_dhcp_client: true,
            management_zone: None,
            ssh_port: 22,
            usage_retention_days: 400,
        }
    }
}

/// Where the firewall logs the packets its default action catches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DropLog {
    /// Not logged.
    Off,
    /// To an NFLOG group, for a collector such as ulogd2.
    Nflog,
    /// To the kernel log (`journalctl -k`, `kern.log`), where ufw users
    /// look for `[UFW BLOCK]`: at most [`DropLog::KERNEL_PER_MINUTE`] a
    /// minute, so a scan cannot flood it.
    Kernel,
}

impl DropLog {
    /// The kernel log's rate limit, per minute.
    pub const KERNEL_PER_MINUTE: u32 = 10;
    /// The prefix of every logged packet, in NFLOG and the kernel log.
    pub const PREFIX: &str = "portreeve drop: ";
}

/// What the firewall does with traffic nothing accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// Discard silently: scanners learn nothing, clients wait for a timeout.
    Drop,
    /// Answer with a TCP reset or ICMP unreachable: clients fail fast.
    Reject,
}

/// Rate and connection limits on a rule's ports, per new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// New connections per second to the ports, from all sources together.
    pub new_per_second: Option<u32>,
    /// New connections per second from any one source address.
    pub new_per_second_per_source: Option<u32>,
    /// Concurrent connections from all sources together.
    pub connections: Option<u32>,
    /// Concurrent connections from any one source address.
    pub connections_per_source: Option<u32>,
    /// How many connections beyond the rate a burst may bring.
    pub burst: u32,
}

impl Limits {
    /// nftables' own default burst.
    pub const DEFAULT_BURST: u32 = 5;
}

/// How a rule may be opened on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GrantPolicy {
    /// The longest a grant may last.
    pub max_ttl: jiff::SignedDuration,
}

/// `[change_control]`: the approvals a proposed policy needs before it is
/// installed. The *policy in effect*'s settings judge a proposal, so a
/// proposal cannot lower the bar for itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeControl {
    /// Whether every change of the firewall from a policy needs an approved
    /// proposal: plain `apply` as well as `apply --require-approval`, and
    /// the agent's automatic changes.
    pub required: bool,
    /// Approvals needed, each from a different identity.
    pub approvals: u32,
    /// Whether the proposer's own approval counts (false: the two-person
    /// rule).
    pub self_approval: bool,
    /// How long an approval counts after it was given: an approval older
    /// than this no longer lets a proposal be installed.
    pub approval_valid_for: jiff::SignedDuration,
}

impl ChangeControl {
    /// The default of `approval_valid_for`: 30 days.
    pub const DEFAULT_APPROVAL_VALID_FOR: jiff::SignedDuration =
        jiff::SignedDuration::from_hours(30 * 24);
}

impl Default for ChangeControl {
    fn default() -> Self {
        ChangeControl {
            required: false,
            approvals: 1,
            self_approval: false,
            approval_valid_for: ChangeControl::DEFAULT_APPROVAL_VALID_FOR,
        }
    }
}

/// What is done about a port that went unused: the `reclaim` key. Ordered
/// from the least to the most intrusive, so "the most conservative of two"
/// is their minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReclaimMode {
    /// Classify only: no finding, no change.
    Off,
    /// Report abandoned ports as findings; a person closes them.
    Recommend,
    /// Remove abandoned ports from the enforced ruleset (recorded in the
    /// ledger, undone by one command).
    Close,
}

impl ReclaimMode {
    /// The name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ReclaimMode::Off => "off",
            ReclaimMode::Recommend => "recommend",
            ReclaimMode::Close => "close",
        }
    }
}

impl std::fmt::Display for ReclaimMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle keys set at one level (a zone under `[lifecycle.zones]`, or a
/// rule); `None` inherits from the level below.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LifecycleOverride {
    /// No access for this long makes a port dormant.
    pub dormant_after: Option<jiff::SignedDuration>,
    /// No access for this long makes a port abandoned.
    pub abandoned_after: Option<jiff::SignedDuration>,
    /// What is done about abandoned ports.
    pub reclaim: Option<ReclaimMode>,
}

/// `[lifecycle]`: the defaults, and the per-zone overrides. Per-rule
/// overrides live on each [`Rule`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    /// No access for this long makes a port dormant (default 72 hours).
    pub dormant_after: jiff::SignedDuration,
    /// No access for this long makes a port abandoned (default 30 days);
    /// always longer than `dormant_after`.
    pub abandoned_after: jiff::SignedDuration,
    /// What is done about abandoned ports (default `recommend`: closing a
    /// port is something a policy opts into).
    pub reclaim: ReclaimMode,
    /// Overrides for ports a rule allows to a zone, by zone name; every name
    /// is a zone of `[zones]`.
    pub zones: std::collections::BTreeMap<String, LifecycleOverride>,
}

impl Lifecycle {
    /// The default `dormant_after`: the 72 hours the brief suggests.
    pub const DEFAULT_DORMANT_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(72);
    /// The default `abandoned_after`: 30 days.
    pub const DEFAULT_ABANDONED_AFTER: jiff::SignedDuration =
        jiff::SignedDuration::from_hours(30 * 24);

    /// The settings for a port that `rule` allows to `zone`: each key comes
    /// from the rule if it sets it, else from the zone's override, else from
    /// the `[lifecycle]` defaults. `keep` comes from the rule only. A port no
    /// rule allows gets the defaults (`rule` and `zone` both `None`).
    pub fn settings(&self, rule: Option<&Rule>, zone: Option<&str>) -> LifecycleSettings {
        let zone = zone
            .and_then(|z| self.zones.get(z))
            .copied()
            .unwrap_or_default();
        let rule_override = rule.map(|r| r.lifecycle).unwrap_or_default();
        LifecycleSettings {
            dormant_after: rule_override
                .dormant_after
                .or(zone.dormant_after)
                .unwrap_or(self.dormant_after),
            abandoned_after: rule_override
                .abandoned_after
                .or(zone.abandoned_after)
                .unwrap_or(self.abandoned_after),
            reclaim: rule_override
                .reclaim
                .or(zone.reclaim)
                .unwrap_or(self.reclaim),
            keep: rule.is_some_and(|r| r.keep),
        }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            dormant_after: Self::DEFAULT_DORMANT_AFTER,
            abandoned_after: Self::DEFAULT_ABANDONED_AFTER,
            reclaim: ReclaimMode::Recommend,
            zones: std::collections::BTreeMap::new(),
        }
    }
}

/// Lifecycle settings resolved for one (rule, zone): what
/// [`Lifecycle::settings`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LifecycleSettings {
    /// No access for this long makes a port dormant.
    pub dormant_after: jiff::SignedDuration,
    /// No access for this long makes a port abandoned.
    pub abandoned_after: jiff::SignedDuration,
    /// What is done about abandoned ports.
    pub reclaim: ReclaimMode,
    /// Never reclaim.
    pub keep: bool,
}

/// What `[detection]` says is done when a source scans the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanAction {
    /// Nothing is detected (the default: detection is opted into).
    #[default]
    Off,
    /// Detections are recorded and alerted on; nobody is blocked.
    Alert,
    /// Detected scanners are also blocked for `block_ttl`.
    Block,
}

/// `[detection]`: scan detection and automatic blocking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// What is done about a detected scan.
    pub scan: ScanAction,
    /// How long an automatic block lasts; at most `max_block_ttl`.
    pub block_ttl: jiff::SignedDuration,
    /// The longest block, automatic or manual, this policy allows.
    pub max_block_ttl: jiff::SignedDuration,
    /// Zones whose sources are only ever alerted on, never blocked (the
    /// management zone and the operator's own session are never blocked
    /// whatever this says). Every name is a zone of `[zones]`.
    pub never_block: Vec<String>,
    /// Kernel tier: a source that tries this many distinct closed ports
    /// within `window` is a scanner; the next closed port it tries is
    /// blocked (`scan = "block"`) or counted as a detection (`"alert"`).
    pub ports: u32,
    /// Kernel tier: the window the `ports` are counted in, a leaky bucket
    /// that drains `ports` per `window`.
    pub window: jiff::SignedDuration,
    /// The NFLOG group the scan chain logs every probe it counts to, for
    /// the agent's tier; never the group of the drop log.
    pub log_group: u16,
}

impl Detection {
    /// The default `block_ttl`.
    pub const DEFAULT_BLOCK_TTL: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);
    /// The default `max_block_ttl`: one day.
    pub const DEFAULT_MAX_BLOCK_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
    /// The default `ports`: four closed ports are answered, the fifth
    /// blocks. Zeek (15 ports in 5 min), Snort's portscan preprocessor (15
    /// in 90 s at medium sensitivity) and CrowdSec (15, leaky bucket) wait
    /// for 15 because they watch every port, open ones included, on hosts
    /// and networks with no policy. Here only ports no rule allows count —
    /// a legitimate client reaches its service without touching one, and
    /// one that mistypes a port once or twice stays well under four — and
    /// Threshold Random Walk (Jung et al., 2004) finds a scanner in 4–5
    /// failed attempts with bounded false positives. Four meets the target
    /// "a fast scan is answered at most 4 times before the block".
    pub const DEFAULT_PORTS: u32 = 4;
    /// The default `window`: a minute. Long enough to catch nmap's default
    /// and faster timings (-T3 to -T5) whole; a slower scan is the agent
    /// tier's to catch.
    pub const DEFAULT_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
    /// The default `log_group`: apart from the drop log's default, 0.
    pub const DEFAULT_LOG_GROUP: u16 = 2;
}

impl Default for Detection {
    fn default() -> Self {
        Detection {
            scan: ScanAction::Off,
            block_ttl: Self::DEFAULT_BLOCK_TTL,
            max_block_ttl: Self::DEFAULT_MAX_BLOCK_TTL,
            never_block: Vec::new(),
            ports: Self::DEFAULT_PORTS,
            window: Self::DEFAULT_WINDOW,
            log_group: Self::DEFAULT_LOG_GROUP,
        }
    }
}

/// A port circuit breaker: `[[breaker]]`. When `measure` stays above
/// `above` for `trip_for`, its `action` is applied; when it then stays
/// below `recover_below` for `recover_for`, the policy as written is
/// applied again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breaker {
    /// Its name, for `portreeve breaker trip|reset NAME`.
    pub name: String,
    /// What it watches.
    pub measure: Measure,
    /// It trips above this…
    pub above: f64,
    /// …held this long.
    pub trip_for: jiff::SignedDuration,
    /// What a trip does.
    pub action: BreakerAction,
    /// It recovers below this (at most `above`)…
    pub recover_below: f64,
    /// …held this long.
    pub recover_for: jiff::SignedDuration,
    /// No automatic trip this long after a recovery.
    pub cooldown: jiff::SignedDuration,
    /// At most this many automatic trips in any hour.
    pub max_trips_per_hour: u32,
    /// Where it is written.
    pub location: PolicyLocation,
}

/// What a breaker watches, as the agent measures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "measure", rename_all = "snake_case")]
pub enum Measure {
    /// The host's CPU use, in percent, from `/proc/stat`.
    CpuPercent,
    /// The host's memory in use, in percent, from `/proc/meminfo`.
    MemoryPercent,
    /// New connections per second to a port, from the kernel's counters.
    NewConnectionsPerSecond {
        /// The port.
        port: u16,
        /// Its protocol.
        protocol: Proto,
    },
    /// Established connections to a port.
    EstablishedConnections {
        /// The port.
        port: u16,
    },
    /// Listen-queue (SYN backlog) overflows per second, host-wide.
    SynBacklogOverflowsPerSecond,
}

/// What a tripped breaker does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BreakerAction {
    /// Closes the named rules' ports.
    Close {
        /// The rules.
        rules: Vec<String>,
    },
    /// Multiplies the named rules' limits by `factor` (below 1).
    Tighten {
        /// The rules.
        rules: Vec<String>,
        /// The factor.
        factor: f64,
    },
    /// Sends new connections to `port` on to the pool's members.
    OverflowTo {
        /// The port whose new connections move.
        port: u16,
        /// The backup pool.
        pool: Vec<std::net::SocketAddr>,
    },
}
