//! The `Session` extractor.

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

/// The request's session; see [`sessionvault::Session`] for what it can do. Extracting it
/// loads nothing: the store is read the first time a method needs it. Its methods' errors
/// convert into [`SessionError`](crate::SessionError) with `?`, which answers each with its
/// status (503, 409, 413, 429).
#[derive(Clone, Debug)]
pub struct Session(pub sessionvault::Session);

impl Deref for Session {
    type Target = sessionvault::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSession;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<sessionvault::Session>()
            .cloned()
            .map(Self)
            .ok_or(MissingSession)
    }
}

/// The rejection of [`Session`] and [`CsrfToken`](crate::CsrfToken) on a request that
/// [`SessionLayer`](crate::SessionLayer) did not wrap: a routing mistake in the application,
/// answered with 500 and [`MissingSession::body_text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingSession;

impl MissingSession {
    /// Always 500: the request is fine, the application is not set up.
    pub const fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The response body, fixed: it names the fix and nothing about the request.
    pub const fn body_text(&self) -> &'static str {
        "No session on this request. Is `SessionLayer` installed on this route?\n"
    }
}

impl std::fmt::Display for MissingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.body_text().trim_end())
    }
}

impl std::error::Error for MissingSession {}

impl IntoResponse for MissingSession {
    fn into_response(self) -> Response {
        (self.status(), self.body_text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_the_layer_did_not_wrap_is_refused_with_the_fixed_text() {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        let rejection = Session::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(rejection, MissingSession);
        let response = rejection.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            b"No session on this request. Is `SessionLayer` installed on this route?\n"
        );
    }
}
