//! OSV range semantics as a property: a range of several stretches, its
//! events written in any order, affects exactly the versions inside one of
//! its stretches — `[introduced, fixed)`, `[introduced, last_affected]`,
//! or `[introduced, ∞)` for a last stretch with no end.
//!
//! Versions are Debian versions `E:U-1` standing for the number
//! `100 * E + U`, so that the oracle compares plain numbers while the
//! judge goes through dpkg's order, epochs included.

use portreeve_vulns::osv::{Affected, Event, Package, Range, RangeKind};
use portreeve_vulns::{Advisory, Ecosystem, Judgement, judge};
use proptest::prelude::*;

fn version(n: u32) -> String {
    format!("{}:{}-1", n / 100, n % 100)
}

/// How the last stretch ends.
#[derive(Clone, Copy, Debug)]
enum LastEnd {
    Fixed,
    LastAffected,
    Open,
}

fn advisory(events: Vec<Event>) -> Advisory {
    Advisory {
        id: "PROP-1".into(),
        aliases: vec![],
        related: vec![],
        summary: None,
        details: None,
        modified: "2024-01-01T00:00:00Z".into(),
        published: None,
        withdrawn: None,
        severity: vec![],
        affected: vec![Affected {
            package: Package {
                ecosystem: "Debian:12".into(),
                name: "p".into(),
                purl: None,
            },
            ranges: vec![Range {
                kind: RangeKind::Ecosystem,
                repo: None,
                events,
            }],
            versions: vec![],
            severity: vec![],
            ecosystem_specific: None,
            database_specific: None,
        }],
        references: vec![],
        database_specific: None,
    }
}

proptest! {
    #[test]
    fn a_range_affects_exactly_its_stretches(
        bounds in prop::collection::btree_set(1u32..400, 1..8),
        last in prop_oneof![Just(LastEnd::Fixed), Just(LastEnd::LastAffected), Just(LastEnd::Open)],
        zero in any::<bool>(),
        order in any::<prop::sample::Index>(),
    ) {
        let mut bounds: Vec<u32> = bounds.into_iter().collect();
        // Stretches: (start, end, end inclusive); the first may start at "0".
        let mut stretches = Vec::new();
        let mut events = Vec::new();
        if zero {
            bounds.insert(0, 0);
        }
        let mut pairs = bounds.chunks(2).peekable();
        while let Some(pair) = pairs.next() {
            let start = pair[0];
            let is_last = pairs.peek().is_none();
            events.push(Event::Introduced(if start == 0 { "0".into() } else { version(start) }));
            match (pair.get(1), is_last, last) {
                (Some(&end), true, LastEnd::LastAffected) => {
                    events.push(Event::LastAffected(version(end)));
                    stretches.push((start, Some(end), true));
                }
                (Some(_), true, LastEnd::Open) | (None, _, _) => {
                    stretches.push((start, None, false));
                }
                (Some(&end), _, _) => {
                    events.push(Event::Fixed(version(end)));
                    stretches.push((start, Some(end), false));
                }
            }
        }
        // Any order of the events: a rotation chosen by the input.
        let turn = order.index(events.len());
        events.rotate_left(turn);
        events.reverse();
        let a = advisory(events);
        let debian12 = Ecosystem::parse("Debian:12");
        for v in 1..=401u32 {
            let expected = stretches.iter().any(|&(start, end, inclusive)| {
                v >= start && match end {
                    None => true,
                    Some(end) if inclusive => v <= end,
                    Some(end) => v < end,
                }
            });
            let got = judge(&a, &debian12, "p", &version(v));
            prop_assert_eq!(
                matches!(got, Judgement::Affected(_)), expected,
                "version {} ({}) judged {:?} with stretches {:?}", v, version(v), got, stretches
            );
        }
    }
}
