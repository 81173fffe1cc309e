//! iptables-legacy and ip6tables-legacy rules: the legacy xtables tables of
//! this network namespace.
//!
//! They are a second firewall beside nftables that `nft list ruleset` does
//! not show, yet every packet passes them too: a packet is delivered only if
//! every table on its hook accepts it. A forgotten `iptables-legacy -P INPUT
//! DROP` (or ufw on the legacy backend) therefore refuses connections
//! portreeve allows, and nothing in nftables says why. This module reads
//! `iptables-legacy-save` (and `ip6tables-legacy-save`), parses its text
//! ([`parse_save`]) and names each chain that decides incoming or forwarded
//! traffic, with what it does ([`LegacyChain`]).

use std::fmt;
use std::process::{Command, Stdio};

/// One table of an `iptables-save` listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedTable {
    /// `filter`, `nat`, `raw`, `mangle`, `security`.
    pub name: String,
    /// Its chains, in the order listed.
    pub chains: Vec<SavedChain>,
}

/// One chain of a saved table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedChain {
    /// Chain name.
    pub name: String,
    /// The policy of a built-in chain (`ACCEPT`, `DROP`); `None` for a
    /// user-defined chain (`-` in the listing).
    pub policy: Option<String>,
    /// Its rules, each as listed after `-A CHAIN `.
    pub rules: Vec<String>,
}

/// Why a listing could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct SaveError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// Parses `iptables-save` text: `*table` starts a table, `:CHAIN POLICY
/// [packets:bytes]` declares a chain, `-A CHAIN …` appends a rule, `COMMIT`
/// ends the table; `#` lines are comments. Anything else is refused rather
/// than skipped, so a format this parser does not know is reported instead
/// of silently hiding rules.
pub fn parse_save(text: &str) -> Result<Vec<SavedTable>, SaveError> {
    let mut tables = Vec::new();
    let mut open: Option<SavedTable> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let fail = |problem: &str| SaveError {
            line: index + 1,
            problem: problem.to_string(),
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if open.is_some() {
                return Err(fail("a table starts before the previous one's COMMIT"));
            }
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(fail("a table name is one word"));
            }
            if tables.iter().any(|t: &SavedTable| t.name == name) {
                return Err(fail("a table is listed twice"));
            }
            open = Some(SavedTable {
                name: name.to_string(),
                chains: Vec::new(),
            });
            continue;
        }
        let Some(table) = open.as_mut() else {
            return Err(fail("a chain, rule or COMMIT outside a table"));
        };
        if line == "COMMIT" {
            tables.extend(open.take());
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut words = decl.split_whitespace();
            let (Some(name), Some(policy)) = (words.next(), words.next()) else {
                return Err(fail("a chain declaration names the chain and its policy"));
            };
            if table.chains.iter().any(|c| c.name == name) {
                return Err(fail("a chain is declared twice"));
            }
            table.chains.push(SavedChain {
                name: name.to_string(),
                policy: (policy != "-").then(|| policy.to_string()),
                rules: Vec::new(),
            });
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let (chain, spec) = rule.trim_start().split_once(' ').unwrap_or((rule, ""));
            let Some(saved) = table.chains.iter_mut().find(|c| c.name == chain) else {
                return Err(fail("a rule for a chain that was not declared"));
            };
            saved.rules.push(spec.trim().to_string());
        } else {
            return Err(fail("not a table, chain, rule, COMMIT or comment"));
        }
    }
    if open.is_some() {
        return Err(SaveError {
            line: text.lines().count(),
            problem: "the last table has no COMMIT".into(),
        });
    }
    Ok(tables)
}

/// Which of the two legacy tools a listing came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `iptables-legacy`.
    V4,
    /// `ip6tables-legacy`.
    V6,
}

impl Family {
    /// Both, in the order they are reported.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The command that changes these tables.
    pub fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables-legacy",
            Family::V6 => "ip6tables-legacy",
        }
    }

    /// The command that lists them.
    pub fn save_tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables-legacy-save",
            Family::V6 => "ip6tables-legacy-save",
        }
    }
}

/// A legacy chain that decides traffic portreeve also decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyChain {
    /// Which tool holds it.
    pub family: Family,
    /// `filter`, `nat`, `raw` or `mangle`.
    pub table: String,
    /// `INPUT`, `FORWARD`, `PREROUTING` or `OUTPUT`.
    pub chain: String,
    /// Its policy.
    pub policy: String,
    /// Its rules, as listed after `-A CHAIN `.
    pub rules: Vec<String>,
    /// What it does next to portreeve.
    pub notes: Vec<String>,
}

/// How many of a chain's rules a report shows.
const RULES_SHOWN: usize = 5;

impl LegacyChain {
    /// `iptables-legacy filter INPUT: policy DROP, 1 rule`.
    fn header(&self) -> String {
        format!(
            "{} {} {}: policy {}, {} rule{}",
            self.family.tool(),
            self.table,
            self.chain,
            self.policy,
            self.rules.len(),
            if self.rules.len() == 1 { "" } else { "s" }
        )
    }

