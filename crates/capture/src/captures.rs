//! Running captures: at most [`MAX_RUNNING`] at once, one per address,
//! each on a thread of its own.

use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;

use crate::directory::{file_name, make_room};
use crate::pcap::{Appended, PcapWriter, SNAPLEN};
use crate::socket::PacketSocket;
use crate::{CaptureConfig, CaptureError, filter};

/// At most this many captures run at once; a detection beyond them gets
/// none.
pub const MAX_RUNNING: usize = 8;

/// How long a capture's thread waits for a packet before it looks at its
/// time limit (and at [`Captures`] being dropped) again.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// Starts captures into one directory and counts what they wrote.
/// Dropping it stops the running captures within `READ_TIMEOUT`.
pub struct Captures {
    dir: PathBuf,
    config: CaptureConfig,
    shared: Arc<Shared>,
}

/// What the capture threads and their starter share.
#[derive(Default)]
struct Shared {
    /// The running captures' files, by address.
    running: Mutex<HashMap<IpAddr, PathBuf>>,
    bytes_written: AtomicU64,
    stopped_for_space: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    fn running(&self) -> MutexGuard<'_, HashMap<IpAddr, PathBuf>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn out_of_space(&self, source: IpAddr, why: &str) {
        self.stopped_for_space.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%source, "no capture: {why}; detection goes on without it");
    }
}

impl Captures {
    /// Captures into `dir` (created, mode 0700, at the first capture)
    /// with `config`'s limits.
    pub fn new(dir: PathBuf, config: CaptureConfig) -> Captures {
        Captures {
            dir,
            config,
            shared: Arc::default(),
        }
    }

    /// Starts capturing the packets from or to `source`, returning at
    /// once with the capture's file. `None` when captures are off, one of
    /// `source` is running already, [`MAX_RUNNING`] are running, or there is
    /// no room (see the crate's documentation). `label` (letters, digits,
    /// `.`, `_`, `-`) ends the file name.
    pub fn start(&self, source: IpAddr, label: &str) -> Result<Option<PathBuf>, CaptureError> {
        if !self.config.enabled {
            return Ok(None);
        }
        let source = source.to_canonical();
        let deadline = Instant::now() + self.config.time_limit()?;
        // Held until the capture is registered, so two starts cannot both
        // take the same room.
        let mut running = self.shared.running();
        if running.contains_key(&source) || running.len() >= MAX_RUNNING {
            return Ok(None);
        }
        let socket = PacketSocket::open(&filter::from_or_to(source), READ_TIMEOUT)
            .map_err(CaptureError::Socket)?;
        create_private_dir(&self.dir)?;
        let busy: HashSet<PathBuf> = running.values().cloned().collect();
        let needed = (busy.len() as u64 + 1).saturating_mul(self.config.bytes);
        if !make_room(&self.dir, &busy, needed, self.config.total_bytes)? {
            self.shared
                .out_of_space(source, "the capture directory has no room left");
            return Ok(None);
        }
        let path = self.dir.join(file_name(Timestamp::now(), source, label));
        let io_error = |source| CaptureError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error)?;
        let writer = match PcapWriter::start(file, self.config.bytes) {
            Ok(writer) => writer,
            Err(e) => {
                let _ = fs::remove_file(&path);
                if disk_full(&e) {
                    self.shared.out_of_space(source, "the disk is full");
                    return Ok(None);
                }
                return Err(io_error(e));
            }
        };
        self.shared
            .bytes_written
            .fetch_add(writer.bytes, Ordering::Relaxed);
        let recording = Recording {
            source,
            socket,
            writer,
            packets: self.config.packets,
            deadline,
            shared: Arc::clone(&self.shared),
        };
        if let Err(e) = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || recording.run())
        {
            let _ = fs::remove_file(&path);
            return Err(io_error(e));
        }
        running.insert(source, path.clone());
        Ok(Some(path))
    }

    /// Bytes written into capture files so far, headers included.
    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::Relaxed)
    }

    /// Captures not made, or cut short, because the directory or the disk
    /// was full.
    pub fn stopped_for_space(&self) -> u64 {
        self.shared.stopped_for_space.load(Ordering::Relaxed)
    }

    /// Captures running now.
    pub fn running(&self) -> usize {
        self.shared.running().len()
    }
}

impl Drop for Captures {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
    }
}

/// One capture's thread: reads its socket into its file until a limit.
struct Recording {
    source: IpAddr,
    socket: PacketSocket,
    writer: PcapWriter,
    packets: u64,
    deadline: Instant,
    shared: Arc<Shared>,
}

impl Recording {
    fn run(mut self) {
        let mut buffer = vec![0u8; SNAPLEN as usize];
        let ended = loop {
            if self.writer.packets >= self.packets {
                break "its packet limit";
            }
            if self.shared.stopping.load(Ordering::Relaxed) {
                break "portreeve stopping";
            }
            if Instant::now() >= self.deadline {
                break "its time limit";
            }
            let packet = match self.socket.receive(&mut buffer) {
                Ok(Some(packet)) => packet,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(source = %self.source, "capture stopped: cannot read its socket: {e}");
                    break "a read error";
                }
            };
            match self
                .writer
                .append(SystemTime::now(), packet.data, packet.length)
            {
                Ok(Appended::Written(bytes)) => {
                    self.shared
                        .bytes_written
                        .fetch_add(bytes, Ordering::Relaxed);
                }
                Ok(Appended::Full) => break "its byte limit",
                Err(e) if disk_full(&e) => {
                    self.shared.out_of_space(self.source, "the disk is full");
                    break "a full disk";
                }
                Err(e) => {
                    tracing::warn!(source = %self.source, "capture stopped: cannot write: {e}");
                    break "a write error";
                }
            }
        };
        tracing::info!(
            source = %self.source,
            packets = self.writer.packets,
            bytes = self.writer.bytes,
            "capture ended at {ended}"
        );
        self.shared.running().remove(&self.source);
    }
}

/// Whether `e` says the file system has no room (or no quota) left.
fn disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::EDQUOT)
}

/// Creates `dir` if needed and makes it private (0700).
fn create_private_dir(dir: &Path) -> Result<(), CaptureError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
        .map_err(|source| CaptureError::Io {
            path: dir.to_path_buf(),
            source,
        })
}
