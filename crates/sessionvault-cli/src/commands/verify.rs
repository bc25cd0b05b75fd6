use sessionvault::flask::FlaskCodec;

use crate::cli::{FormatArgs, SecretArgs};
use crate::exit;
use crate::input::{cookie_value, legacy_keyring};

pub(crate) fn run(
    secrets: &SecretArgs,
    format: &FormatArgs,
    max_age: u64,
    now: Option<u64>,
    raw: bool,
    cookie: &str,
) -> anyhow::Result<u8> {
    let codec = FlaskCodec::new(legacy_keyring(secrets)?)
        .with_salt(&format.salt)
        .with_digest(format.digest.into())
        .with_max_age(Some(max_age));
    let cookie = cookie_value(cookie)?;
    let result = match now {
        Some(now) => codec.verify_at(&cookie, now),
        None => codec.verify(&cookie),
    };
    let verified = match result {
        Ok(verified) => verified,
        Err(err) => {
            eprintln!("sessionvault: {err}");
            return Ok(exit::NEGATIVE);
        }
    };
    if verified.key_index() > 0 {
        eprintln!(
            "note: verified with fallback key {}; the application should re-sign it with the \
             current key",
            verified.key_index()
        );
    }
    if raw {
        println!("{}", crate::escape::for_stdout(verified.raw_json()));
    } else {
        super::print_session(verified.value())?;
    }
    Ok(exit::OK)
}
