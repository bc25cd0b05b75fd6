//! `sessionvault crack`: find the secret key of a Flask session cookie in a wordlist, on every
//! core.

mod hmac_sha1;
mod wordlist;

use std::fs::File;
use std::io::{IsTerminal as _, Read, Write as _};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use hmac::Hmac;
use sessionvault::flask::Digest;
use sessionvault::tooling::KNOWN_SECRETS;

use self::hmac_sha1::Sha1Target;
use self::wordlist::{ChunkReader, candidates};

/// How to recognise the key: the cookie's signed part and signature.
pub(crate) enum Matcher {
    /// Flask's HMAC-SHA1, on the fast path.
    Sha1(Sha1Target),
    /// Other digests, through the `hmac` crate.
    Other {
        digest: Digest,
        salt: Vec<u8>,
        signed: Vec<u8>,
        signature: Vec<u8>,
    },
}

impl Matcher {
    /// Splits a cookie into what was signed and the signature.
    ///
    /// # Errors
    ///
    /// When the cookie has no signature, or one of the wrong length for the digest.
    pub(crate) fn for_cookie(cookie: &str, salt: &[u8], digest: Digest) -> anyhow::Result<Self> {
        let (signed, sig_b64) = cookie
            .rsplit_once('.')
            .context("not a signed cookie: expected PAYLOAD.TIMESTAMP.SIGNATURE")?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig_b64.trim_end_matches('='))
            .ok()
            .context("the signature is not base64url")?;
        if signature.len() != digest.output_len() {
            bail!(
                "the signature is {} bytes, not the {} of {digest:?}; try --digest",
                signature.len(),
                digest.output_len()
            );
        }
        Ok(match digest {
            Digest::Sha1 => {
                let mut sig = [0u8; 20];
                sig.copy_from_slice(&signature);
                Self::Sha1(Sha1Target::new(salt, signed.as_bytes(), sig))
            }
            _ => Self::Other {
                digest,
                salt: salt.to_vec(),
                signed: signed.as_bytes().to_vec(),
                signature,
            },
        })
    }

    /// True when `key` signed the cookie.
    pub(crate) fn matches(&self, key: &[u8]) -> bool {
        match self {
            Self::Sha1(target) => target.matches(key),
            Self::Other {
                digest,
                salt,
                signed,
                signature,
            } => {
                fn two_step<M: hmac::Mac + hmac::digest::KeyInit>(
                    key: &[u8],
                    salt: &[u8],
                    signed: &[u8],
                    signature: &[u8],
                ) -> bool {
                    let Ok(mut derive) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
                        return false;
                    };
                    derive.update(salt);
                    let derived = derive.finalize().into_bytes();
                    let Ok(mut sign) = <M as hmac::digest::KeyInit>::new_from_slice(&derived)
                    else {
                        return false;
                    };
                    sign.update(signed);
                    sign.verify_slice(signature).is_ok()
                }
                match digest {
                    Digest::Sha256 => two_step::<Hmac<sha2::Sha256>>(key, salt, signed, signature),
                    Digest::Sha512 => two_step::<Hmac<sha2::Sha512>>(key, salt, signed, signature),
                    _ => two_step::<Hmac<sha1::Sha1>>(key, salt, signed, signature),
                }
            }
        }
    }
}

/// What a search found.
pub(crate) struct Outcome {
    /// The key, when found.
    pub(crate) key: Option<Vec<u8>>,
    /// How many candidates were tried.
    pub(crate) tried: u64,
    pub(crate) elapsed: Duration,
}

/// Tries the built-in list of publicly known keys.
pub(crate) fn search_known(matcher: &Matcher) -> Outcome {
    let start = Instant::now();
    let mut tried = 0;
    for (secret, _) in KNOWN_SECRETS {
        tried += 1;
        if matcher.matches(secret) {
            return Outcome {
                key: Some(secret.to_vec()),
                tried,
                elapsed: start.elapsed(),
            };
        }
    }
    Outcome {
        key: None,
        tried,
        elapsed: start.elapsed(),
    }
}

