//! Every way a policy file can be wrong, with the exact line and column the
//! error points at. Columns are 1-based characters.

mod common;

use common::{bytes_errors, errors, single, single_bytes};
use portreeve_policy::{parse_policy, parse_policy_bytes};

const ZONES: &str = "[zones]\npublic = [\"0.0.0.0/0\", \"::/0\"]\nprivate = [\"10.0.0.0/8\"]\n";

fn with_rule(rule_body: &str) -> String {
    // ZONES occupies lines 1-3; [[rule]] is line 4; body starts at line 5.
    format!("{ZONES}[[rule]]\n{rule_body}")
}

#[test]
fn toml_syntax_error() {
    single("[zones\npublic = []\n", 1, 7, "");
}

#[test]
fn unknown_top_level_field() {
    let hint = single("versoin = 1\n", 1, 1, "unknown field `versoin`");
    assert!(hint.unwrap().contains("unknown fields are errors"));
}

#[test]
fn unknown_rule_field() {
    single(
        &with_rule("port = 22\nprotocol = \"tcp\"\nzones = [\"public\"]\nowners = \"x\"\n"),
        8,
        1,
        "unknown field `owners`",
    );
}

#[test]
fn unknown_field_in_service_and_defaults() {
    single(
        &with_rule(
            "port = 22\nprotocol = \"tcp\"\nzones = [\"public\"]\nservice = { proces = \"sshd\" }\n",
        ),
        8,
        13,
        "unknown field `proces`",
    );
    single(
        "[defaults]\nmin_sev = \"low\"\n",
        2,
        1,
        "unknown field `min_sev`",
    );
}

