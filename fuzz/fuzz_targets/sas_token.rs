//! SAS tokens; fields rebuild to an equivalent token, Debug hides the signature.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hubwire::hub::fuzzing::sas_token(data);
});
