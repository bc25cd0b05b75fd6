//! `Handle`: the session of one request, as the Flask session object drives it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;
use sessionvault::cookie::IncomingCookie;
use sessionvault::{RequestMeta, Session};

use crate::convert::{from_tagged, to_tagged};
use crate::errors;
use crate::manager::{Engine, session_infos};
use crate::runtime::{ProcessLocal, block_on};

/// Keys the engine and its framework layers keep in the session for themselves (the CSRF
/// secret, cookie-mode metadata): never shown to the application, never written by it.
pub(crate) const INTERNAL_KEYS: [&str; 2] = ["_csrf", "_sessionvault"];

fn is_internal(key: &str) -> bool {
    INTERNAL_KEYS.contains(&key)
}

struct State {
    session: Session,
    /// The cookie value that named the session, while it is still the session's ID.
    incoming: Option<String>,
    /// A Flask signed cookie to move into the session, if the request has none.
    legacy: Option<String>,
    /// The application's keys as loaded (or as last saved), in tagged JSON: changes are found
    /// by comparing with these.
    baseline: Option<BTreeMap<String, Value>>,
    is_new: bool,
    /// The session the cookie named was ended during this request (logout): unless a new one
    /// replaces it, the response clears the cookie.
    ended: bool,
}

/// The session of one request.
#[pyclass(frozen, module = "sessionvault._native")]
pub(crate) struct Handle {
    engine: ProcessLocal<Arc<Engine>>,
    meta: RequestMeta,
    state: Mutex<State>,
}

impl Handle {
    pub(crate) fn new(
        engine: Arc<Engine>,
        session: Session,
        meta: RequestMeta,
        incoming: Option<String>,
        legacy: Option<String>,
    ) -> Self {
        Self {
            engine: ProcessLocal::new(engine),
            meta,
            state: Mutex::new(State {
                session,
                incoming,
                legacy,
                baseline: None,
                is_new: true,
                ended: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The engine session, checked to belong to this process.
    fn session(&self) -> PyResult<Session> {
        self.engine.get()?;
        Ok(self.state().session.clone())
    }
}

/// What the response does with the cookie: `keep`, `set` or `clear`.
fn cookie_action(header: Option<&str>) -> (&'static str, Option<String>) {
    let Some(header) = header else {
        return ("keep", None);
    };
    let value = header
        .split_once('=')
        .map(|(_, rest)| rest.split(';').next().unwrap_or_default())
        .unwrap_or_default();
    if value.is_empty() {
        ("clear", None)
    } else {
        ("set", Some(value.to_owned()))
    }
}

#[pymethods]
impl Handle {
    /// Loads the session: returns its keys as a dict, and whether it is new. A legacy Flask
    /// cookie is moved in here when the request named no live session; its keys come back
    /// as unsaved changes, saved by the next `save`.
    fn load<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyDict>, bool, bool)> {
        crate::runtime::guard(|| {
            let engine = Arc::clone(self.engine.get()?);
            let session = self.session()?;
            let legacy = self.state().legacy.take();
            let (entries, existing, moved) = block_on(py, async move {
                let entries = session.entries().await.map_err(errors::from_core)?;
                let existing = session
                    .deadlines()
                    .await
                    .map_err(errors::from_core)?
                    .is_some();
                let moved = match legacy.filter(|_| !existing) {
                    Some(cookie) => legacy_entries(&engine, &cookie),
                    None => None,
                };
                Ok((entries, existing, moved))
            })?;
            let baseline: BTreeMap<String, Value> = entries
                .into_iter()
                .filter(|(k, _)| !is_internal(k))
                .collect();
            let dict = PyDict::new(py);
            for (k, v) in baseline.iter().chain(moved.iter().flatten()) {
                if !is_internal(k) {
                    dict.set_item(k, from_tagged(py, v)?)?;
                }
            }
            let mut state = self.state();
            state.baseline = Some(baseline);
            state.is_new = !existing;
            Ok((dict, !existing, moved.is_some()))
        })
    }

    /// Saves what changed: each key of `data` compared with what was loaded (only the keys in
    /// `exposed`, when given: the others were never handed out, so cannot have changed), and
    /// the keys that are gone. Returns whether anything changed.
    #[pyo3(signature = (data, exposed=None))]
    fn save(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyDict>,
        exposed: Option<Vec<String>>,
    ) -> PyResult<bool> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            let Some(mut baseline) = self.state().baseline.take() else {
                return Ok(false);
            };
            let mut changes: Vec<(String, Option<Value>)> = Vec::new();
            let mut present = 0usize;
            let result = (|| -> PyResult<()> {
                for (k, v) in data.iter() {
                    let key = k.cast::<PyString>()?.to_cow()?;
                    let key: &str = &key;
                    if is_internal(key) {
                        continue;
                    }
                    if baseline.contains_key(key) {
                        present += 1;
                        if let Some(exposed) = &exposed
                            && !exposed.iter().any(|e| e == key)
                        {
                            continue;
                        }
                    }
                    let tagged = to_tagged(key, &v)?;
                    if baseline.get(key) != Some(&tagged) {
                        changes.push((key.to_owned(), Some(tagged)));
                    }
                }
                if present < baseline.len() {
                    for key in baseline.keys() {
                        if !data.contains(key)? {
                            changes.push((key.clone(), None));
                        }
                    }
                }
                Ok(())
            })();
            if let Err(error) = result {
                self.state().baseline = Some(baseline);
                return Err(error);
            }
            if changes.is_empty() {
                self.state().baseline = Some(baseline);
                return Ok(false);
            }
            let pushed = changes.clone();
            let applied = block_on(py, async move {
                for (key, value) in pushed {
                    match value {
                        Some(value) => session.insert(&key, value).await,
                        None => session.remove(&key).await,
                    }
                    .map_err(errors::from_core)?;
                }
                Ok(())
            });
            for (key, value) in changes {
                match value {
                    Some(value) => baseline.insert(key, value),
                    None => baseline.remove(&key),
                };
            }
            self.state().baseline = Some(baseline);
            applied.map(|()| true)
        })
    }

