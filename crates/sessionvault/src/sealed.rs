//! Sealed cookies: the session itself, encrypted and authenticated with XChaCha20-Poly1305,
//! for applications that keep no server-side store.
//!
//! ```text
//! value = base64url( 0x01 || nonce(24) || ciphertext+tag )      AAD = cookie name
//! ```
//!
//! The key is derived from the keyring for this purpose only; fallback keys open cookies sealed
//! before a rotation. The cookie name is bound as associated data, so a sealed value moved to
//! another cookie does not open.
//!
//! # Speed
//!
//! On x86-64, `poly1305` picks its AVX2 backend at run time, and unless the whole build
//! targets AVX2 that backend calls its intrinsics out of line: on a cookie of a few hundred
//! bytes, sealing or opening then takes about three times as long as with the portable
//! backend (1.9 against 0.6 µs for 128 bytes), and they are even at about 3 KB. An
//! application that seals cookies picks the portable one with
//! `RUSTFLAGS='--cfg poly1305_backend="soft"'`, or the same in its `.cargo/config.toml`, as
//! this project's own builds do; both backends are constant-time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::{Error, Keyring};

const VERSION: u8 = 1;
const NONCE: usize = 24;
const TAG: usize = 16;
/// Version byte, nonce and Poly1305 tag.
const OVERHEAD: usize = 1 + NONCE + TAG;

/// Seals and opens cookie values.
#[derive(Clone)]
pub struct SealedCodec {
    keys: Vec<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for SealedCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCodec")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl SealedCodec {
    /// The purpose label under which the sealing keys are derived.
    pub const PURPOSE: &'static str = "sessionvault/v1/cookie-seal";

    /// Derives the sealing keys from every secret of the keyring, current first.
    pub fn new(keyring: &Keyring) -> Self {
        Self {
            keys: keyring.derive(Self::PURPOSE),
        }
    }

