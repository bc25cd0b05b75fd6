//! The native half of the `sessionvault` Python package (`sessionvault._native`): the
//! sessionvault engine driven from Python. The Flask integration (`sessionvault.flask`) is
//! pure Python on top of it; see docs/FLASK.md.
//!
//! Every store call and every conversion worth it runs with the interpreter released
//! (`Python::detach`), on a current-thread Tokio runtime made lazily per process and driven by
//! the waiting thread. Panics never reach Python as `PanicException`: they come back as
//! `sessionvault.SessionVaultError`.

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
    // Debug builds only (the ones `./scripts/test.sh` tests): proves that a panic comes back
    // as `SessionVaultError`, never as `PanicException`.
    #[cfg(debug_assertions)]
    module.add_function(wrap_pyfunction!(panic_for_tests, module)?)?;
    Ok(())
}

/// Panics inside the guard every native method runs under. Debug builds only.
#[cfg(debug_assertions)]
#[pyfunction]
#[pyo3(name = "_panic_for_tests")]
fn panic_for_tests() -> PyResult<()> {
    runtime::guard(|| -> PyResult<()> {
        let empty: Vec<u8> = Vec::new();
        // Out of bounds on purpose: the kind of panic a slip in the binding would make.
        let _ = empty[usize::from(empty.is_empty())];
        Ok(())
    })
}
