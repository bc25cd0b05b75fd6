//! The store: connecting, key names, and the trait's operations.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use redis::IntoConnectionInfo;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, SaveIf, SessionStore, StoreError};

use crate::connection::{Con, Connection};
use crate::reconnect::{Reconnecting, Source};
use crate::scripts::{Lua, Saved, Scripts, TOUCH_MISSING};
use crate::url::{MAX_REPLICA_ACK_TIMEOUT, ReplicaAcks, StoreUrl, Target, UrlError};
use crate::{layout, sentinel};

/// The fields a load reads of a session an earlier version saved as a hash: the compact
/// record, the earlier JSON one, and a touch's times.
type Fields = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
);

/// A session as a load finds it: in this version's layout, or an earlier version's hash.
enum Stored {
    Value(Vec<u8>),
    Hash(Fields),
}

/// Bytes of the store key in a session's key name: 192 bits, so that even among 2^32 live
/// sessions the chance that two share a name is about 2^-129, and two denylist entries of
/// chosen names would take about 2^96 hashes to collide.
const RECORD_NAME_BYTES: usize = 24;

/// Characters of base64url those bytes take.
const RECORD_NAME_CHARS: usize = RECORD_NAME_BYTES / 3 * 4;

/// How long a command may take before it fails (and the request gets a 503) rather than hang.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