    /// The header and the notes on one line, without the rules.
    pub fn summary(&self) -> String {
        std::iter::once(self.header())
            .chain(self.notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for LegacyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())?;
        for n in &self.notes {
            write!(f, "\n    {n}")?;
        }
        for r in self.rules.iter().take(RULES_SHOWN) {
            write!(f, "\n    -A {} {r}", self.chain)?;
        }
        if self.rules.len() > RULES_SHOWN {
            write!(
                f,
                "\n    … and {} more (`{} -t {}`)",
                self.rules.len() - RULES_SHOWN,
                self.family.save_tool(),
                self.table
            )?;
        }
        Ok(())
    }
}

/// The tables that can decide traffic to or through this host.
const TABLES: [&str; 4] = ["raw", "mangle", "nat", "filter"];

/// The target of a rule (`-j TARGET` or `-g TARGET`), if any.
fn target(rule: &str) -> Option<&str> {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-j" || w == "-g" || w == "--jump" || w == "--goto" {
            return words.next();
        }
    }
    None
}

/// Whether a rule of `chain`, or of any user chain it reaches, has one of
/// `targets`.
fn reaches(table: &SavedTable, chain: &str, targets: &[&str]) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut todo = vec![chain];
    while let Some(name) = todo.pop() {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let Some(c) = table.chains.iter().find(|c| c.name == name) else {
            continue;
        };
        for t in c.rules.iter().filter_map(|r| target(r)) {
            if targets.contains(&t) {
                return true;
            }
            todo.push(t);
        }
    }
    false
}

/// The legacy chains in `tables` (listed by `family`'s tool) that decide
/// incoming or forwarded traffic: built-in `INPUT`, `FORWARD` and
/// `PREROUTING` chains of `filter`, `nat`, `raw` and `mangle` with rules
/// or a policy other than `ACCEPT`, and `OUTPUT` chains whose policy is not
/// `ACCEPT` (replies leave through them). Empty accepting chains, which
/// merely exist, are left out.
pub fn legacy_chains(family: Family, tables: &[SavedTable]) -> Vec<LegacyChain> {
    let mut out = Vec::new();
    for table in tables.iter().filter(|t| TABLES.contains(&t.name.as_str())) {
        for chain in &table.chains {
            let Some(policy) = &chain.policy else {
                continue;
            };
            let accepting = policy == "ACCEPT";
            let relevant = match chain.name.as_str() {
                "INPUT" | "FORWARD" | "PREROUTING" => !accepting || !chain.rules.is_empty(),
                "OUTPUT" => !accepting,
                _ => false,
            };
            if relevant {
                out.push(LegacyChain {
                    family,
                    table: table.name.clone(),
                    chain: chain.name.clone(),
                    policy: policy.clone(),
                    rules: chain.rules.clone(),
                    notes: notes(table, chain, accepting),
                });
            }
        }
    }
    out
}

/// What `chain` of `table` does next to portreeve's ruleset.
fn notes(table: &SavedTable, chain: &SavedChain, accepting: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let drops = reaches(table, &chain.name, &["DROP", "REJECT"]);
    let policy = chain.policy.as_deref().unwrap_or("ACCEPT");
    match chain.name.as_str() {
        "INPUT" if !accepting => notes.push(format!(
            "policy {policy}: drops whatever its rules do not accept, including connections portreeve allows (a packet must be accepted by every table on the input hook)"
        )),
        "INPUT" if drops => notes.push(
            "drops or rejects some input: a connection portreeve allows can still be refused here".into(),
        ),
        "INPUT" => notes.push(
            "judges input beside portreeve; none of its rules drops or rejects".into(),
        ),
        "OUTPUT" => notes.push(format!(
            "policy {policy} on output: replies to connections portreeve allows are dropped unless its rules accept them"
        )),
        "FORWARD" => notes.push(format!(
            "filters forwarded traffic (containers, VMs, routed networks), which portreeve's input chain never sees{}",
            if accepting { "" } else { "; policy drops what it does not accept" }
        )),
        _ => {}
    }
    if chain.name == "PREROUTING" {
        if table.name == "nat" && reaches(table, "PREROUTING", &["DNAT", "REDIRECT"]) {
            notes.push(crate::foreign::DESTINATION_REWRITE_NOTE.into());
        } else if table.name == "nat" {
            notes.push("translates addresses before portreeve sees the packets".into());
        } else {
            notes.push(format!(
                "sees packets before portreeve does{}",
                if drops || !accepting {
                    " and drops some of them first"
                } else {
                    ""
                }
            ));
        }
    }
    notes
}

/// What the legacy tables of one family hold, as read now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The tool is not installed: nothing to report.
    Absent,
    /// The tables as listed.
    Tables(Vec<SavedTable>),
    /// The tool ran but its listing could not be had or read.
    Unreadable(String),
}

