//! Store keys from session IDs: the HMAC that a store sees in place of the ID.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};

use super::{SessionId, StoreKey};
use crate::Keyring;

/// Turns IDs into store keys, with the keyring's current key and, for rotation, the older ones.
#[derive(Clone)]
pub struct IdHasher {
    macs: Vec<KeyedMac>,
}

/// An HMAC-SHA256 state with its key already absorbed: hashing an ID then costs two SHA-256
/// compressions instead of four, on every request that loads a session. The state is as secret
/// as the key. The hash crates' `zeroize` feature wipes it when dropped, and so also wipes each
/// request's working copy, made by `clone` in [`IdHasher::mac`].
#[derive(Clone)]
struct KeyedMac(Box<Hmac<sha2::Sha256>>);

impl KeyedMac {
    fn new(key: &[u8]) -> Self {
        Self(Box::new(
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
        ))
    }
}

impl IdHasher {
    /// The purpose label under which the ID-hash keys are derived from the keyring.
    pub const PURPOSE: &'static str = "sessionvault/v1/session-id-hash";

    /// Derives the hashing keys from every secret of the keyring, current first.
    pub fn new(keyring: &Keyring) -> Self {
        Self {
            macs: keyring
                .derive(Self::PURPOSE)
                .iter()
                .map(|key| KeyedMac::new(key.as_ref()))
                .collect(),
        }
    }

    /// The store key under the current secret.
    pub fn key(&self, id: &SessionId) -> StoreKey {
        self.key_with(0, id)
    }

    /// True when the keyring holds older secrets, under which sessions may still be filed.
    pub fn has_fallbacks(&self) -> bool {
        self.macs.len() > 1
    }

    /// The store keys under the older secrets, newest first: where a session written before a
    /// rotation is found.
    pub fn fallback_keys<'a>(&'a self, id: &'a SessionId) -> impl Iterator<Item = StoreKey> + 'a {
        (1..self.macs.len()).map(move |i| self.key_with(i, id))
    }

    fn key_with(&self, index: usize, id: &SessionId) -> StoreKey {
        // The hash of the text the cookie carries: no decoding on the way to the store.
        self.mac(index, &[id.0.as_ref()])
    }

    fn mac(&self, index: usize, parts: &[&[u8]]) -> StoreKey {
        let mut mac = (*self.macs[index].0).clone();
        for part in parts {
            mac.update(part);
        }
        StoreKey(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdHasher")
            .field("keys", &self.macs.len())
            .finish()
    }
}
