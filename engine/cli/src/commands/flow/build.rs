//! `stagecraft flow build`: recognizes a flow project's language and builds
//! its component with that language's tool. A missing tool is named with
//! the one command that installs it; nothing is installed here.

use super::spinner;
use super::toolchain::{self, Tool};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;
use stagecraft_engine::FlowKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The contract every flow is built against, as this host knows it.
pub const WIT: &str = include_str!("../../../../../wit/flow.wit");
/// The Python SDK, put on the build's path when the project has no copy.
pub const PYTHON_SDK: &str =
    include_str!("../../../../../plugin-sdk/python/stagecraft_flow/__init__.py");
/// The JavaScript SDK, which `flow new` copies into a project.
pub const JS_SDK: &str = include_str!("../../../../../plugin-sdk/js/stagecraft-flow.js");

/// A flow project's language, recognized by its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// A crate (`Cargo.toml`), built by cargo for wasm32-wasip2.
    Rust,
    /// A Python project (`pyproject.toml`), built by componentize-py.
    Python,
    /// A JavaScript project (`package.json`), built by jco.
    Js,
}

impl Language {
    /// The language of the project in `dir`.
    pub fn of(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        let found = [
            ("Cargo.toml", Language::Rust),
            ("pyproject.toml", Language::Python),
            ("package.json", Language::Js),
        ]
        .into_iter()
        .filter(|(manifest, _)| dir.join(manifest).is_file())
        .map(|(_, language)| language)
        .collect::<Vec<_>>();
        match found.as_slice() {
            [language] => Ok(*language),
            [] => bail!(
                "{} is not a flow project: it has no Cargo.toml, pyproject.toml or package.json \
                 (start one with `stagecraft flow new {} --lang rust|python|js`)",
                dir.display(),
                dir.display()
            ),
            _ => bail!(
                "{} has manifests of several languages ({found:?}); keep one",
                dir.display()
            ),
        }
    }
}

/// Builds the flow project in `dir`; returns the component's path, which is
/// `out` when given.
pub async fn build(dir: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let out = out.map(std::path::absolute).transpose()?;
    let out = out.as_deref();
    if let Some(parent) = out.and_then(Path::parent) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let built = match Language::of(&dir)? {
        Language::Rust => rust(&dir).await?,
        Language::Python => python(&dir, out).await?,
        Language::Js => js(&dir, out).await?,
    };
    match out {
        Some(out) if out != built => {
            std::fs::copy(&built, out)
                .with_context(|| format!("copying {} to {}", built.display(), out.display()))?;
            Ok(out.to_owned())
        }
        _ => Ok(built),
    }
}

/// `[tool.stagecraft]` of a `pyproject.toml`.
#[derive(Deserialize)]
struct PyProject {
    project: Option<PyPackage>,
    tool: Option<PyTools>,
}

#[derive(Deserialize)]
struct PyPackage {
    name: Option<String>,
}

#[derive(Deserialize)]
struct PyTools {
    stagecraft: Option<Settings>,
}

/// What a Python or JavaScript project says about its flow.
#[derive(Deserialize)]
struct Settings {
    kind: Option<String>,
    /// Python: the module that defines the flow (default `app`).
    module: Option<String>,
}

/// The flow kind a project declares, as a WIT world's name.
fn world(kind: Option<&str>, manifest: &Path, key: &str) -> Result<&'static str> {
    let kind = kind.with_context(|| {
        format!(
            "{} does not say which kind of flow this is: add {key} = \"autolaunched\" \
             (or \"evaluation\", \"screen\")",
            manifest.display()
        )
    })?;
    match kind.parse::<FlowKind>() {
        Ok(FlowKind::Autolaunched) => Ok("autolaunched-flow"),
        Ok(FlowKind::Evaluation) => Ok("evaluation-flow"),
        Ok(FlowKind::Screen) => Ok("screen-flow"),
        Err(_) => bail!(
            "{}: {key} is {kind:?}; it must be autolaunched, evaluation or screen",
            manifest.display()
        ),
    }
}

/// The manifest `name` in `dir`: its path and its text.
fn read(dir: &Path, name: &str) -> Result<(PathBuf, String)> {
    let manifest = dir.join(name);
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    Ok((manifest, text))
}

/// The project's name: its manifest's, or its directory's.
fn name(declared: Option<String>, dir: &Path) -> String {
    declared
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "flow".into())
        .replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "-",
        )
}

/// Writes the WIT into `build/wit` (always this host's, so a project cannot
/// drift from it) and returns the build directory.
fn build_dir(dir: &Path) -> Result<PathBuf> {
    let build = dir.join("build");
    let wit = build.join("wit");
    std::fs::create_dir_all(&wit).with_context(|| format!("creating {}", wit.display()))?;
    std::fs::write(wit.join("flow.wit"), WIT).context("writing the WIT")?;
    Ok(build)
}

