//! proptest strategies for Flask session values.

use std::collections::BTreeMap;

use jiff::Timestamp;
use proptest::prelude::*;
use sessionvault::flask::Value;

const TAG_KEYS: [&str; 6] = [" di", " t", " b", " m", " u", " d"];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_ ]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        "[\u{e9}\u{4e2d}\u{1f600}\"\\\\\n\u{7f}\u{1}/]{0,6}",
    ]
}

/// Any value Flask can hold, except NaN (which equals nothing, so no comparison could pass).
pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<i128>()
            .prop_filter("outside i64", |i| i64::try_from(*i).is_err())
            .prop_map(|i| Value::BigInt(i.to_string())),
        (prop::num::f64::POSITIVE
            | prop::num::f64::NEGATIVE
            | prop::num::f64::NORMAL
            | prop::num::f64::SUBNORMAL
            | prop::num::f64::ZERO
            | prop::num::f64::INFINITE)
            .prop_map(Value::Float),
        text().prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        text().prop_map(Value::Markup),
        any::<[u8; 16]>().prop_map(Value::Uuid),
        // Years 100 to 9999: Python reads two-digit years as 19xx/20xx.
        (-58_000_000_000i64..=253_402_300_799)
            .prop_map(|s| { Value::DateTime(Timestamp::from_second(s).expect("in jiff's range")) }),
        (0usize..3, 50usize..300)
            .prop_map(|(w, n)| { Value::Str(["abc", "session ", "\u{e9}t\u{e9} "][w].repeat(n)) }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Tuple),
            prop::collection::btree_map(text(), inner.clone(), 0..4).prop_map(Value::Dict),
            (prop::sample::select(&TAG_KEYS[..]), inner)
                .prop_map(|(k, v)| Value::Dict(BTreeMap::from([(k.to_owned(), v)]))),
        ]
    })
}

/// A session: a dict with at least one key (Flask stores no cookie for an empty session).
pub(crate) fn session() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(text(), value(), 1..6).prop_map(Value::Dict)
}
