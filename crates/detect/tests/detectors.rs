//! The detectors' promises, over synthetic attempt streams: TRW flags a
//! scanner within the paper's four or five failures whatever its pace,
//! never flags a client whose first contacts mostly succeed, and names the
//! scan's shape; the fixed-threshold baselines flag at 15 ports.

use std::net::{IpAddr, Ipv4Addr};

use jiff::{SignedDuration, Timestamp};
use portreeve_detect::{
    Attempt, CrowdSecLike, Detection, Detector, Outcome, Probe, ScanKind, Transport, Trw, ZeekLike,
    detect_all,
};
use proptest::prelude::*;

const SCANNER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66));
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

fn start() -> Timestamp {
    Timestamp::new(1_700_000_000, 0).unwrap()
}

/// An attempt `i` steps of `pace` after the start.
fn attempt(source: IpAddr, i: u32, pace: SignedDuration, port: u16, outcome: Outcome) -> Attempt {
    Attempt {
        at: start() + pace * i as i32,
        source,
        destination: TARGET,
        port,
        transport: Transport::Tcp,
        probe: Probe::Syn,
        outcome,
    }
}

/// A scanner probing ports 1.. in order, each refused, at `pace`.
fn scan(count: u16, pace: SignedDuration) -> Vec<Attempt> {
    (1..=count)
        .map(|p| attempt(SCANNER, u32::from(p), pace, p, Outcome::Rejected))
        .collect()
}

fn only(detections: &[Detection]) -> &Detection {
    assert_eq!(detections.len(), 1, "{detections:#?}");
    &detections[0]
}

#[test]
fn a_scanner_is_flagged_after_four_failures() {
    let d = detect_all(
        &mut Trw::default(),
        scan(100, SignedDuration::from_millis(1)),
    );
    let d = only(&d);
    assert_eq!(d.attempts_before_decision, 4, "{d:#?}");
    assert_eq!(
        (d.source, d.kind, d.port_count),
        (SCANNER, ScanKind::Vertical, 100)
    );
    assert_eq!(d.ports.len(), 64, "the port list is capped");
    assert!(
        d.evidence.contains("likelihood ratio 256"),
        "{}",
        d.evidence
    );
}

#[test]
fn a_scanner_that_finds_an_open_port_first_is_flagged_after_five_failures() {
    let pace = SignedDuration::from_millis(1);
    let mut attempts = vec![attempt(SCANNER, 0, pace, 22, Outcome::Reset)];
    attempts.extend(scan(20, pace));
    let d = detect_all(&mut Trw::default(), attempts);
    assert_eq!(
        only(&d).attempts_before_decision,
        6,
        "one success, five failures"
    );
}

#[test]
fn slow_scans_are_flagged_as_fast_as_quick_ones() {
    // nmap -T2 waits 0.4 s between probes, -T1 15 s.
    for pace in [
        SignedDuration::from_millis(400),
        SignedDuration::from_secs(15),
    ] {
        let d = detect_all(&mut Trw::default(), scan(30, pace));
        assert_eq!(only(&d).attempts_before_decision, 4, "pace {pace}");
    }
    // The fixed-threshold baselines miss a -T1-paced scan of 30 ports.
    let slow = scan(30, SignedDuration::from_secs(30));
    assert!(detect_all(&mut ZeekLike::default(), slow.clone()).is_empty());
    let slow = scan(30, SignedDuration::from_secs(15));
    assert!(detect_all(&mut CrowdSecLike::default(), slow).is_empty());
}

#[test]
fn the_baselines_flag_at_fifteen_ports() {
    let fast = scan(40, SignedDuration::from_millis(10));
    let zeek = detect_all(&mut ZeekLike::default(), fast.clone());
    assert_eq!(only(&zeek).attempts_before_decision, 15);
    let crowdsec = detect_all(&mut CrowdSecLike::default(), fast);
    assert_eq!(
        only(&crowdsec).attempts_before_decision,
        16,
        "overflow past 15"
    );
}

