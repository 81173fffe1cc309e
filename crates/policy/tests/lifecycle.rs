//! The `[lifecycle]` table and a rule's lifecycle keys: defaults, the
//! resolution order (rule > zone > defaults), and every error with the exact
//! line and column it points at.

mod common;

use common::{errors, single};
use jiff::SignedDuration;
use portreeve_policy::{Lifecycle, LifecycleSettings, Policy, ReclaimMode, parse_policy};

/// Lines 1-4.
const ZONES: &str = "[zones]\npublic = [\"0.0.0.0/0\", \"::/0\"]\noffice = [\"10.1.0.0/16\"]\nlab = [\"10.2.0.0/16\"]\n";

fn parse(src: &str) -> Policy {
    parse_policy("policy.toml", src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn days(d: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * d)
}

#[test]
fn defaults_without_a_table() {
    let p = parse(ZONES);
    assert_eq!(p.lifecycle, Lifecycle::default());
    assert_eq!(p.lifecycle.dormant_after, hours(72));
    assert_eq!(p.lifecycle.abandoned_after, days(30));
    assert_eq!(p.lifecycle.reclaim, ReclaimMode::Recommend);
    assert_eq!(
        p.lifecycle.settings(None, None),
        LifecycleSettings {
            dormant_after: hours(72),
            abandoned_after: days(30),
            reclaim: ReclaimMode::Recommend,
            keep: false,
        }
    );
}

#[test]
fn the_table_and_its_zones_are_read() {
    let p = parse(&format!(
        "{ZONES}[lifecycle]\ndormant_after = \"4d\"\nabandoned_after = \"60d\"\nreclaim = \"close\"\n\
         [lifecycle.zones.office]\ndormant_after = \"1h30m\"\nreclaim = \"off\"\n"
    ));
    let l = &p.lifecycle;
    assert_eq!(
        (l.dormant_after, l.abandoned_after, l.reclaim),
        (days(4), days(60), ReclaimMode::Close)
    );
    let office = l.zones["office"];
    assert_eq!(office.dormant_after, Some(SignedDuration::from_mins(90)));
    assert_eq!(office.abandoned_after, None);
    assert_eq!(office.reclaim, Some(ReclaimMode::Off));
    assert_eq!(l.zones.len(), 1);
}

#[test]
fn resolution_is_rule_then_zone_then_defaults() {
    let p = parse(&format!(
        "{ZONES}[lifecycle]\ndormant_after = \"4d\"\nabandoned_after = \"60d\"\n\
         [lifecycle.zones.office]\ndormant_after = \"2d\"\nabandoned_after = \"20d\"\nreclaim = \"close\"\n\
         [[rule]]\nname = \"app\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"office\", \"lab\"]\n\
         abandoned_after = \"10d\"\n\
         [[rule]]\nname = \"vault\"\nport = 8200\nprotocol = \"tcp\"\nzones = [\"office\"]\nkeep = true\nreclaim = \"off\"\n\
         [[rule]]\nname = \"plain\"\nport = 9000\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
    ));
    let rule = |name: &str| p.rules.iter().find(|r| r.name == name).unwrap();
    let l = &p.lifecycle;

    // The rule's own key wins; the rest comes from the zone, then defaults.
    let app_office = l.settings(Some(rule("app")), Some("office"));
    assert_eq!(app_office.abandoned_after, days(10)); // rule
    assert_eq!(app_office.dormant_after, days(2)); // zone
    assert_eq!(app_office.reclaim, ReclaimMode::Close); // zone
    assert!(!app_office.keep);
    let app_lab = l.settings(Some(rule("app")), Some("lab"));
    assert_eq!(app_lab.abandoned_after, days(10)); // rule
    assert_eq!(app_lab.dormant_after, days(4)); // defaults: lab has no override
    assert_eq!(app_lab.reclaim, ReclaimMode::Recommend); // defaults

    let vault = l.settings(Some(rule("vault")), Some("office"));
    assert!(vault.keep);
    assert_eq!(vault.reclaim, ReclaimMode::Off); // rule beats the zone's close
    assert_eq!(vault.dormant_after, days(2));

    let plain = l.settings(Some(rule("plain")), Some("lab"));
    assert_eq!(
        (plain.dormant_after, plain.abandoned_after, plain.reclaim),
        (days(4), days(60), ReclaimMode::Recommend)
    );
    // An unknown zone name (not possible from a parsed rule) falls back to
    // the defaults rather than panicking.
    assert_eq!(l.settings(None, Some("nowhere")), l.settings(None, None));
    assert_eq!(rule("app").lifecycle.abandoned_after, Some(days(10)));
    assert_eq!(rule("app").lifecycle.dormant_after, None);
}

#[test]
fn unknown_keys_are_errors_at_every_level() {
    let hint = single(
        "[lifecycle]\ndormant_afer = \"1h\"\n",
        2,
        1,
        "unknown field `dormant_afer`",
    );
    assert!(hint.unwrap().contains("unknown fields are errors"));
    // `keep` is per rule, not per zone.
    single(
        &format!("{ZONES}[lifecycle.zones.office]\nkeep = true\n"),
        6,
        1,
        "unknown field `keep`",
    );
    single(
        &format!(
            "{ZONES}[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\nkeeep = true\n"
        ),
        9,
        1,
        "unknown field `keeep`",
    );
}

#[test]
fn unknown_zone_points_at_its_name() {
    let hint = single(
        &format!("{ZONES}[lifecycle.zones.ofice]\nreclaim = \"off\"\n"),
        5,
        18,
        "unknown zone `ofice`",
    );
    assert_eq!(hint.unwrap(), "did you mean `office`?");
    // The dotted-key form inside [lifecycle] points at the name too.
    single(
        &format!("{ZONES}[lifecycle]\nzones.lab2x = {{ reclaim = \"off\" }}\n"),
        6,
        7,
        "unknown zone `lab2x`",
    );
}

#[test]
fn durations_are_checked() {
    let hint = single(
        "[lifecycle]\ndormant_after = \"3 fortnights\"\n",
        2,
        17,
        "`3 fortnights` is not a duration",
    );
    assert!(hint.unwrap().contains("\"72h\""));
    let hint = single(
        "[lifecycle]\nabandoned_after = \"0s\"\n",
        2,
        19,
        "abandoned_after `0s` is out of range",
    );
    assert!(hint.unwrap().contains("1 second to 3650 days"));
    single(
        "[lifecycle]\nabandoned_after = \"3651d\"\n",
        2,
        19,
        "out of range",
    );
    single(
        "[lifecycle]\ndormant_after = 72\n",
        2,
        17,
        "invalid type: integer `72`, expected a string",
    );
}

#[test]
fn reclaim_mode_is_checked() {
    let hint = single(
        "[lifecycle]\nreclaim = \"delete\"\n",
        2,
        11,
        "unknown reclaim mode `delete`",
    );
    assert!(hint.unwrap().contains("\"recommend\""));
    single(
        &format!(
            "{ZONES}[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\nreclaim = \"Close\"\n"
        ),
        9,
        11,
        "unknown reclaim mode `Close`",
    );
}

#[test]
fn abandoned_must_follow_dormant_in_the_defaults() {
    // Blamed on abandoned_after when the level sets it...
    let hint = single(
        "[lifecycle]\ndormant_after = \"72h\"\nabandoned_after = \"48h\"\n",
        3,
        19,
        "[lifecycle]: abandoned_after (48h) must be longer than dormant_after (72h)",
    );
    assert!(hint.unwrap().contains("dormant before it is abandoned"));
    // ...on dormant_after when only that is set (30 days is the default).
    single(
        "[lifecycle]\ndormant_after = \"30d\"\n",
        2,
        17,
        "abandoned_after (720h) must be longer than dormant_after (720h)",
    );
}

#[test]
fn abandoned_must_follow_dormant_in_a_zone() {
    single(
        &format!("{ZONES}[lifecycle.zones.lab]\ndormant_after = \"31d\"\n"),
        6,
        17,
        "zone `lab`: abandoned_after (720h) must be longer than dormant_after (744h)",
    );
    // Inherited values count: the zone lengthens dormant past the table's
    // own abandoned_after.
    single(
        &format!(
            "{ZONES}[lifecycle]\nabandoned_after = \"10d\"\n[lifecycle.zones.office]\ndormant_after = \"12d\"\n"
        ),
        8,
        17,
        "zone `office`",
    );
    // Out-of-order defaults are reported once, not again for each zone.
    let errs = errors(&format!(
        "{ZONES}[lifecycle]\nabandoned_after = \"1h\"\n[lifecycle.zones.office]\nreclaim = \"off\"\n"
    ));
    assert_eq!(errs.errors.len(), 1, "{errs}");
    assert_eq!((errs.errors[0].line, errs.errors[0].column), (6, 19));
}

#[test]
fn abandoned_must_follow_dormant_in_a_rule_for_each_zone() {
    // office abandons after 90 days, lab after the default 30: a rule that
    // goes dormant after 45 days is fine in office, not in lab.
    let src = format!(
        "{ZONES}[lifecycle.zones.office]\nabandoned_after = \"90d\"\n\
         [[rule]]\nname = \"app\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"office\"]\ndormant_after = \"45d\"\n\
         [[rule]]\nname = \"both\"\nport = 8081\nprotocol = \"tcp\"\nzones = [\"office\", \"lab\"]\ndormant_after = \"45d\"\n"
    );
    // Lines: 5-6 zone override; rule app 7-12; rule both 13-18.
    let hint = single(
        &src,
        18,
        17,
        "rule `both` (zone `lab`): abandoned_after (720h) must be longer than dormant_after (1080h)",
    );
    assert!(hint.is_some());
    single(
        &format!(
            "{ZONES}[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\ndormant_after = \"2d\"\nabandoned_after = \"1d\"\n"
        ),
        10,
        19,
        "rule `rule #1`: abandoned_after (24h) must be longer than dormant_after (48h)",
    );
}

#[test]
fn a_broken_duration_does_not_also_report_the_order() {
    single(
        "[lifecycle]\ndormant_after = \"soon\"\nabandoned_after = \"1h\"\n",
        2,
        17,
        "not a duration",
    );
}

#[test]
fn errors_across_levels_are_reported_together_in_source_order() {
    let errs = errors(&format!(
        "{ZONES}[lifecycle]\nreclaim = \"nuke\"\n[lifecycle.zones.nowhere]\nreclaim = \"off\"\n\
         [[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\nabandoned_after = \"-\"\n"
    ));
    let located: Vec<(u32, u32)> = errs.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(located, vec![(6, 11), (7, 18), (13, 19)], "{errs}");
}

#[test]
fn keep_is_read_and_defaults_to_false() {
    let p = parse(&format!(
        "{ZONES}[[rule]]\nname = \"a\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\nkeep = true\n\
         [[rule]]\nname = \"b\"\nport = 23000\nprotocol = \"tcp\"\nzones = [\"office\"]\n"
    ));
    assert!(p.rules[0].keep);
    assert!(!p.rules[1].keep);
    single(
        &format!(
            "{ZONES}[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\nkeep = \"yes\"\n"
        ),
        9,
        8,
        "invalid type: string \"yes\", expected a boolean",
    );
}

#[test]
fn the_documented_example_has_a_lifecycle_table() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/policy.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let p = parse(&text);
    assert_eq!(p.lifecycle.dormant_after, hours(72));
    assert_eq!(p.lifecycle.abandoned_after, days(30));
    assert_eq!(p.lifecycle.reclaim, ReclaimMode::Recommend);
    assert_eq!(
        p.lifecycle.zones["management"].reclaim,
        Some(ReclaimMode::Off)
    );
}
