//! The `Session` extractor.

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

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
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<sessionvault::Session>()
            .cloned()
            .map(Self)
            .ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "No session on this request. Is `SessionLayer` installed on this route?\n",
            ))
    }
}