    /// Saves the session and says what to do with the cookie: `(action, value)`, the action
    /// `keep`, `set` or `clear`, and the value the cookie holds from now on (`None` when there
    /// is no session). With `end`, the session is ended (it was emptied).
    #[pyo3(signature = (end=false))]
    fn commit(&self, py: Python<'_>, end: bool) -> PyResult<(&'static str, Option<String>)> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            // A request that changed nothing commits without the store: no wait at all.
            let ready = if end { None } else { session.try_commit() };
            let header = match ready {
                Some(done) => done.map_err(errors::from_core)?,
                None => block_on(py, async move {
                    if end {
                        session.logout().await.map_err(errors::from_core)?;
                    }
                    session.commit().await.map_err(errors::from_core)
                })?,
            };
            let (action, value) = cookie_action(header.as_deref());
            let mut state = self.state();
            Ok(match (action, value) {
                ("set", Some(value)) => {
                    state.incoming = Some(value.clone());
                    state.is_new = false;
                    ("set", Some(value))
                }
                ("keep", _) if state.ended || end => ("clear", None),
                ("keep", _) if !state.is_new => ("keep", state.incoming.clone()),
                (action, _) => (action, None),
            })
        })
    }

    /// Gives the session a new ID at the end of the request, keeping its data.
    fn regenerate(&self, py: Python<'_>) -> PyResult<()> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            block_on(py, async move {
                session.cycle_id().await.map_err(errors::from_core)
            })
        })
    }

    /// Signs `user_id` in: new ID, user bound, sign-in time recorded.
    fn login(&self, py: Python<'_>, user_id: String) -> PyResult<()> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            block_on(py, async move {
                session.login(&user_id).await.map_err(errors::from_core)
            })
        })
    }

    /// Ends the session now (a tombstone: no request in flight can bring it back). Whatever
    /// the request stores afterwards goes into a new session.
    fn logout(&self, py: Python<'_>) -> PyResult<()> {
        crate::runtime::guard(|| {
            let engine = Arc::clone(self.engine.get()?);
            let session = self.session()?;
            block_on(py, async move {
                session.logout().await.map_err(errors::from_core)?;
                session.commit().await.map_err(errors::from_core)
            })?;
            let mut state = self.state();
            state.session = engine
                .manager
                .session(IncomingCookie::Absent, self.meta.clone());
            state.baseline = Some(BTreeMap::new());
            state.incoming = None;
            state.is_new = true;
            state.ended = true;
            Ok(())
        })
    }

    /// The signed-in user, if any.
    fn user(&self, py: Python<'_>) -> PyResult<Option<String>> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            block_on(py, async move {
                session.user().await.map_err(errors::from_core)
            })
        })
    }

    /// Seconds since the user signed in; `None` when nobody is signed in.
    fn auth_age(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            let age = block_on(py, async move {
                session.auth_age().await.map_err(errors::from_core)
            })?;
            Ok(age.map(|a| a.as_secs_f64()))
        })
    }

    /// The signed-in user's live sessions, this one marked `current`.
    fn devices<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            let found = block_on(py, async move {
                session.devices().await.map_err(errors::from_core)
            })?;
            session_infos(py, &found)
        })
    }

    /// Ends one of the signed-in user's own sessions; `False` when the handle is not theirs.
    fn revoke_device(&self, py: Python<'_>, handle: String) -> PyResult<bool> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            block_on(py, async move {
                session
                    .revoke_device(&handle)
                    .await
                    .map_err(errors::from_core)
            })
        })
    }

    /// Ends the signed-in user's other sessions; returns how many.
    fn revoke_others(&self, py: Python<'_>) -> PyResult<u64> {
        crate::runtime::guard(|| {
            let session = self.session()?;
            block_on(py, async move {
                session.revoke_others().await.map_err(errors::from_core)
            })
        })
    }

    /// Read-modify-write of `key`, saved at once: `function` gets the current value (`None`
    /// when absent) and returns the new one; when another request saved first it runs again
    /// on the fresh value. An exception from `function` stops the update, nothing is saved,
    /// and the exception propagates. Returns the value saved.
    fn update<'py>(
        &self,
        py: Python<'py>,
        key: String,
        function: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::runtime::guard(|| {
            if is_internal(&key) {
                return Err(pyo3::exceptions::PyKeyError::new_err(format!(
                    "{key:?} is kept by sessionvault itself"
                )));
            }
            let session = self.session()?;
            let name = key.clone();
            let saved = block_on(py, async move {
                let run = |current: Option<Value>| -> PyResult<Value> {
                    Python::attach(|py| {
                        let current = match current {
                            Some(value) => from_tagged(py, &value)?,
                            None => py.None().into_bound(py),
                        };
                        let new = function.bind(py).call1((current,))?;
                        to_tagged(&name, &new)
                    })
                };
                match session.try_update_value(&name, run).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(raised)) => Err(raised),
                    Err(error) => Err(errors::from_core(error)),
                }
            })?;
            let value = from_tagged(py, &saved)?;
            if let Some(baseline) = self.state().baseline.as_mut() {
                baseline.insert(key, saved);
            }
            Ok(value)
        })
    }
}

/// The keys of a legacy Flask cookie that verifies (under the current key or a fallback, and
/// within its maximum age), in tagged JSON; `None` for one that does not, which is ignored as
/// Flask ignores it.
fn legacy_entries(engine: &Engine, cookie: &str) -> Option<BTreeMap<String, Value>> {
    let verified = engine.legacy.verify(cookie).ok()?;
    serde_json::from_str::<BTreeMap<String, Value>>(verified.raw_json()).ok()
}
