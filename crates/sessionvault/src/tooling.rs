//! Helpers for tools built on the library (the `sessionvault` command, store test suites,
//! fuzzers), which an application does not need: reading a secret file, the list of published
//! secrets, signing an exact payload at a chosen time, and hashing IDs into store keys as the
//! manager does.

use zeroize::Zeroizing;

use crate::flask::FlaskCodec;

pub use crate::id::hasher::IdHasher;
pub use crate::keyring::known::KNOWN_SECRETS;

/// Reads a secret key file the way Flask users write one: its text, less one trailing newline
/// (`\n` or `\r\n`), so `echo "$KEY" > key` and editors that end files with a newline give the
/// same key. The bytes are wiped from memory when dropped.
///
/// # Errors
///
/// When the file cannot be read.
pub fn read_secret_file(path: &std::path::Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(std::fs::read(path)?);
    trim_one_newline(&mut bytes);
    Ok(bytes)
}

/// Removes one trailing `\n` or `\r\n`: a secret given on a line ends where the line does.
pub fn trim_one_newline(bytes: &mut Vec<u8>) {
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
}

/// Signs an exact tagged JSON text as-is with `codec`'s current key, as if the time were
/// `timestamp` (Unix seconds): the cookie Flask makes from the same text at that time.
pub fn sign_raw_at(codec: &FlaskCodec, tagged_json: &str, timestamp: u64) -> String {
    codec.sign_raw_at(tagged_json, timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_not_part_of_a_secret() {
        for (input, want) in [
            (&b"key\n"[..], &b"key"[..]),
            (b"key\r\n", b"key"),
            (b"key\n\n", b"key\n"),
            (b"key", b"key"),
        ] {
            let mut bytes = input.to_vec();
            trim_one_newline(&mut bytes);
            assert_eq!(bytes, want);
        }
    }
}
