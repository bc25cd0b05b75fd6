//! One module per subcommand.

mod audit;
mod audit_secret;
mod crack;
mod decode;
mod keygen;
mod sign;
mod verify;

use crate::cli::{Cli, Command};

/// Runs a command and returns its exit code; `Err` is an input or usage problem (exit 2).
pub(crate) fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Keygen { bytes } => keygen::run(bytes.into()),
        Command::Decode { raw, cookie } => decode::run(&cookie, raw),
        Command::Verify {
            secrets,
            format,
            max_age,
            now,
            raw,
            cookie,
        } => verify::run(&secrets, &format, max_age, now, raw, &cookie),
        Command::Sign {
            secrets,
            format,
            timestamp,
            raw,
            allow_weak_secret,
            json,
        } => sign::run(&secrets, &format, timestamp, raw, allow_weak_secret, &json),
        Command::Crack(args) => crack::run(&args),
        Command::AuditSecret { secret_file, json } => {
            audit_secret::run(secret_file.as_deref(), json)
        }
        Command::Audit {
            cookie_name,
            json,
            url,
        } => audit::run(&url, cookie_name.as_deref(), json),
    }
}

/// Prints a session as pretty plain JSON, its strings' control characters escaped.
fn print_session(value: &sessionvault::flask::Value) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(&value.to_plain_json())?;
    println!("{}", crate::escape::escape_json(&json));
    Ok(())
}
