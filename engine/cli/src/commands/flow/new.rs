//! `stagecraft flow new`: a working flow project in Rust, Python or
//! JavaScript, with a test of its own, ready for `flow build` and `flow test`.

use super::build::{JS_SDK, Language, PYTHON_SDK};
use anyhow::{Context, Result, bail};
use stagecraft_engine::FlowKind;
use std::path::{Path, PathBuf};

/// Where the Rust SDK was when this program was built: the default path
/// dependency of a new Rust flow.
const RUST_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugin-sdk");

/// One file of a template: its path in the project and its text.
type File = (&'static str, &'static str);

fn template(language: Language, kind: FlowKind) -> Vec<File> {
    macro_rules! t {
        ($path:literal) => {
            include_str!(concat!("../../../templates/flow/", $path))
        };
    }
    match (language, kind) {
        (Language::Rust, kind) => vec![
            ("Cargo.toml", t!("rust/Cargo.toml")),
            (
                "src/lib.rs",
                match kind {
                    FlowKind::Autolaunched => t!("rust/autolaunched.rs"),
                    FlowKind::Evaluation => t!("rust/evaluation.rs"),
                    FlowKind::Screen => t!("rust/screen.rs"),
                },
            ),
            (".gitignore", "/target\n"),
        ],
        (Language::Python, kind) => {
            let (app, test) = match kind {
                FlowKind::Autolaunched => (
                    t!("python/autolaunched.py"),
                    t!("python/autolaunched_test.py"),
                ),
                FlowKind::Evaluation => {
                    (t!("python/evaluation.py"), t!("python/evaluation_test.py"))
                }
                FlowKind::Screen => (t!("python/screen.py"), t!("python/screen_test.py")),
            };
            vec![
                ("pyproject.toml", t!("python/pyproject.toml")),
                ("app.py", app),
                ("test_app.py", test),
                ("stagecraft_flow/__init__.py", PYTHON_SDK),
                (".gitignore", "/build\n__pycache__/\n"),
            ]
        }
        (Language::Js, kind) => {
            let (app, test) = match kind {
                FlowKind::Autolaunched => (t!("js/autolaunched.js"), t!("js/autolaunched.test.js")),
                FlowKind::Evaluation => (t!("js/evaluation.js"), t!("js/evaluation.test.js")),
                FlowKind::Screen => (t!("js/screen.js"), t!("js/screen.test.js")),
            };
            vec![
                ("package.json", t!("js/package.json")),
                ("app.js", app),
                ("app.test.js", test),
                ("stagecraft-flow.js", JS_SDK),
                (".gitignore", "/build\nnode_modules/\n"),
            ]
        }
    }
}

/// The project's name, from its directory: lowercase letters, digits and
/// dashes, starting with a letter (a valid crate, package and file name).
fn project_name(dir: &Path) -> Result<String> {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no name to give the flow", dir.display()))?;
    let name: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("the flow's name comes from its directory, and {raw:?} does not start with a letter");
    }
    Ok(name)
}

/// Writes a new flow project into `dir` (which must not exist or be
/// empty); returns the files written.
pub fn create(
    dir: &Path,
    language: Language,
    kind: FlowKind,
    rust_sdk: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!("{} already exists and is not empty", dir.display());
    }
    let dir = std::path::absolute(dir)?;
    let name = project_name(&dir)?;
    let sdk = match language {
        Language::Rust => {
            let sdk = rust_sdk.unwrap_or(Path::new(RUST_SDK));
            let sdk = sdk.canonicalize().with_context(|| {
                format!(
                    "the Rust SDK (stagecraft-sdk) is not at {}: pass its directory with --rust-sdk",
                    sdk.display()
                )
            })?;
            if !sdk.join("Cargo.toml").is_file() {
                bail!(
                    "{} is not the Rust SDK: it has no Cargo.toml",
                    sdk.display()
                );
            }
            sdk.to_string_lossy().replace('\\', "/")
        }
        Language::Python | Language::Js => String::new(),
    };
    let mut written = Vec::new();
    for (path, text) in template(language, kind) {
        let text = text
            .replace("{{name}}", &name)
            .replace("{{kind}}", &kind.to_string())
            .replace("{{sdk}}", &sdk);
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}

/// What to do next, printed after `flow new`.
pub fn next_steps(dir: &Path, language: Language, kind: FlowKind) -> String {
    let name = project_name(dir).unwrap_or_else(|_| "flow".into());
    let dir = dir.display();
    let (component, test) = match language {
        Language::Rust => (
            format!(
                "{dir}/target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            format!("cd {dir} && cargo test"),
        ),
        Language::Python => (
            format!("{dir}/build/{name}.wasm"),
            format!("cd {dir} && python3 -m unittest"),
        ),
        Language::Js => (
            format!("{dir}/build/{name}.wasm"),
            format!("cd {dir} && node --test"),
        ),
    };
    let answers = match kind {
        FlowKind::Screen => " [--answers '{\"decision\": \"approve\"}']",
        _ => "",
    };
    format!(
        "its own tests:  {test}\n\
         build it:       stagecraft flow build {dir}\n\
         try it:         stagecraft flow test {component} --kind {kind} --inputs '{{}}'{answers}\n\
         deploy it:      stagecraft flow deploy {} {component} --kind {kind}",
        name.replace('-', "_")
    )
}
