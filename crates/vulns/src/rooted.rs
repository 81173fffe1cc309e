//! Reading the files of a root directory that may be another process's:
//! `/proc/PID/root` of a container.
//!
//! Resolving `ROOT/etc/os-release` by plain path is wrong there: when the
//! container's file is an absolute symlink (`/usr/lib/os-release`), the
//! kernel follows it in *our* root and we would read the host's file.
//! Every path here is opened with `openat2(RESOLVE_IN_ROOT)`, which resolves
//! `..` and absolute symlinks as if the root directory were `/`, so what is
//! read is what the process itself would read.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Dir, Mode, OFlags, ResolveFlags};

/// An open root directory; paths below it are relative (`var/lib/dpkg`).
pub(crate) struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` as the root to read below.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            path: path.to_owned(),
        })
    }

    /// `relative` as a path outside the root, for messages:
    /// `/proc/42/root/var/lib/dpkg/status`.
    pub(crate) fn display(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }

    fn open_below(&self, relative: &str, flags: OFlags) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            &self.fd,
            relative,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )?)
    }

    /// The contents of the file at `relative`, as text (invalid UTF-8
    /// replaced: these files are read for ASCII fields).
    pub(crate) fn read_to_string(&self, relative: &str) -> io::Result<String> {
        let mut bytes = Vec::new();
        File::from(self.open_below(relative, OFlags::RDONLY)?).read_to_end(&mut bytes)?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The names in the directory at `relative` (without `.` and `..`).
    pub(crate) fn read_dir(&self, relative: &str) -> io::Result<Vec<String>> {
        let dir = self.open_below(relative, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut names = Vec::new();
        for entry in Dir::read_from(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Whether `name`, directly below the root, is a symlink to `usr/NAME`
    /// (or `/usr/NAME`): the root's `/bin` and `/usr/bin` are one directory.
    pub(crate) fn merged_into_usr(&self, name: &str) -> bool {
        rustix::fs::readlinkat(&self.fd, name, Vec::new()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            target.trim_start_matches('/').trim_end_matches('/') == format!("usr/{name}")
        })
    }

    /// Whether a file or directory exists at `relative`.
    pub(crate) fn exists(&self, relative: &str) -> bool {
        self.open_below(relative, OFlags::PATH).is_ok()
    }
}
