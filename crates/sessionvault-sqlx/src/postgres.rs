//! The PostgreSQL store: for several application servers sharing sessions.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SessionStore, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use tokio::time::Instant;

use crate::row::{Columns, Nul, from_row, micros, only_user, touch_nanos, user_index};
use crate::schema::{SCHEMA_VERSION, needs_recording, store_error};

/// Rows a single sweep statement deletes at most, so a sweep never holds many row locks or
/// runs long enough to slow requests down; [`SessionStore::sweep`] repeats it until done.
const SWEEP_BATCH: i64 = 1000;

/// Connections the store keeps open at most.
const MAX_CONNECTIONS: u32 = 16;

/// How long a request waits for a connection: a dead server fails requests within seconds
/// (503), not after a long hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a pooled connection may sit unused before it is checked with a round trip when
/// taken: a server restart or `pg_terminate_backend` while it sat there would otherwise fail
/// the request that takes it. A connection in steady use is taken without the round trip.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

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
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx would check every connection it hands out with a round trip, on top of the
            // one it makes when the connection comes back: only those that sat unused.
            .test_before_acquire(false)
            .before_acquire(|connection, taken| {
                Box::pin(async move {
                    if taken.idle_for > CHECK_AFTER_IDLE {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(store_error)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the schema. Several app servers starting at once take turns (advisory lock).
    /// A version 1 table gains the compact record and touch columns; its rows stay as they
    /// are until their next save.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS sessionvault_schema (version BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM sessionvault_schema")
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        let mut statements = vec![SESSIONS_TABLE];
        if current == Some(1) {
            statements.push(ADD_COMPACT_COLUMNS);
        }
        statements.extend(INDEXES);
        for statement in statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        if needs_recording(current)? {
            sqlx::query("INSERT INTO sessionvault_schema (version) VALUES ($1)")
                .bind(SCHEMA_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)
    }
}

/// `record` holds the JSON of rows written before the compact encoding, and `null` in the
/// others (see `row.rs`).
const SESSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS sessionvault_sessions (
        key BYTEA PRIMARY KEY,
        version BIGINT NOT NULL,
        live BOOLEAN NOT NULL,
        user_id TEXT,
        expires_at BIGINT NOT NULL,
        record JSONB NOT NULL,
        compact_record BYTEA,
        touched_seen BIGINT,
        touched_idle BIGINT
    )";

/// From version 1: nullable columns without a default, which PostgreSQL adds without
/// rewriting the table.
const ADD_COMPACT_COLUMNS: &str = "ALTER TABLE sessionvault_sessions
        ADD COLUMN IF NOT EXISTS compact_record BYTEA,
        ADD COLUMN IF NOT EXISTS touched_seen BIGINT,
        ADD COLUMN IF NOT EXISTS touched_idle BIGINT";

const INDEXES: [&str; 2] = [
    "CREATE INDEX IF NOT EXISTS sessionvault_sessions_user
        ON sessionvault_sessions (user_id) WHERE user_id IS NOT NULL AND live",
    "CREATE INDEX IF NOT EXISTS sessionvault_sessions_expires
        ON sessionvault_sessions (expires_at)",
];

/// A query for the columns `row::from_row` reads, of the rows that match `$condition`.
macro_rules! select_where {
    ($condition:literal) => {
        concat!(
            "SELECT key, compact_record, record::text, touched_seen, touched_idle
             FROM sessionvault_sessions WHERE ",
            $condition
        )
    };
}

#[async_trait]
impl SessionStore for PgStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let row = read(|| {
            sqlx::query(select_where!("key = $1"))
                .bind(&key.as_bytes()[..])
                .fetch_optional(&self.pool)
        })
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let done = Columns::new(record, Nul::Refused)?
            .bind_insert(sqlx::query(
                "INSERT INTO sessionvault_sessions
                 (key, version, live, user_id, expires_at, compact_record, record)
                 VALUES ($1, $2, $3, $4, $5, $6, 'null') ON CONFLICT (key) DO NOTHING",
            ))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        let done = Columns::new(record, Nul::Refused)?
            .bind_update(
                sqlx::query(
                    "UPDATE sessionvault_sessions
                     SET version = $2, live = $3, user_id = $4, expires_at = $5,
                         compact_record = $6, record = 'null',
                         touched_seen = NULL, touched_idle = NULL
                     WHERE key = $1 AND version = $7 AND live",
                ),
                expected_version,
            )
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
            "UPDATE sessionvault_sessions SET touched_seen = $1, touched_idle = $2
             WHERE key = $3 AND live",
        )
        .bind(touch_nanos(last_seen)?)
        .bind(touch_nanos(idle_deadline)?)
        .bind(&key.as_bytes()[..])
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(select_where!("user_id = $1 AND live"))
            .bind(user_index(user, Nul::Refused))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        only_user(rows.iter().map(from_row), user)
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
            .bind(micros(now))
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

/// Runs a read, again on another connection when the one it was given turned out to be closed
/// by the server: at most once per pooled connection (each failed one is discarded), and not
/// for longer than a wait for a connection after the first failure, so that a read still
/// fails within seconds. Only reads: a write whose connection broke may have been applied, so
/// it is an error instead.
async fn read<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut retries = 0;
    let mut give_up = None;
    loop {
        match attempt().await {
            Err(error) if connection_lost(&error) && retries < MAX_CONNECTIONS => {
                let until = *give_up.get_or_insert_with(|| Instant::now() + ACQUIRE_TIMEOUT);
                if Instant::now() >= until {
                    return Err(store_error(error));
                }
                retries += 1;
            }
            done => return done.map_err(store_error),
        }
    }
}

/// Whether `error` says the connection is gone, not that the statement failed: an I/O or
/// protocol error, or the server's own report of a shutdown, a termination or a broken
/// connection (SQLSTATE classes 57P and 08).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn lost() -> sqlx::Error {
        sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset))
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_goes_again_once_per_pooled_connection_at_most() {
        let mut attempts = 0;
        let done: Result<(), _> = read(|| {
            attempts += 1;
            async { Err(lost()) }
        })
        .await;
        assert!(done.is_err());
        assert_eq!(attempts, MAX_CONNECTIONS + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_stops_going_again_a_wait_for_a_connection_after_its_first_failure() {
        let started = Instant::now();
        let mut attempts = 0;
        let done: Result<(), _> = read(|| {
            attempts += 1;
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Err(lost())
            }
        })
        .await;
        assert!(done.is_err());
        // The first failure comes at 1 s; those at 2 and 3 s go again, the one at 4 s gives up.
        assert_eq!(attempts, 4);
        assert_eq!(started.elapsed(), Duration::from_secs(1) + ACQUIRE_TIMEOUT);
    }

    #[tokio::test]
    async fn a_failed_statement_is_not_run_again() {
        let mut attempts = 0;
        let done: Result<(), _> = read(|| {
            attempts += 1;
            async { Err(sqlx::Error::RowNotFound) }
        })
        .await;
        assert!(done.is_err());
        assert_eq!(attempts, 1);
    }
}
