//! The counter example: a small server that tests, benchmarks and outside checks drive.
//!
//! ```text
//! cargo run --release -p sessionvault-axum --example counter -- [--listen ADDR]
//!     [--store memory|sqlite:PATH|postgres://USER@HOST:PORT/DB|redis://HOST:PORT[/DB]
//!      |rediss://HOST:PORT[/DB]|redis-cluster://HOST:PORT[,HOST:PORT...]
//!      |redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]]
//!     [--cookie-mode server|sealed|flask] [--secret-file PATH [--fallback-secret-file PATH]...]
//!     [--idle-timeout 30m] [--absolute-timeout 12h] [--sweep-interval 60s] [--insecure-dev]
//! ```
//!
//! Endpoints: `GET /read`, `GET /incr`, `GET /set?key=K&value=V`, `GET /get?key=K`,
//! `GET /keys`, `POST /login?user=U`, `POST /logout`, `GET /whoami`, `GET /sessions`,
//! `POST /sessions/revoke-others`, and `GET /bare` (no session layer: the benchmark baseline).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use jiff::SignedDuration;
use sessionvault::timeout::parse_timeout;
use sessionvault::{Keyring, SessionManager};
use sessionvault_axum::{Session, SessionError, SessionLayer};
use sessionvault_startup::{
    ModeArg, StoreUrl, Timeouts, read_secret, session_config, with_fallback_files,
};

#[derive(Parser, Debug)]
#[command(about = "sessionvault counter example")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where server-side sessions live (in the cookie modes, the denylist that makes logout
    /// final): `memory`, `sqlite:PATH`, `postgres://USER@HOST:PORT/DB`, `redis://HOST:PORT[/DB]`,
    /// `rediss://...`, `redis-cluster://HOST:PORT[,HOST:PORT...]` or
    /// `redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]`; a Redis URL may end in
    /// `?replica_acks=N&replica_ack_timeout_ms=T`.
    #[arg(long, default_value = "sqlite:counter.db")]
    store: String,
    /// Where session state lives.
    #[arg(long, value_enum, default_value_t = ModeArg::Server)]
    cookie_mode: ModeArg,
    /// A file whose text, less one trailing newline, is the secret key (as Flask's
    /// SECRET_KEY). Without it, a fresh key is generated at each start.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// An older key file that still verifies but no longer signs, for key rotation (see
    /// docs/SECURITY.md). Repeatable, newest first.
    #[arg(long, value_name = "PATH", requires = "secret_file")]
    fallback_secret_file: Vec<PathBuf>,
    #[command(flatten)]
    timeouts: Timeouts,
    /// How often the sweeper removes expired sessions from the store (SQLite, PostgreSQL).
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    sweep_interval: SignedDuration,
    /// Plain cookie name and no `Secure`, for curl over http on hosts other than localhost.
    #[arg(long)]
    insecure_dev: bool,
}

async fn manager(args: &Args) -> anyhow::Result<SessionManager> {
    let keyring = match &args.secret_file {
        Some(path) => Keyring::new(read_secret(path)?)?,
        None => Keyring::generate()?,
    };
    let keyring = with_fallback_files(keyring, &args.fallback_secret_file)?;
    let builder = SessionManager::builder(keyring)
        .with_config(session_config(args.timeouts, args.insecure_dev))
        .with_mode(args.cookie_mode.mode());
    Ok(StoreUrl::parse(&args.store)?
        .install(builder)
        .await?
        .build()?)
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<i64>("n").await?.unwrap_or(0).to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let add_one = |n: Option<i64>| n.unwrap_or(0) + 1;
    let n = match session.update("n", add_one).await {
        // A session held in the cookie cannot merge parallel increments, so `update` refuses;
        // a read and a write say what happens instead: the last response wins.
        Err(sessionvault::Error::UpdateNeedsServerMode) => {
            let n = add_one(session.get("n").await?);
            session.insert("n", n).await?;
            n
        }
        n => n?,
    };
    Ok(n.to_string())
}

async fn set(
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, SessionError> {
    let (Some(key), Some(value)) = (q.get("key"), q.get("value")) else {
        return Ok((StatusCode::BAD_REQUEST, "need key and value\n").into_response());
    };
    session.insert(key, value).await?;
    Ok("ok".into_response())
}

async fn get_key(
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, SessionError> {
    let Some(key) = q.get("key") else {
        return Ok((StatusCode::BAD_REQUEST, "need key\n").into_response());
    };
    Ok(match session.get::<String>(key).await? {
        Some(value) => value.into_response(),
        None => (StatusCode::NOT_FOUND, "absent\n").into_response(),
    })
}

async fn keys(session: Session) -> Result<String, SessionError> {
    Ok(session.len().await?.to_string())
}

async fn login(
    session: Session,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, SessionError> {
    let Some(user) = q.get("user").filter(|u| !u.is_empty()) else {
        return Ok((StatusCode::BAD_REQUEST, "need user\n").into_response());
    };
    session.login(user).await?;
    Ok("ok".into_response())
}

async fn logout(session: Session) -> Result<&'static str, SessionError> {
    session.logout().await?;
    Ok("ok")
}

async fn whoami(session: Session) -> Result<String, SessionError> {
    Ok(session.user().await?.unwrap_or_else(|| "anonymous".into()))
}

async fn sessions(session: Session) -> Result<Response, SessionError> {
    let devices = session.devices().await?;
    Ok(axum::Json(devices).into_response())
}

async fn revoke_others(session: Session) -> Result<String, SessionError> {
    Ok(session.revoke_others().await?.to_string())
}

async fn bare() -> &'static str {
    "0"
}

/// The app: every route but `/bare` under the session layer.
fn app(manager: SessionManager) -> Router {
    let with_session = Router::new()
        .route("/read", get(read))
        .route("/incr", get(incr))
        .route("/set", get(set))
        .route("/get", get(get_key))
        .route("/keys", get(keys))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/whoami", get(whoami))
        .route("/sessions", get(sessions))
        .route("/sessions/revoke-others", post(revoke_others))
        .layer(SessionLayer::new(manager));
    Router::new().route("/bare", get(bare)).merge(with_session)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("counter: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let manager = manager(&args).await?;
    manager.spawn_sweeper(args.sweep_interval.unsigned_abs());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "counter listening on http://{} (store {}, cookie mode {})",
        listener.local_addr()?,
        args.store,
        manager.mode().name()
    );
    axum::serve(
        listener,
        app(manager).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
