use anyhow::Context as _;
use sessionvault::Secret;

use crate::exit;

pub(crate) fn run(bytes: usize) -> anyhow::Result<u8> {
    let secret =
        Secret::generate(bytes).context("the operating system's random generator failed")?;
    println!("{}", hex::encode(secret.expose()));
    Ok(exit::OK)
}
