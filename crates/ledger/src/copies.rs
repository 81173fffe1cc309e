//! Copies of the latest signed checkpoint, kept beside `checkpoints.jsonl`
//! so that deleting or cutting that one file is noticed (see
//! [`crate::store`] for why and where).
//!
//! A copy is a region of two 2,048-byte slots at the start of a file (all
//! of `checkpoint.latest`; the first 4,096 bytes of `tree.bin`, before the
//! subtree hashes). Each slot holds
//!
//! ```text
//! "PRVCKPT1" | sequence (u64 LE) | length (u32 LE) | SHA-256 of the preceding and the note | note
//! ```
//!
//! where the note is the signed checkpoint exactly as the log signed it
//! (its own signature only). A write goes to the slot that does not hold
//! the newest valid copy, with the next sequence number, and is then
//! fsynced, so a write torn by a crash or a power loss leaves the previous
//! copy readable in the other slot. The checksum only tells a torn slot
//! from a whole one; what makes a copy trustworthy is the log's signature
//! on the note, which every reader checks.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

/// Bytes a copy takes at the start of its file.
pub(crate) const REGION: u64 = 2 * SLOT;
const SLOT: u64 = 2048;
const MAGIC: &[u8; 8] = b"PRVCKPT1";
/// Magic, sequence number, length, checksum.
const HEAD: usize = 8 + 8 + 4 + 32;

/// What a copy holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Held {
    /// The note in the whole slot with the highest sequence number.
    pub note: Option<String>,
    /// A slot that starts like one but does not check out: a torn write,
    /// or bytes put there by someone else.
    pub damaged: bool,
    sequence: u64,
    slot: u64,
}

fn checksum(sequence: u64, note: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(sequence.to_le_bytes());
    h.update((note.len() as u32).to_le_bytes());
    h.update(note);
    h.finalize().into()
}

/// Reads the copy at the start of `file` (a short or empty file reads as
/// empty slots).
pub(crate) fn read(file: &File) -> io::Result<Held> {
    let mut region = vec![0u8; REGION as usize];
    let mut filled = 0;
    while filled < region.len() {
        match file.read_at(&mut region[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut held = Held::default();
    for slot in 0..2 {
        let bytes = &region[(slot * SLOT) as usize..((slot + 1) * SLOT) as usize];
        if &bytes[..8] != MAGIC {
            if bytes.iter().any(|&b| b != 0) {
                held.damaged = true;
            }
            continue;
        }
        let sequence = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
        let whole = HEAD + len <= bytes.len()
            && bytes[20..52] == checksum(sequence, &bytes[HEAD..HEAD + len]);
        let note = whole
            .then(|| std::str::from_utf8(&bytes[HEAD..HEAD + len]).ok())
            .flatten();
        match note {
            Some(note) if held.note.is_none() || sequence > held.sequence => {
                held.note = Some(note.to_string());
                held.sequence = sequence;
                held.slot = slot;
            }
            Some(_) => {}
            None => held.damaged = true,
        }
    }
    Ok(held)
}

/// Writes `note` as the newest copy in `file`, into the slot that does not
/// hold the current one, and fsyncs it.
pub(crate) fn write(file: &File, note: &str) -> io::Result<()> {
    let held = read(file)?;
    let (slot, sequence) = match held.note {
        Some(_) => (1 - held.slot, held.sequence + 1),
        None => (0, 1),
    };
    let note = note.as_bytes();
    if HEAD + note.len() > SLOT as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a checkpoint of {} bytes does not fit a copy's slot",
                note.len()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(SLOT as usize);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&(note.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&checksum(sequence, note));
    bytes.extend_from_slice(note);
    bytes.resize(SLOT as usize, 0);
    file.write_all_at(&bytes, slot * SLOT)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_whole_slot_wins_and_a_torn_one_leaves_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.path().join("copy"))
            .unwrap();
        assert_eq!(read(&file).unwrap(), Held::default());
        write(&file, "one").unwrap();
        write(&file, "two").unwrap();
        write(&file, "three").unwrap();
        let held = read(&file).unwrap();
        assert_eq!((held.note.as_deref(), held.damaged), (Some("three"), false));
        // Tear the newest slot: the one before it is read, and the damage
        // is reported.
        file.write_all_at(b"XX", held.slot * SLOT + HEAD as u64)
            .unwrap();
        let held = read(&file).unwrap();
        assert_eq!((held.note.as_deref(), held.damaged), (Some("two"), true));
        // The next write replaces the torn slot.
        write(&file, "four").unwrap();
        let held = read(&file).unwrap();
        assert_eq!((held.note.as_deref(), held.damaged), (Some("four"), false));
        // Garbage is damage, not a copy.
        file.write_all_at(&[0xff; 4096], 0).unwrap();
        let held = read(&file).unwrap();
        assert_eq!((held.note, held.damaged), (None, true));
    }
}
