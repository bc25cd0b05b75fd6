//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Session-security toolkit: generate secret keys, read, verify and sign Flask session cookies.
///
/// Exit codes: 0 success, 1 negative answer (invalid cookie, weak secret), 2 the command could
/// not run (bad arguments or input).
#[derive(Debug, Parser)]
#[command(name = "sessionvault", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print a new random secret key, hex-encoded, from the OS CSPRNG.
    Keygen {
        /// Number of random bytes (at least 32).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(32..))]
        bytes: u16,
    },
    /// Print a cookie's session WITHOUT checking its signature: what anyone who sees the cookie
    /// can read.
    Decode {
        /// Print the inner tagged JSON exactly as it was serialized.
        #[arg(long)]
        raw: bool,
        /// The cookie value (`session=` prefix allowed), or `-` to read it from stdin.
        cookie: String,
    },
    /// Check a cookie's signature and age; print the session when valid.
    Verify {
        #[command(flatten)]
        secrets: SecretArgs,
        #[command(flatten)]
        format: FormatArgs,
        /// Maximum age in seconds (Flask's PERMANENT_SESSION_LIFETIME).
        #[arg(long, default_value_t = sessionvault::flask::FLASK_MAX_AGE)]
        max_age: u64,
        /// Verify as if the time were this (Unix seconds) instead of now.
        #[arg(long, value_name = "UNIX_SECONDS")]
        now: Option<u64>,
        /// Print the inner tagged JSON exactly as it was serialized.
        #[arg(long)]
        raw: bool,
        /// The cookie value (`session=` prefix allowed), or `-` to read it from stdin.
        cookie: String,
    },
    /// Sign a session and print the cookie value.
    Sign {
        #[command(flatten)]
        secrets: SecretArgs,
        #[command(flatten)]
        format: FormatArgs,
        /// Sign as if the time were this (Unix seconds) instead of now.
        #[arg(long, value_name = "UNIX_SECONDS")]
        timestamp: Option<u64>,
        /// Take JSON as exact tagged JSON and sign it byte for byte.
        #[arg(long)]
        raw: bool,
        /// Sign even with a weak secret (to test an application you own whose key is weak).
        #[arg(long)]
        allow_weak_secret: bool,
        /// The session: plain JSON, or tagged JSON with --raw; `-` reads it from stdin.
        json: String,
    },
    /// Find the secret key of a Flask session cookie: every line of a wordlist (or the built-in
    /// list of publicly known keys) on every core. Prints the key and exits 0 when found, exits
    /// 1 when not. For auditing applications you are responsible for.
    Crack(CrackArgs),
    /// Judge a secret key: length, estimated entropy, whether it is publicly known, and what to
    /// do. Reads the secret from stdin unless --secret-file is given. Exits 1 when it is weak.
    AuditSecret {
        /// A file whose text, less one trailing newline, is the secret.
        #[arg(long, value_name = "PATH")]
        secret_file: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Request a URL (following redirects) and audit every session cookie it sets: cookie flags
    /// and prefixes, size, lifetime, and for Flask cookies what they reveal and whether a
    /// publicly known key signed them. Exits 1 when any finding is high severity.
    Audit {
        /// Only this cookie (default: cookies that look like sessions, else all).
        #[arg(long, value_name = "NAME")]
        cookie_name: Option<String>,
        /// Print the report as JSON, for CI pipelines.
        #[arg(long)]
        json: bool,
        /// The URL to request (http or https).
        url: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CrackArgs {
    /// The wordlist: one candidate key per line, any bytes, LF or CRLF. Without it, the
    /// built-in list of publicly known keys is tried.
    #[arg(long, value_name = "FILE")]
    pub(crate) wordlist: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) format: FormatArgs,
    /// The cookie value (`session=` prefix allowed), or `-` to read it from stdin.
    pub(crate) cookie: String,
}

/// Where the secret keys come from. Exactly one source for the current key: a flag, or the
/// SESSIONVAULT_SECRET environment variable when no flag is given.
#[derive(Debug, Args)]
pub(crate) struct SecretArgs {
    /// The secret key, as text (Flask's SECRET_KEY string).
    #[arg(long, env = "SESSIONVAULT_SECRET", hide_env_values = true,
          conflicts_with_all = ["secret_hex", "secret_file"])]
    pub(crate) secret: Option<String>,
    /// The secret key as hex, for binary keys (Flask accepts bytes).
    #[arg(long, value_name = "HEX", conflicts_with = "secret_file")]
    pub(crate) secret_hex: Option<String>,
    /// A file whose text, less one trailing newline, is the secret key.
    #[arg(long, value_name = "PATH")]
    pub(crate) secret_file: Option<PathBuf>,
    /// An older key that still verifies (Flask's SECRET_KEY_FALLBACKS), newest first; repeatable.
    #[arg(long, value_name = "SECRET")]
    pub(crate) fallback: Vec<String>,
    /// An older key as hex; repeatable; tried after the --fallback keys.
    #[arg(long, value_name = "HEX")]
    pub(crate) fallback_hex: Vec<String>,
}

/// The signing format. Flask's defaults unless told otherwise.
#[derive(Debug, Args)]
pub(crate) struct FormatArgs {
    /// The itsdangerous salt.
    #[arg(long, default_value = sessionvault::flask::FLASK_SALT)]
    pub(crate) salt: String,
    /// The HMAC hash.
    #[arg(long, value_enum, default_value_t = DigestArg::Sha1)]
    pub(crate) digest: DigestArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum DigestArg {
    Sha1,
    Sha256,
    Sha512,
}

impl From<DigestArg> for sessionvault::flask::Digest {
    fn from(d: DigestArg) -> Self {
        match d {
            DigestArg::Sha1 => Self::Sha1,
            DigestArg::Sha256 => Self::Sha256,
            DigestArg::Sha512 => Self::Sha512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
