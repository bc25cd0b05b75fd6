//! The demo's accounts: argon2 password hashes, checked under the failed sign-in limit and the
//! bound on concurrent hashing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroizing;

use crate::hashing::{Hashers, Memory};
use crate::throttle::FailureLimit;

/// The seeded accounts and their passwords, printed at start.
pub(crate) const DEMO_ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "correct horse battery staple"),
    ("bob", "hunter2 hunter2 hunter2"),
];

/// Accounts, in memory: the demo reseeds them at each start.
pub(crate) struct Users {
    hashes: Mutex<HashMap<String, String>>,
    /// The hash of a random password nobody knows, made at start with the same parameters as
    /// the accounts' hashes. An unknown name is verified against it, so it costs exactly what a
    /// known name with a wrong password costs.
    dummy: String,
    argon2: Argon2<'static>,
    limit: FailureLimit,
    hashers: Hashers,
    counters: Counters,
}

/// What `/metrics` shows about sign-ins.
#[derive(Default)]
struct Counters {
    /// Argon2 runs (hashes and verifications); each costs the same time and memory.
    argon2_runs: AtomicU64,
    too_many_failures: AtomicU64,
    busy: AtomicU64,
}

/// Why a sign-in failed. The page says the same for a wrong password and an unknown name, so it
/// tells nothing about accounts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignInError {
    /// A wrong password, or no such user.
    Invalid,
    /// Too many recent failures for this name from this address, or from this address.
    TooManyAttempts,
    /// Every hashing thread is busy and the queue is full.
    Busy,
}

impl Users {
    /// The seeded accounts with argon2's default parameters, hashing on one thread per core.
    pub(crate) fn seeded() -> Self {
        Self::seeded_with(Params::default(), Hashers::per_core())
    }

    /// The seeded accounts, hashed with `params` (tests use cheap ones).
    pub(crate) fn seeded_with(params: Params, hashers: Hashers) -> Self {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut unknowable = Zeroizing::new([0u8; 32]);
        // Without the OS generator nothing is secure: the demo does not start.
        getrandom::fill(unknowable.as_mut()).expect("the OS random number generator");
        let dummy = hash_with(&argon2, &unknowable[..]);
        let users = Self {
            hashes: Mutex::new(HashMap::new()),
            dummy,
            argon2,
            limit: FailureLimit::default(),
            hashers,
            counters: Counters::default(),
        };
        for (user, password) in DEMO_ACCOUNTS {
            users.set_password(user, password);
        }
        users
    }

    /// Argon2 runs so far.
    pub(crate) fn argon2_runs(&self) -> u64 {
        self.counters.argon2_runs.load(Ordering::Relaxed)
    }

