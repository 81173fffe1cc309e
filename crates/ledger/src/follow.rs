//! Following the ledger as it grows: the entries appended since the last
//! look, read from where that look ended rather than from the start, so a
//! reader that looks every second costs what was appended, not the size of
//! the ledger.
//!
//! The entries file only grows (see [`crate::store`]), so a byte offset
//! into it stays valid; only complete lines are read, and a last line still
//! being written is read on a later look. The one exception, the
//! unacknowledged tail a crash leaves and the next writer cuts off, never
//! reached a follower: it was never a complete line.

use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use crate::entry::Entry;
use crate::files::{Access, Dir, error_at};
use crate::store::{ENTRIES, LedgerError};

/// A reader of the entries appended to one ledger directory since it
/// last looked.
#[derive(Debug, Clone)]
pub struct Follower {
    dir: PathBuf,
    /// Where the next entry starts in the entries file.
    offset: u64,
}

impl Follower {
    /// A follower of ledger directory `dir` that starts after the entries
    /// it holds now (complete ones; none if there is no ledger yet).
    pub fn from_end(dir: &Path) -> Result<Follower, LedgerError> {
        let mut follower = Follower {
            dir: dir.to_path_buf(),
            offset: 0,
        };
        follower.read_lines()?;
        Ok(follower)
    }

    /// The entries appended since the last call (or since
    /// [`Follower::from_end`]), in order. An entry that does not parse is
    /// an error, and is met again by the next call, as the ledger neither
    /// skips nor repairs one. Should the entries file be shorter than what
    /// was read already (replaced by another ledger), the follower starts
    /// again after its present entries, returning none of them.
    pub fn new_entries(&mut self) -> Result<Vec<Entry>, LedgerError> {
        let path = self.dir.join(ENTRIES);
        let (start, lines) = self.read_lines()?;
        let mut entries = Vec::new();
        let mut offset = start;
        for line in lines.split_inclusive(|&b| b == b'\n') {
            let entry = Entry::parse(&line[..line.len() - 1]).map_err(|e| LedgerError::Invalid {
                path: path.clone(),
                message: format!("the entry at byte {offset} does not read: {e}"),
            });
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    self.offset = offset;
                    return Err(e);
                }
            }
            offset += line.len() as u64;
        }
        Ok(entries)
    }

    /// The complete lines after the offset, moving the offset past them;
    /// returns where they start. After a shrink, the offset moves to the
    /// end and no line is returned.
    fn read_lines(&mut self) -> Result<(u64, Vec<u8>), LedgerError> {
        let Some(dir) = Dir::open(&self.dir)? else {
            return Ok((self.offset, Vec::new()));
        };
        let Some(mut file) = dir.open_file(ENTRIES, Access::Read)? else {
            return Ok((self.offset, Vec::new()));
        };
        let path = dir.join(ENTRIES);
        let at = |e: io::Error| error_at(&path, e);
        let len = file.metadata().map_err(at)?.len();
        let shrunk = len < self.offset;
        if shrunk {
            self.offset = 0;
        }
        let start = self.offset;
        file.seek(SeekFrom::Start(start)).map_err(at)?;
        let mut bytes = Vec::new();
        file.take(len - start).read_to_end(&mut bytes).map_err(at)?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(complete);
        self.offset = start + complete as u64;
        if shrunk {
            bytes.clear();
        }
        Ok((start, bytes))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::{Draft, Ledger};

    fn indices(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.index).collect()
    }

    #[test]
    fn a_follower_reads_what_was_appended_since_it_last_looked() {
        let dir = tempfile::tempdir().unwrap();
        let ledger_dir = dir.path().join("ledger");
        let mut early = Follower::from_end(&ledger_dir).unwrap();
        let ledger = Ledger::open(&ledger_dir).unwrap();
        ledger.append(Draft::new("block", "alice", "a")).unwrap();
        ledger.append(Draft::new("unblock", "alice", "a")).unwrap();
        let mut follower = Follower::from_end(&ledger_dir).unwrap();
        assert!(follower.new_entries().unwrap().is_empty());
        ledger.append(Draft::new("block", "bob", "b")).unwrap();
        ledger.append(Draft::new("grant", "bob", "c")).unwrap();
        let new = follower.new_entries().unwrap();
        assert_eq!(indices(&new), [2, 3]);
        assert_eq!(
            (new[0].action.as_str(), new[0].actor.as_str()),
            ("block", "bob")
        );
        assert!(follower.new_entries().unwrap().is_empty());
        // One started before the ledger existed reads it all.
        assert_eq!(indices(&early.new_entries().unwrap()), [0, 1, 2, 3]);
    }

    #[test]
    fn a_line_being_written_is_read_once_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.append(Draft::new("block", "alice", "a")).unwrap();
        let mut follower = Follower::from_end(dir.path()).unwrap();
        let second = Draft::new("unblock", "alice", "a")
            .into_entry(1, "h", jiff::Timestamp::UNIX_EPOCH)
            .to_canonical();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(ENTRIES))
            .unwrap();
        file.write_all(&second[..10]).unwrap();
        assert!(follower.new_entries().unwrap().is_empty());
        file.write_all(&second[10..]).unwrap();
        file.write_all(b"\n").unwrap();
        assert_eq!(indices(&follower.new_entries().unwrap()), [1]);
    }
}
