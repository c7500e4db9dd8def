//! Flow and orchestration versions: numbering, activation and rollback.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use serde_json::json;
use stagecraft_core::FlowKind;
use stagecraft_store::{NewFlow, NewOrchestration, Store, StoreError};

use crate::Harness;
use crate::support::{audit, definition, t};

fn flow(name: &str, bytes: &[u8], minutes: i64) -> NewFlow {
    NewFlow {
        name: name.to_owned(),
        kind: FlowKind::Autolaunched,
        bytes: bytes.to_vec(),
        digest: format!("digest-of-{}", String::from_utf8_lossy(bytes)),
        deployed_by: "ops".to_owned(),
        deployed_at: t(minutes),
    }
}

/// `(name, version, active)` of every stored flow.
async fn flow_flags(test: &impl Harness) -> Vec<(String, u32, bool)> {
    test.store()
        .flows()
        .await
        .expect("flows list")
        .into_iter()
        .map(|f| (f.name, f.version, f.active))
        .collect()
}

fn flags(expected: &[(&str, u32, bool)]) -> Vec<(String, u32, bool)> {
    expected
        .iter()
        .map(|(name, version, active)| ((*name).to_owned(), *version, *active))
        .collect()
}

pub async fn flow_versions_are_numbered_activated_and_rolled_back<H: Harness>(test: H) {
    let v1 = test
        .store()
        .insert_flow(flow("score", b"one", 1), audit())
        .await
        .unwrap();
    assert_eq!((v1.version, v1.active), (1, true));
    assert_eq!(v1.size, 3);
    assert_eq!(v1.digest, "digest-of-one");
    assert_eq!(v1.deployed_at, t(1), "nanosecond-exact");
    let mut screen = flow("form", b"screen", 2);
    screen.kind = FlowKind::Screen;
    let form = test.store().insert_flow(screen, audit()).await.unwrap();
    assert_eq!((form.version, form.kind), (1, FlowKind::Screen));
    let v2 = test
        .store()
        .insert_flow(flow("score", b"two!", 3), audit())
        .await
        .unwrap();
    assert_eq!((v2.version, v2.active, v2.size), (2, true, 4));
    assert_eq!(
        flow_flags(&test).await,
        flags(&[("form", 1, true), ("score", 1, false), ("score", 2, true)])
    );

    // Rollback to v1, then roll forward again.
    let rolled_back = test
        .store()
        .activate_flow("score", 1, audit())
        .await
        .unwrap();
    assert_eq!(rolled_back, v1);
    assert_eq!(
        flow_flags(&test).await,
        flags(&[("form", 1, true), ("score", 1, true), ("score", 2, false)])
    );
    let test = test.reopen().await;
    assert_eq!(
        flow_flags(&test).await,
        flags(&[("form", 1, true), ("score", 1, true), ("score", 2, false)]),
        "activation is durable"
    );
    test.store()
        .activate_flow("score", 2, audit())
        .await
        .unwrap();
    // A new version follows the highest, whichever is active.
    test.store()
        .activate_flow("score", 1, audit())
        .await
        .unwrap();
    let v3 = test
        .store()
        .insert_flow(flow("score", b"three", 4), audit())
        .await
        .unwrap();
    assert_eq!((v3.version, v3.active), (3, true));

    assert_eq!(
        test.store()
            .flow_bytes("score", 1)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(
        test.store()
            .flow_bytes("score", 2)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"two!"[..])
    );
    assert_eq!(test.store().flow_bytes("score", 9).await.unwrap(), None);
    assert_eq!(test.store().flow_bytes("nope", 1).await.unwrap(), None);
}

pub async fn activating_an_unknown_flow_version_is_not_found<H: Harness>(test: H) {
    test.store()
        .insert_flow(flow("score", b"one", 1), audit())
        .await
        .unwrap();
    for (name, version) in [("score", 3), ("nope", 1)] {
        match test.store().activate_flow(name, version, audit()).await {
            Err(StoreError::NotFound(what)) => assert_eq!(what, format!("flow {name} v{version}")),
            other => panic!("expected not found, got {other:?}"),
        }
    }
    let flows = test.store().flows().await.unwrap();
    assert_eq!(flows.len(), 1);
    assert!(flows[0].active, "a failed activation changes nothing");
}

pub async fn orchestration_versions_keep_their_definitions<H: Harness>(test: H) {
    let deploy = |name: &str, marker: i64| NewOrchestration {
        name: name.to_owned(),
        definition: definition(name, marker),
        deployed_by: "ops".to_owned(),
        deployed_at: t(marker),
    };
    let v1 = test
        .store()
        .insert_orchestration(deploy("loan", 1), audit())
        .await
        .unwrap();
    assert_eq!((v1.version, v1.active), (1, true));
    let v2 = test
        .store()
        .insert_orchestration(deploy("loan", 2), audit())
        .await
        .unwrap();
    assert_eq!((v2.version, v2.active), (2, true));
    test.store()
        .insert_orchestration(deploy("lease", 3), audit())
        .await
        .unwrap();

    let test = test.reopen().await;
    let stored = test.store().orchestrations().await.unwrap();
    let summary: Vec<_> = stored
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.version,
                o.active,
                o.definition["marker"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("lease", 1, true, json!(3)),
            ("loan", 1, false, json!(1)),
            ("loan", 2, true, json!(2)),
        ]
    );
    assert_eq!(stored[2], v2);
    assert_eq!(stored[1].deployed_at, t(1));
}
