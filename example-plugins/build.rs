//! Compiles every example flow to a `wasm32-wasip2` component, once per
//! build of this crate (not once per test), and writes their paths into
//! `$OUT_DIR/plugins.rs`.

use anyhow::{Context, Result, bail};
use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crate name, constant name, flow kind.
const PLUGINS: &[(&str, &str, &str)] = &[
    ("risk-score", "RISK_SCORE", "autolaunched"),
    ("risk-score-fixed", "RISK_SCORE_FIXED", "autolaunched"),
    ("credit-check", "CREDIT_CHECK", "evaluation"),
    ("loan-review", "LOAN_REVIEW", "screen"),
    ("noop", "NOOP", "autolaunched"),
    ("hostile", "HOSTILE", "autolaunched"),
];

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir
        .parent()
        .context("example-plugins has no parent directory")?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // A target directory of its own: the outer cargo holds the lock on ours.
    let target_dir = target_dir(&out_dir, workspace).join("wasm-plugins");

    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (krate, _, _) in PLUGINS {
        cmd.args(["-p", krate]);
    }
    // Settings meant for the host build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    // Small components: the host does not need DWARF, only the name section.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    let status = cmd
        .status()
        .context("running cargo to build the example plugins")?;
    if !status.success() {
        bail!(
            "building the example plugins failed ({status}); is the target installed? \
             run `rustup target add wasm32-wasip2`"
        );
    }

    let mut consts = String::new();
    let mut all =
        String::from("/// Every example plugin: crate name, flow kind, component path.\n");
    all.push_str("pub const ALL: &[Plugin] = &[\n");
    for (krate, name, kind) in PLUGINS {
        let file = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", krate.replace('-', "_")));
        if !file.exists() {
            bail!("cargo succeeded but {} is missing", file.display());
        }
        let path = file.display().to_string();
        writeln!(consts, "/// The `{krate}` component ({kind} flow).")?;
        writeln!(consts, "pub const {name}: &str = {path:?};")?;
        writeln!(
            all,
            "    Plugin {{ name: {krate:?}, kind: {kind:?}, path: {name} }},"
        )?;
    }
    all.push_str("];\n");
    std::fs::write(out_dir.join("plugins.rs"), consts + &all)?;

    for dir in ["wit", "plugin-sdk", "example-plugins"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    Ok(())
}

/// The target directory of the build running this script: the ancestor of
/// `OUT_DIR` that cargo marked with `CACHEDIR.TAG`.
fn target_dir(out_dir: &Path, workspace: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map_or_else(|| workspace.join("target"), Path::to_path_buf)
}
