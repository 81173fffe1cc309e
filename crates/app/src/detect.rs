//! Offline detection: reads recorded traffic — a Zeek `conn.log`, a packet
//! capture, or flow records as nfdump prints them in CSV — into connection
//! attempts and runs a scan detector over them, for forensics and for
//! tuning thresholds before detection may block anyone
//! (`docs/detection.md`).

use std::io::BufReader;
use std::path::Path;

use jiff::Timestamp;
use portreeve_detect::handshake::{Handshakes, PacketHeader, Segment};
use portreeve_detect::{
    Attempt, CrowdSecLike, Detection, Detector, Trw, ZeekLike, conn_log, detect_all, flow_csv,
};
use portreeve_flows::pcap::PcapError;

use crate::error::AppError;
use crate::input;

/// A recording to read, by format; each path may be `-` for standard input.
#[derive(Debug, Clone, Copy)]
pub enum Recording<'a> {
    /// A Zeek `conn.log`, TSV or JSON lines.
    ZeekConnLog(&'a Path),
    /// A pcap or pcapng capture.
    Capture(&'a Path),
    /// nfdump's CSV output (`nfdump -r FILE -o csv`).
    FlowCsv(&'a Path),
}

/// Which detector judges the attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// Threshold Random Walk over first-contact outcomes.
    Trw,
    /// 15 distinct failed ports within 5 minutes, as Zeek's scan policy.
    ZeekLike,
    /// CrowdSec's port-scan leaky bucket.
    CrowdSecLike,
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// How many connection attempts the recording held.
    pub attempts: usize,
    /// Each scanning source, in the order the detector decided.
    pub detections: Vec<Detection>,
    /// What the operator should know about the reading, such as a capture
    /// cut short and read up to the cut.
    pub notes: Vec<String>,
}

/// Reads `recording` and runs `detector` over its attempts. A file that
/// cannot be read or parsed is [`AppError::Invalid`], its message naming
/// the file (and the line, where the format has lines).
pub fn detect(recording: Recording<'_>, detector: DetectorKind) -> Result<Report, AppError> {
    let mut notes = Vec::new();
    let attempts = read_attempts(recording, &mut notes)?;
    let mut detector: Box<dyn Detector> = match detector {
        DetectorKind::Trw => Box::new(Trw::default()),
        DetectorKind::ZeekLike => Box::new(ZeekLike::default()),
        DetectorKind::CrowdSecLike => Box::new(CrowdSecLike::default()),
    };
    let count = attempts.len();
    Ok(Report {
        attempts: count,
        detections: detect_all(detector.as_mut(), attempts),
        notes,
    })
}

/// The connection attempts `recording` holds (also what `recommend
/// --kubernetes` reads observed flows from); what the operator should know
/// about the reading goes to `notes`. Errors as [`detect`]'s.
pub fn read_attempts(
    recording: Recording<'_>,
    notes: &mut Vec<String>,
) -> Result<Vec<Attempt>, AppError> {
    match recording {
        Recording::ZeekConnLog(path) => conn_log_attempts(path),
        Recording::Capture(path) => capture_attempts(path, notes),
        Recording::FlowCsv(path) => flow_attempts(path),
    }
}

fn unreadable(e: input::InputError) -> AppError {
    AppError::Invalid(e.to_string())
}

fn conn_log_attempts(path: &Path) -> Result<Vec<Attempt>, AppError> {
    let origin = input::origin(path);
    let file = input::open(path, "Zeek conn.log").map_err(unreadable)?;
    conn_log::read(BufReader::new(file))
        .map_err(|e| AppError::Invalid(format!("{origin}:{}: {}", e.line, e.problem)))
}

/// Flow records; an error reads `FILE:LINE:COLUMN: problem` (or
/// `FILE:LINE: problem` when no one column is at fault).
fn flow_attempts(path: &Path) -> Result<Vec<Attempt>, AppError> {
    let origin = input::origin(path);
    let file = input::open(path, "flow CSV").map_err(unreadable)?;
    flow_csv::read(BufReader::new(file)).map_err(|e| {
        let column = e.column.map(|c| format!(":{c}")).unwrap_or_default();
        AppError::Invalid(format!("{origin}:{}{column}: {}", e.line, e.problem))
    })
}

/// The attempts in a capture: each opening packet paired with the answer.
/// A capture cut short (its writer killed mid-record) keeps what came
/// before the cut, with a note; any other error in the file is fatal.
fn capture_attempts(path: &Path, notes: &mut Vec<String>) -> Result<Vec<Attempt>, AppError> {
    let origin = input::origin(path);
    let bytes = input::read(path, "capture").map_err(unreadable)?;
    let headers = portreeve_flows::pcap::transport_headers(&bytes)
        .map_err(|e| AppError::Invalid(format!("{origin}: {e}")))?;
    let mut handshakes = Handshakes::new();
    for header in headers {
        let header = match header {
            Ok(h) => h,
            Err(e @ PcapError::Truncated { .. }) => {
                notes.push(format!("{origin}: {e}; reading what came before"));
                break;
            }
            Err(e) => return Err(AppError::Invalid(format!("{origin}: {e}"))),
        };
        let micros = i64::try_from(header.timestamp_us).unwrap_or(i64::MAX);
        let at = Timestamp::from_microsecond(micros)
            .map_err(|_| AppError::Invalid(format!("{origin}: a packet time out of range")))?;
        handshakes.packet(&PacketHeader {
            at,
            from: header.src,
            to: header.dst,
            segment: header.tcp_flags.map_or(Segment::Udp, Segment::Tcp),
        });
    }
    Ok(handshakes.finish())
}
