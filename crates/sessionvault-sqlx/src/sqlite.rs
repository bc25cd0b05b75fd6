//! The SQLite store.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SessionStore, StoreError};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::checkpoint::{COMMIT_CHECKPOINT_PAGES, Checkpoints};
use crate::row::{Columns, Nul, from_row, micros, only_user, touch_nanos, user_index};
use crate::schema::{check_version, store_error};

/// The schema version this store writes and reads. Version 3 keeps the record in its compact
/// encoding, version 2 as JSON text; version 2 named the user column `user_id`, as the
/// PostgreSQL store does, where version 1 called it `user`.
const SQLITE_SCHEMA_VERSION: i64 = 3;

const SCHEMA_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS sessionvault_schema (version INTEGER NOT NULL)";

const SESSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS sessionvault_sessions (
        key BLOB PRIMARY KEY NOT NULL,
        version INTEGER NOT NULL,
        live INTEGER NOT NULL,
        user_id TEXT,
        expires_at INTEGER NOT NULL,
        record TEXT NOT NULL,
        compact_record BLOB,
        touched_seen INTEGER,
        touched_idle INTEGER
    ) WITHOUT ROWID";

/// From version 1: SQLite rewrites the user index with the column.
const RENAME_USER_COLUMN: &str = "ALTER TABLE sessionvault_sessions RENAME COLUMN user TO user_id";

/// From versions 1 and 2: the compact record and the touch columns. `record` keeps the JSON of
/// the rows already there, and `null` in rows written since (see `row.rs`).
const ADD_COMPACT_COLUMNS: [&str; 3] = [
    "ALTER TABLE sessionvault_sessions ADD COLUMN compact_record BLOB",
    "ALTER TABLE sessionvault_sessions ADD COLUMN touched_seen INTEGER",
    "ALTER TABLE sessionvault_sessions ADD COLUMN touched_idle INTEGER",
];

/// A query for the columns `row::from_row` reads, of the rows that match `$condition`.
macro_rules! select_where {
    ($condition:literal) => {
        concat!(
            "SELECT key, compact_record, record, touched_seen, touched_idle
             FROM sessionvault_sessions WHERE ",
            $condition
        )
    };
}

const INDEXES: [&str; 2] = [
    "CREATE INDEX IF NOT EXISTS sessionvault_sessions_user
        ON sessionvault_sessions (user_id) WHERE user_id IS NOT NULL AND live = 1",
    "CREATE INDEX IF NOT EXISTS sessionvault_sessions_expires
        ON sessionvault_sessions (expires_at)",
];

