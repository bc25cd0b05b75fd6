//! `Manager`: one application's session engine (keyring, store, timeouts, cookie name).

use std::net::IpAddr;
use std::sync::Arc;

use jiff::SignedDuration;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sessionvault::SameSite;
use sessionvault::cookie::IncomingCookie;
use sessionvault::flask::FlaskCodec;
use sessionvault::http::HeaderValue;
use sessionvault::{
    CookieConfig, CookieMode, Keyring, RequestMeta, SessionConfig, SessionInfo, SessionManager,
};

use crate::errors;
use crate::handle::Handle;
use crate::runtime::{ProcessLocal, block_on};
use crate::store::Store;

/// The engine and what a request needs besides it.
pub(crate) struct Engine {
    pub(crate) manager: SessionManager,
    /// Reads the legacy Flask cookies that are moved into server-side sessions.
    pub(crate) legacy: FlaskCodec,
}

/// One application's sessions: the engine built from its configuration.
#[pyclass(frozen, module = "sessionvault._native")]
pub(crate) struct Manager {
    pub(crate) inner: ProcessLocal<Arc<Engine>>,
}

fn duration(seconds: f64, what: &str) -> PyResult<SignedDuration> {
    if !(seconds.is_finite() && seconds >= 1.0) {
        return Err(errors::new_error(
            "ConfigError",
            format!("{what} must be at least one second, not {seconds}"),
        ));
    }
    SignedDuration::try_from_secs_f64(seconds)
        .map_err(|_| errors::new_error("ConfigError", format!("{what} is out of range")))
}

/// The keyring from Flask's keys; with `allow_weak`, a weak key is accepted and the keyring's
/// refusal is returned as a warning instead.
fn keyring(
    secret: &[u8],
    fallbacks: &[Vec<u8>],
    allow_weak: bool,
) -> PyResult<(Keyring, Option<String>)> {
    let checked = Keyring::new(secret).and_then(|ring| {
        fallbacks
            .iter()
            .try_fold(ring, |ring, fallback| ring.with_fallback(fallback))
    });
    match checked {
        Ok(ring) => Ok((ring, None)),
        Err(error) if allow_weak => Ok((
            Keyring::danger_legacy_unchecked(secret, fallbacks),
            Some(error.to_string()),
        )),
        Err(error) => Err(errors::from_core(error)),
    }
}

