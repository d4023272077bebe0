//! The repository's own run file and local components load as localdapr reads them, so
//! `just up` cannot fail on a typo there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::path::Path;

use localdapr::{Resources, components::ComponentKind, runner::RunFile};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

#[test]
fn the_local_components_load() {
    let resources = Resources::load(&repo().join("dapr-components/local")).unwrap();
    let store = resources.component_for("todo-api", "statestore").unwrap();
    assert_eq!(store.kind, ComponentKind::StateSqlite);
    assert_eq!(
        store.raw_metadata("outboxPublishTopic"),
        Some("task-events")
    );
    assert!(resources.component_for("gateway", "secretstore").is_some());
    // Every transaction on statestore is published: only todo-api may write there; the
    // gateway's accounts and notification's reminders live in appstate, which has no outbox.
    for app in ["gateway", "notification", "recurring", "audit", "sync"] {
        assert!(
            resources.component_for(app, "statestore").is_none(),
            "{app} can use the outbox store"
        );
    }
    for app in ["gateway", "notification"] {
        let store = resources.component_for(app, "appstate").unwrap();
        assert_eq!(store.raw_metadata("outboxPublishTopic"), None, "{app}");
    }
    assert!(
        resources
            .resiliency
            .inbound_retry("audit", "pubsub")
            .is_some()
    );
    let sync_view = resources.component_for("sync", "pubsub-sync").unwrap();
    assert_eq!(
        sync_view.topics_log(),
        "pubsub",
        "sync reads pubsub's topics"
    );
    assert_eq!(sync_view.raw_metadata("consumerID"), Some("{podName}"));
    assert!(resources.component_for("audit", "pubsub-sync").is_none());
    assert!(
        resources
            .resiliency
            .inbound_retry("sync", "pubsub-sync")
            .is_some()
    );
}

#[test]
fn the_run_file_parses_with_every_app() {
    let run = RunFile::load(&repo().join("dapr.yaml")).unwrap();
    let ids: Vec<_> = run.apps.iter().map(|a| a.app_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "todo-api",
            "gateway",
            "recurring",
            "notification",
            "audit",
            "sync"
        ]
    );
    assert_eq!(run.resources_path, repo().join("./dapr-components/local"));
}
