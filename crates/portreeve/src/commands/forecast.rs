//! `predict` and `anomalies`: port usage judged from the agent's hourly
//! history or from an events file.

use std::path::Path;

use portreeve_app::forecast::{self, Events, PortAnomaly, PortPrediction};
use portreeve_app::input;
use portreeve_forecast::{AnomalyKind, Hour, Pattern};
use serde::Serialize;

use crate::cli::{AnomaliesArgs, ListFormat, PredictArgs};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{Envelope, host_name};
use crate::output::{counted, emit, emit_hint, emit_json, table};

/// `kind` of `predict --format json`'s document.
const PREDICT_KIND: &str = "portreeve.predict";
/// `kind` of `anomalies --format json`'s document.
const ANOMALIES_KIND: &str = "portreeve.anomalies";

/// The chance at or above which use is expected.
const EXPECTED: f64 = 0.5;

/// The `events` of the JSON documents when the agent's history was read.
const AGENT_HISTORY: &str = "agent history";

/// The history judged: the events file when one is given, else the
/// agent's, up to now; and how the documents name it.
fn read(events: Option<&Path>, ctx: &Context) -> Result<(Events, String), Failure> {
    Ok(match events {
        Some(path) => (forecast::read_events(path)?, input::origin(path)),
        None => (
            forecast::history(&ctx.state, jiff::Timestamp::now())?,
            AGENT_HISTORY.to_string(),
        ),
    })
}

pub fn predict(args: &PredictArgs, ctx: &Context) -> Result<u8, Failure> {
    let (events, origin) = read(args.events.as_deref(), ctx)?;
    let at = args.at.map_or(events.end, forecast::hour_of);
    let predictions = forecast::predict(&events, at);
    let host = host_name();
    match args.format {
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = predictions.iter().map(prediction_row).collect();
            emit(&table::rows(
                &[
                    "PORT",
                    "CHANCE",
                    "PATTERN",
                    "LAST USED",
                    "CONNECTIONS",
                    "WHY",
                ],
                &rows,
                table::stdout_colour(),
            ));
            emit_hint(&format!(
                "{} · the 24 hours from {} · judged from {origin}\n",
                counted(predictions.len(), "port"),
                forecast::start_of(at)
            ));
        }
        ListFormat::Json => emit_json(&PredictDocument {
            envelope: Envelope::new(PREDICT_KIND, &host),
            events: origin,
            at: start(at),
            until: start(at + 24),
            ports: predictions.iter().map(PredictionRecord::of).collect(),
        }),
    }
    Ok(EXIT_OK)
}

pub fn anomalies(args: &AnomaliesArgs, ctx: &Context) -> Result<u8, Failure> {
    let (events, origin) = read(args.events.as_deref(), ctx)?;
    let found = forecast::anomalies(&events, args.since.map(forecast::hour_of));
    let host = host_name();
    match args.format {
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = found.iter().map(anomaly_row).collect();
            emit(&table::rows(
                &["PORT", "START", "OBSERVED", "EXPECTED", "KIND"],
                &rows,
                table::stdout_colour(),
            ));
            emit_hint(&format!(
                "{} in {} · judged from {origin}\n",
                counted(found.len(), "implausible hour"),
                counted(events.ports.len(), "port")
            ));
        }
        ListFormat::Json => emit_json(&AnomaliesDocument {
            envelope: Envelope::new(ANOMALIES_KIND, &host),
            events: origin,
            since: args.since.map(|t| t.to_string()),
            anomalies: found.iter().map(AnomalyRecord::of).collect(),
        }),
    }
    Ok(EXIT_OK)
}

fn prediction_row(p: &PortPrediction) -> Vec<String> {
    let prediction = &p.prediction;
    vec![
        format!("{}/{}", p.port, p.protocol),
        format!("{:.0} %", prediction.probability * 100.0),
        prediction.pattern.tag().to_string(),
        prediction.last_used.map_or_else(|| "never".into(), start),
        p.connections.to_string(),
        prediction.pattern.describe(),
    ]
}

