//! The master a set of Sentinels points at, followed across failovers.
//!
//! One multiplexed connection to the master is kept. When a command on it fails in a way that
//! says the server is gone or no longer the master (an I/O error, a dropped connection, a
//! timeout, `READONLY`), the connection is forgotten and the next command asks the Sentinels
//! again. The Sentinels keep naming the old master until they have promoted a replica; until
//! then each command fails fast (connection refused) and the request gets a 503.

use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionInfo, ErrorKind, RedisError, RedisResult};

use crate::store::TIMEOUT;

pub(crate) struct SentinelMaster {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The master's connection and a number that tells one connection from the next, so a
    /// failure seen on an old connection does not throw away a newer one.
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: std::sync::atomic::AtomicU64,
    config: AsyncConnectionConfig,
}

impl SentinelMaster {
    pub(crate) fn new(
        sentinels: Vec<ConnectionInfo>,
        master_name: &str,
        master: redis::RedisConnectionInfo,
    ) -> RedisResult<Self> {
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(master);
        let client = SentinelClient::build(
            sentinels,
            master_name,
            Some(node),
            SentinelServerType::Master,
        )?;
        Ok(Self {
            sentinels: tokio::sync::Mutex::new(client),
            current: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT)),
        })
    }

    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The current master's connection, asking the Sentinels for it when there is none.
    pub(crate) async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        // One request asks the Sentinels; the others wait for its answer.
        let mut sentinels = self.sentinels.lock().await;
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let ask = async {
            let client = sentinels.async_get_client().await?;
            client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
        };
        let connection = tokio::time::timeout(TIMEOUT, ask)
            .await
            .map_err(|_| RedisError::from((ErrorKind::Io, "no master found in time")))??;
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((generation, connection.clone()));
        Ok((generation, connection))
    }

    /// Called with every failed command's error: forgets the connection it ran on when the
    /// error means the master is gone or has been demoted.
    pub(crate) fn failed(&self, generation: u64, error: &RedisError) {
        if !(master_lost(error)) {
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

/// A demoted master refuses writes with `READONLY` before any of a script's writes happens.
pub(crate) fn is_read_only(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

fn master_lost(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
        || is_read_only(error)
}
