//! The outside-in view: which ports of which hosts answer, and what answers.
//!
//! The principal type in this crate is a [`ScanRun`]: a whole scan — what
//! was asked, when, and every port of every host as a [`PortResult`], with
//! nmap's states and reasons so that results compare with nmap's one to
//! one. Its ports are produced by the engines: [`tcp_connect::scan`]
//! (unprivileged, one non-blocking `connect()` per probe), [`tcp_syn::scan`]
//! (half-open probes through raw sockets) and [`udp::scan`]. Each engine
//! reports every port the moment it is decided, from its worker threads;
//! the caller groups the results by host into a `ScanRun`.
//!
//! How the modules fit together:
//!
//! - **What to scan.** [`target`] and [`ports`] parse and expand targets and
//!   port lists before any probe is sent, so bad input fails the scan up
//!   front.
//! - **Probing.** The engines share what [`engine`] holds (counters, worker
//!   threads, the file-descriptor budget, result building), per-host
//!   round-trip estimates and a congestion window, and the bookkeeping of
//!   the sockets in flight. The UDP engine sends the payloads of
//!   [`udp_payloads`].
//! - **What answers.** [`service`] identifies the service on an open TCP
//!   port and fills in [`PortResult::service`]; [`cpe`] names products in
//!   CPE.
//! - **Output.** [`nmap_xml`] writes a `ScanRun` as nmap XML and imports
//!   nmap's; [`grepable`] writes nmap's greppable format.
//!
//! # Example
//!
//! Scan a port of 127.0.0.1 on which the example listens:
//!
//! ```
//! use std::net::TcpListener;
//! use std::sync::Mutex;
//!
//! use portreeve_scan::tcp_connect::{self, TcpOptions};
//! use portreeve_scan::{PortResult, PortState, ports, target};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//!
//! let specs = [target::parse_spec("127.0.0.1")?];
//! let targets = target::expand(&specs, &[], target::resolve)?;
//! let ports = ports::parse_ports(&port.to_string())?;
//!
//! let results = Mutex::new(Vec::new());
//! tcp_connect::scan(&targets, &ports, &TcpOptions::default(), &|r: PortResult| {
//!     results.lock().unwrap().push(r)
//! });
//! let results = results.into_inner()?;
//! for r in &results {
//!     println!("{}/{} {} ({})", r.port, r.protocol, r.state, r.reason.as_str());
//! }
//! assert_eq!(results.len(), 1);
//! assert_eq!(results[0].state, PortState::Open);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cpe;
pub mod engine;
pub mod grepable;
pub mod model;
pub mod nmap_xml;
pub mod ports;
pub mod service;
mod slots;
pub mod target;
pub mod tcp_connect;
pub mod tcp_syn;
mod timing;
pub mod udp;
pub mod udp_payloads;

pub use model::{
    HostResult, PortResult, PortState, Reason, ScanKind, ScanRun, ServiceInfo, TlsInfo,
};
