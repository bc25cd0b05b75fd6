//! Is a secret key guessable? The check behind [`Keyring::new`](super::Keyring::new) and
//! `sessionvault audit-secret`.
//!
//! A secret key is attacked offline: one captured cookie lets an attacker test guesses at
//! millions per second (see `sessionvault crack`). What matters is how the secret was chosen,
//! which the bytes only hint at, so the estimate below is deliberately pessimistic about anything
//! that looks chosen by a person: words, runs, repeats.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::known;

/// The shortest secret accepted, in bytes. Flask's documentation suggests 32 random bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The least estimated entropy accepted, in bits: the minimum security strength NIST allows for
/// keys (SP 800-131A).
pub const MIN_ESTIMATED_BITS: u32 = 112;

/// What to do about a weak secret; appended to every [`WeakSecret`] message.
pub const HOW_TO_FIX: &str = "generate a random one with `sessionvault keygen` (or \
    `python3 -c 'import secrets; print(secrets.token_hex(32))'`)";

/// Why a secret was refused.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeakSecret {
    /// The secret is published somewhere: a shipped default, a tutorial, a leaked list.
    #[error("weak secret: it is a publicly known key ({published_in}); {HOW_TO_FIX}")]
    Known {
        /// Where it is published.
        published_in: &'static str,
    },
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    #[error("weak secret: {len} bytes long, at least {MIN_SECRET_LEN} are needed; {HOW_TO_FIX}")]
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// The secret is a shorter piece repeated, so only that piece has to be guessed.
    #[error(
        "weak secret: it repeats a pattern of {period} bytes, so it is no stronger than \
         {period} bytes; {HOW_TO_FIX}"
    )]
    RepeatedPattern {
        /// The length of the repeated piece.
        period: usize,
    },
    /// Most of the secret is dictionary words: a phrase, not a key.
    #[error(
        "weak secret: it is made of dictionary words, which wordlists guess quickly; {HOW_TO_FIX}"
    )]
    Words,
    /// The estimated entropy is below [`MIN_ESTIMATED_BITS`]: runs such as `abcdef`, few
    /// distinct characters, or too little randomness overall.
    #[error(
        "weak secret: about {bits} bits of entropy, at least {MIN_ESTIMATED_BITS} are needed; \
         {HOW_TO_FIX}"
    )]
    LowEntropy {
        /// The estimate, in bits.
        bits: u32,
    },
}

/// What the check found out about one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// Length in bytes.
    pub len: usize,
    /// A pessimistic estimate of the entropy, in bits.
    pub estimated_bits: u32,
    /// Where the secret is published, when it is on the built-in list.
    pub known_source: Option<&'static str>,
    /// Why it is weak, or `None` when it passes.
    pub weakness: Option<WeakSecret>,
}

impl Assessment {
    /// True when the secret passes every check.
    pub fn is_strong(&self) -> bool {
        self.weakness.is_none()
    }
}

/// Looks at a secret and says whether, and why, it is weak.
///
/// # Examples
///
/// ```
/// use sessionvault::key_strength::assess;
///
/// assert!(!assess(b"dev").is_strong());
/// assert!(!assess(b"correct horse battery staple again").is_strong());
/// assert!(assess(b"5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f").is_strong());
/// ```
pub fn assess(secret: &[u8]) -> Assessment {
    let known_source = known::lookup(secret);
    let estimated_bits = estimate(secret);
    let period = smallest_period(secret);
    let weakness = if let Some(source) = known_source {
        Some(WeakSecret::Known {
            published_in: source,
        })
    } else if secret.len() < MIN_SECRET_LEN {
        Some(WeakSecret::TooShort { len: secret.len() })
    } else if period * 2 <= secret.len() {
        Some(WeakSecret::RepeatedPattern { period })
    } else if word_coverage(secret) * 10 >= secret.len() * 7 {
        Some(WeakSecret::Words)
    } else if estimated_bits < MIN_ESTIMATED_BITS {
        Some(WeakSecret::LowEntropy {
            bits: estimated_bits,
        })
    } else {
        None
    };
    Assessment {
        len: secret.len(),
        estimated_bits,
        known_source,
        weakness,
    }
}

