//! The command-line interface, declared once: clap parses it, and the same
//! definition generates shell completions and man pages.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use portreeve_core::{Proto, Severity};

const AFTER_HELP: &str = "\
Exit status:
  0  success (no finding at or above --fail-on)
  1  findings at or above --fail-on; for `ledger verify`, verification failed
  2  usage error or invalid input (nothing was changed)
  3  operational error (e.g. the kernel refused a request)
With --format nagios, `check` exits with the plugin state instead (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN). A reader closing the pipe early (`| head`) is not an error.

A FILE that is read may be `-`, standard input.

Documentation: docs/ in the source tree, or `man portreeve`.";

/// Port governance for Linux servers: inventory, judge, enforce and prove
/// what listens on your hosts.
#[derive(Debug, Parser)]
#[command(name = "portreeve", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where portreeve keeps its state [default: $PORTREEVE_STATE_DIR, else
    /// /var/lib/portreeve as root, else $XDG_DATA_HOME/portreeve]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Log format on standard error: `auto` is `journal` when standard
    /// error is systemd's journal stream, human-readable on a terminal and
    /// JSON lines otherwise
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on standard error
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Record changes as made by NAME [default: the user behind sudo, else
    /// the user who logged in]
    #[arg(long = "as", global = true, value_name = "NAME")]
    pub actor: Option<String>,

    /// Colour tables on standard output: `auto` only when it is a terminal
    /// and NO_COLOR is unset; `always` even in a pipe or with NO_COLOR
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Leave out the header line of tables (for `cut`, `awk`, `while read`)
    #[arg(long, global = true)]
    pub no_headers: bool,
}

/// When to colour standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always, whatever standard output is.
    Always,
    /// Never.
    Never,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Journal lines on systemd's journal stream, human-readable on a
    /// terminal, JSON lines otherwise.
    Auto,
    /// Human-readable text.
    Human,
    /// One JSON object per line.
    Json,
    /// One `<N>message key=value …` line per event, `N` its syslog
    /// priority, for the systemd journal (which adds the time).
    Journal,
}

/// portreeve's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every listening TCP and bound UDP socket with its owner
    Inventory(InventoryArgs),
    /// Judge this host's listeners against a policy and report findings
    Check(CheckArgs),
    /// Write, validate and show policy files
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print the firewall ruleset the policy compiles to
    Render(RenderArgs),
    /// Show what `apply` would change in the firewall, and what else decides traffic
    Plan(PlanArgs),
    /// Install the policy's ruleset in one atomic nftables transaction
    Apply(ApplyArgs),
    /// Replay recorded use against a policy: what it would block, open, clear and raise
    Simulate(SimulateArgs),
    /// Recommend a least-privilege policy from recorded use (drop unused rules, narrow sources), or NetworkPolicies from observed flows (--kubernetes)
    Recommend(RecommendArgs),
    /// Confirm a ruleset applied with --confirm-within, keeping it
    Confirm(ListArgs),
    /// Restore the ruleset that was live before the current one
    Rollback(RollbackArgs),
    /// List every ruleset generation applied on this host
    Generations(ListArgs),
    /// Open an on-demand port to a source for a limited time
    Grant(GrantArgs),
    /// Close a grant before its time
    Revoke(RevokeArgs),
    /// List open grants with the time they have left
    Grants(ListArgs),
    /// Show when each allowed port last received a new connection, or who uses it (--by-source)
    Usage(UsageArgs),
    /// Drop every packet from a source for a limited time
    Block(BlockArgs),
    /// End a block before its time
    Unblock(UnblockArgs),
    /// List blocked sources with the time they have left
    Blocks(ListArgs),
    /// Trip or reset a port circuit breaker by hand
    #[command(subcommand)]
    Breaker(BreakerCommand),
    /// List the policy's circuit breakers: state, last trip, the latest reading
    Breakers(ListArgs),
    /// List the port scans the agent detected and what it did about each
    Detections(ListArgs),
    /// List the packet captures the agent made of detected scanners
    Captures(ListArgs),
    /// Roll back an unconfirmed generation at its deadline (started by `apply`)
    #[command(hide = true)]
    Watchdog {
        /// The generation to watch
        #[arg(long)]
        generation: u64,
    },
    /// Scan hosts from the outside: which ports answer, and what answers
    Scan(ScanArgs),
    /// Watch listeners and port usage continuously, record drift, serve Prometheus metrics
    Agent(AgentArgs),
    /// List the listener drift the agent recorded, newest first
    Drift(DriftArgs),
    /// Receive NetFlow v5/v9, IPFIX and sFlow, and aggregate them per server port
    Collect(CollectArgs),
    /// Flow-telemetry tools
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Read other tools' records into portreeve
    #[command(subcommand)]
    Import(ImportCommand),
    /// Find port scans in recorded traffic: a Zeek conn.log or a packet capture
    Detect(DetectArgs),
    /// Each listening or allowed port's state (active, dormant, abandoned), last access and recommended action
    Lifecycle(LifecycleArgs),
    /// Close abandoned ports the policy says to reclaim (with --apply), or reopen one (--undo)
    Reclaim(ReclaimArgs),
    /// The signed, tamper-evident record of every change: log, verify, prove, export
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// This host's report: inventory, findings, exposure by zone, lifecycle, grants, blocks and the verified ledger, as one HTML page, a PDF or JSON
    Report(ReportArgs),
    /// Evidence packs for auditors: the ledger, its key, inclusion proofs and the policy in effect
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Send findings, drift, changes and detections to a SIEM: ECS JSON lines, a Splunk HTTP Event Collector, or RFC 5424 syslog
    Export(ExportArgs),
    /// Create and list the identities that propose and approve policy changes
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Propose a policy change; it needs approval before `apply --require-approval`
    Propose(ProposeArgs),
    /// Approve a proposed policy change (as an identity other than its proposer)
    Approve(ApproveArgs),
    /// List policy proposals with their approvals
    Proposals(ListArgs),
    /// Show the built-in risk catalogue of well-known services
    Catalogue(CatalogueArgs),
    /// Check what portreeve can see and where it keeps things
    Doctor(DoctorArgs),
    /// Serve the fleet API from a SQLite or PostgreSQL database; manage its tokens
    Server(ServerArgs),
    /// Kubernetes clusters read from their manifests: who can reach which pod on which port
    #[command(subcommand)]
    K8s(K8sCommand),
    /// Cloud firewalls read from their provider's API output: risky and wide openings
    #[command(subcommand)]
    Cloud(CloudCommand),
    /// For each port the agent watched (or in an events file), the chance of a connection in the next 24 hours and why
    Predict(PredictArgs),
    /// Hours of the agent's history (or of an events file) whose connection counts are implausible for the port at that time
    Anomalies(AnomaliesArgs),
    /// Known vulnerabilities (OSV advisories) of the packages that own listening sockets
    Vulns(VulnsArgs),
    /// Print a shell completion script
    Completions {
        /// Shell to generate completions for
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page, or write every man page to a directory
    Man {
        /// Write portreeve.1 and one page per subcommand here
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
}

/// Which sockets to read.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Read every network namespace on the host (containers, `ip netns`), not
    /// only the current one; needs root
    #[arg(long)]
    pub all_netns: bool,
}

