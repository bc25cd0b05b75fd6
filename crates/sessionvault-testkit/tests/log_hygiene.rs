//! Reads every log line the test suite wrote under `SESSIONVAULT_LOG_DIR` and fails if a
//! session ID, key, CSRF token, cookie or password appears in any of them.
//!
//! Run by `./scripts/test.sh` after the rest of the suite, which is why it is ignored in a
//! plain `cargo test`: alone, there would be nothing to read.

use sessionvault_testkit::logs::{log_dir, scan};

#[test]
#[ignore = "reads the logs of a whole suite run; ./scripts/test.sh runs it last"]
fn no_secret_in_any_log_line_of_the_suite() {
    let dir = log_dir().expect("SESSIONVAULT_LOG_DIR names the directory the suite logged to");
    let mut files = 0;
    let mut lines = 0;
    let mut security_lines = 0;
    let mut leaks = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the log directory exists") {
        let path = entry.expect("a directory entry").path();
        let text = std::fs::read(&path).expect("a readable log file");
        let text = String::from_utf8_lossy(&text);
        files += 1;
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            security_lines += usize::from(line.contains("sessionvault::security"));
            for finding in scan(line) {
                leaks.push(format!(
                    "{}:{}: {} ({}…)",
                    path.display(),
                    n + 1,
                    finding.kind,
                    finding.excerpt
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} secrets in {lines} log lines:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    // A capture that silently stopped working would pass the check above; the suite logs
    // thousands of security events when it works.
    assert!(
        files >= 5 && security_lines >= 100,
        "only {files} log files with {security_lines} security lines in {}: is capture on?",
        dir.display()
    );
    println!("{lines} log lines in {files} files, {security_lines} security events: clean");
}
