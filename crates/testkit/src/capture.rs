//! Capture files built byte by byte, for the tests of what reads them:
//! classic pcap and pcapng, little-endian, timestamps in microseconds.

/// A classic pcap (snap length 65,535) of `frames` — each a time in
/// microseconds since the epoch and the frame's bytes — on link type
/// `link`.
pub fn pcap(link: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65_535u32.to_le_bytes());
    f.extend_from_slice(&link.to_le_bytes());
    for (micros, frame) in frames {
        f.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        f.extend_from_slice(frame);
    }
    f
}

/// Appends one pcapng block to `file`: its type, its total length, the
/// body padded to four bytes, and the length again.
pub fn pcapng_block(file: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (12 + body.len().div_ceil(4) * 4) as u32;
    file.extend_from_slice(&kind.to_le_bytes());
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(body);
    file.resize(file.len() + (4 - body.len() % 4) % 4, 0);
    file.extend_from_slice(&len.to_le_bytes());
}

/// A pcapng: a section header, one interface of link type `link` (with
/// the default microsecond resolution), and an enhanced packet block per
/// frame — a time in microseconds and the bytes — naming interface
/// `interface` (0 is the one described; another number names none).
pub fn pcapng(link: u16, interface: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend_from_slice(&[0xff; 8]);
    pcapng_block(&mut f, 0x0a0d_0d0a, &shb);
    let mut idb = link.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0; 6]);
    pcapng_block(&mut f, 1, &idb);
    for (micros, frame) in frames {
        let mut epb = interface.to_le_bytes().to_vec();
        epb.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*micros as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        epb.extend_from_slice(frame);
        pcapng_block(&mut f, 6, &epb);
    }
    f
}