/// The period of the shortest piece that, repeated, makes up `s` (the last repetition may be
/// cut short); `s.len()` when there is none. Linear time (Knuth-Morris-Pratt failure function),
/// so long secrets cost nothing much.
fn smallest_period(s: &[u8]) -> usize {
    if s.is_empty() {
        return 0;
    }
    let mut fail = vec![0usize; s.len()];
    let mut k = 0;
    for i in 1..s.len() {
        while k > 0 && s[i] != s[k] {
            k = fail[k - 1];
        }
        if s[i] == s[k] {
            k += 1;
        }
        fail[i] = k;
    }
    s.len() - fail[s.len() - 1]
}

static WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/words.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .collect()
});

/// The longest dictionary word looked for; longer ones are rare and still cost more than their
/// letters' worth in the estimate.
const MAX_WORD_LEN: usize = 24;

/// The cheapest way to spell `secret` out of single characters, dictionary words and runs
/// (`aaaa`, `abcd`, `4321`), costed in bits; the cheapest spelling is what a smart guesser would
/// try first.
fn estimate(secret: &[u8]) -> u32 {
    let n = secret.len();
    if n == 0 {
        return 0;
    }
    let char_bits = f64::from(alphabet_size(secret)).log2();
    let word_bits = (WORDS.len() as f64).log2();
    // cost[i]: the cheapest spelling of secret[..i].
    let mut cost = vec![f64::INFINITY; n + 1];
    cost[0] = 0.0;
    for i in 0..n {
        let base = cost[i];
        relax(&mut cost, i + 1, base + char_bits);
        let run = run_len(&secret[i..]);
        if run >= 3 {
            // A run is its first character, a direction and a length.
            relax(
                &mut cost,
                i + run,
                base + char_bits + 1.0 + (run as f64).log2(),
            );
        }
        for (len, mixed_case) in words_at(secret, i) {
            let case_bits = if mixed_case { 1.0 } else { 0.0 };
            relax(&mut cost, i + len, base + word_bits + case_bits);
        }
    }
    cost[n].floor().min(f64::from(u32::MAX)) as u32
}

fn relax(cost: &mut [f64], to: usize, c: f64) {
    if c < cost[to] {
        cost[to] = c;
    }
}

/// The most bytes of `secret` that non-overlapping dictionary words can cover.
fn word_coverage(secret: &[u8]) -> usize {
    let n = secret.len();
    let mut covered = vec![0usize; n + 1];
    for i in 0..n {
        covered[i + 1] = covered[i + 1].max(covered[i]);
        for (len, _) in words_at(secret, i) {
            covered[i + len] = covered[i + len].max(covered[i] + len);
        }
    }
    covered[n]
}

/// The dictionary words that start at `secret[i]`, as (length, has upper case).
fn words_at(secret: &[u8], i: usize) -> impl Iterator<Item = (usize, bool)> + '_ {
    let letters = secret[i..]
        .iter()
        .take(MAX_WORD_LEN)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    (3..=letters).filter_map(move |len| {
        let piece = &secret[i..i + len];
        let lower = piece.to_ascii_lowercase();
        // Only ASCII letters reach here, so the bytes are UTF-8.
        let lower = std::str::from_utf8(&lower).ok()?;
        WORDS
            .contains(lower)
            .then(|| (len, piece.iter().any(u8::is_ascii_uppercase)))
    })
}

/// Length of the run at the start of `s`: the same byte repeated, or bytes going up or down by
/// one (`abc`, `987`).
fn run_len(s: &[u8]) -> usize {
    if s.len() < 2 {
        return s.len();
    }
    let step = i16::from(s[1]) - i16::from(s[0]);
    if step.abs() > 1 {
        return 1;
    }
    let mut len = 2;
    while len < s.len() && i16::from(s[len]) - i16::from(s[len - 1]) == step {
        len += 1;
    }
    len
}

