//! [`DebianVersion`]'s order held to dpkg's own: generated pairs of
//! versions, biased to the cases that decide (tildes, letters against
//! other characters, leading zeros, epochs, missing revisions, equal
//! prefixes), compared by both.

use std::cmp::Ordering;
use std::process::Command;

use portreeve_vulns::DebianVersion;
use proptest::prelude::*;

/// dpkg's verdict on `a` against `b`.
fn dpkg(a: &str, b: &str) -> Ordering {
    let holds = |op: &str| {
        let status = Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .expect("dpkg runs");
        match status.code() {
            Some(0) => true,
            Some(1) => false,
            other => panic!("dpkg --compare-versions {a} {op} {b}: exit {other:?}"),
        }
    };
    if holds("lt") {
        Ordering::Less
    } else if holds("eq") {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

/// A run of a few characters from those that sort differently.
fn piece() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => "[0-9]{1,3}",
            1 => Just("0".to_owned()),
            2 => "[a-zA-Z]{1,2}",
            2 => prop::sample::select(vec![".", "+", "~", "~~"]).prop_map(str::to_owned),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

/// A version dpkg accepts without a warning: epoch optional, upstream
/// starting with a digit (hyphens only with a revision), revision
/// optional.
fn version() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u32..4),
        "[0-9]{1,2}",
        piece(),
        prop::option::of(("[0-9]{1,2}", piece())),
    )
        .prop_map(|(epoch, head, tail, revision)| {
            let mut v = epoch.map(|e| format!("{e}:")).unwrap_or_default();
            v.push_str(&head);
            v.push_str(&tail);
            if let Some((rev_head, rev_tail)) = revision {
                v.push('-');
                v.push_str(&rev_head);
                v.push_str(&rev_tail);
            }
            v
        })
}

/// `b` made from `a` by a small edit, so that many pairs share a prefix
/// and differ where the rules are subtle.
fn near(a: String) -> impl Strategy<Value = (String, String)> {
    let edits = prop::sample::select(vec!["~", "~1", "a", "+1", ".0", "0", "-0", "-1", "~rc1"]);
    (Just(a), edits).prop_map(|(a, e)| {
        let b = format!("{a}{e}");
        (a, b)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_order_is_dpkgs(a in version(), b in version()) {
        if !portreeve_testkit::require_programs("the_order_is_dpkgs", &["dpkg"]) {
            return Ok(());
        }
        let (x, y) = (DebianVersion::parse(&a).unwrap(), DebianVersion::parse(&b).unwrap());
        prop_assert_eq!(x.cmp(&y), dpkg(&a, &b), "{} against {}", a, b);
    }

    #[test]
    fn near_versions_order_as_dpkg_orders_them((a, b) in version().prop_flat_map(near)) {
        if !portreeve_testkit::require_programs("near_versions_order_as_dpkg_orders_them", &["dpkg"]) {
            return Ok(());
        }
        // A hyphen edit is only a revision when the version had none.
        let (Ok(x), Ok(y)) = (DebianVersion::parse(&a), DebianVersion::parse(&b)) else {
            return Ok(());
        };
        prop_assert_eq!(x.cmp(&y), dpkg(&a, &b), "{} against {}", a, b);
    }
}