    /// The sign-in counters in the Prometheus text exposition. One total of argon2 runs for
    /// both paths: a count per path would tell anyone reading `/metrics` whether a name exists.
    pub(crate) fn metrics(&self) -> String {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "# HELP sessionvault_demo_password_hashes_total Argon2 computations (password hashes and verifications).\n\
             # TYPE sessionvault_demo_password_hashes_total counter\n\
             sessionvault_demo_password_hashes_total {}\n\
             # HELP sessionvault_demo_sign_ins_refused_total Sign-ins refused before their password was checked, by reason.\n\
             # TYPE sessionvault_demo_sign_ins_refused_total counter\n\
             sessionvault_demo_sign_ins_refused_total{{reason=\"too_many_failures\"}} {}\n\
             sessionvault_demo_sign_ins_refused_total{{reason=\"busy\"}} {}\n",
            self.argon2_runs(),
            load(&self.counters.too_many_failures),
            load(&self.counters.busy),
        )
    }

    /// Checks `user`'s password, signing in from `client`.
    ///
    /// # Errors
    ///
    /// [`SignInError::Busy`] at once when the hashing queue is full; then
    /// [`SignInError::TooManyAttempts`] past the failure limit (the attempt is counted before
    /// the password is checked); then [`SignInError::Invalid`].
    pub(crate) async fn sign_in(
        self: &Arc<Self>,
        user: &str,
        password: Zeroizing<String>,
        client: &str,
    ) -> Result<(), SignInError> {
        self.checked(user, password, client, |_, _| ()).await
    }

    /// Sets `user`'s password to `new` if `current` is right, under the same limits as a
    /// sign-in.
    ///
    /// # Errors
    ///
    /// As [`Users::sign_in`].
    pub(crate) async fn change_password(
        self: &Arc<Self>,
        user: &str,
        current: Zeroizing<String>,
        new: Zeroizing<String>,
        client: &str,
    ) -> Result<(), SignInError> {
        self.checked(user, current, client, move |users, user| {
            users.set_password(user, &new);
        })
        .await
    }

    /// Checks the password on a hashing thread, then runs `then` there if it was right.
    async fn checked(
        self: &Arc<Self>,
        user: &str,
        password: Zeroizing<String>,
        client: &str,
        then: impl FnOnce(&Self, &str) + Send + 'static,
    ) -> Result<(), SignInError> {
        let Some(place) = self.hashers.admit() else {
            self.counters.busy.fetch_add(1, Ordering::Relaxed);
            return Err(SignInError::Busy);
        };
        let Some(attempt) = self.limit.reserve(user, client, Instant::now()) else {
            self.counters
                .too_many_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(SignInError::TooManyAttempts);
        };
        let (users, user) = (Arc::clone(self), user.to_owned());
        let ok = place
            .run(move |memory| {
                let ok = users.check_password(memory, &user, &password);
                if ok {
                    then(&users, &user);
                }
                ok
            })
            .await;
        if ok != Some(true) {
            return Err(SignInError::Invalid);
        }
        self.limit.succeeded(attempt);
        Ok(())
    }

    /// Whether `password` is `user`'s: one argon2 verification in `memory`, whether or not
    /// `user` exists. No limit: callers go through [`Users::sign_in`].
    pub(crate) fn check_password(&self, memory: &mut Memory, user: &str, password: &str) -> bool {
        let stored = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .cloned();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.clone());
        self.counters.argon2_runs.fetch_add(1, Ordering::Relaxed);
        // Nobody knows the dummy's password; `known` makes that certain.
        verify_in(memory, &stored, password.as_bytes()) && known
    }

    fn set_password(&self, user: &str, password: &str) {
        self.counters.argon2_runs.fetch_add(1, Ordering::Relaxed);
        let new = hash_with(&self.argon2, password.as_bytes());
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), new);
    }
}

/// Argon2's `PasswordVerifier::verify_password`, with memory the caller owns: the same
/// parameters from the stored hash, the same computation, the same constant-time comparison.
fn verify_in(memory: &mut Memory, stored: &str, password: &[u8]) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    argon2
        .hash_password_into_with_memory(password, &salt, out.as_mut_slice(), memory.as_mut_slice())
        .is_ok()
        // `Output`'s equality is constant-time.
        && Output::new(&out).is_ok_and(|out| out == expected)
}

fn hash_with(argon2: &Argon2<'_>, password: &[u8]) -> String {
    // A fresh 16-byte salt from the OS generator.
    argon2
        .hash_password(password)
        .map(|h| h.to_string())
        // Hashing with valid parameters only fails on absurd inputs (e.g. 4 GiB passwords); an
        // unverifiable hash then refuses every sign-in, which is the safe outcome.
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// The median of `samples`, in nanoseconds.
    fn median(mut samples: Vec<u128>) -> u128 {
        samples.sort_unstable();
        samples[samples.len() / 2]
    }

    // See: issue 17, finding 14
    #[test]
    fn review_unknown_and_known_names_take_the_same_time() {
        // Cheap parameters keep the test fast; both paths run argon2 with the same ones.
        let users = Users::seeded_with(Params::new(4096, 1, 1, None).unwrap(), Hashers::per_core());
        let mut memory = Memory::new();
        let mut time = |user: &str| {
            let start = Instant::now();
            assert!(!users.check_password(&mut memory, user, "wrong"));
            start.elapsed().as_nanos()
        };
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..200 {
            // Interleaved, so that load on the machine falls on both alike.
            known.push(time("alice"));
            unknown.push(time(&format!("nobody{i}")));
        }
        let (known, unknown) = (median(known), median(unknown));
        // The argon2 runs per path are counted exactly over HTTP; this bound is loose so that
        // a busy machine does not fail it, yet a second argon2 run (twice the time) does.
        assert!(
            unknown * 2 < known * 3 && known * 2 < unknown * 3,
            "median known {known} ns, unknown {unknown} ns"
        );
    }
}
