//! Start-up shared by the workspace's servers, the axum counter example and the demo: the
//! command-line options they have in common, opening a store from a URL, reading key files.
//! It lives in its own crate so that neither the core nor the axum integration learns about
//! command lines, files or every store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jiff::SignedDuration;
use sessionvault::SessionManagerBuilder;
use sessionvault::store::MemoryStore;
use sessionvault::store::SessionStore;
use sessionvault::timeout::parse_timeout;
use sessionvault::{CookieConfig, CookieMode, Keyring, SessionConfig};
use sessionvault_redis::RedisStore;
use sessionvault_sqlx::{PgStore, SqliteStore};
use zeroize::Zeroizing;

/// The store URLs [`StoreUrl::parse`] accepts, for help and error texts.
pub const STORE_URLS: &str = "memory, sqlite:PATH, postgres://USER@HOST:PORT/DB, \
     redis://HOST:PORT[/DB], rediss://..., redis-cluster://HOST:PORT[,HOST:PORT...] or \
     redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]";

/// Where sessions live, from a `--store` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory`: process memory.
    Memory,
    /// `sqlite:PATH`.
    Sqlite(String),
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
    /// Any Redis URL `sessionvault-redis` reads (plain, TLS, cluster, sentinel).
    Redis(String),
}

impl StoreUrl {
    /// Reads a `--store` value.
    ///
    /// # Errors
    ///
    /// For a URL of no supported store; the message lists them.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        Ok(if url == "memory" {
            Self::Memory
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            Self::Sqlite(path.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(url.to_owned())
        } else if url.starts_with("redis") {
            Self::Redis(url.to_owned())
        } else {
            bail!("unsupported --store {url:?}: use {STORE_URLS}")
        })
    }

    /// Opens (connecting, applying schemas) the store, for a caller that wraps it.
    ///
    /// # Errors
    ///
    /// When the store cannot be opened or reached.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn SessionStore>> {
        Ok(match self {
            Self::Memory => Arc::new(MemoryStore::new()),
            Self::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
            Self::Postgres(url) => Arc::new(PgStore::connect(url).await?),
            Self::Redis(url) => Arc::new(RedisStore::connect(url).await?),
        })
    }

    /// Opens the store and gives it to `builder`, each store as its own type (no indirection
    /// on the request path).
    ///
    /// # Errors
    ///
    /// When the store cannot be opened or reached.
    pub async fn install(
        &self,
        builder: SessionManagerBuilder,
    ) -> anyhow::Result<SessionManagerBuilder> {
        Ok(match self {
            Self::Memory => builder.with_store(MemoryStore::new()),
            Self::Sqlite(path) => builder.with_store(SqliteStore::open(path).await?),
            Self::Postgres(url) => builder.with_store(PgStore::connect(url).await?),
            Self::Redis(url) => builder.with_store(RedisStore::connect(url).await?),
        })
    }
}

/// `--cookie-mode`: where session state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// In the store; the cookie holds the ID.
    Server,
    /// In the cookie, encrypted.
    Sealed,
    /// In the cookie, signed as Flask signs it.
    Flask,
}

impl ModeArg {
    /// The manager's mode.
    pub fn mode(self) -> CookieMode {
        match self {
            Self::Server => CookieMode::Server,
            Self::Sealed => CookieMode::Sealed,
            Self::Flask => CookieMode::Flask,
        }
    }

    /// The name the option takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Sealed => "sealed",
            Self::Flask => "flask",
        }
    }
}

/// `--idle-timeout` and `--absolute-timeout`.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct Timeouts {
    /// Idle timeout, such as `2s`, `30m` or `12h` (positive, at most 400 days).
    #[arg(long, default_value = "30m", value_parser = parse_timeout, allow_hyphen_values = true)]
    pub idle_timeout: SignedDuration,
    /// Absolute lifetime, such as `12h` (positive, at most 400 days).
    #[arg(long, default_value = "12h", value_parser = parse_timeout, allow_hyphen_values = true)]
    pub absolute_timeout: SignedDuration,
}

/// The default configuration with `timeouts`, and with `insecure_dev` the cookie for plain
/// HTTP ([`CookieConfig::dangerous_insecure_dev`]).
pub fn session_config(timeouts: Timeouts, insecure_dev: bool) -> SessionConfig {
    let cookie = if insecure_dev {
        CookieConfig::dangerous_insecure_dev()
    } else {
        CookieConfig::default()
    };
    SessionConfig::default()
        .with_idle_timeout(timeouts.idle_timeout)
        .with_absolute_timeout(timeouts.absolute_timeout)
        .with_cookie(cookie)
}

/// A key file's secret (its text less one trailing newline), the file named in the error.
///
/// # Errors
///
/// When the file cannot be read.
pub fn read_secret(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    sessionvault::tooling::read_secret_file(path)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// `keyring` with each `--fallback-secret-file`, newest first.
///
/// # Errors
///
/// When a file cannot be read or holds a weak key.
pub fn with_fallback_files(mut keyring: Keyring, paths: &[PathBuf]) -> anyhow::Result<Keyring> {
    for path in paths {
        keyring = keyring
            .with_fallback(read_secret(path)?)
            .with_context(|| format!("fallback key {}", path.display()))?;
    }
    Ok(keyring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_read_by_scheme_and_others_refused() {
        assert_eq!(StoreUrl::parse("memory").unwrap(), StoreUrl::Memory);
        assert_eq!(
            StoreUrl::parse("sqlite:a.db").unwrap(),
            StoreUrl::Sqlite("a.db".into())
        );
        for pg in ["postgres://u@h/db", "postgresql://u@h/db"] {
            assert_eq!(StoreUrl::parse(pg).unwrap(), StoreUrl::Postgres(pg.into()));
        }
        for redis in ["redis://h:6379", "rediss://h", "redis-cluster://h:1,h:2"] {
            assert_eq!(
                StoreUrl::parse(redis).unwrap(),
                StoreUrl::Redis(redis.into())
            );
        }
        let refused = StoreUrl::parse("mysql://h").unwrap_err().to_string();
        assert!(refused.contains("unsupported --store") && refused.contains("sqlite:PATH"));
    }

    #[test]
    fn fallback_files_are_added_newest_first_and_a_missing_one_is_named() {
        let dir = std::env::temp_dir().join(format!("sv-startup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.key"), dir.join("b.key"));
        std::fs::write(
            &a,
            "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c",
        )
        .unwrap();
        let keyring = with_fallback_files(Keyring::generate().unwrap(), &[a, b]).unwrap();
        assert_eq!(keyring.fallbacks().len(), 2);
        assert_eq!(
            keyring.fallbacks()[0].expose(),
            b"5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f"
        );
        let missing =
            with_fallback_files(Keyring::generate().unwrap(), &[dir.join("none")]).unwrap_err();
        assert!(format!("{missing:#}").contains("none"), "{missing:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
