//! Seal and open of sealed session cookies, on the same sessions as `flask_codec`.

use criterion::{Criterion, criterion_main};
use sessionvault::Keyring;
use sessionvault::sealed::SealedCodec;

const SECRET: &str = "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f";
const COOKIE: &str = "session";

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
    let codec = SealedCodec::new(&Keyring::new(SECRET).expect("strong key"));
    for (name, json) in sessions() {
        let sealed = codec.seal(COOKIE, json.as_bytes()).expect("seal");
        c.bench_function(&format!("seal/{name}"), |b| {
            b.iter(|| {
                codec
                    .seal(COOKIE, std::hint::black_box(json.as_bytes()))
                    .expect("seal")
            });
        });
        c.bench_function(&format!("open/{name}"), |b| {
            b.iter(|| {
                codec
                    .open(COOKIE, std::hint::black_box(&sealed))
                    .expect("open")
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
