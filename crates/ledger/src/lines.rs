//! Where each entry starts in `entries.jsonl`, so that a page of entries
//! (`GET /api/v1/ledger`) reads the bytes of that page and not the whole
//! file.
//!
//! The index is derived, never a source of truth: it is only a guess of
//! where to read, and every line read through it is checked (see
//! [`EntryIndex::read`]) before it is returned. It is kept in memory by the
//! [`crate::Ledger`] value rather than in a sidecar file: a sidecar would
//! need a format, its own durability rules and a way to notice that it is
//! stale or damaged, and would be one more file in the ledger directory for
//! a tamperer to edit, while an in-memory index has none of those problems
//! and costs one pass over the entries per process at most (eight bytes an
//! entry). The index is not extended by appends but by the reads that need
//! it, from where it ends to as far as the read asks: appends from other
//! processes (the CLI appends to the server's ledger) are picked up the same
//! way as this process's own, the append path stays as it is, and a page
//! near the start of a large ledger never reads past that page.
//!
//! The entries file only grows, except for an unacknowledged tail that a
//! writer cuts after a crash, and for a file replaced under the ledger; a
//! file shorter than the index, another file (device and inode), or a line
//! that is not the entry its position says, makes the index start again.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use crate::entry::Entry;
use crate::files::error_at;
use crate::store::LedgerError;

/// How much of the entries file one read of an index extension takes:
/// small enough that a page near the start reads little more than itself.
const CHUNK: usize = 64 << 10;

/// Where the entries of `entries.jsonl` start, for as many of them as reads
/// have needed so far.
#[derive(Debug, Default)]
pub(crate) struct EntryIndex {
    /// The device and inode of the file indexed.
    file: Option<(u64, u64)>,
    /// Where entry `i` starts, for every complete line indexed.
    starts: Vec<u64>,
    /// Where the line after the last one indexed starts.
    end: u64,
}

impl EntryIndex {
    /// The entries from position `first` on, at most `count` of them and
    /// only complete lines, from `file` (the entries file at `path`), each
    /// without its newline. Each line returned is checked to be an entry
    /// that parses ([`Entry::parse`]) and records its own position; a line
    /// that is not gets the index rebuilt from the start of the file and
    /// the read tried once more, and if that fails too the entry is
    /// reported corrupt.
    pub(crate) fn read(
        &mut self,
        file: &File,
        path: &Path,
        first: u64,
        count: u64,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let at = |e: io::Error| error_at(path, e);
        let stat = rustix::fs::fstat(file).map_err(|e| at(e.into()))?;
        let len = u64::try_from(stat.st_size).map_err(|e| at(io::Error::other(e)))?;
        if self.file != Some((stat.st_dev, stat.st_ino)) || len < self.end {
            self.restart((stat.st_dev, stat.st_ino));
        }
        match self.read_checked(file, path, len, first, count) {
            Err(LedgerError::Corrupt { .. }) => {
                self.restart((stat.st_dev, stat.st_ino));
                self.read_checked(file, path, len, first, count)
            }
            read => read,
        }
    }

    /// Forgets everything indexed: the file at `identity` is read anew.
    fn restart(&mut self, identity: (u64, u64)) {
        *self = EntryIndex {
            file: Some(identity),
            ..EntryIndex::default()
        };
    }

