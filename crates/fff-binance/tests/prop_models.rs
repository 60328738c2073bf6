//! Property tests mirroring the `binance_models` fuzz target (`fuzz/`): the same oracle
//! (`fuzz/oracles/binance_models.rs`) fed Binance's documented payloads, structurally mutated
//! payloads (a leaf replaced by garbage), byte-level mutations, random filter sets and random
//! rate-limit headers, so the stable suite exercises what the fuzzer does.

use proptest::prelude::*;
use serde_json::Value;

#[path = "../../../fuzz/oracles/binance_models.rs"]
mod oracle;

/// Every recorded Binance payload of this crate.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("test_data")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read(&path).expect("readable fixture"))
        })
        .collect();
    out.sort();
    out
}

/// Values Binance never sends but a broken proxy, a new API version or an attacker might.
fn garbage() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::Bool(true)),
        Just(Value::from("")),
        Just(Value::from("NaN")),
        Just(Value::from("-1")),
        Just(Value::from("-0")),
        Just(Value::from("1e400")),
        Just(Value::from("79228162514264337593543950335")),
        Just(Value::from("-79228162514264337593543950335")),
        Just(Value::from("0.0000000000000000000000000001")),
        Just(Value::from("18446744073709551615")),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(1e300)),
        Just(Value::from(-0.0)),
        Just(Value::Array(Vec::new())),
        Just(serde_json::json!({})),
        "[A-Z_]{0,12}".prop_map(Value::from),
        "-?[0-9]{1,30}(\\.[0-9]{1,30})?".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ]
}

/// Replaces the `pick`-th leaf (in document order, wrapping) with `with`.
fn replace_leaf(value: &mut Value, pick: &mut usize, with: &Value) -> bool {
    match value {
        Value::Object(map) => map.values_mut().any(|v| replace_leaf(v, pick, with)),
        Value::Array(items) => items.iter_mut().any(|v| replace_leaf(v, pick, with)),
        leaf => {
            if *pick == 0 {
                *leaf = with.clone();
                true
            } else {
                *pick -= 1;
                false
            }
        }
    }
}

#[test]
fn every_documented_payload_passes_the_oracle() {
    let all = fixtures();
    assert!(all.len() > 40, "test_data has {} payloads", all.len());
    for (name, data) in &all {
        eprintln!("{name}");
        oracle::check(data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn payloads_with_a_garbage_leaf_never_panic(
        which in any::<prop::sample::Index>(),
        leaves in prop::collection::vec((any::<usize>(), garbage()), 1..4),
    ) {
        let all = fixtures();
        let (_, data) = &all[which.index(all.len())];
        let mut value: Value = serde_json::from_slice(data).expect("fixture is json");
        for (pick, with) in &leaves {
            let mut pick = *pick % 64;
            replace_leaf(&mut value, &mut pick, with);
        }
        oracle::check(&serde_json::to_vec(&value).expect("serialises"));
    }

    #[test]
    fn byte_mutated_payloads_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let all = fixtures();
        let (_, data) = &all[which.index(all.len())];
        let mut data = data.clone();
        for (at, byte, op) in edits {
            if data.is_empty() {
                break;
            }
            let i = at.index(data.len());
            match op {
                0 => data[i] = byte,
                1 => data.insert(i, byte),
                _ => data.truncate(i),
            }
        }
        oracle::check(&data);
    }

    #[test]
    fn random_filter_sets_round_and_check_safely(
        filters in prop::collection::vec(
            (0usize..6, prop::collection::vec("-?[0-9]{1,29}(\\.[0-9]{1,28})?", 3), any::<bool>()),
            0..6,
        ),
    ) {
        let json: Vec<Value> = filters
            .iter()
            .map(|(kind, v, flag)| match kind {
                0 => serde_json::json!({"filterType": "PRICE_FILTER", "minPrice": v[0], "maxPrice": v[1], "tickSize": v[2]}),
                1 => serde_json::json!({"filterType": "LOT_SIZE", "minQty": v[0], "maxQty": v[1], "stepSize": v[2]}),
                2 => serde_json::json!({"filterType": "MARKET_LOT_SIZE", "minQty": v[0], "maxQty": v[1], "stepSize": v[2]}),
                3 => serde_json::json!({"filterType": "MIN_NOTIONAL", "minNotional": v[0], "applyToMarket": flag}),
                4 => serde_json::json!({"filterType": "NOTIONAL", "minNotional": v[0], "maxNotional": v[1], "applyMinToMarket": flag, "applyMaxToMarket": !flag}),
                _ => serde_json::json!({"filterType": "PERCENT_PRICE", "multiplierUp": v[0]}),
            })
            .collect();
        oracle::check(&serde_json::to_vec(&json).expect("serialises"));
    }

    #[test]
    fn random_rate_limit_headers_never_panic(
        used in prop::collection::vec(("x-mbx-used-weight-1m|x-mbx-order-count-1m|x-sapi-used-ip-weight-1m", "[0-9]{0,25}|-1| 7 |abc"), 0..4),
        retry_after in "[0-9]{0,25}|-5|  |1e9",
    ) {
        let mut map = serde_json::Map::new();
        for (name, value) in used {
            map.insert(name, Value::from(value));
        }
        map.insert("retry-after".to_owned(), Value::from(retry_after));
        oracle::check(&serde_json::to_vec(&Value::Object(map)).expect("serialises"));
    }
}
