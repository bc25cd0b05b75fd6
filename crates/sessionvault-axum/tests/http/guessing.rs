//! The guessing limit through the layer: only failed cookies are refused, and behind trusted
//! proxies each client is counted by its own address.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use jiff::SignedDuration;
use sessionvault::{
    CookieMode, GuessingLimit, Keyring, SessionConfig, SessionManager, store::MemoryStore,
};
use sessionvault_axum::{Session, SessionError, SessionLayer, TrustedProxies};
use tower::ServiceExt as _;

use crate::support::{body, cookie_value, whoami};

const SHARED: [u8; 4] = [203, 0, 113, 9];
const PROXY: [u8; 4] = [10, 0, 0, 1];

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.login("alice").await?;
    Ok("ok")
}

struct App {
    router: Router,
    cookie_name: String,
}

/// An app whose limit refuses a client after three failed cookies in ten minutes.
fn app(mode: CookieMode, proxies: Option<TrustedProxies>) -> App {
    let limit = GuessingLimit::new(3, SignedDuration::from_mins(10)).refusing();
    let manager = SessionManager::builder(Keyring::generate().unwrap())
        .with_store(MemoryStore::new())
        .with_mode(mode)
        .with_config(SessionConfig::default().with_guessing_limit(Some(limit)))
        .build()
        .unwrap();
    let cookie_name = manager.config().cookie().name().to_owned();
    let mut layer = SessionLayer::new(manager);
    if let Some(proxies) = proxies {
        layer = layer.with_trusted_proxies(proxies);
    }
    let router = Router::new()
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .layer(layer);
    App {
        router,
        cookie_name,
    }
}

impl App {
    async fn send(
        &self,
        method: &str,
        peer: [u8; 4],
        forwarded_for: Option<&str>,
        cookie: Option<&str>,
    ) -> Response {
        let path = if method == "POST" {
            "/login"
        } else {
            "/whoami"
        };
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = cookie {
            request = request.header(header::COOKIE, format!("{}={value}", self.cookie_name));
        }
        if let Some(chain) = forwarded_for {
            request = request.header("x-forwarded-for", chain);
        }
        let mut request = request.body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn whoami(&self, peer: [u8; 4], forwarded_for: Option<&str>, cookie: &str) -> Response {
        self.send("GET", peer, forwarded_for, Some(cookie)).await
    }
}

// See: issue 17, finding 6
#[tokio::test]
async fn review_guessing_limit_spares_live_sessions() {
    for mode in [CookieMode::Server, CookieMode::Sealed, CookieMode::Flask] {
        let app = app(mode, None);
        let cookie = cookie_value(&app.send("POST", SHARED, None, None).await);
        // Four junk cookies from one address: the fourth crosses the limit.
        for i in 0..4 {
            app.whoami(SHARED, None, &format!("junk{i}")).await;
        }
        // The signed-in user at that address is still served...
        let r = app.whoami(SHARED, None, &cookie).await;
        assert_eq!(r.status(), StatusCode::OK, "{mode:?}");
        assert_eq!(body(r).await, "alice", "{mode:?}");
        // ...and so is a request with no cookie, while junk from it is refused.
        let r = app.send("GET", SHARED, None, None).await;
        assert_eq!(body(r).await, "anonymous", "{mode:?}");
        let r = app.whoami(SHARED, None, "junk-more").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{mode:?}");
    }
}

#[tokio::test]
async fn behind_trusted_proxies_each_client_is_counted_by_its_own_address() {
    let app = app(
        CookieMode::Server,
        Some(TrustedProxies::new(["10.0.0.0/24"]).unwrap()),
    );
    for i in 0..4 {
        app.whoami(PROXY, Some("203.0.113.9"), &format!("junk{i}"))
            .await;
    }
    let r = app.whoami(PROXY, Some("203.0.113.9"), "junk").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the guesser");
    // Another client behind the same proxy is not refused, even if it claims the guesser's
    // address left of its own.
    let r = app
        .whoami(PROXY, Some("203.0.113.9, 198.51.100.2"), "junk")
        .await;
    assert_eq!(r.status(), StatusCode::OK, "another client");
    // A client connecting directly cannot escape its count by claiming another address.
    let r = app.whoami(SHARED, Some("198.51.100.3"), "junk").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header from a peer that is no proxy"
    );
}
