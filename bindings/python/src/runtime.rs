//! The per-process Tokio runtime, and values that must not outlive the process that made them.
//!
//! Nothing here runs at import. The runtime is made on first use in each process: after
//! `fork()` the child has none of the parent's threads, so a runtime (or a connection pool
//! driven by one) inherited from the parent would hang or crash if used, and could do the same
//! when dropped. Such values are leaked instead: never used, never dropped.
//!
//! The runtime is a current-thread one, driven by whichever Python thread is waiting on it: a
//! store call is a request and its reply on one socket, and handing each to a worker thread
//! and back cost more CPU (wake-ups on both sides) than the call itself. Threads that call at
//! once share it: one drives the sockets and timers while the others wait for their reply or
//! for their turn to drive (Tokio's `block_on` from several threads), so tasks the store
//! spawned (a connection's reader) run whenever any thread waits.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;

use crate::errors;

/// This process's runtime, with the ID of the process that made it.
static RUNTIME: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);

/// The runtime of the calling process, made on first use. Runtimes are leaked on purpose: one
/// made before a `fork()` belongs to threads the child does not have.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, runtime)) = *slot
        && owner == pid
    {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_name("sessionvault")
        .enable_all()
        .build()
        .map_err(|e| errors::new_error("SessionVaultError", format!("cannot start: {e}")))?;
    let runtime: &'static _ = Box::leak(Box::new(runtime));
    *slot = Some((pid, runtime));
    Ok(runtime)
}

/// Runs `future` to completion with the interpreter released, so that other Python threads
/// run meanwhile. A panic comes back as `SessionVaultError`, never as a `PanicException`.
pub(crate) fn block_on<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    let runtime = runtime()?;
    py.detach(|| guard(|| runtime.block_on(future)))
}

/// Calls `f`, turning a panic into `SessionVaultError`.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(errors::new_error(
                "SessionVaultError",
                format!("internal error: {what}"),
            ))
        }
    }
}

/// A value tied to the process that made it. In that process it is used and dropped as usual;
/// in a forked child it is refused, and leaked when Python lets go of it.
pub(crate) struct ProcessLocal<T> {
    pid: u32,
    value: Option<T>,
}

impl<T> ProcessLocal<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            pid: std::process::id(),
            value: Some(value),
        }
    }

    /// The value, in the process that made it.
    ///
    /// # Errors
    ///
    /// `SessionVaultError` in a forked child.
    pub(crate) fn get(&self) -> PyResult<&T> {
        match &self.value {
            Some(value) if self.pid == std::process::id() => Ok(value),
            _ => Err(errors::new_error(
                "SessionVaultError",
                "this object was made before the process forked and cannot be used in the child; \
                 sessionvault.flask makes a new one per process",
            )),
        }
    }
}

impl<T> Drop for ProcessLocal<T> {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            // Its runtime and connections live in the parent: dropping could block or close
            // the parent's sockets.
            std::mem::forget(self.value.take());
        }
    }
}
