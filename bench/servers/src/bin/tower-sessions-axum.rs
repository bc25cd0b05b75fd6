//! tower-sessions 0.14 on axum, with its memory, Redis (fred) and SQLx (SQLite, PostgreSQL)
//! stores, configured as its documentation shows, cookie renamed to the shared name.

use anyhow::{Context as _, bail};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bench_servers::{Args, COOKIE_NAME, COUNTER_KEY};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config, Pool};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore, sqlx};

/// Redis connections in fred's pool: one per runtime worker.
const REDIS_POOL_SIZE: usize = bench_servers::WORKERS;

fn internal(err: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

async fn read(session: Session) -> Result<String, (StatusCode, String)> {
    let n: Option<i64> = session.get(COUNTER_KEY).await.map_err(internal)?;
    Ok(n.unwrap_or(0).to_string())
}

async fn incr(session: Session) -> Result<String, (StatusCode, String)> {
    let n: Option<i64> = session.get(COUNTER_KEY).await.map_err(internal)?;
    let n = n.unwrap_or(0) + 1;
    session.insert(COUNTER_KEY, n).await.map_err(internal)?;
    Ok(n.to_string())
}

async fn bare() -> &'static str {
    "0"
}

fn app(store: impl SessionStore + Clone) -> Router {
    let with_session = Router::new()
        .route("/read", get(read))
        .route("/incr", get(incr))
        .layer(SessionManagerLayer::new(store).with_name(COOKIE_NAME));
    Router::new().route("/bare", get(bare)).merge(with_session)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.store.as_str();
    let app = if store == "memory" {
        app(MemoryStore::default())
    } else if let Some(path) = store.strip_prefix("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options)
            .await
            .with_context(|| format!("cannot open {path}"))?;
        let store = SqliteStore::new(pool);
        store.migrate().await?;
        app(store)
    } else if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        let pool = sqlx::PgPool::connect(store).await?;
        let store = PostgresStore::new(pool);
        store.migrate().await?;
        app(store)
    } else if store.starts_with("redis://") {
        let pool = Pool::new(Config::from_url(store)?, None, None, None, REDIS_POOL_SIZE)?;
        // The connection task runs for the life of the process.
        let _connection = pool.connect();
        pool.wait_for_connect().await?;
        app(RedisStore::new(pool))
    } else {
        bail!("unsupported --store {store:?}: use memory, sqlite:PATH, postgres://... or redis://...")
    };
    bench_servers::serve_axum(args.listen, app).await
}

fn main() -> std::process::ExitCode {
    let args = bench_servers::args();
    let result = bench_servers::runtime().and_then(|rt| rt.block_on(run(args)));
    bench_servers::exit_with("tower-sessions-axum", result)
}
