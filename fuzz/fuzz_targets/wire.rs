//! Every wire type: the first byte picks the type, the rest is decoded as it
//! (`sotto_fuzz::wire::check_tagged`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = sotto_fuzz::wire::check_tagged(data) {
        panic!("{violation}");
    }
});
