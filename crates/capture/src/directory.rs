//! The capture directory: how a capture's file is named, what the
//! directory holds, and making room in it by deleting the oldest captures.
//!
//! A capture is `<UTC start>-<address>-<label>.pcap`, e.g.
//! `20261206T213001.250Z-198.51.100.7-detection-42.pcap`: names sort by
//! start time, and the listing reads source, label and start back from
//! the name. Files with other names are neither listed nor deleted.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use pcap_parser::{parse_pcap_frame, parse_pcap_header};
use serde::Serialize;

use crate::CaptureError;

/// The captures' directory under portreeve's state directory.
pub const DIRECTORY: &str = "captures";

/// Start times in file names: UTC, sortable, no separators that a shell
/// or `-r` would trip on.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// `<state>/captures`: where the agent writes captures and `portreeve
/// captures` lists them.
pub fn state_directory(state_root: &Path) -> PathBuf {
    state_root.join(DIRECTORY)
}

/// One capture file, as the listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureInfo {
    /// The file.
    pub file: PathBuf,
    /// The address captured: its packets' source or destination.
    pub source: IpAddr,
    /// What started it (e.g. `detection-42`).
    pub label: String,
    /// When it started.
    pub started: Timestamp,
    /// Whole packets in the file (a running capture's last record may be
    /// still on its way).
    pub packets: u64,
    /// The file's size.
    pub bytes: u64,
}

/// The file name of a capture of `source` started `at`: the label keeps
/// letters, digits, `.`, `_` and `-`; anything else becomes `_`.
pub(crate) fn file_name(at: Timestamp, source: IpAddr, label: &str) -> String {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let label = if label.is_empty() { "capture" } else { &label };
    format!(
        "{}-{}-{label}.pcap",
        at.strftime(TIME_FORMAT),
        source.to_canonical()
    )
}

/// Start, source and label from a capture's file name; `None` for any
/// other name.
fn parse_name(name: &str) -> Option<(Timestamp, IpAddr, String)> {
    let stem = name.strip_suffix(".pcap")?;
    let (time, rest) = stem.split_once('-')?;
    let (address, label) = rest.split_once('-')?;
    let started = TimeZone::UTC
        .to_timestamp(DateTime::strptime(TIME_FORMAT, time).ok()?)
        .ok()?;
    Some((started, address.parse().ok()?, label.to_string()))
}

/// A capture file found in the directory, before its packets are counted.
struct Found {
    path: PathBuf,
    started: Timestamp,
    source: IpAddr,
    label: String,
    bytes: u64,
}

/// The captures in `dir`, oldest first; none when it does not exist.
fn found(dir: &Path) -> Result<Vec<Found>, CaptureError> {
    let io_error = |source| CaptureError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e)),
    };
    let mut all = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error)?;
        let Some((started, source, label)) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        // Deleted by a rotation since the directory was read: skip it.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            all.push(Found {
                path: entry.path(),
                started,
                source,
                label,
                bytes: meta.len(),
            });
        }
    }
    all.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(all)
}

/// The captures in `dir`, oldest first, with their packets counted; an
/// empty list when the directory does not exist yet.
pub fn list(dir: &Path) -> Result<Vec<CaptureInfo>, CaptureError> {
    found(dir)?
        .into_iter()
        .map(|f| {
            let bytes = fs::read(&f.path).map_err(|source| CaptureError::Io {
                path: f.path.clone(),
                source,
            })?;
            Ok(CaptureInfo {
                packets: count_records(&bytes),
                bytes: bytes.len() as u64,
                file: f.path,
                source: f.source,
                label: f.label,
                started: f.started,
            })
        })
        .collect()
}

/// Whole records in a pcap file's bytes (0 for anything that is not one).
fn count_records(file: &[u8]) -> u64 {
    let Ok((mut rest, _)) = parse_pcap_header(file) else {
        return 0;
    };
    let mut records = 0;
    while let Ok((next, _)) = parse_pcap_frame(rest) {
        rest = next;
        records += 1;
    }
    records
}

/// Deletes the oldest captures in `dir`, other than `running`, until the
/// rest plus `needed` bytes fit within `total`. Whether they fit.
pub(crate) fn make_room(
    dir: &Path,
    running: &HashSet<PathBuf>,
    needed: u64,
    total: u64,
) -> Result<bool, CaptureError> {
    let mut finished: Vec<Found> = found(dir)?
        .into_iter()
        .filter(|f| !running.contains(&f.path))
        .collect();
    let mut held: u64 = finished.iter().map(|f| f.bytes).sum();
    finished.reverse();
    while held.saturating_add(needed) > total {
        let Some(oldest) = finished.pop() else {
            return Ok(false);
        };
        match fs::remove_file(&oldest.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CaptureError::Io {
                    path: oldest.path,
                    source,
                });
            }
        }
        tracing::info!(file = %oldest.path.display(), "deleted the oldest capture to make room");
        held -= oldest.bytes;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn names_carry_start_source_and_label_and_read_back() {
        let started = at("2026-12-06T21:30:01.25Z");
        let v4 = file_name(started, "198.51.100.7".parse().unwrap(), "detection-42");
        assert_eq!(v4, "20261206T213001.250Z-198.51.100.7-detection-42.pcap");
        assert_eq!(
            parse_name(&v4),
            Some((
                started,
                "198.51.100.7".parse().unwrap(),
                "detection-42".into()
            ))
        );
        let v6 = file_name(started, "2001:db8::7".parse().unwrap(), "a b/../c");
        assert_eq!(v6, "20261206T213001.250Z-2001:db8::7-a_b_.._c.pcap");
        assert_eq!(
            parse_name(&v6).unwrap().1,
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(parse_name("notes.txt"), None);
        assert_eq!(parse_name("x-198.51.100.7-y.pcap"), None);
    }

    /// A fake finished capture of `bytes` bytes started `time`.
    fn old_capture(dir: &Path, time: &str, bytes: usize) -> PathBuf {
        let path = dir.join(file_name(at(time), "192.0.2.1".parse().unwrap(), "old"));
        fs::write(&path, vec![0u8; bytes]).unwrap();
        path
    }

    #[test]
    fn making_room_deletes_the_oldest_first_and_only_what_it_must() {
        let dir = tempfile::tempdir().unwrap();
        let oldest = old_capture(dir.path(), "2026-01-01T00:00:00Z", 3000);
        let middle = old_capture(dir.path(), "2026-01-02T00:00:00Z", 3000);
        let newest = old_capture(dir.path(), "2026-01-03T00:00:00Z", 3000);
        let other = dir.path().join("README");
        fs::write(&other, vec![0u8; 50_000]).unwrap();
        // 9000 held + 4096 needed > 11,000: deleting the oldest is enough.
        assert!(make_room(dir.path(), &HashSet::new(), 4096, 11_000).unwrap());
        assert!(!oldest.exists());
        assert!(middle.exists() && newest.exists() && other.exists());
        // A running capture's file is never deleted (its room is in
        // `needed`), and when nothing else makes room the answer is no.
        let running = HashSet::from([middle.clone()]);
        assert!(make_room(dir.path(), &running, 9000, 11_000).unwrap());
        assert!(middle.exists() && !newest.exists());
        assert!(!make_room(dir.path(), &running, 12_000, 11_000).unwrap());
        assert!(middle.exists());
    }

    #[test]
    fn a_missing_directory_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(list(&dir.path().join("captures")).unwrap(), vec![]);
    }
}