#[pymethods]
impl Manager {
    /// Builds the engine. `fallbacks` are newest first. Returns the manager and, when
    /// `allow_weak` let a weak key through, the keyring's message about it.
    #[staticmethod]
    #[pyo3(signature = (store, secret, fallbacks, *, allow_weak, mode, idle_timeout,
        absolute_timeout, cookie_name, secure, same_site, legacy_max_age))]
    #[allow(clippy::too_many_arguments)] // One keyword argument per configuration key.
    fn build(
        store: &Store,
        secret: Vec<u8>,
        fallbacks: Vec<Vec<u8>>,
        allow_weak: bool,
        mode: &str,
        idle_timeout: f64,
        absolute_timeout: f64,
        cookie_name: String,
        secure: bool,
        same_site: Option<&str>,
        legacy_max_age: u64,
    ) -> PyResult<(Self, Option<String>)> {
        crate::runtime::guard(|| {
            let (keyring, warning) = keyring(&secret, &fallbacks, allow_weak)?;
            let mode = match mode {
                "server" => CookieMode::Server,
                "sealed" => CookieMode::Sealed,
                other => {
                    return Err(errors::new_error(
                        "ConfigError",
                        format!(
                            "SESSIONVAULT_COOKIE_MODE must be 'server' or 'sealed', not {other:?}"
                        ),
                    ));
                }
            };
            let same_site = match same_site.map(str::to_ascii_lowercase).as_deref() {
                Some("strict") => SameSite::Strict,
                Some("none") => SameSite::None,
                _ => SameSite::Lax,
            };
            let cookie = if secure {
                CookieConfig::default()
            } else {
                CookieConfig::dangerous_insecure_dev()
            }
            .with_name(cookie_name)
            .with_same_site(same_site);
            let config = SessionConfig::default()
                .with_idle_timeout(duration(idle_timeout, "SESSIONVAULT_IDLE_TIMEOUT")?)
                .with_absolute_timeout(duration(absolute_timeout, "SESSIONVAULT_ABSOLUTE_TIMEOUT")?)
                .with_cookie(cookie);
            let manager = SessionManager::builder(keyring.clone())
                .with_shared_store(Arc::clone(store.inner.get()?))
                .with_mode(mode)
                .with_config(config)
                .build()
                .map_err(errors::from_core)?;
            let legacy = FlaskCodec::new(keyring).with_max_age(Some(legacy_max_age));
            Ok((
                Self {
                    inner: ProcessLocal::new(Arc::new(Engine { manager, legacy })),
                },
                warning,
            ))
        })
    }

    /// The session of one request: `cookie` is the session cookie's value (`None` when
    /// absent, or when several were sent), `legacy` a Flask signed cookie to move in when the
    /// request has no session. Nothing is loaded until the session is used.
    #[pyo3(signature = (cookie, legacy, user_agent, ip, duplicate=false))]
    fn session(
        &self,
        cookie: Option<String>,
        legacy: Option<String>,
        user_agent: Option<&str>,
        ip: Option<&str>,
        duplicate: bool,
    ) -> PyResult<Handle> {
        crate::runtime::guard(|| {
            let engine = Arc::clone(self.inner.get()?);
            let incoming = match (&cookie, duplicate) {
                (_, true) => IncomingCookie::Duplicate,
                (Some(value), false) => IncomingCookie::One(value.as_str().into()),
                (None, false) => IncomingCookie::Absent,
            };
            let meta = RequestMeta {
                user_agent: user_agent.and_then(|ua| HeaderValue::from_str(ua).ok()),
                ip: ip.and_then(|ip| ip.parse::<IpAddr>().ok()),
            };
            let session = engine.manager.session(incoming, meta.clone());
            Ok(Handle::new(engine, session, meta, cookie, legacy))
        })
    }

    /// The user's live sessions, most recent first.
    fn sessions_for_user<'py>(
        &self,
        py: Python<'py>,
        user_id: String,
    ) -> PyResult<Bound<'py, PyList>> {
        crate::runtime::guard(|| {
            let engine = Arc::clone(self.inner.get()?);
            let found = block_on(py, async move {
                engine
                    .manager
                    .sessions_for_user(&user_id)
                    .await
                    .map_err(errors::from_core)
            })?;
            session_infos(py, &found)
        })
    }

    /// Ends every session of the user but the one with handle `except_handle`; returns how
    /// many ended.
    #[pyo3(signature = (user_id, except_handle=None))]
    fn revoke_all_for_user(
        &self,
        py: Python<'_>,
        user_id: String,
        except_handle: Option<String>,
    ) -> PyResult<u64> {
        crate::runtime::guard(|| {
            let engine = Arc::clone(self.inner.get()?);
            block_on(py, async move {
                engine
                    .manager
                    .revoke_all_for_user(&user_id, except_handle.as_deref())
                    .await
                    .map_err(errors::from_core)
            })
        })
    }

    /// Ends the session with this handle, whoever owns it.
    fn revoke(&self, py: Python<'_>, handle: String) -> PyResult<bool> {
        crate::runtime::guard(|| {
            let engine = Arc::clone(self.inner.get()?);
            block_on(py, async move {
                engine
                    .manager
                    .revoke(&handle)
                    .await
                    .map_err(errors::from_core)
            })
        })
    }
}

/// The devices list as Python dicts.
pub(crate) fn session_infos<'py>(
    py: Python<'py>,
    infos: &[SessionInfo],
) -> PyResult<Bound<'py, PyList>> {
    let datetime = py.import("datetime")?;
    let from_ts = datetime.getattr("datetime")?.getattr("fromtimestamp")?;
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    let list = PyList::empty(py);
    for info in infos {
        let item = PyDict::new(py);
        item.set_item("handle", &info.handle)?;
        item.set_item(
            "created",
            from_ts.call1((info.created.as_millisecond() as f64 / 1000.0, &utc))?,
        )?;
        item.set_item(
            "last_seen",
            from_ts.call1((info.last_seen.as_millisecond() as f64 / 1000.0, &utc))?,
        )?;
        item.set_item("user_agent", &info.user_agent)?;
        item.set_item("ip", &info.ip)?;
        item.set_item("current", info.current)?;
        list.append(item)?;
    }
    Ok(list)
}

/// Why `secret` or one of `fallbacks` is too weak to protect sessions, or `None` when the
/// keyring accepts them.
#[pyfunction]
pub(crate) fn keyring_problem(
    secret: Vec<u8>,
    fallbacks: Vec<Vec<u8>>,
) -> PyResult<Option<String>> {
    crate::runtime::guard(|| {
        Ok(Keyring::new(&secret)
            .and_then(|ring| {
                fallbacks
                    .iter()
                    .try_fold(ring, |ring, fallback| ring.with_fallback(fallback))
            })
            .err()
            .map(|error| error.to_string()))
    })
}
