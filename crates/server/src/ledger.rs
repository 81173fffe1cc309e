//! The server's own ledger: every change made on the server — a token
//! made or revoked, a host enrolled or revoked, a policy proposed,
//! approved, assigned — is an entry in a [`Ledger`] at
//! `<state>/server/ledger/`, with a signed checkpoint after each
//! (docs/server.md, "The server's ledger").
//!
//! The running server and the `portreeve server token|host` commands each
//! open it; the ledger `flock`s around every append, so they take turns.
//! Appends and proofs touch the disk (an append waits for `fdatasync`),
//! so the async API runs them on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portreeve_ledger::merkle::{Hash, leaf_hash};
use portreeve_ledger::note::Checkpoint;
use portreeve_ledger::{Draft, Ledger, LedgerError};
use serde::{Deserialize, Serialize};

use crate::ServerError;
use crate::token::hex;

/// The most entries one page of `GET /api/v1/ledger` holds.
pub const MAX_PAGE: u64 = 1000;

/// The server's files under the state directory: this ledger and the
/// policy signing key (`<state>/server/`).
pub fn server_dir(state: &Path) -> PathBuf {
    state.join("server")
}

/// The server's ledger, open for appending.
#[derive(Clone)]
pub struct ServerLedger {
    ledger: Arc<Ledger>,
}

/// One page of the ledger, as `GET /api/v1/ledger` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerPage {
    /// Entries the checkpoint covers; the page holds none past it.
    pub size: u64,
    /// The latest signed checkpoint (a C2SP signed note), as text.
    pub checkpoint: String,
    /// The log's verifier key (C2SP vkey) that signs the checkpoints.
    pub key: String,
    /// The entries asked for, by index.
    pub entries: Vec<PageEntry>,
}

/// One entry of a [`LedgerPage`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageEntry {
    /// Its position, from 0.
    pub index: u64,
    /// SHA-256 of 0x00 then `line`'s bytes, hex: its leaf in the tree.
    pub leaf_hash: String,
    /// The entry's canonical JSON exactly as the ledger stores and hashes
    /// it (UTF-8, no newline).
    pub line: String,
    /// The same, parsed.
    pub entry: serde_json::Value,
}

/// An inclusion proof, as `GET /api/v1/ledger/proof` answers.
#[derive(Debug, Serialize)]
pub struct LedgerProof {
    /// The entry's index.
    pub index: u64,
    /// The size of the tree the proof is for.
    pub size: u64,
    /// The entry's leaf hash, hex.
    pub leaf_hash: String,
    /// The root of the tree of `size` entries, hex.
    pub root: String,
    /// The audit path from the leaf upwards (RFC 9162 §2.1.3), hex.
    pub proof: Vec<String>,
}

impl ServerLedger {
    /// Opens (creating when missing) the ledger under state directory
    /// `state`.
    pub fn open(state: &Path) -> Result<ServerLedger, ServerError> {
        let ledger = Ledger::open(&server_dir(state).join("ledger"))?;
        Ok(ServerLedger {
            ledger: Arc::new(ledger),
        })
    }

