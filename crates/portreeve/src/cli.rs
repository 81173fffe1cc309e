//! The command-line interface, declared once: clap parses it, and the same
//! definition generates shell completions and man pages.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use portreeve_core::Severity;

const AFTER_HELP: &str = "\
Exit status:
  0  success (no finding at or above --fail-on)
  1  findings at or above --fail-on
  2  usage error or invalid input (nothing was changed)
  3  operational error (e.g. the kernel refused a request)
With --format nagios, `check` exits with the plugin state instead (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN).

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

    /// Log format on standard error: `auto` is human-readable on a terminal
    /// and JSON lines otherwise
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on standard error
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable text.
    Human,
    /// One JSON object per line.
    Json,
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
    /// Show the built-in risk catalogue of well-known services
    Catalogue(CatalogueArgs),
    /// Check what portreeve can see and where it keeps things
    Doctor(DoctorArgs),
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
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Output formats of the listing commands (`inventory`, `catalogue`, `doctor`).
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
    /// Policy file [default: $PORTREEVE_POLICY, else /etc/portreeve/policy.toml
    /// (as root) or $XDG_CONFIG_HOME/portreeve/policy.toml if it exists, else
    /// the built-in baseline]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Judge a saved `inventory --format json` file instead of this host
    #[arg(long, value_name = "FILE", conflicts_with = "all_netns")]
    pub inventory: Option<PathBuf>,
    /// Namespaces to read.
    #[command(flatten)]
    pub scope: ScopeArgs,
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

/// `portreeve doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Policy file to report on [default: as for `check`]
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