/// `portreeve inventory`.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Namespaces to read.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// List only the network namespace with this name (`host`, or an `ip
    /// netns` name); repeatable. Reads every namespace, so needs root
    #[arg(long, value_name = "NAME")]
    pub netns: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Output formats of the listing commands (`inventory`, `catalogue`, `doctor`)
/// and of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people
    Table,
    /// The documented JSON schema (docs/json.md)
    Json,
}

/// `portreeve check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Judge against this candidate policy file [default: $PORTREEVE_POLICY,
    /// else the policy in effect (the one last applied), else
    /// /etc/portreeve/policy.toml (as root) or
    /// $XDG_CONFIG_HOME/portreeve/policy.toml if it exists, else the built-in
    /// baseline]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Judge a saved `inventory --format json` file instead of this host
    #[arg(long, value_name = "FILE", conflicts_with = "all_netns")]
    pub inventory: Option<PathBuf>,
    /// Namespaces to read.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// How the findings are shown, and when the exit status is 1.
    #[command(flatten)]
    pub shown: ShownArgs,
    /// Also scan TARGET (this host's address as the network sees it) from
    /// here, identify what answers, and join it with what listens and what
    /// the policy allows
    #[arg(long, value_name = "TARGET")]
    pub scan: Option<String>,
    /// With --scan: ports to probe [default: every listening and allowed TCP
    /// port, plus the top 1000]
    #[arg(
        long,
        value_name = "PORTS",
        allow_hyphen_values = true,
        requires = "scan"
    )]
    pub scan_ports: Option<String>,
    /// With --scan: half-open SYN probes (needs root)
    #[arg(long, requires = "scan")]
    pub scan_syn: bool,
    /// Append a summary of this check (findings per severity, digest of the
    /// findings) to the ledger
    #[arg(long)]
    pub record: bool,
}

/// How a judging command — `check`, `k8s check`, `cloud check`, `vulns`
/// — shows its findings, and when it fails: the options all four share,
/// defined once so that they read and behave alike.
#[derive(Debug, Clone, Copy, Args)]
pub struct ShownArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Exit 1 when a finding is at or above this severity
    #[arg(long, value_name = "SEVERITY", value_parser = parse_fail_on, default_value = "never")]
    pub fail_on: FailOn,
    /// In table output, show evidence, rationale and remediation of each finding
    #[arg(long)]
    pub details: bool,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Aligned columns for people
    Table,
    /// The documented JSON schema (docs/json.md)
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards
    Sarif,
    /// A Nagios/Icinga/Checkmk plugin status line with perfdata
    Nagios,
    /// PRTG's EXE/Script and SSH Script Advanced sensor JSON, with channel
    /// limits (docs/findings.md)
    Prtg,
    /// Checkmk local-check lines (docs/findings.md)
    Checkmk,
}

/// The `--fail-on` threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Never fail because of findings.
    Never,
    /// Fail on findings at or above this severity.
    AtLeast(Severity),
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    if s.eq_ignore_ascii_case("never") {
        return Ok(FailOn::Never);
    }
    s.parse::<Severity>().map(FailOn::AtLeast).map_err(|_| {
        format!("`{s}` is not a severity: use never, info, low, medium, high or critical")
    })
}

/// `portreeve policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a starter policy from this host's listeners, each a commented rule to review
    Init(PolicyInitArgs),
    /// Check a policy file and report every error with its location
    Validate {
        /// Policy file
        file: PathBuf,
        /// Output format: `json` writes the errors as a document on standard output
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Print the built-in baseline policy
    Baseline,
}

/// `portreeve policy init`.
#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// Write here instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Namespaces to read.
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// Commands that install a policy, or show what installing it would do.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The candidate policy file [default: $PORTREEVE_POLICY, else
    /// /etc/portreeve/policy.toml (as root) or
    /// $XDG_CONFIG_HOME/portreeve/policy.toml if it exists, else the policy
    /// in effect, else the built-in baseline]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `portreeve plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Which policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Exit 1 when applying would change the firewall, 0 when it would
    /// not (errors stay 2 and 3), as `git diff --exit-code` does
    #[arg(long)]
    pub exit_code: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Rulesets `render` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderTarget {
    /// An nftables table (what `apply` installs)
    Nftables,
    /// iptables-restore and ipset input, for hosts without nftables
    Iptables,
    /// An AWS security group: `aws ec2 create-security-group` and `authorize-security-group-ingress` --cli-input-json inputs
    Aws,
    /// The same security group as a Terraform JSON `aws_security_group` resource
    AwsTerraform,
    /// Google Compute Engine firewall rules: `firewalls.insert` request bodies
    Gcp,
    /// Kubernetes NetworkPolicies (YAML) for the rules with `pods`, a default deny per namespace
    Kubernetes,
}

/// `portreeve render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Which policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Ruleset language
    #[arg(long, value_enum, default_value_t = RenderTarget::Nftables)]
    pub target: RenderTarget,
}

