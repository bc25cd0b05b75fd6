//! Store URLs: which servers to reach, and whether writes wait for replicas.
//!
//! ```text
//! redis://[USER:PASSWORD@]HOST:PORT[/DB]           one server
//! rediss://[USER:PASSWORD@]HOST:PORT[/DB]          one server over TLS
//! redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]       a cluster's seed nodes
//! redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]
//! ```
//!
//! Any of them may end in `?replica_acks=N&replica_ack_timeout_ms=T` and `earlier_names=off`
//! (in any order, joined by `&`). The user and password are the data nodes' (for Sentinel: the
//! master's; the Sentinels themselves are asked without credentials). Nothing here puts the
//! URL, or any part of its user information, in an error.

use std::time::Duration;

use redis::{ConnectionInfo, IntoConnectionInfo};

/// The longest `WAIT` a write may ask for: it must end before the 2-second command deadline,
/// or the deadline, not the replicas, would decide the answer.
pub(crate) const MAX_REPLICA_ACK_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a write waits for its replicas when a URL asks for acknowledgements but names no
/// timeout.
pub(crate) const DEFAULT_REPLICA_ACK_TIMEOUT: Duration = Duration::from_millis(500);

const SENTINEL_PORT: u16 = 26379;

/// A store URL this crate cannot use. The message is one line and quotes no credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is none of the four this store speaks.
    #[error(
        "a Redis store URL starts with redis://, rediss://, redis-cluster:// or redis+sentinel://"
    )]
    Scheme,
    /// Nothing between the scheme and the path, or an empty entry in a list of hosts.
    #[error("the Redis store URL names no host (or has an empty one in its list)")]
    NoHost,
    /// A host entry that is not `HOST[:PORT]` (the entry is quoted; it holds no credentials).
    #[error("{0:?} in the Redis store URL is not HOST:PORT")]
    Host(String),
    /// A Sentinel URL without the name the Sentinels know the master by.
    #[error(
        "a redis+sentinel:// URL needs the master's name: redis+sentinel://HOST:PORT/MASTER_NAME[/DB]"
    )]
    NoMasterName,
    /// The database is not a number, or the path has more parts than the scheme allows.
    #[error("the path of the Redis store URL must be {expected}")]
    Path {
        /// What the scheme takes.
        expected: &'static str,
    },
    /// `replica_acks` is not a whole number.
    #[error("replica_acks must be a whole number of replicas, not {0:?}")]
    ReplicaAcks(String),
    /// `replica_ack_timeout_ms` is not a number of milliseconds in the range allowed.
    #[error(
        "replica_ack_timeout_ms must be a whole number of milliseconds from 1 to 1500, not {0:?}"
    )]
    ReplicaAckTimeout(String),
    /// `earlier_names` is neither `on` nor `off`.
    #[error("earlier_names must be on or off, not {0:?}")]
    EarlierNames(String),
    /// A timeout given without any acknowledgement to wait for.
    #[error("replica_ack_timeout_ms has no effect without replica_acks")]
    TimeoutWithoutAcks,
    /// A query parameter the scheme does not take.
    #[error("unknown query parameter {0:?} in a redis+sentinel:// URL")]
    UnknownParameter(String),
    /// The server URL is not one redis-rs accepts.
    #[error("the Redis store URL is malformed")]
    Malformed,
}

/// What a write waits for: `WAIT replicas timeout` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplicaAcks {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

/// Which servers a URL names.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Single(ConnectionInfo),
    Cluster(Vec<ConnectionInfo>),
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        /// Database and credentials for the master.
        master: redis::RedisConnectionInfo,
    },
}

/// A parsed store URL.
#[derive(Clone, Debug)]
pub(crate) struct StoreUrl {
    pub(crate) target: Target,
    pub(crate) replica_acks: Option<ReplicaAcks>,
    /// Whether loads and writes look under the names earlier versions used
    /// ([`RedisStore::without_earlier_names`](crate::RedisStore::without_earlier_names)).
    pub(crate) earlier_names: bool,
}

