//! Parsing grows linearly with the number of rules (issue 18: a 10,000-rule
//! policy took seconds to parse, because each rule's location was found by
//! scanning the text from its start).
//!
//! Timed as a ratio, not against a clock: eight times the rules must take
//! well under 64 times as long, as quadratic work would. Each size is timed a few times and the fastest run kept,
//! so a moment of load on a shared machine does not decide the outcome.

use std::time::{Duration, Instant};

use portreeve_policy::parse_policy;

const FEW: usize = 1_000;
const MANY: usize = 8 * FEW;
/// Quadratic work makes the ratio about 64. Linear work makes it 8 in
/// theory and about 11 in a debug build (the TOML tree is a B-tree, and a
/// larger text falls out of cache); the bound sits between the two.
const MAX_RATIO: f64 = 24.0;
const RUNS: usize = 3;

/// A valid policy of `rules` one-port rules over two zones, as a large
/// real policy is written.
fn policy_text(rules: usize) -> String {
    let mut text = String::from(
        "[zones]\noffice = [\"10.1.0.0/16\", \"2001:db8:1::/48\"]\nlab = [\"172.16.5.0/24\"]\n",
    );
    for i in 0..rules {
        let protocol = if i % 2 == 0 { "tcp" } else { "udp" };
        text.push_str(&format!(
            "\n[[rule]]\nname = \"r{i}\"\nport = {}\nprotocol = \"{protocol}\"\nzones = [\"office\", \"lab\"]\n",
            20_000 + i
        ));
    }
    text
}

/// The fastest of [`RUNS`] parses of a `rules`-rule policy; checks that
/// each one read every rule, at the line where it is written.
fn fastest_parse(rules: usize) -> Duration {
    let text = policy_text(rules);
    (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let policy = parse_policy("big.toml", &text).expect("the policy is valid");
            let took = started.elapsed();
            assert_eq!(policy.rules.len(), rules);
            let last = policy.rules.last().expect("rules were read");
            // Three lines of zones, then six lines per rule, `[[rule]]` second.
            assert_eq!(last.location.line as usize, 3 + 6 * (rules - 1) + 2);
            assert_eq!(last.location.column, 1);
            took
        })
        .min()
        .expect("at least one run")
}

#[test]
fn parsing_time_grows_linearly_with_the_rules() {
    let few = fastest_parse(FEW);
    let many = fastest_parse(MANY);
    let ratio = many.as_secs_f64() / few.as_secs_f64();
    assert!(
        ratio < MAX_RATIO,
        "{MANY} rules took {many:?}, {ratio:.1} times the {few:?} of {FEW} rules (linear: about 8)"
    );
}