#[test]
fn port_zero() {
    single(
        &with_rule("port = 0\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        8,
        "port 0 is out of range",
    );
}

#[test]
fn port_above_65535() {
    single(
        &with_rule("port = 70000\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        8,
        "port 70000 is out of range",
    );
}

#[test]
fn port_range_errors_point_at_the_element() {
    single(
        &with_rule("ports = [80, \"9000-8000\"]\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        14,
        "reversed",
    );
    let hint = single(
        &with_rule("ports = [\"ssh\"]\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        10,
        "not a port",
    );
    assert!(hint.unwrap().contains("8000-8100"));
    single(
        &with_rule("ports = [\"22/tcp\"]\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        10,
        "no protocol suffix",
    );
}

#[test]
fn cidr_prefix_too_long() {
    single(
        "[zones]\nlab = [\"10.0.0.0/33\"]\n",
        2,
        8,
        "prefix length `33` must be 0-32",
    );
    single(
        "[zones]\nlab = [\"2001:db8::/129\"]\n",
        2,
        8,
        "must be 0-128",
    );
}

#[test]
fn cidr_with_host_bits_suggests_the_network() {
    let hint = single(
        "[zones]\nlab = [\"10.0.0.0/8\", \"192.168.1.1/16\"]\n",
        2,
        22,
        "host bits",
    );
    assert_eq!(hint.as_deref(), Some("did you mean `192.168.0.0/16`?"));
}

#[test]
fn cidr_with_bad_address() {
    single(
        "[zones]\nlab = [\"10.0.0.256/24\"]\n",
        2,
        8,
        "not an IP address",
    );
}

#[test]
fn invalid_zone_name_and_empty_zone() {
    single(
        "[zones]\n\"Bad Zone\" = [\"10.0.0.0/8\"]\n",
        2,
        1,
        "invalid zone name",
    );
    single("[zones]\nempty = []\n", 2, 9, "has no networks");
}

#[test]
fn allowing_a_built_in_banned_port() {
    let hint = single(
        &with_rule("port = 23\nprotocol = \"tcp\"\nzones = [\"private\"]\n"),
        5,
        8,
        "which is banned",
    );
    assert!(hint.unwrap().contains("include_defaults = false"));
}

#[test]
fn allowing_a_range_that_overlaps_a_ban() {
    let errs = errors(&with_rule(
        "ports = [\"6000-6100\"]\nprotocol = \"tcp\"\nzones = [\"private\"]\n",
    ));
    assert_eq!((errs.errors[0].line, errs.errors[0].column), (5, 10));
    assert!(
        errs.errors[0].message.contains("6000-6063/tcp"),
        "{}",
        errs.errors[0].message
    );
}

#[test]
fn allowing_a_user_banned_port_names_the_ban_line() {
    let src = format!(
        "{ZONES}[banned]\nports = [\"8080/tcp\"]\n[[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\n"
    );
    let errs = errors(&src);
    assert_eq!(errs.errors.len(), 1, "{errs}");
    assert_eq!((errs.errors[0].line, errs.errors[0].column), (7, 8));
    assert!(
        errs.errors[0].message.contains("banned at line 5"),
        "{}",
        errs.errors[0].message
    );
}

#[test]
fn a_ban_for_the_other_protocol_does_not_conflict() {
    let src = with_rule("port = 69\nprotocol = \"tcp\"\nzones = [\"private\"]\n");
    assert!(
        parse_policy("p.toml", &src).is_ok(),
        "69 is banned for udp only"
    );
}

#[test]
fn disabling_default_bans_allows_the_port() {
    let src = format!(
        "{ZONES}[banned]\ninclude_defaults = false\n[[rule]]\nport = 111\nprotocol = \"tcp\"\nzones = [\"private\"]\n"
    );
    let policy = parse_policy("p.toml", &src).unwrap();
    assert!(policy.banned.is_empty());
}

#[test]
fn invalid_banned_entry() {
    single(
        "[banned]\nports = [\"21/sctp\"]\n",
        2,
        10,
        "unknown protocol",
    );
}

#[test]
fn unknown_zone_suggests_the_closest() {
    let hint = single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = [\"privat\"]\n"),
        7,
        10,
        "unknown zone `privat`",
    );
    assert_eq!(hint.as_deref(), Some("did you mean `private`?"));
    let hint = single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = [\"dmz\"]\n"),
        7,
        10,
        "unknown zone `dmz`",
    );
    assert_eq!(hint.as_deref(), Some("defined zones: private, public"));
}

#[test]
fn missing_protocol() {
    let errs = errors(&with_rule("port = 22\nzones = [\"public\"]\n"));
    assert_eq!(errs.errors.len(), 1);
    assert!(errs.errors[0].message.contains("missing field `protocol`"));
    assert_eq!(errs.errors[0].line, 4, "points at the rule table");
    assert!(errs.errors[0].hint.as_deref().unwrap().contains("\"tcp\""));
}

#[test]
fn invalid_protocol() {
    single(
        &with_rule("port = 22\nprotocol = \"sctp\"\nzones = [\"public\"]\n"),
        6,
        12,
        "unknown protocol `sctp`",
    );
}

#[test]
fn port_and_ports_together_or_neither() {
    single(
        &with_rule("port = 22\nports = [23]\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        6,
        9,
        "not both",
    );
    let errs = errors(&with_rule("protocol = \"tcp\"\nzones = [\"public\"]\n"));
    assert!(errs.errors[0].message.contains("rule has no port"));
    single(
        &with_rule("ports = []\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        9,
        "empty `ports`",
    );
}

#[test]
fn rule_without_zones() {
    single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = []\n"),
        7,
        9,
        "allows no zone",
    );
}

#[test]
fn invalid_family_and_family_outside_the_zones() {
    single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv5\"\n"),
        8,
        10,
        "unknown family",
    );
    single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv6\"\n"),
        8,
        10,
        "matches none of the rule's zone networks",
    );
}

#[test]
fn service_identity_errors() {
    single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nservice = {}\n"),
        8,
        11,
        "empty service identity",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nservice = { exe = \"nginx\" }\n",
        ),
        8,
        11,
        "not an absolute path",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nservice = { container = \"web 01\" }\n",
        ),
        8,
        11,
        "neither a container id nor a name",
    );
}

#[test]
fn dates_must_be_dates_and_in_order() {
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nexpires = 2027-01-01T10:00:00\n",
        ),
        8,
        11,
        "`expires` must be a date",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\napproved_on = 2027-01-02\nexpires = 2027-01-01\n",
        ),
        9,
        11,
        "expires (2027-01-01) before it was approved (2027-01-02)",
    );
}

