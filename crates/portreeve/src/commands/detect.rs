//! `portreeve detect`: runs a scan detector over recorded traffic — a Zeek
//! `conn.log`, a packet capture or nfdump's flow records — and prints what
//! it finds, for forensics and for tuning before detection blocks anyone.
//! Reading and detecting are `portreeve_app::detect`; this is the command
//! line and the output.

use jiff::Timestamp;
use portreeve_app::detect::{self, DetectorKind, Recording};
use portreeve_detect::Detection;

use crate::cli::{DetectArgs, DetectorChoice, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, note, table};

/// `kind` of the JSON document.
const KIND: &str = "portreeve.detections";

const HEADERS: [&str; 7] = [
    "SOURCE",
    "KIND",
    "FIRST SEEN (UTC)",
    "LAST SEEN (UTC)",
    "PORTS",
    "ATTEMPTS",
    "EVIDENCE",
];

/// Runs `portreeve detect`.
pub fn run(args: &DetectArgs) -> Result<u8, Failure> {
    let recording = match (&args.zeek, &args.pcap, &args.flows) {
        (Some(path), _, _) => Recording::ZeekConnLog(path),
        (None, Some(path), _) => Recording::Capture(path),
        (None, None, Some(path)) => Recording::FlowCsv(path),
        (None, None, None) => unreachable!("clap requires --zeek, --pcap or --flows"),
    };
    let detector = match args.detector {
        DetectorChoice::Trw => DetectorKind::Trw,
        DetectorChoice::ZeekLike => DetectorKind::ZeekLike,
        DetectorChoice::CrowdsecLike => DetectorKind::CrowdSecLike,
    };
    let report = detect::detect(recording, detector)?;
    for line in &report.notes {
        note(line);
    }
    let (count, detections) = (report.attempts, report.detections);
    match args.format {
        ListFormat::Json => emit_listing(
            KIND,
            &[
                ("attempts", to_value(&count)),
                ("detections", to_value(&detections)),
            ],
        ),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = detections.iter().map(cells).collect();
            emit(&table::rows(&HEADERS, &rows, table::stdout_colour()));
            note(&format!(
                "{} in {count} connection attempts",
                crate::output::counted_as(detections.len(), "scanning source", "scanning sources")
            ));
        }
    }
    Ok(EXIT_OK)
}

fn cells(d: &Detection) -> Vec<String> {
    let time = |t: Timestamp| t.strftime("%Y-%m-%d %H:%M:%S").to_string();
    vec![
        d.source.to_string(),
        d.kind.name().to_owned(),
        time(d.first_seen),
        time(d.last_seen),
        table::port_sample(&d.ports, d.port_count),
        d.attempts_before_decision.to_string(),
        d.evidence.clone(),
    ]
}
