//! Direct-method request and response topics; what parses rebuilds to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::method_topic(data);
});