/// Sessions in Redis: one server, a Redis Cluster, or the master a set of Sentinels names.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    replica_acks: Option<ReplicaAcks>,
    earlier_names: bool,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.connection {
            Connection::Reconnecting(server) if server.is_sentinel() => "sentinel",
            Connection::Reconnecting(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
            .field("prefix", &self.prefix)
            .field("replica_acks", &self.replica_acks)
            .field("earlier_names", &self.earlier_names)
            .finish()
    }
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
    /// 500), and in `earlier_names=off`, which does what
    /// [`without_earlier_names`](Self::without_earlier_names) does.
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
        store.earlier_names = url.earlier_names;
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
        let server = Source::Server(redis::Client::open(info)?);
        Self::reconnecting(server).await
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
        let client = sentinel::master_client(sentinels, master_name, master)?;
        Self::reconnecting(Source::Sentinel(client)).await
    }

    async fn reconnecting(source: Source) -> redis::RedisResult<Connection> {
        let server = Reconnecting::new(source);
        // Fails now, not at the first request, when nothing answers (or no Sentinel knows a
        // live master).
        server.connection().await?;
        Ok(Connection::Reconnecting(Arc::new(server)))
    }

    fn with_connection(connection: Connection) -> Self {
        Self {
            connection,
            prefix: "sv".into(),
            replica_acks: None,
            earlier_names: true,
            scripts: Arc::default(),
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

    /// Stops looking under the names earlier versions kept sessions under (all 64 hex digits
    /// of the store key; see the crate's docs, "Layout"). By default a load that finds nothing
    /// under a session's name, and a save or touch with nothing to save or touch, try that
    /// name too: sessions and revocations stored before the upgrade keep working until they
    /// expire, at the price of a second round trip on every such miss (a cookie whose session
    /// is gone; in the cookie modes, each check of the denylist that finds no entry). Turn it
    /// off once every key written before the upgrade has expired, that is once the longest
    /// absolute timeout of those sessions has passed since the upgrade: a session or
    /// revocation still under an earlier name is then not seen.
    pub fn without_earlier_names(mut self) -> Self {
        self.earlier_names = false;
        self
    }

    /// Makes every write (create, compare-and-set, touch, tombstone, user index) wait until
    /// `replicas` replicas have acknowledged it, with `WAIT replicas timeout` in the same round
    /// trip; a write fewer acknowledged is reported as failed ([`ReplicaAckError`](crate::ReplicaAckError) inside a
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

    /// `PREFIX:s:{NAME}`, where `NAME` is the first 24 bytes of the store key (192 bits of a
    /// session ID's HMAC, or of the SHA-256 that names a denylist entry) as 32 characters of
    /// base64url: with the default prefix the key is 39 bytes, which Redis keeps in its 48-byte
    /// size class, where all 64 hex digits took 80.
    fn record_key(&self, key: &StoreKey) -> String {
        let mut name = [0u8; RECORD_NAME_CHARS];
        let written = URL_SAFE_NO_PAD
            .encode_slice(&key.as_bytes()[..RECORD_NAME_BYTES], &mut name)
            .unwrap_or_else(|_| unreachable!("24 bytes are 32 characters of base64url"));
        debug_assert_eq!(written, RECORD_NAME_CHARS);
        // Base64url is ASCII, so the lossy conversion borrows it unchanged.
        self.tagged_key("s", &String::from_utf8_lossy(&name))
    }

    /// `PREFIX:s:{KEYHEX}`, all 64 hex digits of the store key: where versions before the
    /// shorter name kept a session. Loads look there when the shorter name holds nothing, and
    /// a session found there stays there (saves and touches follow it) until it expires, so
    /// nobody is signed out by an upgrade.
    fn earlier_record_key(&self, key: &StoreKey) -> String {
        self.tagged_key("s", &key.to_hex())
    }

    fn user_key(&self, user: &str) -> String {
        self.tagged_key("u", &hex::encode(user))
    }

    /// `PREFIX:KIND:{HEX}`, the braces a cluster's hash tag, in one allocation of the right
    /// size: every load and save names its key.
    fn tagged_key(&self, kind: &str, hex: &str) -> String {
        let mut name = String::with_capacity(self.prefix.len() + kind.len() + hex.len() + 4);
        for part in [&self.prefix, ":", kind, ":{", hex, "}"] {
            name.push_str(part);
        }
        name
    }

    /// A record's retention, as the Unix milliseconds `PXAT` takes.
    fn retention(record: &Record) -> i64 {
        record.expires_at.as_millisecond().max(1)
    }

    /// The record of a session an earlier version saved as a hash.
    fn from_hash(key: StoreKey, fields: Fields) -> Result<Option<Record>, StoreError> {
        let (compact, legacy, last_seen, idle) = fields;
        let mut record = match (compact, legacy) {
            (Some(bytes), _) => Record::from_compact(key, &bytes)?,
            (None, Some(bytes)) => layout::parse_full_json(key, &bytes)?,
            (None, None) => return Ok(None),
        };
        // A touch since the last save moved these without rewriting the record.
        let parse = |t: Option<String>| t.and_then(|t| t.parse::<Timestamp>().ok());
        if let (Some(last_seen), Some(idle)) = (parse(last_seen), parse(idle)) {
            record.last_seen = last_seen;
            record.idle_deadline = idle;
        }
        Ok(Some(record))
    }

    async fn write<T: redis::FromRedisValue>(
        &self,
        lua: &Lua,
        key: &str,
        args_len: usize,
        args: impl FnOnce(&mut redis::Cmd),
    ) -> Result<T, StoreError> {
        self.connection
            .write(self.replica_acks, lua, key, args_len, args)
            .await
    }

    /// The compare-and-set of `value` over version `expected_version` at `name`.
    async fn save_at(
        &self,
        name: String,
        value: &[u8],
        record: &Record,
        expected_version: u64,
    ) -> Result<Saved, StoreError> {
        let answer: redis::Value = self
            .write(&self.scripts.save_if, &name, value.len() + 40, |cmd| {
                cmd.arg(value)
                    .arg(expected_version)
                    .arg(Self::retention(record));
            })
            .await?;
        Saved::from_answer(answer)
    }

    /// The compare-and-set under the session's name or, when nothing is there, its earlier
    /// one; a save that changes the session's user files it under the new one.
    async fn compare_and_set(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<Saved, StoreError> {
        let value = layout::compose(record)?;
        let save_at = |name: String| self.save_at(name, &value, record, expected_version);
        let mut saved = save_at(self.record_key(&record.key)).await?;
        if saved == Saved::Missing && self.earlier_names {
            saved = save_at(self.earlier_record_key(&record.key)).await?;
        }
        if let Saved::Over { previous_user } = &saved
            && record.user.as_deref().unwrap_or_default() != previous_user
        {
            self.index(record).await?;
        }
        Ok(saved)
    }

    /// Adds a session to its user's set, and keeps the set as long as its longest session.
    async fn index(&self, record: &Record) -> Result<(), StoreError> {
        let Some(user) = record.user.as_deref().filter(|_| record.is_live()) else {
            return Ok(());
        };
        let member = record.key.to_hex();
        let _: i64 = self
            .write(&self.scripts.index, &self.user_key(user), 96, |cmd| {
                cmd.arg(&member).arg(Self::retention(record));
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        let name = self.record_key(key);
        let stored = self
            .connection
            .run(|mut con| {
                let name = &name;
                async move {
                    match get(&mut con, name).await? {
                        // Nothing under the name: perhaps a session an earlier version saved
                        // under the longer one, on the same connection.
                        None if self.earlier_names => {
                            get(&mut con, &self.earlier_record_key(key)).await
                        }
                        found => Ok(found),
                    }
                }
            })
            .await?;
        match stored {
            None => Ok(None),
            Some(Stored::Value(value)) => layout::parse(*key, &value).map(Some),
            Some(Stored::Hash(fields)) => Self::from_hash(*key, fields),
        }
    }

    async fn create(&self, record: &Record) -> Result<bool, StoreError> {
        let value = layout::compose(record)?;
        let created: i64 = self
            .write(
                &self.scripts.create,
                &self.record_key(&record.key),
                value.len() + 20,
                |cmd| {
                    cmd.arg(&value).arg(Self::retention(record));
                },
            )
            .await?;
        if created == 1 {
            self.index(record).await?;
        }
        Ok(created == 1)
    }

    async fn save_if(&self, record: &Record, expected_version: u64) -> Result<bool, StoreError> {
        Ok(matches!(
            self.compare_and_set(record, expected_version).await?,
            Saved::Over { .. }
        ))
    }

    /// One round trip, saved or not: a lost compare-and-set answers the value it lost to.
    async fn save_if_or_current(
        &self,
        record: &Record,
        expected_version: u64,
    ) -> Result<SaveIf, StoreError> {
        match self.compare_and_set(record, expected_version).await? {
            Saved::Over { .. } => Ok(SaveIf::Saved),
            Saved::Conflict(Some(value)) => Ok(SaveIf::Lost(Some(Arc::new(layout::parse(
                record.key, &value,
            )?)))),
            // Under an earlier version's hash: read as a load reads it.
            Saved::Conflict(None) => Ok(SaveIf::Lost(self.load_shared(&record.key).await?)),
            Saved::Missing => Ok(SaveIf::Lost(None)),
        }
    }

    async fn touch_if_live(
        &self,
        key: &StoreKey,
        last_seen: Timestamp,
        idle_deadline: Timestamp,
    ) -> Result<bool, StoreError> {
        let touch_at = |name: String| async move {
            self.write::<i64>(&self.scripts.touch, &name, 160, |cmd| {
                cmd.arg(layout::touch(last_seen, idle_deadline))
                    .arg(last_seen.to_string())
                    .arg(idle_deadline.to_string());
            })
            .await
        };
        let mut touched = touch_at(self.record_key(key)).await?;
        if touched == TOUCH_MISSING && self.earlier_names {
            touched = touch_at(self.earlier_record_key(key)).await?;
        }
        Ok(touched == 1)
    }

    async fn sessions_for_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let index = self.user_key(user);
        let members: Vec<String> = self
            .connection
            .command(redis::cmd("SMEMBERS").arg(&index))
            .await?;
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
                        .connection
                        .command(redis::cmd("SREM").arg(&index).arg(&member))
                        .await?;
                }
            }
        }
        Ok(live)
    }
}

/// The session at `name`, in either layout.
async fn get(con: &mut Con, name: &str) -> redis::RedisResult<Option<Stored>> {
    let mut get = redis::Cmd::with_capacity(2, name.len() + 3);
    match get
        .arg("GET")
        .arg(name)
        .query_async::<Option<Vec<u8>>>(con)
        .await
    {
        Ok(value) => Ok(value.map(Stored::Value)),
        // Saved by an earlier version, as a hash: the four fields a record may have, on the
        // same connection. Its next save rewrites it as a string.
        Err(e) if e.code() == Some("WRONGTYPE") => redis::cmd("HMGET")
            .arg(name)
            .arg(&["d", "r", "ls", "id"])
            .query_async(con)
            .await
            .map(|fields| Some(Stored::Hash(fields))),
        Err(e) => Err(e),
    }
}
