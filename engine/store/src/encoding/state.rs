//! The `runs.state` column: a run's whole state, compressed.
//!
//! A run is rewritten on every transition, so the size of its row decides
//! how many pages each group commit dirties, writes to the WAL and syncs.
//! The JSON of a run is repetitive (field names, stage names, timestamps)
//! and LZ4 shrinks it about fourfold for a microsecond or two of CPU.
//!
//! The column holds either JSON text (rows written before compression, still
//! readable) or a BLOB: one format byte, then the LZ4 block format with the
//! uncompressed length prepended (little-endian `u32`).

use stagecraft_core::run::Run;

use super::corrupt;
use crate::{StoreError, StoreResult};

/// Format byte of an LZ4-compressed JSON state.
const LZ4_JSON: u8 = 1;

/// How much LZ4 can expand its input, at most.
const MAX_LZ4_RATIO: usize = 255;

/// The format byte and the uncompressed length.
const HEADER: usize = 5;

/// The largest state a row may claim to decompress to. A run's state is
/// kilobytes; a length beyond this is corruption, not a run, and must not
/// make the reader allocate it.
const MAX_STATE_BYTES: usize = 256 << 20;

/// A run's state as stored.
pub enum StoredState {
    /// Uncompressed JSON text.
    Json(String),
    /// A format byte and a compressed body.
    Compressed(Vec<u8>),
}

/// Encodes `run` for the `state` column.
pub fn encode(run: &Run) -> StoreResult<Vec<u8>> {
    let json =
        serde_json::to_vec(run).map_err(|e| StoreError::write(format!("run {}", run.id), e))?;
    let length = u32::try_from(json.len())
        .ok()
        .filter(|&length| length as usize <= MAX_STATE_BYTES)
        .ok_or_else(|| {
            StoreError::write(
                format!("run {}", run.id),
                format!("too large to store ({} bytes of JSON)", json.len()),
            )
        })?;
    let mut stored = vec![0; HEADER + lz4_flex::block::get_maximum_output_size(json.len())];
    stored[0] = LZ4_JSON;
    stored[1..HEADER].copy_from_slice(&length.to_le_bytes());
    let compressed = lz4_flex::block::compress_into(&json, &mut stored[HEADER..])
        .map_err(|e| StoreError::write(format!("run {}", run.id), e))?;
    stored.truncate(HEADER + compressed);
    Ok(stored)
}

/// Decodes the state of run `id`; the run it holds must be that run.
pub fn decode(id: &str, state: &StoredState) -> StoreResult<Run> {
    let what = || format!("run {id}");
    let run: Run = match state {
        StoredState::Json(json) => serde_json::from_str(json).map_err(|e| corrupt(what(), e))?,
        StoredState::Compressed(stored) => {
            let json = decompress(stored).map_err(|reason| corrupt(what(), reason))?;
            serde_json::from_slice(&json).map_err(|e| corrupt(what(), e))?
        }
    };
    if run.id.0 != id {
        return Err(corrupt(
            what(),
            format!("its state is that of run {}", run.id),
        ));
    }
    Ok(run)
}

fn decompress(stored: &[u8]) -> Result<Vec<u8>, String> {
    let Some((&format, body)) = stored.split_first() else {
        return Err("its state is empty".to_owned());
    };
    if format != LZ4_JSON {
        return Err(format!("its state has an unknown format ({format})"));
    }
    let (length, block) =
        lz4_flex::block::uncompressed_size(body).map_err(|e| format!("its state: {e}"))?;
    if length > MAX_STATE_BYTES {
        return Err(format!(
            "its state claims {length} bytes, more than any run ({MAX_STATE_BYTES})"
        ));
    }
    // LZ4 expands at most 255-fold: a longer claim is corruption, refused
    // before the buffer for it is allocated.
    if length > block.len().saturating_mul(MAX_LZ4_RATIO) {
        return Err(format!(
            "its state claims {length} bytes from {} compressed ones",
            block.len()
        ));
    }
    let json = lz4_flex::block::decompress(block, length).map_err(|e| format!("its state: {e}"))?;
    if json.len() != length {
        return Err(format!(
            "its state decompresses to {} bytes, not the {length} it claims",
            json.len()
        ));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> Run {
        serde_json::from_value(serde_json::json!({
            "id": id, "orchestration": "o", "version": 1, "status": "in_progress",
            "inputs": {"amount": 12}, "stages": [], "current": null, "work_items": [],
            "evaluations": [], "evaluations_issued": 0, "error": null,
            "handled_errors": [], "history": []
        }))
        .expect("a valid run")
    }

    #[test]
    fn a_state_round_trips_and_shrinks() {
        let mut original = run("r1");
        original.inputs = serde_json::json!({"notes": "lorem ipsum ".repeat(100)});
        let stored = encode(&original).expect("encodes");
        let json = serde_json::to_vec(&original).expect("json");
        assert!(
            stored.len() < json.len() / 4,
            "{} vs {}",
            stored.len(),
            json.len()
        );
        let back = decode("r1", &StoredState::Compressed(stored)).expect("decodes");
        assert_eq!(back, original);
    }

    #[test]
    fn json_text_from_before_compression_still_reads() {
        let original = run("r1");
        let text = serde_json::to_string(&original).expect("json");
        assert_eq!(
            decode("r1", &StoredState::Json(text)).expect("decodes"),
            original
        );
    }

    #[test]
    fn corrupt_states_are_refused_with_the_run_named() {
        let good = encode(&run("r1")).expect("encodes");
        let mut unknown_format = good.clone();
        unknown_format[0] = 9;
        let mut huge = good.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        // Within the cap, but more than LZ4 could make of the body.
        let mut inflated = good.clone();
        inflated[1..5].copy_from_slice(&(200_u32 << 20).to_le_bytes());
        let mut short = good.clone();
        short[1..5].copy_from_slice(&4_u32.to_le_bytes());
        let truncated = good[..good.len() / 2].to_vec();
        for (case, stored) in [
            ("empty", Vec::new()),
            ("unknown format", unknown_format),
            ("huge length", huge),
            ("inflated length", inflated),
            ("short length", short),
            ("truncated", truncated),
        ] {
            let error = decode("r1", &StoredState::Compressed(stored))
                .expect_err(case)
                .to_string();
            assert!(error.contains("run r1"), "{case}: {error}");
        }
        let error = decode("r2", &StoredState::Compressed(good))
            .expect_err("another run's state")
            .to_string();
        assert!(error.contains("that of run r1"), "{error}");
    }
}