    /// Makes the change `write` makes in one database transaction, and
    /// records it as `draft` of its result before committing: the database
    /// keeps a change only once the ledger holds its entry, so no change
    /// is left unrecorded when the ledger refuses (a tampered file, a full
    /// disk). What a commit failing after the append leaves is an entry
    /// for a change that did not happen, which the entry's readers can
    /// check against the database, rather than the reverse.
    pub async fn recorded<T>(
        &self,
        pool: &sqlx::AnyPool,
        write: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> Result<T, ServerError>,
        draft: impl FnOnce(&T) -> Draft,
    ) -> Result<T, ServerError> {
        let mut tx = pool.begin().await?;
        let done = write(&mut *tx).await?;
        self.record(draft(&done)).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Appends `draft` and signs a checkpoint over it; returns once both
    /// are durable, with the entry's index.
    pub async fn record(&self, draft: Draft) -> Result<u64, ServerError> {
        self.blocking(move |ledger| {
            let appended = ledger.append(draft)?;
            ledger.checkpoint()?;
            Ok(appended.index)
        })
        .await
    }

    /// Up to `limit` entries from index `after` on (skipping the first
    /// `after`), all covered by the latest checkpoint, which is returned
    /// with them.
    pub async fn page(&self, after: u64, limit: u64) -> Result<LedgerPage, ServerError> {
        self.blocking(move |ledger| {
            let note = ledger.checkpoint()?;
            let size = Checkpoint::parse_text(&note.text)
                .map_err(|e| ServerError::Corrupt(format!("the server's checkpoint: {e}")))?
                .size;
            let count = limit.min(MAX_PAGE).min(size.saturating_sub(after));
            let entries = (after..)
                .zip(ledger.entry_lines(after, count)?)
                .map(|(index, line)| page_entry(index, &line))
                .collect::<Result<_, _>>()?;
            Ok(LedgerPage {
                size,
                checkpoint: note.to_string(),
                key: ledger.verifier().to_string(),
                entries,
            })
        })
        .await
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries
    /// (the latest checkpoint's when `None`). `Ok(Err(why))`: no such
    /// entry or size.
    pub async fn proof(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<Result<LedgerProof, String>, ServerError> {
        self.blocking(move |ledger| {
            let size = match size {
                Some(size) => size,
                None => {
                    let note = ledger.checkpoint()?;
                    Checkpoint::parse_text(&note.text)
                        .map_err(|e| ServerError::Corrupt(format!("the server's checkpoint: {e}")))?
                        .size
                }
            };
            match ledger.prove_inclusion(index, Some(size)) {
                Ok(doc) => Ok(Ok(LedgerProof {
                    index,
                    size,
                    leaf_hash: hex(&doc.leaf_hash),
                    root: hex(&doc.root),
                    proof: doc.proof.iter().map(|h: &Hash| hex(h)).collect(),
                })),
                Err(LedgerError::Request(why)) => Ok(Err(why)),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Runs `work` on the ledger on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Ledger) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || work(&ledger))
            .await
            .map_err(|e| ServerError::Io(std::io::Error::other(e)))?
    }
}

/// Entry `index` from its stored line `body` (without its newline).
fn page_entry(index: u64, body: &[u8]) -> Result<PageEntry, ServerError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ServerError::Corrupt(format!("ledger entry {index} is not UTF-8")))?;
    let entry = serde_json::from_str(text)
        .map_err(|e| ServerError::Corrupt(format!("ledger entry {index}: {e}")))?;
    Ok(PageEntry {
        index,
        leaf_hash: hex(&leaf_hash(body)),
        line: text.to_owned(),
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_ledger::merkle::verify_inclusion;

    fn unhex(text: &str) -> Hash {
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect();
        bytes.try_into().unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_and_proofs_agree_with_the_entries_as_stored() {
        let state = tempfile::tempdir().unwrap();
        let ledger = ServerLedger::open(state.path()).unwrap();
        for i in 0..5 {
            let index = ledger
                .record(Draft::new(
                    "server.token.create",
                    "root",
                    format!("token t{i}"),
                ))
                .await
                .unwrap();
            assert_eq!(index, i);
        }
        let page = ledger.page(1, 2).await.unwrap();
        assert_eq!(page.size, 5);
        let indexes: Vec<u64> = page.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, [1, 2]);
        let first = &page.entries[0];
        assert_eq!(first.entry["object"], "token t1");
        assert_eq!(first.entry["action"], "server.token.create");
        for entry in &page.entries {
            let proof = ledger.proof(entry.index, None).await.unwrap().unwrap();
            assert_eq!(proof.leaf_hash, entry.leaf_hash);
            let path: Vec<Hash> = proof.proof.iter().map(|h| unhex(h)).collect();
            verify_inclusion(
                &leaf_hash(entry.line.as_bytes()),
                entry.index,
                proof.size,
                &path,
                &unhex(&proof.root),
            )
            .unwrap();
        }
        assert!(ledger.proof(5, None).await.unwrap().is_err());
        assert!(ledger.proof(0, Some(9)).await.unwrap().is_err());
        // Another handle (the CLI's) appends to the same ledger.
        let other = ServerLedger::open(state.path()).unwrap();
        other
            .record(Draft::new("server.host.revoke", "root", "host h"))
            .await
            .unwrap();
        assert_eq!(ledger.page(0, 100).await.unwrap().entries.len(), 6);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_change_is_kept_only_with_its_entry() {
        let state = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", state.path().join("s.db").display());
        let database = crate::Database::open(&url).await.unwrap();
        let ledger = ServerLedger::open(state.path()).unwrap();
        let create = async |db: &mut sqlx::AnyConnection| {
            crate::token::create(db, crate::Role::Viewer, "t", None, None).await
        };
        // The ledger refuses this entry (its action is not a valid name)
        // after the token was written in the transaction.
        let refused = ledger
            .recorded(database.pool(), create, |_| {
                Draft::new("not an action", "root", "token")
            })
            .await;
        assert!(refused.is_err());
        assert!(
            crate::token::list(database.pool())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(ledger.page(0, 10).await.unwrap().size, 0);

        let kept = ledger
            .recorded(database.pool(), create, |t| {
                Draft::new(
                    "server.token.create",
                    "root",
                    format!("token {}", t.record.id),
                )
            })
            .await
            .unwrap();
        assert_eq!(crate::token::list(database.pool()).await.unwrap().len(), 1);
        let page = ledger.page(0, 10).await.unwrap();
        assert_eq!(
            page.entries[0].entry["object"],
            format!("token {}", kept.record.id)
        );
        database.close().await;
    }
}
