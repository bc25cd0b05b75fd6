//! sessionvault's server-side records, written with `SessionStore::create` of its Redis,
//! PostgreSQL or SQLite store: the same record a first request to `/incr` creates.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use jiff::Timestamp;
use sessionvault::id::SessionId;
use sessionvault::store::{Record, RecordState, SessionStore};
use sessionvault::tooling::IdHasher;
use sessionvault::{Keyring, SessionConfig};
use sessionvault_redis::RedisStore;
use sessionvault_sqlx::{PgStore, SqliteStore};

use crate::Plan;

/// What a request records about its client in a new session.
pub(crate) struct Meta {
    pub(crate) user_agent: Option<String>,
    pub(crate) client_ip: IpAddr,
}

async fn open(url: &str) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(if url.starts_with("redis://") {
        Arc::new(RedisStore::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PgStore::connect(url).await?)
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Arc::new(SqliteStore::open(path).await?)
    } else {
        bail!("unsupported store URL for sessionvault (redis://, postgres://, sqlite:PATH)")
    })
}

/// The network a request from `ip` records (as sessionvault's request metadata does).
fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// Loads `plan.count` sessions; returns the cookie values of the first `plan.cookies`.
pub(crate) async fn load(
    url: &str,
    secret: &[u8],
    meta: &Meta,
    plan: &Plan,
) -> anyhow::Result<Vec<String>> {
    let store = open(url).await?;
    let hasher = IdHasher::new(&Keyring::new(secret).context("the secret key")?);
    let config = SessionConfig::default();
    let now = Timestamp::now();
    let absolute = now + config.absolute_timeout();
    let template = Record {
        key: sessionvault::id::StoreKey::ZERO,
        version: 0,
        state: RecordState::Live,
        data: BTreeMap::from([("n".to_owned(), serde_json::Value::from(0))]),
        user: None,
        auth_time: None,
        created: now,
        id_issued: now,
        last_seen: now,
        idle_deadline: (now + config.idle_timeout()).min(absolute),
        absolute_deadline: absolute,
        user_agent: meta.user_agent.clone(),
        ip: Some(network_of(meta.client_ip)),
        expires_at: absolute,
    };
    let cookies = stream::iter(0..plan.count)
        .map(|i| {
            let (store, hasher, template) = (&store, &hasher, &template);
            async move {
                let id = SessionId::generate()?;
                let mut record = template.clone();
                record.key = hasher.key(&id);
                if !store.create(&record).await? {
                    bail!("a fresh session ID was already in the store");
                }
                Ok((i < plan.cookies as u64).then(|| id.to_cookie_value()))
            }
        })
        .buffer_unordered(plan.concurrency)
        .try_filter_map(|cookie| async move { Ok(cookie) })
        .try_collect()
        .await?;
    Ok(cookies)
}
