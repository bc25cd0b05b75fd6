use anyhow::Context as _;
use sessionvault::Keyring;
use sessionvault::flask::{FlaskCodec, Value, tagged_json};

use crate::cli::{FormatArgs, SecretArgs};
use crate::exit;
use crate::input::{arg_or_stdin, secrets};

pub(crate) fn run(
    secret_args: &SecretArgs,
    format: &FormatArgs,
    timestamp: Option<u64>,
    raw: bool,
    allow_weak_secret: bool,
    json: &str,
) -> anyhow::Result<u8> {
    let secrets = secrets(secret_args)?;
    let keyring = if allow_weak_secret {
        Keyring::danger_legacy_unchecked(&secrets[0], &secrets[1..])
    } else {
        let mut keyring = Keyring::new(&secrets[0])
            .context("refusing to sign (pass --allow-weak-secret to test an app you own)")?;
        for fallback in &secrets[1..] {
            keyring = keyring
                .with_fallback(fallback)
                .context("refusing a weak fallback key")?;
        }
        keyring
    };
    let codec = FlaskCodec::new(keyring)
        .with_salt(&format.salt)
        .with_digest(format.digest.into());
    let text = arg_or_stdin(json, "JSON")?;
    let timestamp = timestamp.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let cookie = if raw {
        // Parse only to refuse what Flask could not load; sign the exact text.
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        tagged_json::from_str(trimmed).context("--raw JSON is not valid tagged JSON")?;
        sessionvault::tooling::sign_raw_at(&codec, trimmed, timestamp)
    } else {
        let plain: serde_json::Value =
            serde_json::from_str(&text).context("the session is not valid JSON")?;
        codec.sign_at(&Value::from_plain_json(&plain), timestamp)?
    };
    println!("{cookie}");
    Ok(exit::OK)
}