/// `portreeve apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Which policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Roll back automatically unless `portreeve confirm` arrives within this long (e.g. 60s, 5m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub confirm_within: Option<jiff::SignedDuration>,
    /// With --confirm-within, stay until the ruleset is confirmed or rolled back
    #[arg(long, requires = "confirm_within")]
    pub wait: bool,
    /// Apply even if the ruleset would cut the current SSH session or the management zone
    #[arg(long)]
    pub force: bool,
    /// Apply only a policy that an approved proposal holds, byte for byte
    #[arg(long)]
    pub require_approval: bool,
    /// Apply the policy of this approved proposal (implies --require-approval)
    #[arg(long, value_name = "ID", conflicts_with = "policy")]
    pub proposal: Option<u64>,
    /// Why; recorded in the ledger
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Restore this generation instead of the previous one (0 removes portreeve's table)
    #[arg(long, value_name = "N")]
    pub to: Option<u64>,
    /// Why; recorded in the ledger
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Commands whose only option is the output format: a table (or text)
/// for people, or JSON.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The candidate policy file to replay the recorded use against
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Only use last seen at or after this time: 2026-11-29, 2026-11-29T08:00:00Z, or an age (30d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, default_value = "30d")]
    pub since: jiff::Timestamp,
    /// Replay these JSON lines of recorded use (as `usage --by-source --format json`
    /// lists them) instead of the agent's record
    #[arg(long, value_name = "FILE")]
    pub usage: Option<PathBuf>,
    /// Judge every pair with the lock-out guard's per-pair evaluation instead
    /// of the index (bench/simulate.sh compares the two)
    #[arg(long, hide = true)]
    pub naive: bool,
    /// Probe every recorded pair for real in a disposable replica of this host in network
    /// namespaces, under the ruleset now and under the candidate (needs root, ip and nft)
    #[arg(long, conflicts_with = "naive")]
    pub sandbox: bool,
    /// Refuse --sandbox when more pairs than this were recorded in the window
    #[arg(
        long,
        value_name = "N",
        requires = "sandbox",
        default_value_t = portreeve_app::simulate::sandbox::DEFAULT_MAX_PAIRS
    )]
    pub sandbox_max_pairs: usize,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve recommend`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("observed").args(["zeek", "flows", "pcap"])))]
pub struct RecommendArgs {
    /// Start from this policy file [default: as `check` chooses: the policy in effect, …];
    /// with --kubernetes, a policy whose zones stand for outside sources
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Propose Kubernetes NetworkPolicies from observed flows between pod addresses instead
    /// (docs/k8s.md): needs --manifests and one of --zeek, --flows, --pcap
    #[arg(long, requires_all = ["manifests", "observed"], conflicts_with_all = ["usage", "aggregate", "aggregate6"])]
    pub kubernetes: bool,
    /// With --kubernetes: manifests giving the pods and their addresses (files, directories, `-`)
    #[arg(long, value_name = "PATH", num_args = 1.., requires = "kubernetes")]
    pub manifests: Vec<PathBuf>,
    /// With --kubernetes: the observed flows as a Zeek conn.log (`-` for standard input)
    #[arg(long, value_name = "FILE", requires = "kubernetes")]
    pub zeek: Option<PathBuf>,
    /// With --kubernetes: the observed flows as `nfdump -o csv` prints them
    #[arg(long, value_name = "FILE", requires = "kubernetes")]
    pub flows: Option<PathBuf>,
    /// With --kubernetes: the observed flows as a pcap or pcapng capture
    #[arg(long, value_name = "FILE", requires = "kubernetes")]
    pub pcap: Option<PathBuf>,
    /// Only use last seen at or after this time: 2026-11-29, 2026-11-29T08:00:00Z, or an age (30d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, default_value = "30d")]
    pub since: jiff::Timestamp,
    /// Read these JSON lines of recorded use (as `usage --by-source --format json`
    /// lists them) instead of the agent's record
    #[arg(long, value_name = "FILE")]
    pub usage: Option<PathBuf>,
    /// Aggregate observed IPv4 sources at this prefix length
    #[arg(long, value_name = "BITS", default_value_t = 24, value_parser = clap::value_parser!(u8).range(0..=32))]
    pub aggregate: u8,
    /// Aggregate observed IPv6 sources at this prefix length
    #[arg(long, value_name = "BITS", default_value_t = 64, value_parser = clap::value_parser!(u8).range(0..=128))]
    pub aggregate6: u8,
    /// Output format [default: toml; yaml with --kubernetes]
    #[arg(long, value_enum)]
    pub format: Option<RecommendFormat>,
}

/// What `recommend` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecommendFormat {
    /// The recommended policy file
    Toml,
    /// A unified diff from the policy it started from
    Diff,
    /// With --kubernetes: the NetworkPolicies as YAML documents
    Yaml,
    /// With --kubernetes: the NetworkPolicies as one JSON `List`
    Json,
}

/// `portreeve grant`.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// Port, optionally with protocol: 9229, 9229/tcp
    #[arg(value_name = "PORT[/PROTOCOL]", value_parser = parse_port_proto)]
    pub port: (u16, Option<Proto>),
    /// Source address or network to open it to
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub from: ipnet::IpNet,
    /// How long (e.g. 90s, 30m, 4h); at most the rule's max_ttl
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub ttl: jiff::SignedDuration,
    /// Why; recorded with the grant
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Port, optionally with protocol (default tcp)
    #[arg(value_name = "PORT[/PROTOCOL]", value_parser = parse_port_proto)]
    pub port: (u16, Option<Proto>),
    /// The source the grant was for
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub from: ipnet::IpNet,
    /// Why; recorded in the ledger
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve block`.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// The source to block: an address or a network
    #[arg(value_name = "ADDR|CIDR", value_parser = parse_cidr)]
    pub source: ipnet::IpNet,
    /// How long (e.g. 90s, 30m, 4h); default the policy's [detection] block_ttl, at most its max_block_ttl
    #[allow(
        rustdoc::broken_intra_doc_links,
        reason = "this is --help's text, where [detection] names the policy's table"
    )]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub ttl: Option<jiff::SignedDuration>,
    /// Why; recorded with the block
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve breaker …`.
#[derive(Debug, Subcommand)]
pub enum BreakerCommand {
    /// Trip a breaker now; it stays tripped until `breaker reset`
    Trip(BreakerArgs),
    /// Reset a tripped breaker: the policy as written applies again
    Reset(BreakerArgs),
}

/// `portreeve breaker trip|reset`.
#[derive(Debug, Args)]
pub struct BreakerArgs {
    /// The breaker, as `portreeve breakers` lists it
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Why; recorded in the ledger
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve unblock`.
#[derive(Debug, Args)]
pub struct UnblockArgs {
    /// The blocked source, as `portreeve blocks` lists it
    #[arg(value_name = "ADDR|CIDR", value_parser = parse_cidr)]
    pub source: ipnet::IpNet,
    /// Why; recorded in the ledger
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

fn parse_duration_arg(s: &str) -> Result<jiff::SignedDuration, String> {
    portreeve_policy::parse_duration(s)
        .filter(|d| d.is_positive())
        .ok_or_else(|| format!("`{s}` is not a duration: write e.g. 90s, 30m, 4h or 1h30m"))
}

fn parse_port_proto(s: &str) -> Result<(u16, Option<Proto>), String> {
    let (port, proto) = match s.split_once('/') {
        Some((p, proto)) => (p, Some(proto.parse::<Proto>().map_err(|e| e.to_string())?)),
        None => (s, None),
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((p, proto)),
        _ => Err(format!("`{port}` is not a port: use 1-65535")),
    }
}

fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    portreeve_enforce::grants::parse_source(s)
        .ok_or_else(|| format!("`{s}` is not an address or CIDR"))
}

