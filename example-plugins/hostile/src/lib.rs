//! A flow that attacks its sandbox. The input `attack` picks the attack; the
//! host's tests check that each one fails on its own step and nothing else.
//!
//! The escape attempts (`read-file`, `read-env`, `open-socket`) do not trap:
//! they return what the sandbox let them see, so a test can assert that it
//! saw nothing.

#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "autolaunched-flow" });
}

use bindings::exports::stagecraft::flow::autolaunched::Guest;
use bindings::stagecraft::flow::types::FlowError;
use serde_json::{Value, json};
use std::hint::black_box;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Hostile;

impl Guest for Hostile {
    fn run(inputs: String) -> Result<String, FlowError> {
        let inputs: Value = serde_json::from_str(&inputs).map_err(|e| FlowError {
            code: "invalid-input".into(),
            message: e.to_string(),
        })?;
        let attack = inputs["attack"].as_str().unwrap_or_default();
        let outputs = match attack {
            "infinite-loop" => infinite_loop(),
            "memory-bomb" => json!({ "allocated": memory_bomb() }),
            "deep-recursion" => json!({ "depth": recurse(black_box(u64::MAX)) }),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                json!({ "slept": true })
            }
            "read-file" => json!({ "read-file": read_file(&inputs["path"]) }),
            "read-env" => json!({
                "vars": std::env::vars().count(),
                "home": std::env::var("HOME").ok(),
            }),
            "open-socket" => json!({ "open-socket": open_socket(&inputs["port"]) }),
            "shout" => {
                println!("to stdout");
                eprintln!("to stderr");
                json!({})
            }
            "bad-json" => return Ok("this is not json".into()),
            "not-an-object" => return Ok("[1, 2, 3]".into()),
            "panic" => panic!("hostile flow panicked on purpose"),
            other => {
                return Err(FlowError {
                    code: "unknown-attack".into(),
                    message: format!("no attack named {other:?}"),
                });
            }
        };
        Ok(outputs.to_string())
    }
}

fn infinite_loop() -> Value {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn memory_bomb() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(black_box(vec![1u8; 1 << 20]));
        if hoard.len() == usize::MAX {
            return hoard.len();
        }
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut frame = [0u8; 256];
    frame[(n % 256) as usize] = 1;
    black_box(&frame);
    1 + recurse(black_box(n - 1))
}

fn read_file(path: &Value) -> String {
    let path = path.as_str().unwrap_or("/etc/passwd");
    match std::fs::read_to_string(path) {
        Ok(contents) => format!("read {} bytes", contents.len()),
        Err(e) => format!("denied: {e}"),
    }
}

fn open_socket(port: &Value) -> String {
    let port = port
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(80);
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => "connected".into(),
        Err(e) => format!("denied: {e}"),
    }
}

// Exported only for wasm, so the crate also builds natively.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
const _: () = {
    bindings::export!(Hostile with_types_in bindings);
};
