//! Issue 20, the fault campaign on the embedded store: a real full disk.
//! One node serves from a data directory on a small tmpfs that a filler
//! file fills while runs are started (with idempotency keys) and run.
//! While the disk is full the node stays up, reads are answered, and a
//! start that cannot commit is refused 503 `storage_unavailable`; once the
//! filler is removed every key retried starts exactly one run, every run
//! completes with each step's end recorded once, and a restart serves the
//! same store. Mounting needs root: elsewhere the test is skipped loudly
//! (failed under `CI=true`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use stagecraft_example_plugins as plugins;

use super::cluster::{chain, kinds};
use crate::support::{ADMIN, Server};

/// The tmpfs's size: the store, the compile cache and little room to spare.
const SIZE: &str = "48m";
/// Starts sent while the disk is full.
const WHILE_FULL: usize = 40;

/// A tmpfs mounted for the test's life.
struct Mount(PathBuf, tempfile::TempDir);

impl Mount {
    /// Mounts a tmpfs of [`SIZE`], or says why it cannot.
    fn new() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={SIZE},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self(dir.path().join("data"), dir))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.1.path()).status();
    }
}

/// Fills the file system that holds `file` with it, to the last byte.
fn fill(file: &Path) {
    use std::io::Write;
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut out = std::fs::File::create(file).expect("the filler");
    while out.write_all(&chunk).is_ok() {}
    let _ = out.sync_all();
}

/// Starts `chain` with `key` until the node answers it 200 or 201.
fn start_until_answered(server: &Server, key: &str) -> String {
    let started = Instant::now();
    loop {
        let (status, _, body) = server.start_once(key, json!({"orchestration": "chain"}));
        if status == 200 || status == 201 {
            return body["id"].as_str().expect("a run id").to_owned();
        }
        assert_eq!(status, 503, "only the storage may refuse: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the node never recovered: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_full_disk_on_sqlite_refuses_starts_then_recovers_losing_nothing_and_doubling_nothing() {
    let mount = match Mount::new() {
        Ok(mount) => mount,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run the full-disk test: {why}"
            );
            eprintln!("\n!!! SKIPPED: a full disk needs a tmpfs mount: {why} !!!\n");
            return;
        }
    };
    let server = Server::start(&mount.0);
    server.deploy_flow("noop", "autolaunched", plugins::NOOP);
    assert_eq!(server.post("/orchestrations", ADMIN, chain()).0, 201);
    let mut keys: BTreeMap<String, Option<String>> = BTreeMap::new();
    for n in 0..10 {
        let key = format!("before-{n}");
        let id = start_until_answered(&server, &key);
        keys.insert(key, Some(id));
    }

    let filler = mount.0.join("filler");
    fill(&filler);
    let mut refused = 0;
    for n in 0..WHILE_FULL {
        let key = format!("full-{n}");
        let (status, _, body) = server.start_once(&key, json!({"orchestration": "chain"}));
        match status {
            200 | 201 => {
                keys.insert(key, Some(body["id"].as_str().expect("an id").to_owned()));
            }
            503 => {
                assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
                refused += 1;
                keys.insert(key, None);
            }
            _ => panic!("a full disk answered {status}: {body}"),
        }
    }
    eprintln!("full disk: {refused} of {WHILE_FULL} starts refused 503");
    assert!(refused > 0, "the disk was never full");
    let (status, _) = server.get("/runs?limit=5", ADMIN);
    assert_eq!(status, 200, "reads are answered while the disk is full");

    std::fs::remove_file(&filler).expect("space returns");
    for (key, id) in &mut keys {
        let again = start_until_answered(&server, key);
        if let Some(first) = id {
            assert_eq!(&again, first, "key {key} started one run");
        }
        *id = Some(again);
    }
    let ids: Vec<String> = keys.values().flatten().cloned().collect();
    for id in &ids {
        let run = server.wait_run(id, |run| run["status"] != "in_progress");
        assert_eq!(run["status"], "completed", "{run}");
        let ends = kinds(&run).iter().filter(|k| *k == "end_step").count();
        assert_eq!(ends, 3, "each step's end recorded once: {run}");
    }
    let (status, listed) = server.call(Method::GET, "/runs?limit=1000", Some(ADMIN), None);
    assert_eq!(status, 200);
    let listed = listed.as_array().map_or(0, Vec::len);
    assert_eq!(listed, ids.len(), "one run per key, none doubled");

    // The store the full disk left behind opens and serves.
    drop(server);
    let server = Server::start(&mount.0);
    for id in &ids {
        let (status, run) = server.get(&format!("/runs/{id}"), ADMIN);
        assert_eq!((status, &run["status"]), (200, &json!("completed")));
    }
}
