//! The core's errors as the Python exceptions of `sessionvault.errors`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use sessionvault::Error;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// An instance of the exception class `name` of `sessionvault.errors`.
pub(crate) fn new_error(name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let made = MODULE
            .get_or_try_init(py, || py.import("sessionvault.errors").map(Bound::unbind))
            .and_then(|module| module.bind(py).getattr(name))
            .and_then(|class| class.call1((message.clone(),)));
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

/// The exception for a core error. Unknown variants (the enum is non-exhaustive) become
/// `SessionVaultError` with the core's message, which never holds a secret or a session ID.
pub(crate) fn from_core(error: Error) -> PyErr {
    let class = match &error {
        Error::Store(_) => "StoreUnavailable",
        Error::Conflict | Error::IdChanged => "Conflict",
        Error::SessionEnded => "SessionEnded",
        Error::TooLarge { .. } | Error::SessionTooLarge { .. } => "SessionTooLarge",
        Error::WeakSecret(_) => "WeakSecret",
        Error::Config(_) => "ConfigError",
        Error::Throttled => "Throttled",
        _ => "SessionVaultError",
    };
    new_error(class, error.to_string())
}

/// The exception for a Redis URL that is malformed (`ConfigError`) or whose servers do not
/// answer (`StoreUnavailable`). The message never holds the URL's password.
pub(crate) fn from_redis_connect(error: sessionvault_redis::ConnectError) -> PyErr {
    let class = if error.is_invalid_url() {
        "ConfigError"
    } else {
        "StoreUnavailable"
    };
    new_error(class, error.to_string())
}

/// The exception for a store that failed to open or answer.
pub(crate) fn from_store(error: sessionvault::store::StoreError) -> PyErr {
    from_core(Error::Store(error))
}
