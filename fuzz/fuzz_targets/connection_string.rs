//! Connection strings; keys and tokens never show in Debug or error text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::connection_string(data);
});
