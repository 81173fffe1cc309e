//! The ledger directory's files, opened so that nobody else's files are
//! ever read or written in their place.
//!
//! Every file is opened relative to a handle on the ledger directory with
//! `O_NOFOLLOW`, so a symbolic link planted under a ledger file's name (say
//! `entries.jsonl` pointing at `/etc/shadow`) makes the open fail with
//! `ELOOP` instead of sending root's writes to the link's target; the
//! directory itself is opened the same way, so a ledger directory that is a
//! link is refused too. Opens also carry `O_NONBLOCK`, so a FIFO planted
//! under a ledger name cannot hang a reader, and anything but a regular
//! file is refused. Files the ledger creates are created 0600 and its
//! directory 0700, and a writer sets those modes explicitly (`fchmod`) on
//! what it opens, whatever the process's umask.
//!
//! Hard links are not refused: the directory is root's and 0700, so only
//! root can plant one, and a backup made with `cp -al` would otherwise stop
//! the ledger.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::store::LedgerError;

/// Mode of every file in the ledger directory.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of the ledger directory.
pub(crate) const DIR_MODE: u32 = 0o700;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read only; absent is not an error ([`Dir::open_file`] gives `None`).
    Read,
    /// Read and write, created if absent.
    ReadWrite,
    /// Read and append, created if absent.
    Append,
}

/// A handle on the ledger directory.
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
    fd: OwnedFd,
}

/// The error of an operation on `path`, saying plainly when a link or a
/// special file was refused.
pub(crate) fn error_at(path: &Path, e: io::Error) -> LedgerError {
    let message = if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        "is a symbolic link; the ledger never follows links, so it was not opened \
         (remove the link, and find out who planted it)"
            .to_string()
    } else {
        e.to_string()
    };
    LedgerError::Io {
        path: path.to_path_buf(),
        message,
    }
}

impl Dir {
    /// Opens the existing ledger directory `path` for reading; nothing is
    /// created and no mode is changed (a reader may not own it). `None` if
    /// it does not exist.
    pub(crate) fn open(path: &Path) -> Result<Option<Dir>, LedgerError> {
        match rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(Dir {
                path: path.to_path_buf(),
                fd,
            })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(Self::dir_error(path, e.into())),
        }
    }

    /// Opens the ledger directory `path` for writing, creating it (and any
    /// missing parent) 0700, and makes it 0700 if it is not.
    pub(crate) fn create(path: &Path) -> Result<Dir, LedgerError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(parent)
                .map_err(|e| error_at(parent, e))?;
        }
        match rustix::fs::mkdir(path, Mode::from_raw_mode(DIR_MODE)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(error_at(path, e.into())),
        }
        let dir = Dir::open(path)?.ok_or_else(|| LedgerError::Io {
            path: path.to_path_buf(),
            message: "the ledger directory vanished as it was created".into(),
        })?;
        let stat = rustix::fs::fstat(&dir.fd).map_err(|e| error_at(path, e.into()))?;
        if stat.st_mode & 0o7777 != DIR_MODE {
            rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(DIR_MODE)).map_err(|e| {
                LedgerError::Io {
                    path: path.to_path_buf(),
                    message: format!("cannot make the ledger directory private (0700): {e}"),
                }
            })?;
        }
        Ok(dir)
    }

    fn dir_error(path: &Path, e: io::Error) -> LedgerError {
        // O_NOFOLLOW on a link gives ELOOP; O_DIRECTORY on a link to a
        // file, ENOTDIR. Say which.
        if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return LedgerError::Io {
                path: path.to_path_buf(),
                message: "the ledger directory is a symbolic link; the ledger never follows \
                          links, so it was not opened"
                    .into(),
            };
        }
        error_at(path, e)
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in the directory, for messages.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens `name` without following a link. `None` when reading a file
    /// that does not exist. A writer makes the file 0600.
    pub(crate) fn open_file(
        &self,
        name: &str,
        access: Access,
    ) -> Result<Option<File>, LedgerError> {
        let path = self.join(name);
        let flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let flags = match access {
            Access::Read => flags | OFlags::RDONLY,
            Access::ReadWrite => flags | OFlags::RDWR | OFlags::CREATE,
            Access::Append => flags | OFlags::RDWR | OFlags::APPEND | OFlags::CREATE,
        };
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(FILE_MODE)) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if access == Access::Read => return Ok(None),
            Err(e) => return Err(error_at(&path, e.into())),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| error_at(&path, e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(LedgerError::Io {
                path,
                message: "is not a regular file; the ledger opens nothing else".into(),
            });
        }
        if access != Access::Read && stat.st_mode & 0o7777 != FILE_MODE {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE))
                .map_err(|e| error_at(&path, e.into()))?;
        }
        Ok(Some(File::from(fd)))
    }

    /// Opens `name` for writing (see [`Self::open_file`]).
    pub(crate) fn open_for_writing(&self, name: &str, access: Access) -> Result<File, LedgerError> {
        Ok(self
            .open_file(name, access)?
            .expect("a writer's open creates the file"))
    }

    /// The whole of `name`, or `None` if it does not exist.
    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let Some(mut file) = self.open_file(name, Access::Read)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| error_at(&self.join(name), e))?;
        Ok(Some(bytes))
    }

    /// The device and inode of `name`, without following a link, if it
    /// exists.
    pub(crate) fn identity(&self, name: &str) -> Result<Option<(u64, u64)>, LedgerError> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(Some((s.st_dev, s.st_ino))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(error_at(&self.join(name), e.into())),
        }
    }

    /// Replaces `name` with `bytes` atomically and durably: a new file
    /// (0600) is written and fsynced, renamed over the name (which replaces
    /// a link rather than following it), and the directory fsynced.
    pub(crate) fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        let tmp = format!("{name}.tmp");
        let tmp_path = self.join(&tmp);
        match rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(error_at(&tmp_path, e.into())),
        }
        let fd = rustix::fs::openat(
            &self.fd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(FILE_MODE),
        )
        .map_err(|e| error_at(&tmp_path, e.into()))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE))
            .map_err(|e| error_at(&tmp_path, e.into()))?;
        let mut file = File::from(fd);
        file.write_all(bytes).map_err(|e| error_at(&tmp_path, e))?;
        file.sync_all().map_err(|e| error_at(&tmp_path, e))?;
        rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)
            .map_err(|e| error_at(&self.join(name), e.into()))?;
        self.sync()
    }

    /// Makes the directory's entries (names created, renamed) durable.
    pub(crate) fn sync(&self) -> Result<(), LedgerError> {
        rustix::fs::fsync(&self.fd).map_err(|e| error_at(&self.path, e.into()))
    }
}
