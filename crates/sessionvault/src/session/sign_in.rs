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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// session.insert("cart", 3).await?;
    /// session.cycle_id().await?;
    /// // The response sets a new cookie; the data goes with it.
    /// assert!(session.commit().await?.is_some());
    /// assert_eq!(session.get::<u32>("cart").await?, Some(3));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// session.login("alice").await?;
    /// assert_eq!(session.user().await?.as_deref(), Some("alice"));
    /// assert!(session.commit().await?.is_some(), "a new ID, in a new cookie");
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// session.login("alice").await?;
    /// session.logout().await?;
    /// assert_eq!(session.user().await?, None);
    /// let clear = session.commit().await?.ok_or("the cookie is cleared")?;
    /// assert!(clear.contains("Max-Age=0"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn logout(&self) -> Result<(), Error> {
        self.destroy().await
    }

    /// Ends the session and clears the cookie; see [`Session::logout`].
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// session.insert("a", 1).await?;
    /// session.destroy().await?;
    /// assert!(session.is_empty().await?);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// assert_eq!(session.user().await?, None);
    /// session.login("alice").await?;
    /// assert_eq!(session.user().await?.as_deref(), Some("alice"));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// use jiff::SignedDuration;
    ///
    /// assert_eq!(session.auth_age().await?, None);
    /// session.login("alice").await?;
    /// assert_eq!(session.auth_age().await?, Some(SignedDuration::ZERO));
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// assert_eq!(session.deadlines().await?, None, "no session yet");
    /// session.insert("a", 1).await?;
    /// session.commit().await?;
    /// let deadlines = session.deadlines().await?.ok_or("saved")?;
    /// assert!(deadlines.created < deadlines.idle && deadlines.idle <= deadlines.absolute);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// session.login("alice").await?;
    /// session.commit().await?;
    /// let devices = session.devices().await?;
    /// assert_eq!(devices.len(), 1);
    /// assert!(devices[0].current);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// // Alice signs in on her phone, then here, and ends the phone's session from here.
    /// let phone = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// phone.login("alice").await?;
    /// phone.commit().await?;
    /// session.login("alice").await?;
    /// session.commit().await?;
    /// let other = session.devices().await?.into_iter().find(|d| !d.current).ok_or("two")?;
    /// assert!(session.revoke_device(&other.handle).await?);
    /// assert_eq!(session.devices().await?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sessionvault::{Keyring, RequestMeta, SessionManager, cookie::IncomingCookie};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let manager = SessionManager::builder(Keyring::generate()?)
    /// #     .with_store(sessionvault::store::MemoryStore::new())
    /// #     .build()?;
    /// # let session = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// let laptop = manager.session(IncomingCookie::Absent, RequestMeta::default());
    /// laptop.login("alice").await?;
    /// laptop.commit().await?;
    /// session.login("alice").await?;
    /// session.commit().await?;
    /// assert_eq!(session.revoke_others().await?, 1, "the laptop is signed out");
    /// # Ok(())
    /// # }
    /// ```
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