/// How many symbols each character of the secret was plausibly drawn from: the size of the
/// character classes it uses, but no more than the number of distinct bytes it has (a secret of
/// only `0` and `1` is binary, whatever class those belong to).
fn alphabet_size(secret: &[u8]) -> u32 {
    let (mut lower, mut upper, mut digit, mut symbol, mut other) =
        (false, false, false, false, false);
    let mut seen = [false; 256];
    for &b in secret {
        seen[usize::from(b)] = true;
        match b {
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' => upper = true,
            b'0'..=b'9' => digit = true,
            b' '..=b'~' => symbol = true,
            _ => other = true,
        }
    }
    let class_size = if other {
        256
    } else {
        26 * u32::from(lower)
            + 26 * u32::from(upper)
            + 10 * u32::from(digit)
            + 33 * u32::from(symbol)
    };
    let distinct = seen.iter().filter(|s| **s).count() as u32;
    class_size.min(distinct.max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weakness(s: &[u8]) -> Option<WeakSecret> {
        assess(s).weakness
    }

    #[test]
    fn known_defaults_are_refused_by_name() {
        assert!(matches!(weakness(b"dev"), Some(WeakSecret::Known { .. })));
        assert!(matches!(
            weakness(b"CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET"),
            Some(WeakSecret::Known { .. })
        ));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            weakness(b"Xk2pL9qR4vT7wZ1bN6mC3sD8fG5h"),
            Some(WeakSecret::TooShort { len: 28 })
        );
    }

    #[test]
    fn repeated_patterns_are_refused() {
        assert_eq!(
            weakness(&[b'a'; 40]),
            Some(WeakSecret::RepeatedPattern { period: 1 })
        );
        assert_eq!(
            weakness(b"Xk2pL9qR4vXk2pL9qR4vXk2pL9qR4vXk2p"),
            Some(WeakSecret::RepeatedPattern { period: 10 })
        );
    }

    #[test]
    fn phrases_and_runs_are_refused() {
        assert_eq!(
            weakness(b"correct horse battery staple extra"),
            Some(WeakSecret::Words)
        );
        assert_eq!(
            weakness(b"thisismysupersecretkeyforflaskapp"),
            Some(WeakSecret::Words)
        );
        assert_eq!(
            weakness(b"AdministrationConfigurationProcessing"),
            Some(WeakSecret::Words)
        );
        assert!(matches!(
            weakness(b"abcdefghijklmnopqrstuvwxyz0123456789"),
            Some(WeakSecret::LowEntropy { .. })
        ));
        assert!(matches!(
            weakness(b"0101101001011010110100101101001011"),
            Some(WeakSecret::LowEntropy { .. })
        ));
    }

    #[test]
    fn random_secrets_pass() {
        for s in [
            &b"3f9a1c2b7e4d8a6f0b5c9e2d1a7f3b8c6e0d4a2f9b1c7e5d3a8f6b0c2e4d1a9f"[..],
            b"Xk2pL9qR4vT7wZ1bN6mC3sD8fG5hJ0aE",
            b"mL3v-8XqZ_b2Rk9TnYc4Wf7PjHs0Ad6Ue1Gx5Qo_pVw",
            &[
                0x8f, 0x13, 0xa2, 0x5c, 0xe9, 0x07, 0x4b, 0xd1, 0x66, 0x2a, 0xf0, 0x9e, 0x31, 0xc4,
                0x7d, 0x58, 0xb3, 0x0c, 0xea, 0x91, 0x26, 0x4f, 0xd8, 0x7a, 0x15, 0xbe, 0x63, 0x02,
                0xfc, 0x49, 0x87, 0x3e,
            ],
        ] {
            let a = assess(s);
            assert!(a.is_strong(), "{:?} {a:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn generated_secrets_always_pass() {
        for _ in 0..200 {
            let secret = crate::keyring::Secret::generate(32).expect("OS RNG");
            let hex = hex::encode(secret.expose());
            assert!(assess(secret.expose()).is_strong());
            assert!(assess(hex.as_bytes()).is_strong(), "{hex}");
        }
    }

    #[test]
    fn smallest_period_finds_partial_repeats() {
        assert_eq!(smallest_period(b"abcabcab"), 3);
        assert_eq!(smallest_period(b"abcd"), 4);
        assert_eq!(smallest_period(b""), 0);
    }
}
