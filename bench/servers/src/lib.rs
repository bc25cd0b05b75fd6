//! What every benchmark server shares, so that they differ only in the session library: the
//! command line, the runtime (two worker threads), the ready line the drivers wait for, and
//! the handlers' arithmetic.
//!
//! Every server answers `GET /read` (the integer "n" of the session, 0 when absent; creates
//! no session), `GET /incr` (n += 1 in the session, answered as the new value; creates the
//! session and sets its cookie when there is none) and `GET /bare` (no session layer at all).
//! The cookie is named [`COOKIE_NAME`] everywhere. The contract is in bench/README.md.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The session cookie's name, the same for every library.
pub const COOKIE_NAME: &str = "session";

/// The session key the counter lives under.
pub const COUNTER_KEY: &str = "n";

/// Worker threads of every server's runtime (tokio) or workers (actix).
pub const WORKERS: usize = 2;

/// The command line every server takes; `--store` and `--secret-file` where they apply.
#[derive(clap::Parser, Debug)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where sessions live: `memory`, `sqlite:PATH`, `postgres://...`, `redis://HOST:PORT[/DB]`,
    /// `redis-cluster://HOST:PORT[,...]`, or `cookie` (actix-session's cookie store).
    #[arg(long, default_value = "memory")]
    pub store: String,
    /// sessionvault only: `server` (state in the store), `sealed` or `flask` (state in the
    /// cookie; `--store` then holds the denylist, `none` for no denylist).
    #[arg(long, default_value = "server")]
    pub cookie_mode: String,
    /// A file whose text, less one trailing newline, is the secret key; without it, a fresh
    /// random key at each start.
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
}

/// Parses the command line.
pub fn args() -> Args {
    <Args as clap::Parser>::parse()
}

/// The tokio runtime every axum server runs on.
///
/// # Errors
///
/// When the runtime cannot be started.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Prints the one line the drivers wait for, and flushes it past any pipe buffering.
///
/// # Errors
///
/// When stdout is closed.
pub fn announce(addr: SocketAddr) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    Ok(())
}

/// Reads a secret key file: its bytes less one trailing `\n` or `\r\n`, as
/// `sessionvault keygen` and Flask users write them.
///
/// # Errors
///
/// When the file cannot be read.
pub fn read_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    Ok(bytes)
}

/// Binds `args.listen`, announces it, and serves `app` until the process is stopped.
///
/// # Errors
///
/// When the address cannot be bound or the server fails.
pub async fn serve_axum(listen: SocketAddr, app: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    announce(listener.local_addr()?)?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// Runs `main` and turns its error into exit status 2 with a message on stderr.
pub fn exit_with(name: &str, result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
