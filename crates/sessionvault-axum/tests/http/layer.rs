//! The layer without sockets: cookies, headers, status codes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use sessionvault::{
    CookieConfig, CookieMode, Keyring, SessionConfig, SessionManager, store::MemoryStore,
};
use sessionvault_axum::{Session, SessionError, SessionLayer};
use sessionvault_testkit::{Events, TestStore};
use tower::ServiceExt as _;

use crate::support::{body, cookie_value, incr, logout, set_cookie, whoami};

struct App {
    router: Router,
    store: TestStore<MemoryStore>,
    events: Events,
}

async fn set(session: Session, body: String) -> Result<&'static str, SessionError> {
    let (k, v) = body.split_once('=').unwrap_or((&body, ""));
    session.insert(k, v).await?;
    Ok("ok")
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.login("alice").await?;
    Ok("ok")
}

async fn get_key(
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, SessionError> {
    let key = query.get("k").map_or("", String::as_str);
    Ok(session.get::<String>(key).await?.unwrap_or_default())
}

async fn untouched() -> &'static str {
    "no session here"
}

fn app_with(mode: CookieMode, config: SessionConfig) -> App {
    let store = TestStore::new(MemoryStore::new());
    let events = Events::default();
    let manager = SessionManager::builder(Keyring::generate().unwrap())
        .with_store(store.clone())
        .with_mode(mode)
        .with_config(config)
        .with_event_sink(events.clone())
        .build()
        .unwrap();
    let router = Router::new()
        .route("/incr", get(incr))
        .route("/set", post(set))
        .route("/get", get(get_key))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/whoami", get(whoami))
        .route("/untouched", get(untouched))
        .layer(SessionLayer::new(manager));
    App {
        router,
        store,
        events,
    }
}

fn app() -> App {
    app_with(
        CookieMode::Server,
        SessionConfig::default().with_max_retries(64),
    )
}

impl App {
    async fn call(&self, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, format!("__Host-session={c}"));
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }
}

#[tokio::test]
async fn the_cookie_is_secure_by_default_and_responses_are_not_cached() {
    let app = app();
    let r = app.call("GET", "/incr", None, "").await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = set_cookie(&r).unwrap();
    assert!(header.starts_with("__Host-session="), "{header}");
    for attribute in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert!(!header.contains("Domain"), "{header}");
    assert!(
        !header.contains("Max-Age"),
        "a session cookie by default: {header}"
    );
    assert_eq!(r.headers().get(header::VARY).unwrap(), "Cookie");
    assert_eq!(r.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    // The ID is 256 random bits, URL-safe.
    let value = cookie_value(&r);
    assert_eq!(value.len(), 43);
}

#[tokio::test]
async fn a_handler_that_never_touches_the_session_costs_nothing() {
    let app = app();
    let first = app.call("GET", "/incr", None, "").await;
    let cookie = cookie_value(&first);
    let calls = app.store.calls();
    let r = app.call("GET", "/untouched", Some(&cookie), "").await;
    assert_eq!(app.store.calls(), calls, "no store I/O");
    assert!(set_cookie(&r).is_none());
    assert!(r.headers().get(header::VARY).is_none());
}

#[tokio::test]
async fn login_rotates_the_id_and_logout_clears_the_cookie() {
    let app = app();
    let anon = cookie_value(&app.call("GET", "/incr", None, "").await);
    let r = app.call("POST", "/login", Some(&anon), "").await;
    let signed_in = cookie_value(&r);
    assert_ne!(anon, signed_in);
    assert_eq!(
        body(app.call("GET", "/whoami", Some(&signed_in), "").await).await,
        "alice"
    );
    assert_eq!(
        body(app.call("GET", "/whoami", Some(&anon), "").await).await,
        "anonymous"
    );

    let r = app.call("POST", "/logout", Some(&signed_in), "").await;
    let header = set_cookie(&r).unwrap();
    assert!(
        header.contains("Max-Age=0") && header.starts_with("__Host-session=;"),
        "{header}"
    );
    // Replaying the cookie after logout gets nothing.
    let replay = app.call("GET", "/whoami", Some(&signed_in), "").await;
    assert_eq!(body(replay).await, "anonymous");
    assert!(app.events.names().contains(&"revoked_reuse"));
}

#[tokio::test]
async fn two_session_cookies_in_one_request_are_refused() {
    let app = app();
    let cookie = cookie_value(&app.call("POST", "/login", None, "").await);
    let request = Request::builder()
        .uri("/whoami")
        .header(header::COOKIE, format!("__Host-session={cookie}"))
        .header(header::COOKIE, "__Host-session=tossed-by-a-subdomain")
        .body(Body::empty())
        .unwrap();
    let r = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(body(r).await, "anonymous");
    assert!(app.events.names().contains(&"duplicate_cookie"));
}

#[tokio::test]
async fn a_store_outage_is_a_503_never_a_silent_success() {
    let app = app();
    let cookie = cookie_value(&app.call("GET", "/incr", None, "").await);
    app.store.set_down(true);
    for (method, path) in [("GET", "/incr"), ("GET", "/whoami"), ("POST", "/set")] {
        let r = app.call(method, path, Some(&cookie), "k=v").await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(body(r).await.contains("Nothing was saved"));
    }
    app.store.set_down(false);
    assert_eq!(
        body(app.call("GET", "/incr", Some(&cookie), "").await).await,
        "2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_requests_keep_every_write() {
    let app = Arc::new(app());
    let cookie = cookie_value(&app.call("GET", "/incr", None, "").await);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let app = Arc::clone(&app);
            let cookie = cookie.clone();
            tokio::spawn(async move {
                let set = app
                    .call("POST", "/set", Some(&cookie), &format!("k{i}=v{i}"))
                    .await;
                let inc = app.call("GET", "/incr", Some(&cookie), "").await;
                (set.status(), inc.status())
            })
        })
        .collect();
    for t in tasks {
        // Requests in one process take turns on the session: none runs out of retries.
        assert_eq!(t.await.unwrap(), (StatusCode::OK, StatusCode::OK));
    }
    let r = app.call("GET", "/incr", Some(&cookie), "").await;
    assert_eq!(body(r).await, "66", "every increment counted");
}