/// Runs `family`'s save tool (`iptables-legacy-save`) in this namespace and
/// parses what it lists. It only reads: without `-t` it lists the tables
/// that exist and creates none.
pub fn read(family: Family) -> Listing {
    let tool = family.save_tool();
    let out = match Command::new(tool)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Listing::Absent,
        Err(e) => return Listing::Unreadable(format!("cannot run `{tool}`: {e}")),
    };
    if !out.status.success() {
        return Listing::Unreadable(format!(
            "`{tool}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match parse_save(&String::from_utf8_lossy(&out.stdout)) {
        Ok(tables) => Listing::Tables(tables),
        Err(e) => Listing::Unreadable(format!("cannot read `{tool}`'s listing: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "\
# Generated by iptables-save v1.8.9 on Sun Dec  6 15:15:32 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [12:480]
:CHECK - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -j CHECK
-A CHECK -s 198.51.100.0/24 -j REJECT --reject-with icmp-port-unreachable
COMMIT
# Completed on Sun Dec  6 15:15:32 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

    #[test]
    fn parses_tables_chains_policies_and_rules() {
        let tables = parse_save(SAVED).unwrap();
        assert_eq!(tables.len(), 2);
        let filter = &tables[0];
        assert_eq!(filter.name, "filter");
        let names: Vec<&str> = filter.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["INPUT", "FORWARD", "OUTPUT", "CHECK"]);
        assert_eq!(filter.chains[0].policy.as_deref(), Some("DROP"));
        assert_eq!(filter.chains[3].policy, None);
        assert_eq!(
            filter.chains[0].rules,
            ["-p tcp -m tcp --dport 22 -j ACCEPT"]
        );
    }

    #[test]
    fn names_what_each_relevant_chain_does() {
        let chains = legacy_chains(Family::V4, &parse_save(SAVED).unwrap());
        let names: Vec<String> = chains
            .iter()
            .map(|c| format!("{} {}", c.table, c.chain))
            .collect();
        assert_eq!(names, ["filter INPUT", "filter FORWARD", "nat PREROUTING"]);
        assert!(chains[0].notes[0].starts_with("policy DROP: drops whatever"));
        assert!(chains[1].notes[0].contains("forwarded"));
        assert!(chains[2].notes[0].contains("DNAT"), "{:?}", chains[2].notes);
        let shown = chains[0].to_string();
        assert!(
            shown.starts_with("iptables-legacy filter INPUT: policy DROP, 1 rule\n"),
            "{shown}"
        );
        assert!(shown.ends_with("\n    -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"));
        assert!(
            chains[0].summary().starts_with(
                "iptables-legacy filter INPUT: policy DROP, 1 rule; policy DROP: drops"
            )
        );
    }

    #[test]
    fn drops_in_reached_user_chains_count_and_loops_end() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -j A\n-A B -p udp -j DROP\nCOMMIT\n";
        let chains = legacy_chains(Family::V6, &parse_save(text).unwrap());
        assert_eq!(chains.len(), 1);
        assert!(chains[0].notes[0].starts_with("drops or rejects"));
        assert!(
            chains[0]
                .to_string()
                .starts_with("ip6tables-legacy filter INPUT")
        );
    }

    #[test]
    fn accepting_empty_chains_and_other_tables_are_not_reported() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*security\n:INPUT DROP [0:0]\nCOMMIT\n";
        assert!(legacy_chains(Family::V4, &parse_save(text).unwrap()).is_empty());
        assert!(legacy_chains(Family::V4, &parse_save("").unwrap()).is_empty());
    }

    #[test]
    fn long_chains_are_cut_with_a_pointer_to_the_rest() {
        let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
        for port in 0..8 {
            text.push_str(&format!("-A INPUT -p tcp --dport {port} -j ACCEPT\n"));
        }
        text.push_str("COMMIT\n");
        let shown = legacy_chains(Family::V4, &parse_save(&text).unwrap())[0].to_string();
        assert_eq!(shown.matches("\n    -A INPUT").count(), RULES_SHOWN);
        assert!(shown.ends_with("… and 3 more (`iptables-legacy-save -t filter`)"));
    }

    #[test]
    fn malformed_listings_are_refused_with_their_line() {
        for (text, line, says) in [
            (":INPUT ACCEPT [0:0]\n", 1, "outside a table"),
            ("*filter\n*nat\n", 2, "before the previous"),
            (
                "*filter\n:INPUT\nCOMMIT\n",
                2,
                "names the chain and its policy",
            ),
            ("*filter\n-A INPUT -j DROP\nCOMMIT\n", 2, "not declared"),
            ("*filter\n:INPUT ACCEPT\n:INPUT DROP\n", 3, "declared twice"),
            ("*filter\n:INPUT ACCEPT [0:0]\n", 2, "no COMMIT"),
            ("*filter\nflush\nCOMMIT\n", 2, "not a table"),
            ("*\n", 1, "one word"),
            ("*nat\nCOMMIT\n*nat\nCOMMIT\n", 3, "listed twice"),
        ] {
            let e = parse_save(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.problem.contains(says), "{text:?}: {e}");
        }
    }
}
