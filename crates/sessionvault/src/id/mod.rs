//! Session IDs and the keys under which stores keep them.
//!
//! The raw ID lives only in the cookie and, for one request, in memory. Stores see a
//! [`StoreKey`]: an HMAC-SHA256 of the ID's text under a key derived from the keyring, so a
//! leaked database or Redis dump holds nothing that works as a cookie.

pub(crate) mod hasher;

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub(crate) use self::hasher::IdHasher;

/// Random bytes in an ID: 256 bits, far past ASVS's 128.
pub const ID_BYTES: usize = 32;

/// Characters in an ID's cookie value: [`ID_BYTES`] in base64url without padding.
const ID_CHARS: usize = 43;

/// The base64url alphabet: each character's six-bit value, [`NOT_BASE64URL`] for other bytes.
const BASE64URL: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [NOT_BASE64URL; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Marks a byte outside the base64url alphabet in [`BASE64URL`].
const NOT_BASE64URL: u8 = 0xff;

/// A session ID, held as the cookie carries it: the base64url text of 256 random bits. Stores
/// key sessions by the keyed hash of this text, so a request that presents an ID checks its
/// characters and hashes them, without decoding. The value cannot be printed by accident:
/// `Debug` shows only that it is an ID.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(Zeroizing<[u8; ID_CHARS]>);

impl SessionId {
    /// A fresh ID from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// Only when the operating system cannot provide randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; ID_BYTES]);
        getrandom::fill(bytes.as_mut())?;
        let mut text = Zeroizing::new([0u8; ID_CHARS]);
        let written = URL_SAFE_NO_PAD
            .encode_slice(bytes.as_ref(), text.as_mut())
            .unwrap_or_else(|_| unreachable!("32 bytes are 43 characters of base64url"));
        debug_assert_eq!(written, ID_CHARS);
        Ok(Self(text))
    }

    /// Reads an ID from a cookie value: exactly the 43 characters of base64url that
    /// [`generate`](Self::generate) can produce. Anything else is not an ID this server
    /// issued.
    pub fn parse(text: impl AsRef<[u8]>) -> Option<Self> {
        let text: &[u8; ID_CHARS] = text.as_ref().try_into().ok()?;
        // No early exit: a branch-free loop over 43 bytes, which the compiler unrolls.
        let alphabet = text.iter().fold(true, |ok, &c| {
            ok & (BASE64URL[usize::from(c)] != NOT_BASE64URL)
        });
        // The 43 characters carry 258 bits: the last one's two low bits are beyond the 256 and
        // zero in every ID issued. Other endings decode to the same bytes, and were never issued.
        let canonical = BASE64URL[usize::from(text[ID_CHARS - 1])] & 0b11 == 0;
        (alphabet && canonical).then(|| Self(Zeroizing::new(*text)))
    }

    /// The cookie value: 43 characters of base64url.
    pub fn to_cookie_value(&self) -> String {
        self.0.iter().copied().map(char::from).collect()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([REDACTED])")
    }
}

/// The key a store files a session under: HMAC-SHA256 of the ID's text. Safe to store and to
/// log.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// All zeros: the placeholder key of sessions held in cookies, which have no store key.
    pub const ZERO: Self = Self([0; 32]);

    /// From 32 bytes read back from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// From the 64 hex digits of [`StoreKey::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        // Into a buffer of the exact size, which cannot fail, then one allocation, rather than
        // a string grown digit by digit: a store names its record with this on every load and
        // save. The digits are ASCII, so the lossy conversion borrows them unchanged.
        let mut digits = [0u8; 64];
        let _ = hex::encode_to_slice(self.0, &mut digits);
        String::from_utf8_lossy(&digits).into_owned()
    }

    /// A short prefix for logs and events: enough to correlate, useless as a credential.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }

    /// Compares in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({}…)", self.short())
    }
}

/// Hashing for sets and maps of [`StoreKey`]s. A store key is an HMAC output: uniform, and
/// beyond any client's control without the server's secret. Its own bytes are therefore a hash
/// that nobody can steer into collisions, and SipHash over them would cost more than the rest
/// of a lookup.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeyBytes;

impl BuildHasher for KeyBytes {
    type Hasher = KeyBytesHasher;

    fn build_hasher(&self) -> KeyBytesHasher {
        KeyBytesHasher(0)
    }
}

pub(crate) struct KeyBytesHasher(u64);

