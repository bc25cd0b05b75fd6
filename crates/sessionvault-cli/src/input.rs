//! Reading what the user gives: secrets from flags, files, hex or the environment; cookies and
//! JSON from arguments or stdin. Errors name the source, never the secret.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use sessionvault::Keyring;
use zeroize::Zeroizing;

use crate::cli::SecretArgs;

/// The current secret and the fallbacks, as bytes, current first; each wiped when dropped.
pub(crate) fn secrets(args: &SecretArgs) -> anyhow::Result<Vec<Zeroizing<Vec<u8>>>> {
    let current = if let Some(text) = &args.secret {
        Zeroizing::new(text.as_bytes().to_vec())
    } else if let Some(h) = &args.secret_hex {
        decode_hex(h, "--secret-hex")?
    } else if let Some(path) = &args.secret_file {
        read_secret_file(path)?
    } else {
        bail!(
            "no secret key: give --secret, --secret-hex, --secret-file or set SESSIONVAULT_SECRET"
        )
    };
    if current.is_empty() {
        bail!("the secret key is empty");
    }
    let mut all = vec![current];
    all.extend(
        args.fallback
            .iter()
            .map(|f| Zeroizing::new(f.as_bytes().to_vec())),
    );
    for h in &args.fallback_hex {
        all.push(decode_hex(h, "--fallback-hex")?);
    }
    Ok(all)
}

/// A keyring that accepts any secret: reading and verifying cookies of existing applications
/// must work whatever their key is.
pub(crate) fn legacy_keyring(args: &SecretArgs) -> anyhow::Result<Keyring> {
    let secrets = secrets(args)?;
    Ok(Keyring::danger_legacy_unchecked(&secrets[0], &secrets[1..]))
}

fn decode_hex(text: &str, flag: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    // The error says where and what, never the value.
    hex::decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|_| anyhow::anyhow!("{flag} is not valid hex"))
}

/// A secret file's text, less one trailing newline (`\n` or `\r\n`), wiped when dropped.
pub(crate) fn read_secret_file(path: &std::path::Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    sessionvault::tooling::read_secret_file(path)
        .with_context(|| format!("cannot read secret file {}", path.display()))
}

/// An argument, or stdin when it is `-`.
pub(crate) fn arg_or_stdin(arg: &str, what: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the {what} from stdin"))?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("the {what} on stdin is not UTF-8"))
}

/// The cookie value out of what a user pastes: surrounding whitespace and quotes and a
/// `name=` prefix go (a Flask cookie value never contains `=`).
pub(crate) fn cookie_value(arg: &str) -> anyhow::Result<String> {
    let text = arg_or_stdin(arg, "cookie")?;
    let trimmed = text.trim().trim_matches('"');
    let value = match trimmed.rsplit_once('=') {
        Some((_, value)) => value,
        None => trimmed,
    };
    let value = value.trim_end_matches(';').trim();
    if value.is_empty() {
        bail!("the cookie is empty");
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_value_strips_names_and_quotes() {
        assert_eq!(cookie_value("session=abc.d.e").unwrap(), "abc.d.e");
        assert_eq!(cookie_value(" \"abc.d.e\" ").unwrap(), "abc.d.e");
        assert_eq!(cookie_value("abc.d.e;").unwrap(), "abc.d.e");
        assert!(cookie_value("session=").is_err());
    }
}