/// Sessions in a SQLite database file (or `:memory:`).
///
/// A file's WAL is checkpointed by a task of the store's, on a connection of its own, shortly
/// after writes, rather than by whichever request's commit takes it past its limit (see
/// `checkpoint.rs`); the task ends with the last clone of the store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// `None` for `:memory:`, which has no WAL.
    checkpoints: Option<Arc<Checkpoints>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the schema.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or created, or the schema cannot be applied.
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let options = if path == ":memory:" {
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(store_error)?
        } else {
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
        }
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
        let in_memory = path == ":memory:";
        // An in-memory database exists per connection: keep exactly one.
        let max = if in_memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", COMMIT_CHECKPOINT_PAGES.to_string()),
            )
            .await
            .map_err(store_error)?;
        let mut store = Self {
            pool,
            checkpoints: None,
        };
        store.migrate().await?;
        if !in_memory {
            let checkpoints = Checkpoints::start(&options).await.map_err(store_error)?;
            store.checkpoints = Some(Arc::new(checkpoints));
        }
        Ok(store)
    }

    /// Applies the schema in one transaction: creates it in a new database, renames the user
    /// column of a version 1 database, adds the compact record's columns to a version 1 or 2
    /// one (whose rows stay as they are until their next save), refuses one made by newer code.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(SCHEMA_TABLE)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM sessionvault_schema")
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        check_version(current, SQLITE_SCHEMA_VERSION)?;
        let mut statements = vec![SESSIONS_TABLE];
        if current == Some(1) {
            statements.push(RENAME_USER_COLUMN);
        }
        if matches!(current, Some(1 | 2)) {
            statements.extend(ADD_COMPACT_COLUMNS);
        }
        statements.extend(INDEXES);
        for statement in statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        if current != Some(SQLITE_SCHEMA_VERSION) {
            sqlx::query("INSERT INTO sessionvault_schema (version) VALUES ($1)")
                .bind(SQLITE_SCHEMA_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    /// After a write: the checkpoint task's turn comes soon.
    fn wrote(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.wrote();
        }
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(select_where!("key = $1"))
            .bind(&key.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let done = Columns::new(record, Nul::Kept)?
            .bind_insert(sqlx::query(
                "INSERT INTO sessionvault_sessions
                 (key, version, live, user_id, expires_at, compact_record, record)
                 VALUES ($1, $2, $3, $4, $5, $6, 'null') ON CONFLICT (key) DO NOTHING",
            ))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        self.wrote();
        Ok(done.rows_affected() == 1)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        let done = Columns::new(record, Nul::Kept)?
            .bind_update(
                sqlx::query(
                    "UPDATE sessionvault_sessions
                     SET version = $2, live = $3, user_id = $4, expires_at = $5,
                         compact_record = $6, record = 'null',
                         touched_seen = NULL, touched_idle = NULL
                     WHERE key = $1 AND version = $7 AND live = 1",
                ),
                expected_version,
            )
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        self.wrote();
        Ok(done.rows_affected() == 1)
    }

    async fn touch_if_live(
        &self,
        key: &StoreKey,
        last_seen: Timestamp,
        idle_deadline: Timestamp,
    ) -> Result<bool, StoreError> {
        // One statement: the deadline moves only while the row is live.
        let done = sqlx::query(
            "UPDATE sessionvault_sessions SET touched_seen = $1, touched_idle = $2
             WHERE key = $3 AND live = 1",
        )
        .bind(touch_nanos(last_seen)?)
        .bind(touch_nanos(idle_deadline)?)
        .bind(&key.as_bytes()[..])
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        self.wrote();
        Ok(done.rows_affected() == 1)
    }

    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(select_where!("user_id = $1 AND live = 1"))
            .bind(user_index(user, Nul::Kept))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        only_user(rows.iter().map(from_row), user)
    }

    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessionvault_sessions WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        self.wrote();
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open_in(dir: &tempfile::TempDir) -> (SqliteStore, std::path::PathBuf) {
        let path = dir.path().join("sessions.db");
        let store = SqliteStore::open(path.to_str().expect("UTF-8 path"))
            .await
            .expect("open");
        (store, path)
    }

    /// Commits checkpoint only past ten times SQLite's default length, and the store's task
    /// copies the WAL back into the file soon after writes: the file grows although the
    /// writes stayed well under the commits' limit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_by_the_stores_task_not_by_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, path) = open_in(&dir).await;
        let limit: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .expect("pragma");
        assert_eq!(limit, i64::from(COMMIT_CHECKPOINT_PAGES));

        let file_size = || std::fs::metadata(&path).expect("database file").len();
        let before = file_size();
        // About 1,500 pages of WAL: past SQLite's default of 1,000, short of the limit here.
        let mut record = sessionvault_testkit::conformance::record(None);
        record.data.insert("blob".into(), "x".repeat(4000).into());
        for _ in 0..1500 {
            record.key = sessionvault_testkit::conformance::record(None).key;
            assert!(store.create(&record).await.expect("create"));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while file_size() < before + 4_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: the file is {} bytes, {before} before the writes",
                file_size()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes past the commits' own limit: their checkpoint lets the WAL start again, so its
    /// file ends about as long as that limit, shorter than all that was written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sustained_writes_leave_a_wal_shorter_than_they_wrote() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, path) = open_in(&dir).await;
        let mut record = sessionvault_testkit::conformance::record(None);
        record.data.insert("blob".into(), "x".repeat(16_000).into());
        // About 12,000 pages, 48 MB: past the commits' limit of 10,000.
        for _ in 0..3000 {
            record.key = sessionvault_testkit::conformance::record(None).key;
            assert!(store.create(&record).await.expect("create"));
        }
        let wal = std::fs::metadata(path.with_extension("db-wal"))
            .expect("WAL")
            .len();
        // The limit, a transaction past it, and each frame's header.
        let limit = u64::from(COMMIT_CHECKPOINT_PAGES + 1000) * 4096;
        assert!(wal < limit, "a WAL of {wal} bytes, past {limit}");
    }

    #[tokio::test]
    async fn the_checkpoint_task_ends_with_the_last_clone_of_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = open_in(&dir).await;
        let held = store
            .checkpoints
            .as_ref()
            .expect("a file has a WAL")
            .held_by_task();
        let clone = store.clone();
        drop(store);
        tokio::task::yield_now().await;
        assert!(held.upgrade().is_some(), "a clone is left: the task runs");
        drop(clone);
        for _ in 0..100 {
            if held.upgrade().is_none() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the task still runs after the last clone dropped");
    }

    #[tokio::test]
    async fn an_in_memory_database_has_no_checkpoint_task() {
        let store = SqliteStore::open(":memory:").await.expect("open");
        assert!(store.checkpoints.is_none());
    }
}
