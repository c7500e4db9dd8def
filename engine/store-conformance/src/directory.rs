//! Users, groups, queues and memberships.

// Each test body is named for the behaviour it checks.
#![allow(missing_docs)]

use stagecraft_store::{Group, Memberships, Queue, Store, User, UserStatus};

use crate::Harness;
use crate::support::{audit, t};

fn user(id: &str, status: UserStatus) -> User {
    User {
        id: id.to_owned(),
        name: id.to_uppercase(),
        status,
    }
}

fn members(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

pub async fn users_are_created_and_replaced<H: Harness>(test: H) {
    test.store()
        .put_user(user("alice", UserStatus::Active), audit())
        .await
        .unwrap();
    test.store()
        .put_user(user("bob", UserStatus::Active), audit())
        .await
        .unwrap();
    let frozen = user("alice", UserStatus::Frozen);
    test.store()
        .put_user(frozen.clone(), audit())
        .await
        .unwrap();
    assert_eq!(test.store().user("alice").await.unwrap(), Some(frozen));
    assert_eq!(test.store().user("nobody").await.unwrap(), None);
    let inactive = user("bob", UserStatus::Inactive);
    test.store()
        .put_user(inactive.clone(), audit())
        .await
        .unwrap();
    assert_eq!(test.store().user("bob").await.unwrap(), Some(inactive));
}

pub async fn groups_and_queues_replace_their_members_and_give_memberships<H: Harness>(test: H) {
    test.store()
        .put_user(user("alice", UserStatus::Active), audit())
        .await
        .unwrap();
    let underwriters = Group {
        id: "underwriters".into(),
        name: "Underwriters".into(),
        members: members(&["carol", "alice", "bob", "alice"]),
    };
    test.store().put_group(underwriters, audit()).await.unwrap();
    let auditors = Group {
        id: "auditors".into(),
        name: "Auditors".into(),
        members: members(&["alice"]),
    };
    test.store()
        .put_group(auditors.clone(), audit())
        .await
        .unwrap();
    let intake = Queue {
        id: "intake".into(),
        name: "Intake".into(),
        members: members(&["alice", "dave"]),
    };
    test.store()
        .put_queue(intake.clone(), audit())
        .await
        .unwrap();

    // Members come back as a sorted set.
    let stored = test.store().group("underwriters").await.unwrap().unwrap();
    assert_eq!(stored.members, members(&["alice", "bob", "carol"]));
    assert_eq!(
        test.store().queue("intake").await.unwrap(),
        Some(intake.clone())
    );
    assert_eq!(
        test.store().memberships("alice").await.unwrap(),
        Memberships {
            groups: members(&["auditors", "underwriters"]),
            queues: members(&["intake"]),
        }
    );

    // Replacing a group replaces its members.
    let renamed = Group {
        id: "underwriters".into(),
        name: "Credit underwriters".into(),
        members: members(&["bob"]),
    };
    test.store()
        .put_group(renamed.clone(), audit())
        .await
        .unwrap();
    assert_eq!(
        test.store().group("underwriters").await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(
        test.store().memberships("alice").await.unwrap().groups,
        members(&["auditors"])
    );
    assert_eq!(
        test.store().memberships("bob").await.unwrap(),
        Memberships {
            groups: members(&["underwriters"]),
            queues: Vec::new(),
        }
    );
    assert_eq!(
        test.store().memberships("nobody").await.unwrap(),
        Memberships::default()
    );
    assert_eq!(test.store().group("nope").await.unwrap(), None);
    assert_eq!(test.store().queue("nope").await.unwrap(), None);

    let empty = Queue {
        id: "empty".into(),
        name: "Empty".into(),
        members: Vec::new(),
    };
    test.store()
        .put_queue(empty.clone(), audit())
        .await
        .unwrap();
    let (users, groups, queues) = test.store().directory().await.unwrap();
    assert_eq!(users, [user("alice", UserStatus::Active)]);
    assert_eq!(groups, [auditors, renamed]);
    assert_eq!(queues, [empty, intake]);
}

/// Tokens are kept as digests per user; revoking forgets only that user's.
pub async fn tokens_are_issued_and_revoked_per_user<H: Harness>(test: H) {
    let store = test.store();
    store
        .issue_token("ada", [1; 32], t(0), audit())
        .await
        .unwrap();
    store
        .issue_token("ada", [2; 32], t(1), audit())
        .await
        .unwrap();
    store
        .issue_token("bob", [3; 32], t(2), audit())
        .await
        .unwrap();
    let mut tokens = store.tokens().await.unwrap();
    tokens.sort();
    assert_eq!(
        tokens,
        vec![
            ("ada".to_owned(), [1; 32]),
            ("ada".to_owned(), [2; 32]),
            ("bob".to_owned(), [3; 32]),
        ]
    );
    assert_eq!(store.revoke_tokens("ada", audit()).await.unwrap(), 2);
    assert_eq!(store.revoke_tokens("ada", audit()).await.unwrap(), 0);
    let test = test.reopen().await;
    assert_eq!(
        test.store().tokens().await.unwrap(),
        vec![("bob".to_owned(), [3; 32])]
    );
}
