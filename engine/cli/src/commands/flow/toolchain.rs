//! The tools that build flows: where they are, whether they are the
//! versions Stagecraft is tested with, and the one command that installs
//! each when it is missing. Nothing here installs anything.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// componentize-py, pinned: the version `.ci/run` installs and the tests use.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// jco, pinned likewise; its QuickJS backend (componentize-qjs) comes with it.
pub const JCO_VERSION: &str = "1.35.0";

/// A build tool found on the `PATH`.
#[derive(Debug, Clone, Copy)]
pub enum Tool {
    /// Builds Python flows.
    ComponentizePy,
    /// Builds JavaScript flows (a Node.js program).
    Jco,
    /// Runs jco.
    Node,
}

impl Tool {
    fn program(self) -> &'static str {
        match self {
            Tool::ComponentizePy => "componentize-py",
            Tool::Jco => "jco",
            Tool::Node => "node",
        }
    }

    /// The one command that installs the tool.
    pub fn install(self) -> String {
        match self {
            Tool::ComponentizePy => {
                format!("pip install componentize-py=={COMPONENTIZE_PY_VERSION}")
            }
            Tool::Jco => format!("npm install -g @bytecodealliance/jco@{JCO_VERSION}"),
            Tool::Node => {
                "sudo apt-get install nodejs npm   (or see https://nodejs.org; Node.js 20 or later)"
                    .into()
            }
        }
    }
}

/// The tool's path on the `PATH`, or an error naming it and its install command.
pub fn find(tool: Tool) -> Result<PathBuf> {
    match which::which(tool.program()) {
        Ok(path) => Ok(path),
        Err(_) => bail!(
            "{} is not installed (not found on the PATH); install it with:\n    {}",
            tool.program(),
            tool.install()
        ),
    }
}

/// jco from the project's `node_modules`, else from the `PATH`; and Node.js.
pub fn find_js(dir: &Path) -> Result<PathBuf> {
    find(Tool::Node)?;
    let local = dir.join("node_modules").join(".bin").join("jco");
    if local.is_file() {
        return Ok(local);
    }
    find(Tool::Jco)
}

/// cargo, as the caller's cargo if run under one.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from)
}

/// cargo and the wasm32-wasip2 target of the toolchain that builds in `dir`
/// (a `rust-toolchain.toml` there may pick another).
pub fn check_rust(dir: &Path) -> Result<()> {
    if std::env::var_os("CARGO").is_none() && which::which("cargo").is_err() {
        bail!(
            "cargo is not installed (not found on the PATH); install Rust with:\n    \
             curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
        );
    }
    let libdir = std::process::Command::new("rustc")
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .output();
    if let Ok(output) = libdir
        && output.status.success()
    {
        let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if !libdir.is_dir() {
            bail!(
                "the Rust target wasm32-wasip2 is not installed; install it with:\n    \
                 rustup target add wasm32-wasip2"
            );
        }
    }
    Ok(())
}
