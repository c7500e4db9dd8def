//! Flow and orchestration versions: numbering, activation and rollback.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use serde_json::json;
use stagecraft_core::FlowKind;
use stagecraft_store::{
    AuditAction, AuditFilter, NewFlow, NewOrchestration, Quarantine, Store, StoreError,
};

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
        memory_mib: None,
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
    assert_eq!(v1.memory_mib, None, "the server's default");
    let mut screen = flow("form", b"screen", 2);
    screen.kind = FlowKind::Screen;
    screen.memory_mib = Some(256);
    let form = test.store().insert_flow(screen, audit()).await.unwrap();
    assert_eq!((form.version, form.kind), (1, FlowKind::Screen));
    assert_eq!(form.memory_mib, Some(256), "its own memory limit");
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
    let flows = test.store().flows().await.unwrap();
    assert_eq!(
        flows[0].memory_mib,
        Some(256),
        "the memory limit is durable"
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

pub async fn flow_versions_are_quarantined_and_lifted_durably_with_their_audit<H: Harness>(
    test: H,
) {
    for bytes in [&b"one"[..], b"two"] {
        test.store()
            .insert_flow(flow("score", bytes, 1), audit())
            .await
            .unwrap();
    }
    let changes_before = test.store().catalog_changes().await.unwrap();
    let quarantine = |reason: &str, minutes| Quarantine {
        reason: reason.to_owned(),
        since: t(minutes),
    };
    let record = |action| {
        stagecraft_store::AuditRecord::done(t(5), "stagecraft", action, "flow:score".to_owned())
    };
    let quarantined = test
        .store()
        .quarantine_flow(
            "score",
            1,
            quarantine("five CPU budgets in a row", 5),
            record(AuditAction::FlowQuarantine),
        )
        .await
        .unwrap()
        .expect("a stored version");
    assert_eq!(
        quarantined.quarantine,
        Some(quarantine("five CPU budgets in a row", 5)),
        "nanosecond-exact"
    );
    assert!(!quarantined.active, "v2 is the active one");
    // Quarantined again (another node, the same streak): the first reason stays.
    test.store()
        .quarantine_flow(
            "score",
            1,
            quarantine("later", 6),
            record(AuditAction::FlowQuarantine),
        )
        .await
        .unwrap();
    assert_eq!(
        test.store()
            .quarantine_flow(
                "score",
                9,
                quarantine("x", 7),
                record(AuditAction::FlowQuarantine)
            )
            .await
            .unwrap(),
        None,
        "no such version"
    );
    if let Some(before) = changes_before {
        let after = test.store().catalog_changes().await.unwrap();
        assert!(after > Some(before), "other nodes learn of it");
    }
    let test = test.reopen().await;
    let flows = test.store().flows().await.unwrap();
    let by_version: Vec<_> = flows
        .iter()
        .map(|f| (f.version, f.quarantine.clone()))
        .collect();
    assert_eq!(
        by_version,
        [
            (1, Some(quarantine("five CPU budgets in a row", 5))),
            (2, None)
        ],
        "durable, and only that version"
    );
    let audited = |action| AuditFilter {
        action: Some(action),
        ..AuditFilter::default()
    };
    let records = test
        .store()
        .audit(audited(AuditAction::FlowQuarantine))
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "audited once: {records:?}");

    let lifted = test
        .store()
        .lift_quarantine("score", 1, record(AuditAction::FlowLiftQuarantine))
        .await
        .unwrap()
        .expect("a stored version");
    assert_eq!(lifted.quarantine, None);
    assert!(
        test.store()
            .flows()
            .await
            .unwrap()
            .iter()
            .all(|f| f.quarantine.is_none())
    );
    assert_eq!(
        test.store()
            .lift_quarantine("nope", 1, record(AuditAction::FlowLiftQuarantine))
            .await
            .unwrap(),
        None
    );
    let records = test
        .store()
        .audit(audited(AuditAction::FlowLiftQuarantine))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
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
