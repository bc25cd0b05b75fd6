//! The store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::{IntoConnectionInfo, RedisFuture, Script};
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SessionStore, StoreError};

use crate::sentinel::{SentinelMaster, is_read_only};
use crate::url::{MAX_REPLICA_ACK_TIMEOUT, ReplicaAcks, StoreUrl, Target, UrlError};

/// How long a command may take before it fails (and the request gets a 503) rather than hang.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', ARGV[2], 'l', ARGV[3], 'u', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
";

/// Returns 0 on a conflict, else 1 followed by the previous user (for the index).
const SAVE_IF: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'l', 'u')
if cur[1] ~= ARGV[6] or cur[2] ~= '1' then return {0, ''} end
redis.call('HDEL', KEYS[1], 'ls', 'id')
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', ARGV[2], 'l', ARGV[3], 'u', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return {1, cur[3] or ''}
";

const TOUCH: &str = r"
if redis.call('HGET', KEYS[1], 'l') ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'ls', ARGV[1], 'id', ARGV[2])
return 1
";

/// Adds a session to its user's set, and keeps the set as long as its longest session.
const INDEX: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'NX')
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
return 1
";

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelMaster>),
}

/// One connection of any kind, for the commands to run on.
enum Con {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Multiplexed(MultiplexedConnection),
}

impl ConnectionLike for Con {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
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
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Multiplexed(c) => c.get_db(),
        }
    }
}

/// A write that fewer replicas acknowledged than [`RedisStore::with_min_replica_acks`] asks
/// for: the master has it, but its loss with the master is possible, so the save is reported
/// as failed.
#[derive(Debug, thiserror::Error)]
#[error("only {acked} of {wanted} replicas acknowledged the write within {timeout_ms} ms")]
pub struct ReplicaAckError {
    acked: i64,
    wanted: u32,
    timeout_ms: u128,
}

/// A script and its source, for `EVALSHA` or, in a pipeline with `WAIT`, `EVAL`.
struct Lua {
    script: Script,
    source: &'static str,
}

impl Lua {
    fn new(source: &'static str) -> Self {
        Self {
            script: Script::new(source),
            source,
        }
    }
}

/// Sessions in Redis: one server, a Redis Cluster, or the master a set of Sentinels names.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    replica_acks: Option<ReplicaAcks>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    create: Lua,
    save_if: Lua,
    touch: Lua,
    index: Lua,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
            Connection::Sentinel(_) => "sentinel",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
            .field("prefix", &self.prefix)
            .field("replica_acks", &self.replica_acks)
            .finish()
    }
}

fn store_error(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(e)
}

/// Why [`RedisStore::connect`] failed. The message is one line and holds no credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not one this store takes; the message says which part is wrong.
    #[error("invalid Redis store URL: {0}")]
    InvalidUrl(#[from] UrlError),
    /// The URL is fine, but no server (or no Sentinel, or no master) answered as it should.
    #[error("cannot connect to Redis: {0}")]
    Unavailable(redis::RedisError),
}

impl ConnectError {
    /// Whether the URL itself is wrong (as opposed to the servers being unreachable).
    pub fn is_invalid_url(&self) -> bool {
        matches!(self, Self::InvalidUrl(_))
    }
}

impl RedisStore {
    /// Connects as a URL says, and checks that the server answers:
    ///
    /// - `redis://[USER:PASSWORD@]HOST:PORT[/DB]` (or `rediss://` for TLS): one server;
    /// - `redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]`: a cluster's seed nodes;
    /// - `redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]`: the
    ///   master that these Sentinels (port 26379 when none is given) name, followed across
    ///   failovers. The credentials are the master's.
    ///
    /// Each may end in `?replica_acks=N&replica_ack_timeout_ms=T`, which turns on
    /// [`with_min_replica_acks`](Self::with_min_replica_acks) (`T` from 1 to 1500, default
    /// 500).
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidUrl`] when the URL is malformed (a one-line message naming the
    /// part, never the password); [`ConnectError::Unavailable`] when nothing answers within
    /// seconds.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sessionvault_redis::RedisStore;
    /// let store = RedisStore::connect(
    ///     "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/sessions?replica_acks=1",
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let url: StoreUrl = url.parse()?;
        let connection = match url.target {
            Target::Single(info) => Self::single(info).await,
            Target::Cluster(nodes) => Self::cluster(nodes).await,
            Target::Sentinel {
                sentinels,
                master_name,
                master,
            } => Self::sentinel(sentinels, &master_name, master).await,
        }
        .map_err(ConnectError::Unavailable)?;
        let mut store = Self::with_connection(connection);
        store.replica_acks = url.replica_acks;
        Ok(store)
    }

    /// Connects to a cluster through its seed nodes (`redis://HOST:PORT` each).
    ///
    /// # Errors
    ///
    /// When a URL is invalid or no seed node answers.
    pub async fn connect_cluster(nodes: &[String]) -> Result<Self, ConnectError> {
        let nodes = nodes
            .iter()
            .map(|n| n.as_str().into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| UrlError::Malformed)?;
        let connection = Self::cluster(nodes)
            .await
            .map_err(ConnectError::Unavailable)?;
        Ok(Self::with_connection(connection))
    }

