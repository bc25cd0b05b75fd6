//! Secret keys that are public: shipped as defaults, printed in documentation and tutorials, or
//! found again and again in leaked configurations. A key on this list protects nothing; the
//! keyring refuses it and `sessionvault crack` tries it first.

/// Each entry is `(secret, where it is published)`.
pub const KNOWN_SECRETS: &[(&[u8], &str)] = &[
    // Flask's own documentation and tutorial.
    (b"dev", "Flask tutorial (flaskr)"),
    (
        b"_5#y2L\"F4Q8z\n\xec]/",
        "Flask quickstart, Sessions section",
    ),
    (b"development key", "Flask 0.x tutorial (flaskr)"),
    (
        b"A0Zr98j/3yX R~XHH!jmN]LWX/,?RT",
        "Flask 0.x documentation, sessions",
    ),
    (
        b"super secret key",
        "Flask snippets and flask-login examples",
    ),
    // Shipped application defaults.
    (
        b"\x02\x01thisismyscretkey\x01\x02\\e\\y\\y\\h",
        "Apache Superset default before 2.1 (CVE-2023-27524)",
    ),
    (
        b"CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
        "Apache Superset 2.1+ default (CVE-2023-27524)",
    ),
    (
        b"thisISaSECRET_1234",
        "Apache Superset documentation (CVE-2023-27524)",
    ),
    (
        b"YOUR_OWN_RANDOM_GENERATED_SECRET_KEY",
        "Apache Superset documentation (CVE-2023-27524)",
    ),
    (
        b"TEST_NON_DEV_SECRET",
        "Apache Superset docker/.env-non-dev",
    ),
    (
        b"temporary_key",
        "Apache Airflow default before 1.10.15 (CVE-2020-17526)",
    ),
    (
        b"c292a0a3aa32397cdb050e233733900f",
        "Redash default cookie secret",
    ),
    (b"keyboard cat", "express-session documentation"),
    // Books and widely copied tutorials.
    (
        b"you-will-never-guess",
        "The Flask Mega-Tutorial, config.py",
    ),
    (
        b"hard to guess string",
        "Flask Web Development (flasky), config.py",
    ),
    (b"my_precious", "Real Python Flask tutorials"),
    (b"secret-key-goes-here", "DigitalOcean Flask-Login tutorial"),
    (
        b"this-really-needs-to-be-changed",
        "Flask tutorials (Real Python, config.py)",
    ),
    (b"your-secret-key", "Flask tutorials"),
    (b"your_secret_key", "Flask tutorials"),
    (b"yoursecretkey", "Flask tutorials"),
    (b"mysecretkey", "Flask tutorials"),
    (b"my-secret-key", "Flask tutorials"),
    (b"my_secret_key", "Flask tutorials"),
    (b"flask-secret-key", "Flask tutorials"),
    (b"flask_secret_key", "Flask tutorials"),
    (b"SECRET_KEY", "placeholder left in configuration"),
    (b"secret_key", "placeholder left in configuration"),
    (b"secret-key", "placeholder left in configuration"),
    (b"secretkey", "placeholder left in configuration"),
    (b"secret key", "placeholder left in configuration"),
    (b"secret", "placeholder left in configuration"),
    (b"supersecret", "placeholder left in configuration"),
    (b"supersecretkey", "placeholder left in configuration"),
    (b"super-secret", "placeholder left in configuration"),
    (b"super-secret-key", "placeholder left in configuration"),
    (b"super_secret_key", "placeholder left in configuration"),
    (b"topsecret", "placeholder left in configuration"),
    (b"s3cr3t", "placeholder left in configuration"),
    (b"changeme", "placeholder left in configuration"),
    (b"change-me", "placeholder left in configuration"),
    (b"change_me", "placeholder left in configuration"),
    (b"changethis", "placeholder left in configuration"),
    (b"change this", "placeholder left in configuration"),
    (b"replace-me", "placeholder left in configuration"),
    (b"default", "placeholder left in configuration"),
    (b"insecure", "placeholder left in configuration"),
    (b"notasecret", "placeholder left in configuration"),
    (b"test", "placeholder left in configuration"),
    (b"testing", "placeholder left in configuration"),
    (b"flask", "placeholder left in configuration"),
    (b"key", "placeholder left in configuration"),
    (b"password", "placeholder left in configuration"),
    (b"123456", "placeholder left in configuration"),
    (b"12345678", "placeholder left in configuration"),
    (b"admin", "placeholder left in configuration"),
    (b"qwerty", "placeholder left in configuration"),
    (b"abc123", "placeholder left in configuration"),
    (b"ThisIsASecret", "placeholder left in configuration"),
    (b"this-is-a-secret", "placeholder left in configuration"),
    (b"this is a secret", "placeholder left in configuration"),
    (b"thisisasecret", "placeholder left in configuration"),
];

/// The source of `secret` if it is a publicly known key. ASCII letters are compared without
/// regard to case, and surrounding whitespace is ignored, since `Secret`, `SECRET ` and
/// `secret` are all the same guess.
pub(crate) fn lookup(secret: &[u8]) -> Option<&'static str> {
    let trimmed = secret.trim_ascii();
    KNOWN_SECRETS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(trimmed) || *known == secret)
        .map(|(_, source)| *source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_whitespace() {
        assert!(lookup(b"Dev").is_some());
        assert!(lookup(b" CHANGEME\n").is_some());
        assert!(lookup(b"\x02\x01thisismyscretkey\x01\x02\\e\\y\\y\\h").is_some());
        assert!(lookup(b"dev2").is_none());
    }
}
