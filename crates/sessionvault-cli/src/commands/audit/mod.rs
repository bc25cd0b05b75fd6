//! `sessionvault audit URL`: what a site's session cookie gets right and wrong.

mod fetch;
mod findings;

use serde::Serialize;

use self::findings::{CookieReport, Severity, inspect};
use crate::escape::{escape, escape_json};
use crate::exit;

#[derive(Serialize)]
struct Report {
    url: String,
    final_url: String,
    final_status: u16,
    redirects: usize,
    cookies: Vec<CookieReport>,
    /// The worst finding, or `None` when nothing was found.
    highest: Option<Severity>,
}

/// Cookie names that usually carry a session, when `--cookie-name` is not given.
fn looks_like_session(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("sess") || lower.contains("sid") || lower.contains("auth")
}

pub(crate) fn run(url: &str, cookie_name: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let hops = fetch::fetch(url)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let all: Vec<CookieReport> = hops
        .iter()
        .flat_map(|hop| {
            hop.set_cookies
                .iter()
                .filter_map(|h| inspect(h, &hop.url, now))
        })
        .collect();
    let cookies: Vec<CookieReport> = match cookie_name {
        Some(name) => all.into_iter().filter(|c| c.name == name).collect(),
        None if all
            .iter()
            .any(|c| looks_like_session(&c.name) || c.flask.is_some()) =>
        {
            all.into_iter()
                .filter(|c| looks_like_session(&c.name) || c.flask.is_some())
                .collect()
        }
        None => all,
    };
    let highest = cookies
        .iter()
        .flat_map(|c| c.findings.iter().map(|f| f.severity))
        .max();
    let last = hops.last();
    let report = Report {
        url: url.to_owned(),
        final_url: last.map(|h| h.url.clone()).unwrap_or_default(),
        final_status: last.map_or(0, |h| h.status),
        redirects: hops.len().saturating_sub(1),
        cookies,
        highest,
    };
    if json {
        println!("{}", escape_json(&serde_json::to_string_pretty(&report)?));
    } else {
        print_human(&report, cookie_name);
    }
    Ok(if highest == Some(Severity::High) {
        exit::NEGATIVE
    } else {
        exit::OK
    })
}

/// The report for a person. Everything in it that came from the server (URLs, cookie names,
/// attributes, session keys and values) is escaped: a hostile site must not reach the terminal.
fn print_human(report: &Report, cookie_name: Option<&str>) {
    println!(
        "GET {} -> {} {} ({} redirect{})",
        escape(&report.url),
        report.final_status,
        escape(&report.final_url),
        report.redirects,
        if report.redirects == 1 { "" } else { "s" }
    );
    if report.cookies.is_empty() {
        match cookie_name {
            Some(name) => println!("no Set-Cookie named {} on the way", escape(name)),
            None => println!("no cookies were set on the way"),
        }
        return;
    }
    for cookie in &report.cookies {
        println!();
        println!(
            "cookie {} (set by {}, {} bytes)",
            escape(&cookie.name),
            escape(&cookie.set_by),
            cookie.size
        );
        let mut findings: Vec<_> = cookie.findings.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for f in findings {
            println!(
                "  {:<6} {:<28} {}",
                f.severity.label(),
                f.id,
                escape(&f.message)
            );
        }
        if let Some(flask) = &cookie.flask {
            println!("  Flask session, readable without the key:");
            let pretty = serde_json::to_string_pretty(&flask.session).unwrap_or_default();
            for line in escape_json(&pretty).lines() {
                println!("    {line}");
            }
        }
    }
    let count = |s| {
        report
            .cookies
            .iter()
            .flat_map(|c| &c.findings)
            .filter(|f| f.severity == s)
            .count()
    };
    println!();
    println!(
        "{} high, {} medium, {} low",
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    );
}
