//! The master a set of Sentinels points at: how it is asked for, and how a demoted one answers.
//! [`crate::reconnect`] keeps the connection to it and asks again after a failover.

use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{ConnectionInfo, ErrorKind, RedisError, RedisResult};

/// A client that asks `sentinels` for the master named `master_name`, and connects to it with
/// `master`'s credentials and database.
pub(crate) fn master_client(
    sentinels: Vec<ConnectionInfo>,
    master_name: &str,
    master: redis::RedisConnectionInfo,
) -> RedisResult<SentinelClient> {
    let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(master);
    SentinelClient::build(
        sentinels,
        master_name,
        Some(node),
        SentinelServerType::Master,
    )
}

/// A demoted master refuses writes with `READONLY` before any of a script's writes happens.
pub(crate) fn is_read_only(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}