/// `portreeve scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Addresses, CIDRs (10.0.0.0/24), ranges (10.0.0.1-20), host names, IPv6
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read more targets from FILE, one or more per line (# starts a comment)
    #[arg(long, value_name = "FILE")]
    pub target_file: Option<PathBuf>,
    /// Leave these targets out (comma-separated, repeatable)
    #[arg(long, value_name = "TARGETS", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Ports: 22,80,1000-2000, or - for all 65,535 (default: --top 1000)
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        allow_hyphen_values = true,
        conflicts_with = "top"
    )]
    pub ports: Option<String>,
    /// The N most common ports, by portreeve's own ranking
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub top: Option<u32>,
    /// Half-open SYN probes through raw sockets (needs root); faster than connecting
    #[arg(long)]
    pub syn: bool,
    /// Scan UDP ports (only UDP, unless --tcp or --syn asks for TCP too); the
    /// default port list is then portreeve's UDP ranking
    #[arg(long)]
    pub udp: bool,
    /// With --udp: scan TCP ports as well
    #[arg(long, requires = "udp")]
    pub tcp: bool,
    /// Identify what answers on each open port: service, product, version,
    /// CPE, TLS certificate, and whether it lets anyone in without credentials
    #[arg(long)]
    pub service: bool,
    /// With --service: the deadline for each connection, reply and TLS
    /// handshake (default 2s); each probe ends within 4×, and each port
    /// within 12×, this, whatever the service sends
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg, requires = "service")]
    pub service_timeout: Option<jiff::SignedDuration>,
    /// With --udp: do not wait out hosts' ICMP rate limits (much faster on
    /// Linux hosts; closed ports whose port-unreachable was suppressed show
    /// as open|filtered)
    #[arg(long, requires = "udp")]
    pub defeat_icmp_ratelimit: bool,
    /// Retransmissions of an unanswered probe before a port counts as filtered
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_retries: u32,
    /// The longest wait for an answer (e.g. 500ms, 2s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub max_rtt: Option<jiff::SignedDuration>,
    /// At most N probes per second
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// List every port, closed and filtered ones included
    #[arg(long)]
    pub all: bool,
    /// Read an nmap XML scan (`nmap -oX`) instead of scanning, and render it
    #[arg(long, value_name = "FILE", conflicts_with_all = ["targets", "target_file", "syn", "udp", "service"])]
    pub import: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// Per-host tables for people
    Table,
    /// One portreeve.scan document (docs/json.md)
    Json,
    /// One JSON object per port, streamed as results arrive
    Jsonl,
    /// nmap-compatible XML (as `nmap -oX` writes; ndiff and other nmap tools read it)
    Xml,
    /// nmap's greppable format (as `nmap -oG`)
    Grepable,
}

/// `portreeve agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Configuration file [default: /etc/portreeve/agent.toml as root, if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time between readings of the listening sockets (e.g. 1s, 500ms)
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Time between lifecycle plans and the reclaims they ask for (e.g. 10s)
    #[arg(long, value_name = "DURATION")]
    pub lifecycle_interval: Option<String>,
    /// Serve Prometheus metrics here (ADDRESS:PORT), or `off`
    #[arg(long, value_name = "ADDRESS")]
    pub metrics: Option<String>,
    /// Do not count new connections from conntrack events
    #[arg(long)]
    pub no_conntrack: bool,
    /// Read every network namespace on the host, not only the agent's own
    #[arg(long)]
    pub all_netns: bool,
    /// Also receive NetFlow v5/v9 and IPFIX here (ADDRESS:PORT; repeatable)
    #[arg(long, value_name = "ADDRESS")]
    pub netflow: Vec<std::net::SocketAddr>,
    /// Also receive sFlow v5 here (ADDRESS:PORT; repeatable)
    #[arg(long, value_name = "ADDRESS")]
    pub sflow: Vec<std::net::SocketAddr>,
    /// Report to the fleet server at this URL (e.g. http://10.0.0.5:8440)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Enroll with the server using this token of role enroll (first start only)
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PORTREEVE_ENROLL_TOKEN",
        hide_env_values = true
    )]
    pub enroll_token: Option<String>,
    /// The name this host enrolls under [default: the kernel's host name]
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
}

