//! Incident capture: when portreeve detects a scanner, it can record the
//! packets to and from that address for a while, as a pcap file a person
//! opens later in Wireshark, tshark or Zeek.
//!
//! [`Captures::start`] opens an `AF_PACKET` socket on the calling thread
//! (so in the caller's network namespace), attaches a classic BPF filter
//! ([`filter::from_or_to`]) so the kernel hands over only the offender's
//! IPv4 or IPv6 packets from every interface, and records them on a
//! thread of its own into `<dir>/<UTC start>-<address>-<label>.pcap`
//! (link type RAW: the network-layer packets, no link headers). Each
//! capture stops at its packet, byte or time limit, whichever comes first.
//!
//! The directory is capped: before a capture starts, the oldest finished
//! captures are deleted until the new one's byte limit fits beside the rest
//! (running captures count at their full limit). **A full capture disk
//! stops captures, not detection**: when nothing can make room, or the disk
//! fills during a write, the capture is not made (or stops where it is,
//! the file cut back to its last whole packet), the event is counted
//! ([`Captures::stopped_for_space`]), and `start` returns `None`, never an
//! error that the caller's detection path would have to handle.

mod captures;
mod config;
mod directory;
pub mod filter;
mod pcap;
mod socket;

use std::io;
use std::path::PathBuf;

pub use captures::{Captures, MAX_RUNNING};
pub use config::{CaptureConfig, MIN_BYTES};
pub use directory::{CaptureInfo, DIRECTORY, list, state_directory};

/// Why captures could not be configured, started or listed.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The settings are impossible.
    #[error("{0}")]
    Config(String),
    /// No packet socket (capturing needs `CAP_NET_RAW`).
    #[error("cannot open a packet socket (capturing needs CAP_NET_RAW): {0}")]
    Socket(#[source] io::Error),
    /// The capture directory or a file in it.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}
