//! A yardstick for the counter example's `/read`, not a pattern to copy: the least that any
//! server-side session layer with sessionvault's safeguards does on a request that reads a
//! session, with none of the rest.
//!
//! ```text
//! cargo run --release -p sessionvault-axum --example floor -- [--listen ADDR]
//! ```
//!
//! `GET /floor` finds the `session` cookie, checks the ID's format, hashes it with the keyed
//! hash stores see, looks the hash up in a locked map, marks the response private
//! (`Vary: Cookie`, `Cache-Control: no-store`) and answers the number found, as `/read` does.
//! There is no expiry, no fingerprint, no strict-mode event, no save and no cookie: one session
//! exists, made at start-up, and its ID is printed. `GET /bare` is the counter's baseline.
//! `scripts/bench.sh floor` runs both examples under wrk, and `scripts/bench.sh instructions`
//! counts their instructions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use clap::Parser;
use sessionvault::Keyring;
use sessionvault::id::{SessionId, StoreKey};
use sessionvault::tooling::IdHasher;

#[derive(Parser, Debug)]
#[command(about = "sessionvault floor example: a benchmark yardstick")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
}

/// What the layer found for the request: the session's `n`, or 0.
#[derive(Clone, Copy)]
struct Found(i64);

/// The one session's ID, and the map that holds its `n` under the ID's keyed hash.
fn sessions() -> anyhow::Result<(SessionId, IdHasher, HashMap<StoreKey, i64>)> {
    let hasher = IdHasher::new(&Keyring::generate()?);
    let id = SessionId::generate()?;
    let map = HashMap::from([(hasher.key(&id), 1)]);
    Ok((id, hasher, map))
}

fn app(hasher: IdHasher, map: HashMap<StoreKey, i64>) -> Router {
    // Shared, not copied: axum clones the layer's closure for every request, and a copy of the
    // hasher wipes its key state when dropped.
    let hasher = Arc::new(hasher);
    let map = Arc::new(RwLock::new(map));
    let layer = tower::ServiceBuilder::new()
        .map_request(move |mut request: Request| {
            let value = request
                .headers()
                .get(header::COOKIE)
                .and_then(|cookie| cookie.as_bytes().strip_prefix(b"session="));
            let n = value
                .and_then(SessionId::parse)
                .and_then(|id| {
                    let sessions = map.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                    sessions.get(&hasher.key(&id)).copied()
                })
                .unwrap_or(0);
            request.extensions_mut().insert(Found(n));
            request
        })
        .map_response(|mut response: Response| {
            let headers = response.headers_mut();
            headers.append(header::VARY, HeaderValue::from_static("Cookie"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        });
    let with_floor = Router::new().route("/floor", get(floor)).layer(layer);
    Router::new().route("/bare", get(bare)).merge(with_floor)
}

async fn floor(Extension(Found(n)): Extension<Found>) -> String {
    n.to_string()
}

async fn bare() -> &'static str {
    "0"
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("floor: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (id, hasher, map) = sessions()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // The ID goes to stdout for the benchmark script, as a cookie would to its browser.
    println!(
        "floor listening on http://{} with session {}",
        listener.local_addr()?,
        id.to_cookie_value()
    );
    // With the peer's address, as the counter serves: the two /bare baselines match.
    axum::serve(
        listener,
        app(hasher, map).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
