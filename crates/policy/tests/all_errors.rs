//! One run reports every independent error in a policy file: unknown keys
//! and wrong types anywhere (which serde alone stops at) as well as the
//! values validation rejects, in file order, without the follow-on noise of
//! a table that lost a key to an earlier error.

mod common;

use common::{errors, single};

/// Located messages of every error in `src`, as `line:column: message`.
fn located(src: &str) -> Vec<String> {
    errors(src)
        .errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
        .collect()
}

#[test]
fn serde_errors_in_every_table_are_all_reported_with_validation_errors() {
    let src = "\
versoin = 1
[defaults]
min_severity = \"severe\"
expiry_warning_days = \"30\"
[zones]
office = [\"10.0.0.0/33\"]
[[rule]]
port = 22
protocol = \"tcp\"
zones = [\"ofice\"]
famly = \"ipv4\"
[lifecycle]
dormant_afer = \"30d\"
";
    assert_eq!(
        located(src),
        [
            "1:1: unknown field `versoin`",
            "3:16: unknown severity `severe`: expected one of info, low, medium, high, critical",
            "4:23: invalid type: string \"30\", expected a whole number",
            "6:11: `10.0.0.0/33` is not a network: prefix length `33` must be 0-32 for an IPv4 address",
            "10:10: unknown zone `ofice`",
            "11:1: unknown field `famly`",
            "13:1: unknown field `dormant_afer`",
        ]
    );
}

#[test]
fn misspelt_keys_get_did_you_mean_and_strangers_the_list() {
    let errs = errors("[defaults]\nmin_sevrity = \"low\"\ncolour = \"red\"\n");
    let hints: Vec<&str> = errs
        .errors
        .iter()
        .map(|e| e.hint.as_deref().unwrap())
        .collect();
    assert!(
        hints[0].starts_with("did you mean `min_severity`?"),
        "{}",
        hints[0]
    );
    assert!(
        hints[1].starts_with("this table takes `approval_validity_days`,"),
        "{}",
        hints[1]
    );
    assert!(
        hints[1].contains("unknown fields are errors"),
        "{}",
        hints[1]
    );
}

#[test]
fn a_table_that_lost_a_key_is_not_blamed_for_missing_it() {
    // `protocol` misspelt: the rule lacks a protocol only because of it.
    let hint = single(
        "[zones]\nlab = [\"10.0.0.0/8\"]\n[[rule]]\nport = 22\nprotocl = \"tcp\"\nzones = [\"lab\"]\n",
        5,
        1,
        "unknown field `protocl`",
    );
    assert!(hint.unwrap().starts_with("did you mean `protocol`?"));
    // A mistyped port: the rule has a port, written wrong.
    single(
        "[zones]\nlab = [\"10.0.0.0/8\"]\n[[rule]]\nport = true\nprotocol = \"tcp\"\nzones = [\"lab\"]\n",
        4,
        8,
        "invalid type: boolean `true`",
    );
    // A mistyped network: the zone has networks, written wrong.
    single("[zones]\nlab = [7]\n", 2, 8, "invalid type: integer `7`");
}

#[test]
fn a_rule_missing_a_field_does_not_hide_the_rules_after_it() {
    let src = "\
[zones]
lab = [\"10.0.0.0/8\"]
[[rule]]
port = 22
zones = [\"lab\"]
[[rule]]
port = 0
protocol = \"tcp\"
zones = [\"lab\"]
";
    assert_eq!(
        located(src),
        [
            "3:1: missing field `protocol`",
            "7:8: port 0 is out of range: ports are 1-65535",
        ]
    );
}

#[test]
fn a_file_of_nothing_but_errors_is_reported_up_to_a_bound() {
    let src: String = (0..150).map(|i| format!("key{i} = {i}\n")).collect();
    let errs = errors(&src);
    assert_eq!(errs.errors.len(), 100, "bounded, not one per key");
    assert_eq!(errs.errors[0].line, 1);
    assert!(
        errs.errors
            .windows(2)
            .all(|w| w[0].span.start < w[1].span.start)
    );
}

#[test]
fn detection_errors_are_located_and_reported_with_the_rest() {
    let src = "\
[zones]
management = [\"10.0.0.0/24\"]
[detection]
scan = \"Blocks\"
blok_ttl = \"10m\"
block_ttl = \"2d\"
max_block_ttl = \"1d\"
never_block = [\"managment\"]
window = \"a while\"
[defaults]
min_severity = \"severe\"
";
    let errs = errors(src);
    let located: Vec<String> = errs
        .errors
        .iter()
        .map(|e| {
            format!(
                "{}:{}: {} ({})",
                e.line,
                e.column,
                e.message,
                e.hint.as_deref().unwrap_or("").split(" (").next().unwrap()
            )
        })
        .collect();
    assert_eq!(
        located,
        [
            "4:8: unknown scan action `Blocks` (did you mean `block`?)",
            "5:1: unknown field `blok_ttl` (did you mean `block_ttl`?)",
            "6:13: block_ttl (48h) is longer than max_block_ttl (24h) (an automatic block lasts at most max_block_ttl: shorten block_ttl or raise max_block_ttl)",
            "8:16: unknown zone `managment` (did you mean `management`?)",
            "9:10: `a while` is not a duration (write e.g. \"60s\", \"10m\", \"4h\" or \"1d\")",
            "11:16: unknown severity `severe`: expected one of info, low, medium, high, critical ()",
        ]
    );
}
