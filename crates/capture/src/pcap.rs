//! A capture's file: classic pcap, link type RAW (101: each record is an
//! IPv4 or IPv6 packet, no link header), written record by record and
//! never past its byte limit. Headers and records are encoded by
//! `pcap-parser` (its `serialize` feature), the same crate that reads them
//! back for the listing.

use std::fs::File;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use pcap_parser::{LegacyPcapBlock, Linktype, PcapHeader, ToVec};

/// Bytes of the file header.
pub const HEADER_BYTES: u64 = 24;
/// Bytes of a record's header.
pub const RECORD_HEADER_BYTES: u64 = 16;
/// The longest packet kept whole (the largest IP packet).
pub const SNAPLEN: u32 = 65_535;

/// An open capture file and what it has taken.
pub(crate) struct PcapWriter {
    file: File,
    limit: u64,
    /// Bytes in the file: header and whole records.
    pub bytes: u64,
    /// Records in the file.
    pub packets: u64,
}

/// What became of one packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Written: the file grew by this many bytes.
    Written(u64),
    /// Not written: the record would take the file past its limit.
    Full,
}

impl PcapWriter {
    /// Writes the file header to `file` (new and empty).
    pub fn start(mut file: File, limit: u64) -> io::Result<PcapWriter> {
        let mut header = PcapHeader::new();
        header.snaplen = SNAPLEN;
        header.network = Linktype::RAW;
        file.write_all(&encode(header.to_vec_raw())?)?;
        Ok(PcapWriter {
            file,
            limit,
            bytes: HEADER_BYTES,
            packets: 0,
        })
    }

    /// Appends `data`, `length` bytes long on the wire, received `at`. A
    /// failed write (a full disk) cuts the file back to its last whole
    /// record before returning the error, so what is there stays readable.
    pub fn append(&mut self, at: SystemTime, data: &[u8], length: usize) -> io::Result<Appended> {
        let kept = &data[..data.len().min(SNAPLEN as usize)];
        let size = RECORD_HEADER_BYTES + kept.len() as u64;
        if self.bytes + size > self.limit {
            return Ok(Appended::Full);
        }
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let record = LegacyPcapBlock {
            ts_sec: since.as_secs() as u32,
            ts_usec: since.subsec_micros(),
            caplen: kept.len() as u32,
            origlen: u32::try_from(length).unwrap_or(u32::MAX),
            data: kept,
        };
        if let Err(e) = self.file.write_all(&encode(record.to_vec_raw())?) {
            let _ = self.file.set_len(self.bytes);
            return Err(e);
        }
        self.bytes += size;
        self.packets += 1;
        Ok(Appended::Written(size))
    }
}

fn encode<E: std::fmt::Debug>(bytes: Result<Vec<u8>, E>) -> io::Result<Vec<u8>> {
    bytes.map_err(|e| io::Error::other(format!("cannot encode a pcap record: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::{parse_pcap_frame, parse_pcap_header};

    #[test]
    fn records_stop_at_the_byte_limit_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcap");
        // Header 24 + one 40-byte packet's record 56 = 80; a second would
        // make 136, past 100.
        let mut w = PcapWriter::start(File::create(&path).unwrap(), 100).unwrap();
        let at = UNIX_EPOCH + std::time::Duration::from_micros(1_765_000_000_123_456);
        assert_eq!(
            w.append(at, &[0x45; 40], 40).unwrap(),
            Appended::Written(56)
        );
        assert_eq!(w.append(at, &[0x45; 40], 40).unwrap(), Appended::Full);
        assert_eq!((w.bytes, w.packets), (80, 1));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 80);
        let (rest, header) = parse_pcap_header(&bytes).unwrap();
        assert_eq!((header.network, header.snaplen), (Linktype::RAW, SNAPLEN));
        let (rest, record) = parse_pcap_frame(rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            (record.ts_sec, record.ts_usec, record.caplen, record.origlen),
            (1_765_000_000, 123_456, 40, 40)
        );
    }
}
