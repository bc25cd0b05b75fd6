//! The store.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use redis::Script;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SessionStore, StoreError};

/// How long a command may take before it fails (and the request gets a 503) rather than hang.
const TIMEOUT: Duration = Duration::from_secs(2);

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

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Sessions in Redis or a Redis Cluster.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    create: Script,
    save_if: Script,
    touch: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn store_error(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(e)
}

impl RedisStore {
    /// Connects to one server: `redis://HOST:PORT[/DB]`.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or the server does not answer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let manager = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(store_error)?;
        Ok(Self::with_connection(Connection::Single(manager)))
    }

    /// Connects to a cluster through its seed nodes (`redis://HOST:PORT` each).
    ///
    /// # Errors
    ///
    /// When a URL is invalid or no seed node answers.
    pub async fn connect_cluster(nodes: &[String]) -> Result<Self, StoreError> {
        let client = redis::cluster::ClusterClient::builder(nodes.to_vec())
            .connection_timeout(TIMEOUT)
            .response_timeout(TIMEOUT)
            .build()
            .map_err(store_error)?;
        let connection = client.get_async_connection().await.map_err(store_error)?;
        Ok(Self::with_connection(Connection::Cluster(connection)))
    }

    /// Connects as a URL says: `redis://HOST:PORT[/DB]` for one server,
    /// `redis-cluster://HOST:PORT[,HOST:PORT...]` for a cluster's seed nodes.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or nothing answers.
    pub async fn connect_url(url: &str) -> Result<Self, StoreError> {
        match url.strip_prefix("redis-cluster://") {
            Some(seeds) => {
                let nodes: Vec<String> = seeds
                    .split(',')
                    .map(|s| format!("redis://{}", s.trim()))
                    .collect();
                Self::connect_cluster(&nodes).await
            }
            None => Self::connect(url).await,
        }
    }

    fn with_connection(connection: Connection) -> Self {
        Self {
            connection,
            prefix: "sv".into(),
            create: Script::new(CREATE),
            save_if: Script::new(SAVE_IF),
            touch: Script::new(TOUCH),
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

    fn record_key(&self, key: &StoreKey) -> String {
        format!("{}:s:{{{}}}", self.prefix, key.to_hex())
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}:u:{{{}}}", self.prefix, hex::encode(user))
    }

    async fn script<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        key: &str,
        args: &[String],
    ) -> Result<T, StoreError> {
        async fn run<C: ConnectionLike + Send, T: redis::FromRedisValue>(
            mut con: C,
            script: &Script,
            key: &str,
            args: &[String],
        ) -> redis::RedisResult<T> {
            let mut invocation = script.key(key);
            for arg in args {
                invocation.arg(arg);
            }
            invocation.invoke_async(&mut con).await
        }
        match &self.connection {
            Connection::Single(c) => run(c.clone(), script, key, args).await,
            Connection::Cluster(c) => run(c.clone(), script, key, args).await,
        }
        .map_err(store_error)
    }

    async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        match &self.connection {
            Connection::Single(c) => cmd.query_async(&mut c.clone()).await,
            Connection::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
        .map_err(store_error)
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
        let key = self.user_key(user);
        let at = record.expires_at.as_millisecond().max(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .sadd(&key, record.key.to_hex())
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(at)
            .arg("NX")
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(at)
            .arg("GT")
            .ignore();
        match &self.connection {
            Connection::Single(c) => pipe.query_async::<()>(&mut c.clone()).await,
            Connection::Cluster(c) => pipe.query_async::<()>(&mut c.clone()).await,
        }
        .map_err(store_error)
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
            .script(
                &self.create,
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
            .script(&self.save_if, &self.record_key(&record.key), &args)
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
            .script(
                &self.touch,
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