    async fn single(info: redis::ConnectionInfo) -> redis::RedisResult<Connection> {
        let client = redis::Client::open(info)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let manager = client.get_connection_manager_with_config(config).await?;
        Ok(Connection::Single(manager))
    }

    async fn cluster(nodes: Vec<redis::ConnectionInfo>) -> redis::RedisResult<Connection> {
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(TIMEOUT)
            .response_timeout(TIMEOUT)
            .build()?;
        Ok(Connection::Cluster(client.get_async_connection().await?))
    }

    async fn sentinel(
        sentinels: Vec<redis::ConnectionInfo>,
        master_name: &str,
        master: redis::RedisConnectionInfo,
    ) -> redis::RedisResult<Connection> {
        let master = SentinelMaster::new(sentinels, master_name, master)?;
        // Fails now, not at the first request, when no Sentinel knows a live master.
        master.connection().await?;
        Ok(Connection::Sentinel(Arc::new(master)))
    }

    fn with_connection(connection: Connection) -> Self {
        Self {
            connection,
            prefix: "sv".into(),
            replica_acks: None,
            scripts: Arc::new(Scripts {
                create: Lua::new(CREATE),
                save_if: Lua::new(SAVE_IF),
                touch: Lua::new(TOUCH),
                index: Lua::new(INDEX),
            }),
        }
    }

