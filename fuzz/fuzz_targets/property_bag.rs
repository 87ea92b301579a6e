//! Property bags and percent-decoding; decode -> encode -> decode must agree.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::property_bag(data);
});
