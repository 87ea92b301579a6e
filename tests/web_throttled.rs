//! THROTTLED at the JS level in headless Chromium against the real emulator:
//! a twin request answered 429 more often than the core retries (1 + 4 tries,
//! backoff 1 s doubling, jitter 0.5: ~7.5–15 s) rejects with `THROTTLED`,
//! status 429. Its own target: ~10 s of backoff would otherwise dominate the
//! run of tests/web_client.rs (scripts/test.sh gives each target 180 s,
//! `WASM_BINDGEN_TEST_TIMEOUT`).
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

mod web_common;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_common::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn twin_throttled_beyond_retries_fails() {
    let (c, id, _) = connected_client("throttled", &[]).await;
    ok(c.get_twin()).await; // the twin subscription is in place
    assert_eq!(
        fault(&id, r#"{"kind":"twinThrottle","count":5}"#).await,
        204
    );
    let start = js_sys::Date::now();
    let e = rejection(c.get_twin()).await;
    let took = js_sys::Date::now() - start;
    assert_eq!(text(&e, "code").as_deref(), Some("THROTTLED"));
    assert_eq!(get(&e, "status").as_f64(), Some(429.0));
    assert_eq!(get(&e, "retryable").as_bool(), Some(true));
    assert!(
        took >= 7000.0,
        "gave up after {took} ms: retries were not backed off"
    );
    // All five 429s were used up by the five tries: the next request succeeds at once.
    ok(c.get_twin()).await;
    c.close();
}
