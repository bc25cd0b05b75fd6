//! The SQLite store.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SessionStore, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::schema::{SCHEMA_VERSION, needs_recording, store_error};

/// The schema, applied on open. Each statement is idempotent.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS sessionvault_schema (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessionvault_sessions (
        key BLOB PRIMARY KEY NOT NULL,
        version INTEGER NOT NULL,
        live INTEGER NOT NULL,
        user TEXT,
        expires_at INTEGER NOT NULL,
        record TEXT NOT NULL
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS sessionvault_sessions_user
        ON sessionvault_sessions (user) WHERE user IS NOT NULL AND live = 1",
    "CREATE INDEX IF NOT EXISTS sessionvault_sessions_expires
        ON sessionvault_sessions (expires_at)",
];

/// Sessions in a SQLite database file (or `:memory:`).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
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
        // An in-memory database exists per connection: keep exactly one.
        let max = if path == ":memory:" { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(store_error)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        for &statement in SCHEMA {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        let current: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM sessionvault_schema")
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if needs_recording(current)? {
            sqlx::query("INSERT INTO sessionvault_schema (version) VALUES (?)")
                .bind(SCHEMA_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    fn decode(text: &str) -> Result<Record, StoreError> {
        serde_json::from_str(text).map_err(store_error)
    }

    fn encode(record: &Record) -> Result<String, StoreError> {
        serde_json::to_string(record).map_err(store_error)
    }

    fn user_column(record: &Record) -> Option<&str> {
        if record.is_live() {
            record.user.as_deref()
        } else {
            None
        }
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query("SELECT record FROM sessionvault_sessions WHERE key = ?")
            .bind(&key.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(|r| Self::decode(r.get::<&str, _>(0))).transpose()
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO sessionvault_sessions (key, version, live, user, expires_at, record)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&record.key.as_bytes()[..])
        .bind(record.version as i64)
        .bind(record.is_live())
        .bind(Self::user_column(record))
        .bind(micros(record.expires_at))
        .bind(Self::encode(record)?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessionvault_sessions
             SET version = ?, live = ?, user = ?, expires_at = ?, record = ?
             WHERE key = ? AND version = ? AND live = 1",
        )
        .bind(record.version as i64)
        .bind(record.is_live())
        .bind(Self::user_column(record))
        .bind(micros(record.expires_at))
        .bind(Self::encode(record)?)
        .bind(&record.key.as_bytes()[..])
        .bind(expected_version as i64)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
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
            "UPDATE sessionvault_sessions
             SET record = json_set(record, '$.last_seen', ?, '$.idle_deadline', ?)
             WHERE key = ? AND live = 1",
        )
        .bind(last_seen.to_string())
        .bind(idle_deadline.to_string())
        .bind(&key.as_bytes()[..])
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let rows =
            sqlx::query("SELECT record FROM sessionvault_sessions WHERE user = ? AND live = 1")
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        rows.iter()
            .map(|r| Self::decode(r.get::<&str, _>(0)))
            .collect()
    }

    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessionvault_sessions WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }
}
