//! Stored run states, as the store decodes them (JSON after decompression):
//! whatever the bytes, decoding fails cleanly or yields a run that encodes
//! and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft_core::Run;

fuzz_target!(|data: &[u8]| {
    if let Ok(run) = serde_json::from_slice::<Run>(data) {
        let encoded = serde_json::to_vec(&run).expect("a decoded run encodes");
        let again: Run = serde_json::from_slice(&encoded).expect("and decodes again");
        assert_eq!(again, run);
    }
});
