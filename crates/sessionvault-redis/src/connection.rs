//! The connection commands run on, of whichever kind the URL named, and the write path with
//! its optional replica acknowledgements.

use std::future::Future;
use std::sync::Arc;

use redis::RedisFuture;
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use sessionvault::store::StoreError;

use crate::reconnect::Reconnecting;
use crate::scripts::Lua;
use crate::sentinel::is_read_only;
use crate::url::ReplicaAcks;

#[derive(Clone)]
pub(crate) enum Connection {
    /// One server, or the master Sentinels name.
    Reconnecting(Arc<Reconnecting>),
    Cluster(ClusterConnection),
}

/// One connection of any kind, for the commands to run on.
pub(crate) enum Con {
    Cluster(ClusterConnection),
    Multiplexed(crate::cork::Multiplexed),
}

impl ConnectionLike for Con {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Multiplexed(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Cluster(c) => c.get_db(),
            Self::Multiplexed(c) => c.get_db(),
        }
    }
}

/// A write that fewer replicas acknowledged than [`RedisStore::with_min_replica_acks`] asks
/// for: the master has it, but its loss with the master is possible, so the save is reported
/// as failed.
///
/// [`RedisStore::with_min_replica_acks`]: crate::RedisStore::with_min_replica_acks
#[derive(Debug, thiserror::Error)]
#[error("only {acked} of {wanted} replicas acknowledged the write within {timeout_ms} ms")]
pub struct ReplicaAckError {
    acked: i64,
    wanted: u32,
    timeout_ms: u128,
}

pub(crate) fn store_error(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(e)
}

impl Connection {
    /// Runs `op` on a connection. A failure that means the server is gone makes the next call
    /// connect again (asking the Sentinels first, where there are any); behind Sentinels, a
    /// `READONLY` (the master was demoted; the write did not happen) is retried once on the
    /// master they name now.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(Con) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match self {
            Self::Cluster(c) => op(Con::Cluster(c.clone())).await,
            Self::Reconnecting(server) => {
                let mut attempt = 0;
                loop {
                    let (generation, con) = server.connection().await.map_err(store_error)?;
                    match op(Con::Multiplexed(con)).await {
                        Err(e) => {
                            server.failed(generation, &e);
                            attempt += 1;
                            if attempt == 1 && server.is_sentinel() && is_read_only(&e) {
                                continue;
                            }
                            break Err(e);
                        }
                        ok => break ok,
                    }
                }
            }
        }
        .map_err(store_error)
    }

    /// Runs a script that writes, on one key, with the arguments `args` adds (`args_len` bytes
    /// of them, near enough): as `EVALSHA`, loading the script when the server does not have it
    /// (a restart, `SCRIPT FLUSH`, a failover to a replica that never ran it); with replica
    /// acknowledgements on, as `EVAL` followed by `WAIT` in one pipeline (which a cluster sends
    /// to the key's master).
    pub(crate) async fn write<T>(
        &self,
        acks: Option<ReplicaAcks>,
        lua: &Lua,
        key: &str,
        args_len: usize,
        args: impl FnOnce(&mut redis::Cmd),
    ) -> Result<T, StoreError>
    where
        T: redis::FromRedisValue,
    {
        let Some(acks) = acks else {
            let evalsha = &lua.evalsha(key, args_len, args);
            return self
                .run(|mut con| async move {
                    match evalsha.query_async(&mut con).await {
                        Err(e) if e.code() == Some("NOSCRIPT") => {
                            lua.script.load_async(&mut con).await?;
                            evalsha.query_async(&mut con).await
                        }
                        result => result,
                    }
                })
                .await;
        };
        let mut pipe = redis::pipe();
        pipe.add_command(lua.eval(key, args_len, args));
        pipe.cmd("WAIT")
            .arg(acks.replicas)
            .arg(acks.timeout.as_millis() as u64);
        let pipe = &pipe;
        let (value, acked): (T, i64) = self
            .run(|mut con| async move { pipe.query_async(&mut con).await })
            .await?;
        if acked < i64::from(acks.replicas) {
            return Err(StoreError::new(ReplicaAckError {
                acked,
                wanted: acks.replicas,
                timeout_ms: acks.timeout.as_millis(),
            }));
        }
        Ok(value)
    }

    pub(crate) async fn command<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        self.run(|mut con| async move { cmd.query_async(&mut con).await })
            .await
    }
}
