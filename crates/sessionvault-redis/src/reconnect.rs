//! One multiplexed connection, made again after it is lost: to one server, or to the master a
//! set of Sentinels names.
//!
//! When a command on it fails in a way that says the server is gone (an I/O error, a dropped
//! connection, a timeout) or, behind Sentinels, is no longer the master (`READONLY`), the
//! connection is forgotten and the next command makes a new one, asking the Sentinels again
//! first where there are any. Until the server is back, or the Sentinels have promoted a
//! replica, each command fails fast (connection refused) and the request gets a 503.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, RedisResult};

use crate::cork;
use crate::sentinel::is_read_only;
use crate::store::TIMEOUT;

/// Where a new connection goes.
pub(crate) enum Source {
    /// One server.
    Server(redis::Client),
    /// The master these Sentinels name now.
    Sentinel(SentinelClient),
}

/// The connection to a [`Source`], and what it takes to make the next one.
pub(crate) struct Reconnecting {
    /// Held while a connection is made: one request connects, the others wait for it.
    source: tokio::sync::Mutex<Source>,
    /// The connection and a number that tells one connection from the next, so a failure seen
    /// on an old connection does not throw away a newer one.
    current: Mutex<Option<(u64, cork::Multiplexed)>>,
    generation: AtomicU64,
    config: AsyncConnectionConfig,
    /// Whether `source` is Sentinels, known without taking its lock.
    sentinel: bool,
}

impl Reconnecting {
    pub(crate) fn new(source: Source) -> Self {
        Self {
            sentinel: matches!(source, Source::Sentinel(_)),
            source: tokio::sync::Mutex::new(source),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT)),
        }
    }

    /// Whether the Sentinels name the server.
    pub(crate) fn is_sentinel(&self) -> bool {
        self.sentinel
    }

    fn cached(&self) -> Option<(u64, cork::Multiplexed)> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The connection, made when there is none. A caller waits no longer than [`TIMEOUT`] in
    /// all, the wait for another's attempt included.
    pub(crate) async fn connection(&self) -> RedisResult<(u64, cork::Multiplexed)> {
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let what = if self.sentinel {
            "no master found in time"
        } else {
            "no connection made in time"
        };
        tokio::time::timeout(TIMEOUT, self.connect())
            .await
            .map_err(|_| RedisError::from((ErrorKind::Io, what)))?
    }

    async fn connect(&self) -> RedisResult<(u64, cork::Multiplexed)> {
        let mut source = self.source.lock().await;
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let client = match &mut *source {
            Source::Server(client) => client.clone(),
            Source::Sentinel(sentinels) => sentinels.async_get_client().await?,
        };
        let connection = cork::connect(&client, &self.config).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((generation, connection.clone()));
        Ok((generation, connection))
    }

    /// Called with every failed command's error: forgets the connection it ran on when the
    /// error means the server is gone or, behind Sentinels, no longer the master.
    pub(crate) fn failed(&self, generation: u64, error: &RedisError) {
        if !(connection_lost(error) || self.sentinel && is_read_only(error)) {
            return;
        }
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
    }
}

fn connection_lost(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}
