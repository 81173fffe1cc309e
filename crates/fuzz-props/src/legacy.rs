//! The reader of `iptables-legacy-save` listings, which portreeve runs and
//! parses to name the legacy rules beside its own ruleset.

use std::fmt::Write as _;

use portreeve_enforce::legacy::{Family, SavedTable, legacy_chains, parse_save};

/// The `iptables-save` parser, from any bytes (read as the lossy UTF-8
/// portreeve reads the tool's output with). It must refuse with a line of
/// the input or return tables that, written out again, parse to the same
/// tables; and every chain it reports must be a built-in chain of those
/// tables, with that chain's rules, whose report names its tool.
pub fn iptables_save(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let tables = match parse_save(&text) {
        Ok(tables) => tables,
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= text.lines().count().max(1),
                "line {} outside the input",
                e.line
            );
            return;
        }
    };
    assert_eq!(
        parse_save(&written(&tables)).as_ref(),
        Ok(&tables),
        "the tables written out parse the same"
    );
    for family in Family::ALL {
        for reported in legacy_chains(family, &tables) {
            let chain = tables
                .iter()
                .filter(|t| t.name == reported.table)
                .flat_map(|t| &t.chains)
                .find(|c| c.name == reported.chain)
                .expect("a reported chain is in the listing");
            assert_eq!(chain.policy.as_ref(), Some(&reported.policy));
            assert_eq!(chain.rules, reported.rules);
            assert!(reported.to_string().starts_with(family.tool()));
            assert!(reported.summary().starts_with(family.tool()));
        }
    }
}

/// `tables` as `iptables-save` writes them.
fn written(tables: &[SavedTable]) -> String {
    let mut out = String::new();
    for t in tables {
        let _ = writeln!(out, "*{}", t.name);
        for c in &t.chains {
            let _ = writeln!(
                out,
                ":{} {} [0:0]",
                c.name,
                c.policy.as_deref().unwrap_or("-")
            );
        }
        for c in &t.chains {
            for r in &c.rules {
                let _ = writeln!(out, "-A {} {r}", c.name);
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}
