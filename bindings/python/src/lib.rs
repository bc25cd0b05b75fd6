//! The native half of the `sessionvault` Python package (`sessionvault._native`): the
//! sessionvault engine driven from Python. The Flask integration (`sessionvault.flask`) is
//! pure Python on top of it; see docs/FLASK.md.
//!
//! Every store call and every conversion worth it runs with the interpreter released
//! (`Python::detach`), on a Tokio runtime made lazily per process. Panics never reach Python
//! as `PanicException`: they come back as `sessionvault.SessionVaultError`.

mod convert;
mod errors;
mod handle;
mod manager;
mod runtime;
mod store;

use pyo3::prelude::*;

/// The module: `Store`, `Manager`, `Handle` and the internal key names.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<store::Store>()?;
    module.add_class::<manager::Manager>()?;
    module.add_class::<handle::Handle>()?;
    module.add_function(wrap_pyfunction!(manager::keyring_problem, module)?)?;
    module.add("INTERNAL_KEYS", handle::INTERNAL_KEYS.to_vec())?;
    Ok(())
}
