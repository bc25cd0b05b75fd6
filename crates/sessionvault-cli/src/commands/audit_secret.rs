use std::io::{IsTerminal as _, Read as _};

use anyhow::{Context as _, bail};
use sessionvault::key_strength::{HOW_TO_FIX, MIN_ESTIMATED_BITS, MIN_SECRET_LEN, assess};
use zeroize::Zeroizing;

use crate::exit;
use crate::input::read_secret_file;

/// The longest secret read from stdin.
const MAX_STDIN_SECRET: usize = 1 << 20;

/// `sessionvault audit-secret`: exit 0 when the secret is strong, 1 when weak.
pub(crate) fn run(secret_file: Option<&std::path::Path>, json: bool) -> anyhow::Result<u8> {
    let secret = match secret_file {
        Some(path) => read_secret_file(path)?,
        None if std::io::stdin().is_terminal() => read_secret_from_terminal()?,
        None => read_secret_from_pipe(std::io::stdin())?,
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

/// The secret typed at the terminal, not echoed. The line never passes through a buffer that
/// is not wiped once this process is done with it (the terminal's own buffers aside).
fn read_secret_from_terminal() -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let line = rpassword::prompt_password("Secret (not shown): ")
        .context("cannot read the secret from the terminal")?;
    // `into_bytes` moves the buffer: no copy is left behind.
    Ok(Zeroizing::new(line.into_bytes()))
}

/// The secret piped on stdin, less one trailing newline. The buffer is allocated at its full
/// size first: growing it would leave copies of the secret in freed memory.
fn read_secret_from_pipe(input: impl std::io::Read) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_STDIN_SECRET + 1));
    input
        .take(MAX_STDIN_SECRET as u64)
        .read_to_end(&mut bytes)
        .context("cannot read the secret from stdin")?;
    // In place: the newline cut off stays in the buffer's capacity, which is wiped too.
    sessionvault::tooling::trim_one_newline(&mut bytes);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // See: issue 17, finding 16
    #[test]
    fn review_audit_secret_reads_into_a_wiped_buffer() {
        let input: &[u8] = b"correct horse\n";
        let secret: Zeroizing<Vec<u8>> = read_secret_from_pipe(input).unwrap();
        assert_eq!(secret.as_slice(), b"correct horse");
        assert!(
            secret.capacity() > MAX_STDIN_SECRET,
            "allocated once, never grown"
        );
        let long = vec![b'a'; MAX_STDIN_SECRET + 10];
        let secret = read_secret_from_pipe(long.as_slice()).unwrap();
        assert_eq!(secret.len(), MAX_STDIN_SECRET, "cut at the limit");
        assert!(secret.capacity() > MAX_STDIN_SECRET);
        // Files too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from a file\r\n").unwrap();
        let secret: Zeroizing<Vec<u8>> = read_secret_file(&path).unwrap();
        assert_eq!(secret.as_slice(), b"from a file");
    }
}
