//! The demo's pages and forms.

mod devices;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sessionvault::SessionManager;
use sessionvault_axum::{CsrfLayer, CsrfToken, Session, SessionError, SessionLayer};
use zeroize::Zeroizing;

use crate::monitor::Monitor;
use crate::users::{SignInError, Users};

/// How recent a sign-in must be to change the password.
const RECENT_AUTH: SignedDuration = SignedDuration::from_mins(5);
/// The pause after a wrong password, which slows guessing without locking anyone out.
const FAILURE_DELAY: Duration = Duration::from_millis(300);

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) users: Arc<Users>,
    pub(crate) monitor: Monitor,
    pub(crate) pages: Arc<minijinja::Environment<'static>>,
    pub(crate) mode: &'static str,
    pub(crate) store: String,
}

pub(crate) fn pages() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("home.html", include_str!("../../templates/home.html")),
        ("login.html", include_str!("../../templates/login.html")),
        ("account.html", include_str!("../../templates/account.html")),
        ("devices.html", include_str!("../../templates/devices.html")),
        (
            "password.html",
            include_str!("../../templates/password.html"),
        ),
        ("events.html", include_str!("../../templates/events.html")),
    ] {
        // The templates are part of the binary and checked by the tests; a broken one is a bug.
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name} does not parse: {e}"));
    }
    env
}

/// The whole app: every route under the CSRF and session layers, plus security headers.
pub(crate) fn router(state: AppState, manager: SessionManager, csrf: CsrfLayer) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/devices", get(devices::devices))
        .route("/devices/revoke", post(devices::revoke))
        .route("/devices/revoke-others", post(devices::revoke_others))
        .route("/password", get(password_page).post(change_password))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/style.css", get(style))
        .layer(csrf)
        .layer(SessionLayer::new(manager))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on form
        // posts, which would blind the CSRF layer's Origin check in browsers without Fetch
        // Metadata.
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The client's address, when the server knows it (not in tests without a socket): the key the
/// failed sign-in limit counts by, with the username.
struct ClientIp(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default(),
        ))
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Flash {
    kind: String,
    text: String,
}

async fn flash(session: &Session, kind: &str, text: &str) -> Result<(), SessionError> {
    let mut flashes: Vec<Flash> = session.get("_flash").await?.unwrap_or_default();
    flashes.push(Flash {
        kind: kind.into(),
        text: text.into(),
    });
    session.insert("_flash", flashes).await?;
    Ok(())
}

/// Renders a page with what every page needs: the user, a CSRF token, pending flash messages.
async fn render(
    state: &AppState,
    session: &Session,
    csrf: &CsrfToken,
    name: &str,
    title: &str,
    extra: serde_json::Value,
) -> Result<Response, SessionError> {
    let flashes: Vec<Flash> = session.get("_flash").await?.unwrap_or_default();
    if !flashes.is_empty() {
        session.remove("_flash").await?;
    }
    let mut ctx = serde_json::json!({
        "title": title,
        "user": session.user().await?,
        "csrf": csrf.masked(),
        "flashes": flashes,
        "mode": state.mode,
        "store": state.store,
    });
    if let (Some(ctx), serde_json::Value::Object(extra)) = (ctx.as_object_mut(), extra) {
        ctx.extend(extra);
    }
    let html = state
        .pages
        .get_template(name)
        .and_then(|t| t.render(&ctx))
        .map_err(|e| {
            tracing::error!(error = %e, "template failed");
            SessionError(sessionvault::Error::Unreachable("a page failed to render"))
        })?;
    Ok(Html(html).into_response())
}

/// The signed-in user, or a redirect to the sign-in page.
async fn signed_in(session: &Session) -> Result<Result<String, Response>, SessionError> {
    Ok(match session.user().await? {
        Some(user) => Ok(user),
        None => Err(Redirect::to("/login").into_response()),
    })
}

async fn home(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
) -> Result<Response, SessionError> {
    render(
        &state,
        &session,
        &csrf,
        "home.html",
        "Home",
        serde_json::json!({}),
    )
    .await
}