/// componentize-py over the module named in `pyproject.toml`.
async fn python(dir: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let (manifest, text) = read(dir, "pyproject.toml")?;
    let project: PyProject = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let settings = project.tool.and_then(|t| t.stagecraft);
    let world = world(
        settings.as_ref().and_then(|s| s.kind.as_deref()),
        &manifest,
        "[tool.stagecraft] kind",
    )?;
    let module = settings
        .and_then(|s| s.module)
        .unwrap_or_else(|| "app".into());
    let source = dir.join(module.replace('.', "/")).with_extension("py");
    if !source.is_file() && !dir.join(&module).join("__init__.py").is_file() {
        bail!(
            "the flow's module {module} is missing: expected {} (or set [tool.stagecraft] module)",
            source.display()
        );
    }
    let componentize = toolchain::find(Tool::ComponentizePy)?;
    let build = build_dir(dir)?;
    let component = out.map_or_else(
        || {
            build.join(format!(
                "{}.wasm",
                name(project.project.and_then(|p| p.name), dir)
            ))
        },
        Path::to_owned,
    );
    let mut command = tokio::process::Command::new(componentize);
    command
        .arg("-d")
        .arg(build.join("wit"))
        .args(["-w", world, "componentize", &module, "-p"])
        .arg(dir);
    // The project's own copy of the SDK wins; otherwise this host's.
    if !dir.join("stagecraft_flow").is_dir() {
        let sdk = build.join("sdk").join("stagecraft_flow");
        std::fs::create_dir_all(&sdk).with_context(|| format!("creating {}", sdk.display()))?;
        std::fs::write(sdk.join("__init__.py"), PYTHON_SDK).context("writing the SDK")?;
        command.arg("-p").arg(build.join("sdk"));
    }
    command.arg("-o").arg(&component).current_dir(dir);
    run_tool(
        command,
        &format!("componentize-py building {}", dir.display()),
    )
    .await?;
    Ok(component)
}

/// jco (QuickJS backend) over an entry module that hands the host's log
/// import to the SDK and re-exports the project's main module.
async fn js(dir: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let (manifest, text) = read(dir, "package.json")?;
    let package: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", manifest.display()))?;
    let world = world(
        package["stagecraft"]["kind"].as_str(),
        &manifest,
        "\"stagecraft\": { \"kind\" }",
    )?;
    let main = dir.join(package["main"].as_str().unwrap_or("app.js"));
    if !main.is_file() {
        bail!(
            "the flow's module {} is missing (set \"main\" in package.json)",
            main.display()
        );
    }
    let main = main
        .canonicalize()
        .with_context(|| format!("resolving {}", main.display()))?;
    let jco = toolchain::find_js(dir)?;
    let build = build_dir(dir)?;
    let entry = build.join("entry.js");
    let main = serde_json::to_string(&main.to_string_lossy())?;
    std::fs::write(
        &entry,
        format!(
            "// Written by `stagecraft flow build`: gives the SDK the host's log, exports the flow.\n\
             import {{ log }} from \"stagecraft:flow/log@0.1.0\";\n\
             globalThis[Symbol.for(\"stagecraft.flow.log\")] = log;\n\
             export * from {main};\n"
        ),
    )
    .context("writing the entry module")?;
    let component = match out {
        Some(out) => out.to_owned(),
        None => build.join(format!(
            "{}.wasm",
            name(package["name"].as_str().map(str::to_owned), dir)
        )),
    };
    let mut command = tokio::process::Command::new(jco);
    // QuickJS: a component a tenth the size of StarlingMonkey's, built in a
    // few seconds, with calls an order of magnitude cheaper (README,
    // "Writing a flow"). Synchronous exports: the host's worlds are not async.
    // The module root is `/` so that imports outside the project (a shared
    // SDK) resolve; paths are absolute for the same reason.
    command
        .arg("componentize")
        .arg(&entry)
        .args(["--cwd", "/", "--wit"])
        .arg(build.join("wit"))
        .args([
            "--world-name",
            world,
            "--backend",
            "quickjs",
            "--backend-qjs-disable-async",
            "-o",
        ])
        .arg(&component)
        .current_dir(dir);
    run_tool(command, &format!("jco building {}", dir.display())).await?;
    Ok(component)
}

/// Runs a build tool under a spinner; prints its output if it fails.
async fn run_tool(mut command: tokio::process::Command, what: &str) -> Result<()> {
    let spinner = spinner(what.to_owned());
    let output = command
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {what}"));
    spinner.finish_and_clear();
    let output = output?;
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        bail!("{what} failed ({})", output.status);
    }
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2` in the crate at `dir`,
/// showing progress; returns the component's path as cargo reports it.
async fn rust(dir: &Path) -> Result<PathBuf> {
    toolchain::check_rust(dir)?;
    let spinner = spinner(format!("building {} for wasm32-wasip2", dir.display()));
    let mut child = tokio::process::Command::new(toolchain::cargo())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running cargo")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let stderr = child.stderr.take().context("cargo's stderr")?;
    // Cargo's human output: the spinner shows its latest line, and all of
    // it is printed if the build fails.
    let progress = spinner.clone();
    let log = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut log = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let trimmed = line.trim();
            if !trimmed.is_empty() {
                progress.set_message(trimmed.to_owned());
            }
            log.push(line);
        }
        log
    });
    let manifest = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?
        .join("Cargo.toml");
    let mut components = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"));
        if !is_cdylib || message["manifest_path"].as_str() != manifest.to_str() {
            continue;
        }
        for file in message["filenames"].as_array().into_iter().flatten() {
            if let Some(file) = file.as_str().filter(|file| file.ends_with(".wasm")) {
                components.push(PathBuf::from(file));
            }
        }
    }
    let status = child.wait().await?;
    let log = log.await.unwrap_or_default();
    spinner.finish_and_clear();
    if !status.success() {
        for line in &log {
            eprintln!("{line}");
        }
        bail!("cargo build failed ({status})");
    }
    match components.as_slice() {
        [component] => Ok(component.clone()),
        [] => bail!("cargo built no component: the crate needs `[lib] crate-type = [\"cdylib\"]`"),
        _ => bail!("cargo built several components: {components:?}"),
    }
}