/// Tries every line of a wordlist on `threads` threads, with a progress bar when `progress`.
///
/// # Errors
///
/// When the wordlist cannot be opened or read.
pub(crate) fn search_wordlist(
    matcher: &Matcher,
    path: &Path,
    threads: usize,
    progress: bool,
) -> anyhow::Result<Outcome> {
    let file =
        File::open(path).with_context(|| format!("cannot open wordlist {}", path.display()))?;
    let total = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let reader: Box<dyn Read + Send> = Box::new(file);
    search(matcher, reader, total, threads, progress)
        .with_context(|| format!("cannot read wordlist {}", path.display()))
}

fn search(
    matcher: &Matcher,
    reader: Box<dyn Read + Send>,
    total_bytes: Option<u64>,
    threads: usize,
    progress: bool,
) -> std::io::Result<Outcome> {
    let threads = threads.max(1);
    let source = Mutex::new(ChunkReader::new(reader));
    let found = AtomicBool::new(false);
    let key: Mutex<Option<Vec<u8>>> = Mutex::new(None);
    let tried = AtomicU64::new(0);
    let bytes_done = AtomicU64::new(0);
    let error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let workers_left = AtomicU64::new(threads as u64);
    let start = Instant::now();

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                worker(matcher, &source, &found, &key, &tried, &bytes_done, &error);
                workers_left.fetch_sub(1, Ordering::Release);
            });
        }
        if progress {
            let bar = progress_bar(total_bytes);
            while workers_left.load(Ordering::Acquire) > 0 {
                std::thread::sleep(Duration::from_millis(100));
                bar.set_position(bytes_done.load(Ordering::Relaxed));
                let n = tried.load(Ordering::Relaxed);
                let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!("{n} keys, {rate:.0}/s"));
            }
            bar.finish_and_clear();
        }
    });

    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(Outcome {
        key: key.into_inner().unwrap_or_else(|p| p.into_inner()),
        tried: tried.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    })
}

fn worker(
    matcher: &Matcher,
    source: &Mutex<ChunkReader<Box<dyn Read + Send>>>,
    found: &AtomicBool,
    key: &Mutex<Option<Vec<u8>>>,
    tried: &AtomicU64,
    bytes_done: &AtomicU64,
    error: &Mutex<Option<std::io::Error>>,
) {
    while !found.load(Ordering::Relaxed) {
        let next = source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_chunk();
        let chunk = match next {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return,
            Err(e) => {
                *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                found.store(true, Ordering::Relaxed);
                return;
            }
        };
        let mut count = 0u64;
        for candidate in candidates(&chunk) {
            count += 1;
            if matcher.matches(candidate) {
                *key.lock().unwrap_or_else(|p| p.into_inner()) = Some(candidate.to_vec());
                found.store(true, Ordering::Relaxed);
                break;
            }
            // Another thread found it: stop within a few thousand guesses.
            if count.is_multiple_of(4096) && found.load(Ordering::Relaxed) {
                break;
            }
        }
        tried.fetch_add(count, Ordering::Relaxed);
        bytes_done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

fn progress_bar(total_bytes: Option<u64>) -> indicatif::ProgressBar {
    let bar = match total_bytes {
        Some(total) => indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {msg} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}

/// `sessionvault crack`: exit 0 and the key on stdout when found, 1 when not.
pub(crate) fn run(args: &crate::cli::CrackArgs) -> anyhow::Result<u8> {
    let cookie = crate::input::cookie_value(&args.cookie)?;
    let matcher = Matcher::for_cookie(
        &cookie,
        args.format.salt.as_bytes(),
        args.format.digest.into(),
    )?;
    let show_progress = !args.quiet && std::io::stdout().is_terminal();
    let outcome = match &args.wordlist {
        Some(path) => {
            let threads = args.threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                usize::from,
            );
            search_wordlist(&matcher, path, threads, show_progress)?
        }
        None => search_known(&matcher),
    };
    if outcome.tried == 0 {
        bail!("the wordlist has no entries");
    }
    let rate = outcome.tried as f64 / outcome.elapsed.as_secs_f64().max(1e-9);
    match outcome.key {
        Some(key) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&key)?;
            out.write_all(b"\n")?;
            if show_progress {
                eprintln!("found after {} keys ({rate:.0}/s)", outcome.tried);
            }
            Ok(crate::exit::OK)
        }
        None => {
            if !args.quiet {
                eprintln!(
                    "sessionvault: key not found among {} candidates ({rate:.0}/s)",
                    outcome.tried
                );
            }
            Ok(crate::exit::NEGATIVE)
        }
    }
}
