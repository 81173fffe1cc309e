//! The schema's versions: numbered SQL files in `crates/server/migrations/`,
//! compiled into the binary and applied in order on every open, each once.
//! `schema_migrations` records which have been applied (docs/server.md).

use sqlx::{AnyPool, Row};

use crate::ServerError;
use crate::clock::unix_now;

/// One version of the schema.
struct Migration {
    /// Its number: the file name's prefix, counting up from 1.
    version: i64,
    /// The rest of its file name, for people reading `schema_migrations`.
    name: &'static str,
    /// Portable SQL, run as one transaction with the record of it.
    sql: &'static str,
}

/// Every migration, in order. A new one is a new file and a new line here;
/// an applied one is never edited.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tokens_and_hosts",
        sql: include_str!("../migrations/0001_tokens_and_hosts.sql"),
    },
    Migration {
        version: 2,
        name: "enrollment_and_pushes",
        sql: include_str!("../migrations/0002_enrollment_and_pushes.sql"),
    },
    Migration {
        version: 3,
        name: "lifecycle",
        sql: include_str!("../migrations/0003_lifecycle.sql"),
    },
    Migration {
        version: 4,
        name: "policies",
        sql: include_str!("../migrations/0004_policies.sql"),
    },
    Migration {
        version: 5,
        name: "grants_blocks",
        sql: include_str!("../migrations/0005_grants_blocks.sql"),
    },
    Migration {
        version: 6,
        name: "state_digest",
        sql: include_str!("../migrations/0006_state_digest.sql"),
    },
    Migration {
        version: 7,
        name: "finding_history",
        sql: include_str!("../migrations/0007_finding_history.sql"),
    },
];

/// The table that records applied migrations (portable SQL).
const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Applies the migrations `pool`'s database has not had yet, each in a
/// transaction of its own (both databases roll DDL back). Refuses a
/// database whose schema is newer than this binary knows: an older server
/// must not write into tables it does not understand.
pub async fn apply(pool: &AnyPool) -> Result<(), ServerError> {
    sqlx::query(CREATE_SCHEMA_MIGRATIONS).execute(pool).await?;
    let applied = applied_versions(pool).await?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(&newest) = applied.iter().max().filter(|&&v| v > known) {
        return Err(ServerError::SchemaTooNew { newest, known });
    }
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(migration.sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The versions recorded in `schema_migrations`, ascending.
async fn applied_versions(pool: &AnyPool) -> Result<Vec<i64>, ServerError> {
    let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| row.try_get::<i64, _>(0).map_err(ServerError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_finding_history_starts_with_the_counts_each_host_holds() {
        let state = tempfile::tempdir().unwrap();
        sqlx::any::install_default_drivers();
        let url = crate::sqlite_url(&state.path().join("s.db"));
        let pool = AnyPool::connect(&url).await.unwrap();
        // A database of version 6: a host that pushed two findings, one
        // that never pushed.
        sqlx::query(CREATE_SCHEMA_MIGRATIONS)
            .execute(&pool)
            .await
            .unwrap();
        for m in &MIGRATIONS[..6] {
            sqlx::raw_sql(m.sql).execute(&pool).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations VALUES ($1, $2, 0)")
                .bind(m.version)
                .bind(m.name)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO hosts (id, name, enrolled_at, last_seen_at, last_seq)
                 VALUES ('h1', 'web-1', 0, 500, 9);
             INSERT INTO hosts (id, name, enrolled_at) VALUES ('h2', 'db-1', 0);
             INSERT INTO host_findings VALUES ('h1', 'PR001', 'high', 80, 'open');
             INSERT INTO host_findings VALUES ('h1', 'PR002', 'info', NULL, 'note');",
        )
        .execute(&pool)
        .await
        .unwrap();
        apply(&pool).await.unwrap();
        let rows = sqlx::query("SELECT * FROM finding_counts")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let get = |c: &str| rows[0].try_get::<i64, _>(c).unwrap();
        let counts: Vec<i64> = ["at", "seq", "critical", "high", "medium", "low", "info"]
            .iter()
            .map(|c| get(c))
            .collect();
        assert_eq!(counts, [500, 9, 0, 1, 0, 0, 1]);
        let remediation: Option<String> =
            sqlx::query("SELECT remediation FROM host_findings WHERE code = 'PR001'")
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get("remediation")
                .unwrap();
        assert_eq!(remediation, None, "kept rows have none");
    }

    #[test]
    fn versions_count_up_from_one_and_match_the_files() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            let file = format!("{:04}_{}.sql", m.version, m.name);
            let on_disk = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(&file),
            )
            .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(on_disk, m.sql, "{file}");
        }
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .count();
        assert_eq!(
            files,
            MIGRATIONS.len(),
            "a migration file is not listed in MIGRATIONS"
        );
    }
}