#[tokio::test]
async fn a_session_too_big_for_a_cookie_is_an_error() {
    let app = app_with(CookieMode::Sealed, SessionConfig::default());
    let big = format!("k={}", "x".repeat(5000));
    let r = app.call("POST", "/set", None, &big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        set_cookie(&r).is_none(),
        "no cookie a browser would silently drop"
    );
    assert!(app.events.names().contains(&"size_limit"));
}

// See: issue 17, finding 7
#[tokio::test]
async fn review_session_data_size_is_limited() {
    let app = app();
    let chunk = |c: char| std::iter::repeat_n(c, 60_000).collect::<String>();
    let r = app
        .call("POST", "/set", None, &format!("a={}", chunk('a')))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = cookie_value(&r);
    let writes = app.store.writes();

    let r = app
        .call("POST", "/set", Some(&cookie), &format!("b={}", chunk('b')))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(set_cookie(&r).is_none(), "the cookie is kept, not cleared");
    assert!(body(r).await.contains("Nothing was saved"));
    assert_eq!(app.store.writes(), writes, "nothing was written");
    assert!(app.events.names().contains(&"size_limit"));

    let r = app.call("GET", "/get?k=a", Some(&cookie), "").await;
    assert_eq!(body(r).await, chunk('a'), "the stored data is intact");
    let r = app.call("POST", "/set", Some(&cookie), "c=small").await;
    assert_eq!(r.status(), StatusCode::OK, "a write under the limit works");
    let r = app.call("GET", "/get?k=c", Some(&cookie), "").await;
    assert_eq!(body(r).await, "small");
}

#[tokio::test]
async fn client_modes_keep_state_in_the_cookie() {
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let app = app_with(mode, SessionConfig::default());
        let mut cookie = cookie_value(&app.call("GET", "/incr", None, "").await);
        for expected in 2..=4 {
            let r = app.call("GET", "/incr", Some(&cookie), "").await;
            cookie = cookie_value(&r);
            assert_eq!(body(r).await, expected.to_string(), "{mode:?}");
        }
        // The store only keeps the denylist: reads, and no write until a session ends.
        assert_eq!(
            app.store.writes(),
            0,
            "{mode:?} keeps the session in the cookie"
        );
        let r = app.call("POST", "/login", Some(&cookie), "").await;
        let signed_in = cookie_value(&r);
        assert_eq!(
            body(app.call("GET", "/whoami", Some(&signed_in), "").await).await,
            "alice"
        );
        // Flip one character in the middle (the payload), not the last one: the final base64
        // character carries spare bits that decoding ignores, as Python's does.
        let mid = signed_in.len() / 2;
        let flipped = if &signed_in[mid..=mid] == "A" {
            "B"
        } else {
            "A"
        };
        let tampered = format!("{}{flipped}{}", &signed_in[..mid], &signed_in[mid + 1..]);
        assert_eq!(
            body(app.call("GET", "/whoami", Some(&tampered), "").await).await,
            "anonymous"
        );
        assert!(app.events.names().contains(&"tampered_cookie"), "{mode:?}");
    }
}

