//! Bytes into the framer and decoder; decode -> encode -> decode must agree.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::mqtt::fuzzing::framer(data);
});
