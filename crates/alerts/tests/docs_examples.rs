//! The outputs shown in docs/detection.md's "Alerts" section are what the
//! formatters make of the sample alerts, so the documentation cannot drift
//! from the code.

use portreeve_alerts::config::Facility;
use portreeve_alerts::syslog::SyslogFormat;
use portreeve_alerts::{Alert, ecs, examples, webhook};

fn pretty(json: &serde_json::Value) -> String {
    serde_json::to_string_pretty(json).unwrap()
}

#[test]
fn documented_outputs_are_the_formatters_outputs() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/detection.md"
    ))
    .unwrap();
    let detection = examples::detection();
    let block = Alert::Block(examples::block());
    let syslog = SyslogFormat {
        facility: Facility::Auth,
        hostname: "gate".to_owned(),
        procid: 812,
    };
    let webhook_body: serde_json::Value =
        serde_json::from_slice(&webhook::body(&detection).unwrap()).unwrap();
    // The examples were made with portreeve 0.1.0; later versions differ
    // only in CEF's version field.
    let version = concat!("|", env!("CARGO_PKG_VERSION"), "|");
    let expected = [
        syslog.format(&detection).replace(version, "|0.1.0|"),
        syslog.format(&block).replace(version, "|0.1.0|"),
        pretty(&webhook_body),
        pretty(&ecs::document(&detection)),
        pretty(&ecs::document(&block)),
    ];
    let missing: Vec<String> = expected
        .into_iter()
        .filter(|text| !doc.contains(text))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/detection.md does not show:\n{}",
        missing.join("\n\n")
    );
}

/// docs/forecast.md's "In the agent" shows the usage anomaly alert as the
/// syslog sink sends it and as the ECS sink writes it.
#[test]
fn the_documented_usage_anomaly_alert_is_the_formatters_output() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/forecast.md"
    ))
    .unwrap();
    let anomaly = examples::usage_anomaly();
    let syslog = SyslogFormat {
        facility: Facility::Daemon,
        hostname: "gate".to_owned(),
        procid: 812,
    };
    let version = concat!("|", env!("CARGO_PKG_VERSION"), "|");
    let expected = [
        syslog.format(&anomaly).replace(version, "|0.1.0|"),
        pretty(&ecs::document(&anomaly)),
    ];
    let missing: Vec<String> = expected
        .into_iter()
        .filter(|text| !doc.contains(text))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/forecast.md does not show:\n{}",
        missing.join("\n\n")
    );
}
