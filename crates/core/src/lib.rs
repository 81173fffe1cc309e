//! The domain model every other portreeve crate speaks.
//!
//! The principal type in this crate is a [`ListeningSocket`]: a listening TCP
//! socket or a bound UDP socket as the kernel reports it, with its
//! [`BindScope`], its [`NetnsRef`] and the [`ProcessInfo`] of every process
//! holding it (or an [`OwnerStatus`] saying why they are unknown). Policies
//! speak of ports as [`PortRange`]s of a [`Proto`]; the firewall, the kernel's
//! usage record, the lifecycle and the agent's store name one port by a
//! [`PortKey`] (`443/tcp`) and what is known of its use by a [`PortUsage`].
//! Judging sockets yields [`Finding`]s, each of a [`FindingKind`] with a stable
//! code (`PR001`…) and a [`Severity`]; what a scan saw from outside is a
//! [`ScanView`] of [`ObservedPort`]s.
//!
//! These are the nouns only. The crate performs no I/O and judges nothing:
//! `portreeve-inventory` fills in sockets, `portreeve-policy` makes findings,
//! `portreeve-lifecycle` interprets usage. Keeping the nouns in one small
//! crate means the adapters, the evaluators and the output formats agree on
//! one name for one concept, and the JSON contract documented in
//! `docs/json.md` is simply the serde form of these types.
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//!
//! use portreeve_core::{
//!     BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, PortKey, PortRange, Proto,
//! };
//!
//! // One port, as the CLI, the firewall and the lifecycle write it.
//! let https = PortKey::new(Proto::Tcp, 443);
//! assert_eq!(https.to_string(), "443/tcp");
//!
//! // A range, as a policy writes it.
//! let range: PortRange = "8000-8100".parse()?;
//! assert!(range.contains(8080) && range.len() == 101);
//!
//! // A socket as the inventory reports it: here, bound to every address.
//! let address: IpAddr = "0.0.0.0".parse()?;
//! let socket = ListeningSocket {
//!     protocol: Proto::Tcp,
//!     family: Family::Ipv4,
//!     address,
//!     port: https.port,
//!     interface: None,
//!     scope: BindScope::of(address),
//!     dual_stack: false,
//!     uid: 0,
//!     user: Some("root".into()),
//!     inode: 12345,
//!     netns: NetnsRef { inode: 4026531840, name: Some("host".into()) },
//!     owner_status: OwnerStatus::NoProcess,
//!     processes: vec![],
//! };
//! assert_eq!(socket.scope, BindScope::Wildcard);
//! assert_eq!(socket.endpoint(), "0.0.0.0:443");
//! assert!(socket.is_exposed() && socket.is_public());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attribution;
mod exposure;
mod finding;
mod port;
pub mod prometheus;
mod reach;
mod severity;
mod socket;
mod usage;
pub mod words;

pub use attribution::{Attribution, ContainerInfo, ProxyTarget};
pub use exposure::{Breadth, Exposure, SourceZone};
pub use finding::{
    Acceptance, Finding, FindingKind, PolicyLocation, PolicyRuleRef, ResourceRef, SocketRef,
};
pub use port::{PortRange, PortRangeError, Proto, ProtoParseError};
pub use reach::{Observed, ObservedPort, ScanView};
pub use severity::{Severity, SeverityParseError};
pub use socket::{BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, ProcessInfo};
pub use usage::{PortKey, PortUsage, SourceUse, source_network};