#[test]
fn a_client_that_mistypes_a_port_once_is_not_flagged() {
    let pace = SignedDuration::from_secs(1);
    let mut attempts: Vec<Attempt> = (0..50)
        .map(|i| attempt(CLIENT, i, pace, 443, Outcome::Established))
        .collect();
    attempts.insert(7, attempt(CLIENT, 7, pace, 4433, Outcome::Rejected));
    assert!(detect_all(&mut Trw::default(), attempts).is_empty());
    // Mistyping before the first success is not enough either.
    let attempts = vec![
        attempt(CLIENT, 0, pace, 8443, Outcome::Unanswered),
        attempt(CLIENT, 1, pace, 443, Outcome::Established),
    ];
    assert!(detect_all(&mut Trw::default(), attempts).is_empty());
}

#[test]
fn only_first_contacts_count() {
    let pace = SignedDuration::from_millis(100);
    let attempts = (0..100).map(|i| attempt(CLIENT, i, pace, 5432, Outcome::Rejected));
    assert!(detect_all(&mut Trw::default(), attempts).is_empty());
}

#[test]
fn a_benign_walk_restarts_so_a_later_scan_is_still_caught() {
    let pace = SignedDuration::from_millis(10);
    let mut attempts: Vec<Attempt> = (0..20)
        .map(|i| attempt(SCANNER, i, pace, 1000 + i as u16, Outcome::Established))
        .collect();
    attempts.extend((20..30).map(|i| attempt(SCANNER, i, pace, i as u16, Outcome::Rejected)));
    let d = detect_all(&mut Trw::default(), attempts);
    assert_eq!(only(&d).attempts_before_decision, 24);
}

#[test]
fn the_scan_shape_is_named() {
    let pace = SignedDuration::from_millis(10);
    let horizontal: Vec<Attempt> = (1..=8u8)
        .map(|h| Attempt {
            destination: IpAddr::V4(Ipv4Addr::new(198, 51, 100, h)),
            ..attempt(SCANNER, u32::from(h), pace, 22, Outcome::Unanswered)
        })
        .collect();
    let stealth: Vec<Attempt> = scan(8, pace)
        .into_iter()
        .map(|a| Attempt {
            probe: Probe::Fin,
            outcome: Outcome::Unanswered,
            ..a
        })
        .collect();
    let udp: Vec<Attempt> = scan(8, pace)
        .into_iter()
        .map(|a| Attempt {
            transport: Transport::Udp,
            probe: Probe::Udp,
            ..a
        })
        .collect();
    for (attempts, kind) in [
        (horizontal, ScanKind::Horizontal),
        (stealth, ScanKind::Stealth),
        (udp, ScanKind::Udp),
        (scan(8, pace), ScanKind::Vertical),
    ] {
        assert_eq!(only(&detect_all(&mut Trw::default(), attempts)).kind, kind);
    }
}

#[test]
fn a_stealth_probe_fails_whatever_the_answer() {
    // Even reported as accepted, an Xmas segment opened no connection.
    let attempts = scan(4, SignedDuration::from_millis(10))
        .into_iter()
        .map(|a| Attempt {
            probe: Probe::Xmas,
            outcome: Outcome::Established,
            ..a
        });
    let d = detect_all(&mut Trw::default(), attempts);
    assert_eq!(only(&d).attempts_before_decision, 4);
}

proptest! {
    /// A client whose first contacts never fail twice without a success
    /// in between is never flagged, however long it runs.
    #[test]
    fn a_mostly_successful_client_is_never_flagged(
        blocks in prop::collection::vec((1u16..4, any::<bool>(), any::<bool>()), 1..300)
    ) {
        let pace = SignedDuration::from_millis(250);
        let mut attempts = Vec::new();
        let mut port = 1u16;
        for (successes, fails, unanswered) in blocks {
            for _ in 0..successes {
                let i = attempts.len() as u32;
                attempts.push(attempt(CLIENT, i, pace, port, Outcome::Established));
                port += 1;
            }
            if fails {
                let outcome = if unanswered { Outcome::Unanswered } else { Outcome::Rejected };
                let i = attempts.len() as u32;
                attempts.push(attempt(CLIENT, i, pace, port, outcome));
                port += 1;
            }
        }
        let mut trw = Trw::default();
        for a in &attempts {
            prop_assert!(trw.observe(a).is_none());
        }
    }
}