#[test]
fn duplicate_rule_names() {
    let src = format!(
        "{ZONES}[[rule]]\nname = \"web\"\nport = 80\nprotocol = \"tcp\"\nzones = [\"public\"]\n[[rule]]\nname = \"web\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"public\"]\n"
    );
    let errs = errors(&src);
    assert_eq!(errs.errors.len(), 1, "{errs}");
    assert_eq!((errs.errors[0].line, errs.errors[0].column), (10, 8));
    assert!(errs.errors[0].message.contains("duplicate rule name `web`"));
}

#[test]
fn defaults_out_of_range_and_bad_severity() {
    single(
        "[defaults]\napproval_validity_days = 0\n",
        2,
        26,
        "0 days is out of range",
    );
    single(
        "[defaults]\nexpiry_warning_days = -3\n",
        2,
        23,
        "-3 days is out of range",
    );
    single(
        "[defaults]\nmin_severity = \"severe\"\n",
        2,
        16,
        "unknown severity `severe`",
    );
}

#[test]
fn unsupported_version() {
    single(
        "version = 2\n",
        1,
        11,
        "unsupported policy format version 2",
    );
}

#[test]
fn every_error_is_reported_in_source_order() {
    let src = "[zones]\nlab = [\"10.0.0.0/33\"]\n[[rule]]\nport = 70000\nprotocol = \"tcp\"\nzones = [\"nowhere\"]\n";
    let errs = errors(src);
    let located: Vec<(u32, u32)> = errs.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(located, vec![(2, 8), (4, 8), (6, 10)], "{errs}");
    let text = errs.to_string();
    assert!(text.starts_with("policy.toml:2:8: "), "{text}");
}

#[test]
fn the_documented_example_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/policy.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let policy = parse_policy("policy.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.zones.len(), 4);
    assert_eq!(policy.rules.len(), 6);
    assert_eq!(
        policy.enforce.management_zone.as_deref(),
        Some("management")
    );
    assert!(policy.rules.iter().any(|r| r.grant.is_some()));
    let postgres = policy.rules.iter().find(|r| r.name == "postgres").unwrap();
    assert_eq!(postgres.families, [portreeve_core::Family::Ipv4]);
    // approved_on + approval_validity_days (365).
    assert_eq!(postgres.expires.unwrap().to_string(), "2027-09-01");
    let web = policy.rules.iter().find(|r| r.name == "web").unwrap();
    assert_eq!(web.expires.unwrap().to_string(), "2027-04-15");
    assert_eq!(
        (web.location.line, web.location.column),
        (43, 1),
        "points at the [[rule]] header"
    );
    assert_eq!(
        policy.change_control,
        portreeve_policy::ChangeControl::default()
    );
}

#[test]
fn the_baseline_allows_only_ssh_https_and_dns() {
    let b = portreeve_policy::baseline();
    let mut ports: Vec<String> = b.rules.iter().map(|r| r.ports_label()).collect();
    ports.sort();
    assert_eq!(ports, ["22/tcp", "443/tcp+udp", "53/tcp+udp"]);
    assert!(!b.defaults.report_stale_rules);
}

#[test]
fn wrong_value_types_say_what_to_write() {
    single(
        &with_rule("port = 22.5\nprotocol = \"tcp\"\nzones = [\"public\"]\n"),
        5,
        8,
        "expected a port number (443) or a range string (\"8000-8100\")",
    );
    single(
        &with_rule("port = 22\nprotocol = 6\nzones = [\"public\"]\n"),
        6,
        12,
        "expected \"tcp\", \"udp\" or a list of them",
    );
}

#[test]
fn integers_of_the_wrong_type_say_so_plainly() {
    single(
        "[defaults]\napproval_validity_days = \"30\"\n",
        2,
        26,
        "expected a whole number",
    );
    single("version = \"1\"\n", 1, 11, "expected a whole number");
}

