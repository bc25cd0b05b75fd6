//! The inner loop of `crack`: HMAC-SHA1 of a guessed Flask key, built on the sha1 crate's block
//! function (SHA-NI where the CPU has it) with everything that does not depend on the key
//! computed once.
//!
//! Per guess, Flask's scheme costs `HMAC(HMAC(guess, salt), payload.timestamp)`. Both HMACs are
//! written out here rather than through the `hmac` crate so that the padded salt and message
//! blocks are built once per cookie instead of once per guess, and no guess allocates. The test
//! below checks this against the `hmac` crate on random inputs.

use sha1::Digest as _;
use sha1::block_api::compress;

type Block = [u8; BLOCK];

const IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
const BLOCK: usize = 64;

/// What one cookie needs for testing keys: the padded tails of both inner hashes and the
/// signature to find.
pub(crate) struct Sha1Target {
    salt_tail: Vec<Block>,
    message_tail: Vec<Block>,
    signature: [u8; 20],
}

impl Sha1Target {
    /// `signed` is `PAYLOAD.TIMESTAMP`, `signature` the decoded MAC.
    pub(crate) fn new(salt: &[u8], signed: &[u8], signature: [u8; 20]) -> Self {
        Self {
            salt_tail: padded_tail(salt),
            message_tail: padded_tail(signed),
            signature,
        }
    }

    /// True when `guess` is the key that signed the cookie.
    #[inline]
    pub(crate) fn matches(&self, guess: &[u8]) -> bool {
        let mut long_key = [0u8; 20];
        let key: &[u8] = if guess.len() > BLOCK {
            // HMAC hashes keys longer than a block first.
            long_key.copy_from_slice(&sha1::Sha1::digest(guess));
            &long_key
        } else {
            guess
        };
        let derived = hmac(key, &self.salt_tail);
        hmac(&derived, &self.message_tail) == self.signature
    }
}

/// The blocks that follow the key block in an HMAC inner hash of `message`: the message and
/// SHA-1 padding for a total length of one block plus the message.
fn padded_tail(message: &[u8]) -> Vec<Block> {
    let total_bits = ((BLOCK + message.len()) as u64) * 8;
    let mut bytes = message.to_vec();
    bytes.push(0x80);
    while bytes.len() % BLOCK != BLOCK - 8 {
        bytes.push(0);
    }
    bytes.extend_from_slice(&total_bits.to_be_bytes());
    // The padding above makes the length a whole number of blocks.
    bytes.as_chunks::<BLOCK>().0.to_vec()
}

/// HMAC-SHA1 of a message whose padded blocks are `tail`, under a key of at most 64 bytes.
#[inline]
fn hmac(key: &[u8], tail: &[Block]) -> [u8; 20] {
    let mut ipad: Block = [0x36; BLOCK];
    let mut opad: Block = [0x5c; BLOCK];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let mut inner = IV;
    compress(&mut inner, std::slice::from_ref(&ipad));
    compress(&mut inner, tail);

    let mut last: Block = [0; BLOCK];
    for (i, word) in inner.iter().enumerate() {
        last[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    last[20] = 0x80;
    last[56..].copy_from_slice(&(((BLOCK + 20) as u64) * 8).to_be_bytes());
    let mut outer = IV;
    compress(&mut outer, &[opad, last]);

    let mut out = [0u8; 20];
    for (i, word) in outer.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};

    use super::*;

    fn reference(key: &[u8], salt: &[u8], message: &[u8]) -> [u8; 20] {
        let mut derive = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
        derive.update(salt);
        let derived = derive.finalize().into_bytes();
        let mut sign = Hmac::<sha1::Sha1>::new_from_slice(&derived).unwrap();
        sign.update(message);
        sign.finalize().into_bytes().into()
    }

    #[test]
    fn agrees_with_the_hmac_crate() {
        // A simple deterministic generator is enough to vary lengths and bytes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let key: Vec<u8> = (0..next() % 150).map(|_| next() as u8).collect();
            let salt: Vec<u8> = (0..next() % 80).map(|_| next() as u8).collect();
            let msg: Vec<u8> = (0..next() % 300).map(|_| next() as u8).collect();
            let sig = reference(&key, &salt, &msg);
            let target = Sha1Target::new(&salt, &msg, sig);
            assert!(
                target.matches(&key),
                "key {} salt {} msg {}",
                key.len(),
                salt.len(),
                msg.len()
            );
            let mut wrong = key.clone();
            wrong.push(b'x');
            assert!(!target.matches(&wrong));
        }
    }
}
