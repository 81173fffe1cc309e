//! `portreeve detect`: runs a scan detector over recorded traffic — a Zeek
//! `conn.log` or a packet capture — and prints what it finds, for
//! forensics and for tuning before detection blocks anyone.

use std::io::BufReader;

use jiff::Timestamp;
use portreeve_app::input;
use portreeve_detect::handshake::{Handshakes, PacketHeader, Segment};
use portreeve_detect::{
    Attempt, CrowdSecLike, Detection, Detector, Trw, ZeekLike, conn_log, detect_all,
};
use portreeve_flows::pcap::PcapError;

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

/// At most this many ports are spelled out in the table's PORTS column.
const PORTS_IN_TABLE: usize = 8;

/// Runs `portreeve detect`.
pub fn run(args: &DetectArgs) -> Result<u8, Failure> {
    let attempts = match (&args.zeek, &args.pcap) {
        (Some(path), _) => zeek_attempts(path)?,
        (None, Some(path)) => pcap_attempts(path)?,
        (None, None) => unreachable!("clap requires --zeek or --pcap"),
    };
    let mut detector: Box<dyn Detector> = match args.detector {
        DetectorChoice::Trw => Box::new(Trw::default()),
        DetectorChoice::ZeekLike => Box::new(ZeekLike::default()),
        DetectorChoice::CrowdsecLike => Box::new(CrowdSecLike::default()),
    };
    let count = attempts.len();
    let detections = detect_all(detector.as_mut(), attempts);
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
    let mut ports: Vec<String> = d
        .ports
        .iter()
        .take(PORTS_IN_TABLE)
        .map(u16::to_string)
        .collect();
    if d.port_count > ports.len() {
        ports.push(format!("… ({} ports)", d.port_count));
    }
    vec![
        d.source.to_string(),
        d.kind.name().to_owned(),
        time(d.first_seen),
        time(d.last_seen),
        ports.join(","),
        d.attempts_before_decision.to_string(),
        d.evidence.clone(),
    ]
}

fn zeek_attempts(path: &std::path::Path) -> Result<Vec<Attempt>, Failure> {
    let origin = input::origin(path);
    let file = input::open(path, "Zeek conn.log").map_err(|e| Failure::Input(e.to_string()))?;
    conn_log::read(BufReader::new(file))
        .map_err(|e| Failure::Input(format!("{origin}:{}: {}", e.line, e.problem)))
}

/// The attempts in a capture: each opening packet paired with the answer.
/// A capture cut short (its writer killed mid-record) keeps what came
/// before the cut, with a note; any other error in the file is fatal.
fn pcap_attempts(path: &std::path::Path) -> Result<Vec<Attempt>, Failure> {
    let origin = input::origin(path);
    let bytes = input::read(path, "capture").map_err(|e| Failure::Input(e.to_string()))?;
    let headers = portreeve_flows::pcap::transport_headers(&bytes)
        .map_err(|e| Failure::Input(format!("{origin}: {e}")))?;
    let mut handshakes = Handshakes::new();
    for header in headers {
        let header = match header {
            Ok(h) => h,
            Err(e @ PcapError::Truncated { .. }) => {
                note(&format!("{origin}: {e}; reading what came before"));
                break;
            }
            Err(e) => return Err(Failure::Input(format!("{origin}: {e}"))),
        };
        let micros = i64::try_from(header.timestamp_us).unwrap_or(i64::MAX);
        let at = Timestamp::from_microsecond(micros)
            .map_err(|_| Failure::Input(format!("{origin}: a packet time out of range")))?;
        handshakes.packet(&PacketHeader {
            at,
            from: header.src,
            to: header.dst,
            segment: header.tcp_flags.map_or(Segment::Udp, Segment::Tcp),
        });
    }
    Ok(handshakes.finish())
}
