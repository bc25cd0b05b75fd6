//! Session errors as HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A session error, answered with the status that tells the client what to do: 503 when the
/// store is down (retry later), 409 when the request lost a race or the session ended under it,
/// 413 when the write would take the session past its size limit (the stored session is kept
/// as it was), 429 when the client is refused for guessing session IDs, 500 otherwise. The
/// body is a fixed text that never includes a session ID or a value.
#[derive(Debug)]
pub struct SessionError(pub sessionvault::Error);

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<sessionvault::Error> for SessionError {
    fn from(error: sessionvault::Error) -> Self {
        Self(error)
    }
}

impl SessionError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        if self.0.is_store() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if self.0.is_conflict() {
            StatusCode::CONFLICT
        } else if self.0.is_throttled() {
            StatusCode::TOO_MANY_REQUESTS
        } else if self.0.is_session_too_large() {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    /// The fixed text of the response body.
    pub fn body_text(&self) -> &'static str {
        if self.0.is_store() {
            "The session store is unavailable. Nothing was saved; please try again shortly.\n"
        } else if matches!(self.0, sessionvault::Error::SessionEnded) {
            "This session ended while the request ran (signed out elsewhere, revoked or \
             expired). Nothing was saved; please sign in again.\n"
        } else if matches!(self.0, sessionvault::Error::IdChanged) {
            "The session was given a new ID (at sign-in, say) while the request ran. Nothing \
             was saved; please try again.\n"
        } else if self.0.is_conflict() {
            "The session was changed by another request at the same time. Nothing was saved; \
             please try again.\n"
        } else if self.0.is_throttled() {
            "Too many unknown session cookies came from this address. Please try again later.\n"
        } else if self.0.is_session_too_large() {
            "This change would make the session larger than its size limit. Nothing was saved; \
             the session is as it was.\n"
        } else {
            "The session could not be saved. Nothing was saved.\n"
        }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        // Logged without any session ID: the error types carry none.
        if self.0.is_store() {
            tracing::error!(target: "sessionvault", error = %self.0, "session store failed");
        } else {
            tracing::warn!(target: "sessionvault", error = %self.0, "session not saved");
        }
        let mut response = (self.status(), self.body_text()).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