    /// [`Self::read`] with the index as it stands, extended as far as
    /// needed; [`LedgerError::Corrupt`] when a line is not the entry
    /// expected.
    fn read_checked(
        &mut self,
        file: &File,
        path: &Path,
        len: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let want = first.saturating_add(count);
        self.extend(file, path, len, want)?;
        let indexed = self.starts.len() as u64;
        if count == 0 || first >= indexed {
            return Ok(Vec::new());
        }
        let last = want.min(indexed);
        // One byte before the first line too, which must end the line
        // before it: the index is checked at both ends of every line.
        let from = self.starts[first as usize];
        let before = from.min(1);
        let to = self.starts.get(last as usize).copied().unwrap_or(self.end);
        let mut bytes = vec![0u8; (to - from + before) as usize];
        file.read_exact_at(&mut bytes, from - before)
            .map_err(|e| error_at(path, e))?;
        let mut lines = Vec::with_capacity((last - first) as usize);
        for position in first..last {
            let i = position as usize;
            let start = (self.starts[i] - from + before) as usize;
            let end =
                (self.starts.get(i + 1).copied().unwrap_or(self.end) - from + before) as usize;
            let line = &bytes[start..end];
            let checked = match (start, line.split_last()) {
                (1.., _) if bytes[start - 1] != b'\n' => Err("it does not start a line".to_owned()),
                (_, Some((b'\n', body))) if !body.contains(&b'\n') => Entry::parse(body)
                    .map_err(|e| e.to_string())
                    .and_then(|entry| match entry.index == position {
                        true => Ok(body),
                        false => Err(format!("it records position {}", entry.index)),
                    }),
                _ => Err("it is not one line".to_owned()),
            };
            match checked {
                Ok(body) => lines.push(body.to_vec()),
                Err(error) => {
                    return Err(LedgerError::Corrupt {
                        path: path.to_path_buf(),
                        position,
                        line: position + 1,
                        error,
                    });
                }
            }
        }
        Ok(lines)
    }

    /// Indexes the complete lines after the index's end, up to `len` bytes
    /// of the file, until `want` entries are indexed.
    fn extend(&mut self, file: &File, path: &Path, len: u64, want: u64) -> Result<(), LedgerError> {
        let mut buffer = Vec::new();
        let mut at = self.end;
        while (self.starts.len() as u64) < want && at < len {
            let take = CHUNK.min((len - at) as usize);
            buffer.resize(take, 0);
            let chunk = &mut buffer[..take];
            file.read_exact_at(chunk, at)
                .map_err(|e| error_at(path, e))?;
            for (i, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                self.starts.push(self.end);
                self.end = at + i as u64 + 1;
                if self.starts.len() as u64 >= want {
                    return Ok(());
                }
            }
            at += take as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use jiff::Timestamp;
    use proptest::prelude::*;
    use tempfile::TempDir;

    use crate::store::ENTRIES;
    use crate::{Draft, Ledger};

    /// How `GET /api/v1/ledger` read a page before this index: the whole
    /// file, split into lines; kept here as the oracle.
    fn whole_file_page(ledger: &Ledger, first: u64, count: u64) -> Vec<Vec<u8>> {
        ledger
            .entries_bytes()
            .unwrap()
            .split_inclusive(|b| *b == b'\n')
            .filter_map(|line| line.strip_suffix(b"\n"))
            .skip(usize::try_from(first).unwrap())
            .take(usize::try_from(count).unwrap())
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn drafts(from: u64, n: u64) -> Vec<Draft> {
        (from..from + n)
            .map(|i| {
                // Lines of different lengths, so that a wrong offset shows.
                let mut draft = Draft::new("block", "alice", format!("port {i}"));
                draft.reason = (i % 3 == 0).then(|| "x".repeat((i % 97) as usize));
                draft
            })
            .collect()
    }

    /// A ledger of 3,000 entries, shared by the property below.
    static LARGE: LazyLock<(TempDir, Ledger)> = LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        for batch in 0..3 {
            ledger.append_all(drafts(batch * 1000, 1000)).unwrap();
            ledger.checkpoint().unwrap();
        }
        (dir, ledger)
    });

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_page_is_what_the_whole_file_read_gave(first in 0u64..3100, count in 0u64..400) {
            let (_, ledger) = &*LARGE;
            prop_assert_eq!(
                ledger.entry_lines(first, count).unwrap(),
                whole_file_page(ledger, first, count)
            );
        }
    }

