//! The devices page: the user's signed-in sessions, and signing them out.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sessionvault_axum::{CsrfToken, Session, SessionError};

use super::{AppState, flash, render, signed_in, when};

/// The browser and system families, from a User-Agent: enough to tell devices apart, and the
/// same families the fingerprint check compares.
fn browser(user_agent: Option<&str>) -> String {
    match user_agent.filter(|ua| !ua.is_empty()) {
        Some(ua) => {
            let (browser, system) = sessionvault::user_agent_family(ua);
            format!("{browser} on {system}")
        }
        None => "unknown".to_owned(),
    }
}

pub(super) async fn devices(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
) -> Result<Response, SessionError> {
    if let Err(redirect) = signed_in(&session).await? {
        return Ok(redirect);
    }
    let list: Vec<_> = session
        .devices()
        .await?
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "handle": d.handle,
                "browser": browser(d.user_agent.as_deref()),
                "ip": d.ip.unwrap_or_else(|| "unknown".into()),
                "created": when(d.created),
                "last_seen": when(d.last_seen),
                "current": d.current,
            })
        })
        .collect();
    let extra = serde_json::json!({ "devices": list });
    render(&state, &session, &csrf, "devices.html", "Devices", extra).await
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    session: String,
}

pub(super) async fn revoke(
    session: Session,
    Form(form): Form<RevokeForm>,
) -> Result<Response, SessionError> {
    if let Err(redirect) = signed_in(&session).await? {
        return Ok(redirect);
    }
    let text = if session.revoke_device(&form.session).await? {
        "That device is signed out."
    } else {
        "No such device among yours."
    };
    flash(&session, "ok", text).await?;
    Ok(Redirect::to("/devices").into_response())
}

pub(super) async fn revoke_others(session: Session) -> Result<Response, SessionError> {
    if let Err(redirect) = signed_in(&session).await? {
        return Ok(redirect);
    }
    let n = session.revoke_others().await?;
    flash(&session, "ok", &format!("Signed out {n} other device(s).")).await?;
    Ok(Redirect::to("/devices").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_labelled_with_the_library_families() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(browser(Some(iphone)), "Safari on iOS");
        assert_eq!(
            browser(Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")),
            "Firefox on Linux"
        );
        assert_eq!(browser(Some("")), "unknown");
        assert_eq!(browser(None), "unknown");
    }
}
