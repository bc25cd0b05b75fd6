use std::io::Read as _;

use anyhow::{Context as _, bail};
use sessionvault::keyring::{HOW_TO_FIX, MIN_ESTIMATED_BITS, MIN_SECRET_LEN, assess};

use crate::exit;
use crate::input::read_secret_file;

/// `sessionvault audit-secret`: exit 0 when the secret is strong, 1 when weak.
pub(crate) fn run(secret_file: Option<&std::path::Path>, json: bool) -> anyhow::Result<u8> {
    let secret = match secret_file {
        Some(path) => read_secret_file(path)?,
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_end(&mut bytes)
                .context("cannot read the secret from stdin")?;
            sessionvault::keyring::trim_one_newline(&mut bytes);
            bytes
        }
    };
    if secret.is_empty() {
        bail!("no secret given (pipe it on stdin or use --secret-file)");
    }
    let a = assess(&secret);
    if json {
        let report = serde_json::json!({
            "length": a.len,
            "estimated_bits": a.estimated_bits,
            "publicly_known": a.known_source,
            "strong": a.is_strong(),
            "weakness": a.weakness.as_ref().map(ToString::to_string),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "length:             {} bytes (at least {MIN_SECRET_LEN} needed)",
            a.len
        );
        println!(
            "estimated entropy:  about {} bits (at least {MIN_ESTIMATED_BITS} needed)",
            a.estimated_bits
        );
        match a.known_source {
            Some(source) => println!("publicly known:     yes ({source})"),
            None => println!("publicly known:     not on the built-in list"),
        }
        match &a.weakness {
            Some(weakness) => {
                println!("verdict:            WEAK");
                println!("why:                {weakness}");
            }
            None => {
                println!("verdict:            strong");
                println!(
                    "advice:             keep it out of source control and rotate it if it leaks; \
                     if in doubt, {HOW_TO_FIX}"
                );
            }
        }
    }
    Ok(if a.is_strong() {
        exit::OK
    } else {
        exit::NEGATIVE
    })
}