fn anomaly_row(a: &PortAnomaly) -> Vec<String> {
    let anomaly = &a.anomaly;
    vec![
        format!("{}/{}", a.port, a.protocol),
        start(anomaly.hour),
        anomaly.observed.to_string(),
        format!("{}–{}", anomaly.expected.low, anomaly.expected.high),
        anomaly.kind.tag().to_string(),
    ]
}

/// `portreeve predict --format json` (docs/schema/predict.v1.json).
#[derive(Serialize)]
struct PredictDocument<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    /// The events file as given (`<stdin>` for standard input), or
    /// `agent history`.
    events: String,
    /// The start of the 24 hours predicted.
    at: String,
    /// Their end.
    until: String,
    ports: Vec<PredictionRecord>,
}

/// One port's prediction.
#[derive(Serialize)]
struct PredictionRecord {
    protocol: String,
    port: u16,
    /// The chance of at least one connection in the 24 hours, 0 to 1.
    probability: f64,
    /// Whether the chance is at least even.
    expect_use: bool,
    /// The pattern's tag.
    pattern: &'static str,
    /// The cycle of a `periodic` pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    period_days: Option<u32>,
    /// The pattern in words.
    reason: String,
    /// The start of the last hour with a connection.
    last_used: Option<String>,
    /// Connections in the history judged (before `at`).
    connections: u64,
}

impl PredictionRecord {
    fn of(p: &PortPrediction) -> Self {
        let prediction = &p.prediction;
        PredictionRecord {
            protocol: p.protocol.to_string(),
            port: p.port,
            probability: (prediction.probability * 1000.0).round() / 1000.0,
            expect_use: prediction.probability >= EXPECTED,
            pattern: prediction.pattern.tag(),
            period_days: match prediction.pattern {
                Pattern::Periodic { days } => Some(days),
                _ => None,
            },
            reason: prediction.pattern.describe(),
            last_used: prediction.last_used.map(start),
            connections: p.connections,
        }
    }
}

/// `portreeve anomalies --format json` (docs/schema/anomalies.v1.json).
#[derive(Serialize)]
struct AnomaliesDocument<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    /// The events file as given (`<stdin>` for standard input), or
    /// `agent history`.
    events: String,
    /// `--since`, when given.
    since: Option<String>,
    anomalies: Vec<AnomalyRecord>,
}

/// One implausible hour.
#[derive(Serialize)]
struct AnomalyRecord {
    protocol: String,
    port: u16,
    /// The start of the hour.
    start: String,
    /// Its end.
    end: String,
    observed: u64,
    expected: ExpectedRange,
    /// `burst`, `unused-hour` or `quiet-port-busy`.
    kind: &'static str,
    /// Why, in words.
    reason: String,
}

/// What was plausible.
#[derive(Serialize)]
struct ExpectedRange {
    low: u64,
    high: u64,
}

impl AnomalyRecord {
    fn of(a: &PortAnomaly) -> Self {
        let anomaly = &a.anomaly;
        let (observed, high) = (anomaly.observed, anomaly.expected.high);
        AnomalyRecord {
            protocol: a.protocol.to_string(),
            port: a.port,
            start: start(anomaly.hour),
            end: start(anomaly.hour + 1),
            observed,
            expected: ExpectedRange {
                low: anomaly.expected.low,
                high,
            },
            kind: anomaly.kind.tag(),
            reason: match anomaly.kind {
                AnomalyKind::Burst => {
                    format!(
                        "{observed} connections where at most {high} are plausible at this time"
                    )
                }
                AnomalyKind::UnusedHour => {
                    format!("{observed} connections at a time the port has never been used")
                }
                AnomalyKind::QuietPortBusy => {
                    format!("{observed} connections on a port that rarely sees more than {high}")
                }
            },
        }
    }
}

/// The start of `hour`, RFC 3339.
fn start(hour: Hour) -> String {
    forecast::start_of(hour).to_string()
}
