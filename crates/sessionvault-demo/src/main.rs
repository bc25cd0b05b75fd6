//! `sessionvault-demo`: a login app on sessionvault. Start it with
//! `cargo run --release -p sessionvault-demo` and open the URL it prints.

mod app;
mod hashing;
mod monitor;
mod throttle;
mod users;

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sessionvault::{FingerprintPolicy, GuessingLimit, Keyring, SessionManager};
use sessionvault_axum::CsrfLayer;
use sessionvault_startup::{
    ModeArg, StoreUrl, Timeouts, read_secret, session_config, with_fallback_files,
};
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::monitor::{Monitor, TimedStore};

#[derive(Parser, Debug)]
#[command(about = "sessionvault demo: a login app that shows its sessions")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where sessions live: `memory`, `sqlite:PATH`, `postgres://...`, `redis://...`,
    /// `rediss://...`, `redis-cluster://...` or `redis+sentinel://HOST:PORT,.../MASTER_NAME`
    /// (a Redis URL may end in `?replica_acks=N&replica_ack_timeout_ms=T`).
    #[arg(long, default_value = "sqlite:sessionvault-demo.db")]
    store: String,
    /// Where session state lives.
    #[arg(long, value_enum, default_value_t = ModeArg::Server)]
    cookie_mode: ModeArg,
    /// The secret key file (its text, less one trailing newline). Default: a key generated at
    /// first start and kept, mode 0600, next to the SQLite database (or in the current folder).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// An older key file that still verifies but no longer signs, for key rotation (see
    /// docs/SECURITY.md). Repeatable, newest first.
    #[arg(long, value_name = "PATH")]
    fallback_secret_file: Vec<PathBuf>,
    #[command(flatten)]
    timeouts: Timeouts,
    /// Plain cookie name and no `Secure`, for plain http on hosts other than localhost (browsers
    /// treat http://localhost as secure, so the default works there).
    #[arg(long)]
    insecure_dev: bool,
}

/// The default key file: beside the SQLite database, or in the current folder.
fn default_secret_path(store: &str) -> PathBuf {
    match store.strip_prefix("sqlite:") {
        Some(db) => Path::new(db).with_extension("key"),
        None => PathBuf::from("sessionvault-demo.key"),
    }
}

/// Reads the key file, or creates it with a fresh key readable by its owner only.
fn load_or_create_secret(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if path.exists() {
        return read_secret(path);
    }
    let key = sessionvault::Secret::generate(sessionvault::key_strength::DEFAULT_GENERATED_LEN)
        .context("the OS random generator failed")?;
    let text = Zeroizing::new(hex::encode(key.expose()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(Zeroizing::new(text.as_bytes().to_vec()))
}

/// The store as shown on pages: no credentials.
fn describe_store(store: &str) -> String {
    match (store.split_once("://"), store.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
        _ => store.to_owned(),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let secret_path = args
        .secret_file
        .clone()
        .unwrap_or_else(|| default_secret_path(&args.store));
    let keyring = with_fallback_files(
        Keyring::new(load_or_create_secret(&secret_path)?)?,
        &args.fallback_secret_file,
    )?;
    let monitor = Monitor::default();
    let store = TimedStore {
        inner: StoreUrl::parse(&args.store)?.open().await?,
        monitor: monitor.clone(),
    };
    // Plain HTTP for local trials: the cookie loses `Secure` and its prefix, and the CSRF
    // layer accepts an `http://` origin (browsers without Fetch Metadata send only `Origin`).
    let csrf = if args.insecure_dev {
        CsrfLayer::new().dangerous_plain_http()
    } else {
        CsrfLayer::new()
    };
    let mode_name = args.cookie_mode.name();
    let manager = SessionManager::builder(keyring)
        .with_store(store)
        .with_mode(args.cookie_mode.mode())
        .with_event_sink(monitor.clone())
        .with_config(
            session_config(args.timeouts, args.insecure_dev)
                // A session used from another browser or network is signed out under a new ID
                // and must sign in again; a client guessing IDs is refused for a while.
                .with_fingerprint_policy(FingerprintPolicy::Reauthenticate)
                .with_guessing_limit(Some(GuessingLimit::default().refusing())),
        )
        .build()?;
    manager.spawn_sweeper(std::time::Duration::from_secs(60));
    let state = AppState {
        users: Arc::new(users::Users::seeded()),
        monitor,
        pages: Arc::new(app::pages()),
        mode: mode_name,
        store: describe_store(&args.store),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // The banner must not take the server down if stdout is closed (println! would panic).
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "sessionvault demo on http://{address}/");
    let _ = writeln!(
        out,
        "  store: {}, cookie mode: {mode_name}, key file: {} (+{} fallback)",
        state.store,
        secret_path.display(),
        args.fallback_secret_file.len()
    );
    for (user, password) in users::DEMO_ACCOUNTS {
        let _ = writeln!(out, "  account: {user} / {password}");
    }
    let _ = out.flush();
    drop(out);
    axum::serve(
        listener,
        app::router(state, manager, csrf).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
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
            eprintln!("sessionvault-demo: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