/// `portreeve usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// List new connections per source address and port, as the agent recorded them
    #[arg(long)]
    pub by_source: bool,
    /// With --by-source: only sources last seen at or after this time: 2026-11-29, or an age (24h, 30d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, requires = "by_source")]
    pub since: Option<jiff::Timestamp>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Only events at or after this time: 2026-11-29, 2026-11-29T08:00:00Z, or an age (24h, 7d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub since: Option<jiff::Timestamp>,
    /// At most this many events
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Receive NetFlow v5/v9 and IPFIX here (ADDRESS:PORT; repeatable)
    #[arg(long, value_name = "ADDRESS")]
    pub netflow: Vec<String>,
    /// Receive sFlow v5 here (ADDRESS:PORT; repeatable)
    #[arg(long, value_name = "ADDRESS")]
    pub sflow: Vec<String>,
    /// How often aggregates are stored
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_span)]
    pub flush: std::time::Duration,
    /// Stop after this long (default: until SIGTERM or Ctrl-C)
    #[arg(long, value_name = "DURATION", value_parser = parse_span)]
    pub duration: Option<std::time::Duration>,
    /// Accept datagrams only from these exporters (CIDR or address;
    /// repeatable; default: any)
    #[arg(long, value_name = "CIDR")]
    pub exporter: Vec<String>,
    /// Server ports aggregated in memory at most (about 512 bytes each);
    /// past it the least recently used are stored early
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_keys: u64,
    /// Do not write the aggregates to the agent's store
    #[arg(long)]
    pub no_store: bool,
    /// Output format of the aggregates printed at the end
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// How long `collect` runs, and how often it stores.
fn parse_span(s: &str) -> Result<std::time::Duration, String> {
    portreeve_policy::parse_duration(s)
        .filter(|d| d.is_positive())
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .ok_or_else(|| format!("`{s}` is not a duration: write e.g. 5s, 1m or 2h"))
}

/// `portreeve flows …`.
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Print the flow records in a capture of NetFlow/IPFIX/sFlow datagrams
    Decode(DecodeArgs),
}

/// Output formats of `flows decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowsFormat {
    /// One JSON object per record
    Jsonl,
    /// One JSON array
    Json,
}

/// `portreeve flows decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// A pcap or pcapng capture of the exporters' UDP datagrams
    #[arg(long, value_name = "FILE")]
    pub pcap: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = FlowsFormat::Jsonl)]
    pub format: FlowsFormat,
}

/// `portreeve import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A Zeek conn.log (TSV or JSON), into the flow aggregates
    Zeek(ImportZeekArgs),
}

/// `portreeve import zeek`.
#[derive(Debug, Args)]
pub struct ImportZeekArgs {
    /// The conn.log
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Server ports held in memory at most (about 600 bytes each); past it
    /// the least recently used are set aside on disk, not lost
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_keys: u64,
    /// Do not write the aggregates to the agent's store
    #[arg(long)]
    pub no_store: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve detect`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("recording").required(true).args(["zeek", "pcap", "flows"])))]
pub struct DetectArgs {
    /// A Zeek conn.log (TSV or JSON lines; `-` for standard input)
    #[arg(long, value_name = "FILE")]
    pub zeek: Option<PathBuf>,
    /// A pcap or pcapng capture (`-` for standard input)
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Flow records as `nfdump -o csv` prints them (`-` for standard input)
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// The detector: Threshold Random Walk, or a fixed-threshold baseline
    #[arg(long, value_enum, default_value_t = DetectorChoice::Trw)]
    pub detector: DetectorChoice,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// The detectors `portreeve detect` runs (docs/detection.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectorChoice {
    /// Threshold Random Walk over first-contact outcomes
    Trw,
    /// 15 distinct failed ports within 5 minutes
    ZeekLike,
    /// A leaky bucket of 15 failed ports, leaking one per 5 seconds
    CrowdsecLike,
}

/// `portreeve lifecycle`.
#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve reclaim`: always from the policy in effect.
#[derive(Debug, Args)]
pub struct ReclaimArgs {
    /// Close the ports (without it, only show what would be closed)
    #[arg(long, conflicts_with = "undo")]
    pub apply: bool,
    /// Reopen the port of reclaim ID
    #[arg(long, value_name = "ID")]
    pub undo: Option<i64>,
    /// Apply even if the ruleset would cut the current SSH session or the management zone
    #[arg(long)]
    pub force: bool,
    /// Why (with --undo); recorded in the ledger
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve ledger …`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Show the recorded history, oldest first
    Log(LedgerLogArgs),
    /// Recompute the Merkle tree and check every entry and every checkpoint
    Verify(LedgerVerifyArgs),
    /// Print an inclusion proof (--index) or a consistency proof (--from/--to) as JSON
    Prove(ProveArgs),
    /// Write every entry and checkpoint to one file, to verify offline
    Export {
        /// Write here instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Sign and print a checkpoint of the ledger as it is now
    Checkpoint,
    /// Countersign the latest checkpoint as a witness, after checking that it
    /// is consistent with the last one this witness signed
    Cosign(CosignArgs),
    /// Print the log's public key, for auditors and witnesses
    Key,
    /// Create a witness (cosigner) key pair
    WitnessKey(WitnessKeyArgs),
}

/// `portreeve report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format: one self-contained HTML page, a PDF printed from it by
    /// headless Chromium, or the JSON document (docs/schema/report.v1.json)
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of standard output (required for PDF)
    #[arg(short, long, value_name = "FILE", required_if_eq("format", "pdf"))]
    pub output: Option<PathBuf>,
    /// Only ledger entries, grants, blocks, reclaims, recorded checks and
    /// connections (with --server: drift events and the server's ledger
    /// entries) from this time on (2026-11-29, 2026-11-29T08:00:00Z, or an
    /// age such as 30d) [default: everything recorded]
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub since: Option<jiff::Timestamp>,
    /// Also assess the host (with --server, each host and the fleet)
    /// against this compliance framework's controls (pci-dss, mlps2, cis,
    /// nist-800-53; docs/compliance.md)
    #[arg(long, value_name = "FRAMEWORK")]
    pub framework: Option<portreeve_app::compliance::Framework>,
    /// The fleet's report instead of this host's, from the server's API
    #[command(flatten)]
    pub fleet: FleetServerArgs,
    /// With --server: verify the server's ledger with this key (its text,
    /// or a file holding it: the server's STATE/server/ledger/log.pub)
    /// [default: the key the server states, which the report says]
    #[arg(long, value_name = "KEY", requires = "server")]
    pub log_key: Option<String>,
    /// Also judge these Kubernetes manifests (files or directories, as `k8s
    /// check --manifests`) and include their findings
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "server")]
    pub k8s_manifests: Vec<PathBuf>,
    /// Also judge this `aws ec2 describe-security-groups` output (as `cloud
    /// check --aws`) and include its findings
    #[arg(long, value_name = "FILE", conflicts_with = "server")]
    pub aws: Option<PathBuf>,
    /// Also judge the packages of this host's listeners against OSV
    /// advisories (as `vulns`) and include their findings
    #[arg(long, conflicts_with = "server")]
    pub vulns: bool,
    /// The advisories for --vulns: an OSV zip archive, a directory or one
    /// OSV JSON file (implies --vulns) [default: those `vulns update`
    /// imported]
    #[arg(long, value_name = "PATH", conflicts_with = "server")]
    pub osv: Option<PathBuf>,
}