    #[test]
    fn the_index_follows_appends_from_any_handle_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(ledger.entry_lines(0, 10).unwrap().is_empty());
        ledger.append_all(drafts(0, 500)).unwrap();
        ledger.checkpoint().unwrap();
        assert_eq!(
            ledger.entry_lines(0, 10).unwrap(),
            whole_file_page(&ledger, 0, 10)
        );
        // Another handle (another process) appends; this one reads on.
        let other = Ledger::open(dir.path()).unwrap();
        other.append_all(drafts(500, 500)).unwrap();
        other.checkpoint().unwrap();
        for (first, count) in [(495, 10), (990, 50), (0, 1000), (1000, 1)] {
            assert_eq!(
                ledger.entry_lines(first, count).unwrap(),
                whole_file_page(&ledger, first, count)
            );
        }
        assert_eq!(ledger.entry_lines(999, 5).unwrap().len(), 1);
        drop((ledger, other));
        // A half-written last line is no entry yet.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(ENTRIES))
            .unwrap();
        std::io::Write::write_all(&mut file, b"{\"action\":\"blo").unwrap();
        let reader = crate::store::entries_bytes(dir.path()).unwrap();
        let reopened = Ledger::open(dir.path()).unwrap();
        assert_ne!(
            reader,
            reopened.entries_bytes().unwrap(),
            "open cut the tail"
        );
        assert_eq!(
            reopened.entry_lines(700, 400).unwrap(),
            whole_file_page(&reopened, 700, 400)
        );
    }

    #[test]
    fn a_file_rewritten_under_the_index_is_read_anew() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.append_all(drafts(0, 300)).unwrap();
        assert_eq!(ledger.entry_lines(0, 300).unwrap().len(), 300);
        // The same file, rewritten in place with entries of other lengths
        // (as the ledger never does; the index must not trust itself).
        let path = dir.path().join(ENTRIES);
        let rewritten: Vec<u8> = (0..400u64)
            .flat_map(|i| {
                let mut line = Draft::new("grant", "bob", "y".repeat((i % 13) as usize))
                    .into_entry(i, "h", Timestamp::UNIX_EPOCH)
                    .to_canonical();
                line.push(b'\n');
                line
            })
            .collect();
        std::fs::write(&path, &rewritten).unwrap();
        for (first, count) in [(0, 400), (250, 100), (399, 9)] {
            assert_eq!(
                ledger.entry_lines(first, count).unwrap(),
                whole_file_page(&ledger, first, count)
            );
        }
        // Cut short (same inode): read anew too.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(rewritten.len() as u64 / 2)
            .unwrap();
        let half = whole_file_page(&ledger, 0, 400).len() as u64;
        assert!(half < 400);
        assert_eq!(ledger.entry_lines(0, 400).unwrap().len() as u64, half);
        // Replaced by another file (another inode).
        let other = dir.path().join("other");
        std::fs::write(&other, &rewritten[..rewritten.len() / 4]).unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(
            ledger.entry_lines(0, 400).unwrap(),
            whole_file_page(&ledger, 0, 400)
        );
    }

    #[test]
    fn a_corrupt_entry_is_reported_at_its_position_and_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.append_all(drafts(0, 100)).unwrap();
        assert_eq!(ledger.entry_lines(0, 100).unwrap().len(), 100);
        let path = dir.path().join(ENTRIES);
        let mut bytes = std::fs::read(&path).unwrap();
        let start = whole_file_page(&ledger, 0, 40)
            .iter()
            .map(|l| l.len() + 1)
            .sum::<usize>();
        // Entry 40 now says it is entry 41 (same length, still JSON).
        let line_end = start + bytes[start..].iter().position(|&b| b == b'\n').unwrap();
        let text = String::from_utf8(bytes[start..line_end].to_vec()).unwrap();
        let edited = text.replace("\"index\":40,", "\"index\":41,");
        assert_ne!(edited, text);
        bytes.splice(start..line_end, edited.into_bytes());
        std::fs::write(&path, &bytes).unwrap();
        match ledger.entry_lines(30, 20) {
            Err(crate::LedgerError::Corrupt { position, line, .. }) => {
                assert_eq!((position, line), (40, 41));
            }
            other => panic!("expected entry 40 to be corrupt, got {other:?}"),
        }
        assert_eq!(ledger.entry_lines(0, 40).unwrap().len(), 40);
        assert_eq!(ledger.entry_lines(41, 100).unwrap().len(), 59);
    }
}
