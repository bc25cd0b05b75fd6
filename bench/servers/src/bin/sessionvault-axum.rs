//! sessionvault through its axum layer: server mode on any store, or the sealed and Flask
//! cookie modes (with an optional store for the denylist).

use anyhow::bail;
use axum::Router;
use axum::routing::get;
use bench_servers::{Args, COOKIE_NAME, COUNTER_KEY};
use sessionvault::store::MemoryStore;
use sessionvault::{CookieConfig, CookieMode, Keyring, SessionConfig, SessionManager};
use sessionvault_axum::{Session, SessionError, SessionLayer};
use sessionvault_redis::RedisStore;
use sessionvault_sqlx::{PgStore, SqliteStore};

async fn manager(args: &Args) -> anyhow::Result<SessionManager> {
    let keyring = match &args.secret_file {
        Some(path) => Keyring::new(bench_servers::read_secret(path)?)?,
        None => Keyring::generate()?,
    };
    let mode = match args.cookie_mode.as_str() {
        "server" => CookieMode::Server,
        "sealed" => CookieMode::Sealed,
        "flask" => CookieMode::Flask,
        other => bail!("unsupported --cookie-mode {other:?}: use server, sealed or flask"),
    };
    let config =
        SessionConfig::default().with_cookie(CookieConfig::default().with_name(COOKIE_NAME));
    let builder = SessionManager::builder(keyring)
        .with_config(config)
        .with_mode(mode);
    let store = args.store.as_str();
    let builder = if store == "none" && mode != CookieMode::Server {
        builder
    } else if store == "memory" {
        builder.with_store(MemoryStore::new())
    } else if let Some(path) = store.strip_prefix("sqlite:") {
        builder.with_store(SqliteStore::open(path).await?)
    } else if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        builder.with_store(PgStore::connect(store).await?)
    } else if store.starts_with("redis://") || store.starts_with("redis-cluster://") {
        builder.with_store(RedisStore::connect(store).await?)
    } else {
        bail!(
            "unsupported --store {store:?}: use memory, sqlite:PATH, postgres://..., \
             redis://HOST:PORT[/DB], redis-cluster://HOST:PORT[,...] (or none in a cookie mode)"
        )
    };
    Ok(builder.build()?)
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session
        .get::<i64>(COUNTER_KEY)
        .await?
        .unwrap_or(0)
        .to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let add_one = |n: Option<i64>| n.unwrap_or(0) + 1;
    let n = match session.update(COUNTER_KEY, add_one).await {
        // A session held in the cookie cannot merge parallel increments, so `update` refuses;
        // the read and write every peer does instead: the last response wins.
        Err(sessionvault::Error::UpdateNeedsServerMode) => {
            let n = add_one(session.get(COUNTER_KEY).await?);
            session.insert(COUNTER_KEY, n).await?;
            n
        }
        n => n?,
    };
    Ok(n.to_string())
}

async fn bare() -> &'static str {
    "0"
}

async fn run(args: Args) -> anyhow::Result<()> {
    let manager = manager(&args).await?;
    let with_session = Router::new()
        .route("/read", get(read))
        .route("/incr", get(incr))
        .layer(SessionLayer::new(manager));
    let app = Router::new().route("/bare", get(bare)).merge(with_session);
    bench_servers::serve_axum(args.listen, app).await
}

fn main() -> std::process::ExitCode {
    let args = bench_servers::args();
    let result = bench_servers::runtime().and_then(|rt| rt.block_on(run(args)));
    bench_servers::exit_with("sessionvault-axum", result)
}
