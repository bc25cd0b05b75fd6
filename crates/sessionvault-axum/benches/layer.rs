//! The session layer's own cost per request, without sockets: a bare handler; the same handler
//! under `SessionLayer` (`/lazy`, never touching the session); and handlers that read and
//! increment a session in the memory store.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use axum::routing::get;
use criterion::{Criterion, criterion_main};
use sessionvault::{Keyring, SessionManager, store::MemoryStore};
use sessionvault_axum::{Session, SessionError, SessionLayer};
use tower::ServiceExt as _;

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<i64>("n").await?.unwrap_or(0).to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    Ok(session
        .update("n", |n: Option<i64>| n.unwrap_or(0) + 1)
        .await?
        .to_string())
}

async fn bare() -> &'static str {
    "0"
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let manager = SessionManager::builder(Keyring::generate().expect("rng"))
        .with_store(MemoryStore::new())
        .build()
        .expect("manager");
    let app = Router::new()
        .route("/read", get(read))
        .route("/incr", get(incr))
        .route("/lazy", get(bare))
        .layer(SessionLayer::new(manager))
        .merge(Router::new().route("/bare", get(bare)))
        // As `axum::serve` does: the routes are built once, not at every request.
        .with_state(());
    let cookie = rt.block_on(async {
        let r = app
            .clone()
            .oneshot({
                let mut request = Request::get("/incr").body(Body::empty()).expect("request");
                request
                    .extensions_mut()
                    .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
                request
            })
            .await
            .expect("response");
        let header = r.headers()[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .to_owned();
        header.split(';').next().expect("pair").to_owned()
    });
    let client = SocketAddr::from(([127, 0, 0, 1], 40_000));
    for path in ["/bare", "/lazy", "/read", "/incr"] {
        c.bench_function(&format!("layer{path}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut request = Request::get(path)
                        .header(header::COOKIE, &cookie)
                        .body(Body::empty())
                        .expect("request");
                    // As a server made with `into_make_service_with_connect_info` passes it.
                    request.extensions_mut().insert(ConnectInfo(client));
                    app.clone().oneshot(request).await.expect("response")
                })
            });
        });
    }
}

// criterion's macros generate undocumented items.
#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
