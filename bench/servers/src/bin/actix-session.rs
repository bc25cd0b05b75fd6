//! actix-web 4 with actix-session 0.11: its signed-and-encrypted cookie store or its Redis
//! store, configured as its documentation shows, cookie renamed to the shared name.

use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::bail;
use bench_servers::{Args, COOKIE_NAME, COUNTER_KEY};

async fn read(session: Session) -> actix_web::Result<String> {
    let n: Option<i64> = session.get(COUNTER_KEY)?;
    Ok(n.unwrap_or(0).to_string())
}

async fn incr(session: Session) -> actix_web::Result<String> {
    let n = session.get::<i64>(COUNTER_KEY)?.unwrap_or(0) + 1;
    session.insert(COUNTER_KEY, n)?;
    Ok(n.to_string())
}

async fn bare() -> HttpResponse {
    HttpResponse::Ok().body("0")
}

/// Serves the app with a store from `store` in each worker.
async fn serve<S, F>(args: &Args, key: Key, store: F) -> anyhow::Result<()>
where
    S: SessionStore + 'static,
    F: Fn() -> S + Clone + Send + 'static,
{
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store(), key.clone())
            .cookie_name(COOKIE_NAME.to_owned())
            .build();
        // /bare sits outside the middleware, which loads the session on every request.
        App::new().route("/bare", web::get().to(bare)).service(
            web::scope("")
                .wrap(sessions)
                .route("/read", web::get().to(read))
                .route("/incr", web::get().to(incr)),
        )
    })
    .workers(bench_servers::WORKERS)
    .bind(args.listen)?;
    bench_servers::announce(server.addrs()[0])?;
    server.run().await?;
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let key = match &args.secret_file {
        Some(path) => {
            let secret = bench_servers::read_secret(path)?;
            // `derive_from` stretches a secret of 32 bytes or more into the 64 a Key needs,
            // and panics on a shorter one.
            if secret.len() < 32 {
                bail!("{}: actix-session needs a key of at least 32 bytes", path.display());
            }
            Key::derive_from(&secret)
        }
        None => Key::generate(),
    };
    let store = args.store.as_str();
    if store == "cookie" {
        serve(&args, key, CookieSessionStore::default).await
    } else if store.starts_with("redis://") {
        let redis = RedisSessionStore::new(store).await?;
        serve(&args, key, move || redis.clone()).await
    } else {
        bail!("unsupported --store {store:?}: use cookie or redis://HOST:PORT[/DB]")
    }
}

fn main() -> std::process::ExitCode {
    let args = bench_servers::args();
    let result = actix_web::rt::System::new().block_on(run(args));
    bench_servers::exit_with("actix-session", result)
}
