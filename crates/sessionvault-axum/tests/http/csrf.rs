//! CSRF protection through the real layers, without sockets.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Html;
use axum::routing::{get, post as post_route};
use sessionvault::{CookieMode, Keyring, SessionManager, store::MemoryStore};
use sessionvault_axum::{CsrfLayer, CsrfToken, Session, SessionLayer};
use sessionvault_testkit::Events;
use tower::ServiceExt as _;

use crate::support::body;

async fn form(token: CsrfToken) -> Html<String> {
    Html(format!(
        r#"<form method="post"><input type="hidden" name="csrf_token" value="{}"></form>"#,
        token.masked()
    ))
}

fn app() -> (Router, Events) {
    let events = Events::default();
    let manager = SessionManager::builder(Keyring::generate().unwrap())
        .with_store(MemoryStore::new())
        .with_event_sink(events.clone())
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/form",
            get(form).post(|body: String| async move { format!("saved {body}") }),
        )
        .layer(CsrfLayer::new())
        .layer(SessionLayer::new(manager));
    (router, events)
}

/// Loads the form: the session cookie and the masked token on the page.
async fn load_form(router: &Router, cookie: Option<&str>) -> (String, String) {
    let mut request = Request::get("/form");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .or_else(|| cookie.map(str::to_owned))
        .unwrap();
    let page = body(response).await;
    let token = page
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, token)
}

fn post(cookie: &str) -> axum::http::request::Builder {
    Request::post("/form")
        .header(header::COOKIE, cookie)
        .header(header::HOST, "app.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
}

#[tokio::test]
async fn a_form_post_with_its_token_passes_and_the_handler_sees_the_body() {
    let (router, _) = app();
    let (cookie, token) = load_form(&router, None).await;
    let form = format!("name=alice&csrf_token={token}");
    let r = router
        .clone()
        .oneshot(post(&cookie).body(Body::from(form.clone())).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, format!("saved {form}"));
    // The token is masked anew on every page, and every mask works.
    let (_, again) = load_form(&router, Some(&cookie)).await;
    assert_ne!(token, again);
    let r = router
        .clone()
        .oneshot(
            post(&cookie)
                .header("x-csrf-token", &again)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the header works too");
}

#[tokio::test]
async fn missing_wrong_and_foreign_tokens_are_refused() {
    let (router, events) = app();
    let (cookie, token) = load_form(&router, None).await;
    let (_, other_sessions_token) = load_form(&router, None).await;
    for (form, why) in [
        ("name=mallory".to_owned(), "missing"),
        ("name=mallory&csrf_token=garbage".to_owned(), "garbage"),
        (
            format!("name=mallory&csrf_token={other_sessions_token}"),
            "another session's",
        ),
        (
            format!("name=mallory&csrf_token={}x", &token[..token.len() - 1]),
            "altered",
        ),
    ] {
        let r = router
            .clone()
            .oneshot(post(&cookie).body(Body::from(form.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        let page = body(r).await;
        assert!(
            page.contains("Request refused") && page.contains("Nothing was changed"),
            "{page}"
        );
    }
    assert_eq!(
        events
            .names()
            .iter()
            .filter(|n| **n == "csrf_rejected")
            .count(),
        4
    );
    // A session that never loaded a form has no token at all.
    let r = router
        .clone()
        .oneshot(
            Request::post("/form")
                .body(Body::from("csrf_token=x"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cross_site_requests_are_refused_even_with_a_token() {
    let (router, events) = app();
    let (cookie, token) = load_form(&router, None).await;
    let form = format!("csrf_token={token}");
    let cross = post(&cookie).header("sec-fetch-site", "cross-site");
    let r = router
        .clone()
        .oneshot(cross.body(Body::from(form.clone())).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let foreign = post(&cookie).header(header::ORIGIN, "https://evil.example");
    let r = router
        .clone()
        .oneshot(foreign.body(Body::from(form.clone())).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let same = post(&cookie)
        .header(header::ORIGIN, "https://app.example")
        .header("sec-fetch-site", "same-origin");
    let r = router
        .clone()
        .oneshot(same.body(Body::from(form)).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let reasons: Vec<_> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            sessionvault::SecurityEvent::CsrfRejected { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["cross_site", "origin_mismatch"]);
}

#[tokio::test]
async fn safe_methods_pass_untouched() {
    let (router, _) = app();
    let r = router
        .clone()
        .oneshot(
            Request::get("/form")
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "links from other sites still work"
    );
}

// See: issue 17, finding 5
#[tokio::test]
async fn review_csrf_token_is_rotated_at_sign_in() {
    for mode in [CookieMode::Server, CookieMode::Sealed, CookieMode::Flask] {
        let manager = SessionManager::builder(Keyring::generate().unwrap())
            .with_mode(mode)
            .with_store(MemoryStore::new())
            .build()
            .unwrap();
        let router = Router::new()
            .route("/form", get(form).post(|| async { "saved" }))
            .route(
                "/login",
                post_route(|Session(session): Session| async move {
                    session.login("alice").await.unwrap();
                    "signed in"
                }),
            )
            .layer(CsrfLayer::new())
            .layer(SessionLayer::new(manager));
        let send = |request: Request<Body>| {
            let router = router.clone();
            async move { router.oneshot(request).await.unwrap() }
        };

        // A token learnt before sign-in (by whoever planted the session, say).
        let (anonymous, before) = load_form(&router, None).await;
        let form = format!("csrf_token={before}");
        let r = send(
            post_to("/login", &anonymous)
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{mode:?}");
        let signed_in = r
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .expect("a new session ID at sign-in");

        let stale = format!("csrf_token={before}");
        let r = send(post(&signed_in).body(Body::from(stale)).unwrap()).await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{mode:?}: the pre-login token is refused after login"
        );
        // The signed-in session's own token works.
        let (signed_in, after) = load_form(&router, Some(&signed_in)).await;
        let fresh = format!("csrf_token={after}");
        let r = send(post(&signed_in).body(Body::from(fresh)).unwrap()).await;
        assert_eq!(r.status(), StatusCode::OK, "{mode:?}");
    }
}

fn post_to(path: &str, cookie: &str) -> axum::http::request::Builder {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::HOST, "app.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
}
