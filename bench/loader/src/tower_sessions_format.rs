//! tower-sessions' records, written with `SessionStore::create` of its Redis (fred) and sqlx
//! stores: the same record a first request to `/incr` saves (default expiry).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::bail;
use fred::prelude::{ClientLike, Config, Pool};
use futures_util::{StreamExt, TryStreamExt, stream};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::Plan;

/// tower-sessions' default session lifetime (`DEFAULT_DURATION`): two weeks.
const DEFAULT_LIFETIME: time::Duration = time::Duration::weeks(2);

async fn open(url: &str) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(if url.starts_with("redis://") {
        let pool = Pool::new(Config::from_url(url)?, None, None, None, 4)?;
        pool.init().await?;
        Arc::new(RedisStore::new(pool))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        let store = PostgresStore::new(pool);
        store.migrate().await?;
        Arc::new(store)
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let store = SqliteStore::new(pool);
        store.migrate().await?;
        Arc::new(store)
    } else {
        bail!("unsupported store URL for tower-sessions (redis://, postgres://, sqlite:PATH)")
    })
}

/// Loads `plan.count` sessions; returns the cookie values of the first `plan.cookies`.
pub(crate) async fn load(url: &str, plan: &Plan) -> anyhow::Result<Vec<String>> {
    let store = open(url).await?;
    let expiry_date = OffsetDateTime::now_utc() + DEFAULT_LIFETIME;
    let cookies = stream::iter(0..plan.count)
        .map(|i| {
            let store = &store;
            async move {
                let mut record = Record {
                    id: Id::default(),
                    data: HashMap::from([("n".to_owned(), serde_json::Value::from(0))]),
                    expiry_date,
                };
                // `create` draws a new ID itself if this one is taken.
                store.create(&mut record).await?;
                Ok::<_, anyhow::Error>((i < plan.cookies as u64).then(|| record.id.to_string()))
            }
        })
        .buffer_unordered(plan.concurrency)
        .try_filter_map(|cookie| async move { Ok(cookie) })
        .try_collect()
        .await?;
    Ok(cookies)
}