impl std::str::FromStr for StoreUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (params, other_params) = Params::parse(query)?;
        // The last `@` ends the user information: a password may contain `@`, a host may not.
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (hosts, path) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, path),
            None => (rest, ""),
        };
        let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let query = if other_params.is_empty() {
            String::new()
        } else {
            format!("?{other_params}")
        };
        let target = match scheme {
            "redis" | "rediss" => {
                let host = single_host(hosts)?;
                let db = db_path(path, "empty or /DB")?;
                let db = db.map(|d| format!("/{d}")).unwrap_or_default();
                Target::Single(open(&format!("{scheme}://{auth}{host}{db}{query}"))?)
            }
            "redis-cluster" => {
                if !path.is_empty() {
                    return Err(UrlError::Path { expected: "empty" });
                }
                let nodes = host_list(hosts, None)?
                    .iter()
                    .map(|h| open(&format!("redis://{auth}{h}{query}")))
                    .collect::<Result<_, _>>()?;
                Target::Cluster(nodes)
            }
            "redis+sentinel" => {
                if !other_params.is_empty() {
                    let name = other_params.split(['=', '&']).next().unwrap_or_default();
                    return Err(UrlError::UnknownParameter(decode(name)));
                }
                let (master_name, db) = match path.split_once('/') {
                    Some((name, db)) => (name, db),
                    None => (path, ""),
                };
                if master_name.is_empty() {
                    return Err(UrlError::NoMasterName);
                }
                let db = db_path(db, "/MASTER_NAME[/DB]")?;
                let sentinels = host_list(hosts, Some(SENTINEL_PORT))?
                    .iter()
                    .map(|h| open(&format!("redis://{h}")))
                    .collect::<Result<_, _>>()?;
                // The master's credentials and database, parsed as redis-rs parses any URL.
                let db = db.map(|d| format!("/{d}")).unwrap_or_default();
                let master = open(&format!("redis://{auth}localhost{db}"))?
                    .redis_settings()
                    .clone();
                Target::Sentinel {
                    sentinels,
                    master_name: decode(master_name),
                    master,
                }
            }
            _ => return Err(UrlError::Scheme),
        };
        Ok(Self {
            target,
            replica_acks: params.replica_acks()?,
            earlier_names: params.earlier_names()?,
        })
    }
}

fn open(url: &str) -> Result<ConnectionInfo, UrlError> {
    url.into_connection_info().map_err(|_| UrlError::Malformed)
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `HOST[:PORT]`, checked enough that a typo is named rather than sent to a resolver.
fn checked_host(host: &str) -> Result<&str, UrlError> {
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !host.ends_with(']') => {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(UrlError::Host(host.to_owned()));
            }
            name
        }
        _ => host,
    };
    let bracketed = name.starts_with('[') && name.ends_with(']');
    if name.is_empty()
        || (!bracketed && name.contains([':', '[', ']']))
        || name.contains(|c: char| c.is_whitespace() || "/?#@,".contains(c))
    {
        return Err(UrlError::Host(host.to_owned()));
    }
    Ok(host)
}

fn single_host(hosts: &str) -> Result<&str, UrlError> {
    if hosts.contains(',') {
        return Err(UrlError::Host(hosts.to_owned()));
    }
    checked_host(hosts)
}

/// A comma-separated list of hosts; `default_port` is added where a host has none.
fn host_list(hosts: &str, default_port: Option<u16>) -> Result<Vec<String>, UrlError> {
    hosts
        .split(',')
        .map(|h| {
            let h = checked_host(h.trim())?;
            let has_port = h.rsplit_once(':').is_some_and(|_| !h.ends_with(']'));
            Ok(match default_port {
                Some(port) if !has_port => format!("{h}:{port}"),
                _ => h.to_owned(),
            })
        })
        .collect()
}

/// An optional database number from a path (without its leading `/`).
fn db_path(path: &str, expected: &'static str) -> Result<Option<u32>, UrlError> {
    if path.is_empty() {
        return Ok(None);
    }
    path.parse::<u32>()
        .map(Some)
        .map_err(|_| UrlError::Path { expected })
}

