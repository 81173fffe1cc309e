//! Running the `nft` program: the one place portreeve touches the firewall.
//!
//! portreeve drives nftables through its own command-line tool rather than
//! netlink: `nft -f` gives a whole-file atomic transaction with nftables' own
//! parser and error messages, and its JSON listing is the documented way to
//! read state back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Why an `nft` invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// The program is not installed.
    #[error("cannot run `{program}`: {source} (install the nftables package)")]
    Missing {
        /// The program tried.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel or nft refused for lack of privilege.
    #[error("nft needs CAP_NET_ADMIN (run as root): {0}")]
    Permission(String),
    /// nft rejected the input; nothing was changed.
    #[error("nft rejected the ruleset; nothing was changed:\n{0}")]
    Rejected(String),
    /// nft printed something that is not the JSON it documents.
    #[error("cannot read nft's JSON output: {0}")]
    BadJson(String),
}

/// The `nft` program.
#[derive(Clone, Debug)]
pub struct Nft {
    program: PathBuf,
}

impl Default for Nft {
    fn default() -> Self {
        Nft::new()
    }
}

impl Nft {
    /// `nft` from `$PORTREEVE_NFT`, else from the `PATH`.
    pub fn new() -> Nft {
        let program = std::env::var_os("PORTREEVE_NFT")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("nft"), PathBuf::from);
        Nft { program }
    }

    /// Checks `text` with the kernel without changing anything (`nft -c -f -`).
    pub fn check(&self, text: &str) -> Result<(), NftError> {
        self.run(&["-c", "-f", "-"], Some(text)).map(drop)
    }

    /// Applies `text` as one atomic transaction (`nft -f -`).
    pub fn apply(&self, text: &str) -> Result<(), NftError> {
        self.run(&["-f", "-"], Some(text)).map(drop)
    }

    /// The whole ruleset as nft's JSON, without set elements (`nft -j -t
    /// list ruleset`): tables, chains and rules, cheap even when some set
    /// holds thousands of elements.
    pub fn list_ruleset_terse(&self) -> Result<Value, NftError> {
        let out = self.run(&["-j", "-t", "list", "ruleset"], None)?;
        parse_json(&out)
    }

    /// One table as text, as nft prints it; `None` if it does not exist.
    pub fn list_table_text(&self, family: &str, table: &str) -> Result<Option<String>, NftError> {
        match self.run(&["list", "table", family, table], None) {
            Ok(text) => Ok(Some(text)),
            Err(NftError::Rejected(msg)) if is_missing(&msg) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One table as nft's JSON; `None` if it does not exist.
    pub fn list_table_json(&self, family: &str, table: &str) -> Result<Option<Value>, NftError> {
        match self.run(&["-j", "list", "table", family, table], None) {
            Ok(out) => parse_json(&out).map(Some),
            Err(NftError::Rejected(msg)) if is_missing(&msg) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How nft lists table `family table` once `ruleset` (which creates
    /// it) is loaded — loaded in a network namespace of its own, made for
    /// this and gone when it returns, so nothing live is touched. Needs
    /// root, as loading any ruleset does.
    pub fn listing_of(&self, ruleset: &str, family: &str, table: &str) -> Result<Value, NftError> {
        let program = self.program.display().to_string();
        let out = run(
            Path::new("unshare"),
            &[
                "--net",
                "sh",
                "-c",
                r#""$0" -f - && "$0" -j list table "$1" "$2""#,
                &program,
                family,
                table,
            ],
            Some(ruleset),
        )?;
        parse_json(&out)
    }

    /// One set of portreeve's table as JSON; `None` if it does not exist.
    pub fn list_set(&self, table: &str, set: &str) -> Result<Option<Value>, NftError> {
        match self.run(&["-j", "list", "set", "inet", table, set], None) {
            Ok(out) => parse_json(&out).map(Some),
            Err(NftError::Rejected(msg)) if is_missing(&msg) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
        run(&self.program, args, stdin)
    }
}

/// Runs `program ARGS` with `stdin`, and returns its standard output, or
/// why it failed.
fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NftError::Missing {
            program: program.display().to_string(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error means nft exited early; its stderr says why.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NftError::Missing {
            program: program.display().to_string(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else if stderr.contains("Operation not permitted") {
        Err(NftError::Permission(stderr))
    } else {
        Err(NftError::Rejected(stderr))
    }
}

fn is_missing(stderr: &str) -> bool {
    stderr.contains("No such file or directory")
}

fn parse_json(text: &str) -> Result<Value, NftError> {
    serde_json::from_str(text).map_err(|e| NftError::BadJson(e.to_string()))
}