#[test]
fn enforce_table_errors() {
    single(
        "[enforce]\ndefault_action = \"deny\"\n",
        2,
        18,
        "unknown default_action `deny`",
    );
    single(
        "[enforce]\nlog_group = 70000\n",
        2,
        13,
        "70000 NFLOG group is out of range",
    );
    single("[enforce]\nssh_port = 0\n", 2, 12, "0 port is out of range");
    let hint = single(
        &format!("{ZONES}[enforce]\nmanagement_zone = \"privat\"\n"),
        5,
        19,
        "unknown zone `privat`",
    );
    assert_eq!(hint.as_deref(), Some("did you mean `private`?"));
    single("[enforce]\nlog_dropped = \"yes\"\n", 2, 15, "invalid type");
    let hint = single(
        "[enforce]\nlog = \"kernal\"\n",
        2,
        7,
        "unknown log `kernal`",
    );
    assert_eq!(
        hint.as_deref(),
        Some(
            r#"did you mean `kernel`? use "nflog" (an NFLOG group), "kernel" (the kernel log) or "off""#
        )
    );
    let hint = single(
        "[enforce]\nlog = \"syslog\"\n",
        2,
        7,
        "unknown log `syslog`",
    );
    assert!(hint.unwrap().starts_with("use \"nflog\""));
    single(
        "[enforce]\nlog = \"off\"\nlog_dropped = false\n",
        3,
        15,
        "`log_dropped` and `log` are both set",
    );
}

#[test]
fn limit_and_grant_errors() {
    single(
        &with_rule("port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nlimits = {}\n"),
        8,
        10,
        "empty limits",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nlimits = { new_per_second = 0 }\n",
        ),
        8,
        29,
        "0 connections per second is out of range",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nlimits = { rate = 5 }\n",
        ),
        8,
        12,
        "unknown field `rate`",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\ngrant = { max_ttl = \"forever\" }\n",
        ),
        8,
        21,
        "`forever` is not a duration",
    );
    single(
        &with_rule(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\ngrant = { max_ttl = \"31d\" }\n",
        ),
        8,
        21,
        "max_ttl `31d` is out of range",
    );
}

