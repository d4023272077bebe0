//! audit refuses to start without a usable database URL, and says where it belongs.

use audit::testsuite::TestDatabase;
use localdapr::{AppSpec, testsuite::TestDapr};

#[tokio::test]
async fn without_a_database_url_in_the_secret_store_it_names_the_missing_key() {
    let mut secrets = TestDatabase::sqlite().suite_secrets();
    secrets["todo-suite"]
        .as_object_mut()
        .unwrap()
        .remove("audit-database-url");
    let dapr = TestDapr::start_suite_with_secrets(secrets).await;
    let error = dapr
        .startup_error(AppSpec::new("audit", None), audit::testsuite::run)
        .await;
    assert!(error.contains("audit-database-url"), "{error}");
    assert!(error.contains("todo-suite"), "{error}");
}

#[tokio::test]
async fn an_unusable_database_url_is_refused_without_being_printed() {
    let mut secrets = TestDatabase::sqlite().suite_secrets();
    secrets["todo-suite"]["audit-database-url"] = "mysql://root:hunter2@db/audit".into();
    let dapr = TestDapr::start_suite_with_secrets(secrets).await;
    let error = dapr
        .startup_error(AppSpec::new("audit", None), audit::testsuite::run)
        .await;
    assert!(error.contains("audit-database-url"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}