impl Hasher for KeyBytesHasher {
    fn write(&mut self, bytes: &[u8]) {
        // A key hashes as a length, then its 32 bytes: the first eight of each write are folded
        // in, so the constant length only shifts every hash alike.
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keyring;

    #[test]
    fn a_store_key_is_written_as_64_lowercase_hex_digits_and_read_back() {
        for bytes in [
            [0u8; 32],
            [0xff; 32],
            std::array::from_fn(|i| (i * 37 + 5) as u8),
        ] {
            let key = StoreKey::from_bytes(bytes);
            let text = key.to_hex();
            assert_eq!(text, hex::encode(bytes));
            assert_eq!(StoreKey::from_hex(&text), Some(key));
        }
    }

    /// An HMAC state (HKDF holds one too) is two of its hash's core states and a block buffer,
    /// and each of those wipes itself when dropped: so every keyed state does, each request's
    /// copy of the ID-hash state included. Fails to compile if the hash crates' `zeroize`
    /// feature goes.
    #[test]
    fn keyed_hash_states_are_wiped_when_dropped() {
        use hmac::block_api::HmacCore;
        use hmac::digest::block_api::Buffer;

        fn wiped_when_dropped<T: zeroize::ZeroizeOnDrop>() {}
        wiped_when_dropped::<<sha2::Sha256 as hmac::EagerHash>::Core>();
        wiped_when_dropped::<Buffer<HmacCore<sha2::Sha256>>>();
        wiped_when_dropped::<<sha2::Sha512 as hmac::EagerHash>::Core>();
        wiped_when_dropped::<Buffer<HmacCore<sha2::Sha512>>>();
        wiped_when_dropped::<<sha1::Sha1 as hmac::EagerHash>::Core>();
        wiped_when_dropped::<Buffer<HmacCore<sha1::Sha1>>>();
    }

    #[test]
    fn ids_are_random_url_safe_and_round_trip() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_ne!(a, b);
        let text = a.to_cookie_value();
        assert_eq!(text.len(), 43);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(SessionId::parse(&text), Some(a.clone()));
        assert!(!format!("{a:?}").contains(&text[..8]));
    }

    #[test]
    fn parse_refuses_anything_not_issued_in_our_format() {
        for bad in [
            "",
            "short",
            &"A".repeat(42),
            &"A".repeat(44),
            &"!".repeat(43),
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_end_only_in_characters_that_carry_no_extra_bits() {
        let mut endings = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let text = SessionId::generate().unwrap().to_cookie_value();
            endings.insert(text.as_bytes()[42]);
        }
        // The sixteen characters whose values are multiples of four.
        assert_eq!(endings.into_iter().collect::<Vec<_>>(), b"048AEIMQUYcgkosw");
        let valid = SessionId::generate().unwrap().to_cookie_value();
        for ending in ["B", "D", "_", "-", "1", "z"] {
            let other = format!("{}{ending}", &valid[..42]);
            assert!(SessionId::parse(&other).is_none(), "{other}");
        }
    }

    proptest::proptest! {
        /// Parsing accepts exactly the values that decode, canonically, to 32 bytes.
        #[test]
        fn parse_accepts_exactly_canonical_base64url_of_32_bytes(
            text in "[A-Za-z0-9_\\-]{43}|[A-Za-z0-9_\\-+/=.!]{41,45}",
        ) {
            let decodes = URL_SAFE_NO_PAD
                .decode(&text)
                .is_ok_and(|bytes| bytes.len() == ID_BYTES);
            let parsed = SessionId::parse(&text);
            proptest::prop_assert_eq!(parsed.is_some(), decodes);
            if let Some(id) = parsed {
                proptest::prop_assert_eq!(id.to_cookie_value(), text);
            }
        }

        /// Every byte string of the right length either parses or is refused, never panics.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 43)) {
            let _ = SessionId::parse(&bytes);
        }
    }

    #[test]
    fn store_keys_depend_on_the_secret_and_rotate() {
        let old = Keyring::generate().unwrap();
        let new = Keyring::generate().unwrap();
        let id = SessionId::generate().unwrap();
        let before = IdHasher::new(&old).key(&id);
        let rotated =
            Keyring::danger_legacy_unchecked(new.current().expose(), [old.current().expose()]);
        let hasher = IdHasher::new(&rotated);
        assert_ne!(hasher.key(&id), before);
        assert_eq!(hasher.fallback_keys(&id).collect::<Vec<_>>(), [before]);
    }
}