/// The query parameters this crate reads; the rest are kept for redis-rs.
#[derive(Default)]
struct Params {
    replica_acks: Option<String>,
    timeout_ms: Option<String>,
    earlier_names: Option<String>,
}

impl Params {
    fn parse(query: Option<&str>) -> Result<(Self, String), UrlError> {
        let mut params = Self::default();
        let mut other = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*name {
                "replica_acks" => params.replica_acks = Some(value.into_owned()),
                "replica_ack_timeout_ms" => params.timeout_ms = Some(value.into_owned()),
                "earlier_names" => params.earlier_names = Some(value.into_owned()),
                _ => {
                    other.append_pair(&name, &value);
                }
            }
        }
        Ok((params, other.finish()))
    }

    fn earlier_names(&self) -> Result<bool, UrlError> {
        match self.earlier_names.as_deref() {
            None | Some("on") => Ok(true),
            Some("off") => Ok(false),
            Some(other) => Err(UrlError::EarlierNames(other.to_owned())),
        }
    }

    fn replica_acks(&self) -> Result<Option<ReplicaAcks>, UrlError> {
        let replicas = match &self.replica_acks {
            Some(n) => n
                .parse::<u32>()
                .map_err(|_| UrlError::ReplicaAcks(n.clone()))?,
            None => 0,
        };
        let timeout = match &self.timeout_ms {
            Some(t) => {
                let ms = t
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=1500).contains(ms))
                    .ok_or_else(|| UrlError::ReplicaAckTimeout(t.clone()))?;
                Duration::from_millis(ms)
            }
            None => DEFAULT_REPLICA_ACK_TIMEOUT,
        };
        if replicas == 0 {
            return match self.timeout_ms {
                Some(_) if self.replica_acks.is_none() => Err(UrlError::TimeoutWithoutAcks),
                _ => Ok(None),
            };
        }
        Ok(Some(ReplicaAcks { replicas, timeout }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<StoreUrl, UrlError> {
        url.parse()
    }

    fn addr(info: &ConnectionInfo) -> String {
        info.addr().to_string()
    }

    #[test]
    fn one_server_with_database_and_credentials() {
        let url = parse("redis://user:p%40ss@127.0.0.1:6380/3").unwrap();
        let Target::Single(info) = url.target else {
            panic!("not a single server")
        };
        assert_eq!(addr(&info), "127.0.0.1:6380");
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(info.redis_settings().username(), Some("user"));
        assert_eq!(info.redis_settings().password(), Some("p@ss"));
        assert!(url.replica_acks.is_none());
    }

    #[test]
    fn tls_is_kept() {
        let url = parse("rediss://example.com:6380").unwrap();
        let Target::Single(info) = url.target else {
            panic!("not a single server")
        };
        assert!(matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }));
    }

    #[test]
    fn cluster_seeds_share_the_credentials() {
        let url = parse("redis-cluster://:pw@a:7000, b:7001?replica_acks=1").unwrap();
        let Target::Cluster(nodes) = url.target else {
            panic!("not a cluster")
        };
        assert_eq!(nodes.len(), 2);
        assert_eq!(addr(&nodes[1]), "b:7001");
        assert!(
            nodes
                .iter()
                .all(|n| n.redis_settings().password() == Some("pw"))
        );
        assert_eq!(url.replica_acks.unwrap().replicas, 1);
    }

    #[test]
    fn sentinel_with_master_name_database_and_acks() {
        let url = parse(
            "redis+sentinel://:secret@127.0.0.1:26379,127.0.0.1:26380,s3/mymaster/2\
             ?replica_acks=1&replica_ack_timeout_ms=250",
        )
        .unwrap();
        let Target::Sentinel {
            sentinels,
            master_name,
            master,
        } = url.target
        else {
            panic!("not sentinel")
        };
        let sentinels: Vec<_> = sentinels.iter().map(addr).collect();
        assert_eq!(
            sentinels,
            ["127.0.0.1:26379", "127.0.0.1:26380", "s3:26379"]
        );
        assert_eq!(master_name, "mymaster");
        assert_eq!(master.db(), 2);
        assert_eq!(master.password(), Some("secret"));
        assert_eq!(
            url.replica_acks,
            Some(ReplicaAcks {
                replicas: 1,
                timeout: Duration::from_millis(250)
            })
        );
    }

    #[test]
    fn earlier_names_are_looked_under_unless_turned_off() {
        assert!(parse("redis://h:1").unwrap().earlier_names);
        assert!(parse("redis://h:1?earlier_names=on").unwrap().earlier_names);
        let off = parse("redis-cluster://a:7000,b:7001?replica_acks=1&earlier_names=off").unwrap();
        assert!(!off.earlier_names);
        assert_eq!(off.replica_acks.unwrap().replicas, 1);
        assert!(matches!(
            parse("redis://h:1?earlier_names=no"),
            Err(UrlError::EarlierNames(value)) if value == "no"
        ));
    }

    #[test]
    fn acks_default_to_half_a_second_and_zero_means_off() {
        let url = parse("redis://h:1?replica_acks=2").unwrap();
        assert_eq!(
            url.replica_acks.unwrap().timeout,
            DEFAULT_REPLICA_ACK_TIMEOUT
        );
        assert!(
            parse("redis://h:1?replica_acks=0")
                .unwrap()
                .replica_acks
                .is_none()
        );
    }

    #[test]
    fn malformed_urls_are_named_without_their_password() {
        let cases = [
            ("http://u:hunter2@h:1", UrlError::Scheme),
            ("hunter2", UrlError::Scheme),
            ("redis+sentinel://u:hunter2@h:1", UrlError::NoMasterName),
            ("redis+sentinel://u:hunter2@h:1/", UrlError::NoMasterName),
            ("redis+sentinel://u:hunter2@/m", UrlError::NoHost),
            ("redis+sentinel://u:hunter2@a:1,,b:2/m", UrlError::NoHost),
            (
                "redis+sentinel://u:hunter2@a:x/m",
                UrlError::Host("a:x".into()),
            ),
            (
                "redis+sentinel://u:hunter2@a:1/m/x",
                UrlError::Path {
                    expected: "/MASTER_NAME[/DB]",
                },
            ),
            (
                "redis+sentinel://u:hunter2@a:1/m?sentinel_password=hunter2",
                UrlError::UnknownParameter("sentinel_password".into()),
            ),
            (
                "redis://u:hunter2@a:1,b:2",
                UrlError::Host("a:1,b:2".into()),
            ),
            (
                "redis://u:hunter2@a:99999",
                UrlError::Host("a:99999".into()),
            ),
            (
                "redis://u:hunter2@a:1/db",
                UrlError::Path {
                    expected: "empty or /DB",
                },
            ),
            (
                "redis-cluster://u:hunter2@a:1/0",
                UrlError::Path { expected: "empty" },
            ),
            (
                "redis://u:hunter2@a:1?replica_acks=one",
                UrlError::ReplicaAcks("one".into()),
            ),
            (
                "redis://u:hunter2@a:1?replica_acks=1&replica_ack_timeout_ms=0",
                UrlError::ReplicaAckTimeout("0".into()),
            ),
            (
                "redis://u:hunter2@a:1?replica_acks=1&replica_ack_timeout_ms=5000",
                UrlError::ReplicaAckTimeout("5000".into()),
            ),
            (
                "redis://u:hunter2@a:1?replica_ack_timeout_ms=100",
                UrlError::TimeoutWithoutAcks,
            ),
        ];
        for (url, expected) in cases {
            let err = parse(url).expect_err(url);
            assert_eq!(err, expected, "{url}");
            let message = err.to_string();
            assert!(!message.contains("hunter2"), "{url}: {message}");
            assert!(!message.contains('\n'), "{url}: {message}");
        }
    }
}
