//! Handlers and response helpers that several test modules share.

use axum::http::header;
use axum::response::Response;
use sessionvault_axum::{Session, SessionError};

/// Increments `n`: through `update` in server mode; in the cookie modes, which refuse
/// `update`, by a read and a write (the last response wins).
pub(crate) async fn incr(session: Session) -> Result<String, SessionError> {
    let add_one = |n: Option<i64>| n.unwrap_or(0) + 1;
    let n = match session.update("n", add_one).await {
        Err(sessionvault::Error::UpdateNeedsServerMode) => {
            let n = add_one(session.get("n").await?);
            session.insert("n", n).await?;
            n
        }
        n => n?,
    };
    Ok(n.to_string())
}

pub(crate) async fn logout(session: Session) -> Result<&'static str, SessionError> {
    session.logout().await?;
    Ok("ok")
}

pub(crate) async fn whoami(session: Session) -> Result<String, SessionError> {
    Ok(session.user().await?.unwrap_or_else(|| "anonymous".into()))
}

/// The response's `Set-Cookie` header, if any.
pub(crate) fn set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The cookie value the response sets.
pub(crate) fn cookie_value(response: &Response) -> String {
    let header = set_cookie(response).expect("a Set-Cookie");
    let pair = header.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

/// The response body as text.
pub(crate) async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}
