//! The portreeve fleet server: its database, its API tokens and their
//! roles, and the HTTP API under `/api/v1` (docs/server.md).
//!
//! The principal type in this crate is a [`Server`], which binds a listener
//! for a [`Database`] and serves until its caller's shutdown signal. The
//! database is SQLite or PostgreSQL behind one set of queries; opening it
//! applies the schema's migrations. Tokens are made and revoked through
//! [`token`], and what each [`Role`] may do is one table in [`role`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), portreeve_server::ServerError> {
//! use portreeve_server::{Database, Role, Server, token};
//! use portreeve_ledger::Draft;
//! use portreeve_server::ledger::ServerLedger;
//! use portreeve_server::policy::Governance;
//!
//! let db = Database::open("sqlite:///tmp/server.db?mode=rwc").await?;
//! let ledger = ServerLedger::open(std::path::Path::new("/tmp/portreeve"))?;
//! let viewer = ledger
//!     .recorded(
//!         db.pool(),
//!         async |tx| token::create(tx, Role::Viewer, "dashboard", None, None).await,
//!         |t| Draft::new("server.token.create", "root", format!("token {}", t.record.id)),
//!     )
//!     .await?;
//! println!("{}", viewer.secret);
//! let governance = Governance::open(std::path::Path::new("/tmp/portreeve"), 1)?;
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), db, governance).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod api;
mod clock;
pub mod config;
mod console;
mod database;
mod enroll;
mod error;
mod fleet;
mod grants_blocks;
pub mod hosts;
pub mod ledger;
mod ledger_api;
mod limits;
pub mod metrics;
mod migrations;
mod nul;
pub mod oidc;
pub mod policy;
mod policy_api;
mod policy_signing;
mod policy_status;
pub mod principal;
mod push;
pub mod role;
mod signature;
pub mod token;

pub use api::Server;
pub use clock::rfc3339;
pub use database::{Database, check_url, sqlite_url};
pub use error::ServerError;
/// The fleet-wide rows the API answers, which the fleet's report (in
/// portreeve-app) reads back.
pub use fleet::{FleetCounts, FleetDrift, FleetFinding, FleetPort, HostRef};
pub use grants_blocks::{FleetBlock, FleetGrant};
pub use oidc::{OidcConfig, OidcVerifier};
pub use principal::Principal;
pub use role::{Permission, Role, UnknownRole};
