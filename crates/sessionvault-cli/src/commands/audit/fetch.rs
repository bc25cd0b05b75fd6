//! Requests a URL and follows redirects by hand, so that the Set-Cookie of every response on
//! the way is seen (a client that follows redirects itself shows only the last).

use std::time::Duration;

use anyhow::{Context as _, bail};

/// The most redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

/// One response on the way.
pub(crate) struct Hop {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) set_cookies: Vec<String>,
}

/// GETs `url`, following redirects, and returns every hop.
///
/// # Errors
///
/// When the URL is invalid, the server cannot be reached, or redirects loop.
pub(crate) fn fetch(url: &str) -> anyhow::Result<Vec<Hop>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .user_agent(concat!("sessionvault-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut current = url::Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    if !matches!(current.scheme(), "http" | "https") {
        bail!("only http and https URLs can be audited");
    }
    let mut hops = Vec::new();
    for _ in 0..=MAX_REDIRECTS {
        let response = agent
            .get(current.as_str())
            .call()
            .with_context(|| format!("cannot fetch {current}"))?;
        let status = response.status().as_u16();
        let set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        hops.push(Hop {
            url: current.to_string(),
            status,
            set_cookies,
        });
        match location {
            Some(location) if (300..400).contains(&status) => {
                current = current
                    .join(&location)
                    .with_context(|| format!("bad redirect Location from {current}"))?;
            }
            _ => return Ok(hops),
        }
    }
    bail!("more than {MAX_REDIRECTS} redirects")
}
