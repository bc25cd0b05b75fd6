//! The PostgreSQL store: for several application servers sharing sessions.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SessionStore, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::schema::{SCHEMA_VERSION, needs_recording, store_error};

/// Rows a single sweep statement deletes at most, so a sweep never holds many row locks or
/// runs long enough to slow requests down; [`SessionStore::sweep`] repeats it until done.
const SWEEP_BATCH: i64 = 1000;

/// An arbitrary, fixed key for the advisory lock that serializes migrations across processes.
const MIGRATION_LOCK: i64 = 0x7365_7373_7661_756c; // "sessvaul"

/// Sessions in PostgreSQL, in the table `sessionvault_sessions` of the connection's schema.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DB`) and applies the schema.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or the schema cannot be applied.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(store_error)?;
        Self::connect_with(options).await
    }

    /// Connects with `options` (for a schema other than the default, set its `search_path`).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or the schema cannot be applied.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // A dead server fails requests within seconds (503), not after a long hang.
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(store_error)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the schema. Several app servers starting at once take turns (advisory lock).
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        for statement in [
            "CREATE TABLE IF NOT EXISTS sessionvault_schema (version BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS sessionvault_sessions (
                key BYTEA PRIMARY KEY,
                version BIGINT NOT NULL,
                live BOOLEAN NOT NULL,
                user_id TEXT,
                expires_at BIGINT NOT NULL,
                record JSONB NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS sessionvault_sessions_user
                ON sessionvault_sessions (user_id) WHERE user_id IS NOT NULL AND live",
            "CREATE INDEX IF NOT EXISTS sessionvault_sessions_expires
                ON sessionvault_sessions (expires_at)",
        ] {
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
            sqlx::query("INSERT INTO sessionvault_schema (version) VALUES ($1)")
                .bind(SCHEMA_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }

    fn user_column(record: &Record) -> Option<Cow<'_, str>> {
        if record.is_live() {
            record.user.as_deref().map(user_index)
        } else {
            None
        }
    }
}

/// A record as JSONB holds it when its JSON has a NUL (U+0000), which JSONB refuses: the JSON
/// text as a string, whose escape `\u0000` JSONB keeps as six plain characters, beside the two
/// fields [`SessionStore::touch_if_live`] moves in place. No record has a `nul_escaped` field,
/// so the two forms cannot be confused.
#[derive(Serialize, Deserialize)]
struct NulEscaped<'a> {
    #[serde(borrow)]
    nul_escaped: Cow<'a, str>,
    last_seen: Timestamp,
    idle_deadline: Timestamp,
}

/// The record's JSON text for the `record` column (bound as text, cast to JSONB): one
/// serialisation; only a record holding a NUL is wrapped, and serialised once more.
fn encode(record: &Record) -> Result<String, StoreError> {
    let text = serde_json::to_string(record).map_err(store_error)?;
    // serde_json writes U+0000 only as this escape. The test also matches an escaped
    // backslash followed by `u0000`, which is merely wrapped needlessly.
    if !text.contains("\\u0000") {
        return Ok(text);
    }
    serde_json::to_string(&NulEscaped {
        nul_escaped: Cow::Borrowed(&text),
        last_seen: record.last_seen,
        idle_deadline: record.idle_deadline,
    })
    .map_err(store_error)
}

/// The record from the `record` column's text, in either form.
fn decode(text: &str) -> Result<Record, StoreError> {
    let plain = match serde_json::from_str::<Record>(text) {
        Ok(record) => return Ok(record),
        Err(error) => error,
    };
    let Ok(escaped) = serde_json::from_str::<NulEscaped<'_>>(text) else {
        return Err(store_error(plain));
    };
    let mut record: Record = serde_json::from_str(&escaped.nul_escaped).map_err(store_error)?;
    record.last_seen = escaped.last_seen;
    record.idle_deadline = escaped.idle_deadline;
    Ok(record)
}

/// The user as the `user_id` column indexes it: TEXT refuses NUL, so it becomes U+FFFD there.
/// Lookups use the same form and keep only the records whose user is exactly the one asked
/// for, so names differing only there never mix.
fn user_index(user: &str) -> Cow<'_, str> {
    if user.contains('\0') {
        Cow::Owned(user.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(user)
    }
}

#[async_trait]
impl SessionStore for PgStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query("SELECT record::text FROM sessionvault_sessions WHERE key = $1")
            .bind(&key.as_bytes()[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(|r| decode(r.get::<&str, _>(0))).transpose()
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO sessionvault_sessions (key, version, live, user_id, expires_at, record)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&record.key.as_bytes()[..])
        .bind(record.version as i64)
        .bind(record.is_live())
        .bind(Self::user_column(record))
        .bind(record.expires_at.as_microsecond())
        .bind(encode(record)?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessionvault_sessions
             SET version = $1, live = $2, user_id = $3, expires_at = $4, record = $5::jsonb
             WHERE key = $6 AND version = $7 AND live",
        )
        .bind(record.version as i64)
        .bind(record.is_live())
        .bind(Self::user_column(record))
        .bind(record.expires_at.as_microsecond())
        .bind(encode(record)?)
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
        let done = sqlx::query(
            "UPDATE sessionvault_sessions
             SET record = jsonb_set(jsonb_set(record, '{last_seen}', to_jsonb($1::text)),
                                    '{idle_deadline}', to_jsonb($2::text))
             WHERE key = $3 AND live",
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
        let rows = sqlx::query(
            "SELECT record::text FROM sessionvault_sessions WHERE user_id = $1 AND live",
        )
        .bind(user_index(user))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = decode(row.get::<&str, _>(0))?;
            if record.user.as_deref() == Some(user) {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            // SKIP LOCKED: rows a request is writing right now are left for the next sweep.
            let done = sqlx::query(
                "DELETE FROM sessionvault_sessions WHERE key IN (
                    SELECT key FROM sessionvault_sessions WHERE expires_at <= $1
                    LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(now.as_microsecond())
            .bind(SWEEP_BATCH)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
            total += done.rows_affected();
            if done.rows_affected() < SWEEP_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