/// `connections` caps a rule's concurrent connections from all sources
/// together; `connections_per_source` may sit below it, never above.
#[test]
fn a_total_connection_cap_parses_and_is_checked() {
    let rule = |limits: &str| {
        with_rule(&format!(
            "port = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nlimits = {{ {limits} }}\n"
        ))
    };
    let p = parse_policy("p.toml", &rule("connections = 1000")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.rules[0].limits.unwrap().connections, Some(1000));
    let both = parse_policy(
        "p.toml",
        &rule("connections = 1000, connections_per_source = 1000"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .rules[0]
        .limits
        .unwrap();
    assert_eq!(
        (both.connections, both.connections_per_source),
        (Some(1000), Some(1000))
    );
    single(
        &rule("connections = 0"),
        8,
        26,
        "0 connections is out of range",
    );
    single(
        &rule("connections = 10000001"),
        8,
        26,
        "10000001 connections is out of range",
    );
    let hint = single(
        &rule("connections = 10, connections_per_source = 20"),
        8,
        55,
        "connections_per_source of 20 is above the rule's connections of 10",
    );
    assert!(hint.unwrap().contains("all sources together"));
}

#[test]
fn enforcement_settings_and_rule_options_parse() {
    let src = format!(
        "{ZONES}[enforce]\ndefault_action = \"reject\"\nlog_group = 5\nmanagement_zone = \"private\"\nssh_port = 2222\n\
         [[rule]]\nname = \"web\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"public\"]\n\
         limits = {{ new_per_second = 500, new_per_second_per_source = 20, connections_per_source = 100 }}\n\
         [[rule]]\nname = \"debug\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"private\"]\ngrant = {{ max_ttl = \"1h30m\" }}\n"
    );
    let p = parse_policy("p.toml", &src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.enforce.default_action,
        portreeve_policy::DefaultAction::Reject
    );
    assert_eq!((p.enforce.log_group, p.enforce.ssh_port), (5, 2222));
    assert_eq!(p.enforce.management_zone.as_deref(), Some("private"));
    let web = p
        .rules
        .iter()
        .find(|r| r.name == "web")
        .unwrap()
        .limits
        .unwrap();
    assert_eq!(
        (
            web.new_per_second,
            web.new_per_second_per_source,
            web.connections_per_source,
            web.burst
        ),
        (Some(500), Some(20), Some(100), 5)
    );
    let debug = p.rules.iter().find(|r| r.name == "debug").unwrap();
    assert_eq!(
        debug.grant.unwrap().max_ttl,
        jiff::SignedDuration::from_mins(90)
    );
}

#[test]
fn durations_parse_in_the_usual_forms() {
    use portreeve_policy::parse_duration;
    let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
    assert_eq!(secs("90s"), Some(90));
    assert_eq!(secs("30m"), Some(1800));
    assert_eq!(secs("4h"), Some(14_400));
    assert_eq!(secs("1h30m"), Some(5400));
    assert_eq!(secs("2d"), Some(172_800));
    assert_eq!(secs("1d12h"), Some(129_600));
    assert_eq!(secs("soon"), None);
    assert_eq!(secs(""), None);
}

#[test]
fn change_control_errors_are_located() {
    let hint = single(
        "[change_control]\napprovals = 0\n",
        2,
        13,
        "0 approvals is out of range",
    );
    assert!(hint.unwrap().contains("from 1 to 10"));
    single(
        "[change_control]\napprovals = 1\nself_aproval = true\n",
        3,
        1,
        "unknown field `self_aproval`",
    );
    let policy = parse_policy(
        "policy.toml",
        "[change_control]\napprovals = 3\nself_approval = true\n",
    )
    .unwrap();
    assert_eq!(policy.change_control.approvals, 3);
    assert!(policy.change_control.self_approval);
    assert!(!policy.change_control.required, "off unless asked for");
    assert_eq!(
        policy.change_control.approval_valid_for,
        jiff::SignedDuration::from_hours(30 * 24)
    );
    let hint = single(
        "[change_control]\nrequired = true\napproval_valid_for = \"2y\"\n",
        3,
        22,
        "approval_valid_for `2y` is not a duration",
    );
    assert!(hint.unwrap().contains("7d"));
    single(
        "[change_control]\napproval_valid_for = \"30s\"\n",
        2,
        22,
        "approval_valid_for `30s` is out of range",
    );
    single(
        "[change_control]\nrequired = \"yes\"\n",
        2,
        12,
        "invalid type: string \"yes\", expected a boolean",
    );
    let policy = parse_policy(
        "policy.toml",
        "[change_control]\nrequired = true\napproval_valid_for = \"12h\"\n",
    )
    .unwrap();
    assert!(policy.change_control.required);
    assert_eq!(
        policy.change_control.approval_valid_for,
        jiff::SignedDuration::from_hours(12)
    );
}

#[test]
fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
    // Latin-1 `é` in a comment: `lab = ["10.0.0.0/8"] # caf` is 26
    // characters, so the bad byte is in column 27 of line 2.
    let src = b"[zones]\nlab = [\"10.0.0.0/8\"] # caf\xe9\n";
    let hint = single_bytes(src, 2, 27, "not valid UTF-8");
    assert!(hint.unwrap().contains("re-save the file as UTF-8"));
    let errs = bytes_errors(src);
    let e = &errs.errors[0];
    assert!(e.message.contains("0xE9"), "names the byte: {}", e.message);
    // The source kept for snippets is the text with the bad byte replaced,
    // and the span points at the replacement.
    assert_eq!(&errs.source[e.span.clone()], "\u{FFFD}");
    assert!(errs.to_string().starts_with("policy.toml:2:27: "));
}

#[test]
fn utf8_errors_count_columns_in_characters_and_see_truncation() {
    single_bytes(b"\xff = 1\n", 1, 1, "byte 0xFF");
    // `é` before the bad byte is two bytes but one column.
    single_bytes(
        "é = \""
            .as_bytes()
            .iter()
            .chain(b"\xc3\x28\"\n")
            .copied()
            .collect::<Vec<_>>()
            .as_slice(),
        1,
        6,
        "byte 0xC3",
    );
    // A file cut in the middle of a character.
    let hint = single_bytes(
        b"[zones]\n# caf\xc3",
        2,
        6,
        "ends in the middle of a character",
    );
    assert!(hint.is_some());
    // Only the first bad byte is reported: the file is not read further.
    assert_eq!(bytes_errors(b"\xff\n\xfe\n").errors.len(), 1);
}

#[test]
fn valid_bytes_parse_like_text() {
    let text = "[zones]\noffice = [\"10.20.1.0/24\"]\n# café\n";
    assert_eq!(
        parse_policy_bytes("policy.toml", text.as_bytes()).unwrap(),
        parse_policy("policy.toml", text).unwrap()
    );
    // Bytes that are UTF-8 but not a valid policy get the usual errors.
    assert_eq!(bytes_errors(b"[zones\n"), errors("[zones\n"));
}
