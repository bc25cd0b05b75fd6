//! Bulk-loads N live sessions `{"n": 0}` into a store, in the format of one session library,
//! through that library's own store API (so what is stored is exactly what the library writes),
//! with many writes in flight at once so the store's client pipelines them. Prints the cookie
//! values of the first few, so a load generator can send requests as those sessions.

mod sessionvault_format;
mod tower_sessions_format;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum Library {
    Sessionvault,
    TowerSessions,
}

/// Bulk-loads live sessions into a session store.
#[derive(Parser)]
struct Args {
    /// Whose format to write.
    #[arg(long, value_enum)]
    library: Library,
    /// `redis://HOST:PORT[/DB]`, `postgres://...` or `sqlite:PATH`.
    #[arg(long)]
    store: String,
    /// How many sessions to load.
    #[arg(long)]
    count: u64,
    /// sessionvault's secret key (the server's `--secret-file`: its bytes less one trailing
    /// newline), from which the ID hash key is derived. Required for sessionvault.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Print the cookie values of this many of the loaded sessions, one a line.
    #[arg(long, default_value_t = 0)]
    print_cookies: usize,
    /// Where to print them (default: stdout).
    #[arg(long)]
    cookies_file: Option<PathBuf>,
    /// The User-Agent recorded in each sessionvault session, as a request sending it would
    /// record it (the load generator should send the same one).
    #[arg(long)]
    user_agent: Option<String>,
    /// The client network recorded in each sessionvault session, as a request from this
    /// address would record it.
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: std::net::IpAddr,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
}

/// What the formats share: how many, how many at once, which cookies to hand back.
pub(crate) struct Plan {
    pub(crate) count: u64,
    pub(crate) concurrency: usize,
    pub(crate) cookies: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan {
        count: args.count,
        concurrency: args.concurrency.max(1),
        cookies: args.print_cookies.min(usize::try_from(args.count)?),
    };
    let started = Instant::now();
    let cookies = match args.library {
        Library::Sessionvault => {
            let path = args
                .secret_file
                .as_ref()
                .context("--secret-file is required for sessionvault")?;
            // Read as the bench servers read it: the bytes, less one trailing newline.
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let secret = bytes
                .strip_suffix(b"\r\n")
                .or_else(|| bytes.strip_suffix(b"\n"))
                .unwrap_or(&bytes);
            let meta = sessionvault_format::Meta {
                user_agent: args.user_agent.clone(),
                client_ip: args.client_ip,
            };
            sessionvault_format::load(&args.store, secret, &meta, &plan).await?
        }
        Library::TowerSessions => tower_sessions_format::load(&args.store, &plan).await?,
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {} sessions in {seconds:.1} s ({:.0} per second)",
        plan.count,
        plan.count as f64 / seconds.max(1e-9)
    );
    let mut out: Box<dyn Write> = match &args.cookies_file {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    for cookie in cookies {
        writeln!(out, "{cookie}")?;
    }
    out.flush()?;
    Ok(())
}
