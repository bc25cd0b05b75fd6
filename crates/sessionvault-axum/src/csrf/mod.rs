//! CSRF protection: a synchronizer token bound to the session, checked on every state-changing
//! request, plus Fetch Metadata and `Origin` checks.
//!
//! ```no_run
//! use axum::{Router, response::Html, routing::get};
//! use sessionvault_axum::{CsrfLayer, CsrfToken, SessionLayer};
//! # fn manager() -> sessionvault::SessionManager { unimplemented!() }
//!
//! async fn form(token: CsrfToken) -> Html<String> {
//!     Html(format!(
//!         r#"<form method="post"><input type="hidden" name="csrf_token" value="{}">
//!            <button>Send</button></form>"#,
//!         token.masked()
//!     ))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/form", get(form).post(|| async { "done" }))
//!     .layer(CsrfLayer::new())              // inside: needs the session
//!     .layer(SessionLayer::new(manager())); // outside
//! ```
//!
//! - The token is 32 random bytes kept in the session under `_csrf`
//!   ([`sessionvault::CSRF_SECRET_KEY`]). Pages get it masked with a fresh random pad every
//!   time (BREACH-style compression attacks see different bytes on every response), as a form
//!   field `csrf_token` or for scripts a header `X-CSRF-Token`.
//! - Signing in, `cycle_id` and a re-authentication demanded by the fingerprint policy drop the
//!   secret with the old session ID, so a token learnt before the privilege change is refused
//!   after it; the next page gets a new one. Periodic ID renewal keeps it, so that forms already
//!   open still post.
//! - Every request with a method other than GET, HEAD, OPTIONS and TRACE must carry it; the
//!   comparison is constant-time.
//! - Requests the browser marks as coming from another site (`Sec-Fetch-Site` other than
//!   `same-origin` or `none`), or, from browsers without Fetch Metadata, whose `Origin` is not
//!   this origin, are refused before the token is looked at. Origins are compared as (scheme,
//!   host, port) with default ports made explicit: `https://app.example:443` is
//!   `https://app.example`, `http://app.example` is another origin. The scheme is `https`
//!   unless the layer is made with [`CsrfLayer::dangerous_plain_http`].
//! - A refusal is a 403 with a page that says what happened, and a `csrf_rejected` security
//!   event.

mod origin;
mod token;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sessionvault::SecurityEvent;
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use crate::SessionError;

use self::origin::check_origin;
pub use self::token::CsrfToken;
use self::token::unmask;

/// The form field that carries the token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The header that carries the token (for scripts).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where the token lives in the session: the key the engine drops on a privilege change.
const SESSION_KEY: &str = sessionvault::CSRF_SECRET_KEY;
const TOKEN_LEN: usize = 32;
/// The largest form body read to find the token.
const MAX_FORM: usize = 1 << 20;

/// Checks the CSRF token on state-changing requests. Install it inside [`crate::SessionLayer`].
#[derive(Clone, Copy, Debug)]
pub struct CsrfLayer {
    /// The scheme of this site's origin, for the `Origin` check.
    scheme: &'static str,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsrfLayer {
    /// The layer, for a site served over HTTPS: an `Origin` header passes only as
    /// `https://` and the request's `Host` (a TLS-terminating proxy in front changes nothing:
    /// the browser's origin is still `https://`).
    pub fn new() -> Self {
        Self { scheme: "https" }
    }

    /// For a site served over plain HTTP (local development): an `Origin` header passes only
    /// as `http://` and the request's `Host`, and no longer as `https://`.
    pub fn dangerous_plain_http(self) -> Self {
        Self { scheme: "http" }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            scheme: self.scheme,
        }
    }
}

/// The service [`CsrfLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct CsrfService<S> {
    inner: S,
    scheme: &'static str,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    CrossSite,
    OriginMismatch,
    MissingToken,
    BadToken,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Self::CrossSite => "cross_site",
            Self::OriginMismatch => "origin_mismatch",
            Self::MissingToken => "missing_token",
            Self::BadToken => "bad_token",
        }
    }

    fn response(self) -> Response {
        let detail = match self {
            Self::CrossSite | Self::OriginMismatch => {
                "It came from another site, which is what a cross-site request forgery looks like."
            }
            Self::MissingToken => "The form did not carry its security token.",
            Self::BadToken => {
                "The form's security token did not match this session; the page may be stale \
                 (for example after signing in or out in another tab)."
            }
        };
        let body = format!(
            "<!doctype html><title>Request refused</title><h1>Request refused</h1>\
             <p>{detail}</p><p>Nothing was changed. Go back, reload the page and try again.</p>"
        );
        let mut response = (StatusCode::FORBIDDEN, axum::response::Html(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The token carried by the request: the header, else the form field of a urlencoded body
/// (read, then put back for the handler).
async fn presented_token(request: Request<Body>) -> (Option<String>, Request<Body>) {
    if let Some(value) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return (Some(value.to_owned()), request);
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (None, request);
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return (None, Request::from_parts(parts, Body::empty()));
    };
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    (token, Request::from_parts(parts, Body::from(bytes)))
}

impl<S> Service<Request<Body>> for CsrfService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let scheme = self.scheme;
        Box::pin(async move {
            if is_safe(request.method()) {
                return inner.call(request).await;
            }
            let Some(session) = request.extensions().get::<sessionvault::Session>().cloned() else {
                return Ok((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "CsrfLayer needs a session: install SessionLayer outside CsrfLayer.\n",
                )
                    .into_response());
            };
            let refuse = |refusal: Refusal| {
                session.report_event(SecurityEvent::CsrfRejected {
                    reason: refusal.reason(),
                });
                Ok(refusal.response())
            };
            if let Err(refusal) = check_origin(request.headers(), scheme) {
                return refuse(refusal);
            }
            let (presented, request) = presented_token(request).await;
            let Some(presented) = presented else {
                return refuse(Refusal::MissingToken);
            };
            let expected = match session.get::<String>(SESSION_KEY).await {
                Ok(Some(stored)) => {
                    let mut token = [0u8; TOKEN_LEN];
                    (URL_SAFE_NO_PAD.decode_slice(&stored, &mut token).ok() == Some(TOKEN_LEN))
                        .then_some(token)
                }
                Ok(None) => None,
                Err(err) => return Ok(SessionError(err).into_response()),
            };
            let valid = match (expected, unmask(&presented)) {
                (Some(expected), Some(given)) => bool::from(expected.ct_eq(&given)),
                _ => false,
            };
            if !valid {
                return refuse(Refusal::BadToken);
            }
            inner.call(request).await
        })
    }
}