#[derive(Deserialize)]
struct LoginQuery {
    reauth: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Query(q): Query<LoginQuery>,
) -> Result<Response, SessionError> {
    let extra = serde_json::json!({ "reauth": q.reauth.is_some() });
    render(&state, &session, &csrf, "login.html", "Sign in", extra).await
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(client): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, SessionError> {
    let password = Zeroizing::new(form.password);
    match state.users.sign_in(&form.username, password, &client).await {
        Ok(()) => {
            session.login(&form.username).await?;
            flash(&session, "ok", &format!("Welcome, {}.", form.username)).await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(SignInError::Invalid) => {
            tokio::time::sleep(FAILURE_DELAY).await;
            flash(&session, "error", "Wrong username or password.").await?;
            Ok(Redirect::to("/login").into_response())
        }
        Err(refused) => Ok(refusal(&refused)),
    }
}

/// The answer to a sign-in refused before its password was checked.
fn refusal(error: &SignInError) -> Response {
    let (retry_after, page) = match error {
        SignInError::Busy => (
            "1",
            "<!doctype html><title>Busy</title><h1>Too many sign-ins at once</h1>\
             <p>Try again in a moment.</p>",
        ),
        SignInError::TooManyAttempts | SignInError::Invalid => (
            "900",
            "<!doctype html><title>Too many attempts</title><h1>Too many failed sign-ins</h1>\
             <p>Wait a few minutes and try again.</p>",
        ),
    };
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after)],
        Html(page),
    )
        .into_response()
}

async fn logout(session: Session) -> Result<Response, SessionError> {
    session.logout().await?;
    let mut response = Redirect::to("/").into_response();
    // Tell the browser to drop what it keeps for this site, too.
    response.headers_mut().insert(
        "clear-site-data",
        HeaderValue::from_static("\"cache\", \"cookies\", \"storage\""),
    );
    Ok(response)
}

fn human(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

async fn account(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
) -> Result<Response, SessionError> {
    let user = match signed_in(&session).await? {
        Ok(user) => user,
        Err(redirect) => return Ok(redirect),
    };
    let now = Timestamp::now();
    let d = session.deadlines().await?;
    let age = session.auth_age().await?.unwrap_or_default();
    let extra = match d {
        Some(d) => serde_json::json!({
            "user": user,
            "created": when(d.created),
            "auth_age": human(age),
            "idle": when(d.idle),
            "idle_left": human(d.idle.duration_since(now)),
            "absolute": when(d.absolute),
            "absolute_left": human(d.absolute.duration_since(now)),
        }),
        None => serde_json::json!({}),
    };
    render(&state, &session, &csrf, "account.html", "Account", extra).await
}

/// Changing the password needs a sign-in from the last few minutes.
async fn recently_signed_in(session: &Session) -> Result<Result<String, Response>, SessionError> {
    let user = match signed_in(session).await? {
        Ok(user) => user,
        Err(redirect) => return Ok(Err(redirect)),
    };
    let age = session.auth_age().await?.unwrap_or(SignedDuration::MAX);
    if age > RECENT_AUTH {
        flash(
            session,
            "info",
            "For your security, sign in again to change your password.",
        )
        .await?;
        return Ok(Err(Redirect::to("/login?reauth=1").into_response()));
    }
    Ok(Ok(user))
}

async fn password_page(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
) -> Result<Response, SessionError> {
    if let Err(redirect) = recently_signed_in(&session).await? {
        return Ok(redirect);
    }
    render(
        &state,
        &session,
        &csrf,
        "password.html",
        "Password",
        serde_json::json!({}),
    )
    .await
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    session: Session,
    ClientIp(client): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, SessionError> {
    let user = match recently_signed_in(&session).await? {
        Ok(user) => user,
        Err(redirect) => return Ok(redirect),
    };
    if form.new_password.chars().count() < 12 {
        flash(
            &session,
            "error",
            "The new password needs 12 characters or more.",
        )
        .await?;
        return Ok(Redirect::to("/password").into_response());
    }
    let (current, new) = (
        Zeroizing::new(form.current_password),
        Zeroizing::new(form.new_password),
    );
    match state
        .users
        .change_password(&user, current, new, &client)
        .await
    {
        Ok(()) => {}
        Err(SignInError::Invalid) => {
            tokio::time::sleep(FAILURE_DELAY).await;
            flash(&session, "error", "The current password is wrong.").await?;
            return Ok(Redirect::to("/password").into_response());
        }
        Err(refused) => return Ok(refusal(&refused)),
    }
    let others = session.revoke_others().await?;
    session.cycle_id().await?;
    flash(
        &session,
        "ok",
        &format!("Password changed; {others} other device(s) signed out."),
    )
    .await?;
    Ok(Redirect::to("/account").into_response())
}

async fn events(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
) -> Result<Response, SessionError> {
    let user = match signed_in(&session).await? {
        Ok(user) => user,
        Err(redirect) => return Ok(redirect),
    };
    let list: Vec<_> = state
        .monitor
        .events_for(&user)
        .into_iter()
        .map(|(at, name, key)| serde_json::json!({"at": when(at), "name": name, "session": key}))
        .collect();
    render(
        &state,
        &session,
        &csrf,
        "events.html",
        "Events",
        serde_json::json!({ "events": list }),
    )
    .await
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.monitor.metrics() + &state.users.metrics(),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../templates/style.css"),
    )
        .into_response()
}
