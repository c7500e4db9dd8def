//! References (`step.stage.step.outputs.field`): parse, and print back what parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft_core::reference::Reference;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(reference) = Reference::parse(text)
    {
        let printed = reference.to_string();
        let again = Reference::parse(&printed).expect("a printed reference parses");
        assert_eq!(again, reference, "printing and parsing round-trips");
    }
});