/// `portreeve export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to send: ECS JSON lines (standard output or --output), a
    /// Splunk HTTP Event Collector (--url), or syslog (--syslog)
    #[arg(long, value_enum)]
    pub to: ExportTarget,
    /// Only drift, changes and detections from this time on (2026-11-29,
    /// 2026-11-29T08:00:00Z, or an age such as 30d); findings are always
    /// those of a check now [default: everything recorded]
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub since: Option<jiff::Timestamp>,
    /// Which events, comma-separated: findings, drift, changes, detections
    /// [default: all four]
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub what: Vec<portreeve_app::export::What>,
    /// ECS: write the lines to FILE (replacing it) instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Splunk HEC: the collector's base URL, e.g. https://splunk.example:8088
    #[allow(
        rustdoc::bare_urls,
        reason = "this is --help's text, read in a terminal"
    )]
    #[arg(long, value_name = "URL", required_if_eq("to", "splunk-hec"))]
    pub url: Option<String>,
    /// Splunk HEC: a file holding the token [default: $PORTREEVE_SPLUNK_TOKEN]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Splunk HEC: events per request
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
    /// Splunk HEC: wait for indexer acknowledgement of every request
    #[arg(long)]
    pub ack: bool,
    /// Splunk HEC: how long to wait for acknowledgements
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg, default_value = "60s")]
    pub ack_timeout: jiff::SignedDuration,
    /// Splunk HEC: retries of a request after a 5xx answer or a failed connection
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
    /// Syslog: the receiver, HOST:PORT
    #[arg(long, value_name = "HOST:PORT", required_if_eq("to", "syslog"))]
    pub syslog: Option<String>,
    /// Syslog: the transport (UDP datagrams, or octet-counted TCP frames)
    #[arg(long, value_enum, default_value_t = ExportTransport::Udp)]
    pub transport: ExportTransport,
    /// Syslog: the facility (kern, user, daemon, auth, authpriv, local0 … local7)
    #[arg(long, value_name = "FACILITY", default_value = "daemon")]
    pub facility: String,
}

/// Where `export` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    /// Elastic Common Schema documents, one JSON object a line
    Ecs,
    /// A Splunk HTTP Event Collector
    SplunkHec,
    /// RFC 5424 syslog messages with the ECS document as message
    Syslog,
}

/// The syslog transports of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTransport {
    /// One datagram a message (RFC 5426)
    Udp,
    /// Octet-counted frames on one connection (RFC 6587)
    Tcp,
}

/// Which fleet server to read, for the commands that can work on the whole
/// fleet instead of this host (`report`, `evidence export`).
#[derive(Debug, Clone, Args)]
pub struct FleetServerArgs {
    /// Work on the fleet the server at this URL knows (http://HOST:PORT),
    /// instead of on this host; needs a token of role viewer or above
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Read the server token from FILE [default: $PORTREEVE_TOKEN]
    #[arg(long, value_name = "FILE", requires = "server")]
    pub token_file: Option<PathBuf>,
}

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML document (inline CSS and SVG charts)
    Html,
    /// PDF, printed from the HTML by headless Chromium
    Pdf,
    /// The documented JSON schema (docs/schema/report.v1.json)
    Json,
}

/// `portreeve evidence …`.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write this host's evidence pack, or the fleet's with --server, into a new (or empty) directory
    Export(EvidenceExportArgs),
    /// Check an evidence pack offline: MANIFEST, ledger bundle, proofs, policy
    Verify(EvidenceVerifyArgs),
}