#[tokio::test]
async fn insecure_dev_mode_is_explicit() {
    let app = app_with(
        CookieMode::Server,
        SessionConfig::default().with_cookie(CookieConfig::dangerous_insecure_dev()),
    );
    let header = set_cookie(&app.call("GET", "/incr", None, "").await).unwrap();
    assert!(
        header.starts_with("session=") && !header.contains("Secure"),
        "{header}"
    );
}

#[tokio::test]
async fn without_the_layer_the_extractor_says_what_is_missing() {
    let router = Router::new().route("/whoami", get(whoami));
    let r = router
        .oneshot(Request::get("/whoami").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body(r).await.contains("SessionLayer"));
}

/// The layer over a memory store with renewal every 10 minutes (30 seconds of grace), on a
/// manual clock.
fn renewing_app() -> (App, sessionvault::ManualClock) {
    let clock = sessionvault::ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let store = TestStore::new(MemoryStore::new());
    let events = Events::default();
    let config = SessionConfig::default().with_id_renewal(
        jiff::SignedDuration::from_mins(10),
        jiff::SignedDuration::from_secs(30),
    );
    let manager = SessionManager::builder(Keyring::generate().unwrap())
        .with_store(store.clone())
        .with_clock(clock.clone())
        .with_config(config)
        .with_event_sink(events.clone())
        .build()
        .unwrap();
    let router = Router::new()
        .route("/incr", get(incr))
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .layer(SessionLayer::new(manager));
    let app = App {
        router,
        store,
        events,
    };
    (app, clock)
}

/// Starts `path` with `cookie` and returns once its save is held at the store.
async fn held_at_save(
    app: &Arc<App>,
    path: &'static str,
    cookie: &str,
) -> (
    tokio::task::JoinHandle<Response>,
    tokio::sync::oneshot::Sender<()>,
) {
    let release = app.store.hold_next_save();
    let writes = app.store.writes();
    let in_flight = tokio::spawn({
        let (app, cookie) = (Arc::clone(app), cookie.to_owned());
        async move { app.call("GET", path, Some(&cookie), "").await }
    });
    while app.store.writes() == writes {
        tokio::task::yield_now().await;
    }
    (in_flight, release)
}

/// Over HTTP: an `update` in flight when another request renews the ID answers 200, sets no
/// cookie (so it cannot undo the renewal) and its increment lands in the successor.
// See: issue 17, finding 2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_renewal_grace_answers_an_update_in_flight_200_and_keeps_the_cookie() {
    let (app, clock) = renewing_app();
    let app = Arc::new(app);
    let old = cookie_value(&app.call("GET", "/incr", None, "").await);
    clock.advance(jiff::SignedDuration::from_mins(11));
    let (in_flight, release) = held_at_save(&app, "/incr", &old).await;
    let renewing = app.call("GET", "/whoami", Some(&old), "").await;
    let new = cookie_value(&renewing);
    assert_ne!(new, old);
    release.send(()).unwrap();
    let r = in_flight.await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        set_cookie(&r),
        None,
        "no cookie for the old ID, and no clearing"
    );
    assert_eq!(body(r).await, "2");
    let r = app.call("GET", "/incr", Some(&new), "").await;
    assert_eq!(body(r).await, "3", "every increment counted");
}

/// Over HTTP: a write in flight when the ID it carries is replaced by a sign-in is refused
/// with 409, and the response leaves the cookie alone (clearing it could sign the user out).
// See: issue 17, finding 2
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_write_racing_login_answers_409_and_keeps_the_cookie() {
    let (app, _clock) = renewing_app();
    let app = Arc::new(app);
    let anonymous = cookie_value(&app.call("GET", "/incr", None, "").await);
    let (in_flight, release) = held_at_save(&app, "/incr", &anonymous).await;
    let signed_in = cookie_value(&app.call("POST", "/login", Some(&anonymous), "").await);
    release.send(()).unwrap();
    let r = in_flight.await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(set_cookie(&r), None, "the cookie is left alone");
    let r = app.call("GET", "/whoami", Some(&signed_in), "").await;
    assert_eq!(body(r).await, "alice");
    let r = app.call("GET", "/incr", Some(&signed_in), "").await;
    assert_eq!(
        body(r).await,
        "2",
        "the refused increment is not in the signed-in session"
    );
}
