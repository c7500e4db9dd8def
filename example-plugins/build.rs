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
    ("credit-check-lenient", "CREDIT_CHECK_LENIENT", "evaluation"),
    ("loan-review", "LOAN_REVIEW", "screen"),
    ("noop", "NOOP", "autolaunched"),
    ("hostile", "HOSTILE", "autolaunched"),
    ("review-trap", "REVIEW_TRAP", "screen"),
];

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir
        .parent()
        .context("example-plugins has no parent directory")?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // A target directory of its own: the outer cargo holds the lock on ours.
    let target_dir = target_dir(&out_dir, workspace).join("wasm-plugins");
    ensure_wasm_target()?;

    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
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
        bail!("building the example plugins for {WASM_TARGET} failed ({status})");
    }

    let mut consts = String::new();
    let mut all =
        String::from("/// Every example plugin: crate name, flow kind, component path.\n");
    all.push_str("pub const ALL: &[Plugin] = &[\n");
    for (krate, name, kind) in PLUGINS {
        let file = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", krate.replace('-', "_")));
        if !file.exists() {
            bail!("cargo succeeded but {} is missing", file.display());
        }
        let path = file.display().to_string();
        writeln!(consts, "/// Path of the `{krate}` component ({kind} flow).")?;
        writeln!(consts, "pub const {name}: &str = {path:?};")?;
        writeln!(
            consts,
            "/// The `{krate}` component itself, embedded so an installed program \
             does not depend on the build directory."
        )?;
        writeln!(
            consts,
            "pub const {name}_WASM: &[u8] = include_bytes!({path:?});"
        )?;
        writeln!(
            all,
            "    Plugin {{ name: {krate:?}, kind: {kind:?}, path: {name}, wasm: {name}_WASM }},"
        )?;
    }
    all.push_str("];\n");
    std::fs::write(out_dir.join("plugins.rs"), consts + &all)?;

    for dir in ["wit", "plugin-sdk", "engine/form", "example-plugins"] {
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

/// Makes sure the toolchain building us can build for [`WASM_TARGET`].
///
/// rustup installs a `rust-toolchain.toml`'s targets only when it installs
/// the toolchain itself; a toolchain that was already present is used as it
/// is. So when rustup manages this toolchain and the target is missing, add
/// it (and say so); otherwise explain what to install.
fn ensure_wasm_target() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running `{rustc} --print sysroot`"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return Ok(());
    }
    let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") else {
        bail!(
            "the Rust toolchain at {} cannot build for {WASM_TARGET}, which the example \
             flows need; install that target for it (with rustup: \
             `rustup target add {WASM_TARGET}`)",
            sysroot.display()
        );
    };
    println!(
        "cargo:warning=the {WASM_TARGET} target was missing; installing it for toolchain {toolchain} \
         (rustup target add {WASM_TARGET} --toolchain {toolchain}): the example flows are \
         built for it"
    );
    let rustup = "rustup";
    let status = Command::new(rustup)
        .args(["target", "add", WASM_TARGET, "--toolchain", &toolchain])
        .status()
        .with_context(|| format!("running `{rustup} target add {WASM_TARGET}`"))?;
    if !status.success() {
        bail!(
            "`rustup target add {WASM_TARGET} --toolchain {toolchain}` failed ({status}); \
             the example flows cannot be built without that target"
        );
    }
    Ok(())
}
