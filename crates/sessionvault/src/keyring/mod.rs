//! Secret keys: one that signs, older ones that only verify, and the checks that keep a
//! guessable key out.

pub(crate) mod known;
mod strength;

use std::fmt;

use zeroize::Zeroizing;

use crate::Error;

pub use strength::{
    Assessment, HOW_TO_FIX, MIN_ESTIMATED_BITS, MIN_SECRET_LEN, WeakSecret, assess,
};

/// The number of random bytes [`Keyring::generate`] and `sessionvault keygen` use by default.
pub const DEFAULT_GENERATED_LEN: usize = 64;

/// One secret key. The bytes are wiped from memory when it is dropped and never shown by
/// `Debug`.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes as a secret without checking them.
    fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// `len` fresh bytes from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// Fails only when the operating system cannot provide randomness.
    pub fn generate(len: usize) -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The key material. Named so that every place that handles the raw bytes stands out.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty secret (which no checked keyring holds).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// The secret keys of one application: the current one, which signs, and fallbacks, which only
/// verify (Flask's `SECRET_KEY` and `SECRET_KEY_FALLBACKS`, with the fallbacks newest first).
///
/// Every secret is checked with [`assess`] when it enters the keyring: a key that is short,
/// published, patterned or made of words is refused, since one captured cookie lets an attacker
/// try millions of guesses per second. Reading cookies of an existing application whose key is
/// weak needs [`Keyring::danger_legacy_unchecked`].
///
/// # Examples
///
/// ```
/// use sessionvault::Keyring;
///
/// let keyring = Keyring::new("5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f")?
///     .with_fallback("0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c")?;
/// assert_eq!(keyring.fallbacks().len(), 1);
///
/// let err = Keyring::new("dev").unwrap_err();
/// assert!(err.to_string().contains("publicly known"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    /// `secrets[0]` signs; the rest verify, newest first. Never empty.
    secrets: Vec<Secret>,
}

impl Keyring {
    /// A keyring whose current secret is `current`.
    ///
    /// # Errors
    ///
    /// [`Error::WeakSecret`] when `current` is guessable; the message says why and how to
    /// generate a good one.
    pub fn new(current: impl AsRef<[u8]>) -> Result<Self, Error> {
        Ok(Self {
            secrets: vec![checked(current.as_ref())?],
        })
    }

    /// Adds an older secret that still verifies but no longer signs. Call it newest first.
    ///
    /// # Errors
    ///
    /// [`Error::WeakSecret`] when the fallback is guessable: a weak fallback lets anyone forge
    /// cookies just as a weak current key does.
    pub fn with_fallback(mut self, fallback: impl AsRef<[u8]>) -> Result<Self, Error> {
        self.secrets.push(checked(fallback.as_ref())?);
        Ok(self)
    }

    /// A keyring with a fresh random current secret of [`DEFAULT_GENERATED_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// Fails only when the operating system cannot provide randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        Ok(Self {
            secrets: vec![Secret::generate(DEFAULT_GENERATED_LEN)?],
        })
    }

    /// A keyring that skips the strength checks, **for reading cookies of an existing
    /// application whose key may be weak** (auditing, migration). Anyone who can guess such a
    /// key can forge sessions, so never use this to protect new sessions.
    pub fn danger_legacy_unchecked<S: AsRef<[u8]>>(
        current: impl AsRef<[u8]>,
        fallbacks: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut secrets = vec![Secret::new(current.as_ref().to_vec())];
        secrets.extend(
            fallbacks
                .into_iter()
                .map(|s| Secret::new(s.as_ref().to_vec())),
        );
        Self { secrets }
    }

    /// The secret that signs.
    pub fn current(&self) -> &Secret {
        &self.secrets[0]
    }

    /// The secrets that only verify, newest first.
    pub fn fallbacks(&self) -> &[Secret] {
        &self.secrets[1..]
    }

    /// Every secret, the current one first: the order in which to try them when verifying.
    pub fn all(&self) -> &[Secret] {
        &self.secrets
    }

    /// A 32-byte key for one purpose from each secret, current first (HKDF-SHA256 with the
    /// purpose as `info`), so that no key does two jobs: sealing cookies, hashing IDs and CSRF
    /// tokens each get their own.
    pub fn derive(&self, purpose: &str) -> Vec<Zeroizing<[u8; 32]>> {
        self.secrets
            .iter()
            .map(|secret| {
                let mut out = Zeroizing::new([0u8; 32]);
                hkdf::Hkdf::<sha2::Sha256>::new(Some(b"sessionvault"), secret.expose())
                    .expand(purpose.as_bytes(), out.as_mut())
                    .unwrap_or_else(|_| unreachable!("32 bytes is within HKDF-SHA256's output"));
                out
            })
            .collect()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &"[REDACTED]")
            .field("fallbacks", &self.fallbacks().len())
            .finish()
    }
}

fn checked(secret: &[u8]) -> Result<Secret, Error> {
    match assess(secret).weakness {
        Some(weakness) => Err(Error::WeakSecret(weakness)),
        None => Ok(Secret::new(secret.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f";

    #[test]
    fn debug_never_shows_secrets() {
        let keyring = Keyring::new(STRONG).unwrap();
        let shown = format!("{keyring:?} {:?}", keyring.current());
        assert!(!shown.contains("5f0e"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn weak_keys_are_refused_with_advice() {
        for weak in ["dev", "secret", "changeme", "super secret key", "short"] {
            let message = Keyring::new(weak).unwrap_err().to_string();
            assert!(message.contains("sessionvault keygen"), "{message}");
            assert!(!message.contains(weak) || weak == "secret", "{message}");
        }
        let strong = Keyring::new(STRONG).unwrap();
        assert!(strong.with_fallback("changeme").is_err());
    }

    #[test]
    fn danger_legacy_unchecked_accepts_anything_and_orders_keys() {
        let keyring = Keyring::danger_legacy_unchecked("dev", ["old", "older"]);
        let all: Vec<&[u8]> = keyring.all().iter().map(Secret::expose).collect();
        assert_eq!(all, [&b"dev"[..], b"old", b"older"]);
    }

    #[test]
    fn generated_keyring_is_random_and_strong() {
        let a = Keyring::generate().unwrap();
        let b = Keyring::generate().unwrap();
        assert_eq!(a.current().len(), DEFAULT_GENERATED_LEN);
        assert_ne!(a.current().expose(), b.current().expose());
        assert!(assess(a.current().expose()).is_strong());
    }
}
