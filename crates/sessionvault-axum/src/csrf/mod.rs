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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sessionvault::SecurityEvent;
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use crate::SessionError;

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

/// Where the request came from. Browsers that send Fetch Metadata say so in `Sec-Fetch-Site`,
/// which pages cannot forge: only `same-origin` and `none` (typed in, bookmarks) pass;
/// `same-site` is refused too, since a sibling subdomain may be the attacker. Without it, an
/// `Origin` header must name this origin: `scheme` with the `Host` the request was sent to,
/// compared as (scheme, host, port) with default ports made explicit and host names in their
/// ASCII, lower-case form. (`Origin` alone is not enough when the page sets
/// `Referrer-Policy: no-referrer`: browsers then send `Origin: null` even for same-origin forms,
/// and `null` matches nothing.) Requests with neither header (not from a browser) go on to the
/// token check.
fn check_origin(headers: &HeaderMap, scheme: &str) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none") {
            Ok(())
        } else {
            Err(Refusal::CrossSite)
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let presented = origin.to_str().ok().and_then(parse_origin);
    let this = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|host| parse_origin(&format!("{scheme}://{host}")));
    match (presented, this) {
        (Some(presented), Some(this)) if presented == this => Ok(()),
        _ => Err(Refusal::OriginMismatch),
    }
}

/// An `Origin` header's (scheme, host, port), or `None` when it is `null`, not a URL, or more
/// than an origin (a path, a query, user info): browsers send none of those.
fn parse_origin(text: &str) -> Option<url::Origin> {
    let url = url::Url::parse(text).ok()?;
    let bare = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    let origin = url.origin();
    (bare && origin.is_tuple()).then_some(origin)
}

/// Unmasks a token from a page: base64url of pad and token XOR pad.
fn unmask(masked: &str) -> Option<[u8; TOKEN_LEN]> {
    let mut bytes = [0u8; TOKEN_LEN * 2];
    let n = URL_SAFE_NO_PAD
        .decode_slice(masked.trim(), &mut bytes)
        .ok()?;
    if n != TOKEN_LEN * 2 {
        return None;
    }
    let mut token = [0u8; TOKEN_LEN];
    for i in 0..TOKEN_LEN {
        token[i] = bytes[i] ^ bytes[TOKEN_LEN + i];
    }
    Some(token)
}

