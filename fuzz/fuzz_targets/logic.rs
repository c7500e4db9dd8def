//! Custom condition logic (`1 AND (2 OR NOT 3)`), with up to 10 conditions.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&count, text)) = data.split_first()
        && let Ok(text) = std::str::from_utf8(text)
    {
        let conditions = usize::from(count % 12);
        if let Ok(expr) = stagecraft_core::requirement::parse_logic(text, conditions) {
            let values: Vec<bool> = (0..conditions)
                .map(|i| (count >> (i % 8)) & 1 == 1)
                .collect();
            let _ = expr.holds(&values);
        }
    }
});
