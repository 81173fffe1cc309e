//! Sample alerts with fixed values, for tests and for the examples in
//! docs/detection.md (the documented outputs are these alerts formatted).

use jiff::Timestamp;

use crate::alert::{
    Action, Alert, AnomalyKind, BlockAlert, BlockEvent, DetectionAlert, ScanKind, Tier,
    UsageAnomalyAlert,
};

/// 2026-05-28T20:26:40Z, the time the samples start at.
const START: i64 = 1_780_000_000;

/// A vertical scan from 192.0.2.7, blocked by the kernel tier.
pub fn detection() -> Alert {
    Alert::Detection(DetectionAlert {
        source: "192.0.2.7".parse().expect("address"),
        kind: ScanKind::Vertical,
        first_seen: Timestamp::from_second(START).expect("time"),
        last_seen: Timestamp::from_second(START + 5).expect("time"),
        ports: vec![22, 23, 80, 443, 8080],
        attempts: 5,
        tier: Tier::Kernel,
        action: Action::Block,
        evidence: vec!["5 closed ports in 5s".to_owned(), "threshold=5".to_owned()],
    })
}

/// The block of 192.0.2.7 that followed [`detection`].
pub fn block() -> BlockAlert {
    BlockAlert {
        event: BlockEvent::Block,
        target: "192.0.2.7/32".parse().expect("network"),
        at: Timestamp::from_second(START + 5).expect("time"),
        ttl_seconds: Some(600),
        reason: "vertical port scan".to_owned(),
        actor: "agent".to_owned(),
    }
}

/// A burst on 8080/tcp in the hour from 2026-05-28T20:00Z: 240 new
/// connections where at most 25 were plausible.
pub fn usage_anomaly() -> Alert {
    Alert::UsageAnomaly(UsageAnomalyAlert {
        protocol: portreeve_core::Proto::Tcp,
        port: 8080,
        start: Timestamp::from_second(START - START % 3600).expect("time"),
        observed: 240,
        expected_low: 10,
        expected_high: 25,
        kind: AnomalyKind::Burst,
    })
}
