//! The outside-in view: which ports of which hosts answer, and what answers.
//!
//! Targets and ports are parsed and expanded before any probe is sent
//! ([`target`], [`ports`]); the engines probe them and report states with
//! nmap's meanings ([`model`]).

pub mod engine;
pub mod grepable;
pub mod model;
pub mod nmap_xml;
pub mod ports;
pub mod service;
pub mod target;
pub mod tcp_connect;
pub mod tcp_syn;
mod timing;
pub mod udp;
pub mod udp_payloads;

pub use model::{
    HostResult, PortResult, PortState, Reason, ScanKind, ScanRun, ServiceInfo, TlsInfo,
};