    /// Encrypts `plaintext` for the cookie `name` under the current key.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] when no nonce can be drawn.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|_| Error::Random)?;
        // Encrypted where it lies in the value: one buffer, no ciphertext of its own.
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = XChaCha20Poly1305::new((&*self.keys[0]).into())
            .encrypt_inout_detached(
                &XNonce::from(nonce),
                name.as_bytes(),
                (&mut out[1 + NONCE..]).into(),
            )
            .map_err(|_| Error::Unrepresentable("plaintext too long to seal"))?;
        out.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a value sealed for the cookie `name`, trying the current key, then each
    /// fallback. Returns the plaintext and the index of the key that opened it.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for a value that is not a sealed cookie; [`Error::BadSignature`]
    /// when no key opens it (tampered, another cookie's, or a retired key).
    pub fn open(&self, name: &str, value: &str) -> Result<(Vec<u8>, usize), Error> {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| Error::malformed("sealed cookie is not base64url"))?;
        if bytes.len() < OVERHEAD || bytes[0] != VERSION {
            return Err(Error::malformed("not a sealed cookie of a known version"));
        }
        let end = bytes.len() - TAG;
        let (head, rest) = bytes.split_at_mut(1 + NONCE);
        let (ciphertext, tag) = rest.split_at_mut(end - head.len());
        let nonce = <&XNonce>::try_from(&head[1..])
            .map_err(|_| Error::malformed("not a sealed cookie of a known version"))?;
        let tag = <&Tag>::try_from(&*tag)
            .map_err(|_| Error::malformed("not a sealed cookie of a known version"))?;
        // Decrypted in place. The tag is checked before anything is decrypted, so a key that
        // fails leaves the ciphertext as it was for the next one.
        let index = self
            .keys
            .iter()
            .position(|key| {
                XChaCha20Poly1305::new((&**key).into())
                    .decrypt_inout_detached(nonce, name.as_bytes(), (&mut *ciphertext).into(), tag)
                    .is_ok()
            })
            .ok_or(Error::BadSignature)?;
        bytes.truncate(end);
        bytes.drain(..1 + NONCE);
        Ok((bytes, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sealing and opening make a Poly1305 state from each message's one-time key, and the
    /// state wipes itself when dropped only with `poly1305`'s `zeroize` feature: without it the
    /// type has nothing to drop.
    #[test]
    fn the_one_time_authenticator_state_is_wiped_when_dropped() {
        assert!(std::mem::needs_drop::<poly1305::Poly1305>());
    }

    /// The workspace's builds pick poly1305's portable backend (see the module's docs); a
    /// `RUSTFLAGS` in the environment replaces the flag that does it.
    #[test]
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    fn this_workspace_builds_the_portable_authenticator() {
        // Through `black_box`: a bare `cfg!` is a constant, which clippy refuses to assert.
        assert!(
            std::hint::black_box(cfg!(poly1305_backend = "soft")),
            "RUSTFLAGS overrides .cargo/config.toml: add --cfg poly1305_backend=\"soft\" to it"
        );
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let keyring = Keyring::generate().unwrap();
        let codec = SealedCodec::new(&keyring);
        let sealed = codec.seal("__Host-session", b"{\"a\":1}").unwrap();
        assert!(!sealed.contains("\"a\""));
        assert_eq!(
            codec.open("__Host-session", &sealed).unwrap(),
            (b"{\"a\":1}".to_vec(), 0)
        );
        // Another cookie name, another key, tampering, garbage: all refused.
        assert!(codec.open("other", &sealed).unwrap_err().is_bad_signature());
        let other = SealedCodec::new(&Keyring::generate().unwrap());
        assert!(
            other
                .open("__Host-session", &sealed)
                .unwrap_err()
                .is_bad_signature()
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert!(codec.open("__Host-session", &tampered).is_err());
        for junk in ["", "!!", "AAAA", &"A".repeat(100)] {
            assert!(codec.open("__Host-session", junk).is_err());
        }
        // Two seals of the same data differ (fresh nonce).
        assert_ne!(sealed, codec.seal("__Host-session", b"{\"a\":1}").unwrap());
    }

    /// Sealed in place, the value is what the one-shot AEAD makes and opens: cookies sealed
    /// either way open either way.
    #[test]
    fn in_place_sealing_is_the_one_shot_aead_format() {
        use chacha20poly1305::aead::{Aead, Payload};
        let keyring = Keyring::generate().unwrap();
        let codec = SealedCodec::new(&keyring);
        let cipher = XChaCha20Poly1305::new((&*codec.keys[0]).into());
        let plaintext = b"[2,null,null,1,0,18e11,432e11,null,0,{\"n\":1}]";
        let payload = |msg| Payload { msg, aad: b"n" };

        let bytes = URL_SAFE_NO_PAD
            .decode(codec.seal("n", plaintext).unwrap())
            .unwrap();
        assert_eq!(bytes.len(), OVERHEAD + plaintext.len());
        let nonce = XNonce::try_from(&bytes[1..1 + NONCE]).unwrap();
        let opened = cipher
            .decrypt(&nonce, payload(&bytes[1 + NONCE..]))
            .unwrap();
        assert_eq!(opened, plaintext);

        let nonce = XNonce::from([7u8; NONCE]);
        let mut one_shot = vec![VERSION];
        one_shot.extend_from_slice(&nonce);
        one_shot.extend(cipher.encrypt(&nonce, payload(plaintext)).unwrap());
        let value = URL_SAFE_NO_PAD.encode(one_shot);
        assert_eq!(codec.open("n", &value).unwrap(), (plaintext.to_vec(), 0));
    }

    /// The current key is tried first and fails, in place: the ciphertext must be left as it
    /// was for the fallback key to open.
    #[test]
    fn rotation_keeps_old_cookies_readable() {
        let old = Keyring::generate().unwrap();
        let sealed = SealedCodec::new(&old).seal("n", b"x").unwrap();
        let rotated = Keyring::danger_legacy_unchecked(
            Keyring::generate().unwrap().current().expose(),
            [old.current().expose()],
        );
        assert_eq!(SealedCodec::new(&rotated).open("n", &sealed).unwrap().1, 1);
    }
}
