//! Sign and verify of Flask session cookies. `scripts/bench.sh flask-codec` runs this beside
//! itsdangerous on the same sessions and key and prints the ratios.

use criterion::{Criterion, criterion_main};
use sessionvault::Keyring;
use sessionvault::flask::{FlaskCodec, tagged_json};

const SECRET: &str = "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f";
const TS: u64 = 1_700_000_000;

fn sessions() -> Vec<(String, String)> {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/sessions.json")).expect("sessions.json");
    ["realistic", "large"]
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                data[name].as_str().expect("string").to_owned(),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let codec = FlaskCodec::new(Keyring::new(SECRET).expect("strong key"));
    for (name, json) in sessions() {
        let value = tagged_json::from_str(&json).expect("tagged JSON");
        let cookie = codec.sign_at(&value, TS).expect("sign");
        c.bench_function(&format!("sign/{name}"), |b| {
            b.iter(|| {
                codec
                    .sign_at(std::hint::black_box(&value), TS)
                    .expect("sign")
            });
        });
        c.bench_function(&format!("verify/{name}"), |b| {
            b.iter(|| {
                codec
                    .verify_at(std::hint::black_box(&cookie), TS + 10)
                    .expect("verify")
            });
        });
    }
}

// criterion's macros generate undocumented items.
#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
