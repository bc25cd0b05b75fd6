//! Who a [`Session`] belongs to: signing in and out, a new ID when privileges change, the
//! session's age, and the signed-in user's other sessions (the devices list).

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::devices::{self, SessionInfo};
use super::handle::Session;
use super::mode;
use crate::Error;
use crate::id::StoreKey;

/// When a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    /// When it began.
    pub created: Timestamp,
    /// It ends if no request comes before this.
    pub idle: Timestamp,
    /// It ends at this time whatever happens.
    pub absolute: Timestamp,
}

impl Session {
    /// Gives the session a new ID, keeping its data but the CSRF secret
    /// ([`CSRF_SECRET_KEY`](crate::CSRF_SECRET_KEY)); the old ID stops working. Call it
    /// whenever privileges change. [`Session::login`] does it for you.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn cycle_id(&self) -> Result<(), Error> {
        let mut state = self.loaded().await?;
        state.cycle = true;
        state.drop_csrf_secret();
        Ok(())
    }

    /// Signs `user` in: a new ID (the fixation defence), the user recorded, the authentication
    /// time set, the absolute lifetime restarted, the CSRF secret
    /// ([`CSRF_SECRET_KEY`](crate::CSRF_SECRET_KEY)) dropped so that a token learnt before
    /// sign-in is refused after it.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn login(&self, user: &str) -> Result<(), Error> {
        let mut state = self.loaded().await?;
        state.login = Some(user.to_owned());
        state.cycle = true;
        state.destroy = false;
        state.drop_csrf_secret();
        Ok(())
    }

    /// Signs out: the session is ended in the store (a tombstone, so no request still in flight
    /// can bring it back) and the cookie is cleared.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn logout(&self) -> Result<(), Error> {
        self.destroy().await
    }

    /// Ends the session and clears the cookie; see [`Session::logout`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn destroy(&self) -> Result<(), Error> {
        let mut state = self.loaded().await?;
        state.destroy = true;
        state.login = None;
        state.changes.clear();
        Ok(())
    }

    /// The signed-in user, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn user(&self) -> Result<Option<String>, Error> {
        let state = self.loaded().await?;
        if state.destroy {
            return Ok(None);
        }
        if let Some(user) = &state.login {
            return Ok(Some(user.clone()));
        }
        Ok(state.live_record().and_then(|record| record.user.clone()))
    }

    /// How long ago the user authenticated; `None` when nobody is signed in. Demand a fresh
    /// sign-in before sensitive actions when this is large.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn auth_age(&self) -> Result<Option<SignedDuration>, Error> {
        let state = self.loaded().await?;
        if state.login.is_some() {
            return Ok(Some(SignedDuration::ZERO));
        }
        let now = self.engine().now();
        Ok(state
            .live_record()
            .and_then(|record| record.auth_time)
            .map(|t| now.duration_since(t)))
    }

    /// When the session began and when it will end, if it exists.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    pub async fn deadlines(&self) -> Result<Option<Deadlines>, Error> {
        let state = self.loaded().await?;
        Ok(state.live_record().map(|record| Deadlines {
            created: record.created,
            idle: record.idle_deadline,
            absolute: record.absolute_deadline,
        }))
    }

    /// The signed-in user's live sessions, this one marked `current` (server mode).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn devices(&self) -> Result<Vec<SessionInfo>, Error> {
        let (user, key) = self.user_and_key().await?;
        let engine = self.engine();
        match user {
            Some(user) => devices::list_user_sessions(engine, &user, key.as_ref())
                .await
                .map_err(|e| engine.report(e)),
            None => Ok(Vec::new()),
        }
    }

    /// Ends one of the signed-in user's own sessions by its handle. `Ok(false)` when the handle
    /// is not one of theirs.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails.
    pub async fn revoke_device(&self, handle: &str) -> Result<bool, Error> {
        let (Some(user), _) = self.user_and_key().await? else {
            return Ok(false);
        };
        let Some(key) = StoreKey::from_hex(handle) else {
            return Ok(false);
        };
        let engine = self.engine();
        let owned = engine
            .store
            .load(&key)
            .await
            .map_err(|e| engine.report(e.into()))?
            .is_some_and(|r| r.is_live() && r.user.as_deref() == Some(&user));
        if !owned {
            return Ok(false);
        }
        devices::revoke_key(engine, &key)
            .await
            .map_err(|e| engine.report(e))
    }

    /// Ends every other session of the signed-in user (after a password change, or "sign out
    /// everywhere else"); returns how many.
    ///
    /// In the cookie modes, with a store, every other cookie session of the user is refused
    /// from now on and this one's cookie is re-issued; the answer is 0, since cookie sessions
    /// cannot be counted.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the store fails; [`Error::Config`] in a cookie mode without a
    /// store, where a signed cookie cannot be taken back.
    pub async fn revoke_others(&self) -> Result<u64, Error> {
        let engine = self.engine();
        mode::check_revocable(engine)?;
        let mut state = self.loaded().await?;
        mode::revoke_others(engine, &mut state)
            .await
            .map_err(|e| engine.report(e))
    }

    async fn user_and_key(&self) -> Result<(Option<String>, Option<StoreKey>), Error> {
        let state = self.loaded().await?;
        Ok(match state.live_record() {
            Some(record) => (record.user.clone(), Some(record.key)),
            None => (None, None),
        })
    }
}