    /// Puts every key under another prefix (default `sv`), to share a server between
    /// applications. The prefix may not contain braces, which would break the hash tags.
    ///
    /// # Errors
    ///
    /// When the prefix contains `{` or `}`.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, StoreError> {
        if prefix.contains(['{', '}']) {
            return Err(StoreError::new("a Redis key prefix may not contain braces"));
        }
        self.prefix = prefix.to_owned();
        Ok(self)
    }

    /// Makes every write (create, compare-and-set, touch, tombstone, user index) wait until
    /// `replicas` replicas have acknowledged it, with `WAIT replicas timeout` in the same round
    /// trip; a write fewer acknowledged is reported as failed ([`ReplicaAckError`] inside a
    /// [`StoreError`], so a 503), though the master may keep it. Redis replicates
    /// asynchronously: without this, a write the master acknowledged and then lost with itself
    /// before its replica had it is gone once the replica is promoted.
    ///
    /// `replicas = 0` turns it off. The timeout is cut to 1.5 seconds, below the 2-second
    /// deadline every command has. On a cluster the acknowledgements are counted on the master
    /// of the key written.
    pub fn with_min_replica_acks(mut self, replicas: u32, timeout: Duration) -> Self {
        self.replica_acks = (replicas > 0).then(|| ReplicaAcks {
            replicas,
            timeout: timeout.clamp(Duration::from_millis(1), MAX_REPLICA_ACK_TIMEOUT),
        });
        self
    }

    fn record_key(&self, key: &StoreKey) -> String {
        format!("{}:s:{{{}}}", self.prefix, key.to_hex())
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}:u:{{{}}}", self.prefix, hex::encode(user))
    }

    /// Runs `op` on a connection. On Sentinel, a failure that means the master is gone makes
    /// the next call ask the Sentinels again, and a `READONLY` (the master was demoted; the
    /// write did not happen) is retried once on the master they name now.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(Con) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match &self.connection {
            Connection::Single(c) => op(Con::Single(c.clone())).await,
            Connection::Cluster(c) => op(Con::Cluster(c.clone())).await,
            Connection::Sentinel(master) => {
                let mut attempt = 0;
                loop {
                    let (generation, con) = master.connection().await.map_err(store_error)?;
                    match op(Con::Multiplexed(con)).await {
                        Err(e) => {
                            master.failed(generation, &e);
                            attempt += 1;
                            if attempt == 1 && is_read_only(&e) {
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

    /// Runs a script that writes; with replica acknowledgements on, as `EVAL` followed by
    /// `WAIT` in one pipeline (which a cluster sends to the key's master).
    async fn write<T: redis::FromRedisValue>(
        &self,
        lua: &Lua,
        key: &str,
        args: &[String],
    ) -> Result<T, StoreError> {
        let Some(acks) = self.replica_acks else {
            return self
                .run(|mut con| async move {
                    let mut invocation = lua.script.key(key);
                    for arg in args {
                        invocation.arg(arg);
                    }
                    invocation.invoke_async(&mut con).await
                })
                .await;
        };
        let (value, acked): (T, i64) = self
            .run(|mut con| async move {
                let mut pipe = redis::pipe();
                pipe.cmd("EVAL").arg(lua.source).arg(1).arg(key).arg(args);
                pipe.cmd("WAIT")
                    .arg(acks.replicas)
                    .arg(acks.timeout.as_millis() as u64);
                pipe.query_async(&mut con).await
            })
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

    async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.run(|mut con| async move { cmd.query_async(&mut con).await })
            .await
    }

    fn fields(record: &Record) -> Result<[String; 5], StoreError> {
        Ok([
            serde_json::to_string(record).map_err(store_error)?,
            record.version.to_string(),
            if record.is_live() { "1" } else { "0" }.to_owned(),
            if record.is_live() {
                record.user.clone().unwrap_or_default()
            } else {
                String::new()
            },
            (record.expires_at.as_millisecond().max(1)).to_string(),
        ])
    }

    /// Adds a session to its user's set, and keeps the set as long as its longest session.
    async fn index(&self, record: &Record) -> Result<(), StoreError> {
        let Some(user) = record.user.as_deref().filter(|_| record.is_live()) else {
            return Ok(());
        };
        let at = record.expires_at.as_millisecond().max(1);
        let _: i64 = self
            .write(
                &self.scripts.index,
                &self.user_key(user),
                &[record.key.to_hex(), at.to_string()],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let fields: std::collections::HashMap<String, String> = self
            .command(redis::cmd("HGETALL").arg(self.record_key(key)))
            .await?;
        let Some(json) = fields.get("r") else {
            return Ok(None);
        };
        let mut record: Record = serde_json::from_str(json).map_err(store_error)?;
        // A touch since the last save moved these without rewriting the JSON.
        let parse = |name: &str| fields.get(name).and_then(|t| t.parse::<Timestamp>().ok());
        if let (Some(last_seen), Some(idle)) = (parse("ls"), parse("id")) {
            record.last_seen = last_seen;
            record.idle_deadline = idle;
        }
        Ok(Some(record))
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let created: i64 = self
            .write(
                &self.scripts.create,
                &self.record_key(&record.key),
                &Self::fields(record)?,
            )
            .await?;
        if created == 1 {
            self.index(record).await?;
        }
        Ok(created == 1)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        let mut args = Self::fields(record)?.to_vec();
        args.push(expected_version.to_string());
        let (saved, previous_user): (i64, String) = self
            .write(&self.scripts.save_if, &self.record_key(&record.key), &args)
            .await?;
        if saved == 1 && record.user.as_deref().unwrap_or_default() != previous_user {
            self.index(record).await?;
        }
        Ok(saved == 1)
    }

    async fn touch_if_live(
        &self,
        key: &StoreKey,
        last_seen: Timestamp,
        idle_deadline: Timestamp,
    ) -> Result<bool, StoreError> {
        let touched: i64 = self
            .write(
                &self.scripts.touch,
                &self.record_key(key),
                &[last_seen.to_string(), idle_deadline.to_string()],
            )
            .await?;
        Ok(touched == 1)
    }

    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let index = self.user_key(user);
        let members: Vec<String> = self.command(redis::cmd("SMEMBERS").arg(&index)).await?;
        let mut live = Vec::new();
        for member in members {
            let record = match StoreKey::from_hex(&member) {
                Some(key) => self.load(&key).await?,
                None => None,
            };
            match record {
                Some(r) if r.is_live() && r.user.as_deref() == Some(user) => live.push(r),
                // Gone, ended or moved to another user: drop it from the index.
                _ => {
                    let _: i64 = self
                        .command(redis::cmd("SREM").arg(&index).arg(&member))
                        .await?;
                }
            }
        }
        Ok(live)
    }
}
