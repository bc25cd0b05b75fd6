//! What handlers read and write in a [`Session`]: values by key, and read-modify-write.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::handle::Session;
use super::mode;
use super::state::Change;
use crate::Error;

impl Session {
    /// The value under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when loading fails; [`Error::ValueType`] when the value is not a `T`.
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
    /// session.insert("theme", "dark").await?;
    /// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
    /// assert_eq!(session.get::<String>("missing").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.loaded().await?;
        // Read in place, without a copy of the stored value.
        state
            .lookup(key)
            .map(|v| T::deserialize(v).map_err(|_| Error::ValueType { key: key.into() }))
            .transpose()
    }

    /// The JSON value under `key`, if any.
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
    /// session.insert("cart", vec![3, 5]).await?;
    /// assert_eq!(session.get_value("cart").await?, Some(serde_json::json!([3, 5])));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_value(&self, key: &str) -> Result<Option<serde_json::Value>, Error> {
        Ok(self.loaded().await?.lookup(key).cloned())
    }

    /// Every key and value, as this request sees them (the stored session with this request's
    /// writes applied): for bindings that hand the whole session to another language.
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
    /// session.insert("b", "two").await?;
    /// let entries = session.entries().await?;
    /// assert_eq!(entries.keys().collect::<Vec<_>>(), ["a", "b"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn entries(&self) -> Result<BTreeMap<String, serde_json::Value>, Error> {
        Ok(self.loaded().await?.view())
    }

    /// How many keys the session holds.
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
    /// assert_eq!(session.len().await?, 0);
    /// session.insert("a", 1).await?;
    /// assert_eq!(session.len().await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn len(&self) -> Result<usize, Error> {
        Ok(self.loaded().await?.view().len())
    }

    /// True when the session holds no keys.
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
    /// assert!(session.is_empty().await?);
    /// session.insert("a", 1).await?;
    /// assert!(!session.is_empty().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len().await? == 0)
    }

    /// Sets `key` (saved after the handler). Concurrent writes to the same key: the later
    /// save wins. The size limit is checked when the session is saved (see
    /// [`Session::commit`]).
    ///
    /// # Errors
    ///
    /// [`Error::ValueType`] when the value cannot be serialized; [`Error::Store`] when loading
    /// fails.
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
    /// session.insert("visits", 1).await?;
    /// assert_eq!(session.get::<u32>("visits").await?, Some(1));
    /// // Saved after the handler: the response sets the cookie that names the new session.
    /// assert!(session.commit().await?.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let value =
            serde_json::to_value(value).map_err(|_| Error::ValueType { key: key.into() })?;
        self.record(Change::Set(key.into(), value)).await
    }

    /// Removes `key` (saved after the handler).
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
    /// session.insert("flash", "Saved!").await?;
    /// session.remove("flash").await?;
    /// assert_eq!(session.get::<String>("flash").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn remove(&self, key: &str) -> Result<(), Error> {
        self.record(Change::Remove(key.into())).await
    }

    /// Removes every key, keeping the session and its sign-in.
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
    /// session.insert("a", 1).await?;
    /// session.clear().await?;
    /// assert!(session.is_empty().await?);
    /// assert_eq!(session.user().await?.as_deref(), Some("alice"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn clear(&self) -> Result<(), Error> {
        self.record(Change::Clear).await
    }

    async fn record(&self, change: Change) -> Result<(), Error> {
        self.loaded().await?.changes.push(change);
        Ok(())
    }

    /// Read-modify-write of one key, saved at once: `f` gets the current value and returns the
    /// new one. When another request saved first, `f` runs again on the fresh value, so
    /// concurrent increments all count. Returns the value that was saved. Updates of one
    /// session queued in one process are applied in order and saved together, each returning
    /// once the save is done; a later one in the queue may already have moved the value on.
    ///
    /// Server mode only. A session held in the cookie ([`CookieMode::Sealed`],
    /// [`CookieMode::Flask`]) cannot merge: parallel requests with one cookie would each answer
    /// with a cookie of their own, the browser would keep the last, and all but one increment
    /// would vanish without a word. So there `update` changes nothing and fails; read with
    /// [`get`](Self::get) and write with [`insert`](Self::insert), whose last-write-wins rule
    /// is the one a cookie can keep.
    ///
    /// # Errors
    ///
    /// [`Error::UpdateNeedsServerMode`] in the cookie modes (before anything is loaded);
    /// [`Error::Conflict`] when the retries run out, [`Error::SessionEnded`] when the session
    /// ended meanwhile, [`Error::IdChanged`] when a sign-in replaced its ID meanwhile,
    /// [`Error::SessionTooLarge`] when the new value would take the session's data past its
    /// limit, [`Error::Store`] when the store fails. In every error case nothing was saved.
    ///
    /// [`CookieMode::Sealed`]: crate::CookieMode::Sealed
    /// [`CookieMode::Flask`]: crate::CookieMode::Flask
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
    /// let n = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    /// assert_eq!(n, 1);
    /// let n = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    /// assert_eq!(n, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync,
    {
        mode::check_update(self.engine())?;
        let typed = |current: Option<serde_json::Value>| -> Result<serde_json::Value, Error> {
            let current = current
                .map(serde_json::from_value::<T>)
                .transpose()
                .map_err(|_| Error::ValueType { key: key.into() })?;
            serde_json::to_value(f(current)).map_err(|_| Error::ValueType { key: key.into() })
        };
        let (mut state, turn) = self.loaded_for_update().await?;
        let engine = self.engine();
        let saved = mode::update(engine, &mut state, (key, &typed), turn)
            .await
            .map_err(|e| engine.report(e))?;
        let value = saved.ok_or(Error::Unreachable("update saved no value"))?;
        serde_json::from_value(value).map_err(|_| Error::ValueType { key: key.into() })
    }

    /// [`update`](Self::update) on JSON values with a function that can fail, for bindings
    /// whose callbacks raise: the first error from `f` stops the update, nothing is saved, and
    /// it comes back as `Ok(Err(e))`. Otherwise returns `Ok(Ok(value))`, the value saved.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), [`Error::UpdateNeedsServerMode`] in the cookie modes
    /// included.
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
    /// use serde_json::{Value, json};
    ///
    /// let next = |n: Option<Value>| match n {
    ///     None => Ok(json!(1)),
    ///     Some(Value::Number(n)) => Ok(json!(n.as_u64().unwrap_or(0) + 1)),
    ///     Some(_) => Err("not a number"),
    /// };
    /// assert_eq!(session.try_update_value("n", next).await?, Ok(json!(1)));
    /// session.insert("word", "hello").await?;
    /// assert_eq!(session.try_update_value("word", next).await?, Err("not a number"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn try_update_value<E, F>(
        &self,
        key: &str,
        f: F,
    ) -> Result<Result<serde_json::Value, E>, Error>
    where
        E: Send,
        F: Fn(Option<serde_json::Value>) -> Result<serde_json::Value, E> + Send + Sync,
    {
        mode::check_update(self.engine())?;
        let failed = std::sync::Mutex::new(None);
        let run = |current: Option<serde_json::Value>| -> Result<serde_json::Value, Error> {
            f(current).map_err(|e| {
                if let Ok(mut slot) = failed.lock() {
                    *slot = Some(e);
                }
                Error::Unreachable("the update function failed")
            })
        };
        let (mut state, turn) = self.loaded_for_update().await?;
        let engine = self.engine();
        let saved = mode::update(engine, &mut state, (key, &run), turn).await;
        if let Some(e) = failed.lock().ok().and_then(|mut slot| slot.take()) {
            return Ok(Err(e));
        }
        let saved = saved.map_err(|e| engine.report(e))?;
        Ok(Ok(saved.ok_or(Error::Unreachable("update saved no value"))?))
    }
}
