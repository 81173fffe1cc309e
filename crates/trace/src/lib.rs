//! Source tracing: who is behind an address that portreeve has just
//! detected or blocked.
//!
//! Three lookups, each optional and each bounded in time:
//!
//! - **Reverse DNS** through the system resolver (`getnameinfo`, so
//!   `/etc/hosts`, `/etc/resolv.conf` and nsswitch apply as for every other
//!   program on the host). `getnameinfo` cannot be cancelled, so it runs on a
//!   worker thread that the caller stops waiting for, and the number of such
//!   threads still running is capped ([`ReverseDns`]).
//! - **ASN and country** from MaxMind-format `.mmdb` files on disk
//!   (GeoLite2-ASN, GeoLite2-Country, GeoLite2-City or any file with the same
//!   record shapes), read with the `maxminddb` crate: offline, no network
//!   ([`GeoDatabases`]).
//! - **RDAP** (RFC 9083 IP network objects, queried as `/ip/ADDR` per
//!   RFC 7482) from one configured base URL, with connect and total timeouts
//!   and an in-memory cache keyed by the network range the server returned,
//!   so other addresses in an already-fetched network are not asked again
//!   ([`RdapClient`]). The HTTP client is `ureq`: blocking (the lookups
//!   already run on their own threads, so an async runtime would add
//!   nothing), small, maintained, with separate connect and whole-request
//!   timeouts and rustls for the HTTPS that registries serve. Proxy
//!   variables in the environment are ignored: a lookup goes to the
//!   configured server only. There is no RFC 9224 bootstrap: the operator
//!   names the registry (or a redirecting service) to ask.
//!
//! [`Enricher`] runs the three concurrently within a total budget and
//! returns whatever arrived in time, with the failures as words in
//! [`Enrichment::errors`].
//!
//! **Enrichment never delays a block.** Callers block first and enrich
//! afterwards (or on another thread): nothing in this crate is on the
//! blocking path, and a slow or dead resolver or registry costs at most the
//! budget of a detection's report, never the block itself.

mod config;
mod enricher;
mod error;
mod geo;
mod rdap;
mod rdns;
mod worker;

pub use config::TraceConfig;
pub use enricher::{Enricher, Enrichment};
pub use error::TraceError;
pub use geo::{GeoDatabases, GeoInfo};
pub use rdap::{RdapClient, RdapNetwork};
pub use rdns::ReverseDns;