fn mask(token: &[u8; TOKEN_LEN]) -> Result<String, sessionvault::Error> {
    let mut out = [0u8; TOKEN_LEN * 2];
    getrandom::fill(&mut out[..TOKEN_LEN]).map_err(|_| sessionvault::Error::Random)?;
    for i in 0..TOKEN_LEN {
        out[TOKEN_LEN + i] = out[i] ^ token[i];
    }
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// The session's token, created on first use.
async fn session_token(
    session: &sessionvault::Session,
) -> Result<[u8; TOKEN_LEN], sessionvault::Error> {
    if let Some(stored) = session.get::<String>(SESSION_KEY).await? {
        let mut token = [0u8; TOKEN_LEN];
        if URL_SAFE_NO_PAD.decode_slice(&stored, &mut token).ok() == Some(TOKEN_LEN) {
            return Ok(token);
        }
    }
    let mut token = [0u8; TOKEN_LEN];
    getrandom::fill(&mut token).map_err(|_| sessionvault::Error::Random)?;
    session
        .insert(SESSION_KEY, URL_SAFE_NO_PAD.encode(token))
        .await?;
    Ok(token)
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

/// The request's CSRF token, masked for this response: put it in every form as
/// `<input type="hidden" name="csrf_token" value="...">`, or send it as `X-CSRF-Token`.
#[derive(Clone, Debug)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// The masked token: URL-safe, no HTML escaping needed.
    pub fn masked(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(session) = parts.extensions.get::<sessionvault::Session>().cloned() else {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "No session on this request. Is `SessionLayer` installed on this route?\n",
            )
                .into_response());
        };
        let token = session_token(&session)
            .await
            .map_err(|e| SessionError(e).into_response())?;
        mask(&token)
            .map(Self)
            .map_err(|e| SessionError(e).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_round_trips_and_varies() {
        let token = [7u8; TOKEN_LEN];
        let a = mask(&token).unwrap();
        let b = mask(&token).unwrap();
        assert_ne!(a, b, "a fresh pad every time");
        assert_eq!(unmask(&a), Some(token));
        assert_eq!(unmask(&b), Some(token));
        for junk in ["", "short", &"A".repeat(85), &"!".repeat(86)] {
            assert_eq!(unmask(junk), None, "{junk}");
        }
    }

    #[test]
    fn origin_rules() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("app.example:8080"));
        assert_eq!(check_origin(&h, "https"), Ok(()));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://app.example:8080"),
        );
        assert_eq!(check_origin(&h, "https"), Ok(()));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(check_origin(&h, "https"), Err(Refusal::OriginMismatch));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(check_origin(&h, "https"), Err(Refusal::OriginMismatch));
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("app.example"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert_eq!(check_origin(&h, "https"), Err(Refusal::CrossSite));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert_eq!(
            check_origin(&h, "https"),
            Err(Refusal::CrossSite),
            "a sibling subdomain"
        );
        // Fetch Metadata wins over Origin: with no-referrer, browsers send `Origin: null`.
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(check_origin(&h, "https"), Ok(()));
        h.insert("sec-fetch-site", HeaderValue::from_static("none"));
        assert_eq!(check_origin(&h, "https"), Ok(()));
    }

    /// The verdict for an `Origin` header sent to `host` on a site of `scheme`.
    fn verdict(scheme: &str, host: &'static str, origin: &'static str) -> Result<(), Refusal> {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        h.insert(header::ORIGIN, HeaderValue::from_static(origin));
        check_origin(&h, scheme)
    }

    // See: issue 17, finding 15
    #[test]
    fn review_csrf_origin_compares_scheme_host_and_port() {
        let mismatch = Err(Refusal::OriginMismatch);
        // The scheme counts: a plain-HTTP page (or a network attacker's) is another origin.
        assert_eq!(
            verdict("https", "app.example", "http://app.example"),
            mismatch
        );
        assert_eq!(
            verdict("http", "app.example", "https://app.example"),
            mismatch
        );
        assert_eq!(verdict("http", "app.example", "http://app.example"), Ok(()));
        // Default ports are the same origin, other ports are not.
        for (host, origin) in [
            ("app.example", "https://app.example:443"),
            ("app.example:443", "https://app.example"),
            ("app.example", "https://app.example/"),
        ] {
            assert_eq!(verdict("https", host, origin), Ok(()), "{host} {origin}");
        }
        assert_eq!(
            verdict("https", "app.example", "https://app.example:8443"),
            mismatch
        );
        assert_eq!(
            verdict("http", "app.example", "http://app.example:443"),
            mismatch
        );
        assert_eq!(
            verdict("http", "app.example:80", "http://app.example"),
            Ok(())
        );
        // Host names compare case-insensitively and in their ASCII (punycode) form.
        assert_eq!(
            verdict("https", "APP.Example", "https://app.EXAMPLE"),
            Ok(())
        );
        assert_eq!(
            verdict(
                "https",
                "xn--bcher-kva.example",
                "https://XN--BCHER-KVA.example"
            ),
            Ok(())
        );
        assert_eq!(
            verdict("https", "bcher.example", "https://xn--bcher-kva.example"),
            mismatch
        );
        // IPv6 literals, and what is not an origin.
        assert_eq!(
            verdict("https", "[::1]:8443", "https://[0:0::1]:8443"),
            Ok(())
        );
        for origin in [
            "null",
            "app.example",
            "https://",
            "https://evil@app.example",
            "https://app.example/path",
            "https://app.example?q",
            "file:///etc/passwd",
            "data:text/html,hi",
            "https://app.example.evil.example",
        ] {
            assert_eq!(
                verdict("https", "app.example", origin),
                mismatch,
                "{origin}"
            );
        }
        // A Host that is no host name matches nothing.
        assert_eq!(
            verdict("https", "app example", "https://app example"),
            mismatch
        );
    }
}