/// `portreeve evidence export`.
#[derive(Debug, Args)]
pub struct EvidenceExportArgs {
    /// The directory to create (it may exist if empty)
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// The fleet's pack instead of this host's: the server's ledger and the
    /// fleet's policies
    #[command(flatten)]
    pub fleet: FleetServerArgs,
    /// The server ledger's key as obtained independently (text or file):
    /// the export is refused unless the server's ledger is signed by it
    #[arg(long, value_name = "KEY", requires = "server")]
    pub key: Option<String>,
    /// Output format of the summary
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve evidence verify`.
#[derive(Debug, Args)]
pub struct EvidenceVerifyArgs {
    /// The pack's directory
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The log's public key, obtained independently of the pack (text or
    /// file) [default: the pack's own log.pub]
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve ledger log`.
#[derive(Debug, Args)]
pub struct LedgerLogArgs {
    /// Only these actions (comma-separated or repeated), e.g. apply,grant
    #[arg(long, value_name = "ACTION", value_delimiter = ',')]
    pub action: Vec<String>,
    /// Only entries by this actor
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Only entries at or after this time: 2026-11-29, 2026-11-29T08:00:00Z, or an age (24h, 7d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub since: Option<jiff::Timestamp>,
    /// Only entries before this time (same forms as --since)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub until: Option<jiff::Timestamp>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve ledger verify`.
#[derive(Debug, Args)]
pub struct LedgerVerifyArgs {
    /// Verify this exported bundle instead of the local ledger (needs --key)
    #[arg(long, value_name = "FILE", requires = "key")]
    pub bundle: Option<PathBuf>,
    /// The log's public key (the text `ledger key` prints, or a file holding
    /// it) [default for the local ledger: its own log.pub]
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// A witness's public key (text or file); repeat for several
    #[arg(long, value_name = "KEY")]
    pub witness: Vec<String>,
    /// Require a checkpoint cosigned by at least N of the --witness keys
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_witnesses: usize,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve ledger prove`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("proof").required(true).args(["index", "from"])))]
pub struct ProveArgs {
    /// Prove that entry N is in the tree
    #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"])]
    pub index: Option<u64>,
    /// With --index: the tree size to prove against [default: the latest checkpoint's]
    #[arg(long, value_name = "S", requires = "index")]
    pub size: Option<u64>,
    /// Prove that the tree of S1 entries is a prefix of the tree of --to S2
    #[arg(long, value_name = "S1", requires = "to")]
    pub from: Option<u64>,
    /// With --from: the larger tree size
    #[arg(long, value_name = "S2", requires = "from")]
    pub to: Option<u64>,
}

/// `portreeve ledger cosign`.
#[derive(Debug, Args)]
pub struct CosignArgs {
    /// The witness's private key file (from `ledger witness-key`)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where the witness remembers the last checkpoint it signed [default: KEY.state.json]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// `portreeve ledger witness-key`.
#[derive(Debug, Args)]
pub struct WitnessKeyArgs {
    /// The witness's name, e.g. security.example.com/witness
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Write the private key here (mode 0600); the public key is printed
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

/// `portreeve identity …`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create an Ed25519 identity and register its public key in the ledger
    New {
        /// The identity's name, e.g. alice
        #[arg(value_name = "NAME")]
        name: String,
        /// Output format: text for people, or the documented JSON (docs/json.md)
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// List registered identities, and which of them have a private key here
    List(ListArgs),
}

/// Which identity acts.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Act as this identity (its private key must be in the identity directory)
    #[arg(long, value_name = "NAME", env = "PORTREEVE_IDENTITY")]
    pub identity: String,
}

/// `portreeve propose`.
#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// The policy file to propose
    #[arg(value_name = "POLICY_FILE")]
    pub policy: PathBuf,
    /// Why; recorded with the proposal
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Simulate against use last seen at or after this time: 2026-11-29,
    /// 2026-11-29T08:00:00Z, or an age (30d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, default_value = "30d")]
    pub since: jiff::Timestamp,
    /// Simulate against these JSON lines of recorded use (as `usage --by-source
    /// --format json` lists them) instead of the agent's record
    #[arg(long, value_name = "FILE")]
    pub usage: Option<PathBuf>,
    /// Who proposes.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The proposal's number
    #[arg(value_name = "ID")]
    pub id: u64,
    /// Why (optional); recorded with the approval
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Who approves.
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// Output format: text for people, or the documented JSON (docs/json.md)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// A time on the command line: RFC 3339, a date (midnight UTC), or an age
/// such as `24h` meaning that long ago.
fn parse_time_arg(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Some(age) = portreeve_policy::parse_duration(s).filter(|d| d.is_positive()) {
        return jiff::Timestamp::now()
            .checked_sub(age)
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "`{s}` is not a time: write 2026-11-29, 2026-11-29T08:00:00Z, or an age such as 24h or 7d"
    ))
}

/// `portreeve catalogue`.
#[derive(Debug, Args)]
pub struct CatalogueArgs {
    /// Only the entry covering this port
    #[arg(value_name = "PORT")]
    pub port: Option<u16>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve server`: serves until SIGTERM or Ctrl-C, or runs a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    /// Manage the server's API tokens or hosts instead of serving
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
    /// Configuration file [default: /etc/portreeve/server.toml as root, if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve here (ADDRESS:PORT) [default: 127.0.0.1:8440]
    #[arg(long, value_name = "ADDRESS")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics here (ADDRESS:PORT), or `off` [default: 127.0.0.1:9466]
    #[arg(long, value_name = "ADDRESS")]
    pub metrics: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Also accept OIDC ID tokens from this issuer (its URL, as tokens' `iss` says it)
    #[arg(long, value_name = "URL", requires = "oidc_audience")]
    pub oidc_issuer: Option<String>,
    /// The client id OIDC ID tokens must be for (their `aud`)
    #[arg(long, value_name = "CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
}

/// `--database`, shared by `server` and its subcommands.
#[derive(Debug, Args)]
pub struct DatabaseArg {
    /// The database: postgres://USER@HOST/DB, postgres:///DB?host=/var/run/postgresql&user=USER,
    /// or sqlite:///PATH [default: SQLite in the state directory's server.db]
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

/// `portreeve server …`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Create, list and revoke API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// List and revoke enrolled hosts
    #[command(subcommand)]
    Host(HostCommand),
}

/// `portreeve server host …`.
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// List enrolled hosts: id, name, times, listeners and findings counts
    List {
        #[command(flatten)]
        database: DatabaseArg,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Revoke a host: its pushes get 401 from then on
    Revoke {
        /// The host's name or id, as `host list` shows them
        #[arg(value_name = "NAME|ID")]
        host: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

/// `portreeve server token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (the only time it is shown)
    Create(TokenCreateArgs),
    /// List tokens: id, name, role, times; never the token itself
    List {
        #[command(flatten)]
        database: DatabaseArg,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Revoke a token: requests with it get 401 from then on
    Revoke {
        /// The token's id, as `token list` shows it
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

/// `portreeve server token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// What it may do: admin, operator, approver, viewer, or enroll (one agent's enrollment)
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    pub role: portreeve_server::Role,
    /// How long it works (e.g. 90s, 30m, 4h, 30d) [default: until revoked]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub ttl: Option<jiff::SignedDuration>,
    /// What it is for, shown by `token list`
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub name: String,
    /// How many hosts an enroll token enrolls [default: 1]; only with --role enroll
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub uses: Option<i64>,
    #[command(flatten)]
    pub database: DatabaseArg,
}

fn parse_role(s: &str) -> Result<portreeve_server::Role, String> {
    s.parse()
        .map_err(|e: portreeve_server::UnknownRole| e.to_string())
}

/// `portreeve doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also check this candidate policy file [default: $PORTREEVE_POLICY,
    /// else the default policy file]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fail_on_parses_never_and_severities() {
        assert_eq!(parse_fail_on("never"), Ok(FailOn::Never));
        assert_eq!(parse_fail_on("High"), Ok(FailOn::AtLeast(Severity::High)));
        assert!(parse_fail_on("bad").is_err());
    }
}

/// `portreeve k8s`.
#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Every connection the NetworkPolicies allow, or why one is allowed or denied (--explain)
    Reach(K8sReachArgs),
    /// Findings about the cluster's exposure: namespaces without default deny, risky pods reachable from outside or published, policies and rules that do nothing
    Check(K8sCheckArgs),
}

/// How `k8s check` and `cloud check` judge and show what they read: the
/// options they share with `check`.
#[derive(Debug, Args)]
pub struct JudgingArgs {
    /// The policy whose `defaults` (min_severity, risky_severity) and
    /// accepted risks apply [default: the built-in baseline]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// How the findings are shown, and when the exit status is 1.
    #[command(flatten)]
    pub shown: ShownArgs,
}

/// `portreeve k8s check`.
#[derive(Debug, Args)]
pub struct K8sCheckArgs {
    /// Manifests to read: YAML or JSON files, directories (their *.yaml,
    /// *.yml and *.json files, recursively) or `-` for standard input
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub manifests: Vec<PathBuf>,
    /// Judging and showing.
    #[command(flatten)]
    pub judging: JudgingArgs,
}

/// `portreeve k8s reach`.
#[derive(Debug, Args)]
pub struct K8sReachArgs {
    /// Manifests to read: YAML or JSON files, directories (their *.yaml,
    /// *.yml and *.json files, recursively) or `-` for standard input
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub manifests: Vec<PathBuf>,
    /// Explain one connection instead of listing all: FROM and TO are a pod
    /// (namespace/name) or an IP address, PROTO/PORT e.g. TCP/5432
    #[arg(long, num_args = 3, value_names = ["FROM", "TO", "PROTO/PORT"])]
    pub explain: Option<Vec<String>>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// JSON lines `{"time": RFC 3339, "protocol": "tcp", "port": N, "count": K}`, or `-` for
    /// standard input [default: the agent's hourly history in the state directory]
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Predict the 24 hours from this time (rounded down to the hour): 2026-11-29,
    /// 2026-11-29T08:00:00Z, or an age (24h, 7d) [default: the end of the hour under way
    /// for the agent's history, the hour after the last event for a file]
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub at: Option<jiff::Timestamp>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve anomalies`.
#[derive(Debug, Args)]
pub struct AnomaliesArgs {
    /// JSON lines `{"time": RFC 3339, "protocol": "tcp", "port": N, "count": K}`, or `-` for
    /// standard input [default: the agent's hourly history in the state directory]
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Only hours starting at or after this time: 2026-11-29, 2026-11-29T08:00:00Z, or an age (24h, 7d)
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
    pub since: Option<jiff::Timestamp>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// `portreeve cloud`.
#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    /// Findings about security groups: risky ports open to the internet, wide port ranges
    Check(CloudCheckArgs),
}

/// `portreeve vulns`: judge unless a subcommand is given.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct VulnsArgs {
    /// Import advisories instead of judging.
    #[command(subcommand)]
    pub command: Option<VulnsCommand>,
    /// What to judge, against which advisories.
    #[command(flatten)]
    pub judge: VulnsJudgeArgs,
}

/// `portreeve vulns` subcommands.
#[derive(Debug, Subcommand)]
pub enum VulnsCommand {
    /// Import an OSV archive (zip) or directory into the state directory, for
    /// later runs without --osv; nothing is fetched from the network
    Update(VulnsUpdateArgs),
}

/// `portreeve vulns update`.
#[derive(Debug, Args)]
pub struct VulnsUpdateArgs {
    /// An OSV zip archive (as osv.dev publishes per ecosystem, e.g.
    /// Debian/all.zip), a directory of OSV JSON files or one such file
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// What `portreeve vulns` judges.
#[derive(Debug, Args)]
pub struct VulnsJudgeArgs {
    /// OSV advisories: a zip archive, a directory of OSV JSON files or one
    /// such file [default: those imported by `vulns update`]
    #[arg(long, value_name = "PATH")]
    pub osv: Option<PathBuf>,
    /// Judge a package list instead of this host's listeners: lines of
    /// `dpkg-query -W -f '${Package}\t${Version}\t${source:Package}\t${source:Version}\n'`
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scan", "all_netns"])]
    pub packages: Option<PathBuf>,
    /// Judge the services a scan identified (`scan --service --format json`)
    /// instead of this host's listeners
    #[arg(long, value_name = "FILE", conflicts_with = "all_netns")]
    pub scan: Option<PathBuf>,
    /// The OSV ecosystem of the packages judged, e.g. Debian:12 [default:
    /// this host's, from /etc/os-release]
    #[arg(long, value_name = "ECOSYSTEM")]
    pub ecosystem: Option<String>,
    /// Namespaces to read.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The policy whose zones tell where each listener is reachable from,
    /// and whose `defaults` and accepted risks apply [default: as `check`]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// How the findings are shown, and when the exit status is 1.
    #[command(flatten)]
    pub shown: ShownArgs,
}

/// `portreeve cloud check`.
#[derive(Debug, Args)]
pub struct CloudCheckArgs {
    /// The JSON `aws ec2 describe-security-groups` printed, or `-` for standard input
    #[arg(long, value_name = "FILE")]
    pub aws: PathBuf,
    /// Judging and showing.
    #[command(flatten)]
    pub judging: JudgingArgs,
}
