//! What can go wrong in the server's library, typed; the binary words it.

/// A failure of the server's database, its tokens, or its listener.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `--database` is not a URL this server speaks.
    #[error(
        "`{0}` is not a database URL: write sqlite:///path/to/server.db, \
         postgres://user@host/database, or postgres:///database?host=/var/run/postgresql&user=NAME"
    )]
    BadUrl(String),
    /// The URL's scheme is right but the driver refused its options.
    #[error("the database URL is not valid: {0}")]
    BadUrlOptions(String),
    /// No token has this id.
    #[error("no token has the id `{0}` (`portreeve server token list` shows them)")]
    NoSuchToken(String),
    /// No host has this name or id.
    #[error("no host has the name or id `{0}` (`portreeve server host list` shows them)")]
    NoSuchHost(String),
    /// The database was migrated by a newer portreeve.
    #[error(
        "the database's schema is at version {newest}, newer than this portreeve knows ({known}): \
         run the newer portreeve"
    )]
    SchemaTooNew {
        /// The newest version the database records.
        newest: i64,
        /// The newest version this binary has.
        known: i64,
    },
    /// The database holds something this code never writes.
    #[error("the database is inconsistent: {0}")]
    Corrupt(String),
    /// The operating system's random source failed.
    #[error("cannot read random bytes: {0}")]
    Random(String),
    /// The database failed (unreachable, refused, I/O).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The OIDC issuer could not be read when the server started.
    #[error("{0}")]
    Oidc(#[from] crate::oidc::DiscoveryError),
    /// The listening socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server's ledger refused or failed (docs/server.md, "The
    /// server's ledger").
    #[error("the server's ledger: {0}")]
    Ledger(#[from] portreeve_ledger::LedgerError),
    /// The server's policy signing key could not be read or made.
    #[error("the server's signing key {path}: {why}")]
    SigningKey {
        /// The key file.
        path: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl ServerError {
    /// Whether the database gave up on a write only because another writer
    /// held it: SQLite's busy or locked (after the pool's busy timeout),
    /// PostgreSQL's serialization failure, deadlock or lock not available.
    /// Nothing was written, and the same request may succeed when retried.
    pub fn is_transient(&self) -> bool {
        let ServerError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        if let Some(sqlite) = e.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), and their extended
            // codes, which keep the primary code in the low byte.
            return sqlx::error::DatabaseError::code(sqlite)
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6));
        }
        e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| matches!(pg.code(), "40001" | "40P01" | "55P03"))
    }

    /// Whether this is the user's mistake (exit 2) rather than the
    /// environment's (exit 3).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            ServerError::BadUrl(_)
                | ServerError::BadUrlOptions(_)
                | ServerError::NoSuchToken(_)
                | ServerError::NoSuchHost(_)
        )
    }
}
