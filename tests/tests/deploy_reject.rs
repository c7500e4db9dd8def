//! C-DEPLOY-REJECT: what is not a flow of the right kind is refused at load
//! time with a message that says what is wrong.

use stagecraft_host::{FlowKind, FlowWorld, LoadError};
use stagecraft_tests::{CREDIT_CHECK, LOAN_REVIEW, RISK_SCORE, bytes, host};

/// C-DEPLOY-REJECT: bytes that are not WebAssembly.
#[test]
fn c_deploy_reject_corrupt_bytes() {
    for junk in [&b""[..], b"hello world", b"\0as", &[0xff; 64]] {
        let err = host().load(FlowKind::Autolaunched, junk).unwrap_err();
        assert_eq!(err, LoadError::NotWasm, "for {junk:?}");
        assert!(err.to_string().contains("not a WebAssembly component"));
    }
}

/// C-DEPLOY-REJECT: a component cut short is invalid, not a crash.
#[test]
fn c_deploy_reject_truncated_component() {
    let component = bytes(RISK_SCORE);
    let truncated = &component[..component.len() / 2];
    let err = host().load(FlowKind::Autolaunched, truncated).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
}

/// C-DEPLOY-REJECT: a component whose body is flipped garbage is invalid.
#[test]
fn c_deploy_reject_corrupted_body() {
    let mut component = bytes(RISK_SCORE);
    for byte in component.iter_mut().skip(64).step_by(7) {
        *byte ^= 0x5a;
    }
    let err = host().load(FlowKind::Autolaunched, &component).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
}

/// C-DEPLOY-REJECT: a core module is not a component, and the error says how to build one.
#[test]
fn c_deploy_reject_core_module() {
    let module = wat::parse_str(r#"(module (func (export "run")))"#).unwrap();
    let err = host().load(FlowKind::Autolaunched, &module).unwrap_err();
    assert_eq!(err, LoadError::CoreModule);
    assert!(err.to_string().contains("wasm32-wasip2"));
}

/// C-DEPLOY-REJECT: a component of another world names what it should export.
#[test]
fn c_deploy_reject_wrong_world() {
    let cases = [
        (FlowKind::Autolaunched, CREDIT_CHECK, "evaluation"),
        (FlowKind::Evaluation, RISK_SCORE, "autolaunched"),
        (FlowKind::Screen, RISK_SCORE, "autolaunched"),
        (FlowKind::Autolaunched, LOAN_REVIEW, "screen"),
    ];
    for (kind, path, exported) in cases {
        let err = host().load(kind, &bytes(path)).unwrap_err();
        let LoadError::WrongWorld {
            expected,
            interface,
            found,
        } = &err
        else {
            panic!("expected WrongWorld for {path} as {kind}, got {err:?}");
        };
        assert_eq!(*expected, kind);
        assert_eq!(interface, kind.interface());
        assert!(found.contains(exported), "{found}");
        assert!(err.to_string().contains(kind.world()), "{err}");
    }
}

/// C-DEPLOY-REJECT: an empty component exports nothing and says so.
#[test]
fn c_deploy_reject_empty_component() {
    let component = wat::parse_str("(component)").unwrap();
    let err = host().load(FlowKind::Evaluation, &component).unwrap_err();
    assert!(
        matches!(&err, LoadError::WrongWorld { found, .. } if found == "nothing"),
        "{err:?}"
    );
}

/// C-DEPLOY-REJECT: a rejected load leaves the host fully usable.
#[tokio::test]
async fn c_deploy_reject_leaves_the_host_intact() {
    let _ = host().load(FlowKind::Autolaunched, b"garbage");
    let flow = host()
        .load(FlowKind::Evaluation, &bytes(CREDIT_CHECK))
        .unwrap();
    let invocation = flow.evaluate(&serde_json::json!({"risk": 10})).await;
    assert_eq!(invocation.outcome, Ok(true));
}

/// The compile cache works from a relative directory, and a second host
/// loads from it what the first compiled.
#[test]
fn a_relative_cache_directory_is_accepted() {
    use stagecraft_host::{FlowHost, HostConfig};
    let dir = tempfile::tempdir_in(".").unwrap();
    let relative = std::path::Path::new(dir.path().file_name().unwrap()).join("compiled");
    assert!(relative.is_relative());
    let config = || HostConfig {
        cache_dir: Some(relative.clone()),
        max_concurrent_invocations: 1,
        ..HostConfig::default()
    };
    let first = FlowHost::new(config()).unwrap();
    first
        .load(FlowKind::Evaluation, &bytes(CREDIT_CHECK))
        .unwrap();
    assert!(
        dir.path()
            .join("compiled")
            .read_dir()
            .unwrap()
            .next()
            .is_some()
    );
    let second = FlowHost::new(config()).unwrap();
    second
        .load(FlowKind::Evaluation, &bytes(CREDIT_CHECK))
        .unwrap();
}

/// A component can be loaded from a file; a missing file is a clear error.
#[tokio::test]
async fn components_load_from_files() {
    let flow = host()
        .load_file(FlowKind::Evaluation, std::path::Path::new(CREDIT_CHECK))
        .unwrap();
    let invocation = flow.evaluate(&serde_json::json!({"risk": 99})).await;
    assert_eq!(invocation.outcome, Ok(false));
    let err = host()
        .load_file(
            FlowKind::Evaluation,
            std::path::Path::new("/no/such/flow.wasm"),
        )
        .unwrap_err();
    assert!(matches!(err, LoadError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("/no/such/flow.wasm"), "{err}");
}
