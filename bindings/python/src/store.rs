//! `Store`: a session store opened from a URL.

use std::sync::Arc;

use pyo3::prelude::*;
use sessionvault::store::{MemoryStore, SessionStore};
use sessionvault_redis::RedisStore;
use sessionvault_sqlx::{PgStore, SqliteStore};

use crate::errors;
use crate::runtime::{ProcessLocal, block_on};

/// A session store, shared by the managers built on it. Tied to the process that opened it.
#[pyclass(frozen, module = "sessionvault._native")]
pub(crate) struct Store {
    pub(crate) inner: ProcessLocal<Arc<dyn SessionStore>>,
}

#[pymethods]
impl Store {
    /// Opens `url`: `memory`, `sqlite:PATH`, `postgres://...` / `postgresql://...`, or any
    /// `redis...` URL (`redis://`, `rediss://`, `redis-cluster://`, ...), which the Redis
    /// store reads as it is.
    #[staticmethod]
    fn open(py: Python<'_>, url: String) -> PyResult<Self> {
        let store: Arc<dyn SessionStore> = if url == "memory" {
            Arc::new(MemoryStore::new())
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.to_owned();
            Arc::new(block_on(py, async move {
                SqliteStore::open(&path).await.map_err(errors::from_store)
            })?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(block_on(py, async move {
                PgStore::connect(&url).await.map_err(errors::from_store)
            })?)
        } else if url.starts_with("redis") {
            Arc::new(block_on(py, async move {
                RedisStore::connect(&url)
                    .await
                    .map_err(errors::from_redis_connect)
            })?)
        } else {
            return Err(errors::new_error(
                "ConfigError",
                format!(
                    "unsupported session store {url:?}: use memory, sqlite:PATH, \
                     postgres://..., redis://..., rediss://..., redis-cluster://... or \
                     redis+sentinel://..."
                ),
            ));
        };
        Ok(Self {
            inner: ProcessLocal::new(store),
        })
    }
}
