//! The synchronizer token: kept in the session, handed to pages masked with a fresh pad.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{SESSION_KEY, TOKEN_LEN};
use crate::{MissingSession, SessionError};

/// Unmasks a token from a page: base64url of pad and token XOR pad.
pub(super) fn unmask(masked: &str) -> Option<[u8; TOKEN_LEN]> {
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
            return Err(MissingSession.into_response());
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
}
