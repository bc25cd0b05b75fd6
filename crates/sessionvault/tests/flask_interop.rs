//! Live interop with real Flask, both ways: Flask makes cookies that Rust reads and reproduces;
//! Rust makes cookies that Flask loads, re-serializes and re-signs identically.

use std::io::Write as _;
use std::process::{Command, Stdio};

use proptest::strategy::{Strategy as _, ValueTree as _};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sessionvault::Keyring;
use sessionvault::flask::{FlaskCodec, tagged_json};

use crate::flask_vectors::check_flask_cookie;
use crate::support::{arb, flask_python, oracle_script};

const COUNT: usize = 400;

#[test]
fn flask_made_cookies_are_read_and_reproduced_by_rust() {
    let output = Command::new(flask_python())
        .arg(oracle_script())
        .args([
            "generate",
            "--count",
            &COUNT.to_string(),
            "--seed",
            "20261127",
        ])
        .output()
        .expect("run the Flask oracle");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let items: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(items.len(), COUNT);
    for item in &items {
        check_flask_cookie(item);
    }
    // The random sessions really covered what they should.
    let all_json: String = items
        .iter()
        .map(|i| i["tagged_json"].as_str().unwrap())
        .collect();
    for tag in [
        r#"" t""#, r#"" b""#, r#"" m""#, r#"" u""#, r#"" d""#, r#"" di""#, r"\u", "e+",
    ] {
        assert!(all_json.contains(tag), "no {tag} in {COUNT} Flask sessions");
    }
    assert!(
        items
            .iter()
            .filter(|i| i["cookie"].as_str().unwrap().starts_with('.'))
            .count()
            > 10
    );
    assert!(
        items
            .iter()
            .filter(|i| i["signed_by_fallback"] == true)
            .count()
            > 10
    );
    assert!(items.iter().filter(|i| i["permanent"] == true).count() > 10);
}

#[test]
fn rust_made_cookies_are_loaded_by_flask() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = arb::session();
    let mut lines = String::new();
    let mut sent = Vec::new();
    for id in 0..COUNT {
        let value = strategy.new_tree(&mut runner).expect("generate").current();
        let current = format!("{:064x}", id as u128 * 0x9e37_79b9_7f4a_7c15 + 1);
        let old = format!("{:064x}", id as u128 * 0x2545_f491_4f6c_dd1d + 7);
        let by_fallback = id % 4 == 3;
        let signer = if by_fallback { &old } else { &current };
        let codec = FlaskCodec::new(Keyring::danger_legacy_unchecked(
            signer,
            Vec::<String>::new(),
        ));
        let ts = 1_700_000_000 + id as u64 * 977;
        let max_age = [2_678_400u64, 3600, 60][id % 3];
        let cookie = codec.sign_at(&value, ts).expect("sign");
        let json = tagged_json::to_string(&value).expect("serialize");
        let item = serde_json::json!({
            "id": id,
            "cookie": cookie,
            "tagged_json": json,
            "current": {"text": current},
            "fallbacks": [{"text": old}],
            "timestamp": ts,
            "max_age": max_age,
        });
        lines.push_str(&item.to_string());
        lines.push('\n');
        sent.push((item, by_fallback));
    }

    let mut child = Command::new(flask_python())
        .arg(oracle_script())
        .arg("check")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the Flask oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
    let output = child.wait_with_output().expect("oracle output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to oracle");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(results.len(), COUNT);
    for (result, (item, by_fallback)) in results.iter().zip(&sent) {
        let context = format!("{item}\n{result}");
        assert_eq!(
            result["loaded_equal"], true,
            "Flask did not load it: {context}"
        );
        assert_eq!(result["loaded_json"], item["tagged_json"], "{context}");
        assert_eq!(
            result["flask_dumps_equal"], true,
            "Flask serializes differently: {context}"
        );
        // Flask signs with the current key only, so a fallback-signed cookie differs by key.
        assert_eq!(
            result["resigned_equal"], !by_fallback,
            "Flask signs differently: {context}"
        );
        assert_eq!(result["at_max_age_loads"], true, "{context}");
        assert_eq!(result["past_max_age_rejected"], true, "{context}");
        assert_eq!(result["future_rejected"], true, "{context}");
    }
}
