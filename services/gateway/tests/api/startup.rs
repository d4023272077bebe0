//! Startup fails with a message that says what to fix when the signing key is unusable.

use dapr_kit::ServiceConfig;
use std::time::Duration;

use localdapr::{
    AppSpec,
    testsuite::{self, TestDapr},
};

/// Starts the gateway against the suite's components with `secrets` in the secret store, and
/// returns why it stopped.
async fn start_gateway_with_secrets(secrets: serde_json::Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let secrets_file = dir.path().join("secrets.json");
    std::fs::write(&secrets_file, secrets.to_string()).unwrap();
    let dapr = TestDapr::start(
        &testsuite::SUITE_COMPONENTS.replace("{secrets_file}", &secrets_file.display().to_string()),
    )
    .await;
    let launch = dapr
        .launch(AppSpec::new(gateway::testsuite::APP_ID, None))
        .await;
    let config = gateway::Config::from_lookup(launch.lookup()).unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        gateway::server::run(config, launch.listeners, std::future::pending()),
    )
    .await
    .expect("startup gives up instead of serving");
    format!("{:#}", anyhow::Error::from(outcome.unwrap_err()))
}

#[tokio::test]
async fn startup_fails_clearly_without_a_usable_signing_key() {
    let cases = [
        (
            "key missing",
            serde_json::json!({ "todo-suite": { "page-token-key": "x".repeat(64) } }),
            vec!["secretstore", "todo-suite", "jwt-signing-key", "has no"],
        ),
        (
            "key too short",
            serde_json::json!({ "todo-suite": { "jwt-signing-key": "short" } }),
            vec![
                "secretstore",
                "todo-suite",
                "jwt-signing-key",
                "at least 32",
            ],
        ),
        (
            "secret missing",
            serde_json::json!({ "another-secret": { "jwt-signing-key": "x".repeat(64) } }),
            vec![
                "secretstore",
                "todo-suite",
                "jwt-signing-key",
                "cannot read",
            ],
        ),
    ];
    for (case, secrets, expected) in cases {
        let message = start_gateway_with_secrets(secrets).await;
        for part in expected {
            assert!(
                message.contains(part),
                "case: {case}: {part:?} in {message:?}"
            );
        }
    }
}
