//! `sessionvault`: `keygen` makes secret keys; `decode`, `verify` and `sign` read, check and
//! write Flask session cookies; `crack` looks for a cookie's key in a wordlist; `audit-secret`
//! rates a secret; `audit` inspects a site's session cookie.

mod cli;
mod commands;
mod escape;
mod input;

use std::process::ExitCode;

use clap::Parser as _;

/// Exit codes, fixed so scripts can branch on them.
pub(crate) mod exit {
    /// Success: the cookie verified, the key was found, the secret is strong.
    pub(crate) const OK: u8 = 0;
    /// A negative answer: the cookie is invalid, the key was not found, the secret is weak.
    pub(crate) const NEGATIVE: u8 = 1;
    /// The command could not run: bad arguments, unreadable file, invalid hex.
    pub(crate) const USAGE: u8 = 2;
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("sessionvault: {err:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}
