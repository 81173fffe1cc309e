//! The server's database: SQLite or PostgreSQL behind one connection pool.
//!
//! sqlx's `any` driver keeps one text for every query: both databases take
//! `$1`-style placeholders (SQLite reads `$N` as the N-th argument), and the
//! schema sticks to types both have (TEXT, BIGINT; times as Unix seconds,
//! no booleans). A query that needed two spellings would be a sign to stop
//! and look again, not to branch here.

use std::path::Path;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::ServerError;
use crate::migrations;

/// Connections the pool holds at most. SQLite serialises writers anyway;
/// PostgreSQL's default `max_connections` is 100, and a server should leave
/// most of them to others.
pub(crate) const MAX_CONNECTIONS: u32 = 8;

/// An open database whose schema is current.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
}

/// The URL of the SQLite database at `path`, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    let path = path.to_string_lossy();
    let encoded = percent_encoding::utf8_percent_encode(&path, PATH_UNSAFE);
    format!("sqlite://{encoded}?mode=rwc")
}

/// Bytes of a path that must be escaped in a URL's path.
const PATH_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>');

/// Checks that `url` names a database this server speaks, before anything
/// connects or creates a file.
pub fn check_url(url: &str) -> Result<(), ServerError> {
    let scheme = url.split_once(':').map(|(s, _)| s);
    match scheme {
        Some("sqlite" | "postgres" | "postgresql") => Ok(()),
        _ => Err(ServerError::BadUrl(url.to_owned())),
    }
}

impl Database {
    /// Connects to `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Database, ServerError> {
        check_url(url)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // No ping before each use: it is a round trip more per
            // request (two per push). sqlx still pings a connection when
            // it is given back, dropping a broken one; one the database
            // closes while idle fails its next query (a 500 the agent
            // retries) and is dropped then.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(|e| match e {
                sqlx::Error::Configuration(why) => ServerError::BadUrlOptions(why.to_string()),
                e => ServerError::Database(e),
            })?;
        migrations::apply(&pool).await?;
        Ok(Database { pool })
    }

    /// The pool, for the queries of the other modules.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection (the SQLite file is complete afterwards).
    pub async fn close(self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_and_postgres_urls_pass() {
        for good in [
            "sqlite:///var/lib/portreeve/server.db",
            "postgres:///portreeve?host=/var/run/postgresql&user=postgres",
            "postgresql://portreeve@db.example/portreeve",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "/var/lib/portreeve/server.db",
            "mysql://x/y",
            "",
            "postgres",
        ] {
            assert!(
                matches!(check_url(bad), Err(ServerError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn sqlite_paths_are_escaped() {
        assert_eq!(
            sqlite_url(Path::new("/tmp/a b/#1?.db")),
            "sqlite:///tmp/a%20b/%231%3F.db?mode=rwc"
        );
    }
}
